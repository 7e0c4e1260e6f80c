/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * test_jwt — cis2_jwt: strict compact parsing, signature verification and
 * the token-confusion classes of PEER.md §6 (alg none, HS* keyed with the
 * client secret or the RSA public key, wrong key, wrong kid, key alg), and
 * the ID token claim checks of OIDC Core §3.1.3.7. Tokens are minted at run
 * time by jwtmint from the keys of t/unit/data/make-fixtures.sh.
 */
#include <string.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <jansson.h>

#include "testmain.h"
#include "jwtmint.h"
#include "cis2_jwt.h"

#define KID1 "b/O6OvVv1+y+WgrH5Ui9WTioLt0="
#define KID2 "Qm9sbG92ZXIvS2V5Kz0yMDI2+w=="
#define ISS "https://am.nhsint.auth-ptl.cis2.spineservices.nhs.uk:443" \
            "/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare"
#define ISS_NO_PORT "https://am.nhsint.auth-ptl.cis2.spineservices.nhs.uk" \
            "/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare"
#define CLIENT "123456789012.apps.national"
#define SECRET "s3cr3t-client-secret-of-at-least-32-bytes!"
#define NONCE "n-0S6_WzA2Mj4b9Qd0rT1uVxYz7KpLmNoPqRsTuVwXy"

/* "now" for every claim test: 2025-06-21T16:56:40Z */
#define NOW 1750525000

static const char *payload_text(const char *patch);

static const char *key_file(const char *name)
{
    return cis2_test_data(name);
}

static cis2_jwks_t *load_jwks(const char *name)
{
    cis2_jwks_t *jwks = NULL;
    const cis2_err_t *err = NULL;
    apr_size_t len;
    const char *json = cis2_test_slurp(name, &len);

    ck_assert_int_eq(cis2_jwks_parse(&jwks, json, len, &err, g_pool),
                     APR_SUCCESS);
    return jwks;
}

static const char *mint(const jwtmint_opts_t *o, const char *payload)
{
    const char *t = jwtmint(g_pool, o, payload);

    ck_assert_ptr_nonnull(t);
    return t;
}

/* A good ID token payload with an RFC 7386 merge patch applied (a member
 * set to null is removed). */
static const char *payload_text(const char *patch)
{
    json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s}",
                          "iss", ISS, "sub", "555012345678", "aud", CLIENT,
                          "azp", CLIENT, "iat", (json_int_t)(NOW - 10),
                          "exp", (json_int_t)(NOW + 3600),
                          "auth_time", (json_int_t)(NOW - 20),
                          "nonce", NONCE, "acr", "AAL3_ANY");
    char *s;
    const char *out;

    if (patch != NULL) {
        json_error_t jerr;
        json_t *pj = json_loads(patch, 0, &jerr);
        const char *k;
        json_t *v;

        ck_assert_msg(json_is_object(pj), "bad patch %s: %s", patch,
                      jerr.text);
        json_object_foreach(pj, k, v) {
            if (json_is_null(v)) {
                json_object_del(c, k);
            }
            else {
                json_object_set(c, k, v);
            }
        }
        json_decref(pj);
    }
    s = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    out = apr_pstrdup(g_pool, s);
    free(s);
    return out;
}

static cis2_jws_t *parse_ok(const char *t)
{
    cis2_jws_t *jws = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_msg(cis2_jws_parse(&jws, t, strlen(t), 0, &err, g_pool)
                  == APR_SUCCESS, "parse: %s", err ? err->detail : "?");
    return jws;
}

/* err is passed by address: it must be read after the call that sets it
 * (argument evaluation order is unspecified); it is reset afterwards so a
 * later failure cannot pass on a stale record */
static void expect_code(apr_status_t rv, const cis2_err_t **perr,
                        int code, const char *what)
{
    const cis2_err_t *err = *perr;

    *perr = NULL;

    if (code == CIS2_E_NONE) {
        ck_assert_msg(rv == APR_SUCCESS, "%s: expected success, got %s (%s)",
                      what, err ? cis2_err_name(err->code) : "?",
                      err ? err->detail : "?");
    }
    else {
        ck_assert_msg(rv != APR_SUCCESS, "%s: expected %s, got success",
                      what, cis2_err_name(code));
        ck_assert_msg(err != NULL && err->code == code,
                      "%s: expected %s, got %s (%s)", what,
                      cis2_err_name(code),
                      err ? cis2_err_name(err->code) : "?",
                      err ? err->detail : "?");
    }
}

static apr_array_header_t *algs(const char *a, const char *b)
{
    apr_array_header_t *arr = apr_array_make(g_pool, 2, sizeof(const char *));

    APR_ARRAY_PUSH(arr, const char *) = a;
    if (b != NULL) {
        APR_ARRAY_PUSH(arr, const char *) = b;
    }
    return arr;
}

/* ---- alg support --------------------------------------------------------- */

static const struct {
    const char *alg;
    int ok;
} alg_table[] = {
    { "RS256", 1 }, { "RS384", 1 }, { "RS512", 1 },
    { "PS256", 1 }, { "PS384", 1 }, { "PS512", 1 },
    { "none", 0 }, { "None", 0 }, { "NONE", 0 }, { "", 0 },
    { "HS256", 0 }, { "HS384", 0 }, { "HS512", 0 },
    { "ES256", 0 }, { "EdDSA", 0 }, { "rs256", 0 }, { "RS256 ", 0 },
    { "RS2560", 0 }, { "RS", 0 }, { NULL, 0 },
};

START_TEST(alg_supported_table)
{
    ck_assert_int_eq(cis2_jwt_alg_supported(alg_table[_i].alg),
                     alg_table[_i].ok);
}
END_TEST

/* ---- signatures and token confusion -------------------------------------- */

enum { SIGN_KEY1, SIGN_KEY2, SIGN_WEAK, SIGN_SECRET, SIGN_PUBPEM, SIGN_NONE };

