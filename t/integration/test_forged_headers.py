"""Client-sent headers that look like ours never reach the app (CGI env) or
a proxied backend (CIS2PassClaimsAs headers), with or without a session.

Contract: client headers whose name, upper-cased with '-' -> '_', starts
with CIS2_ or equals REMOTE_USER / CIS2_REMOTE_USER are removed on every
protected request. (X-Remote-User is not ours: it is sent but not judged.)
"""

import re

import pytest

import cis2test as T

FORGED = {
    "CIS2-UID": "forged-uid-1",
    "CIS2_UID": "forged-uid-2",
    "Cis2-Roles": "forged-roles",
    "cis2-aal": "forged-aal",
    "CIS2-CLAIMS-JSON": '{"sub":"forged-claims"}',
    "CIS2-Remote-User": "forged-cis2-remote-user",
    "CIS2_REMOTE_USER": "forged-cis2-remote-user-2",
    "REMOTE_USER": "forged-remote-user-1",
    "Remote-User": "forged-remote-user-2",
    "X-Remote-User": "x-remote-user-not-judged",
}


def is_ours(name):
    n = name.upper().replace("-", "_")
    if n.startswith("HTTP_"):
        n = n[5:]
    return n.startswith("CIS2_") or n in ("REMOTE_USER", "CIS2_REMOTE_USER")


@pytest.fixture(scope="module")
def phttpd(module_httpd_factory, echo_backend):
    extra = f"""
<Location /api>
    AuthType cis2
    Require valid-user
    CIS2PassClaimsAs headers
    ProxyPass {echo_backend}/echo
</Location>
<Location /envproxy>
    AuthType cis2
    Require valid-user
    ProxyPass {echo_backend}/echo
</Location>
<Location /both>
    AuthType cis2
    Require valid-user
    CIS2PassClaimsAs both
    ProxyPass {echo_backend}/echo
</Location>
"""
    return module_httpd_factory(name="headers", extra=extra)


def assert_no_forged_env(env):
    for k, v in env.items():
        if k == "HTTP_X_REMOTE_USER":
            continue
        assert "forged" not in (v or ""), f"forged value reached the app as {k}={v}"
        assert not (k.startswith("HTTP_") and is_ours(k)), f"client header reached the app: {k}"


def test_cgi_with_session(phttpd, user, session):
    T.login(session, phttpd.url("/app/app.cgi"), user.login)
    r = session.get(phttpd.url("/app/app.cgi"), headers=FORGED, allow_redirects=False)
    env = T.app_env(r)
    assert_no_forged_env(env)
    assert env["REMOTE_USER"] == user.sub
    assert env["CIS2_UID"] == user.sub
    assert env["CIS2_AAL"] == "3"


def test_cgi_without_session_is_not_served(phttpd):
    s = T.new_session()
    r = s.get(phttpd.url("/app/app.cgi"), headers=FORGED, allow_redirects=False)
    assert r.status_code == 302
    assert "forged" not in r.text and T.PROTECTED_MARKER not in r.text
    r = s.get(phttpd.url("/app/app.cgi"), headers=dict(FORGED, Accept="application/json"),
              allow_redirects=False)
    assert r.status_code == 401 and "forged" not in r.text


def test_cgi_in_cis2_location_without_session(phttpd):
    """/open: AuthType cis2 but `Require all granted`: served without a
    session, and forged identity headers still never reach the app."""
    s = T.new_session()
    r = s.get(phttpd.url("/open/app.cgi"), headers=FORGED, allow_redirects=False)
    env = T.app_env(r)
    assert_no_forged_env(env)
    assert "REMOTE_USER" not in env


def test_cgi_unprotected_path(phttpd):
    """DESIGN §5: the headers are removed 'on every path', so a site
    cannot be fooled by a forged CIS2 header on a location that is not
    protected either."""
    s = T.new_session()
    r = s.get(phttpd.url("/unprotected/app.cgi"), headers=FORGED, allow_redirects=False)
    env = T.app_env(r)
    assert_no_forged_env(env)


def backend_headers(r):
    assert r.status_code == 200, (r.status_code, r.text[:300])
    data = r.json()
    assert data["path"].startswith("/echo"), data
    return data["headers"]


@pytest.mark.parametrize("loc", ["/api", "/both"])
def test_proxy_headers_mode_with_session(loc, phttpd, user, session):
    T.login(session, phttpd.url("/app/app.cgi"), user.login)
    r = session.get(phttpd.url(f"{loc}/x"), headers=FORGED, allow_redirects=False)
    hdrs = backend_headers(r)
    for k, v in hdrs:
        if k.lower() == "x-remote-user":
            continue
        assert "forged" not in v, f"forged header reached the backend: {k}: {v}"
    ours = {}
    for k, v in hdrs:
        if is_ours(k):
            ours.setdefault(k.upper(), []).append(v)
    assert all(len(v) == 1 for v in ours.values()), f"a claim header twice: {ours}"
    assert ours.get("CIS2-UID") == [user.sub], ours
    assert ours.get("CIS2-REMOTE-USER") == [user.sub], ours
    assert ours.get("CIS2-AAL") == ["3"], ours
    # only dash names: an underscore name could be confused by backends
    assert not [k for k in ours if "_" in k], ours
    for k, v in hdrs:
        assert not re.search(r"[\r\n]", v)


def test_proxy_without_session_never_reaches_backend(phttpd):
    s = T.new_session()
    r = s.get(phttpd.url("/api/x"), headers=dict(FORGED, Accept="application/json"),
              allow_redirects=False)
    assert r.status_code == 401
    assert '"headers"' not in r.text and "forged" not in r.text
    r = s.get(phttpd.url("/api/x"), headers=FORGED, allow_redirects=False)
    assert r.status_code == 302
    assert '"headers"' not in r.text


def test_proxy_environment_mode_sends_no_claim_headers(phttpd, user, session):
    """Default CIS2PassClaimsAs environment: a proxied backend gets no
    CIS2-* headers at all (neither forged nor ours)."""
    T.login(session, phttpd.url("/app/app.cgi"), user.login)
    r = session.get(phttpd.url("/envproxy/x"), headers=FORGED, allow_redirects=False)
    hdrs = backend_headers(r)
    ours = [(k, v) for k, v in hdrs if is_ours(k)]
    assert not ours, ours
