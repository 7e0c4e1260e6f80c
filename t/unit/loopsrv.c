/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * loopsrv — see loopsrv.h. An accept thread polls the listening socket and
 * hands each connection to a thread of its own (so a delayed response does
 * not hold up the others); all state shared with the test is under one
 * pthread mutex and kept in malloc'd memory (APR pools are not
 * thread-safe). Sockets are POSIX; send() uses MSG_NOSIGNAL so a client
 * that hangs up mid-body cannot kill the test process with SIGPIPE.
 * In keep-alive mode a connection serves requests until the client hangs
 * up (or a route says close_after), so tests can count connections.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <apr_strings.h>

#include "loopsrv.h"

#define MAX_ROUTES   32
#define MAX_HEAD     (64 * 1024)
#define MAX_REQ_BODY (4 * 1024 * 1024)
#define SLICE_MS     20
#define STOPPING(s)  __atomic_load_n(&(s)->stopping, __ATOMIC_SEQ_CST)

typedef struct route {
    char *path;
    loopsrv_route_t r;         /* strings below are malloc'd copies */
    int hits;
} route;

typedef struct conn {
    loopsrv_t *srv;
    int fd;
    pthread_t tid;
    struct conn *next;
} conn;

typedef struct rec {           /* a recorded request, malloc'd */
    char *head;                /* request line + headers, NUL-separated */
    size_t head_len;
    char *body;
    size_t body_len;
} rec;

struct loopsrv_t {
    apr_pool_t *pool;
    int fd;
    int port;
    int stopping;              /* read/written with __atomic builtins */
    int keepalive;             /* read/written with __atomic builtins */
    int connections;           /* accepted, under mu */
    int stopped;
    pthread_t accept_tid;
    pthread_mutex_t mu;
    route routes[MAX_ROUTES];
    int nroutes;
    int hits_total;
    int unrouted_hits;
    rec last;
    int have_last;
    conn *conns;
};

/* ---- small helpers ----------------------------------------------------- */

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static int send_all(loopsrv_t *srv, int fd, const char *buf, size_t len)
{
    while (len > 0 && !STOPPING(srv)) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                struct pollfd pf = { fd, POLLOUT, 0 };

                poll(&pf, 1, SLICE_MS);
                continue;
            }
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return STOPPING(srv) ? -1 : 0;
}

/* recv with a stop check every slice; returns bytes, 0 at EOF, -1 error */
static ssize_t recv_some(loopsrv_t *srv, int fd, char *buf, size_t len)
{
    for (;;) {
        struct pollfd pf = { fd, POLLIN, 0 };
        int rc;

        if (STOPPING(srv)) {
            return -1;
        }
        rc = poll(&pf, 1, SLICE_MS);
        if (rc < 0 && errno != EINTR) {
            return -1;
        }
        if (rc > 0) {
            ssize_t n = recv(fd, buf, len, 0);

            if (n < 0 && errno == EINTR) {
                continue;
            }
            return n;
        }
    }
}

static route *find_route(loopsrv_t *srv, const char *path)
{
    int i;

    for (i = 0; i < srv->nroutes; i++) {
        if (strcmp(srv->routes[i].path, path) == 0) {
            return &srv->routes[i];
        }
    }
    return NULL;
}

static void route_free(loopsrv_route_t *r)
{
    free((char *)r->content_type);
    free((char *)r->body);
    free((char *)r->location);
    free((char *)r->headers);
    memset(r, 0, sizeof(*r));
}

