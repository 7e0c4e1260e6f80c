/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * cis2_url — see cis2_url.h. Every redirect mod_cis2 sends goes through
 * cis2_url_check_redirect(). The rule is to accept only what is the same
 * under RFC 3986 and under the WHATWG URL Standard (what browsers run), and
 * refuse everything else:
 *
 *  - bytes: no control characters, no whitespace (WHATWG strips tab/CR/LF
 *    anywhere and C0/space at the ends: CVE-2022-23527 "/\t/evil"), no
 *    non-ASCII (IDN dots like U+3002 and fullwidth slashes), no malformed
 *    percent escapes;
 *  - '\' is '/' for http(s) in WHATWG (CVE-2021-32786, CVE-2019-20479), so
 *    every rule is checked with '\' read as '/', and a raw '\' before the
 *    query is refused outright;
 *  - a local target starts with exactly one '/': "//host", "/\host",
 *    "\\host" are network-path references (CVE-2019-14857);
 *  - the path, percent-decoded up to four times, has no control
 *    character, no overlong UTF-8, no whitespace right after its first
 *    '/', does not start with "//", and holds no "." or ".." segment, so
 *    an application that decodes and redirects again cannot be steered
 *    off-site either;
 *  - an absolute target is http or https followed by exactly "//", has no
 *    userinfo (https://self@evil) and no percent-encoded host, and its
 *    scheme, host (compared case-insensitively) and port (numerically, with
 *    the scheme's default) equal our own origin or an allow-listed one.
 *    No suffix or prefix matching: evil-example.com is not example.com.
 *
 * Refusal details name the rule, never the input (PEER.md §6).
 */
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>

#include "cis2_url.h"

/* Rounds of percent-decoding applied when looking for hidden "//", dot
 * segments and control characters ("%252f" is "/" after two); a path that
 * still decodes after that many is refused. */
#define DECODE_ROUNDS 4

/* ---- small helpers ------------------------------------------------------- */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static int is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* Bytes any URL we emit or accept may hold: printable ASCII without space;
 * percent escapes well-formed. Returns NULL or the rule broken. */
static const char *check_bytes(const char *s, apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (is_ctl(c)) {
            return "control character";
        }
        if (c == ' ') {
            return "whitespace";
        }
        if (c >= 0x80) {
            return "non-ASCII byte";
        }
        if (c == '%') {
            if (len - i < 3 || hexval((unsigned char)s[i + 1]) < 0
                || hexval((unsigned char)s[i + 2]) < 0) {
                return "malformed percent escape";
            }
        }
    }
    return NULL;
}

/* Percent-decode len bytes into a new string (may hold NUL; *pout_len is
 * the length), reading '\' as '/'. 0 when an escape is malformed (after an
 * earlier round, "%25zz" becomes "%zz": then we stop decoding). */
static int decode_once(char **pout, apr_size_t *pout_len, const char *s,
                       apr_size_t len, apr_pool_t *p)
{
    char *out = apr_palloc(p, len + 1);
    apr_size_t i, o = 0;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '%') {
            int hi, lo;

            if (len - i < 3 || (hi = hexval((unsigned char)s[i + 1])) < 0
                || (lo = hexval((unsigned char)s[i + 2])) < 0) {
                return 0;
            }
            c = (unsigned char)((hi << 4) | lo);
            i += 2;
        }
        out[o++] = (char)(c == '\\' ? '/' : c);
    }
    out[o] = '\0';
    *pout = out;
    *pout_len = o;
    return 1;
}

static int is_dot_segment(const char *seg, apr_size_t n)
{
    return (n == 1 && seg[0] == '.')
           || (n == 2 && seg[0] == '.' && seg[1] == '.');
}

/* Rules on one (decoded) view of a path. `round` 0 is the raw path with '\'
 * read as '/'. Returns NULL or the rule broken. */