static const struct {
    const char *name;
    const char *alg;        /* header alg */
    const char *sign_alg;   /* NULL = alg */
    int key;                /* SIGN_* */
    const char *kid;
    int flags;              /* JWTMINT_* */
    const char *jwks;       /* fixture */
    const char *allow1, *allow2;  /* allow-list; both NULL = default */
    int code;               /* expected from cis2_jws_verify */
} sig_table[] = {
    { "good RS256", "RS256", NULL, SIGN_KEY1, KID1, 0, "jwks.json",
      NULL, NULL, CIS2_E_NONE },
    { "good RS512", "RS512", NULL, SIGN_KEY1, KID1, 0, "jwks.json",
      NULL, NULL, CIS2_E_NONE },
    { "rollover: key2 with its own kid", "RS256", NULL, SIGN_KEY2, KID2, 0,
      "jwks.json", NULL, NULL, CIS2_E_NONE },
    { "no kid, single-key JWKS", "RS256", NULL, SIGN_KEY1, NULL, 0,
      "jwks-key1.json", NULL, NULL, CIS2_E_NONE },
    { "no kid, two-key JWKS", "RS256", NULL, SIGN_KEY1, NULL, 0,
      "jwks.json", NULL, NULL, CIS2_E_KID_UNKNOWN },
    { "PS256 not in the default allow-list", "PS256", NULL, SIGN_KEY1, KID1,
      0, "jwks.json", NULL, NULL, CIS2_E_ALG },
    { "PS256 allowed", "PS256", NULL, SIGN_KEY1, KID1, 0, "jwks.json",
      "PS256", NULL, CIS2_E_NONE },
    { "PS512 allowed", "PS512", NULL, SIGN_KEY1, KID1, 0, "jwks.json",
      "RS256", "PS512", CIS2_E_NONE },
    { "PS384 allowed", "PS384", NULL, SIGN_KEY1, KID1, 0, "jwks.json",
      "PS384", NULL, CIS2_E_NONE },
    { "RS384 allowed", "RS384", NULL, SIGN_KEY1, KID1, 0, "jwks.json",
      "RS384", NULL, CIS2_E_NONE },
    { "PS256 with a salt longer than the hash (RFC 7518 3.5)", "PS256", NULL,
      SIGN_KEY1, KID1, JWTMINT_PSS_SALT_MAX, "jwks.json", "PS256", NULL,
      CIS2_E_SIGNATURE },
    { "PS256 signature under an RS256 header", "RS256", "PS256", SIGN_KEY1,
      KID1, JWTMINT_PSS_SALT_MAX, "jwks.json", NULL, NULL,
      CIS2_E_SIGNATURE },
    { "header PS512, signed PS256", "PS512", "PS256", SIGN_KEY1, KID1, 0,
      "jwks.json", "PS512", NULL, CIS2_E_SIGNATURE },
    { "RS384 not in the default allow-list", "RS384", NULL, SIGN_KEY1, KID1,
      0, "jwks.json", NULL, NULL, CIS2_E_ALG },
    { "RS256 not in a list of RS512", "RS256", NULL, SIGN_KEY1, KID1, 0,
      "jwks.json", "RS512", NULL, CIS2_E_ALG },
    { "flipped signature bit", "RS256", NULL, SIGN_KEY1, KID1,
      JWTMINT_TAMPER, "jwks.json", NULL, NULL, CIS2_E_SIGNATURE },
    { "key2 signature with key1's kid", "RS256", NULL, SIGN_KEY2, KID1, 0,
      "jwks.json", NULL, NULL, CIS2_E_SIGNATURE },
    { "header RS256, signed RS512", "RS256", "RS512", SIGN_KEY1, KID1, 0,
      "jwks.json", NULL, NULL, CIS2_E_SIGNATURE },
    { "header RS256, signed PS256", "RS256", "PS256", SIGN_KEY1, KID1, 0,
      "jwks.json", NULL, NULL, CIS2_E_SIGNATURE },
    { "header PS256, signed RS256", "PS256", "RS256", SIGN_KEY1, KID1, 0,
      "jwks.json", "PS256", NULL, CIS2_E_SIGNATURE },
    { "1024-bit signature under key1's kid", "RS256", NULL, SIGN_WEAK, KID1,
      0, "jwks.json", NULL, NULL, CIS2_E_SIGNATURE },
    { "alg none with an RS256 signature", "none", "RS256", SIGN_KEY1, KID1,
      0, "jwks.json", NULL, NULL, CIS2_E_ALG },
    { "alg none, allow-list says none", "none", "RS256", SIGN_KEY1, KID1, 0,
      "jwks.json", "none", "RS256", CIS2_E_ALG },
    { "alg None", "None", "RS256", SIGN_KEY1, KID1, 0, "jwks.json",
      NULL, NULL, CIS2_E_ALG },
    { "HS256 keyed with the client secret", "HS256", NULL, SIGN_SECRET,
      KID1, 0, "jwks.json", NULL, NULL, CIS2_E_ALG },
    { "HS256 with the client secret, no kid", "HS256", NULL, SIGN_SECRET,
      NULL, 0, "jwks-key1.json", NULL, NULL, CIS2_E_ALG },
    { "HS256 keyed with the RSA public key PEM", "HS256", NULL, SIGN_PUBPEM,
      KID1, 0, "jwks.json", NULL, NULL, CIS2_E_ALG },
    { "HS512 keyed with the RSA public key PEM", "HS512", NULL, SIGN_PUBPEM,
      KID1, 0, "jwks.json", NULL, NULL, CIS2_E_ALG },
    { "HS256 even if the allow-list names it", "HS256", NULL, SIGN_SECRET,
      KID1, 0, "jwks.json", "HS256", "RS256", CIS2_E_ALG },
    { "ES256 header", "ES256", "RS256", SIGN_KEY1, KID1, 0, "jwks.json",
      "ES256", NULL, CIS2_E_ALG },
    { "alg RS256 but the key's alg is RS512", "RS256", NULL, SIGN_KEY1, KID1,
      0, "jwks-key1-rs512.json", NULL, NULL, CIS2_E_KID_UNKNOWN },
    { "alg RS512 and the key's alg is RS512", "RS512", NULL, SIGN_KEY1, KID1,
      0, "jwks-key1-rs512.json", NULL, NULL, CIS2_E_NONE },
    { "unknown kid", "RS256", NULL, SIGN_KEY1, "no-such-kid", 0,
      "jwks.json", NULL, NULL, CIS2_E_KID_UNKNOWN },
    { "kid in base64url form", "RS256", NULL, SIGN_KEY1,
      "b_O6OvVv1-y-WgrH5Ui9WTioLt0=", 0, "jwks.json", NULL, NULL,
      CIS2_E_KID_UNKNOWN },
    { "kid percent-encoded", "RS256", NULL, SIGN_KEY1,
      "b%2FO6OvVv1%2By%2BWgrH5Ui9WTioLt0%3D", 0, "jwks.json", NULL, NULL,
      CIS2_E_KID_UNKNOWN },
};

START_TEST(signature_table)
{
    jwtmint_opts_t o = { 0 };
    const cis2_err_t *err = NULL;
    apr_array_header_t *allow = NULL;
    cis2_jwks_t *jwks = load_jwks(sig_table[_i].jwks);
    cis2_jws_t *jws;
    apr_size_t len;
    const char *pem;

    o.alg = sig_table[_i].alg;
    o.sign_alg = sig_table[_i].sign_alg;
    o.kid = sig_table[_i].kid;
    o.flags = sig_table[_i].flags;
    switch (sig_table[_i].key) {
    case SIGN_KEY1:
        o.key_file = key_file("key1.pem");
        break;
    case SIGN_KEY2:
        o.key_file = key_file("key2.pem");
        break;
    case SIGN_WEAK:
        o.key_file = key_file("weak.pem");
        break;
    case SIGN_SECRET:
        o.hmac_key = SECRET;
        o.hmac_key_len = strlen(SECRET);
        break;
    case SIGN_PUBPEM:
        pem = cis2_test_slurp("key1.pub.pem", &len);
        o.hmac_key = pem;
        o.hmac_key_len = len;
        break;
    default:
        break;
    }
    if (sig_table[_i].allow1 != NULL) {
        allow = algs(sig_table[_i].allow1, sig_table[_i].allow2);
    }
    jws = parse_ok(mint(&o, payload_text(NULL)));
    ck_assert_str_eq(jws->alg, sig_table[_i].alg);
    expect_code(cis2_jws_verify(jws, jwks, allow, &err, g_pool), &err,
                sig_table[_i].code, sig_table[_i].name);
}
END_TEST

/* The alg check must come before the key lookup: an HS256 token with an
 * unknown kid is CIS2_E_ALG, not CIS2_E_KID_UNKNOWN (no JWKS refetch). */
START_TEST(alg_refused_before_key_lookup)
{
    jwtmint_opts_t o = { .alg = "HS256", .kid = "no-such-kid",
                         .hmac_key = SECRET, .hmac_key_len = strlen(SECRET) };
    const cis2_err_t *err = NULL;
    cis2_jws_t *jws = parse_ok(mint(&o, payload_text(NULL)));

    expect_code(cis2_jws_verify(jws, load_jwks("jwks.json"), NULL, &err,
                                g_pool), &err, CIS2_E_ALG, "HS256 unknown kid");
    /* and with no JWKS at all */
    err = NULL;
    expect_code(cis2_jws_verify(jws, NULL, NULL, &err, g_pool), &err,
                CIS2_E_ALG, "HS256 no JWKS");
}
END_TEST

/* Several threads verify with one JWKS at once, as httpd's workers do:
 * RS256 and PS256 through the key's ready contexts (copied per token),
 * PS512 through one set up per token, and a tampered RS256 token each
 * time refused. Each thread gets its own pool; the set is shared. */
