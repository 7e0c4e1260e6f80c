/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_store_redis — cis2_store over Redis (contract in cis2_store_redis.h).
 *
 * What Redis holds. Every entry is a hash under
 *     <prefix><ns>:<HMAC name of the key>        (ns: s, p, r)
 * with fields
 *     v   the value sealed by cis2_crypto (key id | IV | ciphertext | tag),
 *         the associated data being "<entry name>|<c>"
 *     c   the entry's creation (login) time, µs since the epoch, decimal
 *     ix  (indexed sessions only) the names of its index sets, spaces
 * and a TTL (PEXPIRE, relative). Secondary indexes (back-channel logout)
 * are sets under <prefix>x:<HMAC of "sid"/"sub" and the value> whose
 * members are entry names; a set's TTL never falls below its members'.
 * Because `c` is authenticated, an entry whose `c` was altered no longer
 * opens. With a key ring of n passphrases an entry may sit under any of n
 * names (one per key): reads ask for all of them in one round trip, writes
 * use the first key's name.
 *
 * Invalidations. Scripts that delete or replace a session PUBLISH the
 * names they removed on <prefix>inval (for the near-cache of every host,
 * cis2_nearcache.h); with pcall, so an ACL user without that channel
 * still deletes (its subscribers are refused too, so no cache serves).
 *
 * Atomicity. take, add_once, touch, put (with its index upkeep) and
 * delete_indexed are each one Lua script, so they are atomic in Redis;
 * get is HMGET + PTTL pipelined in one round trip. Scripts touch keys they
 * read from `ix`: fine for a standalone Redis (or a primary with
 * replicas), not for Redis Cluster.
 *
 * Connections. A process keeps up to `pool` idle connections in a list
 * guarded by a thread mutex; a thread takes one (or opens a new one), runs
 * its commands and gives it back. Sockets are non-blocking and every wait
 * is a poll() bounded by the connect or command timeout. A failed connect
 * marks Redis down for a backoff (50 ms doubling to 2 s) during which
 * calls fail at once with CIS2_E_STORE_DOWN instead of piling up; the
 * first success clears it. A pooled connection that turns out dead (Redis
 * restarted) is retried once on a fresh one, so a restart costs no error.
 */
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <fcntl.h>
#include <poll.h>
#include <netdb.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <apr_strings.h>
#include <apr_lib.h>
#include <apr_uri.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>
#include <apr_atomic.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <hiredis/hiredis.h>

#include "cis2_store_redis.h"
#include "cis2_store_backend.h"
#include "cis2_nearcache.h"
#include "cis2_util.h"
#include "cis2_log.h"

#define BACKOFF_MIN apr_time_from_msec(50)
#define BACKOFF_MAX apr_time_from_sec(2)
#define MAX_KEYS 8                    /* passphrases in a ring we accept */
/* bytes one round trip may bring back: a value per key name, plus slack */
#define REPLY_CAP(nvals) ((apr_size_t)(nvals) \
                          * (CIS2_MAX_SESSION + CIS2_CRYPTO_OVERHEAD + 256) \
                          + 65536)

static const char ns_letter[CIS2_NS__COUNT] = { 's', 'p', 'r' };

/* ---- Lua scripts (one EVAL each: atomic in Redis) ------------------------ */

/* KEYS[1] entry, KEYS[2..] index sets; ARGV: sealed, ttl ms, c, ix names,
 * the invalidation channel ('' = none; a replaced entry is published) */
static const char LUA_PUT[] =
    "local old = redis.call('HGET', KEYS[1], 'ix')\n"
    "if old then for n in string.gmatch(old, '%S+') do "
    "redis.call('SREM', n, KEYS[1]) end end\n"
    "if redis.call('DEL', KEYS[1]) == 1 and ARGV[5] ~= '' then "
    "redis.pcall('PUBLISH', ARGV[5], KEYS[1]) end\n"
    "if ARGV[4] ~= '' then\n"
    "  redis.call('HSET', KEYS[1], 'v', ARGV[1], 'c', ARGV[3], 'ix', ARGV[4])\n"
    "else\n"
    "  redis.call('HSET', KEYS[1], 'v', ARGV[1], 'c', ARGV[3])\n"
    "end\n"
    "local ttl = tonumber(ARGV[2])\n"
    "redis.call('PEXPIRE', KEYS[1], ttl)\n"
    "for i = 2, #KEYS do\n"
    "  redis.call('SADD', KEYS[i], KEYS[1])\n"
    "  if redis.call('PTTL', KEYS[i]) < ttl then "
    "redis.call('PEXPIRE', KEYS[i], ttl) end\n"
    "end\n"
    "return 1\n";

/* KEYS: the entry's names (one per key); ARGV: the invalidation channel
 * ('' = none); returns {i, v, c} or nil */
static const char LUA_TAKE[] =
    "for i = 1, #KEYS do\n"
    "  local r = redis.call('HMGET', KEYS[i], 'v', 'c')\n"
    "  if r[1] then redis.call('DEL', KEYS[i])\n"
    "    if ARGV[1] ~= '' then redis.pcall('PUBLISH', ARGV[1], KEYS[i]) end\n"
    "    return {i, r[1], r[2]} end\n"
    "end\n"
    "return false\n";

/* KEYS: the entry's names; ARGV: the invalidation channel ('' = none).
 * Publishes the names that existed, space-separated, in one message. */
static const char LUA_DEL[] =
    "local gone = {}\n"
    "for i = 1, #KEYS do\n"
    "  if redis.call('DEL', KEYS[i]) == 1 then gone[#gone + 1] = KEYS[i] end\n"
    "end\n"
    "if #gone > 0 and ARGV[1] ~= '' then "
    "redis.pcall('PUBLISH', ARGV[1], table.concat(gone, ' ')) end\n"
    "return #gone\n";

/* KEYS: the entry's names; ARGV: ttl ms. 1 if moved, 0 if gone */
static const char LUA_TOUCH[] =
    "local ttl = tonumber(ARGV[1])\n"
    "for i = 1, #KEYS do\n"
    "  if redis.call('PEXPIRE', KEYS[i], ttl) == 1 then\n"
    "    local ix = redis.call('HGET', KEYS[i], 'ix')\n"
    "    if ix then for n in string.gmatch(ix, '%S+') do\n"
    "      local t = redis.call('PTTL', n)\n"
    "      if t >= 0 and t < ttl then redis.call('PEXPIRE', n, ttl) end\n"
    "    end end\n"
    "    return 1\n"
    "  end\n"
    "end\n"
    "return 0\n";

/* KEYS: the marker's names (first = current key); ARGV: sealed, ttl, c */
static const char LUA_ADD_ONCE[] =
    "for i = 1, #KEYS do\n"
    "  if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'v', ARGV[1], 'c', ARGV[3])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "return 1\n";

/* KEYS: the index set's names; ARGV: not_after µs, entry name prefix,
 * the invalidation channel ('' = none). Returns the names it deleted (and
 * publishes them, space-separated, in one message). */
static const char LUA_DELETE_INDEXED[] =
    "local na = tonumber(ARGV[1])\n"
    "local gone = {}\n"
    "for i = 1, #KEYS do\n"
    "  for _, m in ipairs(redis.call('SMEMBERS', KEYS[i])) do\n"
    "    local c = redis.call('HGET', m, 'c')\n"
    "    if not c then redis.call('SREM', KEYS[i], m)\n"
    "    elseif string.sub(m, 1, #ARGV[2]) == ARGV[2]\n"
    "           and tonumber(c) <= na then\n"
    "      local ix = redis.call('HGET', m, 'ix')\n"
    "      if ix then for s in string.gmatch(ix, '%S+') do "
    "redis.call('SREM', s, m) end end\n"
    "      redis.call('DEL', m)\n"
    "      gone[#gone + 1] = m\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if #gone > 0 and ARGV[3] ~= '' then "
    "redis.pcall('PUBLISH', ARGV[3], table.concat(gone, ' ')) end\n"
    "return gone\n";

/* ---- configuration ---------------------------------------------------------- */