static const char *check_path_view(const char *d, apr_size_t n, int round)
{
    apr_size_t i, seg;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)d[i];
        unsigned char next = i + 1 < n ? (unsigned char)d[i + 1] : 0;

        if (is_ctl(c)) {
            return "percent-encoded control character in path";
        }
        /* overlong UTF-8 ("%C0%AF" for '/', "%E0%80%AE" for '.'): never
         * valid, only ever used to smuggle a byte past a check */
        if (c == 0xc0 || c == 0xc1 || (c == 0xe0 && next < 0xa0)
            || (c == 0xf0 && next < 0x90)) {
            return "overlong UTF-8 in path";
        }
    }
    if (n >= 2 && d[0] == '/' && d[1] == '/') {
        return round == 0 ? "path starts with '//' or '/\\'"
                          : "path starts with a percent-encoded '//' or '/\\'";
    }
    if (n >= 2 && d[0] == '/' && apr_isspace(d[1])) {
        return "percent-encoded whitespace at the start of the path";
    }
    /* dot segments: a browser removes them before it asks, so a genuine
     * return URL never holds one; "/.//evil" and "/x/..//evil" do */
    seg = 0;
    for (i = 0; i <= n; i++) {
        if (i == n || d[i] == '/') {
            if (is_dot_segment(d + seg, i - seg)) {
                return "dot segment in path";
            }
            seg = i + 1;
        }
    }
    return NULL;
}

static const char *check_path(const char *path, apr_size_t n, apr_pool_t *p)
{
    char *d = apr_pstrmemdup(p, path, n);
    apr_size_t dlen = n, i;
    const char *why;
    int round;

    /* round 0 is the path as sent, '\' read as '/'; each later round
     * percent-decodes the previous one */
    for (i = 0; i < n; i++) {
        if (d[i] == '\\') {
            d[i] = '/';
        }
    }
    for (round = 0; ; round++) {
        if ((why = check_path_view(d, dlen, round)) != NULL) {
            return why;
        }
        if (memchr(d, '%', dlen) == NULL
            || !decode_once(&d, &dlen, d, dlen, p)) {
            return NULL;       /* fixpoint: nothing left to decode */
        }
        if (round == DECODE_ROUNDS) {
            /* still decodable after DECODE_ROUNDS rounds: no genuine URL
             * nests "%25" that deep, so do not guess what lies below */
            return "path percent-encoded too many times";
        }
    }
}

/* ---- origins ------------------------------------------------------------- */

typedef struct origin_t {
    const char *scheme;        /* "http" | "https" */
    const char *host;          /* lower-case; IPv6 with brackets */
    int port;
} origin_t;

static int is_host_char(unsigned char c)
{
    return apr_isalnum(c) || c == '.' || c == '-' || c == '_';
}

/* Parse "host[:port]" (no userinfo, no escapes). NULL or the rule broken. */
static const char *parse_authority(origin_t *o, const char *a,
                                   apr_size_t n, apr_pool_t *p)
{
    apr_size_t i, hend;
    char *host;

    if (n == 0) {
        return "empty host";
    }
    if (memchr(a, '@', n) != NULL) {
        return "userinfo in URL";
    }
    if (memchr(a, '%', n) != NULL) {
        return "percent-encoded host";
    }
    if (a[0] == '[') {
        const char *rb = memchr(a, ']', n);

        if (rb == NULL || rb == a + 1) {
            return "malformed IPv6 host";
        }
        for (i = 1; a + i < rb; i++) {
            if (!apr_isxdigit(a[i]) && a[i] != ':' && a[i] != '.') {
                return "malformed IPv6 host";
            }
        }
        hend = (apr_size_t)(rb - a) + 1;
    }
    else {
        for (hend = 0; hend < n && a[hend] != ':'; hend++) {
            if (!is_host_char((unsigned char)a[hend])) {
                return "character not allowed in host";
            }
        }
        if (hend == 0) {
            return "empty host";
        }
    }
    host = apr_pstrmemdup(p, a, hend);
    for (i = 0; i < hend; i++) {
        host[i] = (char)apr_tolower(host[i]);
    }
    o->host = host;
    if (hend < n) {
        int port = 0;

        if (a[hend] != ':' || n - hend - 1 == 0 || n - hend - 1 > 5) {
            return "malformed port";
        }
        for (i = hend + 1; i < n; i++) {
            if (!apr_isdigit(a[i])) {
                return "malformed port";
            }
            port = port * 10 + (a[i] - '0');
        }
        if (port < 1 || port > 65535) {
            return "port out of range";
        }
        o->port = port;
    }
    else {
        o->port = strcmp(o->scheme, "https") == 0 ? 443 : 80;
    }
    return NULL;
}