typedef struct verify_job {
    const cis2_jwks_t *jwks;
    const apr_array_header_t *allow;
    const char *good[3], *bad;
    int failures;
} verify_job;

static void *APR_THREAD_FUNC verify_thread(apr_thread_t *t, void *data)
{
    verify_job *j = data;
    apr_pool_t *p;
    const cis2_err_t *err;
    cis2_jws_t *jws;
    int i, k;

    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    for (i = 0; i < 100; i++) {
        for (k = 0; k < 4; k++) {
            const char *tok = k < 3 ? j->good[k] : j->bad;

            err = NULL;
            if (cis2_jws_parse(&jws, tok, strlen(tok), 0, &err, p)
                != APR_SUCCESS
                || (cis2_jws_verify(jws, j->jwks, j->allow, &err, p)
                    == APR_SUCCESS) != (k < 3)) {
                j->failures++;
            }
        }
        apr_pool_clear(p);
    }
    apr_pool_destroy(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

START_TEST(verify_from_several_threads)
{
    jwtmint_opts_t o = { .kid = KID1 };
    verify_job jobs[8];
    apr_thread_t *th[8];
    apr_status_t trv;
    const char *algs3[3] = {"RS256", "PS256", "PS512"};
    int i;

    o.key_file = key_file("key1.pem");
    memset(jobs, 0, sizeof(jobs));
    jobs[0].jwks = load_jwks("jwks.json");
    jobs[0].allow = algs("RS256", "PS256");
    *(const char **)apr_array_push((apr_array_header_t *)jobs[0].allow) =
        "PS512";
    for (i = 0; i < 3; i++) {
        o.alg = algs3[i];
        jobs[0].good[i] = mint(&o, payload_text(NULL));
    }
    o.alg = "RS256";
    o.flags = JWTMINT_TAMPER;
    jobs[0].bad = mint(&o, payload_text(NULL));
    for (i = 1; i < 8; i++) {
        jobs[i] = jobs[0];
    }
    for (i = 0; i < 8; i++) {
        ck_assert_int_eq(apr_thread_create(&th[i], NULL, verify_thread,
                                           &jobs[i], g_pool), APR_SUCCESS);
    }
    for (i = 0; i < 8; i++) {
        apr_thread_join(&trv, th[i]);
        ck_assert_int_eq(jobs[i].failures, 0);
    }
}
END_TEST

/* Splice parts of two good tokens: the signature covers header and payload
 * as transmitted. */
START_TEST(swapped_parts_do_not_verify)
{
    jwtmint_opts_t o = { .alg = "RS256", .kid = KID1 };
    cis2_jwks_t *jwks = load_jwks("jwks.json");
    const cis2_err_t *err = NULL;
    const char *a, *b, *spliced;
    const char *a_dot1, *a_dot2, *b_dot1, *b_dot2;

    o.key_file = key_file("key1.pem");
    a = mint(&o, payload_text(NULL));
    b = mint(&o, payload_text("{\"sub\":\"999999999999\"}"));
    a_dot1 = strchr(a, '.');
    a_dot2 = strrchr(a, '.');
    b_dot1 = strchr(b, '.');
    b_dot2 = strrchr(b, '.');
    /* a's header and signature, b's payload */
    spliced = apr_pstrcat(g_pool, apr_pstrndup(g_pool, a, a_dot1 - a),
                          apr_pstrndup(g_pool, b_dot1, b_dot2 - b_dot1),
                          a_dot2, NULL);
    expect_code(cis2_jws_verify(parse_ok(spliced), jwks, NULL, &err, g_pool),
                &err, CIS2_E_SIGNATURE, "payload swapped");

    /* a's header re-encoded as RS512, a's payload and signature */
    o.alg = "RS512";
    b = mint(&o, payload_text(NULL));
    b_dot1 = strchr(b, '.');
    spliced = apr_pstrcat(g_pool, apr_pstrndup(g_pool, b, b_dot1 - b),
                          a_dot1, NULL);
    err = NULL;
    expect_code(cis2_jws_verify(parse_ok(spliced), jwks, NULL, &err, g_pool),
                &err, CIS2_E_SIGNATURE, "header swapped");

    /* two extra base64url characters on the signature */
    spliced = apr_pstrcat(g_pool, a, "AA", NULL);
    err = NULL;
    expect_code(cis2_jws_verify(parse_ok(spliced), jwks, NULL, &err, g_pool),
                &err, CIS2_E_SIGNATURE, "signature too long");
}
END_TEST

START_TEST(good_token_end_to_end)
{
    jwtmint_opts_t o = { .alg = "RS256", .kid = KID1, .typ = "JWT" };
    cis2_id_token_expect_t ex = {
        .issuer = ISS, .client_id = CLIENT, .nonce = NONCE,
        .now = apr_time_from_sec(NOW), .skew = apr_time_from_sec(60),
        .max_iat_age = apr_time_from_sec(600)
    };
    const cis2_err_t *err = NULL;
    const char *t;
    cis2_jws_t *jws;

    o.key_file = key_file("key1.pem");
    t = mint(&o, payload_text(NULL));
    jws = parse_ok(t);
    ck_assert_str_eq(jws->alg, "RS256");
    ck_assert_str_eq(jws->kid, KID1);
    ck_assert_str_eq(jws->typ, "JWT");
    ck_assert_uint_eq(jws->compact_len, strlen(t));
    ck_assert_str_eq(jws->compact, t);
    ck_assert(json_is_object(jws->payload));
    ck_assert(json_is_object(jws->header));
    expect_code(cis2_jws_verify(jws, load_jwks("jwks.json"), NULL, &err,
                                g_pool), &err, CIS2_E_NONE, "verify");
    expect_code(cis2_jwt_check_id_token(jws->payload, &ex, &err, g_pool),
                &err, CIS2_E_NONE, "claims");
    /* the parse keeps what verification needs: the signed bytes and the
     * decoded signature (2048-bit key: 256 bytes) */
    ck_assert_uint_eq(jws->signed_len,
                      (apr_size_t)(strrchr(t, '.') - t));
    ck_assert_uint_eq(jws->sig_len, 256);
}
END_TEST

/* A cis2_jws_t built by hand (no decoded signature): verification finds
 * and decodes the signature part itself, and still refuses a bad one. */
START_TEST(verify_without_parsed_signature)
{
    jwtmint_opts_t o = { .alg = "RS256", .kid = KID1 };
    const cis2_err_t *err = NULL;
    cis2_jws_t copy, *jws;
    char *bad;

    o.key_file = key_file("key1.pem");
    jws = parse_ok(mint(&o, payload_text(NULL)));
    copy = *jws;
    copy.sig = NULL;
    copy.sig_len = 0;
    copy.signed_len = 0;
    expect_code(cis2_jws_verify(&copy, load_jwks("jwks.json"), NULL, &err,
                                g_pool), &err, CIS2_E_NONE, "by hand");
    /* the last signature character changed: another signature */
    bad = apr_pstrdup(g_pool, jws->compact);
    bad[copy.compact_len - 2] = bad[copy.compact_len - 2] == 'A' ? 'B' : 'A';
    copy.compact = bad;
    expect_code(cis2_jws_verify(&copy, load_jwks("jwks.json"), NULL, &err,
                                g_pool), &err, CIS2_E_SIGNATURE, "tampered");
    /* a signature part that is not base64url */
    bad[copy.compact_len - 1] = '*';
    expect_code(cis2_jws_verify(&copy, load_jwks("jwks.json"), NULL, &err,
                                g_pool), &err, CIS2_E_JWS_FORMAT, "garbage");
}
END_TEST

/* ---- compact parsing ----------------------------------------------------- */

/* Expand {h}, {p}, {s} in a template with the parts of a good token. */
static const char *expand(const char *tmpl, const char *h, const char *p,
                          const char *s)
{
    const char *out = "";

    while (*tmpl) {
        if (strncmp(tmpl, "{h}", 3) == 0) {
            out = apr_pstrcat(g_pool, out, h, NULL);
            tmpl += 3;
        }
        else if (strncmp(tmpl, "{p}", 3) == 0) {
            out = apr_pstrcat(g_pool, out, p, NULL);
            tmpl += 3;
        }
        else if (strncmp(tmpl, "{s}", 3) == 0) {
            out = apr_pstrcat(g_pool, out, s, NULL);
            tmpl += 3;
        }
        else {
            out = apr_pstrcat(g_pool, out,
                              apr_pstrndup(g_pool, tmpl, 1), NULL);
            tmpl++;
        }
    }
    return out;
}

static const struct {
    const char *tmpl;
    int code;
} compact_table[] = {
    { "{h}.{p}.{s}", CIS2_E_NONE },
    { "{h}.{p}", CIS2_E_JWS_FORMAT },               /* two parts */
    { "{h}.{p}.{s}.{s}", CIS2_E_JWS_FORMAT },       /* four parts */
    { "{h}.{p}.{s}.", CIS2_E_JWS_FORMAT },
    { "{h}.{p}.{s}.{p}.{s}", CIS2_E_JWS_FORMAT },   /* five (JWE-like) */
    { ".{p}.{s}", CIS2_E_JWS_FORMAT },              /* empty parts */
    { "{h}..{s}", CIS2_E_JWS_FORMAT },
    { "{h}.{p}.", CIS2_E_JWS_FORMAT },
    { "..", CIS2_E_JWS_FORMAT },
    { ".", CIS2_E_JWS_FORMAT },
    { "{h}", CIS2_E_JWS_FORMAT },
    { "{h}.{p}.{s}=", CIS2_E_JWS_FORMAT },          /* padding junk */
    { "{h}.{p}.{s}==", CIS2_E_JWS_FORMAT },
    { "{h}=.{p}.{s}", CIS2_E_JWS_FORMAT },
    { "{h}.{p}=.{s}", CIS2_E_JWS_FORMAT },
    { "{h}.{p}.+{s}", CIS2_E_JWS_FORMAT },          /* standard base64 */
    { "{h}.{p}/.{s}", CIS2_E_JWS_FORMAT },
    { "{h}.{p}.{s}\n", CIS2_E_JWS_FORMAT },         /* whitespace */
    { " {h}.{p}.{s}", CIS2_E_JWS_FORMAT },
    { "{h}.{p} .{s}", CIS2_E_JWS_FORMAT },
    { "{h}.{p}.{s}%3D", CIS2_E_JWS_FORMAT },
    { "\"{h}.{p}.{s}\"", CIS2_E_JWS_FORMAT },
    { "e.{p}.{s}", CIS2_E_JWS_FORMAT },             /* impossible length */
    { "eyJ.{p}.{s}", CIS2_E_JWS_FORMAT },           /* non-zero tail bits */
    { "{h}.{p}.{s}AA", CIS2_E_NONE },               /* parses; never verifies */
};

START_TEST(compact_table_cases)
{
    jwtmint_opts_t o = { .alg = "RS256", .kid = KID1 };
    const cis2_err_t *err = NULL;
    cis2_jws_t *jws = NULL;
    const char *t, *d1, *d2, *in;

    o.key_file = key_file("key1.pem");
    t = mint(&o, payload_text(NULL));
    d1 = strchr(t, '.');
    d2 = strrchr(t, '.');
    in = expand(compact_table[_i].tmpl, apr_pstrndup(g_pool, t, d1 - t),
                apr_pstrndup(g_pool, d1 + 1, d2 - d1 - 1), d2 + 1);
    expect_code(cis2_jws_parse(&jws, in, strlen(in), 0, &err, g_pool), &err,
                compact_table[_i].code, compact_table[_i].tmpl);
    if (compact_table[_i].code != CIS2_E_NONE) {
        ck_assert_ptr_null(jws);
    }
}
END_TEST

START_TEST(embedded_nul_is_malformed)
{
    jwtmint_opts_t o = { .alg = "RS256", .kid = KID1 };
    const cis2_err_t *err = NULL;
    cis2_jws_t *jws = NULL;
    const char *t;
    char *buf;
    apr_size_t n;

    o.key_file = key_file("key1.pem");
    t = mint(&o, payload_text(NULL));
    n = strlen(t);
    buf = apr_pstrmemdup(g_pool, t, n);
    buf[n / 2] = '\0';
    expect_code(cis2_jws_parse(&jws, buf, n, 0, &err, g_pool), &err,
                CIS2_E_JWS_FORMAT, "NUL inside");
    expect_code(cis2_jws_parse(&jws, NULL, 0, 0, &err, g_pool), &err,
                CIS2_E_JWS_FORMAT, "NULL");
    expect_code(cis2_jws_parse(&jws, "", 0, 0, &err, g_pool), &err,
                CIS2_E_JWS_FORMAT, "empty");
}
END_TEST

static const struct {
    const char *name;
    const char *header;     /* raw header text */
    const char *payload;    /* raw payload text; NULL = good claims */
    int code;
} content_table[] = {
    { "header not JSON", "not json", NULL, CIS2_E_JSON },
    { "header JSON array", "[\"RS256\"]", NULL, CIS2_E_JSON },
    { "header JSON string", "\"RS256\"", NULL, CIS2_E_JSON },
    { "header null", "null", NULL, CIS2_E_JSON },
    { "header trailing garbage", "{\"alg\":\"RS256\"}x", NULL, CIS2_E_JSON },
    { "header duplicate alg", "{\"alg\":\"none\",\"alg\":\"RS256\"}", NULL,
      CIS2_E_JSON },
    { "header alg missing", "{\"kid\":\"" KID1 "\"}", NULL,
      CIS2_E_JWS_FORMAT },
    { "header empty object", "{}", NULL, CIS2_E_JWS_FORMAT },
    { "header alg number", "{\"alg\":256}", NULL, CIS2_E_JWS_FORMAT },
    { "header alg null", "{\"alg\":null}", NULL, CIS2_E_JWS_FORMAT },
    { "header alg array", "{\"alg\":[\"RS256\"]}", NULL, CIS2_E_JWS_FORMAT },
    { "header crit present", "{\"alg\":\"RS256\",\"crit\":[\"exp\"],"
      "\"exp\":1}", NULL, CIS2_E_JWS_FORMAT },
    { "header crit empty", "{\"alg\":\"RS256\",\"crit\":[]}", NULL,
      CIS2_E_JWS_FORMAT },
    { "header crit b64", "{\"alg\":\"RS256\",\"b64\":false,"
      "\"crit\":[\"b64\"]}", NULL, CIS2_E_JWS_FORMAT },
    { "header kid number", "{\"alg\":\"RS256\",\"kid\":1}", NULL,
      CIS2_E_JWS_FORMAT },
    { "header typ object", "{\"alg\":\"RS256\",\"typ\":{}}", NULL,
      CIS2_E_JWS_FORMAT },
    { "header alg none parses", "{\"alg\":\"none\"}", NULL, CIS2_E_NONE },
    { "payload JSON array", "{\"alg\":\"RS256\"}", "[{\"sub\":\"x\"}]",
      CIS2_E_JSON },
    { "payload JSON string", "{\"alg\":\"RS256\"}", "\"x\"", CIS2_E_JSON },
    { "payload number", "{\"alg\":\"RS256\"}", "1", CIS2_E_JSON },
    { "payload not JSON", "{\"alg\":\"RS256\"}", "sub=x", CIS2_E_JSON },
    { "payload bad token", "{\"alg\":\"RS256\"}",
      "{\"sub\":\"x\",\"nonce\":secretnonce}", CIS2_E_JSON },
    { "header bad token", "{\"alg\":RS256secret}", NULL, CIS2_E_JSON },
    { "payload duplicate sub", "{\"alg\":\"RS256\"}",
      "{\"sub\":\"a\",\"sub\":\"b\"}", CIS2_E_JSON },
    { "payload deeply nested", "{\"alg\":\"RS256\"}",
      "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]"
      "]]]]]]]]]]]]]]]]]]]]]}", CIS2_E_JSON },
    { "payload empty object parses", "{\"alg\":\"RS256\"}", "{}",
      CIS2_E_NONE },
};

START_TEST(content_table_cases)
{
    jwtmint_opts_t o = { .sign_alg = "RS256" };
    const cis2_err_t *err = NULL;
    cis2_jws_t *jws = NULL;
    apr_status_t rv;
    const char *t;

    o.header_raw = content_table[_i].header;
    o.key_file = key_file("key1.pem");
    t = mint(&o, content_table[_i].payload ? content_table[_i].payload
                                           : payload_text(NULL));
    rv = cis2_jws_parse(&jws, t, strlen(t), 0, &err, g_pool);
    if (rv != APR_SUCCESS && err != NULL) {
        /* jansson quotes the input in its errors: never pass that on */
        ck_assert_ptr_null(strstr(err->detail, "secret"));
        ck_assert_ptr_null(strstr(err->detail, "sub="));
    }
    expect_code(rv, &err, content_table[_i].code, content_table[_i].name);
}
END_TEST

START_TEST(alg_none_without_signature_part)
{
    jwtmint_opts_t o = { .alg = "none", .kid = KID1 };
    const cis2_err_t *err = NULL;
    cis2_jws_t *jws = NULL;
    const char *t = mint(&o, payload_text(NULL));

    ck_assert_int_eq(t[strlen(t) - 1], '.');
    expect_code(cis2_jws_parse(&jws, t, strlen(t), 0, &err, g_pool), &err,
                CIS2_E_JWS_FORMAT, "none, h.p.");
    /* RS256 in the header, no signature: still malformed */
    o.alg = "RS256";
    o.flags = JWTMINT_NO_SIG;
    t = mint(&o, payload_text(NULL));
    expect_code(cis2_jws_parse(&jws, t, strlen(t), 0, &err, g_pool), &err,
                CIS2_E_JWS_FORMAT, "RS256, h.p.");
}
END_TEST

START_TEST(oversized_token)
{
    jwtmint_opts_t o = { .alg = "RS256", .kid = KID1 };
    const cis2_err_t *err = NULL;
    cis2_jws_t *jws = NULL;
    apr_size_t n = CIS2_MAX_JWT;
    char *big = apr_palloc(g_pool, n + 1);
    const char *t;

    /* a 256 KiB claim makes a token over CIS2_MAX_JWT */
    memset(big, 'a', n);
    big[n] = '\0';
    o.key_file = key_file("key1.pem");
    t = mint(&o, apr_psprintf(g_pool, "{\"sub\":\"x\",\"pad\":\"%s\"}", big));
    ck_assert_uint_gt(strlen(t), CIS2_MAX_JWT);
    expect_code(cis2_jws_parse(&jws, t, strlen(t), 0, &err, g_pool), &err,
                CIS2_E_TOO_LARGE, "default cap");

    /* an explicit smaller cap */
    t = mint(&o, payload_text(NULL));
    expect_code(cis2_jws_parse(&jws, t, strlen(t), 100, &err, g_pool), &err,
                CIS2_E_TOO_LARGE, "cap 100");
    expect_code(cis2_jws_parse(&jws, t, strlen(t), strlen(t), &err, g_pool),
                &err, CIS2_E_NONE, "cap = length");
}
END_TEST

/* ---- ID token claims ----------------------------------------------------- */

#define OTHER_ISS "https://am.nhsint.auth-ptl.cis2.spineservices.nhs.uk:443" \
                  "/openam/oauth2/realms/root/realms/NHSIdentity/realms/Other"

static const struct {
    const char *name;
    const char *patch;      /* merge patch on the good claims */
    const char *issuer;     /* expected issuer; NULL = ISS */
    int no_nonce;           /* expect no nonce (not checked) */
    int code;
} claims_table[] = {
    { "good", NULL, NULL, 0, CIS2_E_NONE },
    { "good without azp", "{\"azp\":null}", NULL, 0, CIS2_E_NONE },
    { "good with extra claims", "{\"amr\":[\"N3_SMARTCARD\"],"
      "\"id_assurance_level\":\"3\",\"x\":{\"y\":[1,2]}}", NULL, 0,
      CIS2_E_NONE },
    /* iss (step 2): byte for byte */
    { "wrong iss", "{\"iss\":\"" OTHER_ISS "\"}", NULL, 0, CIS2_E_ISS },
    { "iss without :443, expected with", "{\"iss\":\"" ISS_NO_PORT "\"}",
      NULL, 0, CIS2_E_ISS },
    { "iss with :443, expected without", NULL, ISS_NO_PORT, 0, CIS2_E_ISS },
    { "iss without :443 matches when expected so",
      "{\"iss\":\"" ISS_NO_PORT "\"}", ISS_NO_PORT, 0, CIS2_E_NONE },
    { "iss trailing slash", "{\"iss\":\"" ISS "/\"}", NULL, 0, CIS2_E_ISS },
    { "expected iss has the trailing slash", NULL, ISS "/", 0, CIS2_E_ISS },
    { "iss case difference", "{\"iss\":\"https://AM.nhsint.auth-ptl.cis2."
      "spineservices.nhs.uk:443/openam/oauth2/realms/root/realms/"
      "NHSIdentity/realms/Healthcare\"}", NULL, 0, CIS2_E_ISS },
    { "iss path case difference", "{\"iss\":\"https://am.nhsint.auth-ptl."
      "cis2.spineservices.nhs.uk:443/openam/oauth2/realms/root/realms/"
      "NHSIdentity/realms/healthcare\"}", NULL, 0, CIS2_E_ISS },
    { "iss http", "{\"iss\":\"http://am.nhsint.auth-ptl.cis2."
      "spineservices.nhs.uk:443/openam/oauth2/realms/root/realms/"
      "NHSIdentity/realms/Healthcare\"}", NULL, 0, CIS2_E_ISS },
    { "iss missing", "{\"iss\":null}", NULL, 0, CIS2_E_ISS },
    { "iss not a string", "{\"iss\":[\"" ISS "\"]}", NULL, 0, CIS2_E_ISS },
    { "iss empty", "{\"iss\":\"\"}", NULL, 0, CIS2_E_ISS },
    /* aud and azp (steps 3-5) */
    { "wrong aud", "{\"aud\":\"999999999999.apps.national\"}", NULL, 0,
      CIS2_E_AUD },
    { "aud prefix of ours", "{\"aud\":\"123456789012.apps.nationa\"}", NULL,
      0, CIS2_E_AUD },
    { "aud with a suffix", "{\"aud\":\"" CLIENT "x\"}", NULL, 0,
      CIS2_E_AUD },
    { "aud missing", "{\"aud\":null}", NULL, 0, CIS2_E_AUD },
    { "aud number", "{\"aud\":123456789012}", NULL, 0, CIS2_E_AUD },
    { "aud object", "{\"aud\":{\"" CLIENT "\":true}}", NULL, 0, CIS2_E_AUD },
    { "aud empty array", "{\"aud\":[]}", NULL, 0, CIS2_E_AUD },
    { "aud array without us", "{\"aud\":[\"a\",\"b\"]}", NULL, 0,
      CIS2_E_AUD },
    { "aud array with a non-string", "{\"aud\":[\"" CLIENT "\",5]}", NULL,
      0, CIS2_E_AUD },
    { "aud array of just us, no azp", "{\"aud\":[\"" CLIENT "\"],"
      "\"azp\":null}", NULL, 0, CIS2_E_NONE },
    { "aud array with others and azp us", "{\"aud\":[\"other\",\"" CLIENT
      "\"]}", NULL, 0, CIS2_E_NONE },
    { "aud array with others, no azp", "{\"aud\":[\"" CLIENT "\",\"other\"],"
      "\"azp\":null}", NULL, 0, CIS2_E_AZP },
    { "aud array with others, azp other", "{\"aud\":[\"" CLIENT "\","
      "\"other\"],\"azp\":\"other\"}", NULL, 0, CIS2_E_AZP },
    { "azp mismatch", "{\"azp\":\"other\"}", NULL, 0, CIS2_E_AZP },
    { "azp not a string", "{\"azp\":[\"" CLIENT "\"]}", NULL, 0,
      CIS2_E_AZP },
    /* exp (step 9) */
    { "expired", "{\"exp\":1750524000}", NULL, 0, CIS2_E_EXPIRED },
    { "expired by skew+1 s", "{\"exp\":1750524939}", NULL, 0,
      CIS2_E_EXPIRED },
    { "expired exactly at now-skew", "{\"exp\":1750524940}", NULL, 0,
      CIS2_E_EXPIRED },
    { "expired within skew is accepted", "{\"exp\":1750524941}", NULL, 0,
      CIS2_E_NONE },
    { "exp missing", "{\"exp\":null}", NULL, 0, CIS2_E_CLAIM_MISSING },
    { "exp 1e300", "{\"exp\":1e300}", NULL, 0, CIS2_E_CLAIM_INVALID },
    { "exp string", "{\"exp\":\"1750528600\"}", NULL, 0,
      CIS2_E_CLAIM_INVALID },
    { "exp negative", "{\"exp\":-1}", NULL, 0, CIS2_E_CLAIM_INVALID },
    { "exp 2^40", "{\"exp\":1099511627776}", NULL, 0, CIS2_E_CLAIM_INVALID },
    { "exp 2^63-1", "{\"exp\":9223372036854775807}", NULL, 0,
      CIS2_E_CLAIM_INVALID },
    { "exp true", "{\"exp\":true}", NULL, 0, CIS2_E_CLAIM_INVALID },
    { "exp real in range", "{\"exp\":1750528600.5}", NULL, 0, CIS2_E_NONE },
    /* iat (step 10) */
    { "iat missing", "{\"iat\":null}", NULL, 0, CIS2_E_CLAIM_MISSING },
    { "iat string", "{\"iat\":\"now\"}", NULL, 0, CIS2_E_CLAIM_INVALID },
    { "iat in the future", "{\"iat\":1750525061}", NULL, 0,
      CIS2_E_IAT_FUTURE },
    { "iat in the future within skew", "{\"iat\":1750525060}", NULL, 0,
      CIS2_E_NONE },
    { "iat too old", "{\"iat\":1750524339}", NULL, 0, CIS2_E_EXPIRED },
    { "iat old but within age+skew", "{\"iat\":1750524340}", NULL, 0,
      CIS2_E_NONE },
    { "iat 1e300", "{\"iat\":1e300}", NULL, 0, CIS2_E_CLAIM_INVALID },
    /* nbf */
    { "nbf in the future", "{\"nbf\":1750525061}", NULL, 0,
      CIS2_E_NOT_YET_VALID },
    { "nbf within skew", "{\"nbf\":1750525060}", NULL, 0, CIS2_E_NONE },
    { "nbf past", "{\"nbf\":1750524000}", NULL, 0, CIS2_E_NONE },
    { "nbf invalid", "{\"nbf\":\"soon\"}", NULL, 0, CIS2_E_CLAIM_INVALID },
    /* nonce (step 11) */
    { "nonce mismatch", "{\"nonce\":\"n-other\"}", NULL, 0, CIS2_E_NONCE },
    { "nonce prefix", "{\"nonce\":\"n-0S6_WzA2Mj\"}", NULL, 0, CIS2_E_NONCE },
    { "nonce with a suffix", "{\"nonce\":\"" NONCE "x\"}", NULL, 0,
      CIS2_E_NONCE },
    { "nonce missing", "{\"nonce\":null}", NULL, 0, CIS2_E_NONCE },
    { "nonce not a string", "{\"nonce\":1}", NULL, 0, CIS2_E_NONCE },
    { "nonce empty", "{\"nonce\":\"\"}", NULL, 0, CIS2_E_NONCE },
    { "nonce not expected, absent", "{\"nonce\":null}", NULL, 1,
      CIS2_E_NONE },
    /* sub */
    { "sub missing", "{\"sub\":null}", NULL, 0, CIS2_E_CLAIM_MISSING },
    { "sub number", "{\"sub\":555012345678}", NULL, 0,
      CIS2_E_CLAIM_INVALID },
    { "sub array", "{\"sub\":[\"555012345678\"]}", NULL, 0,
      CIS2_E_CLAIM_INVALID },
    { "sub empty", "{\"sub\":\"\"}", NULL, 0, CIS2_E_CLAIM_INVALID },
    { "sub with a newline", "{\"sub\":\"5550\\n12345678\"}", NULL, 0,
      CIS2_E_CLAIM_INVALID },
    { "sub with CR", "{\"sub\":\"555012345678\\r\"}", NULL, 0,
      CIS2_E_CLAIM_INVALID },
    { "sub with a tab", "{\"sub\":\"\\t555012345678\"}", NULL, 0,
      CIS2_E_CLAIM_INVALID },
    { "sub with DEL", "{\"sub\":\"555012345678\\u007f\"}", NULL, 0,
      CIS2_E_CLAIM_INVALID },
    { "sub with ESC", "{\"sub\":\"\\u001b[31m\"}", NULL, 0,
      CIS2_E_CLAIM_INVALID },
    { "sub non-ASCII is fine", "{\"sub\":\"j\\u00f6rg\"}", NULL, 0,
      CIS2_E_NONE },
};

START_TEST(claims_table_cases)
{
    cis2_id_token_expect_t ex = {
        .issuer = claims_table[_i].issuer ? claims_table[_i].issuer : ISS,
        .client_id = CLIENT,
        .nonce = claims_table[_i].no_nonce ? NULL : NONCE,
        .now = apr_time_from_sec(NOW), .skew = apr_time_from_sec(60),
        .max_iat_age = apr_time_from_sec(600)
    };
    const char *text = payload_text(claims_table[_i].patch);
    json_t *claims = json_loads(text, 0, NULL);
    const cis2_err_t *err = NULL;
    apr_status_t rv;

    ck_assert_ptr_nonnull(claims);
    rv = cis2_jwt_check_id_token(claims, &ex, &err, g_pool);
    json_decref(claims);
    if (rv != APR_SUCCESS && err != NULL) {
        /* detail names the problem, never echoes claim values */
        ck_assert_ptr_null(strstr(err->detail, "555012345678"));
        ck_assert_ptr_null(strstr(err->detail, NONCE));
        ck_assert_ptr_null(strstr(err->detail, "other"));
        ck_assert_ptr_null(strstr(err->detail, "Other"));
    }
    expect_code(rv, &err, claims_table[_i].code, claims_table[_i].name);
}
END_TEST

static json_t *claims_with_sub(const char *sub)
{
    json_t *c = json_loads(payload_text(NULL), 0, NULL);

    json_object_set_new(c, "sub", json_string(sub));
    return c;
}

START_TEST(sub_length_limit)
{
    cis2_id_token_expect_t ex = {
        .issuer = ISS, .client_id = CLIENT, .nonce = NONCE,
        .now = apr_time_from_sec(NOW), .skew = apr_time_from_sec(60)
    };
    const cis2_err_t *err = NULL;
    char s[257];
    json_t *c;
    apr_status_t rv;

    memset(s, 'a', 256);
    s[256] = '\0';
    c = claims_with_sub(s);
    rv = cis2_jwt_check_id_token(c, &ex, &err, g_pool);
    json_decref(c);
    expect_code(rv, &err, CIS2_E_CLAIM_INVALID, "sub 256 bytes");

    s[255] = '\0';
    c = claims_with_sub(s);
    rv = cis2_jwt_check_id_token(c, &ex, &err, g_pool);
    json_decref(c);
    expect_code(rv, &err, CIS2_E_NONE, "sub 255 bytes");
}
END_TEST

START_TEST(max_iat_age_zero_means_no_limit)
{
    cis2_id_token_expect_t ex = {
        .issuer = ISS, .client_id = CLIENT, .nonce = NONCE,
        .now = apr_time_from_sec(NOW), .skew = apr_time_from_sec(60),
        .max_iat_age = 0
    };
    const cis2_err_t *err = NULL;
    json_t *c = json_loads(payload_text("{\"iat\":1000000000}"), 0, NULL);
    apr_status_t rv = cis2_jwt_check_id_token(c, &ex, &err, g_pool);

    json_decref(c);
    expect_code(rv, &err, CIS2_E_NONE, "old iat, no age limit");
}
END_TEST

START_TEST(missing_expectations_are_config_errors)
{
    cis2_id_token_expect_t ex = { .client_id = CLIENT,
                                  .now = apr_time_from_sec(NOW) };
    const cis2_err_t *err = NULL;
    json_t *c = json_loads(payload_text(NULL), 0, NULL);
    apr_status_t rv = cis2_jwt_check_id_token(c, &ex, &err, g_pool);

    expect_code(rv, &err, CIS2_E_CONFIG, "no issuer");
    rv = cis2_jwt_check_id_token(c, NULL, &err, g_pool);
    expect_code(rv, &err, CIS2_E_CONFIG, "no expectations");
    json_decref(c);
}
END_TEST

/* ---- memory -------------------------------------------------------------- */

/* Parse the JWKS, parse and verify a token, and check its claims 1000 times
 * in a subpool, good and tampered alternately; destroying the subpool must
 * release every cjose key and jansson value (valgrind checks the rest). */
START_TEST(thousand_verifications_in_a_subpool)
{
    jwtmint_opts_t o = { .alg = "RS256", .kid = KID1 };
    cis2_id_token_expect_t ex = {
        .issuer = ISS, .client_id = CLIENT, .nonce = NONCE,
        .now = apr_time_from_sec(NOW), .skew = apr_time_from_sec(60)
    };
    apr_size_t jlen;
    const char *jwks_json = cis2_test_slurp("jwks.json", &jlen);
    const char *good, *bad;
    apr_pool_t *sub;
    int i;

    o.key_file = key_file("key1.pem");
    good = mint(&o, payload_text(NULL));
    o.flags = JWTMINT_TAMPER;
    bad = mint(&o, payload_text(NULL));
    apr_pool_create(&sub, g_pool);
    for (i = 0; i < 1000; i++) {
        const char *t = (i % 2) ? bad : good;
        cis2_jwks_t *jwks = NULL;
        cis2_jws_t *jws = NULL;
        const cis2_err_t *err = NULL;
        apr_status_t rv;

        ck_assert_int_eq(cis2_jwks_parse(&jwks, jwks_json, jlen, &err, sub),
                         APR_SUCCESS);
        ck_assert_int_eq(cis2_jws_parse(&jws, t, strlen(t), 0, &err, sub),
                         APR_SUCCESS);
        rv = cis2_jws_verify(jws, jwks, NULL, &err, sub);
        if (i % 2) {
            ck_assert_int_eq(err->code, CIS2_E_SIGNATURE);
        }
        else {
            ck_assert_int_eq(rv, APR_SUCCESS);
            ck_assert_int_eq(cis2_jwt_check_id_token(jws->payload, &ex, &err,
                                                     sub), APR_SUCCESS);
        }
    }
    apr_pool_destroy(sub);
}
END_TEST

/* ---- logout tokens (Back-Channel Logout 1.0 §2.6, CIS2.md §11) --------- */

#define BCL_EVENTS "{\"" CIS2_BCL_EVENT "\":{}}"

/* A good CIS2 logout token payload with a merge patch applied. */
static const char *logout_text(const char *patch)
{
    json_t *c = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:o}",
                          "iss", ISS, "aud", CLIENT, "sub", "555012345678",
                          "iat", (json_int_t)(NOW - 10),
                          "exp", (json_int_t)(NOW + 110),
                          "jti", "7d1e4f0a-2b3c-4d5e-8f90-a1b2c3d4e5f6",
                          "sid", "f2b1c7e0-9c1e-4a5d-9b2e-2d7c3a1f0e11",
                          "events", json_loads(BCL_EVENTS, 0, NULL));
    char *s;
    const char *out;

    if (patch != NULL) {
        json_error_t jerr;
        json_t *pj = json_loads(patch, JSON_ALLOW_NUL, &jerr);
        const char *k;
        json_t *v;

        ck_assert_msg(json_is_object(pj), "bad patch %s: %s", patch,
                      jerr.text);
        json_object_foreach(pj, k, v) {
            if (json_is_null(v)) {
                json_object_del(c, k);
            }
            else {
                json_object_set(c, k, v);
            }
        }
        json_decref(pj);
    }
    s = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    out = apr_pstrdup(g_pool, s);
    free(s);
    return out;
}