static int pct_decode(char *s)
{
    char *o = s;

    for (; *s; s++) {
        if (*s == '%') {
            int hi, lo;

            if (!apr_isxdigit(s[1]) || !apr_isxdigit(s[2])) {
                return 0;
            }
            hi = apr_isdigit(s[1]) ? s[1] - '0' : (apr_tolower(s[1]) - 'a' + 10);
            lo = apr_isdigit(s[2]) ? s[2] - '0' : (apr_tolower(s[2]) - 'a' + 10);
            if (hi == 0 && lo == 0) {
                return 0;
            }
            *o++ = (char)(hi * 16 + lo);
            s += 2;
        }
        else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return 1;
}

apr_status_t cis2_redis_conf_parse(cis2_redis_conf_t **pconf, const char *url,
                                   const cis2_err_t **perr, apr_pool_t *p)
{
    cis2_redis_conf_t *c = apr_pcalloc(p, sizeof(*c));
    apr_uri_t u;
    char *db_end;
    long db = 0;

    if (url == NULL || cis2_has_ctl(url, strlen(url))
        || apr_uri_parse(p, url, &u) != APR_SUCCESS || u.scheme == NULL
        || u.hostname == NULL || *u.hostname == '\0') {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "not a redis:// or "
                            "rediss:// URL");
    }
    if (strcasecmp(u.scheme, "rediss") == 0) {
        c->tls = 1;
    }
    else if (strcasecmp(u.scheme, "redis") != 0) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "scheme must be redis "
                            "or rediss");
    }
    if (u.query != NULL || u.fragment != NULL) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "no query or fragment "
                            "allowed (options go after the URL, e.g. "
                            "timeout=1s)");
    }
    c->host = u.hostname;
    c->port = CIS2_REDIS_DEFAULT_PORT;
    if (u.port_str != NULL && *u.port_str != '\0') {
        char *end;
        long port = strtol(u.port_str, &end, 10);

        if (*end != '\0' || port < 1 || port > 65535) {
            return cis2_err_set(perr, p, CIS2_E_INVALID, "bad port");
        }
        c->port = (int)port;
    }
    if (u.path != NULL && *u.path != '\0' && strcmp(u.path, "/") != 0) {
        db = strtol(u.path + 1, &db_end, 10);
        if (u.path[1] == '\0' || *db_end != '\0' || db < 0 || db > 65535) {
            return cis2_err_set(perr, p, CIS2_E_INVALID, "the path must be "
                                "a database number (/0)");
        }
    }
    c->db = (int)db;
    if (u.password != NULL) {
        char *pw = apr_pstrdup(p, u.password);

        if (!pct_decode(pw) || *pw == '\0') {
            return cis2_err_set(perr, p, CIS2_E_INVALID, "bad password in "
                                "the URL");
        }
        c->password = pw;
    }
    if (u.user != NULL && *u.user != '\0') {
        char *user = apr_pstrdup(p, u.user);

        if (!pct_decode(user)) {
            return cis2_err_set(perr, p, CIS2_E_INVALID, "bad user name");
        }
        /* redis://:password@host is the classic form with no user */
        c->user = user;
    }
    c->url = apr_psprintf(p, "%s://%s%s%s%s:%d/%d",
                          c->tls ? "rediss" : "redis",
                          c->user ? c->user : "",
                          c->password ? ":***" : "",
                          c->user || c->password ? "@" : "",
                          strchr(c->host, ':') ? apr_pstrcat(p, "[", c->host,
                                                             "]", NULL)
                                               : c->host,
                          c->port, c->db);
    c->connect_timeout = CIS2_REDIS_DEFAULT_CONNECT_TIMEOUT;
    c->timeout = CIS2_REDIS_DEFAULT_TIMEOUT;
    c->max_idle = -1;
    c->prefix = CIS2_REDIS_DEFAULT_PREFIX;
    *pconf = c;
    return APR_SUCCESS;
}

apr_status_t cis2_redis_conf_set(cis2_redis_conf_t *conf, const char *name,
                                 const char *value,
                                 const cis2_err_t **perr, apr_pool_t *p)
{
    apr_interval_time_t t;

    if (value == NULL || *value == '\0'
        || cis2_has_ctl(value, strlen(value))) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "%s needs a value",
                            name);
    }
    if (strcmp(name, "ca") == 0) {
        conf->ca_file = value;
    }
    else if (strcmp(name, "cert") == 0) {
        conf->cert_file = value;
    }
    else if (strcmp(name, "key") == 0) {
        conf->key_file = value;
    }
    else if (strcmp(name, "password") == 0) {
        conf->password = value;
    }
    else if (strcmp(name, "connect_timeout") == 0
             || strcmp(name, "timeout") == 0) {
        if (cis2_parse_duration(&t, value) != APR_SUCCESS || t <= 0
            || t > apr_time_from_sec(60)) {
            return cis2_err_set(perr, p, CIS2_E_INVALID, "%s: '%s' is not "
                                "a duration up to 60s (e.g. 500ms, 1s)",
                                name, value);
        }
        *(name[0] == 'c' ? &conf->connect_timeout : &conf->timeout) = t;
    }
    else if (strcmp(name, "pool") == 0) {
        char *end;
        long n = strtol(value, &end, 10);

        if (*end != '\0' || n < 0 || n > 1024) {
            return cis2_err_set(perr, p, CIS2_E_INVALID, "pool: 0..1024 idle "
                                "connections");
        }
        conf->max_idle = (int)n;
    }
    else if (strcmp(name, "prefix") == 0) {
        if (strlen(value) > 64 || strchr(value, ' ') != NULL) {
            return cis2_err_set(perr, p, CIS2_E_INVALID, "prefix: up to 64 "
                                "characters, no spaces");
        }
        conf->prefix = value;
    }
    else {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "unknown option '%s' "
                            "(ca, cert, key, password, connect_timeout, "
                            "timeout, pool, prefix)", name);
    }
    if ((conf->cert_file != NULL || conf->key_file != NULL
         || conf->ca_file != NULL) && !conf->tls) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "ca, cert and key need "
                            "a rediss:// URL");
    }
    return APR_SUCCESS;
}

/* ---- connections --------------------------------------------------------------- */

typedef struct rconn_t {
    int fd;
    SSL *ssl;
    redisReader *reader;
    int reused;                 /* came from the idle list */
} rconn_t;

typedef struct redis_ctx_t {
    const cis2_redis_conf_t *conf;
    const cis2_crypto_t *crypto;
    SSL_CTX *ssl_ctx;
    int own_ssl_ctx;            /* made here (else conf->tls_ctx's) */
    apr_thread_mutex_t *mutex;  /* guards everything below */
    rconn_t **idle;
    int nidle, max_idle;
    apr_time_t down_until;      /* fail fast until then */
    apr_interval_time_t backoff;
    int down;                   /* last connect failed (for log lines) */
    const char *channel;        /* <prefix>inval: deleted session names */
    cis2_nearcache_t *nc;       /* host-local near-cache; NULL = none */
    struct cis2_redis_sub_t *sub; /* this process's subscriber */
    /* counters (apr_atomic) */
    volatile apr_uint32_t hits, misses, puts, put_failures, errors;
} redis_ctx_t;

static void conn_close(rconn_t *c)
{
    if (c == NULL) {
        return;
    }
    if (c->ssl != NULL) {
        SSL_free(c->ssl);       /* no close_notify: it could block */
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    if (c->reader != NULL) {
        redisReaderFree(c->reader);
    }
    free(c);
}

static int ms_left(apr_time_t deadline)
{
    apr_time_t left = deadline - apr_time_now();

    if (left <= 0) {
        return 0;
    }
    return (int)((left + 999) / 1000);
}

/* Wait for fd to be readable/writable before the deadline. */
static int wait_fd(int fd, short events, apr_time_t deadline)
{
    struct pollfd pfd;
    int ms, rc;

    for (;;) {
        ms = ms_left(deadline);
        if (ms == 0) {
            errno = ETIMEDOUT;
            return 0;
        }
        pfd.fd = fd;
        pfd.events = events;
        pfd.revents = 0;
        rc = poll(&pfd, 1, ms);
        if (rc > 0) {
            return 1;
        }
        if (rc == 0) {
            errno = ETIMEDOUT;
            return 0;
        }
        if (errno != EINTR) {
            return 0;
        }
    }
}

/* Wait as OpenSSL asks (WANT_READ/WANT_WRITE); 0 on a real error. */
static int ssl_wait(rconn_t *c, int ret, apr_time_t deadline)
{
    switch (SSL_get_error(c->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        return wait_fd(c->fd, POLLIN, deadline);
    case SSL_ERROR_WANT_WRITE:
        return wait_fd(c->fd, POLLOUT, deadline);
    default:
        errno = ECONNRESET;
        return 0;
    }
}

static int conn_write(rconn_t *c, const char *buf, apr_size_t len,
                      apr_time_t deadline)
{
    while (len > 0) {
        ssize_t n;

        if (c->ssl != NULL) {
            int r;

            ERR_clear_error();
            r = SSL_write(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
            if (r <= 0) {
                if (!ssl_wait(c, r, deadline)) {
                    return 0;
                }
                continue;
            }
            n = r;
        }
        else {
            n = send(c->fd, buf, len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                    if (!wait_fd(c->fd, POLLOUT, deadline)) {
                        return 0;
                    }
                    continue;
                }
                return 0;
            }
        }
        buf += n;
        len -= (apr_size_t)n;
    }
    return 1;
}

/* Read some bytes: >0, or 0 on EOF/error/timeout (errno says which). */
static ssize_t conn_read(rconn_t *c, char *buf, apr_size_t len,
                         apr_time_t deadline)
{
    for (;;) {
        ssize_t n;

        if (c->ssl != NULL) {
            int r;

            ERR_clear_error();
            r = SSL_read(c->ssl, buf, (int)len);
            if (r > 0) {
                return r;
            }
            if (SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN) {
                errno = ECONNRESET;
                return 0;
            }
            if (!ssl_wait(c, r, deadline)) {
                return 0;
            }
            continue;
        }
        n = recv(c->fd, buf, len, 0);
        if (n > 0) {
            return n;
        }
        if (n == 0) {
            errno = ECONNRESET;
            return 0;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            if (!wait_fd(c->fd, POLLIN, deadline)) {
                return 0;
            }
            continue;
        }
        return 0;
    }
}

/* Wait for the reply before the first read: a read right after the write
 * would nearly always find nothing (one system call saved per request). */
static int conn_wait_reply(rconn_t *c, apr_time_t deadline)
{
    if (c->ssl != NULL && SSL_pending(c->ssl) > 0) {
        return 1;
    }
    return wait_fd(c->fd, POLLIN, deadline);
}

/* Read one reply. *pgot is set once any byte arrived. */
static redisReply *conn_reply(rconn_t *c, apr_time_t deadline,
                              apr_size_t *pbudget, int *pgot,
                              const char **pwhy)
{
    char buf[16384];
    void *reply = NULL;

    for (;;) {
        ssize_t n;

        if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
            *pwhy = "protocol error";
            return NULL;
        }
        if (reply != NULL) {
            return reply;
        }
        n = conn_read(c, buf, sizeof(buf), deadline);
        if (n <= 0) {
            *pwhy = errno == ETIMEDOUT ? "timed out" : "connection lost";
            return NULL;
        }
        *pgot = 1;
        if ((apr_size_t)n > *pbudget) {
            *pwhy = "reply too large";
            return NULL;
        }
        *pbudget -= (apr_size_t)n;
        if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK) {
            *pwhy = "protocol error";
            return NULL;
        }
    }
}