/* Length of a URI scheme at s followed by ':' (RFC 3986 §3.1), else 0. */
static apr_size_t scheme_len(const char *s)
{
    apr_size_t i;

    if (!apr_isalpha(s[0])) {
        return 0;
    }
    for (i = 1; s[i] != '\0'; i++) {
        if (s[i] == ':') {
            return i;
        }
        if (!apr_isalnum(s[i]) && s[i] != '+' && s[i] != '-' && s[i] != '.') {
            return 0;
        }
    }
    return 0;
}

/* Split an absolute URL (already byte-checked) into origin, path and the
 * rest. `norm` is the URL with '\' read as '/'. Sets *ppath and *ppath_len to
 * the path (may be empty) and *prest to the '?'/'#' part (or ""). */
static const char *split_absolute(origin_t *o, const char **ppath,
                                  apr_size_t *ppath_len, const char **prest,
                                  const char *norm, apr_pool_t *p)
{
    apr_size_t sl = scheme_len(norm), alen;
    const char *a, *after;
    char *scheme;
    const char *why;
    apr_size_t i;

    if (sl == 0) {
        return "neither a local path nor an absolute http(s) URL";
    }
    scheme = apr_pstrmemdup(p, norm, sl);
    for (i = 0; i < sl; i++) {
        scheme[i] = (char)apr_tolower(scheme[i]);
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        return "scheme other than http or https";
    }
    o->scheme = scheme;
    a = norm + sl + 1;
    /* "https:evil" and "http:/evil" resolve off-site in browsers (WHATWG
     * special-authority states); so does "http:///evil" */
    if (a[0] != '/' || a[1] != '/') {
        return "absolute URL without '//' after the scheme";
    }
    a += 2;
    if (a[0] == '/') {
        return "more than two slashes after the scheme";
    }
    alen = strcspn(a, "/?#");
    if ((why = parse_authority(o, a, alen, p)) != NULL) {
        return why;
    }
    after = a + alen;
    *ppath = after;
    *ppath_len = strcspn(after, "?#");
    *prest = after + *ppath_len;
    return NULL;
}

static int origin_eq(const origin_t *a, const origin_t *b)
{
    return strcmp(a->scheme, b->scheme) == 0 && strcmp(a->host, b->host) == 0
           && a->port == b->port;
}

/* An origin from our configuration: "scheme://host[:port]" with at most a
 * trailing "/". 0 if it does not parse (then it matches nothing). */
static int parse_origin(origin_t *o, const char *s, apr_pool_t *p)
{
    const char *path, *rest;
    apr_size_t plen;

    if (s == NULL || check_bytes(s, strlen(s)) != NULL
        || strchr(s, '\\') != NULL
        || split_absolute(o, &path, &plen, &rest, s, p) != NULL) {
        return 0;
    }
    return *rest == '\0' && (plen == 0 || (plen == 1 && path[0] == '/'));
}

/* ---- configuration URLs -------------------------------------------------- */

