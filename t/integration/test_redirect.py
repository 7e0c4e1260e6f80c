"""After login the browser goes back to the URL it asked for, query string
included, and only ever to our own origin."""

import urllib.parse

import pytest

import cis2test as T
from test_nonnav import raw_request

EXTRA = """
ScriptAlias /evil.example/ {root}/cgi/
<LocationMatch "evil">
    AuthType cis2
    Require valid-user
</LocationMatch>
"""


@pytest.fixture(scope="module")
def rhttpd(module_httpd_factory, tmp_path_factory):
    h = module_httpd_factory(name="redirect", start=False)
    h.extra = EXTRA.format(root=h.root)
    h.write_conf()
    return h.start()


@pytest.mark.parametrize("path", [
    "/app/app.cgi?a=1&b=two%20words&c=%2F%2Fevil",
    "/app/app.cgi?next=http://evil.example/",
    "/app/app.cgi/extra/path?x=%C3%A9",
    "/protected/secret.txt",
    "/app/app.cgi?q=%0D%0ASet-Cookie:%20evil=1",
])
def test_back_to_original_url(path, rhttpd, user, session):
    trace = T.LoginTrace()
    r = T.login(session, rhttpd.url(path), user.login, trace)
    assert r.status_code == 200
    loc = trace.callback_response.headers["Location"]
    target = urllib.parse.urljoin(rhttpd.base + "/", loc)
    assert target == rhttpd.url(path), (loc, path)
    if path.startswith("/app/app.cgi?"):
        assert T.app_env(r)["QUERY_STRING"] == path.split("?", 1)[1]
    assert "\r" not in loc and "\n" not in loc
    assert "evil" not in [c.name for c in session.cookies]


def test_very_long_original_url(rhttpd, user, session):
    """An original URL over the module's limit: the login still completes
    and lands on a local URL (the original or the default), no 500."""
    path = "/app/app.cgi?x=" + "y" * 6000
    trace = T.LoginTrace()
    r = T.login(session, rhttpd.url(path), user.login, trace, follow_final=False)
    assert r.status_code == 302, (r.status_code, r.text[:300])
    assert_local(rhttpd, r.headers["Location"])


def assert_local(httpd, loc):
    assert loc, "no Location"
    assert not any(c in loc for c in "\r\n\t\\"), repr(loc)
    u = urllib.parse.urlsplit(loc)
    if u.scheme or u.netloc:
        assert (u.scheme, u.netloc) == ("http", f"127.0.0.1:{httpd.port}"), loc
    else:
        assert loc.startswith("/") and not loc.startswith("//"), loc
    joined = urllib.parse.urlsplit(urllib.parse.urljoin(httpd.base + "/", loc))
    assert joined.netloc == f"127.0.0.1:{httpd.port}", loc
    assert "evil" not in joined.netloc


def first_hop_raw(httpd, request_line, host=None):
    """Send the first (unauthenticated) request raw, so odd request targets
    reach httpd untouched. Returns (status, headers list)."""
    host = host or f"127.0.0.1:{httpd.port}"
    raw = raw_request(httpd.port,
                      f"{request_line}\r\nHost: {host}\r\nAccept: {T.NAV_ACCEPT}\r\n"
                      "Connection: close\r\n\r\n")
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = [tuple(x.strip() for x in l.split(":", 1)) for l in head[1:] if ":" in l]
    assert T.PROTECTED_MARKER.encode() not in raw
    return status, headers


@pytest.mark.parametrize("request_line,host", [
    ("GET //evil.example/app/app.cgi HTTP/1.1", None),
    ("GET ///evil.example/app/app.cgi HTTP/1.1", None),
    ("GET /\\evil.example/app/app.cgi HTTP/1.1", None),
    ("GET /%5Cevil.example/ HTTP/1.1", None),
    ("GET /%2F%2Fevil.example/ HTTP/1.1", None),
    ("GET http://evil.example/app/app.cgi HTTP/1.1", None),
    ("GET /app/app.cgi HTTP/1.1", "evil.example"),
    ("GET /evil.example/app.cgi HTTP/1.1", f"evil.example:80"),
], ids=["double-slash", "triple-slash", "backslash", "enc-backslash",
        "enc-double-slash", "absolute-form", "host-header", "host-header-2"])
def test_return_target_cannot_leave_origin(request_line, host, rhttpd, user):
    status, headers = first_hop_raw(rhttpd, request_line, host)
    if status != 302:
        # refusing such a request outright is fine; it must not be a 200
        assert status in (400, 401, 403, 404), status
        return
    loc = dict((k.lower(), v) for k, v in headers)["location"]
    s = T.new_session()
    for k, v in headers:
        if k.lower() == "set-cookie":
            name, _, rest = v.partition("=")
            s.cookies.set(name.strip(), rest.split(";", 1)[0].strip(),
                          domain="127.0.0.1", path="/")
    trace = T.LoginTrace()
    T.pick_user_at_op(s, loc, user.login, trace)
    cb = s.get(trace.callback_url, allow_redirects=False)
    assert cb.status_code in (302, 400), (cb.status_code, cb.text[:300])
    assert T.PROTECTED_MARKER not in cb.text
    if cb.status_code == 302:
        assert_local(rhttpd, cb.headers["Location"])