typedef struct rcmd_t {
    int argc;
    const char *argv[16];
    size_t len[16];
} rcmd_t;

static void cmd_arg(rcmd_t *cmd, const char *s, apr_size_t len)
{
    if (cmd->argc < 16) {
        cmd->argv[cmd->argc] = s;
        cmd->len[cmd->argc] = len;
        cmd->argc++;
    }
}

static void cmd_str(rcmd_t *cmd, const char *s)
{
    cmd_arg(cmd, s, strlen(s));
}

/* Send `n` commands in one write and read their `n` replies. 0 on a
 * transport failure (*pwhy says what; *pgot whether any reply byte came);
 * replies[] must then be freed up to what was filled (NULL-terminated). */
static int conn_run(rconn_t *c, const rcmd_t *cmds, int n,
                    redisReply **replies, apr_time_t deadline,
                    apr_size_t budget, int *pgot, const char **pwhy,
                    apr_pool_t *p)
{
    char *wire = NULL;
    apr_size_t total = 0;
    int i, ok = 1;

    for (i = 0; i < n; i++) {
        char *one = NULL;
        int len = redisFormatCommandArgv(&one, cmds[i].argc,
                                         (const char **)cmds[i].argv,
                                         cmds[i].len);

        if (len < 0) {
            *pwhy = "out of memory";
            free(wire);
            return 0;
        }
        wire = realloc(wire, total + (apr_size_t)len);
        if (wire == NULL) {
            redisFreeCommand(one);
            *pwhy = "out of memory";
            return 0;
        }
        memcpy(wire + total, one, (apr_size_t)len);
        total += (apr_size_t)len;
        redisFreeCommand(one);
    }
    *pgot = 0;
    if (!conn_write(c, wire, total, deadline)) {
        *pwhy = errno == ETIMEDOUT ? "timed out" : "connection lost";
        ok = 0;
    }
    free(wire);
    if (ok && !conn_wait_reply(c, deadline)) {
        *pwhy = errno == ETIMEDOUT ? "timed out" : "connection lost";
        ok = 0;
    }
    for (i = 0; ok && i < n; i++) {
        replies[i] = conn_reply(c, deadline, &budget, pgot, pwhy);
        if (replies[i] == NULL) {
            ok = 0;
        }
    }
    for (; i < n; i++) {
        replies[i] = NULL;
    }
    return ok;
}

static void free_replies(redisReply **replies, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        if (replies[i] != NULL) {
            freeReplyObject(replies[i]);
            replies[i] = NULL;
        }
    }
}

