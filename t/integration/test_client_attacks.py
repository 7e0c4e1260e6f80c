"""Issue #7: a hostile client never gets in, never takes the site down.
Forged identity headers in every spelling, oversized and malformed cookies,
a flood of pending logins, code injection into another browser's callback,
HTTP method tricks and path tricks. (Callback replay, login CSRF and
duplicate parameters are in test_callback_errors.py; the basic forged
headers in test_forged_headers.py.) Every test also runs under the autouse
error_log checker: no crash, no sanitizer report, no unexpected warning."""

import concurrent.futures
import itertools
import socket
import urllib.parse

import pytest

import cis2test as T

ANY_CIS2 = r"CIS2-\d{5}"


# ---------------------------------------------------------------- raw HTTP

def raw(httpd, request_line, headers=(), body=b"", timeout=10):
    """Send bytes exactly as given (requests would normalise the path).
    Returns (status, headers text, body bytes)."""
    head = request_line + "\r\nHost: 127.0.0.1:%d\r\n" % httpd.port
    for k, v in headers:
        head += f"{k}: {v}\r\n"
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    head += "Connection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", httpd.port), timeout) as s:
        s.sendall(head.encode("latin-1") + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    hdr, _, rest = data.partition(b"\r\n\r\n")
    status = int(hdr.split(b" ", 2)[1]) if hdr.startswith(b"HTTP/") else 0
    if b"\r\ntransfer-encoding: chunked" in hdr.lower():
        rest = dechunk(rest)
    return status, hdr.decode("latin-1"), rest


def dechunk(data):
    out = b""
    while data:
        size, _, data = data.partition(b"\r\n")
        n = int(size.split(b";")[0] or b"0", 16)
        if n == 0:
            break
        out, data = out + data[:n], data[n + 2:]
    return out


# ---------------------------------------------------------------- forged headers

IDENTITY_NAMES = ["CIS2_UID", "CIS2_REMOTE_USER", "REMOTE_USER", "CIS2_ROLES",
                  "CIS2_CLAIMS_JSON", "CIS2_CLAIM_SUB", "CIS2_AAL", "CIS2_ROLE_CODE"]


def spellings(name):
    """Every case/separator variant a backend or CGI may fold to `name`:
    upper, lower, title, alternating case; '_' or '-' at each separator."""
    parts = name.split("_")
    out = set()
    for seps in itertools.product("_-", repeat=len(parts) - 1):
        joined = parts[0] + "".join(s + p for s, p in zip(seps, parts[1:]))
        for v in (joined, joined.lower(), joined.title(),
                  "".join(c.lower() if i % 2 else c for i, c in enumerate(joined))):
            out.add(v)
    return sorted(out)


ALL_SPELLINGS = sorted({s for n in IDENTITY_NAMES for s in spellings(n)})


def forged_headers(chunk):
    """A list, not a dict: requests would fold names that differ only in
    case into one header; raw() sends each spelling as written."""
    return [(name, f"forged-{i}") for i, name in enumerate(chunk)]


def body_json(body):
    import json
    return json.loads(body.decode())


def chunks(seq, n):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


@pytest.fixture(scope="module")
def ahttpd(module_httpd_factory, echo_backend):
    extra = f"""
<Location /api>
    AuthType cis2
    Require valid-user
    CIS2PassClaimsAs headers
    ProxyPass {echo_backend}/echo
</Location>
<Location /rawproxy>
    ProxyPass {echo_backend}/echo
</Location>
"""
    return module_httpd_factory(name="attacks", extra=extra)


@pytest.fixture(scope="module")
def users(sim):
    """Simulator users every default site accepts (AAL3)."""
    us = [u for u in T.sim_users() if u.aal in (3, None)]
    assert len(us) >= 4
    return us


@pytest.fixture(scope="module")
def logged_in(ahttpd, users):
    s = T.new_session()
    T.login(s, ahttpd.url("/app/app.cgi"), users[0].login)
    return s


def test_spellings_cover_the_variants():
    assert "cis2-remote-user" in ALL_SPELLINGS and "Remote_User" in ALL_SPELLINGS
    assert "CIS2-CLAIMS_JSON" in ALL_SPELLINGS and len(ALL_SPELLINGS) > 80


@pytest.mark.parametrize("path", ["/app/app.cgi", "/open/app.cgi", "/unprotected/app.cgi"])
@pytest.mark.parametrize("with_session", [True, False], ids=["session", "nosession"])
def test_forged_spellings_never_reach_cgi(path, with_session, ahttpd, logged_in):
    cookie = [("Cookie", f"cis2_session={valid_sid(logged_in)}")] if with_session else []
    for chunk in chunks(ALL_SPELLINGS, 40):
        st, hdr, body = raw(ahttpd, f"GET {path} HTTP/1.1",
                            cookie + forged_headers(chunk) + [("Accept", "text/html")])
        if st == 302:
            assert path == "/app/app.cgi" and not with_session
            assert b"forged" not in body
            continue
        assert st == 200, (st, hdr)
        env = body_json(body)
        for k, v in env.items():
            assert "forged" not in (v or ""), f"{k}={v} reached the app via {path}"
        if with_session and path == "/app/app.cgi":
            assert env["REMOTE_USER"] != "" and "forged" not in env["REMOTE_USER"]


@pytest.mark.parametrize("path", ["/api/x", "/rawproxy/x"])
def test_forged_spellings_never_reach_a_backend(path, ahttpd, logged_in):
    """Proxied: httpd passes '_' names through to backends, so the module
    must strip every spelling itself — also on a location it does not
    protect (/rawproxy)."""
    cookie = [("Cookie", f"cis2_session={valid_sid(logged_in)}")]
    for chunk in chunks(ALL_SPELLINGS, 40):
        st, hdr, body = raw(ahttpd, f"GET {path} HTTP/1.1", cookie + forged_headers(chunk))
        assert st == 200, (st, hdr)
        for k, v in body_json(body)["headers"]:
            assert "forged" not in v, f"forged header reached the backend: {k}: {v}"


def test_forged_headers_without_session_never_reach_backend(ahttpd):
    for accept in ("text/html", "application/json"):
        st, _, body = raw(ahttpd, "GET /api/x HTTP/1.1",
                          forged_headers(ALL_SPELLINGS[:40]) + [("Accept", accept)])
        assert st in (302, 401)
        assert b'"headers"' not in body and b"forged" not in body


# ---------------------------------------------------------------- cookies

def valid_sid(logged_in):
    v = logged_in.cookies.get("cis2_session")
    assert v
    return v


MALFORMED_COOKIES = {
    "no_value": "cis2_session",
    "empty_value": "cis2_session=",
    "empty_name": "=cis2_session; =x",
    "only_separators": ";;;; ; ;",
    "control_bytes": "cis2_session=a\x01b\x7f",
    "quotes": 'cis2_session="unterminated',
    "huge_value": "cis2_session=" + "A" * 7000,
    "many_cookies": "; ".join(f"c{i}=v" for i in range(400)),
    "format_string": "cis2_session=%n%s%s%s%x; cis2_login=%n%n",
    "high_bytes": "cis2_session=\xc3\xa9\xff\xfe",
    "comma_list": "cis2_session=a, cis2_session=b",
    "space_in_name": "cis2 session=abc",
}


@pytest.mark.parametrize("case", sorted(MALFORMED_COOKIES))
def test_malformed_cookie_is_no_session(case, ahttpd):
    """Never a 500 or a crash; a navigation is sent to log in (or httpd
    itself refuses an oversized header with 400)."""
    st, hdr, body = raw(ahttpd, "GET /app/app.cgi HTTP/1.1",
                        [("Cookie", MALFORMED_COOKIES[case]),
                         ("Accept", "text/html"), ("Sec-Fetch-Mode", "navigate")])
    assert st in (302, 400), (st, hdr)
    assert T.PROTECTED_MARKER.encode() not in body
    st, _, body = raw(ahttpd, "GET /protected/secret.txt HTTP/1.1",
                      [("Cookie", MALFORMED_COOKIES[case]), ("Accept", "application/json")])
    assert st in (401, 400), st
    assert T.PROTECTED_MARKER.encode() not in body


def test_oversized_cookie_header_is_refused(ahttpd):
    """Over httpd's 8 KB field limit: httpd answers 400 before we run."""
    st, _, body = raw(ahttpd, "GET /protected/secret.txt HTTP/1.1",
                      [("Cookie", "c=" + "x" * 20000)])
    assert st == 400 and T.PROTECTED_MARKER.encode() not in body


def test_valid_session_behind_noise(ahttpd, logged_in):
    """A real session cookie after a lot of junk cookies still works (within
    the scan bounds); the same session cookie tossed twice with different
    values is treated as no session (a cookie-tossing attacker cannot pick
    which one wins)."""
    sid = valid_sid(logged_in)
    noise = "; ".join(f"n{i}=v{i}" for i in range(50))
    st, _, body = raw(ahttpd, "GET /protected/secret.txt HTTP/1.1",
                      [("Cookie", f"{noise}; cis2_session={sid}")])
    assert st == 200 and T.PROTECTED_MARKER.encode() in body
    st, _, body = raw(ahttpd, "GET /protected/secret.txt HTTP/1.1",
                      [("Cookie", f"cis2_session={sid}; cis2_session=AAAA{sid[4:]}"),
                       ("Accept", "application/json")])
    assert st == 401 and T.PROTECTED_MARKER.encode() not in body


def test_forged_session_ids(ahttpd, logged_in):
    """Guessed ids: another id of the same shape, a prefix, the id with a
    changed case, and the id percent-encoded: none authenticates."""
    sid = valid_sid(logged_in)
    flipped = sid[:-1] + ("A" if sid[-1] != "A" else "B")
    for v in (flipped, sid[:20], sid.swapcase(), urllib.parse.quote(sid, safe="") + "%00",
              sid + sid, "../" + sid):
        st, _, body = raw(ahttpd, "GET /protected/secret.txt HTTP/1.1",
                          [("Cookie", f"cis2_session={v}"), ("Accept", "application/json")])
        assert st == 401, (v, st)
        assert T.PROTECTED_MARKER.encode() not in body


# ---------------------------------------------------------------- pending-login flood

def test_flood_of_pending_logins_from_one_browser(ahttpd, users):
    """300 navigations without a session from one browser: one binding
    cookie, a bounded Set-Cookie, every answer a 302, and the browser can
    still log in afterwards."""
    s = T.new_session()
    for _ in range(300):
        r = T.start_login(s, ahttpd.url("/app/app.cgi"))
        assert r.status_code == 302
        assert sum(len(h) for h in T.set_cookie_headers(r)) < 1024
    names = [c.name for c in s.cookies]
    assert len(names) == len(set(names)) and len(names) <= 2, names
    final = T.login(s, ahttpd.url("/app/app.cgi"), users[1].login)
    assert final.status_code == 200
    assert T.app_env(final)["REMOTE_USER"] == users[1].sub


def test_flood_of_pending_logins_from_many_browsers(ahttpd, users, logged_in):
    """2000 pending logins from 2000 cookie-less clients (8 at a time):
    all answered, existing sessions survive, a new login still works."""
    def one(_):
        with T.new_session() as s:
            return T.start_login(s, ahttpd.url("/app/app.cgi")).status_code
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        codes = list(ex.map(one, range(2000)))
    assert set(codes) == {302}, set(codes)
    assert logged_in.get(ahttpd.url("/app/app.cgi"), allow_redirects=False).status_code == 200
    s = T.new_session()
    assert T.login(s, ahttpd.url("/app/app.cgi"), users[2].login).status_code == 200


# ---------------------------------------------------------------- code injection

def test_code_injection_into_another_browser(ahttpd, users):
    """An attacker logs in as herself, keeps her authorization code, and
    injects it into the victim's callback (with the victim's own state and
    binding). The code was issued for the attacker's PKCE challenge and
    nonce: the exchange or the ID token check fails, the victim gets no
    session (never a 200 or a session as the attacker)."""
    attacker, victim = T.new_session(), T.new_session()
    r = T.start_login(attacker, ahttpd.url("/app/app.cgi"))
    trace = T.LoginTrace()
    T.pick_user_at_op(attacker, r.headers["Location"], users[3].login, trace)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(trace.callback_url).query)["code"][0]
    r = T.start_login(victim, ahttpd.url("/app/app.cgi"))
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(r.headers["Location"]).query)["state"][0]
    ahttpd.expect_log(ANY_CIS2, r"\[cis2:error\]")
    start = ahttpd.log_size()
    cbr = victim.get(ahttpd.url("/cis2/callback?" + urllib.parse.urlencode(
        {"code": code, "state": state})), allow_redirects=False)
    assert cbr.status_code in (400, 401, 502), (cbr.status_code, cbr.text[:300])
    T.assert_error_page(ahttpd, cbr, cbr.status_code, start, body_must_not=[code])
    assert not T.session_cookie_values(cbr)
    assert victim.get(ahttpd.url("/app/app.cgi"), allow_redirects=False).status_code == 302


