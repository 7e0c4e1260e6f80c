/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * loopsrv — a tiny HTTP/1.1 server on 127.0.0.1 for unit tests of the code
 * that makes outbound calls (cis2_curl, cis2_provider, cis2_login). It runs
 * in threads of the test process on an ephemeral port, answers each path
 * with a canned response set by the test (status, Content-Type, body,
 * optional delay, huge or endless body, redirect), counts hits per path and
 * records every request so tests can assert on what was sent (method,
 * path, headers, body). One request per connection ("Connection: close"),
 * or, in keep-alive mode, as many as the client sends on it (and the
 * server counts the connections it accepted).
 *
 *     loopsrv_t *srv = loopsrv_start(g_pool);       // stops with g_pool
 *     loopsrv_route_t r = { .status = 200, .content_type = "application/json",
 *                           .body = "{\"a\":1}" };
 *     loopsrv_set(srv, "/x", &r);
 *     cis2_http_get(&resp, NULL, loopsrv_url(srv, "/x"), NULL, &err, g_pool);
 *     ck_assert_int_eq(loopsrv_hits(srv, "/x"), 1);
 *     const loopsrv_req_t *req = loopsrv_last(srv, g_pool);
 */
#ifndef CIS2_LOOPSRV_H
#define CIS2_LOOPSRV_H

#include <apr_pools.h>
#include <apr_tables.h>

typedef struct loopsrv_t loopsrv_t;

/** A canned response. Zeroed fields mean: status 200, no Content-Type
 *  header, empty body. The strings are copied by loopsrv_set. */
typedef struct loopsrv_route_t {
    int status;               /* 0 = 200 */
    const char *content_type; /* NULL = no Content-Type header */
    const char *body;         /* NULL = empty */
    apr_size_t body_len;      /* 0 = strlen(body) */
    int delay_ms;             /* wait this long before sending anything */
    apr_size_t huge_len;      /* > 0: body is huge_len bytes of 'x' (with a
                                 Content-Length), replaces body */
    int endless;              /* body of 'x' streamed until the client
                                 hangs up, no Content-Length */
    const char *location;     /* Location header (use with a 3xx status) */
    const char *headers;      /* extra raw header lines, each "N: v\r\n" */
    int close_after;          /* keep-alive mode: close the connection after
                                 this response without announcing it */
} loopsrv_route_t;

/** A recorded request, copied into the caller's pool. */
typedef struct loopsrv_req_t {
    const char *method;
    const char *target;       /* request-target as sent: path?query */
    const char *path;         /* without the query */
    const char *query;        /* without '?', NULL when none */
    apr_table_t *headers;     /* names as sent; lookups are case-blind */
    const char *body;         /* NUL-terminated */
    apr_size_t body_len;
} loopsrv_req_t;

/** Start a server on 127.0.0.1:<ephemeral port>. It is stopped (threads
 *  joined, socket closed) when pool p is cleared or by loopsrv_stop.
 *  Returns NULL if the socket or thread cannot be made. */
loopsrv_t *loopsrv_start(apr_pool_t *p);

/** Stop now (idempotent). Delayed and endless responses are cut short. */
void loopsrv_stop(loopsrv_t *srv);

/** The port, and "http://127.0.0.1:<port><path>" allocated from the
 *  server's pool. */
int loopsrv_port(const loopsrv_t *srv);
const char *loopsrv_url(const loopsrv_t *srv, const char *path);

/** Set (or replace) the response for an exact path (query ignored). Paths
 *  without a route get 404 text/plain. Safe while requests are served. */
void loopsrv_set(loopsrv_t *srv, const char *path, const loopsrv_route_t *r);

/** Shorthand: status + "application/json" + body. */
void loopsrv_set_json(loopsrv_t *srv, const char *path, int status,
                      const char *json);

/** Requests received for a path (NULL: for all paths). Counted when the
 *  request has been read, before any delay. */
int loopsrv_hits(loopsrv_t *srv, const char *path);

/** The last complete request received (any path), copied into p; NULL if
 *  none yet. */
const loopsrv_req_t *loopsrv_last(loopsrv_t *srv, apr_pool_t *p);

/** Forget hit counts and the last request. */
void loopsrv_reset(loopsrv_t *srv);

/** Keep-alive mode on (1) or off (0, the default): with it, responses
 *  carry no "Connection: close" and a connection serves requests until
 *  the client hangs up or a close_after route has answered. Applies to
 *  requests read after the call. */
void loopsrv_keepalive(loopsrv_t *srv, int on);

/** Connections accepted so far (since start or loopsrv_reset). */
int loopsrv_connections(loopsrv_t *srv);

/** A loopback port on which nothing listens (bound, then closed), for
 *  "connection refused" tests. */
int loopsrv_unused_port(void);

#endif /* CIS2_LOOPSRV_H */
