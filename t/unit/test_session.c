/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_session — the store codec: round trips (full, NULL fields, a 40 KB
 * environment), every truncation of an encoded record, corrupted lengths,
 * counts and flags, wrong magic/version, and random garbage and mutations
 * (run under valgrind to prove there is no overread).
 */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>

#include "testmain.h"
#include "sessview.h"
#include "cis2_session.h"

/* ---- helpers ------------------------------------------------------------- */

static apr_uint32_t rng_state = 0x2545f491u;

static apr_uint32_t rnd(void)
{
    /* xorshift32: deterministic, so a failure reproduces */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void kv_add(apr_array_header_t *env, const char *n, const char *v)
{
    cis2_kv_t *kv = apr_array_push(env);

    kv->name = n;
    kv->value = v;
}

static cis2_session_t *full_session(void)
{
    cis2_session_t *s = apr_pcalloc(g_pool, sizeof(*s));

    s->client_id = "123456789012.apps.national";
    s->sub = "555012345678";
    s->sid = "f2b1c7e0-9c1e-4a5d-9b2e-2d7c3a1f0e11";
    s->remote_user = "555012345678";
    s->created = apr_time_from_sec(1750525000);
    s->auth_time = apr_time_from_sec(1750524990);
    s->expires = apr_time_from_sec(1750525000 + 12 * 3600);
    s->aal = 3;
    s->ial = 3;
    s->acr = "AAL3_ANY";
    s->id_token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiI1NTUifQ.c2ln";
    s->env = apr_array_make(g_pool, 4, sizeof(cis2_kv_t));
    kv_add(s->env, "CIS2_UID", "555012345678");
    kv_add(s->env, "CIS2_NAME", "SMITH JANE Mrs");
    kv_add(s->env, "CIS2_ROLES_JSON", "[{\"person_roleid\":\"1\"}]");
    kv_add(s->env, "CIS2_EMPTY", "");
    return s;
}

static void assert_str_or_null(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        ck_assert_ptr_eq(a, b);
    }
    else {
        ck_assert_str_eq(a, b);
    }
}

static void assert_session_eq(const cis2_session_t *a,
                              const cis2_session_t *b)
{
    int i;

    assert_str_or_null(a->client_id, b->client_id);
    assert_str_or_null(a->sub, b->sub);
    assert_str_or_null(a->sid, b->sid);
    assert_str_or_null(a->remote_user, b->remote_user);
    ck_assert_int_eq(a->created, b->created);
    ck_assert_int_eq(a->auth_time, b->auth_time);
    ck_assert_int_eq(a->expires, b->expires);
    ck_assert_int_eq(a->aal, b->aal);
    ck_assert_int_eq(a->ial, b->ial);
    assert_str_or_null(a->acr, b->acr);
    assert_str_or_null(cis2_session_id_token(a, g_pool),
                       cis2_session_id_token(b, g_pool));
    if (a->env == NULL || b->env == NULL) {
        ck_assert_ptr_eq(a->env, b->env);
        return;
    }
    ck_assert_int_eq(a->env->nelts, b->env->nelts);
    for (i = 0; i < a->env->nelts; i++) {
        assert_str_or_null(APR_ARRAY_IDX(a->env, i, cis2_kv_t).name,
                           APR_ARRAY_IDX(b->env, i, cis2_kv_t).name);
        assert_str_or_null(APR_ARRAY_IDX(a->env, i, cis2_kv_t).value,
                           APR_ARRAY_IDX(b->env, i, cis2_kv_t).value);
    }
}

