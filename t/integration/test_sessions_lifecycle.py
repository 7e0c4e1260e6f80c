"""Session and pending-login lifetimes, graceful restarts, concurrency."""

import concurrent.futures
import subprocess
import time
import urllib.parse

import pytest

import cis2test as T


@pytest.fixture(scope="module")
def users(sim):
    us = [u for u in T.sim_users() if u.aal in (3, None)]
    assert len(us) >= 2
    return us


def test_inactivity_timeout(httpd_factory, users, session):
    h = httpd_factory(directives=["CIS2SessionInactivityTimeout 2s"])
    T.login(session, h.url("/app/app.cgi"), users[0].login)
    for _ in range(3):                       # activity keeps it alive
        time.sleep(1)
        assert session.get(h.url("/app/app.cgi"), allow_redirects=False).status_code == 200
    time.sleep(3.5)
    r = session.get(h.url("/app/app.cgi"), allow_redirects=False)
    assert r.status_code == 302, "idle session still valid after the inactivity timeout"


def test_max_duration(httpd_factory, users, session):
    h = httpd_factory(directives=["CIS2SessionMaxDuration 3s",
                                  "CIS2SessionInactivityTimeout 15m"])
    T.login(session, h.url("/app/app.cgi"), users[0].login)
    t0 = time.time()
    while time.time() - t0 < 2:
        assert session.get(h.url("/app/app.cgi"), allow_redirects=False).status_code == 200
        time.sleep(0.5)
    time.sleep(2.5)
    r = session.get(h.url("/app/app.cgi"), allow_redirects=False)
    assert r.status_code == 302, "session outlived CIS2SessionMaxDuration despite activity"


def test_state_timeout(httpd_factory, users, session):
    h = httpd_factory(directives=["CIS2StateTimeout 2s"])
    r = T.start_login(session, h.url("/app/app.cgi"))
    trace = T.LoginTrace()
    T.pick_user_at_op(session, r.headers["Location"], users[0].login, trace)
    time.sleep(3.5)
    start = h.log_size()
    cb = session.get(trace.callback_url, allow_redirects=False)
    T.assert_error_page(h, cb, 400, start)
    # a stale callback page offers a way back in (CIS2DefaultURL, default /)
    assert 'href="/"' in cb.text


def test_session_survives_graceful_restart(httpd_factory, users, session):
    """DESIGN §4: shared-memory sessions are kept across graceful restarts."""
    h = httpd_factory()
    T.login(session, h.url("/app/app.cgi"), users[0].login)
    pid = h.pid()
    p = subprocess.run([T.APACHE2, "-f", h.conf, "-k", "graceful"],
                       capture_output=True, text=True, timeout=30,
                       env=T.httpd_env())
    assert p.returncode == 0, p.stderr
    deadline = time.time() + 10
    while time.time() < deadline:
        if "resuming normal operations" in h.read_log().split("SIGUSR1")[-1]:
            break
        time.sleep(0.1)
    time.sleep(0.3)
    assert h.pid() == pid
    r = session.get(h.url("/app/app.cgi"), allow_redirects=False)
    assert r.status_code == 200, "session lost on graceful restart"
    assert T.app_env(r)["REMOTE_USER"] == users[0].sub
    # and new logins still work after the restart
    s2 = T.new_session()
    assert T.app_env(T.login(s2, h.url("/app/app.cgi"), users[1].login))["REMOTE_USER"] == users[1].sub


def test_concurrent_logins_and_requests(httpd, users):
    """Many browsers at once on the event MPM: everyone gets their own
    identity, nobody crashes a child (the log checker sees crashes)."""
    def one(i):
        u = users[i % len(users)]
        s = T.new_session()
        env = T.app_env(T.login(s, httpd.url(f"/app/app.cgi?i={i}"), u.login))
        assert env["REMOTE_USER"] == u.sub
        for j in range(15):
            r = s.get(httpd.url(f"/app/app.cgi?i={i}&j={j}"), allow_redirects=False)
            e = T.app_env(r)
            assert e["REMOTE_USER"] == u.sub and e["QUERY_STRING"] == f"i={i}&j={j}"
            r = s.get(httpd.url("/protected/secret.txt"), allow_redirects=False)
            assert r.status_code == 200
        return True
    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        results = list(ex.map(one, range(24)))
    assert all(results)
