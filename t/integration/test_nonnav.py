"""Unauthenticated requests: a top-level navigation is redirected to the
OP; anything else (XHR, fetch, non-GET, JSON Accept) gets 401 JSON and no
Location. No protected byte ever leaks."""

import json
import socket
import urllib.parse

import pytest

import cis2test as T

PATHS = ["/app/app.cgi", "/protected/secret.txt"]

NON_NAV = {
    "xhr": ("GET", {"Accept": "*/*", "X-Requested-With": "XMLHttpRequest"}),
    "fetch-cors": ("GET", {"Accept": "*/*", "Sec-Fetch-Mode": "cors",
                           "Sec-Fetch-Dest": "empty"}),
    "accept-json": ("GET", {"Accept": "application/json"}),
    "post-form": ("POST", {"Accept": T.NAV_ACCEPT,
                           "Content-Type": "application/x-www-form-urlencoded"}),
    "put": ("PUT", {"Accept": T.NAV_ACCEPT}),
    "delete": ("DELETE", {"Accept": "*/*"}),
    "image": ("GET", {"Accept": "image/avif,image/webp,*/*;q=0.8",
                      "Sec-Fetch-Dest": "image", "Sec-Fetch-Mode": "no-cors"}),
}

NAV = {
    "browser": {"Accept": T.NAV_ACCEPT},
    "html-only": {"Accept": "text/html"},
    "star": {"Accept": "*/*"},          # curl, links opened by tools
    "no-accept": {},
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", sorted(NON_NAV))
def test_non_navigation_gets_401(kind, path, httpd):
    method, headers = NON_NAV[kind]
    s = T.new_session()
    s.headers.pop("Sec-Fetch-Mode", None)
    s.headers.pop("Sec-Fetch-Dest", None)
    r = s.request(method, httpd.url(path), headers=headers,
                  data="a=1" if method in ("POST", "PUT") else None,
                  allow_redirects=False)
    assert r.status_code == 401, (kind, r.status_code, r.headers.get("Location"))
    assert "Location" not in r.headers
    assert T.PROTECTED_MARKER not in r.text
    assert "json" in r.headers.get("Content-Type", ""), r.headers.get("Content-Type")
    json.loads(r.text)


def test_head_unauthenticated_leaks_nothing(httpd):
    s = T.new_session()
    r = s.head(httpd.url("/protected/secret.txt"), allow_redirects=False)
    assert r.status_code in (302, 401), r.status_code
    assert r.headers.get("Content-Length") != str(
        len(f"top secret: {T.PROTECTED_MARKER}\n"))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", sorted(NAV))
def test_navigation_redirects_to_authorize(kind, path, httpd, sim):
    s = T.new_session()
    for h in ("Accept", "Sec-Fetch-Mode", "Sec-Fetch-Dest"):
        s.headers.pop(h, None)
    headers = dict(NAV[kind])
    if kind == "no-accept":
        # requests adds Accept: */* by default; send a raw request instead
        raw = raw_request(httpd.port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{httpd.port}\r\n"
                          "Connection: close\r\n\r\n")
        status = int(raw.split(b" ", 2)[1])
        assert status == 302, raw[:300]
        assert T.PROTECTED_MARKER.encode() not in raw
        loc = [l for l in raw.split(b"\r\n") if l.lower().startswith(b"location:")]
        assert loc and loc[0].split(b":", 1)[1].strip().decode().startswith(sim.issuer + "/authorize?")
        return
    r = s.get(httpd.url(path), headers=headers, allow_redirects=False)
    assert r.status_code == 302, (kind, r.status_code)
    assert r.headers["Location"].startswith(sim.issuer + "/authorize?")
    assert T.PROTECTED_MARKER not in r.text
    cc = r.headers.get("Cache-Control", "").lower()
    assert "no-store" in cc or "no-cache" in cc or "private" in cc, \
        f"redirect to the OP may be cached: {cc!r}"


def raw_request(port, text, timeout=10):
    with socket.create_connection(("127.0.0.1", port), timeout) as c:
        c.sendall(text.encode("latin-1"))
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def test_non_navigation_with_session_is_served(httpd, sim, session):
    us = [u for u in T.sim_users() if u.aal in (3, None) and len(u.roles) == 1]
    T.login(session, httpd.url("/app/app.cgi"), us[0].login)
    for method, headers in NON_NAV.values():
        r = session.request(method, httpd.url("/app/app.cgi"), headers=headers,
                            data="a=1" if method in ("POST", "PUT") else None,
                            allow_redirects=False)
        assert r.status_code == 200, (method, headers, r.status_code)
        env = T.app_env(r)
        assert env["REMOTE_USER"] == us[0].sub and env["REQUEST_METHOD"] == method