static cis2_session_t *round_trip(const cis2_session_t *s)
{
    const char *buf;
    apr_size_t len;
    cis2_session_t *out = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(cis2_session_encode(&buf, &len, s, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_session_decode(&out, buf, len, &err, g_pool),
                     APR_SUCCESS);
    assert_session_eq(s, out);
    return out;
}

/* Decode from a malloc'd copy of exactly len bytes: pool memory is carved
 * from large blocks, so only a buffer of its own lets valgrind and ASan
 * see a read one byte past the end. */
static apr_status_t decode_exact(int pending, const char *buf, apr_size_t len,
                                 const cis2_err_t **perr, void **pout)
{
    char *copy = malloc(len > 0 ? len : 1);
    apr_status_t rv;

    ck_assert_ptr_nonnull(copy);
    if (len > 0) {
        memcpy(copy, buf, len);
    }
    if (pending) {
        rv = cis2_pending_decode((cis2_pending_t **)pout, copy, len, perr,
                                 g_pool);
    }
    else {
        rv = cis2_session_decode((cis2_session_t **)pout, copy, len, perr,
                                 g_pool);
    }
    free(copy);
    return rv;
}

/* ---- round trips --------------------------------------------------------- */

START_TEST(session_round_trip)
{
    cis2_session_t *s = full_session();
    cis2_session_t *out = round_trip(s);

    /* decoded strings are copies in the pool, not views of the buffer */
    ck_assert_ptr_ne(out->sub, s->sub);
}
END_TEST

START_TEST(session_null_fields)
{
    cis2_session_t *s = apr_pcalloc(g_pool, sizeof(*s));

    s->aal = -1;
    s->ial = -1;
    round_trip(s);
    /* "" and NULL stay distinct; an empty env stays an empty array */
    s->sub = "";
    s->acr = "";
    s->env = apr_array_make(g_pool, 1, sizeof(cis2_kv_t));
    round_trip(s);
    kv_add(s->env, "CIS2_X", NULL);
    round_trip(s);
    s->created = -1;
    s->expires = APR_INT64_MAX;
    s->auth_time = APR_INT64_MIN;
    s->aal = APR_INT32_MAX;
    s->ial = APR_INT32_MIN;
    round_trip(s);
}
END_TEST

START_TEST(session_40k_env)
{
    cis2_session_t *s = full_session();
    char *big = apr_palloc(g_pool, 40 * 1024 + 1);
    const char *buf;
    apr_size_t len, i;

    /* letters in random order: nothing for LZ4 to find */
    for (i = 0; i < 40 * 1024; i++) {
        big[i] = (char)('A' + rnd() % 26);
    }
    big[40 * 1024] = '\0';
    kv_add(s->env, "CIS2_ROLES_JSON_BIG", big);
    for (i = 0; i < 400; i++) {
        kv_add(s->env, apr_psprintf(g_pool, "CIS2_CLAIM_X%d", (int)i),
               apr_psprintf(g_pool, "%0100d", (int)i));
    }
    round_trip(s);
    ck_assert_int_eq(cis2_session_encode(&buf, &len, s, NULL, g_pool),
                     APR_SUCCESS);
    /* 26 letters fit in 5 bits: at best 5/8 of 40 KB, plus the claims */
    ck_assert_int_gt(len, 20 * 1024);
    /* the same text twice is stored once */
    kv_add(s->env, "CIS2_AGAIN", big);
    kv_add(s->env, "CIS2_AROUND", apr_pstrcat(g_pool, "[", big, "]", NULL));
    {
        const char *b2;
        apr_size_t l2;

        round_trip(s);
        ck_assert_int_eq(cis2_session_encode(&b2, &l2, s, NULL, g_pool),
                         APR_SUCCESS);
        ck_assert_uint_lt(l2, len + 40);
    }
}
END_TEST

START_TEST(session_too_large)
{
    cis2_session_t *s = full_session();
    char *big = apr_palloc(g_pool, CIS2_MAX_SESSION + 1);
    const char *buf;
    apr_size_t len;
    cis2_session_t *out;
    const cis2_err_t *err = NULL;

    memset(big, 'a', CIS2_MAX_SESSION);
    big[CIS2_MAX_SESSION] = '\0';
    s->id_token = big;
    ck_assert_int_ne(cis2_session_encode(&buf, &len, s, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_TOO_LARGE);
    ck_assert_int_ne(cis2_session_decode(&out, big, CIS2_MAX_SESSION + 1,
                                         &err, g_pool), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_TOO_LARGE);
    ck_assert_int_ne(cis2_session_encode(&buf, &len, NULL, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_ne(cis2_session_decode(&out, NULL, 0, &err, g_pool),
                     APR_SUCCESS);
}
END_TEST

START_TEST(pending_round_trip)
{
    cis2_pending_t pl = {
        "123456789012.apps.national", "binding-cookie-value", "n-0S6_WzA2Mj",
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "/app/page?x=1",
        "AAL3_ANY", 0, 2, CIS2_PENDING_STEP_UP
    };
    cis2_pending_t empty = { NULL, NULL, NULL, NULL, NULL, NULL, 0, -1, 0 };
    cis2_pending_t *out = NULL;
    const char *buf;
    apr_size_t len;
    const cis2_err_t *err = NULL;

    pl.created = apr_time_from_sec(1750525000);
    ck_assert_int_eq(cis2_pending_encode(&buf, &len, &pl, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_pending_decode(&out, buf, len, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_str_eq(out->client_id, pl.client_id);
    ck_assert_str_eq(out->binding, pl.binding);
    ck_assert_str_eq(out->nonce, pl.nonce);
    ck_assert_str_eq(out->code_verifier, pl.code_verifier);
    ck_assert_str_eq(out->return_url, pl.return_url);
    ck_assert_str_eq(out->acr_values, pl.acr_values);
    ck_assert_int_eq(out->created, pl.created);
    ck_assert_int_eq(out->required_aal, 2);
    ck_assert_int_eq(out->flags, CIS2_PENDING_STEP_UP);

    ck_assert_int_eq(cis2_pending_encode(&buf, &len, &empty, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_pending_decode(&out, buf, len, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_ptr_null(out->client_id);
    ck_assert_ptr_null(out->acr_values);
    ck_assert_int_eq(out->created, 0);
    ck_assert_int_ne(cis2_pending_encode(&buf, &len, NULL, &err, g_pool),
                     APR_SUCCESS);
}
END_TEST

static cis2_role_t *role_add(apr_array_header_t *roles, const char *id,
                             const char *code, const char *org,
                             const char *act)
{
    cis2_role_t *r = apr_array_push(roles);

    r->id = id;
    r->code = code;
    r->org = org;
    r->activities = apr_array_make(g_pool, 2, sizeof(const char *));
    if (act != NULL) {
        APR_ARRAY_PUSH(r->activities, const char *) = act;
    }
    return r;
}

/* the encoder's string table hashes only the ends of long strings: ones
 * that differ only in the middle are still two strings */
START_TEST(same_ends_different_middle)
{
    cis2_session_t *in = full_session(), *out;
    char a[201], b[201];

    memset(a, 'x', 200);
    a[200] = '\0';
    memcpy(b, a, sizeof(a));
    b[100] = 'y';
    kv_add(in->env, "CIS2_A", apr_pstrdup(g_pool, a));
    kv_add(in->env, "CIS2_B", apr_pstrdup(g_pool, b));
    kv_add(in->env, "CIS2_C", apr_pstrdup(g_pool, a));
    out = round_trip(in);
    ck_assert_str_eq(APR_ARRAY_IDX(out->env, 5, cis2_kv_t).value, b);
    ck_assert_str_eq(APR_ARRAY_IDX(out->env, 6, cis2_kv_t).value, a);
}
END_TEST

START_TEST(session_authz_round_trip)
{
    cis2_session_t *in = full_session(), *out = NULL;
    const char *buf;
    apr_size_t len;
    const cis2_err_t *err = NULL;
    const cis2_role_t *r;

    in->roles = apr_array_make(g_pool, 2, sizeof(cis2_role_t));
    role_add(in->roles, "555254240100", "S8000:G8000:R8001", "RBA", "B0401");
    role_add(in->roles, "555254240101", NULL, NULL, NULL);
    in->selected_role = 1;
    in->claims = apr_array_make(g_pool, 2, sizeof(cis2_kv_t));
    kv_add(in->claims, "gmc_id", "7012345");
    ck_assert_int_eq(cis2_session_encode(&buf, &len, in, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(cis2_session_decode(&out, buf, len, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(out->roles->nelts, 2);
    r = &APR_ARRAY_IDX(out->roles, 0, cis2_role_t);
    ck_assert_str_eq(r->id, "555254240100");
    ck_assert_str_eq(r->code, "S8000:G8000:R8001");
    ck_assert_str_eq(r->org, "RBA");
    ck_assert_int_eq(r->activities->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(r->activities, 0, const char *), "B0401");
    r = &APR_ARRAY_IDX(out->roles, 1, cis2_role_t);
    ck_assert_ptr_null(r->code);
    ck_assert_int_eq(r->activities->nelts, 0);
    ck_assert_int_eq(out->selected_role, 1);
    ck_assert_int_eq(out->claims->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(out->claims, 0, cis2_kv_t).value,
                     "7012345");

    /* a selected index outside the roles is a corrupt record */
    in->selected_role = 2;
    ck_assert_int_eq(cis2_session_encode(&buf, &len, in, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_ne(cis2_session_decode(&out, buf, len, &err, g_pool),
                     APR_SUCCESS);
}
END_TEST

/* ---- the request path's lazy decode -------------------------------------- */

static cis2_session_t *authz_session(void)
{
    cis2_session_t *in = full_session();

    in->roles = apr_array_make(g_pool, 2, sizeof(cis2_role_t));
    role_add(in->roles, "555254240100", "S8000:G8000:R8001", "RBA", "B0401");
    role_add(in->roles, "555254240101", "S8000:G8000:R8003", "RBB", NULL);
    in->selected_role = 1;
    in->claims = apr_array_make(g_pool, 2, sizeof(cis2_kv_t));
    kv_add(in->claims, "gmc_id", "7012345");
    kv_add(in->claims, "uid", "555012345678");
    return in;
}

START_TEST(lazy_decode_equals_whole)
{
    cis2_session_t *in = authz_session(), *eager = NULL, *lazy = NULL;
    cis2_session_t *again = NULL;
    const char *buf, *b2;
    apr_size_t len, l2;
    const cis2_err_t *err = NULL;
    int big;

    /* small (stored plain) and large (LZ4) records */
    for (big = 0; big < 2; big++) {
        if (big) {
            kv_add(in->env, "CIS2_CLAIMS_JSON",
                   apr_psprintf(g_pool, "{\"x\":\"%0900d\"}", 7));
        }
        ck_assert_int_eq(cis2_session_encode(&buf, &len, in, &err, g_pool),
                         APR_SUCCESS);
        ck_assert_int_eq(cis2_session_decode(&eager, buf, len, &err, g_pool),
                         APR_SUCCESS);
        ck_assert_int_eq(cis2_session_decode_lazy(&lazy, buf, len, &err,
                                                  g_pool), APR_SUCCESS);
        /* identity, times and env now; the view not yet */
        assert_session_eq(in, lazy);
        ck_assert_ptr_nonnull(lazy->rest);
        ck_assert_ptr_null(lazy->roles);
        ck_assert_ptr_null(lazy->claims);
        /* encoding completes it first: the same record */
        ck_assert_int_eq(cis2_session_encode(&b2, &l2, lazy, &err, g_pool),
                         APR_SUCCESS);
        ck_assert_uint_eq(l2, len);
        ck_assert_mem_eq(b2, buf, len);
        cis2_test_assert_view_eq(eager, lazy);
        /* finishing again is a no-op */
        ck_assert_int_eq(cis2_session_finish(lazy, &err), APR_SUCCESS);
        cis2_test_assert_view_eq(eager, lazy);
        ck_assert_int_eq(cis2_session_decode_lazy(&again, buf, len, &err,
                                                  g_pool), APR_SUCCESS);
        ck_assert_int_eq(cis2_session_finish(again, &err), APR_SUCCESS);
        cis2_test_assert_view_eq(eager, again);
    }
    /* a session made at login (not decoded) is complete */
    ck_assert_ptr_null(in->rest);
    ck_assert_int_eq(cis2_session_finish(in, &err), APR_SUCCESS);
}
END_TEST

START_TEST(lazy_decode_corrupt_rest)
{
    cis2_session_t *in = authz_session(), *s = NULL;
    const char *buf;
    apr_size_t len, n;
    const cis2_err_t *err = NULL;
    char *longer;

    ck_assert_int_eq(cis2_session_encode(&buf, &len, in, &err, g_pool),
                     APR_SUCCESS);
    /* a selected role outside the roles: the head reads, finishing
     * refuses the record, and keeps refusing it */
    in->selected_role = 2;
    ck_assert_int_eq(cis2_session_encode(&buf, &len, in, &err, g_pool),
                     APR_SUCCESS);
    in->selected_role = 1;
    ck_assert_int_eq(cis2_session_decode_lazy(&s, buf, len, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_str_eq(s->sub, in->sub);
    err = NULL;
    ck_assert_int_ne(cis2_session_finish(s, &err), APR_SUCCESS);
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    ck_assert_ptr_null(s->roles);
    ck_assert_ptr_null(s->claims);
    ck_assert_int_eq(s->selected_role, -1);
    err = NULL;
    ck_assert_int_ne(cis2_session_finish(s, &err), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    /* nor can such a session be written back */
    ck_assert_int_ne(cis2_session_encode(&buf, &len, s, &err, g_pool),
                     APR_SUCCESS);

    /* a trailing byte: refused by one step or the other (an LZ4 block
     * sees it at once, a plain body when finishing) */
    ck_assert_int_eq(cis2_session_encode(&buf, &len, in, &err, g_pool),
                     APR_SUCCESS);
    longer = apr_palloc(g_pool, len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    if (cis2_session_decode_lazy(&s, longer, len + 1, &err, g_pool)
            == APR_SUCCESS) {
        ck_assert_int_ne(cis2_session_finish(s, &err), APR_SUCCESS);
    }

    /* every truncation fails in one of the two steps, never in neither */
    for (n = 0; n < len; n++) {
        char *cut = apr_pmemdup(g_pool, buf, n > 0 ? n : 1);

        s = NULL;
        if (cis2_session_decode_lazy(&s, cut, n, &err, g_pool)
                == APR_SUCCESS) {
            ck_assert_msg(cis2_session_finish(s, &err) != APR_SUCCESS,
                          "truncated to %d accepted", (int)n);
        }
    }

}
END_TEST

/* ---- older versions ------------------------------------------------------ */

/* version 1/2 writer (big-endian, cis2_session.c's comment), to make the
 * records an older mod_cis2 left in a store */
typedef struct bebuf {
    char *b;
    apr_size_t n;
} bebuf;

static void be_bytes(bebuf *w, const void *d, apr_size_t n)
{
    memcpy(w->b + w->n, d, n);
    w->n += n;
}

static void be_u32(bebuf *w, apr_uint32_t v)
{
    unsigned char b[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 8), (unsigned char)v };

    be_bytes(w, b, 4);
}

static void be_i64(bebuf *w, apr_int64_t v)
{
    be_u32(w, (apr_uint32_t)((apr_uint64_t)v >> 32));
    be_u32(w, (apr_uint32_t)v);
}

static void be_str(bebuf *w, const char *s)
{
    if (s == NULL) {
        be_bytes(w, "\0", 1);
        return;
    }
    be_bytes(w, "\1", 1);
    be_u32(w, (apr_uint32_t)strlen(s));
    be_bytes(w, s, strlen(s));
}

static const char *old_record(const cis2_session_t *s, int version,
                              apr_size_t *plen)
{
    bebuf w = { apr_palloc(g_pool, 64 * 1024), 0 };
    int i;

    be_bytes(&w, version == 1 ? "C2S\1" : "C2S\2", 4);
    be_str(&w, s->client_id);
    be_str(&w, s->sub);
    be_str(&w, s->sid);
    be_str(&w, s->remote_user);
    be_i64(&w, s->created);
    be_i64(&w, s->auth_time);
    be_i64(&w, s->expires);
    be_u32(&w, (apr_uint32_t)s->aal);
    be_u32(&w, (apr_uint32_t)s->ial);
    be_str(&w, s->acr);
    be_str(&w, s->id_token);
    be_bytes(&w, "\1", 1);
    be_u32(&w, (apr_uint32_t)s->env->nelts);
    for (i = 0; i < s->env->nelts; i++) {
        be_str(&w, APR_ARRAY_IDX(s->env, i, cis2_kv_t).name);
        be_str(&w, APR_ARRAY_IDX(s->env, i, cis2_kv_t).value);
    }
    if (version == 2) {
        be_u32(&w, 1);                              /* one role */
        be_str(&w, "555254240100");
        be_str(&w, "S8000:G8000:R8001");
        be_str(&w, "RBA");
        be_u32(&w, 1);
        be_str(&w, "B0401");
        be_u32(&w, 0);                              /* selected: 0 */
        be_u32(&w, 1);                              /* one claim */
        be_str(&w, "gmc_id");
        be_str(&w, "7012345");
    }
    *plen = w.n;
    return w.b;
}

START_TEST(version1_and_2_records_still_decode)
{
    /* sessions an older mod_cis2 wrote stay valid after an upgrade (a
     * graceful restart keeps the shm store; Redis keeps everything):
     * version 1 without roles, version 2 with them */
    cis2_session_t *in = full_session(), *out = NULL;
    cis2_pending_t pl = { "c", "b", "n", "v", "/r", NULL, 42, -1, 0 };
    cis2_pending_t *plo = NULL;
    const char *buf;
    char *v1;
    apr_size_t len;
    const cis2_err_t *err = NULL;

    buf = old_record(in, 1, &len);
    ck_assert_int_eq(decode_exact(0, buf, len, &err, (void **)&out),
                     APR_SUCCESS);
    assert_session_eq(in, out);
    ck_assert_ptr_null(out->roles);
    ck_assert_int_eq(out->selected_role, -1);

    buf = old_record(in, 2, &len);
    ck_assert_int_eq(decode_exact(0, buf, len, &err, (void **)&out),
                     APR_SUCCESS);
    assert_session_eq(in, out);
    ck_assert_int_eq(out->roles->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(out->roles, 0, cis2_role_t).org, "RBA");
    ck_assert_int_eq(out->selected_role, 0);
    ck_assert_str_eq(APR_ARRAY_IDX(out->claims, 0, cis2_kv_t).value,
                     "7012345");
    /* and what decoded is written again as the current version */
    round_trip(out);

    ck_assert_int_eq(cis2_pending_encode(&buf, &len, &pl, &err, g_pool),
                     APR_SUCCESS);
    v1 = apr_pmemdup(g_pool, buf, len - 8);
    v1[3] = 1;
    ck_assert_int_eq(cis2_pending_decode(&plo, v1, len - 8, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(plo->required_aal, -1);
    ck_assert_int_eq(plo->created, 42);
}
END_TEST

/* A real version 2 record: the simulator's doctor (4 roles, ID token
 * kept) as the codec before version 3 wrote it (t/unit/data). */
static cis2_session_t *doctor_v2(void)
{
    apr_size_t len;
    const char *buf = cis2_test_slurp("session-v2-doctor.bin", &len);
    cis2_session_t *s = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(buf[3], 2);
    ck_assert_msg(decode_exact(0, buf, len, &err, (void **)&s) == APR_SUCCESS,
                  "%s", err ? err->detail : "?");
    return s;
}

static const char *env_of(const cis2_session_t *s, const char *name)
{
    int i;

    for (i = 0; i < s->env->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(s->env, i, cis2_kv_t).name, name) == 0) {
            return APR_ARRAY_IDX(s->env, i, cis2_kv_t).value;
        }
    }
    return NULL;
}

START_TEST(real_version2_record)
{
    cis2_session_t *s = doctor_v2(), *out;
    const char *buf, *roles, *claims;
    apr_size_t len;

    ck_assert_str_eq(s->sub, "555023456789");
    ck_assert_int_eq(s->roles->nelts, 4);
    ck_assert_ptr_nonnull(s->id_token);
    roles = env_of(s, "CIS2_ROLES_JSON");
    claims = env_of(s, "CIS2_CLAIMS_JSON");
    ck_assert_ptr_nonnull(strstr(claims, roles));
    out = round_trip(s);
    ck_assert_int_eq(cis2_session_encode(&buf, &len, s, NULL, g_pool),
                     APR_SUCCESS);
    /* compressed, a fraction of the 9354 bytes of version 2 */
    ck_assert_int_eq(buf[3], 4);
    ck_assert_int_eq(buf[4], 1);
    ck_assert_uint_lt(len, 3000);
    ck_assert_str_eq(env_of(out, "CIS2_CLAIMS_JSON"), claims);
}
END_TEST

/* ---- hostile buffers ----------------------------------------------------- */

START_TEST(every_truncation_fails)
{
    const char *buf;
    apr_size_t len, n;
    cis2_session_t *s = NULL;
    cis2_pending_t pl = { "c", "b", "n", "v", "/r", NULL, 42, 3, 1 };
    cis2_pending_t *plo = NULL;
    const cis2_err_t *err;

    ck_assert_int_eq(cis2_session_encode(&buf, &len, full_session(), NULL,
                                         g_pool), APR_SUCCESS);
    for (n = 0; n < len; n++) {
        err = NULL;
        ck_assert_msg(decode_exact(0, buf, n, &err, (void **)&s)
                      != APR_SUCCESS,
                      "truncated to %d accepted", (int)n);
        ck_assert_int_eq(err->code, CIS2_E_INVALID);
        ck_assert_ptr_null(s);
    }
    /* one trailing byte is as wrong as one missing */
    {
        char *longer = apr_palloc(g_pool, len + 1);

        memcpy(longer, buf, len);
        longer[len] = 0;
        ck_assert_int_ne(cis2_session_decode(&s, longer, len + 1, &err,
                                             g_pool), APR_SUCCESS);
    }

    ck_assert_int_eq(cis2_pending_encode(&buf, &len, &pl, NULL, g_pool),
                     APR_SUCCESS);
    for (n = 0; n < len; n++) {
        err = NULL;
        ck_assert_int_ne(decode_exact(1, buf, n, &err, (void **)&plo),
                         APR_SUCCESS);
        ck_assert_int_eq(err->code, CIS2_E_INVALID);
        ck_assert_ptr_null(plo);
    }
}
END_TEST

START_TEST(wrong_magic_and_version)
{
    const char *buf;
    apr_size_t len;
    char *copy;
    cis2_session_t *s = NULL;
    cis2_pending_t *pl = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(cis2_session_encode(&buf, &len, full_session(), NULL,
                                         g_pool), APR_SUCCESS);
    /* a session is not a pending login */
    ck_assert_int_ne(cis2_pending_decode(&pl, buf, len, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    copy = apr_pmemdup(g_pool, buf, len);
    copy[0] = 'X';
    ck_assert_int_ne(cis2_session_decode(&s, copy, len, &err, g_pool),
                     APR_SUCCESS);
    copy[0] = buf[0];
    copy[3] = 5;
    ck_assert_int_ne(cis2_session_decode(&s, copy, len, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_ptr_nonnull(strstr(err->detail, "version"));
    copy[3] = buf[3];
    ck_assert_int_eq(cis2_session_decode(&s, copy, len, &err, g_pool),
                     APR_SUCCESS);
}
END_TEST

/* A version 3 record of a plain (uncompressed) body. */
static const char *rec3(const char *body, apr_size_t n, apr_size_t *plen)
{
    char *b = apr_palloc(g_pool, n + 5);

    memcpy(b, "C2S\3\0", 5);
    memcpy(b + 5, body, n);
    *plen = n + 5;
    return b;
}

static apr_size_t put_uv(char *b, apr_uint64_t v)
{
    apr_size_t n = 0;

    do {
        b[n] = (char)(v & 0x7f);
        v >>= 7;
        if (v != 0) {
            b[n] |= (char)0x80;
        }
        n++;
    } while (v != 0);
    return n;
}

/* the index of the first string a record adds to the table: the size of
 * the static table, read back from a record whose sub repeats client_id */
static apr_uint64_t first_dynamic(void)
{
    cis2_session_t *in = apr_pcalloc(g_pool, sizeof(*in));
    const char *buf;
    apr_size_t len;
    apr_uint64_t v = 0;
    int shift = 0, i = 8;                 /* after "x" and its NUL (v4) */

    in->client_id = "x";
    in->sub = "x";
    ck_assert_int_eq(cis2_session_encode(&buf, &len, in, NULL, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(buf[4], 0);                      /* plain */
    ck_assert_int_eq(buf[5], (1 << 2) | 1);           /* literal "x" */
    do {
        v |= (apr_uint64_t)(buf[i] & 0x7f) << shift;
        shift += 7;
    } while (buf[i++] & 0x80);
    ck_assert_int_eq(v & 3, 2);                       /* a reference */
    return v >> 2;
}

/* the fields after the four leading strings of a minimal body: times,
 * levels (0), acr, id_token, env, roles (NULL/none), selected (-1),
 * claims (none) */
static const char tail3[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0 };

START_TEST(lengths_counts_flags)
{
    cis2_session_t *in = apr_pcalloc(g_pool, sizeof(*in)), *s = NULL;
    const char *buf, *r;
    apr_size_t len, n, rl;
    char *c, body[256];
    const cis2_err_t *err = NULL;
    apr_uint64_t dyn = first_dynamic();

    in->client_id = "abc";
    in->env = apr_array_make(g_pool, 1, sizeof(cis2_kv_t));
    kv_add(in->env, "N", "V");
    ck_assert_int_eq(cis2_session_encode(&buf, &len, in, NULL, g_pool),
                     APR_SUCCESS);
    c = apr_pmemdup(g_pool, buf, len);
    ck_assert_int_eq(c[4], 0);                        /* plain */
    ck_assert_int_eq(c[5], (3 << 2) | 1);             /* "abc" */

    /* a length past the end */
    c[5] = (char)((31 << 2) | 1);
    ck_assert_int_ne(cis2_session_decode(&s, c, len, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    c[5] = (char)((4 << 2) | 1);                      /* one byte too long */
    ck_assert_int_ne(cis2_session_decode(&s, c, len, &err, g_pool),
                     APR_SUCCESS);
    memcpy(c, buf, len);
    /* a NUL inside a string */
    c[7] = '\0';
    ck_assert_int_ne(cis2_session_decode(&s, c, len, &err, g_pool),
                     APR_SUCCESS);
    memcpy(c, buf, len);
    /* version 4: the NUL after a literal missing (the decoded string is
     * used in place, so it must be there) */
    ck_assert_int_eq(c[9], '\0');
    c[9] = 'x';
    ck_assert_int_ne(cis2_session_decode(&s, c, len, &err, g_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    memcpy(c, buf, len);
    /* NULL carrying a length */
    c[5] = (char)(3 << 2);
    ck_assert_int_ne(cis2_session_decode(&s, c, len, &err, g_pool),
                     APR_SUCCESS);
    memcpy(c, buf, len);
    /* a form other than plain or LZ4 */
    c[4] = 2;
    ck_assert_int_ne(cis2_session_decode(&s, c, len, &err, g_pool),
                     APR_SUCCESS);
    memcpy(c, buf, len);
    ck_assert_int_eq(cis2_session_decode(&s, c, len, &err, g_pool),
                     APR_SUCCESS);

    /* references: to the last static string (fine), to a string not yet
     * in the table, and far beyond */
    n = put_uv(body, ((dyn - 1) << 2) | 2);
    body[n++] = 0;
    body[n++] = 0;
    body[n++] = 0;
    memcpy(body + n, tail3, sizeof(tail3));
    r = rec3(body, n + sizeof(tail3), &rl);
    ck_assert_msg(decode_exact(0, r, rl, &err, (void **)&s) == APR_SUCCESS,
                  "%s", err ? err->detail : "?");
    ck_assert_ptr_nonnull(s->client_id);
    n = put_uv(body, (dyn << 2) | 2);
    body[n++] = 0;
    body[n++] = 0;
    body[n++] = 0;
    memcpy(body + n, tail3, sizeof(tail3));
    r = rec3(body, n + sizeof(tail3), &rl);
    ck_assert_int_ne(decode_exact(0, r, rl, &err, (void **)&s), APR_SUCCESS);
    n = put_uv(body, ((apr_uint64_t)1 << 40) | 2);
    memcpy(body + n, tail3, sizeof(tail3));
    r = rec3(body, n + sizeof(tail3), &rl);
    ck_assert_int_ne(decode_exact(0, r, rl, &err, (void **)&s), APR_SUCCESS);

    /* a varint of more than 64 bits */
    memset(body, 0xff, 11);
    body[11] = 0;
    r = rec3(body, 12, &rl);
    ck_assert_int_ne(decode_exact(0, r, rl, &err, (void **)&s), APR_SUCCESS);

    /* a splice of a string not yet in the table */
    n = 0;
    body[n++] = (char)((1 << 2) | 3);                 /* prefix "a" */
    body[n++] = 'a';
    n += put_uv(body + n, dyn);                       /* idx: none yet */
    body[n++] = 0;                                    /* no suffix */
    body[n++] = 0;
    body[n++] = 0;
    body[n++] = 0;
    memcpy(body + n, tail3, sizeof(tail3));
    r = rec3(body, n + sizeof(tail3), &rl);
    ck_assert_int_ne(decode_exact(0, r, rl, &err, (void **)&s), APR_SUCCESS);

    /* an env count the record cannot hold */
    n = 0;
    body[n++] = 0;
    body[n++] = 0;
    body[n++] = 0;
    body[n++] = 0;
    memcpy(body + n, tail3, 8);                       /* up to id_token */
    n += 8;
    n += put_uv(body + n, 1000000);
    r = rec3(body, n, &rl);
    ck_assert_int_ne(decode_exact(0, r, rl, &err, (void **)&s), APR_SUCCESS);
}
END_TEST

/* The ID token: kept as its decoded parts when that rebuilds it exactly,
 * else as text; either way the same text comes back. */
START_TEST(id_token_forms)
{
    static const char *const tokens[] = {
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiI1NTUifQ.c2ln",   /* parts */
        "..",                                               /* parts */
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiI1NTUifQ.c2ln==",  /* padding */
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiI1NTUifQ.c2l",     /* trailing bits */
        "a.b.c", "a.b.c.d", "a.b", "not a token", "a+b.c/d.e",
        NULL
    };
    const char *const *t;
    const char *buf;
    apr_size_t len;
    cis2_session_t *in = full_session(), *out;

    for (t = tokens; *t != NULL; t++) {
        in->id_token = *t;
        out = round_trip(in);
        ck_assert_str_eq(cis2_session_id_token(out, g_pool), *t);
        if (t - tokens < 2) {
            ck_assert_ptr_null(out->id_token);
            ck_assert_ptr_nonnull(out->id_token_part[0]);
            /* and a decoded session is written again from its parts */
            out = round_trip(out);
            ck_assert_str_eq(cis2_session_id_token(out, g_pool), *t);
        }
        else {
            ck_assert_str_eq(out->id_token, *t);
        }
    }
    /* parts take 3/4 of the text */
    in->id_token = NULL;
    ck_assert_int_eq(cis2_session_encode(&buf, &len, in, NULL, g_pool),
                     APR_SUCCESS);
    {
        apr_size_t none = len;

        in->id_token = tokens[0];
        ck_assert_int_eq(cis2_session_encode(&buf, &len, in, NULL, g_pool),
                         APR_SUCCESS);
        ck_assert_uint_le(len - none, strlen(tokens[0]) * 3 / 4 + 6);
    }
}
END_TEST

/* the ID token field of a minimal body: an unknown form, a part longer
 * than the record, a text form holding NULL */
START_TEST(id_token_hostile)
{
    char body[64];
    const char *r;
    apr_size_t n, rl;
    cis2_session_t *s = NULL;
    const cis2_err_t *err = NULL;
    static const char forms[][4] = { { 3 }, { 2, 100 }, { 2, 0, 0, 9 },
                                     { 1, 0 } };
    static const apr_size_t flen[] = { 1, 2, 4, 2 };
    int i;

    for (i = 0; i < 4; i++) {
        memset(body, 0, 4);                           /* 4 NULL strings */
        memcpy(body + 4, tail3, 6);                   /* times .. acr */
        n = 10;
        memcpy(body + n, forms[i], flen[i]);
        n += flen[i];
        memcpy(body + n, tail3 + 7, 4);               /* env .. claims */
        n += 4;
        r = rec3(body, n, &rl);
        ck_assert_msg(decode_exact(0, r, rl, &err, (void **)&s)
                      != APR_SUCCESS, "form %d accepted", i);
    }
    /* the same body with { 2, 0, 0, 0 }: three empty parts, fine */
    memset(body, 0, 10);
    memcpy(body + 4, tail3, 6);
    memcpy(body + 10, "\2\0\0\0", 4);
    memcpy(body + 14, tail3 + 7, 4);
    r = rec3(body, 18, &rl);
    ck_assert_msg(decode_exact(0, r, rl, &err, (void **)&s) == APR_SUCCESS,
                  "%s", err ? err->detail : "?");
    ck_assert_str_eq(cis2_session_id_token(s, g_pool), "..");
}
END_TEST

/* Splices of splices: each copies the one before, so a small record could
 * ask for gigabytes; decoding stops at CIS2_MAX_SESSION bytes of strings. */
START_TEST(splice_bomb)
{
    apr_uint64_t dyn = first_dynamic();
    apr_size_t big = 60000, n = 0, rl, i;
    char *body = apr_palloc(g_pool, big + 1024);
    const char *r;
    cis2_session_t *s = NULL;
    const cis2_err_t *err = NULL;

    n += put_uv(body, ((apr_uint64_t)big << 2) | 1);  /* client_id */
    memset(body + n, 'a', big);
    n += big;
    for (i = 0; i < 3; i++) {                         /* sub, sid, user */
        body[n++] = 3;                                /* no prefix */
        n += put_uv(body + n, dyn + i);               /* the one before */
        body[n++] = 1;                                /* suffix "b" */
        body[n++] = 'b';
    }
    memcpy(body + n, tail3, 8);                       /* up to id_token */
    n += 8;
    n += put_uv(body + n, 6 + 1);                     /* 6 variables */
    for (i = 3; i < 15; i++) {
        body[n++] = 3;
        n += put_uv(body + n, dyn + i);
        body[n++] = 0;
    }
    memcpy(body + n, tail3 + 8, 3);
    n += 3;
    r = rec3(body, n, &rl);
    ck_assert_int_ne(decode_exact(0, r, rl, &err, (void **)&s), APR_SUCCESS);
    ck_assert_int_eq(err->code, CIS2_E_INVALID);
    /* four strings of 60 KB (240 KB in all) decode */
    n = big + put_uv(body, ((apr_uint64_t)big << 2) | 1);
    for (i = 0; i < 3; i++) {
        body[n++] = 3;
        n += put_uv(body + n, dyn + i);
        body[n++] = 0;
    }
    memcpy(body + n, tail3, sizeof(tail3));
    n += sizeof(tail3);
    r = rec3(body, n, &rl);
    ck_assert_msg(decode_exact(0, r, rl, &err, (void **)&s) == APR_SUCCESS,
                  "%s", err ? err->detail : "?");
    ck_assert_uint_eq(strlen(s->remote_user), big);
}
END_TEST

/* LZ4 form: every truncation, a wrong length, garbage */
START_TEST(compressed_hostile)
{
    const char *buf;
    apr_size_t len, n;
    cis2_session_t *s = NULL;
    const cis2_err_t *err = NULL;
    char *c;

    ck_assert_int_eq(cis2_session_encode(&buf, &len, doctor_v2(), NULL,
                                         g_pool), APR_SUCCESS);
    ck_assert_int_eq(buf[4], 1);
    for (n = 0; n < len; n++) {
        err = NULL;
        s = NULL;
        ck_assert_msg(decode_exact(0, buf, n, &err, (void **)&s)
                      != APR_SUCCESS, "truncated to %d accepted", (int)n);
        ck_assert_int_eq(err->code, CIS2_E_INVALID);
        ck_assert_ptr_null(s);
    }
    c = apr_pmemdup(g_pool, buf, len);
    /* the raw length (a 2-byte varint here) one more, one less */
    ck_assert_int_ne(c[5] & 0x80, 0);
    c[5] = (char)(c[5] + 1);
    ck_assert_int_ne(decode_exact(0, c, len, &err, (void **)&s), APR_SUCCESS);
    c[5] = (char)(c[5] - 2);
    ck_assert_int_ne(decode_exact(0, c, len, &err, (void **)&s), APR_SUCCESS);
    c[5] = buf[5];
    /* raw length 0, and over CIS2_MAX_SESSION */
    memcpy(c, "C2S\3\1\0", 6);
    ck_assert_int_ne(decode_exact(0, c, 6, &err, (void **)&s), APR_SUCCESS);
    n = 5 + put_uv(c + 5, CIS2_MAX_SESSION + 1);
    ck_assert_int_ne(decode_exact(0, c, n + 10, &err, (void **)&s),
                     APR_SUCCESS);
    /* noise after a good header */
    for (n = 0; n < 2000; n++) {
        apr_size_t j, l = 8 + rnd() % 200;

        memcpy(c, buf, 7);
        for (j = 7; j < l; j++) {
            c[j] = (char)rnd();
        }
        (void)decode_exact(0, c, l, &err, (void **)&s);
    }
}
END_TEST

START_TEST(random_garbage)
{
    int i;

    for (i = 0; i < 20000; i++) {
        apr_size_t len = rnd() % 300, j;
        char *b = apr_palloc(g_pool, len + 1);
        cis2_session_t *s;
        cis2_pending_t *pl;

        for (j = 0; j < len; j++) {
            b[j] = (char)rnd();
        }
        /* half the time give it a valid header so the fields get parsed */
        if (len >= 4 && (i & 1)) {
            memcpy(b, (i & 2) ? ((i & 4) ? "C2S\x01" : "C2S\x03")
                              : "C2P\x01", 4);
        }
        (void)decode_exact(0, b, len, NULL, (void **)&s);
        (void)decode_exact(1, b, len, NULL, (void **)&pl);
    }
}
END_TEST

START_TEST(random_mutations)
{
    const char *buf;
    apr_size_t len;
    int i, k;

    ck_assert_int_eq(cis2_session_encode(&buf, &len, full_session(), NULL,
                                         g_pool), APR_SUCCESS);
    for (i = 0; i < 20000; i++) {
        char *c = apr_pmemdup(g_pool, buf, len);
        cis2_session_t *s = NULL;

        for (k = 0; k < 1 + (int)(rnd() % 4); k++) {
            c[rnd() % len] = (char)rnd();
        }
        {
            /* the lazy decode accepts exactly what the whole one does */
            cis2_session_t *l = NULL;
            int whole = cis2_session_decode(&s, c, len, NULL, g_pool)
                        == APR_SUCCESS;

            ck_assert_int_eq(whole,
                             cis2_session_decode_lazy(&l, c, len, NULL, g_pool)
                             == APR_SUCCESS
                             && cis2_session_finish(l, NULL) == APR_SUCCESS);
            s = NULL;
        }
        if (decode_exact(0, c, len, NULL, (void **)&s) == APR_SUCCESS) {
            /* whatever decoded is self-consistent: it encodes again */
            const char *b2;
            apr_size_t l2;

            ck_assert_int_eq(cis2_session_encode(&b2, &l2, s, NULL, g_pool),
                             APR_SUCCESS);
        }
    }
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("session");
    TCase *tc;

    tc = tcase_create("codec");
    cis2_test_fixture(tc);
    tcase_add_test(tc, session_round_trip);
    tcase_add_test(tc, session_null_fields);
    tcase_add_test(tc, session_40k_env);
    tcase_add_test(tc, session_too_large);
    tcase_add_test(tc, pending_round_trip);
    tcase_add_test(tc, session_authz_round_trip);
    tcase_add_test(tc, same_ends_different_middle);
    tcase_add_test(tc, lazy_decode_equals_whole);
    tcase_add_test(tc, lazy_decode_corrupt_rest);
    tcase_add_test(tc, version1_and_2_records_still_decode);
    tcase_add_test(tc, real_version2_record);
    tcase_add_test(tc, id_token_forms);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    cis2_test_fixture(tc);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_truncation_fails);
    tcase_add_test(tc, wrong_magic_and_version);
    tcase_add_test(tc, lengths_counts_flags);
    tcase_add_test(tc, splice_bomb);
    tcase_add_test(tc, id_token_hostile);
    tcase_add_test(tc, compressed_hostile);
    tcase_add_test(tc, random_garbage);
    tcase_add_test(tc, random_mutations);
    suite_add_tcase(s, tc);
    return s;
}