static int tcp_connect(const cis2_redis_conf_t *conf, apr_time_t deadline,
                       const char **pwhy, apr_pool_t *p)
{
    struct addrinfo hints, *res = NULL, *ai;
    char port[8];
    int fd = -1, rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    apr_snprintf(port, sizeof(port), "%d", conf->port);
    rc = getaddrinfo(conf->host, port, &hints, &res);
    if (rc != 0) {
        *pwhy = apr_psprintf(p, "cannot resolve %s: %s", conf->host,
                             gai_strerror(rc));
        return -1;
    }
    *pwhy = "connection refused";
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        int one = 1, err = 0;
        socklen_t elen = sizeof(err);

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK
                    | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        if (errno == EINPROGRESS) {
            if (wait_fd(fd, POLLOUT, deadline)
                && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0
                && err == 0) {
                break;
            }
            if (err != 0) {
                errno = err;
            }
        }
        *pwhy = errno == ETIMEDOUT ? "connect timed out"
                                   : apr_pstrdup(p, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int tls_handshake(redis_ctx_t *x, rconn_t *c, apr_time_t deadline,
                         const char **pwhy, apr_pool_t *p)
{
    const char *host = x->conf->host;
    unsigned char addr[16];
    int is_ip = inet_pton(AF_INET, host, addr) == 1
                || inet_pton(AF_INET6, host, addr) == 1;
    int r;

    c->ssl = SSL_new(x->ssl_ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        *pwhy = "TLS set-up failed";
        return 0;
    }
    if (!is_ip) {
        SSL_set_tlsext_host_name(c->ssl, host);
        SSL_set1_host(c->ssl, host);
    }
    else {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host);
    }
    for (;;) {
        ERR_clear_error();
        r = SSL_connect(c->ssl);
        if (r == 1) {
            return 1;
        }
        if (SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ
            && SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_WRITE) {
            long v = SSL_get_verify_result(c->ssl);
            unsigned long e = ERR_peek_last_error();

            *pwhy = v != X509_V_OK
                    ? apr_psprintf(p, "TLS: server certificate not trusted "
                                   "(%s)", X509_verify_cert_error_string(v))
                    : apr_psprintf(p, "TLS handshake failed (%s)",
                                   e ? ERR_reason_error_string(e)
                                     : "connection closed");
            return 0;
        }
        if (!ssl_wait(c, r, deadline)) {
            *pwhy = "TLS handshake timed out";
            return 0;
        }
    }
}

/* A new, ready connection (TLS done, AUTH and SELECT answered), or NULL. */
static rconn_t *conn_open(redis_ctx_t *x, const char **pwhy, apr_pool_t *p)
{
    const cis2_redis_conf_t *conf = x->conf;
    apr_time_t deadline = apr_time_now() + conf->connect_timeout;
    rconn_t *c = calloc(1, sizeof(*c));
    rcmd_t cmds[2];
    redisReply *replies[2] = { NULL, NULL };
    int n = 0, got, i;
    char db[12];

    if (c == NULL || (c->reader = redisReaderCreate()) == NULL) {
        *pwhy = "out of memory";
        conn_close(c);
        return NULL;
    }
    c->fd = tcp_connect(conf, deadline, pwhy, p);
    if (c->fd < 0 || (conf->tls && !tls_handshake(x, c, deadline, pwhy, p))) {
        conn_close(c);
        return NULL;
    }
    memset(cmds, 0, sizeof(cmds));
    if (conf->password != NULL) {
        cmd_str(&cmds[n], "AUTH");
        if (conf->user != NULL) {
            cmd_str(&cmds[n], conf->user);
        }
        cmd_str(&cmds[n], conf->password);
        n++;
    }
    if (conf->db != 0) {
        apr_snprintf(db, sizeof(db), "%d", conf->db);
        cmd_str(&cmds[n], "SELECT");
        cmd_str(&cmds[n], db);
        n++;
    }
    if (n > 0) {
        if (!conn_run(c, cmds, n, replies, deadline, 65536, &got, pwhy, p)) {
            free_replies(replies, n);
            conn_close(c);
            return NULL;
        }
        for (i = 0; i < n; i++) {
            if (replies[i]->type == REDIS_REPLY_ERROR) {
                /* e.g. WRONGPASS, NOAUTH: Redis's words, never the secret */
                *pwhy = apr_psprintf(p, "%s refused: %.*s",
                                     cmds[i].argv[0], (int)(replies[i]->len
                                                            > 120 ? 120
                                                            : replies[i]->len),
                                     replies[i]->str);
                free_replies(replies, n);
                conn_close(c);
                return NULL;
            }
        }
        free_replies(replies, n);
    }
    return c;
}

static apr_status_t down_err(redis_ctx_t *x, const cis2_err_t **perr,
                             apr_pool_t *p, const char *why)
{
    apr_atomic_inc32(&x->errors);
    return cis2_err_set(perr, p, CIS2_E_STORE_DOWN, "Redis at %s: %s",
                        x->conf->url, why);
}

/* Take a connection: an idle one, or a new one unless Redis is in its
 * backoff after a failed connect. */
static apr_status_t conn_get(rconn_t **pc, redis_ctx_t *x, int fresh,
                             const cis2_err_t **perr, apr_pool_t *p)
{
    rconn_t *c = NULL;
    apr_time_t now = apr_time_now();
    const char *why = NULL;
    int was_down;

    apr_thread_mutex_lock(x->mutex);
    if (x->down_until > now) {
        apr_interval_time_t wait = x->down_until - now;

        apr_thread_mutex_unlock(x->mutex);
        return down_err(x, perr, p, apr_psprintf(p, "unreachable (next try "
                                                 "in %" APR_TIME_T_FMT " ms)",
                                                 apr_time_msec(wait) + 1));
    }
    if (!fresh && x->nidle > 0) {
        c = x->idle[--x->nidle];
    }
    apr_thread_mutex_unlock(x->mutex);
    if (c != NULL) {
        c->reused = 1;
        *pc = c;
        return APR_SUCCESS;
    }
    c = conn_open(x, &why, p);
    apr_thread_mutex_lock(x->mutex);
    was_down = x->down;
    if (c == NULL) {
        x->backoff = x->backoff == 0 ? BACKOFF_MIN
                     : x->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX
                     : x->backoff * 2;
        x->down_until = apr_time_now() + x->backoff;
        x->down = 1;
    }
    else {
        x->backoff = 0;
        x->down_until = 0;
        x->down = 0;
    }
    apr_thread_mutex_unlock(x->mutex);
    if (c == NULL) {
        if (!was_down) {
            cis2_log(CIS2_LOG_MARK, CIS2_LOG_ERR, 0, p, "session store: "
                     "Redis at %s is unreachable: %s", x->conf->url, why);
        }
        return down_err(x, perr, p, why);
    }
    if (was_down) {
        cis2_log(CIS2_LOG_MARK, CIS2_LOG_NOTICE, 0, p, "session store: "
                 "Redis at %s is reachable again", x->conf->url);
    }
    c->reused = 0;
    *pc = c;
    return APR_SUCCESS;
}

static void conn_put(redis_ctx_t *x, rconn_t *c)
{
    apr_thread_mutex_lock(x->mutex);
    if (x->nidle < x->max_idle) {
        x->idle[x->nidle++] = c;
        c = NULL;
    }
    apr_thread_mutex_unlock(x->mutex);
    conn_close(c);
}

/* The idle connections are likely as dead as the one that just failed
 * (Redis restarted): close them all. */
static void drop_idle(redis_ctx_t *x)
{
    rconn_t *dead[64];
    int n, more;

    do {
        n = 0;
        apr_thread_mutex_lock(x->mutex);
        while (x->nidle > 0 && n < 64) {
            dead[n++] = x->idle[--x->nidle];
        }
        more = x->nidle > 0;
        apr_thread_mutex_unlock(x->mutex);
        while (n > 0) {
            conn_close(dead[--n]);
        }
    } while (more);
}

static apr_status_t close_idle(void *data)
{
    redis_ctx_t *x = data;

    while (x->nidle > 0) {
        conn_close(x->idle[--x->nidle]);
    }
    if (x->ssl_ctx != NULL && x->own_ssl_ctx) {
        SSL_CTX_free(x->ssl_ctx);
    }
    x->ssl_ctx = NULL;
    return APR_SUCCESS;
}

/* Run commands with a pooled connection; a dead pooled connection is
 * retried once on a new one. Error replies are the caller's to judge. */
static apr_status_t run(redis_ctx_t *x, const rcmd_t *cmds, int n,
                        redisReply **replies, int nvals,
                        const cis2_err_t **perr, apr_pool_t *p)
{
    int attempt;

    for (attempt = 0; attempt < 2; attempt++) {
        rconn_t *c = NULL;
        const char *why = NULL;
        int got = 0, ok, reused;
        apr_status_t rv = conn_get(&c, x, attempt > 0, perr, p);

        if (rv != APR_SUCCESS) {
            return rv;
        }
        ok = conn_run(c, cmds, n, replies,
                      apr_time_now() + x->conf->timeout, REPLY_CAP(nvals),
                      &got, &why, p);
        if (ok) {
            conn_put(x, c);
            return APR_SUCCESS;
        }
        free_replies(replies, n);
        reused = c->reused;
        conn_close(c);
        /* only a pooled connection that died before answering is worth a
         * second try (a timeout is not: Redis is slow, not gone) */
        if (!reused || got || strcmp(why, "timed out") == 0) {
            return down_err(x, perr, p, why);
        }
        drop_idle(x);
    }
    return down_err(x, perr, p, "connection lost");
}

static int sub_quiet(struct cis2_redis_sub_t *sb);

/* ---- names and values ---------------------------------------------------- */

typedef struct names_t {
    int n;
    const char *name[MAX_KEYS];
} names_t;

static const char *entry_name(redis_ctx_t *x, int i, cis2_store_ns ns,
                              const char *key, apr_pool_t *p)
{
    char dom[2] = { ns_letter[ns], '\0' };
    const char *h = cis2_crypto_name(x->crypto, i, dom, key, strlen(key), p);

    return h ? apr_pstrcat(p, x->conf->prefix, dom, ":", h, NULL) : NULL;
}

static apr_status_t all_names(names_t *nm, redis_ctx_t *x, cis2_store_ns ns,
                              const char *key, const cis2_err_t **perr,
                              apr_pool_t *p)
{
    int i;

    nm->n = cis2_crypto_nkeys(x->crypto);
    for (i = 0; i < nm->n; i++) {
        nm->name[i] = entry_name(x, i, ns, key, p);
        if (nm->name[i] == NULL) {
            return cis2_err_set(perr, p, CIS2_E_CRYPTO, "cannot hash a "
                                "store key");
        }
    }
    return APR_SUCCESS;
}

static const char *index_name(redis_ctx_t *x, int i, cis2_store_index_kind k,
                              const char *value, apr_pool_t *p)
{
    const char *h = cis2_crypto_name(x->crypto, i,
                                     k == CIS2_INDEX_SID ? "ix-sid" : "ix-sub",
                                     value, strlen(value), p);

    return h ? apr_pstrcat(p, x->conf->prefix, "x:", h, NULL) : NULL;
}

static const char *aad(const char *name, const char *created, apr_size_t *plen,
                       apr_pool_t *p)
{
    const char *a = apr_pstrcat(p, name, "|", created, NULL);

    *plen = strlen(a);
    return a;
}

static apr_status_t seal(const char **psealed, apr_size_t *plen,
                         redis_ctx_t *x, const char *name,
                         const char *created, const char *val,
                         apr_size_t len, const cis2_err_t **perr,
                         apr_pool_t *p)
{
    apr_size_t alen;
    const char *a = aad(name, created, &alen, p);

    return cis2_crypto_seal(psealed, plen, x->crypto, 0, a, alen, val, len,
                            perr, p);
}

static apr_status_t unseal(const char **pval, apr_size_t *plen,
                           redis_ctx_t *x, const char *name,
                           const redisReply *v, const redisReply *c,
                           const cis2_err_t **perr, apr_pool_t *p)
{
    apr_size_t alen;
    const char *created, *a;

    if (v->type != REDIS_REPLY_STRING || c == NULL
        || c->type != REDIS_REPLY_STRING) {
        return cis2_err_set(perr, p, CIS2_E_CRYPTO, "store entry is not "
                            "ours (no sealed value)");
    }
    created = apr_pstrmemdup(p, c->str, c->len);
    a = aad(name, created, &alen, p);
    if (cis2_crypto_open(pval, plen, NULL, x->crypto, a, alen, v->str,
                         v->len, perr, p) != APR_SUCCESS) {
        /* detail from cis2_crypto names the reason, never the value */
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

static const char *ttl_ms(apr_time_t expires, apr_pool_t *p)
{
    apr_time_t ms = (expires - apr_time_now()) / 1000;

    return apr_psprintf(p, "%" APR_TIME_T_FMT, ms < 1 ? 1 : ms);
}

/* A Redis error reply: out of memory means full, the rest means down. */
static apr_status_t reply_err(redis_ctx_t *x, const redisReply *r,
                              const char *what, const cis2_err_t **perr,
                              apr_pool_t *p)
{
    int n = (int)(r->len > 160 ? 160 : r->len);

    apr_atomic_inc32(&x->errors);
    if (r->len >= 3 && strncmp(r->str, "OOM", 3) == 0) {
        return cis2_err_set(perr, p, CIS2_E_STORE_FULL, "Redis at %s is "
                            "full (%s): %.*s", x->conf->url, what, n, r->str);
    }
    return cis2_err_set(perr, p, CIS2_E_STORE_DOWN, "Redis at %s refused "
                        "%s: %.*s", x->conf->url, what, n, r->str);
}

static void eval_cmd(rcmd_t *cmd, const char *script, int nkeys,
                     const char *const *keys, apr_pool_t *p)
{
    int i;

    memset(cmd, 0, sizeof(*cmd));
    cmd_str(cmd, "EVAL");
    cmd_str(cmd, script);
    cmd_str(cmd, apr_itoa(p, nkeys));
    for (i = 0; i < nkeys; i++) {
        cmd_str(cmd, keys[i]);
    }
}

/* ---- the operations ---------------------------------------------------------- */

static apr_status_t r_get(void *ctx, cis2_store_ns ns, const char *key,
                          apr_time_t now, const char **pval, apr_size_t *plen,
                          apr_time_t *pexpires, const cis2_err_t **perr,
                          apr_pool_t *p)
{
    redis_ctx_t *x = ctx;
    rcmd_t cmds[2 * MAX_KEYS];
    redisReply *rep[2 * MAX_KEYS];
    names_t nm;
    cis2_nearcache_t *nc = ns == CIS2_NS_SESSION ? x->nc : NULL;
    cis2_nearcache_mark_t mark;
    apr_time_t expires = now;
    apr_status_t rv;
    int i, found = -1;

    if ((rv = all_names(&nm, x, ns, key, perr, p)) != APR_SUCCESS) {
        return rv;
    }
    /* sessions only: the host's near-cache first (cis2_nearcache.h),
     * unless an invalidation has reached this process but is not through
     * yet (sub_quiet) */
    if (nc != NULL) {
        cis2_nearcache_mark(nc, now, &mark);
        for (i = 0; i < nm.n; i++) {
            if (cis2_nearcache_get(nc, nm.name[i], now, pval, plen,
                                   pexpires, p) == APR_SUCCESS) {
                if (sub_quiet(x->sub) && cis2_nearcache_unchanged(nc, &mark)) {
                    return APR_SUCCESS;
                }
                cis2_nearcache_mark(nc, now, &mark);
                break;
            }
        }
    }
    memset(cmds, 0, sizeof(cmds));
    for (i = 0; i < nm.n; i++) {
        cmd_str(&cmds[2 * i], "HMGET");
        cmd_str(&cmds[2 * i], nm.name[i]);
        cmd_str(&cmds[2 * i], "v");
        cmd_str(&cmds[2 * i], "c");
        cmd_str(&cmds[2 * i + 1], "PTTL");
        cmd_str(&cmds[2 * i + 1], nm.name[i]);
    }
    if ((rv = run(x, cmds, 2 * nm.n, rep, nm.n, perr, p)) != APR_SUCCESS) {
        return rv;
    }
    rv = APR_EOF;
    for (i = 0; i < nm.n && rv == APR_EOF; i++) {
        redisReply *h = rep[2 * i], *t = rep[2 * i + 1];

        if (h->type == REDIS_REPLY_ERROR) {
            rv = reply_err(x, h, "HMGET", perr, p);
        }
        else if (h->type == REDIS_REPLY_ARRAY && h->elements == 2
                 && h->element[0]->type == REDIS_REPLY_STRING) {
            rv = unseal(pval, plen, x, nm.name[i], h->element[0],
                        h->element[1], perr, p);
            if (rv == APR_SUCCESS) {
                /* -1 (no TTL) cannot happen for our entries; be safe */
                expires = t->type == REDIS_REPLY_INTEGER && t->integer > 0
                          ? now + apr_time_from_msec(t->integer) : now;
                if (pexpires != NULL) {
                    *pexpires = expires;
                }
                found = i;
            }
        }
    }
    free_replies(rep, 2 * nm.n);
    if (rv == APR_EOF) {
        apr_atomic_inc32(&x->misses);
        return cis2_err_set(perr, p, CIS2_E_NOT_FOUND, "no such entry");
    }
    if (rv == APR_SUCCESS) {
        apr_atomic_inc32(&x->hits);
        if (nc != NULL && found >= 0) {
            cis2_nearcache_put(nc, &mark, nm.name[found], *pval, *plen,
                               expires, now, p);
        }
    }
    return rv;
}

/* This host's copies of (ns, key) go at once (Redis also publishes the
 * names it deletes, for the other hosts). */
static void forget(redis_ctx_t *x, cis2_store_ns ns, const names_t *nm,
                   apr_pool_t *p)
{
    int i;

    if (x->nc != NULL && ns == CIS2_NS_SESSION) {
        for (i = 0; i < nm->n; i++) {
            cis2_nearcache_invalidate(x->nc, nm->name[i], p);
        }
    }
}

static const char *channel_for(redis_ctx_t *x, cis2_store_ns ns)
{
    return ns == CIS2_NS_SESSION ? x->channel : "";
}

/* The two halves of every Lua-backed operation on one entry. lua_begin:
 * the entry's names (one per key) and an EVAL of `script` over them as
 * KEYS; the caller appends ARGV. lua_end: run it, then (nm not NULL) this
 * host's copies of the entry go, after the write, so a read of the old
 * value still in flight finds the invalidation sequence moved and does not
 * cache it; a Redis error reply becomes *perr ("refused `what`"). On
 * APR_SUCCESS *prep is the reply, for the caller to read and free. */
static apr_status_t lua_begin(names_t *nm, rcmd_t *cmd, redis_ctx_t *x,
                              cis2_store_ns ns, const char *key,
                              const char *script, const cis2_err_t **perr,
                              apr_pool_t *p)
{
    apr_status_t rv = all_names(nm, x, ns, key, perr, p);

    if (rv == APR_SUCCESS) {
        eval_cmd(cmd, script, nm->n, nm->name, p);
    }
    return rv;
}

static apr_status_t lua_end(redisReply **prep, redis_ctx_t *x,
                            cis2_store_ns ns, const names_t *nm,
                            const rcmd_t *cmd, int nvals, const char *what,
                            const cis2_err_t **perr, apr_pool_t *p)
{
    apr_status_t rv = run(x, cmd, 1, prep, nvals, perr, p);

    if (nm != NULL) {
        forget(x, ns, nm, p);
    }
    if (rv == APR_SUCCESS && (*prep)->type == REDIS_REPLY_ERROR) {
        rv = reply_err(x, *prep, what, perr, p);
        free_replies(prep, 1);
    }
    return rv;
}

static apr_status_t put_common(redis_ctx_t *x, cis2_store_ns ns,
                               const char *key, const char *val,
                               apr_size_t len, apr_time_t expires,
                               const cis2_store_index_t *ix,
                               const cis2_err_t **perr, apr_pool_t *p)
{
    const char *keys[3], *created, *sealed, *ixnames = "";
    apr_size_t slen;
    names_t nm;
    rcmd_t cmd;
    redisReply *rep = NULL;
    apr_status_t rv;
    int nkeys = 1;

    if (len > CIS2_MAX_SESSION) {
        apr_atomic_inc32(&x->put_failures);
        return cis2_err_set(perr, p, CIS2_E_TOO_LARGE, "value of %"
                            APR_SIZE_T_FMT " bytes is over the limit", len);
    }
    if ((rv = all_names(&nm, x, ns, key, perr, p)) != APR_SUCCESS) {
        return rv;
    }
    keys[0] = nm.name[0];               /* writes use the first key's name */
    created = apr_psprintf(p, "%" APR_TIME_T_FMT,
                           ix != NULL && ix->created > 0 ? ix->created
                                                         : apr_time_now());
    if (ix != NULL && ix->sid != NULL && *ix->sid != '\0') {
        keys[nkeys++] = index_name(x, 0, CIS2_INDEX_SID, ix->sid, p);
    }
    if (ix != NULL && ix->sub != NULL && *ix->sub != '\0') {
        keys[nkeys++] = index_name(x, 0, CIS2_INDEX_SUB, ix->sub, p);
    }
    if (nkeys == 2) {
        ixnames = keys[1];
    }
    else if (nkeys == 3) {
        ixnames = apr_pstrcat(p, keys[1], " ", keys[2], NULL);
    }
    if ((nkeys > 1 && (keys[1] == NULL || keys[nkeys - 1] == NULL))
        || (rv = seal(&sealed, &slen, x, keys[0], created, val, len, perr, p))
           != APR_SUCCESS) {
        apr_atomic_inc32(&x->put_failures);
        return perr && *perr ? APR_EGENERAL
            : cis2_err_set(perr, p, CIS2_E_CRYPTO, "cannot seal a value");
    }
    eval_cmd(&cmd, LUA_PUT, nkeys, keys, p);
    cmd_arg(&cmd, sealed, slen);
    cmd_str(&cmd, ttl_ms(expires, p));
    cmd_str(&cmd, created);
    cmd_str(&cmd, ixnames);
    cmd_str(&cmd, channel_for(x, ns));
    rv = lua_end(&rep, x, ns, &nm, &cmd, 0, "a write", perr, p);
    free_replies(&rep, 1);
    apr_atomic_inc32(rv == APR_SUCCESS ? &x->puts : &x->put_failures);
    return rv;
}

static apr_status_t r_put(void *ctx, cis2_store_ns ns, const char *key,
                          const char *val, apr_size_t len, apr_time_t expires,
                          const cis2_err_t **perr, apr_pool_t *p)
{
    return put_common(ctx, ns, key, val, len, expires, NULL, perr, p);
}

static apr_status_t r_put_indexed(void *ctx, cis2_store_ns ns,
                                  const char *key, const char *val,
                                  apr_size_t len, apr_time_t expires,
                                  const cis2_store_index_t *ix,
                                  const cis2_err_t **perr, apr_pool_t *p)
{
    return put_common(ctx, ns, key, val, len, expires, ix, perr, p);
}

static apr_status_t r_take(void *ctx, cis2_store_ns ns, const char *key,
                           apr_time_t now, const char **pval,
                           apr_size_t *plen, const cis2_err_t **perr,
                           apr_pool_t *p)
{
    redis_ctx_t *x = ctx;
    names_t nm;
    rcmd_t cmd;
    redisReply *rep = NULL;
    apr_status_t rv;

    if ((rv = lua_begin(&nm, &cmd, x, ns, key, LUA_TAKE, perr, p))
        != APR_SUCCESS) {
        return rv;
    }
    cmd_str(&cmd, channel_for(x, ns));
    if ((rv = lua_end(&rep, x, ns, &nm, &cmd, 1, "a take", perr, p))
        != APR_SUCCESS) {
        return rv;
    }
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3
             && rep->element[0]->type == REDIS_REPLY_INTEGER
             && rep->element[0]->integer >= 1
             && rep->element[0]->integer <= nm.n) {
        rv = unseal(pval, plen, x, nm.name[rep->element[0]->integer - 1],
                    rep->element[1], rep->element[2], perr, p);
        apr_atomic_inc32(&x->hits);
    }
    else {
        apr_atomic_inc32(&x->misses);
        rv = cis2_err_set(perr, p, CIS2_E_NOT_FOUND, "no such entry");
    }
    free_replies(&rep, 1);
    return rv;
}

static apr_status_t r_del(void *ctx, cis2_store_ns ns, const char *key,
                          const cis2_err_t **perr, apr_pool_t *p)
{
    redis_ctx_t *x = ctx;
    names_t nm;
    rcmd_t cmd;
    redisReply *rep = NULL;
    apr_status_t rv;

    if ((rv = lua_begin(&nm, &cmd, x, ns, key, LUA_DEL, perr, p))
        == APR_SUCCESS) {
        cmd_str(&cmd, channel_for(x, ns));
        rv = lua_end(&rep, x, ns, &nm, &cmd, 0, "a delete", perr, p);
        free_replies(&rep, 1);
    }
    return rv;
}

static apr_status_t r_touch(void *ctx, cis2_store_ns ns, const char *key,
                            apr_time_t now, apr_time_t expires,
                            const cis2_err_t **perr, apr_pool_t *p)
{
    redis_ctx_t *x = ctx;
    names_t nm;
    rcmd_t cmd;
    redisReply *rep = NULL;
    apr_status_t rv;
    apr_time_t ms = (expires - now) / 1000;

    if ((rv = lua_begin(&nm, &cmd, x, ns, key, LUA_TOUCH, perr, p))
        != APR_SUCCESS) {
        return rv;
    }
    cmd_str(&cmd, apr_psprintf(p, "%" APR_TIME_T_FMT, ms < 1 ? 1 : ms));
    /* the cached copy holds the old expiry: the next read fetches the new
     * one (other hosts keep theirs: an earlier expiry only makes them
     * touch sooner) */
    if ((rv = lua_end(&rep, x, ns, &nm, &cmd, 0, "a touch", perr, p))
        != APR_SUCCESS) {
        return rv;
    }
    if (rep->type != REDIS_REPLY_INTEGER || rep->integer != 1) {
        rv = cis2_err_set(perr, p, CIS2_E_NOT_FOUND, "no such entry");
    }
    free_replies(&rep, 1);
    return rv;
}

static apr_status_t r_add_once(void *ctx, cis2_store_ns ns, const char *key,
                               apr_time_t now, apr_time_t expires,
                               const cis2_err_t **perr, apr_pool_t *p)
{
    redis_ctx_t *x = ctx;
    names_t nm;
    rcmd_t cmd;
    redisReply *rep = NULL;
    const char *sealed, *created = apr_psprintf(p, "%" APR_TIME_T_FMT, now);
    apr_size_t slen;
    apr_status_t rv;
    apr_time_t ms = (expires - now) / 1000;

    if ((rv = lua_begin(&nm, &cmd, x, ns, key, LUA_ADD_ONCE, perr, p))
        != APR_SUCCESS
        || (rv = seal(&sealed, &slen, x, nm.name[0], created, "", 0, perr, p))
           != APR_SUCCESS) {
        return rv;
    }
    cmd_arg(&cmd, sealed, slen);
    cmd_str(&cmd, apr_psprintf(p, "%" APR_TIME_T_FMT, ms < 1 ? 1 : ms));
    cmd_str(&cmd, created);
    /* adds, never replaces: nothing cached to forget */
    if ((rv = lua_end(&rep, x, ns, NULL, &cmd, 0, "an add", perr, p))
        != APR_SUCCESS) {
        return rv;
    }
    if (rep->type != REDIS_REPLY_INTEGER || rep->integer != 1) {
        rv = cis2_err_set(perr, p, CIS2_E_DUPLICATE, "already seen");
    }
    free_replies(&rep, 1);
    return rv;
}

static apr_status_t r_delete_indexed(void *ctx, cis2_store_ns ns,
                                     cis2_store_index_kind kind,
                                     const char *value, apr_time_t not_after,
                                     int *pcount, const cis2_err_t **perr,
                                     apr_pool_t *p)
{
    redis_ctx_t *x = ctx;
    const char *keys[MAX_KEYS];
    char dom[2] = { ns_letter[ns], '\0' };
    rcmd_t cmd;
    redisReply *rep = NULL;
    apr_status_t rv;
    int i, n = cis2_crypto_nkeys(x->crypto);

    if (pcount != NULL) {
        *pcount = 0;
    }
    for (i = 0; i < n; i++) {
        keys[i] = index_name(x, i, kind, value, p);
        if (keys[i] == NULL) {
            return cis2_err_set(perr, p, CIS2_E_CRYPTO, "cannot hash a key");
        }
    }
    eval_cmd(&cmd, LUA_DELETE_INDEXED, n, keys, p);
    cmd_str(&cmd, apr_psprintf(p, "%" APR_TIME_T_FMT, not_after));
    cmd_str(&cmd, apr_pstrcat(p, x->conf->prefix, dom, ":", NULL));
    cmd_str(&cmd, channel_for(x, ns));
    if ((rv = lua_end(&rep, x, ns, NULL, &cmd, 4, "an index delete", perr,
                      p)) != APR_SUCCESS) {
        return rv;
    }
    if (rep->type == REDIS_REPLY_ARRAY) {
        /* the names it deleted: this host's copies go now, before the
         * answer (the published message reaches the other hosts) */
        for (i = 0; i < (int)rep->elements; i++) {
            if (x->nc != NULL && ns == CIS2_NS_SESSION
                && rep->element[i]->type == REDIS_REPLY_STRING) {
                cis2_nearcache_invalidate(x->nc, apr_pstrmemdup(p,
                                          rep->element[i]->str,
                                          rep->element[i]->len), p);
            }
        }
        if (pcount != NULL) {
            *pcount = (int)rep->elements;
        }
    }
    free_replies(&rep, 1);
    return rv;
}

static void r_stats(void *ctx, cis2_store_stats_t *stats)
{
    redis_ctx_t *x = ctx;

    /* this process's view only: Redis keeps the entries, and counting them
     * by namespace would need a SCAN */
    memset(stats, 0, sizeof(*stats));
    stats->hits = apr_atomic_read32(&x->hits);
    stats->misses = apr_atomic_read32(&x->misses);
    stats->puts = apr_atomic_read32(&x->puts);
    stats->put_failures = apr_atomic_read32(&x->put_failures);
}

static const cis2_store_ops_t redis_ops = {
    .name = "redis",
    .get = r_get,
    .put = r_put,
    .take = r_take,
    .del = r_del,
    .touch = r_touch,
    .add_once = r_add_once,
    .put_indexed = r_put_indexed,
    .delete_indexed = r_delete_indexed,
    .stats = r_stats,
};

/* ---- the invalidation subscriber (one thread per process) -----------------
 * SUBSCRIBE <prefix>inval on a connection of its own, opened exactly as a
 * command connection (TLS, AUTH, SELECT), and PING on it every second: a
 * PONG, like a message, proves that whatever Redis published before it
 * has arrived (one connection delivers in order). Each message names Redis
 * entries (keyed hashes) that were deleted or replaced; they leave the
 * near-cache. Losing the connection, or no PONG within 2 s, bumps the
 * epoch and stops the cache serving (cis2_nearcache_down) until this or
 * another process's subscriber is back. Reconnects back off as command
 * connections do (50 ms doubling to 2 s). */

#define SUB_PING apr_time_from_sec(1)
#define SUB_DEAD apr_time_from_sec(2)

struct cis2_redis_sub_t {
    redis_ctx_t *x;
    cis2_nearcache_t *nc;
    cis2_redis_sub_notify_fn *notify;
    void *baton;
    apr_thread_t *thread;
    apr_pool_t *pool;            /* unmanaged: this thread's alone */
    volatile apr_uint32_t stop;
    int wake[2];                 /* a byte on wake[1] ends the wait */
    volatile apr_uint32_t up;    /* for tests and the status page */
    volatile apr_uint32_t fd1;   /* the subscribed socket + 1; 0 = none */
    volatile apr_uint32_t busy;  /* reading or applying invalidations */
};

/* Nothing has reached this process's subscriber that it has not applied:
 * its socket has no unread byte and it is not between reading and
 * applying. With the sequence check after a hit (r_get) this closes the
 * window between a PUBLISH arriving and the subscriber thread running: an
 * invalidation that is on this host is honoured, not just one that has
 * been applied. Not subscribed: not quiet (a miss). */
static int sub_quiet(struct cis2_redis_sub_t *sb)
{
    struct pollfd pfd;
    apr_uint32_t fd1;

    if (sb == NULL || (fd1 = apr_atomic_read32(&sb->fd1)) == 0) {
        return 0;
    }
    pfd.fd = (int)fd1 - 1;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, 0) != 0) {            /* data, error, or hang-up */
        return 0;
    }
    return apr_atomic_read32(&sb->busy) == 0;
}

