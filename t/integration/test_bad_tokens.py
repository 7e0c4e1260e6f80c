"""ID tokens and UserInfo the module must refuse (contract: 401 page with a
reference, one numbered log line, no session), and OP failures (502 within
the timeout). Driven by the hostile OP, with a positive control first: the
same OP, behaving, must give a working login."""

import base64
import hashlib
import time
import urllib.parse

import pytest

import cis2test as T
from conftest import HOSTILE_CLIENT, HOSTILE_SECRET, hostile_provider
from hostile_op import DELETE, OTHER_KID, SUB, HostileOP

# Refusals and OP failures log one numbered glue line (any level) and may
# log unnumbered core lines at ERR (STYLE §5: "OP failure or garbage: ERR";
# core lines carry no number). Nothing at crit/alert/emerg is expected.
ANY_CIS2 = r"CIS2-\d{5}|\[cis2:(?:error|warn)\]"


@pytest.fixture(autouse=True)
def reset_op(hostile_op):
    hostile_op.reset()
    yield
    hostile_op.reset()


def assert_logged_in(session, httpd, cb):
    assert cb.status_code == 302, f"{cb.status_code}: {cb.text[:500]}"
    r = session.get(httpd.url(cb.headers["Location"])
                    if cb.headers["Location"].startswith("/")
                    else cb.headers["Location"], allow_redirects=False)
    env = T.app_env(r)
    assert env["REMOTE_USER"] == SUB
    return env


def assert_not_logged_in(session, httpd, cb):
    assert not T.session_cookie_values(cb), \
        f"a session cookie was set on a refused login: {T.set_cookie_headers(cb)}"
    r = session.get(httpd.url("/app/app.cgi"), allow_redirects=False)
    assert r.status_code == 302, \
        f"the refused login still authenticates: {r.status_code} {r.text[:300]}"
    assert T.PROTECTED_MARKER not in r.text
    r = session.get(httpd.url("/protected/secret.txt"), allow_redirects=False)
    assert r.status_code in (302, 401) and T.PROTECTED_MARKER not in r.text


# ---------------------------------------------------------------- control

def test_hostile_op_positive_control(hostile_httpd, hostile_op, session):
    cb, _, trace = T.hostile_login(session, hostile_httpd)
    env = assert_logged_in(session, hostile_httpd, cb)
    assert env["CIS2_UID"] == SUB
    # the token request the module sent: PKCE verifier matching the
    # challenge it sent, the exact redirect_uri, client_secret_post
    reqs = hostile_op.token_requests()
    assert reqs, "no token request reached the OP"
    form = urllib.parse.parse_qs(reqs[-1][3])
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(trace.authorize_url).query)
    verifier = form["code_verifier"][0]
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert q["code_challenge"] == [challenge]
    assert q["code_challenge_method"] == ["S256"]
    assert form["grant_type"] == ["authorization_code"]
    assert form["redirect_uri"] == [hostile_httpd.redirect_uri]
    assert form["client_id"] == [HOSTILE_CLIENT]
    assert form["client_secret"] == [HOSTILE_SECRET]
    # secret in the body only: no Basic header alongside
    assert "Authorization" not in reqs[-1][2]


def test_client_secret_basic_on_the_wire(module_httpd_factory, hostile_op, session):
    h = module_httpd_factory(name="hostile-basic", provider=dict(
        hostile_provider(hostile_op), auth="client_secret_basic"),
        directives=["CIS2HTTPTimeout 1 2"])
    cb, _, _ = T.hostile_login(session, h)
    assert_logged_in(session, h, cb)
    _, _, headers, body = hostile_op.token_requests()[-1]
    want = "Basic " + base64.b64encode(
        f"{HOSTILE_CLIENT}:{HOSTILE_SECRET}".encode()).decode()
    assert headers.get("Authorization") == want
    assert "client_secret" not in urllib.parse.parse_qs(body)


def test_userinfo_off(module_httpd_factory, hostile_op, session):
    h = module_httpd_factory(name="hostile-noui", provider=hostile_provider(hostile_op),
                             directives=["CIS2HTTPTimeout 1 2", "CIS2UserInfo off"])
    n = len([r for r in hostile_op.requests if r[1].endswith("/userinfo")])
    hostile_op.set(userinfo_sub="999999999999")   # would be refused if fetched
    cb, _, _ = T.hostile_login(session, h)
    env = assert_logged_in(session, h, cb)
    assert env["CIS2_AAL"] == "3"
    assert len([r for r in hostile_op.requests if r[1].endswith("/userinfo")]) == n


