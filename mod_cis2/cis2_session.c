/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_session — see cis2_session.h. The binary codec for the two records
 * kept in the store (cis2_store). The decoder runs on every authenticated
 * request, so it is one bounds-checked pass with no JSON, and (version 4)
 * no copy per string: the decoded strings point into the decompressed
 * body; a value that fails any check is CIS2_E_INVALID, never an overread.
 *
 * Encoding, session versions 3 and 4 (written since issue #4's size work;
 * 4 is written, 3 still read):
 *
 *   record   := "C2S" 0x04 form
 *   form     := 0x00 body                        (stored as is)
 *             | 0x01 rawlen:uv lz4              (body, an LZ4 block made
 *                                               with dictionary 1 below)
 *   uv       := unsigned LEB128 varint (at most 10 bytes)
 *   zz       := uv of a zigzag-coded signed 64-bit value
 *   str      := head:uv, tag = head & 3, n = head >> 2:
 *               tag 0, n 0: NULL
 *               tag 1: n bytes follow                     (a literal;
 *                      version 4: then a NUL, so the decoded string
 *                      is the body's own bytes, not a copy)
 *               tag 2: the n-th string of the table        (a reference)
 *               tag 3: n bytes, idx:uv, m:uv, m bytes      (a splice:
 *                      prefix + the idx-th string + suffix)
 *     The table starts with the static strings below (variable and claim
 *     names, common values); each literal and splice is appended to it as
 *     it is read. So a value stored twice (sub, REMOTE_USER and CIS2_UID;
 *     a role's org code in every role; the claims in the authz view and
 *     as CIS2_CLAIM_*) takes a few bytes the second time, a name is one or
 *     two bytes, and CIS2_CLAIMS_JSON, which holds CIS2_ROLES_JSON's text,
 *     is stored as the text around it: decoding it is two copies, no JSON.
 *   body     := client_id sub sid remote_user:str created:uv
 *               auth_time:zz expires:zz (both relative to created)
 *               aal:zz ial:zz acr:str idt
 *               env := 0 (NULL) | count+1:uv (name:str value:str)*
 *               roles := count:uv (id:str code:str org:str
 *                                  acount:uv activity:str*)*
 *               selected_role:zz claims := count:uv (name:str value:str)*
 *   idt      := 0 (none) | 1 str (the ID token's text)
 *             | 2 (len:uv bytes[len]){3}     (its three parts, base64url-
 *                                            decoded: 3/4 of the size, and
 *                                            its JSON payload compresses
 *                                            against CIS2_CLAIMS_JSON's)
 *   The strings decoded from a record total at most CIS2_MAX_SESSION
 *   bytes, and so does the body: a splice cannot blow a small record up.
 *
 * The table and dictionary 1 are part of versions 3 and 4: never change them;
 * a new table or dictionary is a new version (or form).
 *
 * Versions 1 and 2 (all integers big-endian), still decoded (a store kept
 * across a graceful restart or in Redis holds them until they expire):
 *
 *   record   := magic[3] version[1] fields...      (no trailing bytes)
 *   magic    := "C2S" (session) | "C2P" (pending login); pending records
 *               are version 2
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
#include <apr_hash.h>

#include <pthread.h>

#include <lz4.h>

#include "cis2_session.h"
#include "cis2_util.h"

#define SESSION_VERSION 4
#define PENDING_VERSION 2
#define MAX_ENV_COUNT 65536
#define MAX_ROLES 4096
#define MAX_ACTIVITIES 4096

static const unsigned char session_magic[4] = { 'C', '2', 'S',
                                                SESSION_VERSION };
static const unsigned char pending_magic[4] = { 'C', '2', 'P',
                                                PENDING_VERSION };

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

/* ---- session, version 3 -------------------------------------------------- */

/* The static start of the string table (version 3: append nothing, change
 * nothing). Names of the variables and of common claims, and values every
 * CIS2 user shares. */
static const char *const static_strings[] = {
    "CIS2_UID", "CIS2_NAME", "CIS2_GIVEN_NAME", "CIS2_FAMILY_NAME",
    "CIS2_EMAIL", "CIS2_AAL", "CIS2_IAL", "CIS2_ACR", "CIS2_AMR",
    "CIS2_AUTH_TIME", "CIS2_ROLES", "CIS2_ORGS", "CIS2_ROLES_JSON",
    "CIS2_CLAIMS_JSON", "CIS2_ROLE_ID", "CIS2_ROLE_CODE", "CIS2_ROLE_NAME",
    "CIS2_ORG_CODE", "CIS2_ORG_NAME", "CIS2_ACTIVITY_CODES",
    "CIS2_WORKGROUP_CODES", "CIS2_AOW_CODES", "CIS2_SESSION_EXPIRES",
    "CIS2_CLAIM_SUB", "CIS2_CLAIM_ISS", "CIS2_CLAIM_TOKENNAME",
    "CIS2_CLAIM_TOKENTYPE", "CIS2_CLAIM_REALM", "CIS2_CLAIM_SUBNAME",
    "CIS2_CLAIM_AUDITTRACKINGID", "CIS2_CLAIM_NHSID_USERUID",
    "CIS2_CLAIM_TITLE", "CIS2_CLAIM_INITIALS", "CIS2_CLAIM_MIDDLE_NAMES",
    "CIS2_CLAIM_DISPLAY_NAME", "CIS2_CLAIM_IDASSURANCELEVEL",
    "CIS2_CLAIM_SELECTED_ROLEID", "CIS2_CLAIM_GMC_ID", "CIS2_CLAIM_GMP_ID",
    "CIS2_CLAIM_GDC_ID", "CIS2_CLAIM_GDP_ID", "CIS2_CLAIM_NMC_ID",
    "CIS2_CLAIM_GPHC_ID", "CIS2_CLAIM_RCN_ID", "CIS2_CLAIM_CONSULTANT_ID",
    "sub", "iss", "aud", "azp", "exp", "iat", "auth_time", "acr", "uid",
    "name", "given_name", "family_name", "email", "tokenName", "tokenType",
    "realm", "subname", "auditTrackingId", "selected_roleid",
    "id_assurance_level", "authentication_assurance_level",
    "idassurancelevel", "nhsid_useruid", "title", "initials", "middle_names",
    "display_name", "gmc_id", "gmp_id", "gdc_id", "gdp_id", "nmc_id",
    "gphc_id", "rcn_id", "consultant_id",
    "", "0", "1", "2", "3", "id_token", "JWTToken", "/NHSIdentity/Healthcare",
    "AAL3_ANY", "AAL2_ANY", "AAL2_OR_AAL3_ANY", "AAL1_USERPASS",
    "N3_SMARTCARD", "FIDO2", "TOTP", "Mr", "Mrs", "Ms", "Miss", "Dr",
    "https://am.nhsidentity.spineservices.nhs.uk:443/openam/oauth2/realms/"
    "root/realms/NHSIdentity/realms/Healthcare",
    "https://am.nhsint.auth-ptl.cis2.spineservices.nhs.uk:443/openam/oauth2/"
    "realms/root/realms/NHSIdentity/realms/Healthcare",
    "S8000:G8000:R8000", "S8000:G8000:R8001", "S8000:G8000:R8003",
    "S8001:G8005:R8015"
};
#define N_STATIC ((apr_size_t)(sizeof(static_strings) \
                               / sizeof(static_strings[0])))

/* LZ4 dictionary 1 (version 3: never change it): the JSON text CIS2's
 * claims render to, so even the first role of a record compresses. */
static const char lz4_dict1[] =
    "CIS2_UIDCIS2_NAMECIS2_GIVEN_NAMECIS2_FAMILY_NAMECIS2_EMAIL"
    "@nhs.netCIS2_ROLES_JSONCIS2_CLAIMS_JSONCIS2_CLAIM_"
    "{\"sub\":\"555\",\"uid\":\"555\",\"name\":\"\",\"given_name\":\"\","
    "\"family_name\":\"\",\"email\":\"\",\"nhsid_useruid\":\"\","
    "\"title\":\"\",\"initials\":\"\",\"middle_names\":\"\","
    "\"display_name\":\"\",\"idassurancelevel\":\"3\","
    "\"nhsid_user_orgs\":[{\"org_code\":\"\",\"org_name\":\" NHS TRUST\"},"
    "{\"org_code\":\"\",\"org_name\":\" NHS FOUNDATION TRUST\"}],"
    "\"nhsid_org_memberships\":[{\"person_orgid\":\"555\","
    "\"org_code\":\"\",\"org_name\":\"\"}],\"nhsid_org_roles\":["
    "\"at_hash\":\"\",\"auditTrackingId\":\"\",\"amr\":[\"N3_SMARTCARD\"],"
    "\"iss\":\"https://am.nhsidentity.spineservices.nhs.uk:443/openam/"
    "oauth2/realms/root/realms/NHSIdentity/realms/Healthcare\","
    "\"tokenName\":\"id_token\",\"aud\":\".apps.national\","
    "\"acr\":\"AAL3_ANY\",\"azp\":\".apps.national\",\"auth_time\":1,"
    "\"realm\":\"/NHSIdentity/Healthcare\",\"exp\":1,"
    "\"tokenType\":\"JWTToken\",\"iat\":1,\"id_assurance_level\":\"3\","
    "\"authentication_assurance_level\":\"3\",\"subname\":\"555\","
    "\"selected_roleid\":\"555\",\"gmc_id\":\"\",\"nmc_id\":\"\","
    "\"nhsid_nrbac_roles\":[{\"person_orgid\":\"555\",\"person_roleid\":"
    "\"555\",\"org_code\":\"\",\"role_name\":\"\\\"Admin & Clerical\\\":"
    "\\\"Admin & Clerical\\\":\\\"Clerical Access Role\\\"\","
    "\"role_code\":\"S8002:G8003:R8010\",\"activities\":["
    "\"Amend Patient Demographics\",\"Manage Appointments\","
    "\"Local System Administration\",\"Manage Vaccination Records\","
    "\"Perform Pharmacy Activities\",\"Dispense Medication\","
    "\"Verify Prescription\",\"Personal Medication Administration\","
    "\"Record Clinical Observations\",\"Discharge Patient\"],"
    "\"activity_codes\":[\"B0825\",\"B0106\",\"B0062\",\"B0428\"],"
    "\"workgroups\":[\"\"],\"workgroups_codes\":[\"555\"],"
    "\"aow\":[\"\\\"Medicine\\\":\\\"General Medicine\\\":\\\"\\\"\"],"
    "\"aow_codes\":[\"P0010:Q0050:T0210\"]},{\"person_orgid\":\"555\","
    "\"person_roleid\":\"555\",\"org_code\":\"\",\"role_name\":"
    "\"\\\"Clinical\\\":\\\"Clinical Provision\\\":\\\"Nurse Access Role"
    "\\\"\",\"role_code\":\"S8000:G8000:R8001\",\"activities\":["
    "\"Independent Prescribing\",\"View Patient Medication\","
    "\"View Detailed Health Records\",\"Access Sensitive Flagged Records\","
    "\"Amend Patient Clinical Record\",\"Create Referral\","
    "\"Request Pathology Tests\",\"View Pathology Results\","
    "\"Access Summary Care Record\"],\"activity_codes\":[\"B0420\","
    "\"B0401\",\"B0360\",\"B1611\",\"B0082\",\"B0088\",\"B0470\",\"B0560\","
    "\"B0264\"],\"workgroups\":[],\"workgroups_codes\":[],\"aow\":[],"
    "\"aow_codes\":[]},{\"person_orgid\":\"555\",\"person_roleid\":\"555\","
    "\"org_code\":\"\",\"role_name\":\"\\\"Clinical\\\":\\\"Clinical "
    "Provision\\\":\\\"Clinical Practitioner Access Role\\\"\","
    "\"role_code\":\"S8000:G8000:R8000\",\"activities\":[\"\"],"
    "\"activity_codes\":[\"B0\"]},{\"person_orgid\":\"555\","
    "\"person_roleid\":\"555\",\"org_code\":\"\",\"role_name\":"
    "\"\\\"Clinical\\\":\\\"Clinical Provision\\\":\\\"Health "
    "Professional Access Role\\\"\",\"role_code\":\"S8000:G8000:R8003\","
    "\"activities\":[\"\"],\"activity_codes\":[\"B0\"],\"workgroups\":[\"\"],"
    "\"workgroups_codes\":[\"555\"]}]}";

#define LZ4_DICT1_LEN ((int)sizeof(lz4_dict1) - 1)
#define FORM_PLAIN 0
#define FORM_LZ4_DICT1 1
/* bodies shorter than this are stored as they are */
#define COMPRESS_MIN 256
/* a string this long is looked for inside later long strings (splice) */
#define SPLICE_MIN 64

/* writer: one growing buffer (runs once per login) */
typedef struct w3 {
    unsigned char *buf;
    apr_size_t len, cap;
    apr_size_t expanded;       /* bytes of the strings a decoder will make */
    int too_large;
    apr_pool_t *p;
    apr_hash_t *index;         /* string -> table position + 1 */
    apr_size_t count;          /* strings in the table */
    apr_array_header_t *longs; /* table strings >= SPLICE_MIN: w3_long */
} w3;

typedef struct w3_long {
    const char *s;
    apr_size_t len, idx;
} w3_long;

static void w3_bytes(w3 *w, const void *data, apr_size_t n)
{
    if (w->too_large) {
        return;
    }
    if (n > CIS2_MAX_SESSION || w->len + n > CIS2_MAX_SESSION) {
        w->too_large = 1;
        return;
    }
    if (w->len + n > w->cap) {
        apr_size_t cap = w->cap ? w->cap : 1024;
        unsigned char *b;

        while (cap < w->len + n) {
            cap *= 2;
        }
        b = apr_palloc(w->p, cap);
        if (w->len > 0) {
            memcpy(b, w->buf, w->len);
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, data, n);
    w->len += n;
}

static void w3_uv(w3 *w, apr_uint64_t v)
{
    unsigned char b[10];
    apr_size_t n = 0;

    do {
        b[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v != 0) {
            b[n] |= 0x80;
        }
        n++;
    } while (v != 0);
    w3_bytes(w, b, n);
}

static apr_uint64_t zigzag(apr_int64_t v)
{
    return ((apr_uint64_t)v << 1) ^ (apr_uint64_t)(v >> 63);
}

static apr_int64_t unzigzag(apr_uint64_t u)
{
    return (apr_int64_t)(u >> 1) ^ -(apr_int64_t)(u & 1);
}

static void w3_zz(w3 *w, apr_int64_t v)
{
    w3_uv(w, zigzag(v));
}

/* v - base with wrap-around, so any pair of times round-trips */
static apr_int64_t delta(apr_int64_t v, apr_int64_t base)
{
    return (apr_int64_t)((apr_uint64_t)v - (apr_uint64_t)base);
}

/* The string table's hash: FNV-1a over at most the first and last 32
 * bytes and the length. apr_hash's own reads every byte, twice per string
 * (get, then set), and the JSON variables are kilobytes; strings that
 * agree at both ends and in length are told apart by the table's compare
 * of the whole key. */
static unsigned int w3_hash(const char *key, apr_ssize_t *klen)
{
    const unsigned char *k = (const unsigned char *)key;
    apr_size_t n, i, head;
    apr_uint32_t h;

    if (*klen == APR_HASH_KEY_STRING) {
        *klen = (apr_ssize_t)strlen(key);
    }
    n = (apr_size_t)*klen;
    head = n < 64 ? n : 32;
    h = 2166136261u ^ (apr_uint32_t)n;

    for (i = 0; i < head; i++) {
        h = (h ^ k[i]) * 16777619u;
    }
    for (i = n < 64 ? n : n - 32; i < n; i++) {
        h = (h ^ k[i]) * 16777619u;
    }
    return h;
}

static void w3_add(w3 *w, const char *s, apr_size_t n)
{
    apr_hash_set(w->index, s, (apr_ssize_t)n,
                 (void *)(apr_uintptr_t)(w->count + 1));
    if (n >= SPLICE_MIN) {
        w3_long *l = apr_array_push(w->longs);

        l->s = s;
        l->len = n;
        l->idx = w->count;
    }
    w->count++;
}

/* needle in hay, or NULL (login only: a plain scan is enough) */
static const char *find_in(const char *hay, apr_size_t n,
                           const char *needle, apr_size_t m)
{
    const char *c = hay, *end = hay + n - m;

    while (c <= end
           && (c = memchr(c, needle[0], (apr_size_t)(end - c) + 1)) != NULL) {
        if (memcmp(c, needle, m) == 0) {
            return c;
        }
        c++;
    }
    return NULL;
}

static void w3_str(w3 *w, const char *s)
{
    apr_size_t n, best_len = 0, best_idx = 0, idx;
    const char *best_at = NULL;
    int i;

    if (s == NULL) {
        w3_uv(w, 0);
        return;
    }
    n = strlen(s);
    if (n > CIS2_MAX_SESSION) {
        w->too_large = 1;
        return;
    }
    idx = (apr_size_t)(apr_uintptr_t)apr_hash_get(w->index, s,
                                                  (apr_ssize_t)n);
    if (idx > 0) {
        w3_uv(w, ((apr_uint64_t)(idx - 1) << 2) | 2);
        return;
    }
    w->expanded += n;
    if (w->expanded > CIS2_MAX_SESSION) {
        w->too_large = 1;
        return;
    }
    /* the longest earlier long string inside this one (CIS2_CLAIMS_JSON
     * holds CIS2_ROLES_JSON's text) */
    for (i = 0; n > SPLICE_MIN && i < w->longs->nelts; i++) {
        const w3_long *l = &APR_ARRAY_IDX(w->longs, i, w3_long);
        const char *at;

        if (l->len > best_len && l->len < n
            && (at = find_in(s, n, l->s, l->len)) != NULL) {
            best_len = l->len;
            best_idx = l->idx;
            best_at = at;
        }
    }
    if (best_at != NULL) {
        apr_size_t pre = (apr_size_t)(best_at - s);

        w3_uv(w, ((apr_uint64_t)pre << 2) | 3);
        w3_bytes(w, s, pre);
        w3_uv(w, best_idx);
        w3_uv(w, n - pre - best_len);
        w3_bytes(w, best_at + best_len, n - pre - best_len);
    }
    else {
        w3_uv(w, ((apr_uint64_t)n << 2) | 1);
        w3_bytes(w, s, n + 1);             /* with its NUL (version 4) */
    }
    w3_add(w, s, n);
}

/* The ID token's three parts decoded into part[], when re-encoding them
 * gives back exactly the text (base64url without padding, no trailing
 * bits: what CIS2 sends); 0 otherwise (then it is stored as text). */
static int id_token_parts(const char *t, const unsigned char *part[3],
                          apr_size_t len[3], apr_pool_t *p)
{
    const char *start = t, *dot;
    unsigned char *out;
    int i;

    for (i = 0; i < 3; i++) {
        apr_size_t n;

        dot = i < 2 ? strchr(start, '.') : start + strlen(start);
        if (dot == NULL) {
            return 0;
        }
        n = (apr_size_t)(dot - start);
        if (cis2_b64url_decode(&out, &len[i], start, n, NULL, p)
                != APR_SUCCESS
            || strlen(cis2_b64url_encode(p, out, len[i])) != n
            || memcmp(cis2_b64url_encode(p, out, len[i]), start, n) != 0) {
            return 0;
        }
        part[i] = out;
        start = dot + 1;
    }
    return 1;
}

static void w3_id_token(w3 *w, const cis2_session_t *s)
{
    const unsigned char *part[3];
    apr_size_t len[3];
    int i;

    if (s->id_token != NULL) {
        if (!id_token_parts(s->id_token, part, len, w->p)) {
            w3_uv(w, 1);
            w3_str(w, s->id_token);
            return;
        }
    }
    else if (s->id_token_part[0] != NULL) {
        for (i = 0; i < 3; i++) {
            part[i] = s->id_token_part[i];
            len[i] = s->id_token_part_len[i];
        }
    }
    else {
        w3_uv(w, 0);
        return;
    }
    w3_uv(w, 2);
    for (i = 0; i < 3; i++) {
        w->expanded += len[i];
        if (w->expanded > CIS2_MAX_SESSION) {
            w->too_large = 1;
            return;
        }
        w3_uv(w, len[i]);
        w3_bytes(w, part[i], len[i]);
    }
}

const char *cis2_session_id_token(const cis2_session_t *s, apr_pool_t *p)
{
    if (s->id_token != NULL || s->id_token_part[0] == NULL) {
        return s->id_token;
    }
    return apr_pstrcat(p,
        cis2_b64url_encode(p, s->id_token_part[0], s->id_token_part_len[0]),
        ".",
        cis2_b64url_encode(p, s->id_token_part[1], s->id_token_part_len[1]),
        ".",
        cis2_b64url_encode(p, s->id_token_part[2], s->id_token_part_len[2]),
        NULL);
}

static void w3_kvs(w3 *w, const apr_array_header_t *a)
{
    int i;

    for (i = 0; i < a->nelts && !w->too_large; i++) {
        const cis2_kv_t *kv = &APR_ARRAY_IDX(a, i, cis2_kv_t);

        w3_str(w, kv->name);
        w3_str(w, kv->value);
    }
}

static void w3_body(w3 *w, const cis2_session_t *s)
{
    int nroles = s->roles ? s->roles->nelts : 0, i, j;
    int nclaims = s->claims ? s->claims->nelts : 0;

    w3_str(w, s->client_id);
    w3_str(w, s->sub);
    w3_str(w, s->sid);
    w3_str(w, s->remote_user);
    w3_uv(w, (apr_uint64_t)s->created);
    w3_zz(w, delta(s->auth_time, s->created));
    w3_zz(w, delta(s->expires, s->created));
    w3_zz(w, s->aal);
    w3_zz(w, s->ial);
    w3_str(w, s->acr);
    w3_id_token(w, s);
    if (s->env == NULL) {
        w3_uv(w, 0);
    }
    else if (s->env->nelts < 0 || s->env->nelts > MAX_ENV_COUNT) {
        w->too_large = 1;
        return;
    }
    else {
        w3_uv(w, (apr_uint64_t)s->env->nelts + 1);
        w3_kvs(w, s->env);
    }
    if (nroles > MAX_ROLES || nclaims > MAX_ENV_COUNT) {
        w->too_large = 1;
        return;
    }
    w3_uv(w, (apr_uint64_t)nroles);
    for (i = 0; i < nroles && !w->too_large; i++) {
        const cis2_role_t *r = &APR_ARRAY_IDX(s->roles, i, cis2_role_t);
        int na = r->activities ? r->activities->nelts : 0;

        if (na > MAX_ACTIVITIES) {
            w->too_large = 1;
            return;
        }
        w3_str(w, r->id);
        w3_str(w, r->code);
        w3_str(w, r->org);
        w3_uv(w, (apr_uint64_t)na);
        for (j = 0; j < na; j++) {
            w3_str(w, APR_ARRAY_IDX(r->activities, j, const char *));
        }
    }
    w3_zz(w, s->roles ? s->selected_role : -1);
    w3_uv(w, (apr_uint64_t)nclaims);
    if (nclaims > 0) {
        w3_kvs(w, s->claims);
    }
}

/* the compression stream with dictionary 1 loaded, made once a process */
static LZ4_stream_t lz4_dict1_stream;
static pthread_once_t lz4_dict1_once = PTHREAD_ONCE_INIT;

static void lz4_dict1_prepare(void)
{
    LZ4_initStream(&lz4_dict1_stream, sizeof(lz4_dict1_stream));
    LZ4_loadDict(&lz4_dict1_stream, lz4_dict1, LZ4_DICT1_LEN);
}

apr_status_t cis2_session_encode(const char **pbuf, apr_size_t *plen,
                                 const cis2_session_t *s,
                                 const cis2_err_t **perr, apr_pool_t *p)
{
    w3 body, out;
    apr_size_t i;
    unsigned char *rec;

    if (s == NULL) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "no session");
    }
    /* a lazily decoded session is completed first (that reads its own
     * record: no value of s the caller set changes) */
    if (s->rest != NULL
        && cis2_session_finish((cis2_session_t *)s, perr) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    memset(&body, 0, sizeof(body));
    body.p = p;
    body.index = apr_hash_make_custom(p, w3_hash);
    body.longs = apr_array_make(p, 8, sizeof(w3_long));
    for (i = 0; i < N_STATIC; i++) {
        w3_add(&body, static_strings[i], strlen(static_strings[i]));
    }
    w3_body(&body, s);
    if (body.too_large) {
        return cis2_err_set(perr, p, CIS2_E_TOO_LARGE,
                            "session record over %d bytes", CIS2_MAX_SESSION);
    }
    memset(&out, 0, sizeof(out));
    out.p = p;
    w3_bytes(&out, session_magic, sizeof(session_magic));
    if (body.len >= COMPRESS_MIN) {
        int cap = LZ4_compressBound((int)body.len), n;
        LZ4_stream_t *st = apr_palloc(p, sizeof(*st));
        char *dst = apr_palloc(p, (apr_size_t)cap);

        /* a copy of a stream with the dictionary loaded (the LZ4 API's
         * documented alternative to loading it again: ~60k instructions
         * a login) */
        pthread_once(&lz4_dict1_once, lz4_dict1_prepare);
        memcpy(st, &lz4_dict1_stream, sizeof(*st));
        n = LZ4_compress_fast_continue(st, (const char *)body.buf, dst,
                                       (int)body.len, cap, 1);
        if (n > 0 && (apr_size_t)n + 11 < body.len) {
            w3_uv(&out, FORM_LZ4_DICT1);
            w3_uv(&out, body.len);
            w3_bytes(&out, dst, (apr_size_t)n);
            goto done;
        }
    }
    w3_uv(&out, FORM_PLAIN);
    w3_bytes(&out, body.buf, body.len);
done:
    if (out.too_large) {
        return cis2_err_set(perr, p, CIS2_E_TOO_LARGE,
                            "session record over %d bytes", CIS2_MAX_SESSION);
    }
    /* exactly sized, so nothing of the scratch buffers is kept */
    rec = apr_pmemdup(p, out.buf, out.len);
    *pbuf = (const char *)rec;
    *plen = out.len;
    return APR_SUCCESS;
}

/* reader: the table of strings decoded so far */
typedef struct r3_str {
    const char *s;
    apr_size_t len;
} r3_str;

typedef struct r3 {
    rbuf r;
    r3_str *tab;
    apr_size_t count, cap;
    apr_size_t expanded;
    int nul;                   /* version 4: a NUL after each literal */
} r3;

/* the general case of r3_uv: up to ten bytes */
static apr_uint64_t r3_uv_long(r3 *d)
{
    rbuf *r = &d->r;
    apr_uint64_t v = 0;
    int shift;

    for (shift = 0; shift < 64; shift += 7) {
        unsigned char b;

        if (!r_need(r, 1)) {
            return 0;
        }
        b = r->b[r->pos++];
        if (shift == 63 && (b & 0x7e) != 0) {
            break;             /* more than 64 bits */
        }
        v |= (apr_uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            return v;
        }
    }
    r->bad = 1;
    return 0;
}

/* Most values take one byte (small counts, short literals, the first 32
 * static names) or two (the other static names, literals up to 4 KB):
 * those are read here without the loop. */
static APR_INLINE apr_uint64_t r3_uv(r3 *d)
{
    rbuf *r = &d->r;
    const unsigned char *b = r->b + r->pos;

    if (r->len - r->pos >= 2 && !r->bad) {
        if (b[0] < 0x80) {
            r->pos++;
            return b[0];
        }
        if (b[1] < 0x80) {
            r->pos += 2;
            return (apr_uint64_t)(b[0] & 0x7f) | ((apr_uint64_t)b[1] << 7);
        }
    }
    return r3_uv_long(d);
}

static apr_int64_t r3_zz(r3 *d)
{
    return unzigzag(r3_uv(d));
}

static int r3_i32(r3 *d)
{
    apr_int64_t v = r3_zz(d);

    if (v < APR_INT32_MIN || v > APR_INT32_MAX) {
        d->r.bad = 1;
        return 0;
    }
    return (int)v;
}

/* n literal bytes at the read position, checked for NUL */
static const char *r3_take(r3 *d, apr_uint64_t n)
{
    const char *s;

    if (d->r.bad || n > d->r.len - d->r.pos) {
        d->r.bad = 1;
        return NULL;
    }
    s = (const char *)d->r.b + d->r.pos;
    if (memchr(s, '\0', (apr_size_t)n) != NULL) {
        d->r.bad = 1;
        return NULL;
    }
    d->r.pos += (apr_size_t)n;
    return s;
}

/* the idx-th string of the table into *e; 0 when there is none */
static int r3_entry(r3 *d, apr_uint64_t idx, r3_str *e)
{
    if (idx < N_STATIC) {
        e->s = static_strings[idx];
        e->len = strlen(e->s);
        return 1;
    }
    if (idx - N_STATIC >= d->count) {
        d->r.bad = 1;
        return 0;
    }
    *e = d->tab[idx - N_STATIC];
    return 1;
}

static const char *r3_add(r3 *d, const char *s, apr_size_t n)
{
    if (d->count == d->cap) {
        /* 128: a record's literals and splices, without growing, for
         * users with a handful of roles */
        apr_size_t cap = d->cap ? d->cap * 2 : 128;
        r3_str *t = apr_palloc(d->r.p, cap * sizeof(*t));

        if (d->count > 0) {
            memcpy(t, d->tab, d->count * sizeof(*t));
        }
        d->tab = t;
        d->cap = cap;
    }
    d->tab[d->count].s = s;
    d->tab[d->count].len = n;
    d->count++;
    return s;
}

static const char *r3_str_read(r3 *d)
{
    apr_uint64_t head = r3_uv(d), n, idx, m;
    const char *pre, *suf;
    r3_str e;
    char *out;

    if (d->r.bad) {
        return NULL;
    }
    n = head >> 2;
    switch (head & 3) {
    case 0:
        if (n != 0) {
            d->r.bad = 1;
        }
        return NULL;
    case 1:
        if ((pre = r3_take(d, n)) == NULL
            || (d->expanded += (apr_size_t)n) > CIS2_MAX_SESSION) {
            d->r.bad = 1;
            return NULL;
        }
        if (d->nul) {
            /* the body is ours (decode_v3): the string is used in place */
            if (!r_need(&d->r, 1) || d->r.b[d->r.pos] != '\0') {
                d->r.bad = 1;
                return NULL;
            }
            d->r.pos++;
            return r3_add(d, pre, (apr_size_t)n);
        }
        return r3_add(d, apr_pstrmemdup(d->r.p, pre, (apr_size_t)n),
                      (apr_size_t)n);
    case 2:
        if (n < N_STATIC) {
            return static_strings[n];      /* no strlen: only splices
                                              need the length */
        }
        return r3_entry(d, n, &e) ? e.s : NULL;
    default:
        pre = r3_take(d, n);
        idx = r3_uv(d);
        m = r3_uv(d);
        suf = r3_take(d, m);
        if (pre == NULL || suf == NULL || !r3_entry(d, idx, &e)
            || (d->expanded += (apr_size_t)(n + m) + e.len)
               > CIS2_MAX_SESSION) {
            d->r.bad = 1;
            return NULL;
        }
        out = apr_palloc(d->r.p, (apr_size_t)(n + m) + e.len + 1);
        memcpy(out, pre, (apr_size_t)n);
        memcpy(out + n, e.s, e.len);
        memcpy(out + n + e.len, suf, (apr_size_t)m);
        out[n + e.len + m] = '\0';
        return r3_add(d, out, (apr_size_t)(n + m) + e.len);
    }
}

static void r3_id_token(r3 *d, cis2_session_t *s)
{
    apr_uint64_t n;
    unsigned char *part;
    int i;

    switch (r3_uv(d)) {
    case 0:
        return;
    case 1:
        if ((s->id_token = r3_str_read(d)) == NULL) {
            d->r.bad = 1;
        }
        return;
    case 2:
        for (i = 0; i < 3 && !d->r.bad; i++) {
            n = r3_uv(d);
            if (d->r.bad || n > d->r.len - d->r.pos
                || (d->expanded += (apr_size_t)n) > CIS2_MAX_SESSION) {
                d->r.bad = 1;
                return;
            }
            /* bytes, not text: NUL allowed; copied (the record's buffer
             * is the caller's) */
            part = apr_palloc(d->r.p, (apr_size_t)n + 1);
            memcpy(part, d->r.b + d->r.pos, (apr_size_t)n);
            part[n] = 0;
            s->id_token_part[i] = part;
            s->id_token_part_len[i] = (apr_size_t)n;
            d->r.pos += (apr_size_t)n;
        }
        return;
    default:
        d->r.bad = 1;
    }
}

/* a count of elements taking at least min_bytes each, at most max */
static apr_uint64_t r3_count(r3 *d, apr_uint64_t max, apr_size_t min_bytes)
{
    apr_uint64_t n = r3_uv(d);

    if (d->r.bad || n > max || n > (d->r.len - d->r.pos) / min_bytes) {
        d->r.bad = 1;
        return 0;
    }
    return n;
}

/* n pairs (n is checked against the bytes left by the caller) */
static apr_array_header_t *r3_kvs(r3 *d, apr_uint64_t n)
{
    apr_array_header_t *a = apr_array_make(d->r.p, n > 0 ? (int)n : 1,
                                           sizeof(cis2_kv_t));
    cis2_kv_t *kv = (cis2_kv_t *)a->elts;
    apr_uint64_t i;

    for (i = 0; i < n && !d->r.bad; i++) {
        kv[i].name = r3_str_read(d);
        kv[i].value = r3_str_read(d);
    }
    a->nelts = (int)i;
    return a;
}

/* the body up to and including the environment: what every request uses */
static void r3_head(r3 *d, cis2_session_t *s)
{
    apr_uint64_t n;

    s->client_id = r3_str_read(d);
    s->sub = r3_str_read(d);
    s->sid = r3_str_read(d);
    s->remote_user = r3_str_read(d);
    s->created = (apr_time_t)r3_uv(d);
    s->auth_time = (apr_time_t)((apr_uint64_t)s->created
                                + (apr_uint64_t)r3_zz(d));
    s->expires = (apr_time_t)((apr_uint64_t)s->created
                              + (apr_uint64_t)r3_zz(d));
    s->aal = r3_i32(d);
    s->ial = r3_i32(d);
    s->acr = r3_str_read(d);
    r3_id_token(d, s);
    n = r3_uv(d);
    if (n > 0) {
        /* each pair takes at least two bytes: a larger count is a lie,
         * refused before allocating for it */
        if (d->r.bad || n - 1 > MAX_ENV_COUNT
            || n - 1 > (d->r.len - d->r.pos) / 2) {
            d->r.bad = 1;
            return;
        }
        s->env = r3_kvs(d, n - 1);
    }
}

/* the rest: the authorization view (roles, selected role, claims) */
static void r3_rest(r3 *d, cis2_session_t *s)
{
    apr_uint64_t n, i, j, na;

    n = r3_count(d, MAX_ROLES, 4);
    s->roles = apr_array_make(d->r.p, n > 0 ? (int)n : 1,
                              sizeof(cis2_role_t));
    for (i = 0; i < n && !d->r.bad; i++) {
        cis2_role_t *role = apr_array_push(s->roles);

        role->id = r3_str_read(d);
        role->code = r3_str_read(d);
        role->org = r3_str_read(d);
        na = r3_count(d, MAX_ACTIVITIES, 1);
        role->activities = apr_array_make(d->r.p, na > 0 ? (int)na : 1,
                                          sizeof(const char *));
        for (j = 0; j < na && !d->r.bad; j++) {
            APR_ARRAY_PUSH(role->activities, const char *) = r3_str_read(d);
        }
    }
    s->selected_role = r3_i32(d);
    if (s->selected_role < -1 || s->selected_role >= (int)n) {
        d->r.bad = 1;
    }
    n = r3_count(d, MAX_ENV_COUNT, 2);
    s->claims = r3_kvs(d, n);
}

/* About the bytes a whole decode took from its pool: the body, every
 * string's bytes (counted again if used in place: an upper bound), the
 * string table and the arrays. */
static apr_size_t session_mem(const r3 *d, const cis2_session_t *s)
{
    apr_size_t m = sizeof(*s) + d->r.len + d->expanded
                   + d->cap * sizeof(r3_str);
    int i;

    if (s->env != NULL) {
        m += (apr_size_t)s->env->nalloc * sizeof(cis2_kv_t);
    }
    if (s->claims != NULL) {
        m += (apr_size_t)s->claims->nalloc * sizeof(cis2_kv_t);
    }
    for (i = 0; s->roles != NULL && i < s->roles->nelts; i++) {
        const cis2_role_t *role = &APR_ARRAY_IDX(s->roles, i, cis2_role_t);

        m += sizeof(*role) + sizeof(apr_array_header_t)
             + (apr_size_t)role->activities->nalloc * sizeof(const char *);
    }
    return m;
}

/* What a lazily decoded record has left to read (cis2_session_finish):
 * the reader where the environment ended, whose string table holds every
 * string read so far, over the body that lives in the session's pool. */
struct cis2_session_rest {
    r3 d;
    int done;
    apr_status_t rv;
    const cis2_err_t *err;
};

static apr_status_t decode_v3(cis2_session_t **ps, rbuf *r, int lazy,
                              const cis2_err_t **perr, apr_pool_t *p)
{
    cis2_session_t *s;
    r3 d;
    apr_uint64_t form, raw;
    apr_status_t rv;

    memset(&d, 0, sizeof(d));
    d.r = *r;
    d.nul = r->version >= 4;
    form = r3_uv(&d);
    if (!d.r.bad && form == FORM_LZ4_DICT1) {
        char *body;
        int n;

        raw = r3_uv(&d);
        if (d.r.bad || raw == 0 || raw > CIS2_MAX_SESSION) {
            return cis2_err_set(perr, p, CIS2_E_INVALID,
                                "compressed record: bad length");
        }
        body = apr_palloc(p, (apr_size_t)raw);
        /* bounds-checked: never writes past raw bytes, never reads past
         * the record (LZ4's "safe" decoder) */
        n = LZ4_decompress_safe_usingDict((const char *)d.r.b + d.r.pos,
                                          body, (int)(d.r.len - d.r.pos),
                                          (int)raw, lz4_dict1,
                                          LZ4_DICT1_LEN);
        if (n < 0 || (apr_uint64_t)n != raw) {
            return cis2_err_set(perr, p, CIS2_E_INVALID,
                                "compressed record is corrupt");
        }
        d.r.b = (const unsigned char *)body;
        d.r.len = (apr_size_t)raw;
        d.r.pos = 0;
    }
    else if (!d.r.bad && form == FORM_PLAIN && d.nul) {
        /* the decoded strings point into the body: one copy of it into p,
         * as the caller's buffer need not outlive the session */
        d.r.b = apr_pmemdup(p, d.r.b + d.r.pos, d.r.len - d.r.pos);
        d.r.len -= d.r.pos;
        d.r.pos = 0;
    }
    else if (!d.r.bad && form != FORM_PLAIN) {
        d.r.bad = 1;
    }
    s = apr_pcalloc(p, sizeof(*s));
    s->selected_role = -1;
    if (!d.r.bad) {
        r3_head(&d, s);
    }
    if (lazy && d.nul && !d.r.bad) {
        /* the body is ours (decompressed or copied into p): the rest is
         * read from it when first asked for */
        s->rest = apr_pcalloc(p, sizeof(*s->rest));
        s->rest->d = d;
        *ps = s;
        return APR_SUCCESS;
    }
    if (!d.r.bad) {
        r3_rest(&d, s);
    }
    if ((rv = r_finish(&d.r, perr, p)) != APR_SUCCESS) {
        return rv;
    }
    s->mem = session_mem(&d, s);
    *ps = s;
    return APR_SUCCESS;
}

apr_status_t cis2_session_finish(cis2_session_t *s, const cis2_err_t **perr)
{
    struct cis2_session_rest *rest = s->rest;

    if (rest == NULL) {
        return APR_SUCCESS;
    }
    if (!rest->done) {
        rest->done = 1;
        r3_rest(&rest->d, s);
        rest->rv = r_finish(&rest->d.r, &rest->err, rest->d.r.p);
        if (rest->rv != APR_SUCCESS) {
            /* no half-read view: the rules see no roles and no claims */
            s->roles = NULL;
            s->claims = NULL;
            s->selected_role = -1;
        }
    }
    if (rest->rv != APR_SUCCESS && perr != NULL) {
        *perr = rest->err;
    }
    return rest->rv;
}

/* ---- session, versions 1 and 2 (read only) ------------------------------- */

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

static apr_status_t session_decode(cis2_session_t **ps, const char *buf,
                                   apr_size_t len, int lazy,
                                   const cis2_err_t **perr, apr_pool_t *p)
{
    cis2_session_t *s;
    rbuf r;
    apr_status_t rv;

    if ((rv = r_start(&r, buf, len, session_magic, perr, p)) != APR_SUCCESS) {
        return rv;
    }
    if (r.version >= 3) {
        return decode_v3(ps, &r, lazy, perr, p);
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
    s->mem = APR_SIZE_MAX;          /* not counted: never kept (memo) */
    if (r.version >= 2) {
        read_authz(&r, s);
    }
    if ((rv = r_finish(&r, perr, p)) != APR_SUCCESS) {
        return rv;
    }
    *ps = s;
    return APR_SUCCESS;
}

apr_status_t cis2_session_decode(cis2_session_t **ps, const char *buf,
                                 apr_size_t len, const cis2_err_t **perr,
                                 apr_pool_t *p)
{
    return session_decode(ps, buf, len, 0, perr, p);
}

apr_status_t cis2_session_decode_lazy(cis2_session_t **ps, const char *buf,
                                      apr_size_t len, const cis2_err_t **perr,
                                      apr_pool_t *p)
{
    return session_decode(ps, buf, len, 1, perr, p);
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