# ---------------------------------------------------------------- methods

@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS",
                                    "PROPFIND", "FOO", "get", "TRACE"])
def test_method_tricks_without_session(method, ahttpd):
    """No method gets protected content without a session; non-GET never
    starts a login redirect (no 302 to the OP for a POST)."""
    for path in ("/protected/secret.txt", "/app/app.cgi"):
        st, hdr, body = raw(ahttpd, f"{method} {path} HTTP/1.1",
                            [("X-HTTP-Method-Override", "GET"), ("Accept", "text/html")],
                            body=b"a=b" if method in ("POST", "PUT", "PATCH") else b"")
        assert T.PROTECTED_MARKER.encode() not in body, (method, path)
        if method == "TRACE" and st == 200:
            # httpd core answers TRACE (TraceEnable on, the default) with an
            # echo of the request, before any auth hook: our own bytes only
            assert "message/http" in hdr, hdr
            continue
        assert st != 200 or method == "OPTIONS" and not body.strip(), (method, path, st)
        assert st < 500 or st == 501, (method, path, st, hdr)


@pytest.mark.parametrize("ctype", [None, "", "text/plain", "multipart/form-data",
                                   "application/x-www-form-urlencoded; charset=bogus"])
def test_post_odd_content_types_to_callback(ctype, ahttpd):
    """CVE-2021-20718 / CVE-2025-3891 class: POSTs with missing, empty or odd
    Content-Type and empty bodies to the module's endpoints never crash."""
    hdrs = [] if ctype is None else [("Content-Type", ctype)]
    for body in (b"", b"code=a&state=b", b"\x00" * 10):
        st, _, _ = raw(ahttpd, "POST /cis2/callback HTTP/1.1", hdrs, body=body)
        assert st in (400, 405), st