static void sub_tell(cis2_redis_sub_t *sb, int up, const char *why)
{
    if (sb->notify != NULL) {
        sb->notify(sb->baton, up, why);
    }
}

/* Wait until fd (or -1: nothing) is readable, the wake pipe fires or
 * `ms` pass. 1 readable, 0 timeout, -1 stop. */
static int sub_wait(cis2_redis_sub_t *sb, int fd, int ms)
{
    struct pollfd pfd[2];
    int n = 0, rc;

    pfd[n].fd = sb->wake[0];
    pfd[n].events = POLLIN;
    pfd[n++].revents = 0;
    if (fd >= 0) {
        pfd[n].fd = fd;
        pfd[n].events = POLLIN;
        pfd[n++].revents = 0;
    }
    rc = poll(pfd, (nfds_t)n, ms < 1 ? 1 : ms);
    if (apr_atomic_read32(&sb->stop) || (rc > 0 && pfd[0].revents)) {
        return -1;
    }
    if (rc > 0 && n > 1 && pfd[1].revents) {
        return 1;
    }
    return 0;
}

static void sub_message(cis2_redis_sub_t *sb, const redisReply *r,
                        int *pponged, apr_pool_t *p)
{
    const redisReply *kind;

    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1
        || (kind = r->element[0])->type != REDIS_REPLY_STRING) {
        return;
    }
    if (kind->len == 4 && strncasecmp(kind->str, "pong", 4) == 0) {
        *pponged = 1;
        cis2_nearcache_beat(sb->nc, apr_time_now());
    }
    else if (kind->len == 7 && memcmp(kind->str, "message", 7) == 0
             && r->elements == 3
             && r->element[2]->type == REDIS_REPLY_STRING) {
        char *names = apr_pstrmemdup(p, r->element[2]->str,
                                     r->element[2]->len), *last = NULL;
        const char *name;

        for (name = apr_strtok(names, " ", &last); name != NULL;
             name = apr_strtok(NULL, " ", &last)) {
            cis2_nearcache_invalidate(sb->nc, name, p);
        }
        cis2_nearcache_beat(sb->nc, apr_time_now());
    }
}