static const struct {
    const char *name;
    const char *patch;
    int code;
} logout_table[] = {
    { "good: sub and sid", NULL, CIS2_E_NONE },
    { "good: sid only", "{\"sub\":null}", CIS2_E_NONE },
    { "good: sub only", "{\"sid\":null}", CIS2_E_NONE },
    { "good: no exp (optional at CIS2)", "{\"exp\":null}", CIS2_E_NONE },
    { "good: no jti", "{\"jti\":null}", CIS2_E_NONE },
    { "good: aud array with us", "{\"aud\":[\"" CLIENT "\"]}", CIS2_E_NONE },
    { "good: iat 4 min ago", "{\"iat\":1750524760}", CIS2_E_NONE },
    { "good: event with members",
      "{\"events\":{\"" CIS2_BCL_EVENT "\":{\"x\":1}}}", CIS2_E_NONE },
    { "no iss", "{\"iss\":null}", CIS2_E_ISS },
    { "iss without :443", "{\"iss\":\"" ISS_NO_PORT "\"}", CIS2_E_ISS },
    { "iss with a trailing slash", "{\"iss\":\"" ISS "/\"}", CIS2_E_ISS },
    { "iss upper-cased host", "{\"iss\":\"https://AM.nhsint.auth-ptl.cis2."
      "spineservices.nhs.uk:443/openam/oauth2/realms/root/realms/"
      "NHSIdentity/realms/Healthcare\"}", CIS2_E_ISS },
    { "iss not a string", "{\"iss\":1}", CIS2_E_ISS },
    { "no aud", "{\"aud\":null}", CIS2_E_AUD },
    { "other aud", "{\"aud\":\"999999999999.apps.national\"}", CIS2_E_AUD },
    { "aud array without us", "{\"aud\":[\"x\",\"y\"]}", CIS2_E_AUD },
    { "azp of another client", "{\"azp\":\"someone.else\"}", CIS2_E_AZP },
    { "no iat", "{\"iat\":null}", CIS2_E_CLAIM_MISSING },
    { "iat a string", "{\"iat\":\"1750525000\"}", CIS2_E_CLAIM_INVALID },
    { "iat in the future", "{\"iat\":1750525100}", CIS2_E_IAT_FUTURE },
    { "iat 7 minutes old", "{\"iat\":1750524580}", CIS2_E_EXPIRED },
    { "iat of 1970", "{\"iat\":1}", CIS2_E_EXPIRED },
    { "expired", "{\"exp\":1750524900}", CIS2_E_EXPIRED },
    { "exp a string", "{\"exp\":\"soon\"}", CIS2_E_CLAIM_INVALID },
    { "no events", "{\"events\":null}", CIS2_E_CLAIM_MISSING },
    { "events without the BCL member", "{\"events\":{\"x\":{}}}",
      CIS2_E_CLAIM_INVALID },
    { "events an array", "{\"events\":[\"" CIS2_BCL_EVENT "\"]}",
      CIS2_E_CLAIM_INVALID },
    { "event member a string", "{\"events\":{\"" CIS2_BCL_EVENT "\":\"\"}}",
      CIS2_E_CLAIM_INVALID },
    { "event member true", "{\"events\":{\"" CIS2_BCL_EVENT "\":true}}",
      CIS2_E_CLAIM_INVALID },
    { "nonce present (an ID token in disguise)", "{\"nonce\":\"" NONCE "\"}",
      CIS2_E_NONCE },
    { "empty nonce present", "{\"nonce\":\"\"}", CIS2_E_NONCE },
    { "neither sub nor sid", "{\"sub\":null,\"sid\":null}",
      CIS2_E_CLAIM_MISSING },
    { "sid a number", "{\"sid\":42}", CIS2_E_CLAIM_INVALID },
    { "empty sid", "{\"sid\":\"\"}", CIS2_E_CLAIM_INVALID },
    { "sid with a newline", "{\"sid\":\"a\\nb\"}", CIS2_E_CLAIM_INVALID },
    { "sid with a NUL", "{\"sid\":\"a\\u0000b\"}", CIS2_E_CLAIM_INVALID },
    { "sub an object", "{\"sub\":{}}", CIS2_E_CLAIM_INVALID },
    { "jti a number", "{\"jti\":7}", CIS2_E_CLAIM_INVALID },
};

