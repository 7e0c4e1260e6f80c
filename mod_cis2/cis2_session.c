/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_session — see cis2_session.h. The binary codec for the two records
 * kept in the store (cis2_store). The decoder runs on every authenticated
 * request, so it is one bounds-checked pass with one copy per string and no
 * JSON; a value that fails any check is CIS2_E_INVALID, never an overread.
 *
 * Encoding (all integers big-endian):
 *
 *   record   := magic[3] version[1] fields...      (no trailing bytes)
 *   magic    := "C2S" (session) | "C2P" (pending login); version = 2
 *               (version 1 records, without the v2 fields, still decode)
 *   str      := 0x00                               (NULL)
 *             | 0x01 len:u32 bytes[len]            (no NUL inside)
 *   time     := i64 (apr_time_t, microseconds)
 *   int      := i32
 *
 *   session v1 := client_id:str sub:str sid:str remote_user:str
 *                 created:time auth_time:time expires:time aal:int ial:int
 *                 acr:str id_token:str
 *                 env := 0x00 (NULL) | 0x01 count:u32 (name:str value:str)*
 *   session v2 := session v1, then
 *                 roles := count:u32 (id:str code:str org:str
 *                                      acount:u32 activity:str*)*
 *                 selected_role:int
 *                 claims := count:u32 (name:str value:str)*
 *   pending v1 := client_id:str binding:str nonce:str code_verifier:str
 *                 return_url:str acr_values:str created:time
 *   pending v2 := pending v1, then required_aal:int flags:int
 *
 * A record is at most CIS2_MAX_SESSION bytes either way.
 */
#include <string.h>
#include <apr_strings.h>

#include "cis2_session.h"

#define CODEC_VERSION 2
#define MAX_ENV_COUNT 65536
#define MAX_ROLES 4096
#define MAX_ACTIVITIES 4096

static const unsigned char session_magic[4] = { 'C', '2', 'S', CODEC_VERSION };
static const unsigned char pending_magic[4] = { 'C', '2', 'P', CODEC_VERSION };

/* ---- writer: sizes first, then one allocation ---------------------------- */

typedef struct wbuf {
    apr_size_t size;           /* sizing pass: bytes needed */
    unsigned char *buf;        /* writing pass: NULL while sizing */
    apr_size_t pos;
    int too_large;
} wbuf;

static void w_bytes(wbuf *w, const void *data, apr_size_t n)
{
    if (w->too_large) {
        return;
    }
    if (w->buf == NULL) {
        /* every field is bounded by CIS2_MAX_SESSION before it is added,
         * so this sum cannot wrap */
        if (n > CIS2_MAX_SESSION || w->size + n > CIS2_MAX_SESSION) {
            w->too_large = 1;
            return;
        }
        w->size += n;
        return;
    }
    memcpy(w->buf + w->pos, data, n);
    w->pos += n;
}

static void w_u8(wbuf *w, unsigned char v)
{
    w_bytes(w, &v, 1);
}

static void w_u32(wbuf *w, apr_uint32_t v)
{
    unsigned char b[4];

    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
    w_bytes(w, b, 4);
}

static void w_i64(wbuf *w, apr_int64_t v)
{
    apr_uint64_t u = (apr_uint64_t)v;
    unsigned char b[8];
    int i;

    for (i = 7; i >= 0; i--) {
        b[i] = (unsigned char)(u & 0xff);
        u >>= 8;
    }
    w_bytes(w, b, 8);
}

static void w_str(wbuf *w, const char *s)
{
    apr_size_t n;

    if (s == NULL) {
        w_u8(w, 0);
        return;
    }
    n = strlen(s);
    if (n > CIS2_MAX_SESSION) {
        w->too_large = 1;
        return;
    }
    w_u8(w, 1);
    w_u32(w, (apr_uint32_t)n);
    w_bytes(w, s, n);
}

/* ---- reader -------------------------------------------------------------- */

typedef struct rbuf {
    const unsigned char *b;
    apr_size_t len;
    apr_size_t pos;
    int bad;                   /* sticky: any failed read spoils the record */
    int version;               /* of the record being read */
    apr_pool_t *p;
} rbuf;

static int r_need(rbuf *r, apr_size_t n)
{
    if (r->bad || r->len - r->pos < n) {
        r->bad = 1;
        return 0;
    }
    return 1;
}

