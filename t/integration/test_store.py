"""The session store in a real httpd (issue #4): a session too big for the
store fails the sign-in with a page (not a crash) and leaves the store
working; a small store under many logins evicts old sessions and keeps new
ones; the counters and geometry are logged (numbered) at start and at a
graceful restart, with every session kept."""

import json
import os
import re
import secrets
import time

import pytest

import cis2test as T


def graceful(h):
    start = h.log_size()
    h.graceful()
    h.wait_log(r"CIS2-10011", start, timeout=15)
    time.sleep(1)
    return start


@pytest.fixture(scope="module")
def huge_sim(tmp_path_factory, clients_file):
    """A private simulator with one more user whose claims do not compress:
    professional ids and names of random text, ~70 KB in all (the stock
    `manyroles`, 45 roles, is ~5 KB once LZ4-compressed)."""
    d = tmp_path_factory.mktemp("hugeclaims")
    os.chmod(str(d), 0o755)
    users = T.load_users()
    rnd = lambda: secrets.token_urlsafe(6000)          # 8000 characters
    users.append({"id": "hugeclaims", "uid": "555099999998", "title": "Dr",
                  "given_name": rnd(), "family_name": rnd(),
                  "name": "CLAIMS Huge Dr", "email": "huge.claims@nhs.net",
                  "aal": "3", "ial": "3", "amr": ["N3_SMARTCARD"],
                  "professional": {k: rnd() for k in (
                      "gmc_id", "gmp_id", "gdc_id", "gdp_id", "nmc_id",
                      "gphc_id", "rcn_id")},
                  "orgs": [], "roles": []})
    upath = d / "users.json"
    upath.write_text(json.dumps(users))
    sim = T.Sim(T.free_port(), clients_file, str(upath)).start()
    yield sim
    sim.stop()


def test_oversize_session_fails_with_a_page(huge_sim, httpd_factory, session):
    # 1M store (the smallest): a session may take 1/16 of the sessions'
    # 85 %, ~52 KB; `hugeclaims` (~70 KB of random claims) cannot fit
    h = httpd_factory(
        provider={"metadata_url": huge_sim.discovery_url,
                  "client_id": T.DEFAULT_CLIENT,
                  "client_secret": T.CLIENT_SECRETS[T.DEFAULT_CLIENT]},
        directives=["CIS2SessionStoreSize 1M",
                    'CIS2Scope "openid profile email professionalmemberships"'])
    h.expect_log(r"CIS2-00305")
    start = h.log_size()
    r = T.login(session, h.url("/app/app.cgi"), "hugeclaims",
                follow_final=False)
    T.assert_error_page(h, r, 503, start)
    assert re.search(r"CIS2-00305.*over the \d+-byte limit",
                     h.read_log(start)), h.read_log(start)
    assert "cis2_session" not in session.cookies.keys()
    # the store and the server are fine: a normal user signs in
    s2 = T.new_session()
    env = T.app_env(T.login(s2, h.url("/app/app.cgi"), "nurse"))
    assert env["REMOTE_USER"]


def test_small_store_evicts_old_sessions(httpd_factory):
    h = httpd_factory(directives=["CIS2SessionStoreSize 1M"])
    sessions = []
    for _ in range(240):         # ~5.4 KB each: more than ~830 KB holds
        s = T.new_session()
        assert T.login(s, h.url("/app/app.cgi"),
                       "manyroles").status_code == 200
        s.close()                # keep the cookie, not 240 idle connections
        sessions.append(s)
    alive = []
    for s in sessions:
        alive.append(s.get(h.url("/app/app.cgi"),
                           allow_redirects=False).status_code)
        s.close()
    assert alive[-1] == 200 and alive[-5:] == [200] * 5, alive
    assert alive[0] == 302, "the oldest session should have been evicted"
    start = graceful(h)
    m = re.search(r"CIS2-10011: session store: (\d+) sessions in (\d+) bytes "
                  r"\((\d+) bytes of keys and values\).*evictions (\d+)",
                  h.read_log(start))
    assert m, h.read_log(start)
    n, held, payload, evictions = map(int, m.groups())
    assert n == alive.count(200)
    assert evictions >= 240 - n
    assert payload <= held <= payload * 1.25 + 64 * n


def test_geometry_and_counters_logged_and_sessions_kept(httpd_factory,
                                                         session):
    h = httpd_factory()
    assert h.wait_log(r"CIS2-10004: session store created: 65536K, layout "
                      r"v2, \d+ buckets \+ 2 x \d+ index buckets",
                      timeout=5), h.read_log()
    T.login(session, h.url("/app/app.cgi"), "nurse")
    for _ in range(5):
        assert session.get(h.url("/app/app.cgi"),
                           allow_redirects=False).status_code == 200
    start = graceful(h)
    log = h.read_log(start)
    m = re.search(r"CIS2-10011: session store: 1 sessions in \d+ bytes .*"
                  r"hits (\d+), misses \d+", log)
    assert m, log
    assert int(m.group(1)) >= 6
    assert session.get(h.url("/app/app.cgi"),
                       allow_redirects=False).status_code == 200