/* One connection's life: connect, subscribe, serve until it fails (the
 * reason is returned) or the thread is told to stop (NULL). */
static const char *sub_session(cis2_redis_sub_t *sb, int *pwas_up,
                               apr_pool_t *cp)
{
    redis_ctx_t *x = sb->x;
    rconn_t *c;
    rcmd_t cmd;
    redisReply *rep = NULL;
    const char *why = NULL;
    apr_time_t last_ping, ping_sent = 0, now;
    int got = 0, ok;
    apr_pool_t *mp = NULL;

    c = conn_open(x, &why, cp);
    if (c == NULL) {
        return why;
    }
    memset(&cmd, 0, sizeof(cmd));
    cmd_str(&cmd, "SUBSCRIBE");
    cmd_str(&cmd, x->channel);
    ok = conn_run(c, &cmd, 1, &rep, apr_time_now() + x->conf->timeout,
                  65536, &got, &why, cp);
    if (ok && (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3
               || rep->element[0]->type != REDIS_REPLY_STRING
               || strcasecmp(rep->element[0]->str, "subscribe") != 0)) {
        why = rep->type == REDIS_REPLY_ERROR
              ? apr_psprintf(cp, "SUBSCRIBE refused: %.*s",
                             (int)(rep->len > 120 ? 120 : rep->len), rep->str)
              : "SUBSCRIBE: unexpected answer";
        ok = 0;
    }
    free_replies(&rep, 1);
    if (!ok) {
        conn_close(c);
        return why;
    }
    /* invalidations flow from here on; what was cached before may have
     * missed some */
    cis2_nearcache_bump(sb->nc);
    cis2_nearcache_beat(sb->nc, apr_time_now());
    apr_atomic_set32(&sb->up, 1);
    apr_atomic_set32(&sb->fd1, (apr_uint32_t)c->fd + 1);
    *pwas_up = 1;
    sub_tell(sb, 1, NULL);
    apr_pool_create(&mp, cp);
    last_ping = apr_time_now();
    why = NULL;
    while (why == NULL) {
        apr_time_t next;
        int ready, ponged = 0;

        now = apr_time_now();
        next = ping_sent ? ping_sent + SUB_DEAD : last_ping + SUB_PING;
        ready = c->ssl != NULL && SSL_pending(c->ssl) > 0 ? 1
                : sub_wait(sb, c->fd, next > now
                                      ? (int)((next - now + 999) / 1000) : 0);
        if (ready < 0) {
            break;                      /* told to stop */
        }
        if (ready > 0) {
            char buf[16384];
            ssize_t n;
            void *r = NULL;

            /* busy before the read: see sub_quiet */
            apr_atomic_set32(&sb->busy, 1);
            n = conn_read(c, buf, sizeof(buf),
                          apr_time_now() + x->conf->timeout);
            if (n <= 0) {
                why = errno == ETIMEDOUT ? "read timed out"
                                         : "connection lost";
                break;
            }
            if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK) {
                why = "protocol error";
                break;
            }
            while (redisReaderGetReply(c->reader, &r) == REDIS_OK
                   && r != NULL) {
                sub_message(sb, r, &ponged, mp);
                freeReplyObject(r);
                r = NULL;
                apr_pool_clear(mp);
            }
            if (c->reader->err) {
                why = "protocol error";
                break;
            }
            if (ponged) {
                ping_sent = 0;
            }
            if (c->ssl == NULL || SSL_pending(c->ssl) == 0) {
                apr_atomic_set32(&sb->busy, 0);
            }
        }
        now = apr_time_now();
        if (ping_sent && now - ping_sent >= SUB_DEAD) {
            why = "no answer to PING within 2 s";
        }
        else if (!ping_sent && now - last_ping >= SUB_PING) {
            static const char ping[] = "*1\r\n$4\r\nPING\r\n";

            if (!conn_write(c, ping, sizeof(ping) - 1,
                            now + x->conf->timeout)) {
                why = "cannot send PING";
            }
            ping_sent = last_ping = now;
        }
    }
    /* no request may take this socket for a quiet one any more, and
     * nothing cached is served, before it closes */
    apr_atomic_set32(&sb->fd1, 0);
    cis2_nearcache_down(sb->nc);
    conn_close(c);
    apr_atomic_set32(&sb->busy, 0);
    apr_atomic_set32(&sb->up, 0);
    return why;
}

