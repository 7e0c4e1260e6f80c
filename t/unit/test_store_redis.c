/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_store_redis — cis2_store over a real redis-server that the test
 * starts itself on 127.0.0.1 (a free port, a temp dir) and stops by pid:
 * the store contract (as test_store checks it for shm), what Redis holds
 * (sealed values, hashed names, TTLs), tampering, key rotation, two
 * "nodes" on one Redis, races on take/add_once between processes,
 * threads sharing the connection pool, the sid/sub indexes with their
 * `created` rule, Redis going away and coming back (with its data), AUTH,
 * database selection, and rediss:// with a CA made here.
 */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <signal.h>
#include <errno.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <hiredis/hiredis.h>

#include "testmain.h"
#include "cis2_store.h"
#include "cis2_store_redis.h"
#include "cis2_crypto.h"
#include "cis2_nearcache.h"
#include <apr_atomic.h>

#define SEC(n)   apr_time_from_sec(n)
#define PW_A     "first passphrase for the tests"
#define PW_B     "second passphrase, rotated in"
#define REDIS    "/usr/bin/redis-server"

/* ---- a private redis-server ----------------------------------------------- */

typedef struct rsrv {
    pid_t pid;
    int port;
    char dir[128];
    char portstr[8];            /* no pool: the shared one starts before
                                   the per-test pool exists */
} rsrv;

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t l = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    getsockname(fd, (struct sockaddr *)&a, &l);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int port_open(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* Start redis-server with `extra` arguments (NULL-terminated); the port
 * (plain, or TLS when the extra arguments say --port 0) is r->port. */
static void redis_start(rsrv *r, const char *const *extra)
{
    const char *argv[40];
    int n = 0, i;

    if (r->dir[0] == '\0') {
        snprintf(r->dir, sizeof(r->dir), "/tmp/cis2-redis-XXXXXX");
        if (mkdtemp(r->dir) == NULL) {
            abort();
        }
    }
    if (r->port == 0) {
        r->port = free_port();
    }
    argv[n++] = REDIS;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--dir";
    argv[n++] = r->dir;
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--appendonly";
    argv[n++] = "no";
    argv[n++] = "--daemonize";
    argv[n++] = "no";
    argv[n++] = "--logfile";
    argv[n++] = "redis.log";
    argv[n++] = "--port";
    snprintf(r->portstr, sizeof(r->portstr), "%d", r->port);
    argv[n++] = r->portstr;
    for (i = 0; extra != NULL && extra[i] != NULL && n < 38; i++) {
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    r->pid = fork();
    ck_assert_int_ge(r->pid, 0);
    if (r->pid == 0) {
        execv(REDIS, (char *const *)argv);
        _exit(127);
    }
    for (i = 0; i < 200 && !port_open(r->port); i++) {
        usleep(25000);
    }
    ck_assert_msg(port_open(r->port), "redis-server did not start");
}

/* For TLS servers: plain --port 0 and the TLS port is r->port. */
static void redis_start_tls(rsrv *r, const char *dir, int clients_auth)
{
    const char *extra[16];
    int n = 0, tls = free_port();

    extra[n++] = "--port";
    extra[n++] = "0";
    extra[n++] = "--tls-port";
    extra[n++] = apr_itoa(g_pool, tls);
    extra[n++] = "--tls-cert-file";
    extra[n++] = apr_pstrcat(g_pool, dir, "/server.crt", NULL);
    extra[n++] = "--tls-key-file";
    extra[n++] = apr_pstrcat(g_pool, dir, "/server.key", NULL);
    extra[n++] = "--tls-ca-cert-file";
    extra[n++] = apr_pstrcat(g_pool, dir, "/ca.crt", NULL);
    extra[n++] = "--tls-auth-clients";
    extra[n++] = clients_auth ? "yes" : "no";
    extra[n] = NULL;
    /* redis_start's "--port <tls>" is overridden by "--port 0": only the
     * TLS port listens, and it is the one redis_start waits for */
    r->port = tls;
    redis_start(r, extra);
}

static void redis_stop(rsrv *r)
{
    int status;

    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, &status, 0);
        r->pid = 0;
    }
}

static void redis_cleanup(rsrv *r)
{
    redis_stop(r);
    if (r->dir[0] != '\0') {
        char cmd[200];

        apr_snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "cannot remove %s\n", r->dir);
        }
    }
}

static redisContext *raw(int port)
{
    redisContext *c = redisConnect("127.0.0.1", port);

    ck_assert_msg(c != NULL && c->err == 0, "raw connect");
    return c;
}

static redisReply *rcmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    ck_assert_ptr_nonnull(r);
    return r;
}

/* ---- the shared server for most tests (started in the parent) -------- */

static rsrv shared;

static void shared_up(void)
{
    memset(&shared, 0, sizeof(shared));
    redis_start(&shared, NULL);
}

static void shared_down(void)
{
    redis_cleanup(&shared);
}

static cis2_crypto_t *keys(const char *a, const char *b)
{
    const char *pws[2] = { a, b };
    cis2_crypto_t *c = NULL;

    ck_assert_int_eq(cis2_crypto_create(&c, pws, b ? 2 : 1, 1000, NULL,
                                        g_pool), APR_SUCCESS);
    return c;
}

static cis2_redis_conf_t *conf_for(int port, const char *prefix)
{
    cis2_redis_conf_t *conf = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(cis2_redis_conf_parse(&conf, apr_psprintf(g_pool,
                     "redis://127.0.0.1:%d/0", port), &err, g_pool),
                     APR_SUCCESS);
    if (prefix != NULL) {
        conf->prefix = prefix;
    }
    return conf;
}

/* a store with its own key prefix, so tests never see each other's data */
static cis2_store_t *store_with(cis2_redis_conf_t *conf, cis2_crypto_t *k)
{
    cis2_store_t *st = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_msg(cis2_store_redis_create(&st, conf, k, &err, g_pool)
                  == APR_SUCCESS, "create: %s", err ? err->detail : "?");
    return st;
}

static const char *uniq(const char *what)
{
    return apr_psprintf(g_pool, "t%d-%s:", (int)getpid(), what);
}

static int code(const cis2_err_t *err)
{
    return err ? err->code : CIS2_E_NONE;
}

/* ---- configuration ---------------------------------------------------------- */