# ---------------------------------------------------------------- paths

PATH_TRICKS = [
    "/protected/../protected/secret.txt",
    "/unprotected/../protected/secret.txt",
    "/./protected/secret.txt",
    "//protected/secret.txt",
    "/protected//secret.txt",
    "/protected/./secret.txt",
    "/%70rotected/secret.txt",
    "/protected%2fsecret.txt",
    "/protected/secret%2etxt",
    "/protected/%2e%2e/protected/secret.txt",
    "/open/../protected/secret.txt",
    "/open/%2e%2e/protected/secret.txt",
    "/open%2f..%2fprotected/secret.txt",
    "/protected/secret.txt%00",
    "/protected/secret.txt;jsessionid=1",
    "/protected/secret.txt/",
    "/protected/secret.txt?x=/open/",
    "/PROTECTED/secret.txt",
    "/protected\\secret.txt",
    "/protected/secret.txt#frag",
    "http://127.0.0.1/protected/secret.txt",
    "http://evil.example/protected/secret.txt",
]


@pytest.mark.parametrize("path", PATH_TRICKS)
def test_path_tricks_never_serve_protected_content(path, ahttpd):
    st, hdr, body = raw(ahttpd, f"GET {path} HTTP/1.1", [("Accept", "application/json")])
    assert T.PROTECTED_MARKER.encode() not in body, (path, st)
    assert st < 500, (path, st, hdr)


@pytest.mark.parametrize("path", ["/protected/../protected/secret.txt",
                                  "/open/%2e%2e/protected/secret.txt",
                                  "//protected/secret.txt"])
def test_path_tricks_with_session_still_work(path, ahttpd, logged_in):
    """The positive control: the same normalising paths do serve the file
    to a logged-in browser (so the refusal above is about the session)."""
    st, _, body = raw(ahttpd, f"GET {path} HTTP/1.1",
                      [("Cookie", f"cis2_session={valid_sid(logged_in)}")])
    assert st == 200 and T.PROTECTED_MARKER.encode() in body, (path, st)


def test_redirect_uri_path_tricks(ahttpd):
    """The callback is matched exactly: near-miss paths are not the
    callback (never a 500; the module's handler does not run on them)."""
    for p in ("/cis2/callback/", "/cis2/callback/x", "/cis2//callback",
              "/cis2/callback%00", "/cis2/CALLBACK", "/cis2/./callback?code=a&state=b"):
        st, hdr, body = raw(ahttpd, f"GET {p} HTTP/1.1")
        assert st < 500, (p, st, hdr)