static void *APR_THREAD_FUNC sub_main(apr_thread_t *t, void *data)
{
    cis2_redis_sub_t *sb = data;
    apr_interval_time_t backoff = 0;
    apr_pool_t *cp = NULL;
    int told_down = 0;

    apr_pool_create(&cp, sb->pool);
    while (!apr_atomic_read32(&sb->stop)) {
        int was_up = 0;
        const char *why = sub_session(sb, &was_up, cp);

        /* down (or leaving): nothing cached may be served until a
         * subscriber, of this process or another, is back */
        cis2_nearcache_down(sb->nc);
        if (apr_atomic_read32(&sb->stop)) {
            break;
        }
        /* a connection that was up is reported when it fails; repeated
         * connect failures after that only once */
        if (was_up) {
            told_down = 0;
            backoff = 0;
        }
        if (!told_down) {
            sub_tell(sb, 0, why ? why : "connection lost");
            told_down = 1;
        }
        backoff = backoff == 0 ? BACKOFF_MIN
                  : backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
        if (sub_wait(sb, -1, (int)(backoff / 1000)) < 0) {
            break;
        }
        apr_pool_clear(cp);
    }
    return NULL;
}

/* ---- creation ---------------------------------------------------------------- */

static apr_status_t make_ssl_ctx(SSL_CTX **pctx, const cis2_redis_conf_t *c,
                                 const cis2_err_t **perr, apr_pool_t *p)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    const char *what = NULL;

    if (ctx == NULL) {
        return cis2_err_set(perr, p, CIS2_E_CRYPTO, "no TLS context");
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (c->ca_file != NULL
        ? SSL_CTX_load_verify_locations(ctx, c->ca_file, NULL) != 1
        : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        what = apr_psprintf(p, "cannot load CA file %s",
                            c->ca_file ? c->ca_file : "(system)");
    }
    else if (c->cert_file != NULL
             && SSL_CTX_use_certificate_chain_file(ctx, c->cert_file) != 1) {
        what = apr_psprintf(p, "cannot load client certificate %s",
                            c->cert_file);
    }
    else if ((c->key_file != NULL || c->cert_file != NULL)
             && (SSL_CTX_use_PrivateKey_file(ctx, c->key_file ? c->key_file
                                             : c->cert_file,
                                             SSL_FILETYPE_PEM) != 1
                 || SSL_CTX_check_private_key(ctx) != 1)) {
        what = apr_psprintf(p, "cannot load the client key %s (or it does "
                            "not match the certificate)",
                            c->key_file ? c->key_file : c->cert_file);
    }
    if (what != NULL) {
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return cis2_err_set(perr, p, CIS2_E_CONFIG, "%s", what);
    }
    *pctx = ctx;
    return APR_SUCCESS;
}

