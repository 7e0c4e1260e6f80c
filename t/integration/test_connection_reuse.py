"""Issue #4: each httpd child keeps its connections to the provider (one
libcurl handle per call in flight, reset and reused), so a login's token and
UserInfo calls do not pay for a new TCP (and TLS) connection. Proved with
the hostile OP (hostile_op.py), which numbers the connections it accepts:
the module's calls of several logins arrive on one connection; a provider
that closes connections (with or without "Connection: close") still works;
and every limit holds for a call made on a kept connection right after a
good login (endless body, redirect not followed, timeout).
"""

import os
import time

import pytest

import cis2test as T
from conftest import HOSTILE_CLIENT, HOSTILE_SECRET, hostile_provider
from hostile_op import SUB, HostileOP

ANY_CIS2 = r"CIS2-\d{5}|\[cis2:(?:error|warn)\]"
TIMEOUT = ["CIS2HTTPTimeout 1 2"]        # connect 1 s, total 2 s
SLACK = 1.5                              # scheduling slack on a busy box


@pytest.fixture
def op():
    o = HostileOP(HOSTILE_CLIENT, HOSTILE_SECRET).start()
    yield o
    o.stop()


@pytest.fixture
def h(httpd_factory, op):
    return httpd_factory(provider=hostile_provider(op), directives=TIMEOUT)


def children(httpd):
    """httpd's child processes now (each keeps its own connections)."""
    parent, n = httpd.pid(), 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == parent:
                        n += 1
            except (OSError, IndexError, ValueError):
                pass
    return n


def good_login(httpd):
    s = T.new_session()
    try:
        cb, _, _ = T.hostile_login(s, httpd)
        assert cb.status_code == 302, (cb.status_code, cb.text[:300])
        r = s.get(httpd.url(cb.headers["Location"]), allow_redirects=False)
        assert T.app_env(r)["REMOTE_USER"] == SUB
    finally:
        s.close()


def test_logins_share_one_connection(h, op):
    good_login(h)                 # discovery and JWKS are fetched by now
    start = len(op.requests)
    for _ in range(5):
        good_login(h)
    conns = op.conns_of(start)
    assert len(conns) == 10, conns          # token + UserInfo per login
    # logins one after another: one kept connection per child for all
    # ten calls (before issue #4: ten connections); the event MPM here
    # has one child (StartServers 1), other MPMs may spread the logins
    assert len(set(conns)) <= max(1, children(h)), conns


@pytest.mark.parametrize("mode", ["announce", "silent"])
def test_provider_that_closes_connections_still_works(mode, h, op):
    good_login(h)
    op.set(close_connections=mode)
    start = len(op.requests)
    for _ in range(3):
        good_login(h)
        if mode == "silent":
            time.sleep(0.05)
    conns = op.conns_of(start)
    assert len(conns) == 6, conns
    assert len(set(conns)) == 6, conns      # each call on a new connection
    # and back to kept connections when the provider keeps them again
    op.set(close_connections=None)
    good_login(h)
    start = len(op.requests)
    good_login(h)
    good_login(h)
    assert len(set(op.conns_of(start))) <= max(1, children(h))


LIMITS = {
    "token_endless_body": dict(token_endless=True),
    "token_redirect": dict(token_status=307, token_location="/op/access_token"),
    "token_slow": dict(token_delay=5.0),
    "userinfo_endless_body": dict(userinfo_endless=True),
    "userinfo_slow": dict(userinfo_delay=5.0),
}


@pytest.mark.parametrize("case", sorted(LIMITS))
def test_limits_hold_on_a_kept_connection(case, h, op):
    h.expect_log(ANY_CIS2)
    good_login(h)
    start = len(op.requests)
    good_login(h)
    kept = op.conns_of(start)
    assert len(set(kept)) <= max(1, children(h)), kept
    op.set(**LIMITS[case])
    start = len(op.requests)
    log_start = h.log_size()
    s = T.new_session()
    cb, elapsed, _ = T.hostile_login(s, h)
    s.close()
    assert cb.status_code in (401, 502), (case, cb.status_code)
    T.assert_error_page(h, cb, cb.status_code, log_start)
    assert not T.session_cookie_values(cb)
    assert elapsed < 2.0 + SLACK, f"{case}: took {elapsed:.2f}s, timeout 2 s"
    # the refused call went out on the connection the good login left
    # (when one child serves them all, as under the event MPM here)
    conns = op.conns_of(start)
    assert conns, "no call reached the provider"
    if children(h) == 1:
        assert conns[0] == kept[0], (conns, kept)
    # a redirect is never followed: one token request, nothing else
    assert len(op.conns_of(start, ("/access_token",))) == 1
    # the provider behaves again: the next login works at once
    op.reset()
    t0 = time.monotonic()
    good_login(h)
    assert time.monotonic() - t0 < 5