apr_status_t cis2_url_parse_absolute(cis2_url_t **purl, const char *s,
                                     const cis2_err_t **perr, apr_pool_t *p)
{
    origin_t o = { NULL, NULL, 0 };
    const char *path, *rest, *why;
    apr_size_t plen, len;
    cis2_url_t *u;

    if (s == NULL || *s == '\0') {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "empty URL");
    }
    len = strlen(s);
    if (len > CIS2_MAX_URL) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "URL too long");
    }
    if ((why = check_bytes(s, len)) != NULL) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "URL refused: %s", why);
    }
    if (strchr(s, '\\') != NULL) {
        return cis2_err_set(perr, p, CIS2_E_INVALID,
                            "URL refused: backslash");
    }
    if (strchr(s, '#') != NULL) {
        return cis2_err_set(perr, p, CIS2_E_INVALID,
                            "URL refused: fragment");
    }
    if ((why = split_absolute(&o, &path, &plen, &rest, s, p)) != NULL) {
        return cis2_err_set(perr, p, CIS2_E_INVALID, "URL refused: %s", why);
    }
    u = apr_pcalloc(p, sizeof(*u));
    u->scheme = o.scheme;
    u->host = o.host;
    u->port = o.port;
    u->path = plen > 0 ? apr_pstrmemdup(p, path, plen) : "/";
    u->query = *rest == '?' ? apr_pstrdup(p, rest + 1) : NULL;
    if ((strcmp(o.scheme, "https") == 0 && o.port == 443)
        || (strcmp(o.scheme, "http") == 0 && o.port == 80)) {
        u->origin = apr_pstrcat(p, o.scheme, "://", o.host, NULL);
    }
    else {
        u->origin = apr_psprintf(p, "%s://%s:%d", o.scheme, o.host, o.port);
    }
    *purl = u;
    return APR_SUCCESS;
}

/* ---- the redirect validator ---------------------------------------------- */

static apr_status_t refuse(const cis2_err_t **perr, apr_pool_t *p,
                           const char *why)
{
    return cis2_err_set(perr, p, CIS2_E_INVALID, "redirect target refused: %s",
                        why);
}

apr_status_t cis2_url_check_redirect(const char **pout, const char *target,
                                     const char *self_origin,
                                     const apr_array_header_t *allowed,
                                     const cis2_err_t **perr, apr_pool_t *p)
{
    apr_size_t len, head, i, plen;
    const char *why, *path, *rest;
    char *norm;
    origin_t o = { NULL, NULL, 0 }, ok;
    int matched = 0;

    if (target == NULL || *target == '\0') {
        return refuse(perr, p, "empty target");
    }
    len = strlen(target);
    if (len > CIS2_MAX_URL) {
        return refuse(perr, p, "target too long");
    }
    if ((why = check_bytes(target, len)) != NULL) {
        return refuse(perr, p, why);
    }
    /* WHATWG reads '\' as '/' in http(s) URLs: judge that reading */
    norm = apr_pstrmemdup(p, target, len);
    for (i = 0; i < len; i++) {
        if (norm[i] == '\\') {
            norm[i] = '/';
        }
    }

    if (norm[0] == '/') {
        /* a local path: exactly one leading slash */
        if (norm[1] == '/') {
            return refuse(perr, p, target[0] == '\\' || target[1] == '\\'
                          ? "starts with a backslash network-path prefix"
                          : "starts with '//' (network-path reference)");
        }
        plen = strcspn(norm, "?#");
        if ((why = check_path(target, plen, p)) != NULL) {
            return refuse(perr, p, why);
        }
        head = plen;
    }
    else {
        if ((why = split_absolute(&o, &path, &plen, &rest, norm, p)) != NULL) {
            return refuse(perr, p, why);
        }
        if (plen > 0 && (why = check_path(target + (path - norm), plen, p))
                        != NULL) {
            return refuse(perr, p, why);
        }
        if (parse_origin(&ok, self_origin, p) && origin_eq(&o, &ok)) {
            matched = 1;
        }
        for (i = 0; !matched && allowed != NULL
                    && i < (apr_size_t)allowed->nelts; i++) {
            if (parse_origin(&ok, APR_ARRAY_IDX(allowed, i, const char *), p)
                && origin_eq(&o, &ok)) {
                matched = 1;
            }
        }
        if (!matched) {
            return refuse(perr, p, "origin is neither ours nor allow-listed");
        }
        head = (apr_size_t)(rest - norm);
    }
    /* '\' was judged as '/', but no genuine URL holds one before the query:
     * refuse it rather than hand a browser something to reinterpret */
    if (memchr(target, '\\', head) != NULL) {
        return refuse(perr, p, "backslash before the query");
    }
    *pout = target;
    return APR_SUCCESS;
}