def test_rs512_accepted_by_default(hostile_httpd, hostile_op, session):
    hostile_op.set(signing="RS512")
    cb, _, _ = T.hostile_login(session, hostile_httpd)
    assert_logged_in(session, hostile_httpd, cb)


# ---------------------------------------------------------------- refusals

def _now_minus(s):
    return lambda now: now - s


def _now_plus(s):
    return lambda now: now + s


BAD_TOKENS = {
    # exp 120 s in the past (beyond the 60 s skew); auth_time still fresh
    "expired": dict(claims={"exp": _now_minus(120), "iat": _now_minus(200),
                            "auth_time": _now_minus(210)}),
    "iat_future": dict(claims={"iat": _now_plus(600), "exp": _now_plus(4200)}),
    "wrong_iss": dict(claims={"iss": "http://127.0.0.1:1/evil-op"}),
    "iss_trailing_slash": dict(claims={"iss": lambda now: None}),  # set below
    "wrong_aud": dict(claims={"aud": "someone-else.apps.national",
                              "azp": "someone-else.apps.national"}),
    "aud_array_without_us": dict(claims={"aud": ["a.apps.national",
                                                 "b.apps.national"],
                                         "azp": DELETE}),
    "azp_other": dict(claims={"aud": [HOSTILE_CLIENT, "b.apps.national"],
                              "azp": "b.apps.national"}),
    "bad_signature": dict(signing="wrongkey"),
    "alg_none": dict(signing="none"),
    "hs256_client_secret": dict(signing="hs256-secret"),
    "unknown_kid": dict(header={"kid": OTHER_KID}),
    "nonce_mismatch": dict(nonce="not-the-nonce-we-sent"),
    "nonce_missing": dict(nonce=None),
    "sub_missing": dict(claims={"sub": DELETE}),
    "exp_missing": dict(claims={"exp": DELETE}),
    "userinfo_sub_mismatch": dict(userinfo_sub="999999999999"),
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
def test_bad_token_refused(case, hostile_httpd, hostile_op, session):
    behaviour = dict(BAD_TOKENS[case])
    if case == "iss_trailing_slash":
        behaviour = dict(claims={"iss": hostile_op.issuer + "/"})
    hostile_op.set(**behaviour)
    hostile_httpd.expect_log(ANY_CIS2)
    start = hostile_httpd.log_size()
    cb, elapsed, trace = T.hostile_login(session, hostile_httpd)
    q = urllib.parse.urlsplit(trace.callback_url).query
    code = urllib.parse.parse_qs(q)["code"][0]
    T.assert_error_page(hostile_httpd, cb, 401, start, body_must_not=[code])
    assert_not_logged_in(session, hostile_httpd, cb)


def test_id_token_alg_not_in_allow_list(module_httpd_factory, hostile_op, session):
    h = module_httpd_factory(name="hostile-rs256only",
                             provider=hostile_provider(hostile_op),
                             directives=["CIS2HTTPTimeout 1 2",
                                         "CIS2IDTokenAlgs RS256"])
    hostile_op.set(signing="RS512")
    h.expect_log(ANY_CIS2)
    start = h.log_size()
    cb, _, _ = T.hostile_login(session, h)
    T.assert_error_page(h, cb, 401, start)
    assert_not_logged_in(session, h, cb)
    # and RS256 still works there (the refusal was about the alg)
    hostile_op.reset()
    s2 = T.new_session()
    cb, _, _ = T.hostile_login(s2, h)
    assert_logged_in(s2, h, cb)


# ---------------------------------------------------------------- assurance

ASSURANCE = {
    # auth_time 20 min old: past the 300 s (+ skew) freshness window
    "auth_time_stale": dict(claims={"auth_time": _now_minus(1200)}),
    "aal2": dict(claims={"authentication_assurance_level": "2", "acr": "AAL2_ANY",
                         "amr": ["TOTP"]}),
    "aal2_int": dict(claims={"authentication_assurance_level": 2, "acr": "AAL2_ANY"}),
    "ial2": dict(claims={"id_assurance_level": "2"}),
    "aal_missing": dict(claims={"authentication_assurance_level": DELETE}),
}


@pytest.mark.parametrize("case", sorted(ASSURANCE))
def test_assurance_refused_403(case, hostile_httpd, hostile_op, session):
    hostile_op.set(**ASSURANCE[case])
    hostile_httpd.expect_log(ANY_CIS2)
    start = hostile_httpd.log_size()
    cb, _, _ = T.hostile_login(session, hostile_httpd)
    T.assert_error_page(hostile_httpd, cb, 403, start)
    assert_not_logged_in(session, hostile_httpd, cb)


def test_assurance_as_integers_accepted(hostile_httpd, hostile_op, session):
    """CIS2 sends the levels as strings or integers (CIS2.md §12)."""
    hostile_op.set(claims={"authentication_assurance_level": 3, "id_assurance_level": 3})
    cb, _, _ = T.hostile_login(session, hostile_httpd)
    env = assert_logged_in(session, hostile_httpd, cb)
    assert env["CIS2_AAL"] == "3" and env["CIS2_IAL"] == "3"


def test_nothing_secret_in_the_log(hostile_httpd, hostile_op, session):
    """DESIGN §6: tokens, codes, secrets and cookies are never logged (here
    at LogLevel cis2:debug), on success and on refusal."""
    start = hostile_httpd.log_size()
    cb, _, trace = T.hostile_login(session, hostile_httpd)
    assert_logged_in(session, hostile_httpd, cb)
    hostile_op.set(signing="wrongkey")
    hostile_httpd.expect_log(ANY_CIS2)
    s2 = T.new_session()
    cb2, _, trace2 = T.hostile_login(s2, hostile_httpd)
    assert cb2.status_code == 401
    log = hostile_httpd.read_log(start)
    secrets = [HOSTILE_SECRET]
    for t in (trace, trace2):
        secrets.append(urllib.parse.parse_qs(
            urllib.parse.urlsplit(t.callback_url).query)["code"][0])
    secrets += [c.value for c in session.cookies] + [c.value for c in s2.cookies]
    for tok in hostile_op.issued:
        parts = tok.split(".")
        secrets += [p for p in (parts[1:] if len(parts) == 3 else parts) if len(p) > 16]
    for v in secrets:
        assert v and v not in log, f"a secret ({v[:6]}...) is in the error_log"


# ---------------------------------------------------------------- issuer :443

ISS_443 = "https://op.cis2.test:443/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare"
ISS_NO_PORT = "https://op.cis2.test/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare"


@pytest.mark.parametrize("configured,token_iss,ok", [
    (ISS_443, ISS_443, True),          # byte-for-byte equal, with :443
    (ISS_443, ISS_NO_PORT, False),     # token drops the :443
    (ISS_NO_PORT, ISS_443, False),     # token adds a :443 we did not configure
    (ISS_NO_PORT, ISS_NO_PORT, True),
], ids=["443-443-ok", "443-noport-refused", "noport-443-refused", "noport-noport-ok"])
def test_issuer_port_443_byte_for_byte(configured, token_iss, ok, httpd_factory, session):
    op = HostileOP(HOSTILE_CLIENT, HOSTILE_SECRET, issuer=configured).start()
    try:
        op.set(claims={"iss": token_iss})
        h = httpd_factory(provider=hostile_provider(op),
                          directives=["CIS2HTTPTimeout 1 2",
                                      f"CIS2Issuer {configured}"])
        start = h.log_size()
        if not ok:
            h.expect_log(ANY_CIS2)
        cb, _, _ = T.hostile_login(session, h)
        if ok:
            assert_logged_in(session, h, cb)
        else:
            T.assert_error_page(h, cb, 401, start)
            assert_not_logged_in(session, h, cb)
    finally:
        op.stop()


# ---------------------------------------------------------------- OP failures

OP_FAILURES = {
    "token_500": dict(token_status=500, token_body="Internal Server Error",
                      token_ctype="text/plain"),
    "token_500_json": dict(token_status=500, token_body='{"error":"server_error"}'),
    "token_html": dict(token_status=200, token_ctype="text/html",
                       token_body="<html><body>Service unavailable</body></html>"),
    "token_truncated_json": dict(token_status=200, token_body='{"access_token":"x",'),
    "token_invalid_grant": dict(token_error="invalid_grant"),
    "token_no_id_token": dict(token_status=200,
                              token_body='{"access_token":"x","token_type":"Bearer"}'),
    "userinfo_500": dict(userinfo_status=500),
    "token_huge": dict(token_status=200,
                       token_body='{"access_token":"' + "A" * (3 * 1024 * 1024) + '"}'),
    "token_redirect": dict(token_status=302, token_body="", token_ctype="text/plain"),
    "token_json_array": dict(token_status=200, token_body="[1,2,3]"),
}


@pytest.mark.parametrize("case", sorted(OP_FAILURES))
def test_op_failure_gives_502(case, hostile_httpd, hostile_op, session):
    hostile_op.set(**OP_FAILURES[case])
    hostile_httpd.expect_log(ANY_CIS2)
    start = hostile_httpd.log_size()
    cb, elapsed, trace = T.hostile_login(session, hostile_httpd)
    T.assert_error_page(hostile_httpd, cb, 502, start,
                        body_must_not=["Service unavailable", "server_error"])
    assert elapsed < 3.0, f"took {elapsed:.1f}s"
    assert_not_logged_in(session, hostile_httpd, cb)


def _nested(depth):
    v = "x"
    for _ in range(depth):
        v = {"a": v}
    return v


@pytest.mark.parametrize("case,behaviour", [
    ("deep_nesting", dict(claims={"deep": _nested(200)})),
    ("huge_claim", dict(claims={"big": "B" * (400 * 1024)})),
    ("iss_number", dict(claims={"iss": 12345})),
    ("exp_string", dict(claims={"exp": "tomorrow"})),
    ("aud_empty_array", dict(claims={"aud": [], "azp": DELETE})),
    ("userinfo_not_object", dict(userinfo_extra={"sub": ["555012345678"]})),
], ids=lambda x: x if isinstance(x, str) else "")
def test_malformed_token_refused(case, behaviour, hostile_httpd, hostile_op, session):
    """Garbage inside a signed token: refused (401, or 502 as OP garbage),
    never a 200, a 500 or a crashed child."""
    hostile_op.set(**behaviour)
    hostile_httpd.expect_log(ANY_CIS2)
    start = hostile_httpd.log_size()
    cb, _, _ = T.hostile_login(session, hostile_httpd)
    assert cb.status_code in (401, 502), (cb.status_code, cb.text[:300])
    T.assert_error_page(hostile_httpd, cb, cb.status_code, start)
    assert_not_logged_in(session, hostile_httpd, cb)


def test_discovery_issuer_differs_from_configured(httpd_factory, session):
    """The discovery document names another issuer than CIS2Issuer: no
    sign-in can start (502 page), nothing is trusted."""
    op = HostileOP(HOSTILE_CLIENT, HOSTILE_SECRET, issuer=ISS_443).start()
    try:
        h = httpd_factory(provider=hostile_provider(op),
                          directives=["CIS2HTTPTimeout 1 2", f"CIS2Issuer {ISS_NO_PORT}"])
        h.expect_log(ANY_CIS2)
        start = h.log_size()
        r = session.get(h.url("/app/app.cgi"), allow_redirects=False)
        T.assert_error_page(h, r, 502, start)
        assert "Location" not in r.headers
    finally:
        op.stop()


def test_token_endpoint_slow_past_timeout(hostile_httpd, hostile_op, session):
    """CIS2HTTPTimeout 1 2: a token endpoint that takes 5 s gives a 502
    after ~2 s, and the worker is free again at once."""
    hostile_op.set(token_delay=5.0)
    hostile_httpd.expect_log(ANY_CIS2)
    start = hostile_httpd.log_size()
    cb, elapsed, trace = T.hostile_login(session, hostile_httpd)
    T.assert_error_page(hostile_httpd, cb, 502, start)
    assert elapsed < 2.0 + 1.5, f"callback took {elapsed:.2f}s with a 2 s total timeout"
    assert_not_logged_in(session, hostile_httpd, cb)
    # the server still logs people in promptly
    hostile_op.reset()
    s2 = T.new_session()
    t0 = time.monotonic()
    cb, _, _ = T.hostile_login(s2, hostile_httpd)
    assert_logged_in(s2, hostile_httpd, cb)
    assert time.monotonic() - t0 < 3.0


def test_op_unreachable_gives_502(httpd_factory, session):
    """Discovery URL on a closed port: navigation to a protected URL cannot
    start a login; the user gets a 502 page, not a hang or a 500."""
    port = T.free_port()
    h = httpd_factory(provider={
        "metadata_url": f"http://127.0.0.1:{port}/op/.well-known/openid-configuration",
        "client_id": HOSTILE_CLIENT, "client_secret": HOSTILE_SECRET},
        directives=["CIS2HTTPTimeout 1 2"])
    h.expect_log(ANY_CIS2)
    start = h.log_size()
    t0 = time.monotonic()
    r = session.get(h.url("/app/app.cgi"), allow_redirects=False, timeout=20)
    assert time.monotonic() - t0 < 3.5
    T.assert_error_page(h, r, 502, start)