START_TEST(logout_table_cases)
{
    cis2_logout_expect_t ex = {
        .issuer = ISS, .client_id = CLIENT,
        .now = apr_time_from_sec(NOW), .skew = apr_time_from_sec(60),
        .max_age = apr_time_from_sec(300)
    };
    const char *text = logout_text(logout_table[_i].patch);
    json_t *claims = json_loads(text, JSON_ALLOW_NUL, NULL);
    cis2_logout_claims_t *lc = NULL;
    const cis2_err_t *err = NULL;
    apr_status_t rv;

    ck_assert_ptr_nonnull(claims);
    rv = cis2_jwt_check_logout_token(&lc, claims, &ex, &err, g_pool);
    json_decref(claims);
    if (rv != APR_SUCCESS && err != NULL) {
        ck_assert_ptr_null(strstr(err->detail, "555012345678"));
        ck_assert_ptr_null(strstr(err->detail, "f2b1c7e0"));
    }
    expect_code(rv, &err, logout_table[_i].code, logout_table[_i].name);
}
END_TEST

START_TEST(logout_claims_are_returned)
{
    cis2_logout_expect_t ex = {
        .issuer = ISS, .client_id = CLIENT, .now = apr_time_from_sec(NOW),
        .skew = apr_time_from_sec(60), .max_age = apr_time_from_sec(300)
    };
    json_t *claims = json_loads(logout_text("{\"exp\":null}"), 0, NULL);
    cis2_logout_claims_t *lc = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_eq(cis2_jwt_check_logout_token(&lc, claims, &ex, &err,
                                                 g_pool), APR_SUCCESS);
    json_decref(claims);
    ck_assert_str_eq(lc->sub, "555012345678");
    ck_assert_str_eq(lc->sid, "f2b1c7e0-9c1e-4a5d-9b2e-2d7c3a1f0e11");
    ck_assert_str_eq(lc->jti, "7d1e4f0a-2b3c-4d5e-8f90-a1b2c3d4e5f6");
    ck_assert(lc->iat == apr_time_from_sec(NOW - 10));
    ck_assert(lc->exp == 0);
}
END_TEST