static void route_copy(loopsrv_route_t *dst, const loopsrv_route_t *src)
{
    *dst = *src;
    dst->content_type = xstrdup(src->content_type);
    dst->location = xstrdup(src->location);
    dst->headers = xstrdup(src->headers);
    if (src->body != NULL) {
        size_t n = src->body_len ? src->body_len : strlen(src->body);
        char *b = malloc(n + 1);

        memcpy(b, src->body, n);
        b[n] = '\0';
        dst->body = b;
        dst->body_len = n;
    }
    else {
        dst->body = NULL;
        dst->body_len = 0;
    }
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

/* ---- one connection ---------------------------------------------------- */

/* Content-Length from a raw header block (request line first), or 0. */
static size_t content_length(const char *head, size_t len)
{
    const char *s = head, *end = head + len;

    while (s < end) {
        const char *eol = memchr(s, '\n', (size_t)(end - s));
        size_t n = eol ? (size_t)(eol - s) : (size_t)(end - s);

        if (n > 15 && strncasecmp(s, "Content-Length:", 15) == 0) {
            return (size_t)strtoul(s + 15, NULL, 10);
        }
        s = eol ? eol + 1 : end;
    }
    return 0;
}

/* One request on fd, read into *pbuf (malloc'd, MAX_HEAD + 1 bytes or
 * more; may be moved). No pipelining: bytes sent after the request before
 * its response are dropped (libcurl does not pipeline). Returns 1 when the
 * connection may carry another request (keep-alive mode, response
 * complete, no close_after). */
static int serve_one(loopsrv_t *srv, int fd, char **pbuf)
{
    char *buf = *pbuf;
    size_t len = 0, head_len = 0, blen = 0;
    char *hend = NULL, *path, *sp1, *sp2, *q;
    loopsrv_route_t r;
    route *rt;
    char line[512];
    int status, again = 0;
    int keepalive = __atomic_load_n(&srv->keepalive, __ATOMIC_SEQ_CST);

    memset(&r, 0, sizeof(r));
    /* read the head */
    while (hend == NULL) {
        ssize_t n;

        if (len >= MAX_HEAD) {
            goto out;
        }
        n = recv_some(srv, fd, buf + len, MAX_HEAD - len);
        if (n <= 0) {
            goto out;
        }
        len += (size_t)n;
        buf[len] = '\0';
        hend = strstr(buf, "\r\n\r\n");
    }
    head_len = (size_t)(hend - buf) + 4;
    blen = content_length(buf, head_len);
    if (blen > MAX_REQ_BODY) {
        goto out;
    }
    if (head_len + blen > len) {
        /* never below MAX_HEAD + 1: a kept connection reads into it */
        char *nb = realloc(buf, head_len + blen + 1 > MAX_HEAD + 1
                                ? head_len + blen + 1 : MAX_HEAD + 1);

        if (nb == NULL) {
            goto out;
        }
        buf = nb;
        while (len < head_len + blen) {
            ssize_t n = recv_some(srv, fd, buf + len, head_len + blen - len);

            if (n <= 0) {
                goto out;
            }
            len += (size_t)n;
        }
    }
    buf[head_len + blen] = '\0';

    /* request line: METHOD SP target SP version */
    sp1 = memchr(buf, ' ', head_len);
    sp2 = sp1 ? memchr(sp1 + 1, ' ', head_len - (size_t)(sp1 + 1 - buf))
              : NULL;
    if (sp1 == NULL || sp2 == NULL) {
        goto out;
    }
    path = strndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
    q = strchr(path, '?');
    if (q != NULL) {
        *q = '\0';
    }

    pthread_mutex_lock(&srv->mu);
    free(srv->last.head);
    free(srv->last.body);
    srv->last.head = malloc(head_len + 1);
    memcpy(srv->last.head, buf, head_len);
    srv->last.head[head_len] = '\0';
    srv->last.head_len = head_len;
    srv->last.body = malloc(blen + 1);
    memcpy(srv->last.body, buf + head_len, blen);
    srv->last.body[blen] = '\0';
    srv->last.body_len = blen;
    srv->have_last = 1;
    srv->hits_total++;
    rt = find_route(srv, path);
    if (rt != NULL) {
        rt->hits++;
        route_copy(&r, &rt->r);
    }
    else {
        loopsrv_route_t nf = { 404, "text/plain", "not found\n", 0, 0, 0,
                               0, NULL, NULL, 0 };

        srv->unrouted_hits++;
        route_copy(&r, &nf);
    }
    pthread_mutex_unlock(&srv->mu);
    free(path);

    /* delay in slices so a stop is prompt */
    {
        int waited = 0;

        while (waited < r.delay_ms && !STOPPING(srv)) {
            int s = r.delay_ms - waited < SLICE_MS ? r.delay_ms - waited
                                                   : SLICE_MS;
            sleep_ms(s);
            waited += s;
        }
    }

    status = r.status ? r.status : 200;
    snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n%s", status,
             reason(status), keepalive ? "" : "Connection: close\r\n");
    if (send_all(srv, fd, line, strlen(line)) < 0) {
        goto out;
    }
    if (r.content_type != NULL) {
        snprintf(line, sizeof(line), "Content-Type: %s\r\n", r.content_type);
        if (send_all(srv, fd, line, strlen(line)) < 0) {
            goto out;
        }
    }
    if (r.location != NULL) {
        snprintf(line, sizeof(line), "Location: %s\r\n", r.location);
        if (send_all(srv, fd, line, strlen(line)) < 0) {
            goto out;
        }
    }
    if (r.headers != NULL
        && send_all(srv, fd, r.headers, strlen(r.headers)) < 0) {
        goto out;
    }
    if (!r.endless) {
        snprintf(line, sizeof(line), "Content-Length: %zu\r\n",
                 r.huge_len ? r.huge_len : r.body_len);
        if (send_all(srv, fd, line, strlen(line)) < 0) {
            goto out;
        }
    }
    if (send_all(srv, fd, "\r\n", 2) < 0) {
        goto out;
    }
    if (r.endless || r.huge_len) {
        char chunk[16384];
        size_t left = r.huge_len;

        memset(chunk, 'x', sizeof(chunk));
        while (!STOPPING(srv) && (r.endless || left > 0)) {
            size_t n = (r.endless || left > sizeof(chunk)) ? sizeof(chunk)
                                                          : left;

            if (send_all(srv, fd, chunk, n) < 0) {
                break;
            }
            left -= r.endless ? 0 : n;
        }
    }
    else if (r.body_len > 0 && send_all(srv, fd, r.body, r.body_len) < 0) {
        goto out;
    }
    again = keepalive && !r.endless && !r.close_after;
out:
    route_free(&r);
    *pbuf = buf;
    return again;
}

