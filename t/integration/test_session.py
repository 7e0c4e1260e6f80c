"""The session cookie and the login-binding cookie."""

import urllib.parse

import pytest

import cis2test as T

COOKIE = "cis2_session"


def parse_set_cookie(h):
    parts = [p.strip() for p in h.split(";")]
    name, _, value = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip()
    return name.strip(), value.strip(), attrs


def test_session_cookie_attributes(httpd, user, session):
    trace = T.LoginTrace()
    final = T.login(session, httpd.url("/app/app.cgi"), user.login, trace)
    assert final.status_code == 200
    cb = trace.callback_response
    assert cb.status_code == 302
    sets = [parse_set_cookie(h) for h in T.set_cookie_headers(cb)]
    sess = [s for s in sets if s[0] == COOKIE]
    assert len(sess) == 1, f"expected one {COOKIE} Set-Cookie: {T.set_cookie_headers(cb)}"
    name, value, attrs = sess[0]
    assert len(value) >= 43, "session id shorter than 256 bits base64url"
    assert "httponly" in attrs
    assert attrs.get("samesite", "").lower() == "lax"
    assert "secure" not in attrs, "Secure on a plain-http site: the cookie would never come back"
    assert attrs.get("path") == "/"
    assert "domain" not in attrs
    # a session cookie (no Max-Age/Expires) or a bounded one
    if "max-age" in attrs:
        assert 0 < int(attrs["max-age"]) <= 12 * 3600
    # callback responses must not be cached
    cc = cb.headers.get("Cache-Control", "").lower()
    assert "no-store" in cc or "no-cache" in cc or "private" in cc, cc


def test_second_request_served_without_redirect(httpd, user, session):
    T.login(session, httpd.url("/app/app.cgi"), user.login)
    for path in ("/app/app.cgi", "/app/app.cgi?x=1", "/protected/secret.txt"):
        r = session.get(httpd.url(path), allow_redirects=False)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
    assert T.PROTECTED_MARKER in r.text
    # XHR with the session is served too (not 401)
    r = session.get(httpd.url("/app/app.cgi"), allow_redirects=False,
                    headers={"Accept": "application/json",
                             "X-Requested-With": "XMLHttpRequest"})
    assert r.status_code == 200
    assert T.app_env(r)["REMOTE_USER"] == user.sub


def test_session_id_fresh_after_login(httpd, user, session):
    """Session fixation: a cookie the browser had before login (even one
    named like the session cookie) is never the session id afterwards."""
    planted = "A" * 43
    session.cookies.set(COOKIE, planted, domain="127.0.0.1", path="/")
    before = set()
    r = T.start_login(session, httpd.url("/app/app.cgi"))
    assert r.status_code == 302
    for h in T.set_cookie_headers(r):
        before.add(parse_set_cookie(h)[1])
    before.add(planted)
    trace = T.LoginTrace()
    T.pick_user_at_op(session, r.headers["Location"], user.login, trace)
    cb = session.get(trace.callback_url, allow_redirects=False)
    vals = T.session_cookie_values(cb)
    assert len(vals) == 1, T.set_cookie_headers(cb)
    assert vals[0] not in before
    # the planted value does not authenticate
    s2 = T.new_session()
    s2.cookies.set(COOKIE, planted, domain="127.0.0.1", path="/")
    assert s2.get(httpd.url("/app/app.cgi"), allow_redirects=False).status_code == 302


def test_session_id_changes_on_every_login(httpd, user):
    s = T.new_session()
    T.login(s, httpd.url("/app/app.cgi"), user.login)
    first = s.cookies.get(COOKIE)
    assert first
    # log in again in the same browser (e.g. after the user chose to)
    trace = T.LoginTrace()
    s.cookies.clear(domain="127.0.0.1", path="/", name=COOKIE)
    T.login(s, httpd.url("/app/app.cgi"), user.login, trace)
    second = s.cookies.get(COOKIE)
    assert second and second != first