START_TEST(url_parsing)
{
    cis2_redis_conf_t *c = NULL;
    const cis2_err_t *err = NULL;
    static const char *bad[] = {
        "http://h:1/0", "redis://", "redis://h:0/0", "redis://h:70000/0",
        "redis://h:1/x", "redis://h:1/0?a=b", "redis://h:1/0#f",
        "redis://:%zz@h/0", "redis ://h/0", "redis://h:1/-1", NULL
    };
    int i;

    ck_assert_int_eq(cis2_redis_conf_parse(&c, "redis://cache.local", &err,
                                           g_pool), APR_SUCCESS);
    ck_assert_str_eq(c->host, "cache.local");
    ck_assert_int_eq(c->port, 6379);
    ck_assert_int_eq(c->db, 0);
    ck_assert_int_eq(c->tls, 0);
    ck_assert_ptr_null(c->password);
    ck_assert_int_eq(cis2_redis_conf_parse(&c, "rediss://app:p%40ss%3Aw@"
                                           "10.0.0.5:6380/3", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(c->tls, 1);
    ck_assert_str_eq(c->user, "app");
    ck_assert_str_eq(c->password, "p@ss:w");
    ck_assert_int_eq(c->port, 6380);
    ck_assert_int_eq(c->db, 3);
    /* the printable form never shows the password */
    ck_assert_str_eq(c->url, "rediss://app:***@10.0.0.5:6380/3");
    ck_assert_int_eq(cis2_redis_conf_parse(&c, "redis://:secret@[::1]:7000",
                                           &err, g_pool), APR_SUCCESS);
    ck_assert_ptr_null(c->user);
    ck_assert_str_eq(c->host, "::1");
    ck_assert_ptr_null(strstr(c->url, "secret"));
    for (i = 0; bad[i] != NULL; i++) {
        err = NULL;
        ck_assert_msg(cis2_redis_conf_parse(&c, bad[i], &err, g_pool)
                      != APR_SUCCESS, "accepted %s", bad[i]);
        ck_assert_int_eq(err->code, CIS2_E_INVALID);
    }
}
END_TEST

START_TEST(url_options)
{
    cis2_redis_conf_t *c = NULL, *t = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(cis2_redis_conf_parse(&c, "redis://h/0", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_redis_conf_set(c, "timeout", "250ms", &err,
                                         g_pool), APR_SUCCESS);
    ck_assert_int_eq(c->timeout, apr_time_from_msec(250));
    ck_assert_int_eq(cis2_redis_conf_set(c, "connect_timeout", "2s", &err,
                                         g_pool), APR_SUCCESS);
    ck_assert_int_eq(c->connect_timeout, SEC(2));
    ck_assert_int_eq(cis2_redis_conf_set(c, "pool", "4", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(c->max_idle, 4);
    ck_assert_int_ne(cis2_redis_conf_set(c, "pool", "-1", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_ne(cis2_redis_conf_set(c, "timeout", "0", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_ne(cis2_redis_conf_set(c, "colour", "red", &err, g_pool),
                     APR_SUCCESS);
    /* TLS files need rediss:// */
    ck_assert_int_ne(cis2_redis_conf_set(c, "ca", "/etc/ca.pem", &err,
                                         g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_redis_conf_parse(&t, "rediss://h/0", &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_redis_conf_set(t, "ca", "/etc/ca.pem", &err,
                                         g_pool), APR_SUCCESS);
    ck_assert_str_eq(t->ca_file, "/etc/ca.pem");
}
END_TEST

/* ---- the store contract ------------------------------------------------- */

START_TEST(contract)
{
    cis2_store_t *st = store_with(conf_for(shared.port, uniq("c")),
                                  keys(PW_A, NULL));
    const cis2_err_t *err = NULL;
    const char *v;
    apr_size_t len;
    apr_time_t now = apr_time_now(), exp = 0;
    char big[1000];

    memset(big, 'x', sizeof(big));
    ck_assert_int_eq(cis2_store_put(st, CIS2_NS_SESSION, "sid1", "hello\0x",
                                    7, now + SEC(100), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_store_get(st, CIS2_NS_SESSION, "sid1", now, &v,
                                    &len, &exp, &err, g_pool), APR_SUCCESS);
    ck_assert_uint_eq(len, 7);
    ck_assert_int_eq(memcmp(v, "hello\0x", 7), 0);
    ck_assert_int_le(exp, now + SEC(100));
    ck_assert_int_ge(exp, now + SEC(98));
    /* namespaces are apart */
    ck_assert_int_ne(cis2_store_get(st, CIS2_NS_PENDING, "sid1", now, &v,
                                    &len, NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_NOT_FOUND);
    /* replace */
    ck_assert_int_eq(cis2_store_put(st, CIS2_NS_SESSION, "sid1", big,
                                    sizeof(big), now + SEC(100), &err,
                                    g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_get(st, CIS2_NS_SESSION, "sid1", now, &v,
                                    &len, NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_uint_eq(len, sizeof(big));
    /* touch moves the expiry without the value */
    ck_assert_int_eq(cis2_store_touch(st, CIS2_NS_SESSION, "sid1", now,
                                      now + SEC(5000), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_store_get(st, CIS2_NS_SESSION, "sid1", now, &v,
                                    &len, &exp, &err, g_pool), APR_SUCCESS);
    ck_assert_int_ge(exp, now + SEC(4990));
    ck_assert_uint_eq(len, sizeof(big));
    ck_assert_int_ne(cis2_store_touch(st, CIS2_NS_SESSION, "nope", now,
                                      now + SEC(5), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_NOT_FOUND);
    /* delete */
    ck_assert_int_eq(cis2_store_delete(st, CIS2_NS_SESSION, "sid1", &err,
                                       g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_delete(st, CIS2_NS_SESSION, "sid1", &err,
                                       g_pool), APR_SUCCESS);
    err = NULL;
    ck_assert_int_ne(cis2_store_get(st, CIS2_NS_SESSION, "sid1", now, &v,
                                    &len, NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(code(err), CIS2_E_NOT_FOUND);
    /* take is single use */
    ck_assert_int_eq(cis2_store_put(st, CIS2_NS_PENDING, "state1", "p", 1,
                                    now + SEC(60), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_store_take(st, CIS2_NS_PENDING, "state1", now, &v,
                                     &len, &err, g_pool), APR_SUCCESS);
    ck_assert_uint_eq(len, 1);
    ck_assert_int_ne(cis2_store_take(st, CIS2_NS_PENDING, "state1", now, &v,
                                     &len, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_NOT_FOUND);
    /* add_once: a replay is a duplicate */
    ck_assert_int_eq(cis2_store_add_once(st, CIS2_NS_REPLAY, "jti-1", now,
                                         now + SEC(60), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_ne(cis2_store_add_once(st, CIS2_NS_REPLAY, "jti-1", now,
                                         now + SEC(60), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_DUPLICATE);
    /* too large */
    ck_assert_int_ne(cis2_store_put(st, CIS2_NS_SESSION, "huge",
                                    apr_pcalloc(g_pool, CIS2_MAX_SESSION + 1),
                                    CIS2_MAX_SESSION + 1, now + SEC(5), &err,
                                    g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_TOO_LARGE);
    /* a large but legal session (CIS2 role claims) */
    ck_assert_int_eq(cis2_store_put(st, CIS2_NS_SESSION, "roles",
                                    apr_pcalloc(g_pool, 300000), 300000,
                                    now + SEC(5), &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_get(st, CIS2_NS_SESSION, "roles", now, &v,
                                    &len, NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_uint_eq(len, 300000);
}
END_TEST

START_TEST(redis_does_expiry)
{
    cis2_store_t *st = store_with(conf_for(shared.port, uniq("e")),
                                  keys(PW_A, NULL));
    const cis2_err_t *err = NULL;
    const char *v;
    apr_size_t len;
    apr_time_t now = apr_time_now();

    ck_assert_int_eq(cis2_store_put(st, CIS2_NS_SESSION, "short", "v", 1,
                                    now + apr_time_from_msec(300), &err,
                                    g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_add_once(st, CIS2_NS_REPLAY, "j", now,
                                         now + apr_time_from_msec(300), &err,
                                         g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_get(st, CIS2_NS_SESSION, "short", now, &v,
                                    &len, NULL, &err, g_pool), APR_SUCCESS);
    usleep(600000);
    now = apr_time_now();
    ck_assert_int_ne(cis2_store_get(st, CIS2_NS_SESSION, "short", now, &v,
                                    &len, NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_NOT_FOUND);
    /* a marker that expired may be added again */
    ck_assert_int_eq(cis2_store_add_once(st, CIS2_NS_REPLAY, "j", now,
                                         now + SEC(5), &err, g_pool),
                     APR_SUCCESS);
}
END_TEST

/* ---- what Redis holds ------------------------------------------------------ */

START_TEST(redis_holds_ciphertext_under_hashed_names)
{
    const char *prefix = uniq("raw");
    cis2_redis_conf_t *conf = conf_for(shared.port, prefix);
    cis2_crypto_t *k = keys(PW_A, NULL);
    cis2_store_t *st = store_with(conf, k);
    const char *sid = "SESSIONID-0123456789abcdefghijklmnopqrstuvw";
    const char *val = "sub=555000111222;CIS2_NAME=Dr Test;role=R8000";
    const char *name = cis2_store_redis_name(conf, k, 0, CIS2_NS_SESSION,
                                             sid, g_pool);
    const char *other = cis2_store_redis_name(conf, k, 0, CIS2_NS_SESSION,
                                              "another", g_pool);
    redisContext *rc = raw(shared.port);
    redisReply *r, *r2;
    cis2_store_index_t ix = { "cis2-sid-xyz", "555000111222",
                              apr_time_now() };
    const cis2_err_t *err = NULL;
    const char *v;
    apr_size_t len;
    size_t i;

    ck_assert_int_eq(cis2_store_put_indexed(st, CIS2_NS_SESSION, sid, val,
                                            strlen(val),
                                            apr_time_now() + SEC(60), &ix,
                                            &err, g_pool), APR_SUCCESS);
    /* no Redis key shows the session id, the sid or the sub */
    r = rcmd(rc, "KEYS %s*", prefix);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_uint_eq(r->elements, 3);          /* entry + 2 index sets */
    for (i = 0; i < r->elements; i++) {
        ck_assert_ptr_null(strstr(r->element[i]->str, sid));
        ck_assert_ptr_null(strstr(r->element[i]->str, "555000111222"));
        ck_assert_ptr_null(strstr(r->element[i]->str, "cis2-sid-xyz"));
    }
    freeReplyObject(r);
    /* the value is ciphertext: no plaintext byte run, right size */
    r = rcmd(rc, "HGET %s v", name);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_uint_eq(r->len, strlen(val) + CIS2_CRYPTO_OVERHEAD);
    ck_assert_ptr_null(memmem(r->str, r->len, "555000111222", 12));
    ck_assert_ptr_null(memmem(r->str, r->len, "Dr Test", 7));
    /* TTL is Redis's */
    r2 = rcmd(rc, "PTTL %s", name);
    ck_assert_int_gt(r2->integer, 55000);
    ck_assert_int_le(r2->integer, 60000);
    freeReplyObject(r2);
    /* the value moved to another name does not open there */
    freeReplyObject(rcmd(rc, "HSET %s v %b c 1", other, r->str, r->len));
    freeReplyObject(rcmd(rc, "HSET %s c 1", other));
    freeReplyObject(rcmd(rc, "PEXPIRE %s 60000", other));
    err = NULL;
    ck_assert_int_ne(cis2_store_get(st, CIS2_NS_SESSION, "another",
                                    apr_time_now(), &v, &len, NULL, &err,
                                    g_pool), APR_SUCCESS);
    ck_assert_int_eq(code(err), CIS2_E_CRYPTO);
    freeReplyObject(r);
    /* altering the login time breaks the seal (it is authenticated) */
    freeReplyObject(rcmd(rc, "HSET %s c 1", name));
    err = NULL;
    ck_assert_int_ne(cis2_store_get(st, CIS2_NS_SESSION, sid, apr_time_now(),
                                    &v, &len, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(code(err), CIS2_E_CRYPTO);
    redisFree(rc);
}
END_TEST

/* ---- rotation and nodes ------------------------------------------------------ */

START_TEST(key_rotation)
{
    const char *prefix = uniq("rot");
    cis2_store_t *old = store_with(conf_for(shared.port, prefix),
                                   keys(PW_A, NULL));
    cis2_store_t *both = store_with(conf_for(shared.port, prefix),
                                    keys(PW_B, PW_A));
    cis2_store_t *newonly = store_with(conf_for(shared.port, prefix),
                                       keys(PW_B, NULL));
    const cis2_err_t *err = NULL;
    const char *v;
    apr_size_t len;
    apr_time_t now = apr_time_now(), exp;

    ck_assert_int_eq(cis2_store_put(old, CIS2_NS_SESSION, "s-old", "O", 1,
                                    now + SEC(60), &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_put(old, CIS2_NS_PENDING, "p-old", "P", 1,
                                    now + SEC(60), &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_add_once(old, CIS2_NS_REPLAY, "j-old", now,
                                         now + SEC(60), &err, g_pool),
                     APR_SUCCESS);
    /* a node with the new key first still reads, takes, touches old data */
    ck_assert_int_eq(cis2_store_get(both, CIS2_NS_SESSION, "s-old", now, &v,
                                    &len, NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(v[0], 'O');
    ck_assert_int_eq(cis2_store_touch(both, CIS2_NS_SESSION, "s-old", now,
                                      now + SEC(600), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_store_get(old, CIS2_NS_SESSION, "s-old", now, &v,
                                    &len, &exp, &err, g_pool), APR_SUCCESS);
    ck_assert_int_gt(exp, now + SEC(500));
    ck_assert_int_eq(cis2_store_take(both, CIS2_NS_PENDING, "p-old", now, &v,
                                     &len, &err, g_pool), APR_SUCCESS);
    ck_assert_int_ne(cis2_store_add_once(both, CIS2_NS_REPLAY, "j-old", now,
                                         now + SEC(60), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_DUPLICATE);
    /* it writes with the new key: the old-only node cannot read that */
    ck_assert_int_eq(cis2_store_put(both, CIS2_NS_SESSION, "s-new", "N", 1,
                                    now + SEC(60), &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_get(newonly, CIS2_NS_SESSION, "s-new", now,
                                    &v, &len, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_ne(cis2_store_get(old, CIS2_NS_SESSION, "s-new", now, &v,
                                    &len, NULL, &err, g_pool), APR_SUCCESS);
    /* once the old passphrase is gone, old sessions are simply not found */
    err = NULL;
    ck_assert_int_ne(cis2_store_get(newonly, CIS2_NS_SESSION, "s-old", now,
                                    &v, &len, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(code(err), CIS2_E_NOT_FOUND);
    /* a delete through the ring removes every variant */
    ck_assert_int_eq(cis2_store_delete(both, CIS2_NS_SESSION, "s-old", &err,
                                       g_pool), APR_SUCCESS);
    ck_assert_int_ne(cis2_store_get(old, CIS2_NS_SESSION, "s-old", now, &v,
                                    &len, NULL, &err, g_pool), APR_SUCCESS);
}
END_TEST

START_TEST(indexes_honour_created)
{
    const char *prefix = uniq("ix");
    cis2_store_t *a = store_with(conf_for(shared.port, prefix),
                                 keys(PW_A, NULL));
    cis2_store_t *b = store_with(conf_for(shared.port, prefix),
                                 keys(PW_A, NULL));
    const cis2_err_t *err = NULL;
    const char *v;
    apr_size_t len;
    apr_time_t now = apr_time_now();
    cis2_store_index_t s1 = { "sidA", "user1", now - SEC(100) };
    cis2_store_index_t s2 = { "sidA", "user1", now + SEC(100) }; /* newer */
    cis2_store_index_t s3 = { "sidB", "user1", now - SEC(50) };
    cis2_store_index_t s4 = { NULL, "user2", now - SEC(50) };
    int n = -1;

    ck_assert_int_eq(cis2_store_put_indexed(a, CIS2_NS_SESSION, "k1", "1", 1,
                                            now + SEC(60), &s1, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_store_put_indexed(a, CIS2_NS_SESSION, "k2", "2", 1,
                                            now + SEC(60), &s2, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_store_put_indexed(a, CIS2_NS_SESSION, "k3", "3", 1,
                                            now + SEC(60), &s3, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_store_put_indexed(a, CIS2_NS_SESSION, "k4", "4", 1,
                                            now + SEC(60), &s4, &err, g_pool),
                     APR_SUCCESS);
    /* node B ends CIS2 session sidA as of now: k1 goes, k2 (newer) stays */
    ck_assert_int_eq(cis2_store_delete_indexed(b, CIS2_NS_SESSION,
                                               CIS2_INDEX_SID, "sidA", now,
                                               &n, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(n, 1);
    ck_assert_int_ne(cis2_store_get(a, CIS2_NS_SESSION, "k1", now, &v, &len,
                                    NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_get(a, CIS2_NS_SESSION, "k2", now, &v, &len,
                                    NULL, &err, g_pool), APR_SUCCESS);
    /* by sub: user1's remaining old session k3 goes; k2 still newer */
    ck_assert_int_eq(cis2_store_delete_indexed(b, CIS2_NS_SESSION,
                                               CIS2_INDEX_SUB, "user1", now,
                                               &n, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(n, 1);
    ck_assert_int_ne(cis2_store_get(a, CIS2_NS_SESSION, "k3", now, &v, &len,
                                    NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_get(a, CIS2_NS_SESSION, "k4", now, &v, &len,
                                    NULL, &err, g_pool), APR_SUCCESS);
    /* a later logout ends k2 too; unknown values end nothing */
    ck_assert_int_eq(cis2_store_delete_indexed(b, CIS2_NS_SESSION,
                                               CIS2_INDEX_SUB, "user1",
                                               now + SEC(200), &n, &err,
                                               g_pool), APR_SUCCESS);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(cis2_store_delete_indexed(b, CIS2_NS_SESSION,
                                               CIS2_INDEX_SID, "nobody", now,
                                               &n, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(n, 0);
    /* re-putting k4 without indexes drops it from user2's index */
    ck_assert_int_eq(cis2_store_put(a, CIS2_NS_SESSION, "k4", "4", 1,
                                    now + SEC(60), &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_delete_indexed(b, CIS2_NS_SESSION,
                                               CIS2_INDEX_SUB, "user2",
                                               now + SEC(200), &n, &err,
                                               g_pool), APR_SUCCESS);
    ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(index_ttl_follows_touch)
{
    const char *prefix = uniq("ixt");
    cis2_redis_conf_t *conf = conf_for(shared.port, prefix);
    cis2_store_t *st = store_with(conf, keys(PW_A, NULL));
    const cis2_err_t *err = NULL;
    apr_time_t now = apr_time_now();
    cis2_store_index_t ix = { "sidT", "userT", now };
    redisContext *rc = raw(shared.port);
    redisReply *r;
    size_t i;
    int n = 0;

    ck_assert_int_eq(cis2_store_put_indexed(st, CIS2_NS_SESSION, "kt", "t", 1,
                                            now + SEC(10), &ix, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_store_touch(st, CIS2_NS_SESSION, "kt", now,
                                      now + SEC(3600), &err, g_pool),
                     APR_SUCCESS);
    /* every key (entry and both sets) now lives about an hour */
    r = rcmd(rc, "KEYS %s*", prefix);
    ck_assert_uint_eq(r->elements, 3);
    for (i = 0; i < r->elements; i++) {
        redisReply *t = rcmd(rc, "PTTL %s", r->element[i]->str);

        ck_assert_int_gt(t->integer, 3590000);
        freeReplyObject(t);
    }
    freeReplyObject(r);
    redisFree(rc);
    ck_assert_int_eq(cis2_store_delete_indexed(st, CIS2_NS_SESSION,
                                               CIS2_INDEX_SID, "sidT",
                                               now + SEC(1), &n, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(n, 1);
}
END_TEST

/* ---- concurrency ------------------------------------------------------------ */

START_TEST(take_and_add_once_races_have_one_winner)
{
    const char *prefix = uniq("race");
    enum { PROCS = 6, KEYS = 40 };
    pid_t kids[PROCS];
    int i, k, status, total_take = 0, total_add = 0;
    int fds[2];
    cis2_store_t *st = store_with(conf_for(shared.port, prefix),
                                  keys(PW_A, NULL));
    apr_time_t now = apr_time_now();

    for (k = 0; k < KEYS; k++) {
        ck_assert_int_eq(cis2_store_put(st, CIS2_NS_PENDING,
                                        apr_itoa(g_pool, k), "x", 1,
                                        now + SEC(60), NULL, g_pool),
                         APR_SUCCESS);
    }
    ck_assert_int_eq(pipe(fds), 0);
    for (i = 0; i < PROCS; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            /* each "node" its own store, made after fork */
            apr_pool_t *cp;
            cis2_store_t *cs;
            int wins[2] = { 0, 0 };
            const char *v;
            apr_size_t len;

            apr_pool_create(&cp, NULL);
            cs = store_with(conf_for(shared.port, prefix), keys(PW_A, NULL));
            for (k = 0; k < KEYS; k++) {
                const char *key = apr_itoa(cp, k);

                if (cis2_store_take(cs, CIS2_NS_PENDING, key, now, &v, &len,
                                    NULL, cp) == APR_SUCCESS) {
                    wins[0]++;
                }
                if (cis2_store_add_once(cs, CIS2_NS_REPLAY, key, now,
                                        now + SEC(60), NULL, cp)
                    == APR_SUCCESS) {
                    wins[1]++;
                }
            }
            if (write(fds[1], wins, sizeof(wins)) != sizeof(wins)) {
                _exit(2);
            }
            _exit(0);
        }
    }
    close(fds[1]);
    for (i = 0; i < PROCS; i++) {
        int wins[2];

        ck_assert_int_eq(read(fds[0], wins, sizeof(wins)), sizeof(wins));
        total_take += wins[0];
        total_add += wins[1];
    }
    for (i = 0; i < PROCS; i++) {
        waitpid(kids[i], &status, 0);
        ck_assert_int_eq(WEXITSTATUS(status), 0);
    }
    close(fds[0]);
    ck_assert_int_eq(total_take, KEYS);
    ck_assert_int_eq(total_add, KEYS);
}
END_TEST

typedef struct tharg {
    cis2_store_t *st;
    int id, ok;
} tharg;

static void *APR_THREAD_FUNC worker(apr_thread_t *t, void *data)
{
    tharg *a = data;
    apr_pool_t *p;
    int i;

    apr_pool_create(&p, NULL);
    for (i = 0; i < 200; i++) {
        const char *key = apr_psprintf(p, "th%d-%d", a->id, i % 7);
        const char *val = apr_psprintf(p, "value %d %d", a->id, i);
        const char *v;
        apr_size_t len;
        apr_time_t now = apr_time_now();

        if (cis2_store_put(a->st, CIS2_NS_SESSION, key, val, strlen(val),
                           now + SEC(60), NULL, p) == APR_SUCCESS
            && cis2_store_get(a->st, CIS2_NS_SESSION, key, now, &v, &len,
                              NULL, NULL, p) == APR_SUCCESS
            && len == strlen(val) && memcmp(v, val, len) == 0) {
            a->ok++;
        }
        apr_pool_clear(p);
    }
    apr_pool_destroy(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

START_TEST(threads_share_the_pool)
{
    enum { N = 8 };
    cis2_redis_conf_t *conf = conf_for(shared.port, uniq("th"));
    cis2_store_t *st;
    apr_thread_t *th[N];
    tharg args[N];
    cis2_store_stats_t stats;
    apr_status_t trv;
    int i;

    conf->max_idle = 3;          /* fewer idle slots than threads */
    st = store_with(conf, keys(PW_A, NULL));
    for (i = 0; i < N; i++) {
        args[i].st = st;
        args[i].id = i;
        args[i].ok = 0;
        ck_assert_int_eq(apr_thread_create(&th[i], NULL, worker, &args[i],
                                           g_pool), APR_SUCCESS);
    }
    for (i = 0; i < N; i++) {
        apr_thread_join(&trv, th[i]);
        ck_assert_int_eq(args[i].ok, 200);
    }
    cis2_store_get_stats(st, &stats);
    ck_assert_uint_eq(stats.puts, N * 200);
    ck_assert_uint_eq(stats.hits, N * 200);
}
END_TEST

/* ---- Redis down, and back ---------------------------------------------------- */

START_TEST(down_then_back_with_its_data)
{
    rsrv r;
    cis2_redis_conf_t *conf;
    cis2_store_t *st;
    const cis2_err_t *err = NULL;
    const char *v;
    apr_size_t len;
    apr_time_t now = apr_time_now(), t;
    redisContext *rc;
    int i, ok = 0;

    memset(&r, 0, sizeof(r));
    redis_start(&r, NULL);
    conf = conf_for(r.port, NULL);
    st = store_with(conf, keys(PW_A, NULL));
    ck_assert_int_eq(cis2_store_put(st, CIS2_NS_SESSION, "kept", "K", 1,
                                    now + SEC(600), &err, g_pool), APR_SUCCESS);
    /* a deliberate snapshot, then Redis dies */
    rc = raw(r.port);
    freeReplyObject(rcmd(rc, "SAVE"));
    redisFree(rc);
    redis_stop(&r);

    /* down: the pooled connection is dead, the retry cannot connect */
    t = apr_time_now();
    ck_assert_int_ne(cis2_store_get(st, CIS2_NS_SESSION, "kept", now, &v,
                                    &len, NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_STORE_DOWN);
    ck_assert_ptr_nonnull(strstr(err->detail, "127.0.0.1"));
    /* during the backoff, calls fail at once */
    for (i = 0; i < 50; i++) {
        err = NULL;
        ck_assert_int_ne(cis2_store_put(st, CIS2_NS_PENDING, "x", "y", 1,
                                        now + SEC(60), &err, g_pool),
                         APR_SUCCESS);
        ck_assert_int_eq(code(err), CIS2_E_STORE_DOWN);
    }
    ck_assert_int_lt(apr_time_now() - t, SEC(1));

    /* back, loading its snapshot: the same store recovers by itself */
    redis_start(&r, NULL);
    for (i = 0; i < 60 && !ok; i++) {
        ok = cis2_store_get(st, CIS2_NS_SESSION, "kept", now, &v, &len, NULL,
                            &err, g_pool) == APR_SUCCESS;
        if (!ok) {
            ck_assert_int_eq(code(err), CIS2_E_STORE_DOWN);
            usleep(100000);
        }
    }
    ck_assert_msg(ok, "the store did not recover");
    ck_assert_int_eq(v[0], 'K');
    redis_cleanup(&r);
}
END_TEST

/* ---- the near-cache and its subscriber (cis2_nearcache.h) ---------------- */

static volatile apr_uint32_t sub_ups, sub_downs;

static void count_sub(void *baton, int up, const char *why)
{
    apr_atomic_inc32(up ? &sub_ups : &sub_downs);
}

/* get on `st` until it answers `want` ("" = not found) or 2 s pass */
static int becomes(cis2_store_t *st, const char *key, const char *want)
{
    int i;

    for (i = 0; i < 200; i++) {
        const cis2_err_t *err = NULL;
        const char *v = NULL;
        apr_size_t len = 0;
        apr_status_t rv = cis2_store_get(st, CIS2_NS_SESSION, key,
                                         apr_time_now(), &v, &len, NULL,
                                         &err, g_pool);

        if (*want == '\0' ? rv != APR_SUCCESS && code(err) == CIS2_E_NOT_FOUND
            : rv == APR_SUCCESS && len == strlen(want)
              && memcmp(v, want, len) == 0) {
            return 1;
        }
        usleep(10000);
    }
    return 0;
}

static int wait_for(volatile apr_uint32_t *n, apr_uint32_t atleast)
{
    int i;

    for (i = 0; i < 500 && apr_atomic_read32(n) < atleast; i++) {
        usleep(10000);
    }
    return apr_atomic_read32(n) >= atleast;
}

START_TEST(near_cache_follows_invalidations)
{
    rsrv r;
    cis2_redis_conf_t *conf;
    cis2_store_t *a, *b;
    cis2_crypto_t *k = keys(PW_A, NULL);
    cis2_nearcache_t *nc = NULL;
    cis2_nearcache_stats_t ns;
    cis2_redis_sub_t *sub = NULL;
    cis2_store_index_t ix = { "cis2-sid-1", "user-1", 0 };
    const cis2_err_t *err = NULL;
    apr_size_t size = 256 * 1024;
    const char *v;
    apr_size_t len;
    apr_time_t now = apr_time_now();
    int i, n;

    memset(&r, 0, sizeof(r));
    redis_start(&r, NULL);
    conf = conf_for(r.port, NULL);
    a = store_with(conf, k);            /* node A: cache + subscriber */
    b = store_with(conf, k);            /* node B: none */
    ck_assert_int_eq(cis2_nearcache_create(&nc, apr_pcalloc(g_pool, size),
                                           size, 1, SEC(60), NULL, &err,
                                           g_pool), APR_SUCCESS);
    sub_ups = sub_downs = 0;
    ck_assert_int_eq(cis2_redis_subscriber_start(&sub, a, nc, count_sub,
                                                 NULL, &err, g_pool),
                     APR_SUCCESS);
    cis2_store_redis_use_nearcache(a, nc);
    ck_assert(wait_for(&sub_ups, 1));
    ck_assert(cis2_redis_subscriber_up(sub));

    /* read once from Redis, then from the cache */
    ck_assert_int_eq(cis2_store_put(b, CIS2_NS_SESSION, "s1", "one", 3,
                                    now + SEC(600), &err, g_pool),
                     APR_SUCCESS);
    for (i = 0; i < 5; i++) {
        ck_assert(becomes(a, "s1", "one"));
    }
    cis2_nearcache_get_stats(nc, apr_time_now(), &ns);
    ck_assert_uint_eq(ns.stores, 1);
    ck_assert_uint_ge(ns.hits, 4);
    /* pending logins and replay markers are never cached */
    ck_assert_int_eq(cis2_store_put(b, CIS2_NS_PENDING, "p1", "P", 1,
                                    now + SEC(60), &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_store_get(a, CIS2_NS_PENDING, "p1", now, &v, &len,
                                    NULL, &err, g_pool), APR_SUCCESS);
    cis2_nearcache_get_stats(nc, apr_time_now(), &ns);
    ck_assert_uint_eq(ns.stores, 1);

    /* deleted on B: gone on A (the TTL is a minute) */
    ck_assert_int_eq(cis2_store_delete(b, CIS2_NS_SESSION, "s1", &err,
                                       g_pool), APR_SUCCESS);
    ck_assert(becomes(a, "s1", ""));
    /* replaced on B: A reads the new value */
    ck_assert_int_eq(cis2_store_put(b, CIS2_NS_SESSION, "s2", "old", 3,
                                    now + SEC(600), &err, g_pool),
                     APR_SUCCESS);
    ck_assert(becomes(a, "s2", "old"));
    ck_assert_int_eq(cis2_store_put(b, CIS2_NS_SESSION, "s2", "new", 3,
                                    now + SEC(600), &err, g_pool),
                     APR_SUCCESS);
    ck_assert(becomes(a, "s2", "new"));
    /* ended on B by the sid index (back-channel logout) */
    ix.created = now;
    ck_assert_int_eq(cis2_store_put_indexed(b, CIS2_NS_SESSION, "s3", "x",
                                            1, now + SEC(600), &ix, &err,
                                            g_pool), APR_SUCCESS);
    ck_assert(becomes(a, "s3", "x"));
    ck_assert(becomes(a, "s3", "x"));
    ck_assert_int_eq(cis2_store_delete_indexed(b, CIS2_NS_SESSION,
                                               CIS2_INDEX_SID, "cis2-sid-1",
                                               now + SEC(1), &n, &err,
                                               g_pool), APR_SUCCESS);
    ck_assert_int_eq(n, 1);
    ck_assert(becomes(a, "s3", ""));
    /* ...and on A itself: at once, no waiting for the message */
    ck_assert_int_eq(cis2_store_put_indexed(b, CIS2_NS_SESSION, "s4", "y",
                                            1, now + SEC(600), &ix, &err,
                                            g_pool), APR_SUCCESS);
    ck_assert(becomes(a, "s4", "y"));
    ck_assert_int_eq(cis2_store_delete_indexed(a, CIS2_NS_SESSION,
                                               CIS2_INDEX_SUB, "user-1",
                                               now + SEC(1), &n, &err,
                                               g_pool), APR_SUCCESS);
    ck_assert_int_eq(n, 1);
    ck_assert_int_ne(cis2_store_get(a, CIS2_NS_SESSION, "s4", apr_time_now(),
                                    &v, &len, NULL, &err, g_pool),
                     APR_SUCCESS);
    cis2_nearcache_get_stats(nc, apr_time_now(), &ns);
    ck_assert_uint_ge(ns.invalidations, 4);

    /* Redis gone: the subscriber says so, nothing is served from the
     * cache (the store is down), and it all comes back */
    ck_assert(becomes(a, "s2", "new"));
    redis_stop(&r);
    ck_assert(wait_for(&sub_downs, 1));
    ck_assert_int_ne(cis2_store_get(a, CIS2_NS_SESSION, "s2",
                                    apr_time_now(), &v, &len, NULL, &err,
                                    g_pool), APR_SUCCESS);
    ck_assert_int_eq(code(err), CIS2_E_STORE_DOWN);
    cis2_nearcache_get_stats(nc, apr_time_now(), &ns);
    ck_assert_int_eq(ns.live, 0);
    redis_start(&r, NULL);
    ck_assert(wait_for(&sub_ups, 2));
    ck_assert_int_eq(apr_atomic_read32(&sub_downs), 1);   /* once */
    redis_cleanup(&r);
}
END_TEST

START_TEST(restart_costs_no_error)
{
    /* Redis restarts between two requests (no backoff yet): the dead
     * pooled connection is retried on a fresh one, invisibly */
    rsrv r;
    cis2_store_t *st;
    const char *v;
    apr_size_t len;
    const cis2_err_t *err = NULL;
    apr_time_t now = apr_time_now();

    memset(&r, 0, sizeof(r));
    redis_start(&r, NULL);
    st = store_with(conf_for(r.port, NULL), keys(PW_A, NULL));
    ck_assert_int_eq(cis2_store_put(st, CIS2_NS_SESSION, "a", "A", 1,
                                    now + SEC(60), &err, g_pool), APR_SUCCESS);
    redis_stop(&r);
    redis_start(&r, NULL);
    ck_assert_int_eq(cis2_store_put(st, CIS2_NS_SESSION, "b", "B", 1,
                                    now + SEC(60), &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_get(st, CIS2_NS_SESSION, "b", now, &v, &len,
                                    NULL, &err, g_pool), APR_SUCCESS);
    redis_cleanup(&r);
}
END_TEST

START_TEST(unreachable_and_slow)
{
    /* nothing listens: refused at once */
    cis2_store_t *st = store_with(conf_for(free_port(), NULL),
                                  keys(PW_A, NULL));
    const cis2_err_t *err = NULL;
    const char *v;
    apr_size_t len;
    apr_time_t t;
    int fd, lfd, port;
    struct sockaddr_in a;
    socklen_t l = sizeof(a);
    cis2_redis_conf_t *conf;

    ck_assert_int_ne(cis2_store_get(st, CIS2_NS_SESSION, "k", apr_time_now(),
                                    &v, &len, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_STORE_DOWN);
    /* a server that accepts but never answers: the command timeout holds */
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(lfd, 8), 0);
    getsockname(lfd, (struct sockaddr *)&a, &l);
    port = ntohs(a.sin_port);
    conf = conf_for(port, NULL);
    conf->timeout = apr_time_from_msec(300);
    st = store_with(conf, keys(PW_A, NULL));
    t = apr_time_now();
    err = NULL;
    ck_assert_int_ne(cis2_store_get(st, CIS2_NS_SESSION, "k", apr_time_now(),
                                    &v, &len, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(code(err), CIS2_E_STORE_DOWN);
    ck_assert_ptr_nonnull(strstr(err->detail, "timed out"));
    ck_assert_int_ge(apr_time_now() - t, apr_time_from_msec(290));
    ck_assert_int_lt(apr_time_now() - t, apr_time_from_msec(1500));
    fd = accept(lfd, NULL, NULL);
    close(fd);
    close(lfd);
}
END_TEST

/* ---- AUTH, SELECT, TLS ---------------------------------------------------------- */

START_TEST(auth_and_db)
{
    rsrv r;
    static const char *extra[] = { "--requirepass", "s3cr3t-pa55", NULL };
    cis2_redis_conf_t *conf = NULL;
    cis2_store_t *st;
    const cis2_err_t *err = NULL;
    const char *v;
    apr_size_t len;
    apr_time_t now = apr_time_now();
    cis2_crypto_t *k = keys(PW_A, NULL);
    redisContext *rc;
    redisReply *rep;

    memset(&r, 0, sizeof(r));
    redis_start(&r, extra);
    ck_assert_int_eq(cis2_redis_conf_parse(&conf, apr_psprintf(g_pool,
                     "redis://:wrong@127.0.0.1:%d/0", r.port), &err, g_pool),
                     APR_SUCCESS);
    st = store_with(conf, k);
    ck_assert_int_ne(cis2_store_get(st, CIS2_NS_SESSION, "k", now, &v, &len,
                                    NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_STORE_DOWN);
    ck_assert_ptr_nonnull(strstr(err->detail, "AUTH refused"));
    ck_assert_ptr_null(strstr(err->detail, "wrong"));
    ck_assert_int_eq(cis2_redis_conf_parse(&conf, apr_psprintf(g_pool,
                     "redis://default:s3cr3t-pa55@127.0.0.1:%d/5", r.port),
                     &err, g_pool), APR_SUCCESS);
    st = store_with(conf, k);
    ck_assert_int_eq(cis2_store_put(st, CIS2_NS_SESSION, "k", "v", 1,
                                    now + SEC(60), &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(cis2_store_get(st, CIS2_NS_SESSION, "k", now, &v, &len,
                                    NULL, &err, g_pool), APR_SUCCESS);
    /* it went to database 5 */
    rc = raw(r.port);
    freeReplyObject(rcmd(rc, "AUTH s3cr3t-pa55"));
    freeReplyObject(rcmd(rc, "SELECT 5"));
    rep = rcmd(rc, "EXISTS %s", cis2_store_redis_name(conf, k, 0,
                                                      CIS2_NS_SESSION, "k",
                                                      g_pool));
    ck_assert_int_eq(rep->integer, 1);
    freeReplyObject(rep);
    redisFree(rc);
    redis_cleanup(&r);
}
END_TEST

static void make_pki(const char *dir)
{
    /* a CA, a server certificate for 127.0.0.1, a client certificate */
    char *cmd = apr_psprintf(g_pool,
        "cd '%s' && exec >pki.log 2>&1 && "
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=testca "
        "-keyout ca.key -out ca.crt && "
        "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 "
        "-keyout server.key -out server.csr && "
        "printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && "
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key "
        "-CAcreateserial -days 2 -extfile san.ext -out server.crt && "
        "openssl req -newkey rsa:2048 -nodes -subj /CN=node "
        "-keyout client.key -out client.csr && "
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key "
        "-CAcreateserial -days 2 -out client.crt && "
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other "
        "-keyout other.key -out other.crt", dir);

    ck_assert_int_eq(system(cmd), 0);
}

static cis2_store_t *tls_store(int port, const char *dir, const char *ca,
                               int client_cert)
{
    cis2_redis_conf_t *conf = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(cis2_redis_conf_parse(&conf, apr_psprintf(g_pool,
                     "rediss://127.0.0.1:%d/0", port), &err, g_pool),
                     APR_SUCCESS);
    if (ca != NULL) {
        ck_assert_int_eq(cis2_redis_conf_set(conf, "ca", apr_pstrcat(g_pool,
                         dir, "/", ca, NULL), &err, g_pool), APR_SUCCESS);
    }
    if (client_cert) {
        cis2_redis_conf_set(conf, "cert", apr_pstrcat(g_pool, dir,
                            "/client.crt", NULL), &err, g_pool);
        cis2_redis_conf_set(conf, "key", apr_pstrcat(g_pool, dir,
                            "/client.key", NULL), &err, g_pool);
    }
    return store_with(conf, keys(PW_A, NULL));
}

START_TEST(tls)
{
    rsrv r, m;
    cis2_store_t *st;
    const cis2_err_t *err = NULL;
    const char *v;
    apr_size_t len;
    apr_time_t now = apr_time_now();
    cis2_redis_conf_t *conf = NULL;

    memset(&r, 0, sizeof(r));
    memset(&m, 0, sizeof(m));
    apr_snprintf(r.dir, sizeof(r.dir), "/tmp/cis2-redis-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(r.dir));
    make_pki(r.dir);
    redis_start_tls(&r, r.dir, 0);
    /* trusted CA: works */
    st = tls_store(r.port, r.dir, "ca.crt", 0);
    ck_assert_msg(cis2_store_put(st, CIS2_NS_SESSION, "k", "tls", 3,
                                 now + SEC(60), &err, g_pool) == APR_SUCCESS,
                  "%s", err ? err->detail : "?");
    ck_assert_int_eq(cis2_store_get(st, CIS2_NS_SESSION, "k", now, &v, &len,
                                    NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_str_eq(v, "tls");
    /* a CA that did not sign the server: refused, and said why */
    st = tls_store(r.port, r.dir, "other.crt", 0);
    ck_assert_int_ne(cis2_store_get(st, CIS2_NS_SESSION, "k", now, &v, &len,
                                    NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_STORE_DOWN);
    ck_assert_msg(strstr(err->detail, "not trusted") != NULL, "%s",
                  err->detail);
    redis_stop(&r);

    /* a server that wants client certificates */
    m = r;
    m.pid = 0;
    m.port = 0;
    redis_start_tls(&m, m.dir, 1);
    st = tls_store(m.port, m.dir, "ca.crt", 0);
    err = NULL;
    ck_assert_int_ne(cis2_store_get(st, CIS2_NS_SESSION, "k", now, &v, &len,
                                    NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(code(err), CIS2_E_STORE_DOWN);
    st = tls_store(m.port, m.dir, "ca.crt", 1);
    ck_assert_msg(cis2_store_put(st, CIS2_NS_SESSION, "k", "mtls", 4,
                                 now + SEC(60), &err, g_pool) == APR_SUCCESS,
                  "%s", err ? err->detail : "?");
    /* the TLS context loaded once (as httpd's parent does, as root) and
     * shared by the stores made from that configuration (the children) */
    ck_assert_int_eq(cis2_redis_conf_parse(&conf, apr_psprintf(g_pool,
                     "rediss://127.0.0.1:%d/0", m.port), &err, g_pool),
                     APR_SUCCESS);
    cis2_redis_conf_set(conf, "ca", apr_pstrcat(g_pool, m.dir, "/ca.crt",
                                                NULL), &err, g_pool);
    cis2_redis_conf_set(conf, "cert", apr_pstrcat(g_pool, m.dir,
                                                  "/client.crt", NULL),
                        &err, g_pool);
    cis2_redis_conf_set(conf, "key", apr_pstrcat(g_pool, m.dir,
                                                 "/client.key", NULL),
                        &err, g_pool);
    ck_assert_int_eq(cis2_redis_conf_load_tls(conf, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_ptr_nonnull(conf->tls_ctx);
    st = store_with(conf, keys(PW_A, NULL));
    ck_assert_int_eq(cis2_store_get(st, CIS2_NS_SESSION, "k", now, &v, &len,
                                    NULL, &err, g_pool), APR_SUCCESS);
    ck_assert_str_eq(v, "mtls");
    st = store_with(conf, keys(PW_A, NULL));
    ck_assert_int_eq(cis2_store_get(st, CIS2_NS_SESSION, "k", now, &v, &len,
                                    NULL, &err, g_pool), APR_SUCCESS);
    /* a missing key file is a configuration error at creation */
    ck_assert_int_eq(cis2_redis_conf_parse(&conf, apr_psprintf(g_pool,
                     "rediss://127.0.0.1:%d/0", m.port), &err, g_pool),
                     APR_SUCCESS);
    cis2_redis_conf_set(conf, "cert", "/nonexistent.crt", &err, g_pool);
    err = NULL;
    ck_assert_int_ne(cis2_store_redis_create(&st, conf, keys(PW_A, NULL),
                                             &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(code(err), CIS2_E_CONFIG);
    err = NULL;
    ck_assert_int_ne(cis2_redis_conf_load_tls(conf, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(code(err), CIS2_E_CONFIG);
    ck_assert_ptr_nonnull(strstr(err->detail, "/nonexistent.crt"));
    redis_cleanup(&m);
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("store_redis");
    TCase *tc;

    tc = tcase_create("config");
    cis2_test_fixture(tc);
    tcase_add_test(tc, url_parsing);
    tcase_add_test(tc, url_options);
    suite_add_tcase(s, tc);

    tc = tcase_create("shared");
    cis2_test_fixture(tc);
    tcase_add_unchecked_fixture(tc, shared_up, shared_down);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, contract);
    tcase_add_test(tc, redis_does_expiry);
    tcase_add_test(tc, redis_holds_ciphertext_under_hashed_names);
    tcase_add_test(tc, key_rotation);
    tcase_add_test(tc, indexes_honour_created);
    tcase_add_test(tc, index_ttl_follows_touch);
    tcase_add_test(tc, take_and_add_once_races_have_one_winner);
    tcase_add_test(tc, threads_share_the_pool);
    suite_add_tcase(s, tc);

    tc = tcase_create("own-server");
    cis2_test_fixture(tc);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, down_then_back_with_its_data);
    tcase_add_test(tc, restart_costs_no_error);
    tcase_add_test(tc, near_cache_follows_invalidations);
    tcase_add_test(tc, unreachable_and_slow);
    tcase_add_test(tc, auth_and_db);
    tcase_add_test(tc, tls);
    suite_add_tcase(s, tc);
    return s;
}