static void serve(loopsrv_t *srv, int fd)
{
    char *buf = malloc(MAX_HEAD + 1);

    while (serve_one(srv, fd, &buf)) {
        /* keep-alive: the next request on this connection */
    }
    free(buf);
}

static void *conn_main(void *arg)
{
    conn *c = arg;

    serve(c->srv, c->fd);
    shutdown(c->fd, SHUT_WR);
    close(c->fd);
    return NULL;
}

static void *accept_main(void *arg)
{
    loopsrv_t *srv = arg;

    while (!STOPPING(srv)) {
        struct pollfd pf = { srv->fd, POLLIN, 0 };
        conn *c;
        int fd;

        if (poll(&pf, 1, SLICE_MS) <= 0) {
            continue;
        }
        fd = accept(srv->fd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        c = calloc(1, sizeof(*c));
        c->srv = srv;
        c->fd = fd;
        pthread_mutex_lock(&srv->mu);
        srv->connections++;
        pthread_mutex_unlock(&srv->mu);
        if (pthread_create(&c->tid, NULL, conn_main, c) != 0) {
            close(fd);
            free(c);
            continue;
        }
        pthread_mutex_lock(&srv->mu);
        c->next = srv->conns;
        srv->conns = c;
        pthread_mutex_unlock(&srv->mu);
    }
    return NULL;
}

/* ---- public ------------------------------------------------------------ */

static apr_status_t srv_cleanup(void *data)
{
    loopsrv_t *srv = data;
    int i;

    loopsrv_stop(srv);
    for (i = 0; i < srv->nroutes; i++) {
        free(srv->routes[i].path);
        route_free(&srv->routes[i].r);
    }
    free(srv->last.head);
    free(srv->last.body);
    pthread_mutex_destroy(&srv->mu);
    return APR_SUCCESS;
}

loopsrv_t *loopsrv_start(apr_pool_t *p)
{
    loopsrv_t *srv = apr_pcalloc(p, sizeof(*srv));
    struct sockaddr_in sa;
    socklen_t slen = sizeof(sa);
    int one = 1;

    srv->pool = p;
    srv->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (srv->fd < 0) {
        return NULL;
    }
    setsockopt(srv->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    if (bind(srv->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0
        || listen(srv->fd, 64) != 0
        || getsockname(srv->fd, (struct sockaddr *)&sa, &slen) != 0) {
        close(srv->fd);
        return NULL;
    }
    srv->port = ntohs(sa.sin_port);
    pthread_mutex_init(&srv->mu, NULL);
    if (pthread_create(&srv->accept_tid, NULL, accept_main, srv) != 0) {
        close(srv->fd);
        pthread_mutex_destroy(&srv->mu);
        return NULL;
    }
    apr_pool_cleanup_register(p, srv, srv_cleanup, apr_pool_cleanup_null);
    return srv;
}

void loopsrv_stop(loopsrv_t *srv)
{
    conn *c, *next;

    if (srv->stopped) {
        return;
    }
    __atomic_store_n(&srv->stopping, 1, __ATOMIC_SEQ_CST);
    pthread_join(srv->accept_tid, NULL);
    close(srv->fd);
    /* the accept thread is gone: the list no longer changes */
    for (c = srv->conns; c != NULL; c = next) {
        next = c->next;
        pthread_join(c->tid, NULL);
        free(c);
    }
    srv->conns = NULL;
    srv->stopped = 1;
}

int loopsrv_port(const loopsrv_t *srv)
{
    return srv->port;
}

const char *loopsrv_url(const loopsrv_t *srv, const char *path)
{
    return apr_psprintf(srv->pool, "http://127.0.0.1:%d%s", srv->port,
                        path ? path : "");
}

void loopsrv_set(loopsrv_t *srv, const char *path, const loopsrv_route_t *r)
{
    route *rt;

    pthread_mutex_lock(&srv->mu);
    rt = find_route(srv, path);
    if (rt == NULL && srv->nroutes < MAX_ROUTES) {
        rt = &srv->routes[srv->nroutes++];
        rt->path = strdup(path);
        rt->hits = 0;
    }
    if (rt != NULL) {
        route_free(&rt->r);
        route_copy(&rt->r, r);
    }
    pthread_mutex_unlock(&srv->mu);
}

void loopsrv_set_json(loopsrv_t *srv, const char *path, int status,
                      const char *json)
{
    loopsrv_route_t r;

    memset(&r, 0, sizeof(r));
    r.status = status;
    r.content_type = "application/json";
    r.body = json;
    loopsrv_set(srv, path, &r);
}

int loopsrv_hits(loopsrv_t *srv, const char *path)
{
    int n = 0;

    pthread_mutex_lock(&srv->mu);
    if (path == NULL) {
        n = srv->hits_total;
    }
    else {
        route *rt = find_route(srv, path);

        n = rt ? rt->hits : 0;
    }
    pthread_mutex_unlock(&srv->mu);
    return n;
}

const loopsrv_req_t *loopsrv_last(loopsrv_t *srv, apr_pool_t *p)
{
    loopsrv_req_t *req;
    char *head, *s, *eol, *sp1, *sp2, *q;

    pthread_mutex_lock(&srv->mu);
    if (!srv->have_last) {
        pthread_mutex_unlock(&srv->mu);
        return NULL;
    }
    req = apr_pcalloc(p, sizeof(*req));
    head = apr_pstrmemdup(p, srv->last.head, srv->last.head_len);
    req->body = apr_pstrmemdup(p, srv->last.body, srv->last.body_len);
    req->body_len = srv->last.body_len;
    pthread_mutex_unlock(&srv->mu);

    req->headers = apr_table_make(p, 16);
    eol = strstr(head, "\r\n");
    *eol = '\0';
    sp1 = strchr(head, ' ');
    sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    req->method = sp1 ? apr_pstrmemdup(p, head, (apr_size_t)(sp1 - head))
                      : head;
    req->target = (sp1 && sp2) ? apr_pstrmemdup(p, sp1 + 1,
                                                (apr_size_t)(sp2 - sp1 - 1))
                               : "";
    q = strchr(req->target, '?');
    req->path = q ? apr_pstrmemdup(p, req->target,
                                   (apr_size_t)(q - req->target))
                  : req->target;
    req->query = q ? q + 1 : NULL;
    for (s = eol + 2; *s != '\0' && strncmp(s, "\r\n", 2) != 0; s = eol + 2) {
        char *colon;

        eol = strstr(s, "\r\n");
        if (eol == NULL) {
            break;
        }
        *eol = '\0';
        colon = strchr(s, ':');
        if (colon != NULL) {
            char *v = colon + 1;

            *colon = '\0';
            while (*v == ' ' || *v == '\t') {
                v++;
            }
            apr_table_add(req->headers, s, v);
        }
    }
    return req;
}

void loopsrv_reset(loopsrv_t *srv)
{
    int i;

    pthread_mutex_lock(&srv->mu);
    for (i = 0; i < srv->nroutes; i++) {
        srv->routes[i].hits = 0;
    }
    srv->hits_total = 0;
    srv->unrouted_hits = 0;
    srv->connections = 0;
    free(srv->last.head);
    free(srv->last.body);
    memset(&srv->last, 0, sizeof(srv->last));
    srv->have_last = 0;
    pthread_mutex_unlock(&srv->mu);
}

void loopsrv_keepalive(loopsrv_t *srv, int on)
{
    __atomic_store_n(&srv->keepalive, on ? 1 : 0, __ATOMIC_SEQ_CST);
}

int loopsrv_connections(loopsrv_t *srv)
{
    int n;

    pthread_mutex_lock(&srv->mu);
    n = srv->connections;
    pthread_mutex_unlock(&srv->mu);
    return n;
}

int loopsrv_unused_port(void)
{
    struct sockaddr_in sa;
    socklen_t slen = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

    if (fd < 0) {
        return 0;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0
        && getsockname(fd, (struct sockaddr *)&sa, &slen) == 0) {
        port = ntohs(sa.sin_port);
    }
    close(fd);
    return port;
}