/* An ID token is not a logout token: its nonce (and missing events) gets
 * it refused, whoever signed it. */
START_TEST(id_token_is_not_a_logout_token)
{
    cis2_logout_expect_t ex = {
        .issuer = ISS, .client_id = CLIENT, .now = apr_time_from_sec(NOW),
        .skew = apr_time_from_sec(60), .max_age = apr_time_from_sec(300)
    };
    json_t *claims = json_loads(payload_text(NULL), 0, NULL);
    cis2_logout_claims_t *lc = NULL;
    const cis2_err_t *err = NULL;

    ck_assert_int_ne(cis2_jwt_check_logout_token(&lc, claims, &ex, &err,
                                                 g_pool), APR_SUCCESS);
    json_decref(claims);
    ck_assert_ptr_null(lc);
}
END_TEST

START_TEST(logout_missing_expectations_are_config_errors)
{
    cis2_logout_expect_t ex = { .issuer = ISS };
    json_t *claims = json_loads(logout_text(NULL), 0, NULL);
    cis2_logout_claims_t *lc = NULL;
    const cis2_err_t *err = NULL;
    apr_status_t rv;

    rv = cis2_jwt_check_logout_token(&lc, claims, &ex, &err, g_pool);
    json_decref(claims);
    expect_code(rv, &err, CIS2_E_CONFIG, "no client_id");
}
END_TEST