def test_garbage_session_cookie_is_no_session(httpd, session):
    for bad in ("garbage", "A" * 43, "x" * 5000, "%00%0d%0a", '"quoted"'):
        s = T.new_session()
        s.cookies.set(COOKIE, bad, domain="127.0.0.1", path="/")
        r = s.get(httpd.url("/protected/secret.txt"), allow_redirects=False)
        assert r.status_code == 302, (bad[:20], r.status_code)
        assert T.PROTECTED_MARKER not in r.text


def test_one_binding_cookie_after_abandoned_attempts(httpd, user, session):
    """The incumbent's top complaint: one state cookie per attempt. Here:
    several abandoned logins leave exactly ONE binding cookie, and the last
    attempt still completes."""
    names_set = []
    last = None
    for i in range(6):
        r = T.start_login(session, httpd.url(f"/app/app.cgi?attempt={i}"))
        assert r.status_code == 302
        sc = T.set_cookie_headers(r)
        assert len(sc) <= 1, f"more than one cookie set by one redirect: {sc}"
        names_set += [parse_set_cookie(h)[0] for h in sc]
        last = r
    assert len(set(names_set)) == 1, f"cookie names used: {names_set}"
    jar = [c for c in session.cookies if c.domain.startswith("127.0.0.1")]
    assert len(jar) == 1, f"cookies in the browser: {[(c.name, c.domain) for c in jar]}"
    binding = jar[0]
    assert binding.name != COOKIE
    # every Set-Cookie of the binding cookie carries HttpOnly and SameSite=Lax
    # (Lax: it must come back on the OP's top-level redirect to us)
    r = T.start_login(T.new_session(), httpd.url("/app/app.cgi"))
    _, _, attrs = parse_set_cookie(T.set_cookie_headers(r)[0])
    assert "httponly" in attrs and attrs.get("samesite", "").lower() == "lax"
    # the last attempt completes and returns to its own URL
    trace = T.LoginTrace()
    T.pick_user_at_op(session, last.headers["Location"], user.login, trace)
    cb = session.get(trace.callback_url, allow_redirects=False)
    assert cb.status_code == 302, cb.text[:300]
    assert urllib.parse.urlsplit(urllib.parse.urljoin(httpd.base, cb.headers["Location"])).query == "attempt=5"
    r = session.get(urllib.parse.urljoin(httpd.base, cb.headers["Location"]), allow_redirects=False)
    assert T.app_env(r)["REMOTE_USER"] == user.sub


def test_earlier_abandoned_attempt_can_still_complete(httpd, user, session):
    """Two tabs: attempt A started, then attempt B; finishing A still
    works (the binding is per browser, not per attempt)."""
    a = T.start_login(session, httpd.url("/app/app.cgi?tab=a"))
    b = T.start_login(session, httpd.url("/app/app.cgi?tab=b"))
    assert a.status_code == b.status_code == 302
    trace = T.LoginTrace()
    T.pick_user_at_op(session, a.headers["Location"], user.login, trace)
    cb = session.get(trace.callback_url, allow_redirects=False)
    assert cb.status_code == 302, cb.text[:300]
    assert cb.headers["Location"].endswith("/app/app.cgi?tab=a")


def test_cookie_domain_and_samesite_configurable(httpd_factory, user, session):
    """CIS2CookieDomain / CIS2CookieSameSite reach the session cookie; the
    login-binding cookie stays host-only and Lax; cookies carry ids only."""
    h = httpd_factory(directives=["CIS2CookieDomain 127.0.0.1",
                                  "CIS2CookieSameSite Strict"])
    trace = T.LoginTrace()
    cb = T.login(session, h.url("/app/app.cgi"), user.login, trace, follow_final=False)
    assert cb.status_code == 302
    sess = [parse_set_cookie(x) for x in T.set_cookie_headers(cb)
            if x.startswith(COOKIE + "=")]
    assert len(sess) == 1
    _, value, attrs = sess[0]
    assert attrs.get("domain") == "127.0.0.1" and attrs.get("samesite") == "Strict"
    assert len(value) == 43 and user.sub not in value
    start = [parse_set_cookie(x) for x in T.set_cookie_headers(trace.hops[0])]
    assert start and all("domain" not in a and a.get("samesite") == "Lax"
                         for _, _, a in start), start