static apr_status_t free_ssl_ctx(void *data)
{
    SSL_CTX_free(data);
    return APR_SUCCESS;
}

apr_status_t cis2_redis_conf_load_tls(cis2_redis_conf_t *conf,
                                      const cis2_err_t **perr, apr_pool_t *p)
{
    SSL_CTX *ctx = NULL;
    apr_status_t rv;

    if (!conf->tls) {
        return APR_SUCCESS;
    }
    rv = make_ssl_ctx(&ctx, conf, perr, p);
    if (rv == APR_SUCCESS) {
        conf->tls_ctx = ctx;
        apr_pool_cleanup_register(p, ctx, free_ssl_ctx,
                                  apr_pool_cleanup_null);
    }
    return rv;
}

apr_status_t cis2_store_redis_create(cis2_store_t **pst,
                                     const cis2_redis_conf_t *conf,
                                     const cis2_crypto_t *crypto,
                                     const cis2_err_t **perr, apr_pool_t *p)
{
    redis_ctx_t *x = apr_pcalloc(p, sizeof(*x));
    apr_status_t rv;

    if (conf == NULL || crypto == NULL) {
        return cis2_err_set(perr, p, CIS2_E_CONFIG, "Redis store needs a "
                            "URL and keys");
    }
    if (cis2_crypto_nkeys(crypto) > MAX_KEYS) {
        return cis2_err_set(perr, p, CIS2_E_CONFIG, "at most %d passphrases",
                            MAX_KEYS);
    }
    x->conf = conf;
    x->crypto = crypto;
    x->channel = apr_pstrcat(p, conf->prefix, "inval", NULL);
    x->max_idle = conf->max_idle >= 0 ? conf->max_idle
                                      : CIS2_REDIS_DEFAULT_MAX_IDLE;
    x->idle = apr_pcalloc(p, sizeof(*x->idle) * (apr_size_t)(x->max_idle
                                                             + 1));
    rv = apr_thread_mutex_create(&x->mutex, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return cis2_err_set(perr, p, CIS2_E_CONFIG, "cannot create a "
                            "mutex");
    }
    if (conf->tls && conf->tls_ctx != NULL) {
        x->ssl_ctx = conf->tls_ctx;
    }
    else if (conf->tls) {
        rv = make_ssl_ctx(&x->ssl_ctx, conf, perr, p);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        x->own_ssl_ctx = 1;
    }
    apr_pool_cleanup_register(p, x, close_idle, apr_pool_cleanup_null);
    *pst = cis2_store_make(&redis_ops, x, p);
    return APR_SUCCESS;
}

const char *cis2_store_redis_name(const cis2_redis_conf_t *conf,
                                  const cis2_crypto_t *crypto, int i,
                                  cis2_store_ns ns, const char *key,
                                  apr_pool_t *p)
{
    redis_ctx_t x;

    memset(&x, 0, sizeof(x));
    x.conf = conf;
    x.crypto = crypto;
    return entry_name(&x, i, ns, key, p);
}

void cis2_store_redis_use_nearcache(cis2_store_t *st, cis2_nearcache_t *nc)
{
    if (st != NULL && st->ops == &redis_ops) {
        ((redis_ctx_t *)st->ctx)->nc = nc;
    }
}

static apr_status_t sub_stop(void *data)
{
    cis2_redis_sub_t *sb = data;
    apr_status_t trv;
    ssize_t w;

    sb->x->sub = NULL;
    apr_atomic_set32(&sb->stop, 1);
    do {
        w = write(sb->wake[1], "x", 1);
    } while (w < 0 && errno == EINTR);
    if (sb->thread != NULL) {
        apr_thread_join(&trv, sb->thread);
        sb->thread = NULL;
    }
    close(sb->wake[0]);
    close(sb->wake[1]);
    apr_pool_destroy(sb->pool);
    return APR_SUCCESS;
}

apr_status_t cis2_redis_subscriber_start(cis2_redis_sub_t **psub,
                                         cis2_store_t *st,
                                         cis2_nearcache_t *nc,
                                         cis2_redis_sub_notify_fn *notify,
                                         void *baton,
                                         const cis2_err_t **perr,
                                         apr_pool_t *p)
{
    cis2_redis_sub_t *sb;
    apr_threadattr_t *attr = NULL;
    apr_status_t rv;

    if (st == NULL || st->ops != &redis_ops || nc == NULL) {
        return cis2_err_set(perr, p, CIS2_E_CONFIG, "the subscriber needs "
                            "a Redis store and a near-cache");
    }
    sb = apr_pcalloc(p, sizeof(*sb));
    sb->x = st->ctx;
    sb->nc = nc;
    sb->notify = notify;
    sb->baton = baton;
    if (pipe2(sb->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        return cis2_err_set(perr, p, CIS2_E_CONFIG, "cannot make a pipe: "
                            "%s", strerror(errno));
    }
    /* the thread allocates only from a pool of its own (pools are not
     * shared between threads) */
    rv = apr_pool_create_unmanaged_ex(&sb->pool, NULL, NULL);
    if (rv == APR_SUCCESS) {
        apr_threadattr_create(&attr, p);
        rv = apr_thread_create(&sb->thread, attr, sub_main, sb, p);
    }
    if (rv != APR_SUCCESS) {
        close(sb->wake[0]);
        close(sb->wake[1]);
        if (sb->pool != NULL) {
            apr_pool_destroy(sb->pool);
        }
        return cis2_err_set(perr, p, CIS2_E_CONFIG, "cannot start the "
                            "subscriber thread (%d)", rv);
    }
    apr_pool_cleanup_register(p, sb, sub_stop, apr_pool_cleanup_null);
    sb->x->sub = sb;
    *psub = sb;
    return APR_SUCCESS;
}

int cis2_redis_subscriber_up(const cis2_redis_sub_t *sb)
{
    return sb != NULL
           && apr_atomic_read32((volatile apr_uint32_t *)&sb->up) != 0;
}