Suite *cis2_test_suite(void)
{
    Suite *s = suite_create("jwt");
    TCase *tc;

    tc = tcase_create("alg");
    cis2_test_fixture(tc);
    tcase_add_loop_test(tc, alg_supported_table, 0,
                        sizeof(alg_table) / sizeof(alg_table[0]));
    suite_add_tcase(s, tc);

    tc = tcase_create("verify");
    cis2_test_fixture(tc);
    tcase_add_loop_test(tc, signature_table, 0,
                        sizeof(sig_table) / sizeof(sig_table[0]));
    tcase_add_test(tc, alg_refused_before_key_lookup);
    tcase_add_test(tc, swapped_parts_do_not_verify);
    tcase_add_test(tc, verify_from_several_threads);
    tcase_add_test(tc, good_token_end_to_end);
    tcase_add_test(tc, verify_without_parsed_signature);
    suite_add_tcase(s, tc);

    tc = tcase_create("parse");
    cis2_test_fixture(tc);
    tcase_add_loop_test(tc, compact_table_cases, 0,
                        sizeof(compact_table) / sizeof(compact_table[0]));
    tcase_add_test(tc, embedded_nul_is_malformed);
    tcase_add_loop_test(tc, content_table_cases, 0,
                        sizeof(content_table) / sizeof(content_table[0]));
    tcase_add_test(tc, alg_none_without_signature_part);
    tcase_add_test(tc, oversized_token);
    suite_add_tcase(s, tc);

    tc = tcase_create("claims");
    cis2_test_fixture(tc);
    tcase_add_loop_test(tc, claims_table_cases, 0,
                        sizeof(claims_table) / sizeof(claims_table[0]));
    tcase_add_test(tc, sub_length_limit);
    tcase_add_test(tc, max_iat_age_zero_means_no_limit);
    tcase_add_test(tc, missing_expectations_are_config_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("logout");
    cis2_test_fixture(tc);
    tcase_add_loop_test(tc, logout_table_cases, 0,
                        sizeof(logout_table) / sizeof(logout_table[0]));
    tcase_add_test(tc, logout_claims_are_returned);
    tcase_add_test(tc, id_token_is_not_a_logout_token);
    tcase_add_test(tc, logout_missing_expectations_are_config_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("memory");
    cis2_test_fixture(tc);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, thousand_verifications_in_a_subpool);
    suite_add_tcase(s, tc);
    return s;
}