static unsigned char r_u8(rbuf *r)
{
    if (!r_need(r, 1)) {
        return 0;
    }
    return r->b[r->pos++];
}

static apr_uint32_t r_u32(rbuf *r)
{
    const unsigned char *b;

    if (!r_need(r, 4)) {
        return 0;
    }
    b = r->b + r->pos;
    r->pos += 4;
    return ((apr_uint32_t)b[0] << 24) | ((apr_uint32_t)b[1] << 16)
           | ((apr_uint32_t)b[2] << 8) | (apr_uint32_t)b[3];
}

static apr_int64_t r_i64(rbuf *r)
{
    apr_uint64_t u = 0;
    int i;

    if (!r_need(r, 8)) {
        return 0;
    }
    for (i = 0; i < 8; i++) {
        u = (u << 8) | r->b[r->pos + (apr_size_t)i];
    }
    r->pos += 8;
    return (apr_int64_t)u;
}

static int r_i32(rbuf *r)
{
    return (int)(apr_int32_t)r_u32(r);
}

static const char *r_str(rbuf *r)
{
    unsigned char flag = r_u8(r);
    apr_uint32_t n;
    const char *s;

    if (r->bad) {
        return NULL;
    }
    if (flag == 0) {
        return NULL;
    }
    if (flag != 1) {
        r->bad = 1;
        return NULL;
    }
    n = r_u32(r);
    if (!r_need(r, n)) {
        return NULL;
    }
    s = (const char *)r->b + r->pos;
    if (memchr(s, '\0', n) != NULL) {
        /* a NUL would make the C string differ from what was stored */
        r->bad = 1;
        return NULL;
    }
    r->pos += n;
    return apr_pstrmemdup(r->p, s, n);
}

static apr_status_t r_start(rbuf *r, const char *buf, apr_size_t len,
                            const unsigned char magic[4],
                            const cis2_err_t **perr, apr_pool_t *p)
{
    r->b = (const unsigned char *)buf;
    r->len = len;
    r->pos = 0;
    r->bad = 0;
    r->p = p;
    if (buf == NULL) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "no record");
    }
    if (len > CIS2_MAX_SESSION) {
        return cis2_err_set(perr, p, CIS2_E_TOO_LARGE,
                            "record of %" APR_SIZE_T_FMT " bytes is over "
                            "the limit", len);
    }
    if (len < 4 || memcmp(buf, magic, 3) != 0) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "not a %s record",
                            magic[2] == 'S' ? "session" : "pending-login");
    }
    if ((unsigned char)buf[3] < 1 || (unsigned char)buf[3] > magic[3]) {
        return cis2_err_set(perr, p, CIS2_E_INVALID,
                            "record version %u is not supported",
                            (unsigned)(unsigned char)buf[3]);
    }
    r->version = (unsigned char)buf[3];
    r->pos = 4;
    return APR_SUCCESS;
}

static apr_status_t r_finish(rbuf *r, const cis2_err_t **perr, apr_pool_t *p)
{
    if (r->bad) {
        return cis2_err_set(perr, p, CIS2_E_INVALID,
                            "record truncated or corrupt");
    }
    if (r->pos != r->len) {
        return cis2_err_set(perr, p, CIS2_E_INVALID,
                            "trailing bytes after the record");
    }
    return APR_SUCCESS;
}

/* ---- session ------------------------------------------------------------- */

static void w_kvs(wbuf *w, const apr_array_header_t *a)
{
    int i;

    for (i = 0; i < a->nelts && !w->too_large; i++) {
        const cis2_kv_t *kv = &APR_ARRAY_IDX(a, i, cis2_kv_t);

        w_str(w, kv->name);
        w_str(w, kv->value);
    }
}

/* v2: the authorization view (roles, selected role, scalar claims) */
static void write_authz(wbuf *w, const cis2_session_t *s)
{
    int nroles = s->roles ? s->roles->nelts : 0, i, j;
    int nclaims = s->claims ? s->claims->nelts : 0;

    if (nroles > MAX_ROLES || nclaims > MAX_ENV_COUNT) {
        w->too_large = 1;
        return;
    }
    w_u32(w, (apr_uint32_t)nroles);
    for (i = 0; i < nroles && !w->too_large; i++) {
        const cis2_role_t *r = &APR_ARRAY_IDX(s->roles, i, cis2_role_t);
        int na = r->activities ? r->activities->nelts : 0;

        if (na > MAX_ACTIVITIES) {
            w->too_large = 1;
            return;
        }
        w_str(w, r->id);
        w_str(w, r->code);
        w_str(w, r->org);
        w_u32(w, (apr_uint32_t)na);
        for (j = 0; j < na; j++) {
            w_str(w, APR_ARRAY_IDX(r->activities, j, const char *));
        }
    }
    w_u32(w, (apr_uint32_t)(apr_int32_t)(s->roles ? s->selected_role : -1));
    w_u32(w, (apr_uint32_t)nclaims);
    if (nclaims > 0) {
        w_kvs(w, s->claims);
    }
}

static void write_session(wbuf *w, const cis2_session_t *s)
{

    w_bytes(w, session_magic, sizeof(session_magic));
    w_str(w, s->client_id);
    w_str(w, s->sub);
    w_str(w, s->sid);
    w_str(w, s->remote_user);
    w_i64(w, s->created);
    w_i64(w, s->auth_time);
    w_i64(w, s->expires);
    w_u32(w, (apr_uint32_t)(apr_int32_t)s->aal);
    w_u32(w, (apr_uint32_t)(apr_int32_t)s->ial);
    w_str(w, s->acr);
    w_str(w, s->id_token);
    if (s->env == NULL) {
        w_u8(w, 0);
    }
    else if (s->env->nelts < 0 || s->env->nelts > MAX_ENV_COUNT) {
        w->too_large = 1;
        return;
    }
    else {
        w_u8(w, 1);
        w_u32(w, (apr_uint32_t)s->env->nelts);
        w_kvs(w, s->env);
    }
    write_authz(w, s);
}

apr_status_t cis2_session_encode(const char **pbuf, apr_size_t *plen,
                                 const cis2_session_t *s,
                                 const cis2_err_t **perr, apr_pool_t *p)
{
    wbuf w = { 0, NULL, 0, 0 };

    if (s == NULL) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "no session");
    }
    write_session(&w, s);
    if (w.too_large) {
        return cis2_err_set(perr, p, CIS2_E_TOO_LARGE,
                            "session record over %d bytes", CIS2_MAX_SESSION);
    }
    w.buf = apr_palloc(p, w.size);
    write_session(&w, s);
    *pbuf = (const char *)w.buf;
    *plen = w.pos;
    return APR_SUCCESS;
}

/* A count read from the record, refused when it cannot fit in what is
 * left (each element takes at least min_bytes) or is over max. */
static apr_uint32_t r_count(rbuf *r, apr_uint32_t max, apr_size_t min_bytes)
{
    apr_uint32_t n = r_u32(r);

    if (r->bad || n > max || n > (r->len - r->pos) / min_bytes) {
        r->bad = 1;
        return 0;
    }
    return n;
}

static void read_authz(rbuf *r, cis2_session_t *s)
{
    apr_uint32_t n, i, j, na;

    n = r_count(r, MAX_ROLES, 7);
    s->roles = apr_array_make(r->p, n > 0 ? (int)n : 1, sizeof(cis2_role_t));
    for (i = 0; i < n && !r->bad; i++) {
        cis2_role_t *role = apr_array_push(s->roles);

        role->id = r_str(r);
        role->code = r_str(r);
        role->org = r_str(r);
        na = r_count(r, MAX_ACTIVITIES, 1);
        role->activities = apr_array_make(r->p, na > 0 ? (int)na : 1,
                                          sizeof(const char *));
        for (j = 0; j < na && !r->bad; j++) {
            APR_ARRAY_PUSH(role->activities, const char *) = r_str(r);
        }
    }
    s->selected_role = r_i32(r);
    if (s->selected_role < -1 || s->selected_role >= (int)n) {
        r->bad = 1;
    }
    n = r_count(r, MAX_ENV_COUNT, 2);
    s->claims = apr_array_make(r->p, n > 0 ? (int)n : 1, sizeof(cis2_kv_t));
    for (i = 0; i < n && !r->bad; i++) {
        cis2_kv_t *kv = apr_array_push(s->claims);

        kv->name = r_str(r);
        kv->value = r_str(r);
    }
}

apr_status_t cis2_session_decode(cis2_session_t **ps, const char *buf,
                                 apr_size_t len, const cis2_err_t **perr,
                                 apr_pool_t *p)
{
    cis2_session_t *s;
    rbuf r;
    apr_status_t rv;

    if ((rv = r_start(&r, buf, len, session_magic, perr, p)) != APR_SUCCESS) {
        return rv;
    }
    s = apr_pcalloc(p, sizeof(*s));
    s->client_id = r_str(&r);
    s->sub = r_str(&r);
    s->sid = r_str(&r);
    s->remote_user = r_str(&r);
    s->created = r_i64(&r);
    s->auth_time = r_i64(&r);
    s->expires = r_i64(&r);
    s->aal = r_i32(&r);
    s->ial = r_i32(&r);
    s->acr = r_str(&r);
    s->id_token = r_str(&r);
    switch (r_u8(&r)) {
    case 0:
        s->env = NULL;
        break;
    case 1: {
        apr_uint32_t n = r_u32(&r), i;

        /* each pair takes at least two bytes (two NULL flags), so a count
         * beyond half the remaining bytes is a lie: refuse it before
         * allocating for it */
        if (r.bad || n > MAX_ENV_COUNT || n > (r.len - r.pos) / 2) {
            r.bad = 1;
            break;
        }
        s->env = apr_array_make(p, n > 0 ? (int)n : 1, sizeof(cis2_kv_t));
        for (i = 0; i < n && !r.bad; i++) {
            cis2_kv_t *kv = apr_array_push(s->env);

            kv->name = r_str(&r);
            kv->value = r_str(&r);
        }
        break;
    }
    default:
        r.bad = 1;
    }
    s->selected_role = -1;
    if (r.version >= 2) {
        read_authz(&r, s);
    }
    if ((rv = r_finish(&r, perr, p)) != APR_SUCCESS) {
        return rv;
    }
    *ps = s;
    return APR_SUCCESS;
}

/* ---- pending login ------------------------------------------------------- */

static void write_pending(wbuf *w, const cis2_pending_t *pl)
{
    w_bytes(w, pending_magic, sizeof(pending_magic));
    w_str(w, pl->client_id);
    w_str(w, pl->binding);
    w_str(w, pl->nonce);
    w_str(w, pl->code_verifier);
    w_str(w, pl->return_url);
    w_str(w, pl->acr_values);
    w_i64(w, pl->created);
    w_u32(w, (apr_uint32_t)(apr_int32_t)pl->required_aal);
    w_u32(w, (apr_uint32_t)(apr_int32_t)pl->flags);
}

apr_status_t cis2_pending_encode(const char **pbuf, apr_size_t *plen,
                                 const cis2_pending_t *pl,
                                 const cis2_err_t **perr, apr_pool_t *p)
{
    wbuf w = { 0, NULL, 0, 0 };

    if (pl == NULL) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "no pending login");
    }
    write_pending(&w, pl);
    if (w.too_large) {
        return cis2_err_set(perr, p, CIS2_E_TOO_LARGE,
                            "pending-login record over %d bytes",
                            CIS2_MAX_SESSION);
    }
    w.buf = apr_palloc(p, w.size);
    write_pending(&w, pl);
    *pbuf = (const char *)w.buf;
    *plen = w.pos;
    return APR_SUCCESS;
}

apr_status_t cis2_pending_decode(cis2_pending_t **ppl, const char *buf,
                                 apr_size_t len, const cis2_err_t **perr,
                                 apr_pool_t *p)
{
    cis2_pending_t *pl;
    rbuf r;
    apr_status_t rv;

    if ((rv = r_start(&r, buf, len, pending_magic, perr, p)) != APR_SUCCESS) {
        return rv;
    }
    pl = apr_pcalloc(p, sizeof(*pl));
    pl->client_id = r_str(&r);
    pl->binding = r_str(&r);
    pl->nonce = r_str(&r);
    pl->code_verifier = r_str(&r);
    pl->return_url = r_str(&r);
    pl->acr_values = r_str(&r);
    pl->created = r_i64(&r);
    pl->required_aal = -1;
    if (r.version >= 2) {
        pl->required_aal = r_i32(&r);
        pl->flags = r_i32(&r);
    }
    if ((rv = r_finish(&r, perr, p)) != APR_SUCCESS) {
        return rv;
    }
    *ppl = pl;
    return APR_SUCCESS;
}
