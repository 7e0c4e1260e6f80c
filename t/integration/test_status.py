"""The status page (CIS2StatusPath): protected by the admin's Require like
any URL, HTML for people and JSON for monitoring, counters shared by every
httpd child and kept across graceful restarts, the last sign-in error with
the reference the user saw, and nothing secret or about a user."""

import json
import time
import urllib.parse

import pytest

import cis2test as T
from test_logout import ONE_CONNECTION_PER_CHILD

HOST = "LoadModule authz_host_module /usr/lib/apache2/modules/mod_authz_host.so\n"
STATUS = HOST + """
<Location /cis2-status>
    Require ip 127.0.0.1
</Location>
"""


@pytest.fixture
def status_httpd(httpd_factory):
    return httpd_factory(directives=["CIS2StatusPath /cis2-status"],
                         extra=STATUS)


def status(h, session=None, path="/cis2-status"):
    r = (session or T.new_session()).get(h.url(path + "?json"),
                                         allow_redirects=False, timeout=10)
    assert r.status_code == 200, r.text[:500]
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers.get("Cache-Control") == "no-store"
    return r.json()


def bad_state_ref(h):
    """A callback for an unknown sign-in: returns the reference shown."""
    s = T.new_session()
    r = T.start_login(s, h.url("/app/app.cgi"))
    assert r.status_code == 302
    start = h.log_size()
    r = s.get(h.url("/cis2/callback?code=x&state=" + "Q" * 43),
              allow_redirects=False)
    return T.assert_error_page(h, r, 400, start)


def test_counts_logins_errors_and_leaks_nothing(status_httpd, user):
    h = status_httpd
    before = status(h)
    assert before["last_error"] is None
    assert before["logins"]["completed"] == 0
    assert before["store"]["size_bytes"] > 0

    s = T.new_session()
    env = T.app_env(T.login(s, h.url("/app/app.cgi"), user.login))
    ref = bad_state_ref(h)
    # a script without a session: 401, counted
    r = T.new_session().get(h.url("/app/app.cgi"),
                            headers={"Accept": "application/json",
                                     "Sec-Fetch-Mode": "cors",
                                     "Sec-Fetch-Dest": "empty"},
                            allow_redirects=False)
    assert r.status_code == 401
    s.get(h.url("/cis2/logout"))

    st = status(h)
    assert st["logins"]["started"] >= 2
    assert st["logins"]["completed"] == 1
    assert st["logins"]["refused"] == 1
    assert st["logins"]["refused_by_reason"] == {"bad_state": 1}
    assert st["logins"]["unauthenticated_script_401"] == 1
    assert st["logouts"]["local"] == 1
    assert st["logouts"]["backchannel"] == 0
    assert st["last_error"]["ref"] == ref
    assert st["last_error"]["log"] == "CIS2-00301"
    assert st["last_error"]["reason"] == "bad_state"
    assert abs(st["last_error"]["time"] - time.time()) < 60
    assert st["store"]["pending_logins"] >= 1
    assert st["store"]["puts"] >= 3
    assert st["store"]["used_bytes"] > 0
    geo = st["store"]["geometry"]
    assert geo["buckets"] > 0 and geo["heap_bytes"] > 0
    assert 0 < geo["session_quota_bytes"] <= geo["heap_bytes"]
    assert geo["session_max_bytes"] > 40_000   # the 45-role user fits
    (prov,) = st["providers"]
    assert prov["metadata_url"] == h.provider["metadata_url"]
    assert prov["last_refresh"] in ("ok", "not fetched yet by this process")
    if prov["last_refresh"] == "ok":
        assert prov["jwks_keys"] >= 1 and prov["discovery_age_s"] >= 0

    # nothing secret, nothing about the user, no cookie value
    text = json.dumps(st)
    html = T.new_session().get(h.url("/cis2-status")).text
    for secret in [h.provider["client_secret"], user.sub, env["CIS2_NAME"],
                   *s.cookies.values()]:
        assert secret and secret not in text and secret not in html


def test_html_page_for_people(status_httpd):
    h = status_httpd
    ref = bad_state_ref(h)
    r = T.new_session().get(h.url("/cis2-status"), allow_redirects=False)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    for text in ["mod_cis2 status", "Last sign-in error", ref, "CIS2-00301",
                 "bad_state", "Session store", "pending_logins", "Geometry",
                 "session_max_bytes", "<th>refused</th><td>1</td>",
                 "CIS2 providers", "Logouts", 'href="?json"']:
        assert text in r.text, text
    assert T.new_session().post(h.url("/cis2-status")).status_code == 405
    r = T.new_session().get(h.url("/cis2-status?json=1"))
    assert r.json()["last_error"]["ref"] == ref


def test_memo_counters_of_the_answering_child(status_httpd, user):
    """The decoded-session memo is per child: the page shows the counters
    of the process that answers it (`store.memo.process` is `pid`). On one
    keep-alive connection the same child serves the requests and both
    status reads, so its hits are those requests'."""
    h = status_httpd
    s = T.new_session()
    T.login(s, h.url("/protected/secret.txt"), user.login)
    m0 = status(h, s)
    for _ in range(5):
        r = s.get(h.url("/protected/secret.txt"), allow_redirects=False)
        assert r.status_code == 200 and T.PROTECTED_MARKER in r.text
    st = status(h, s)
    m1 = st["store"]["memo"]
    assert m1["process"] == st["pid"] == m0["store"]["memo"]["process"]
    assert m1["slots"] == 256 and 1 <= m1["used"] <= m1["slots"]
    m0 = m0["store"]["memo"]
    # each request looks once; the session is kept at its second sighting
    assert m1["hits"] + m1["misses"] - m0["hits"] - m0["misses"] == 5
    assert m1["hits"] - m0["hits"] >= 4
    html = s.get(h.url("/cis2-status")).text
    assert "<th>memo</th>" in html


def test_require_protects_the_page(httpd_factory):
    """The page goes through authz: a Require that does not match is 403,
    and the JSON is not served."""
    h = httpd_factory(directives=["CIS2StatusPath /cis2-status"],
                      extra=HOST + "<Location /cis2-status>\n"
                            "    Require ip 192.0.2.1\n</Location>\n")
    h.expect_log("AH01630")   # mod_authz_core's "client denied" line
    r = T.new_session().get(h.url("/cis2-status?json"), allow_redirects=False)
    assert r.status_code == 403
    assert "logins" not in r.text


def test_behind_cis2_login(httpd_factory, user):
    """Protected by CIS2 itself: no session -> sign-in; with one -> page."""
    h = httpd_factory(directives=["CIS2StatusPath /ops/status"],
                      extra="<Location /ops>\n    AuthType cis2\n"
                            "    Require valid-user\n</Location>\n")
    s = T.new_session()
    r = s.get(h.url("/ops/status?json"), allow_redirects=False)
    assert r.status_code == 302
    assert "/authorize" in r.headers["Location"]
    T.login(s, h.url("/app/app.cgi"), user.login)
    assert status(h, s, "/ops/status")["logins"]["completed"] == 1


def test_set_handler_form(httpd_factory):
    h = httpd_factory(extra="<Location /st>\n    SetHandler cis2-status\n"
                            "    Require all granted\n</Location>\n")
    r = T.new_session().get(h.url("/st?json"))
    assert r.status_code == 200 and "logins" in r.json()
    # without CIS2StatusPath or SetHandler there is no page
    assert T.new_session().get(h.url("/cis2-status")).status_code == 404


def test_counters_survive_graceful_restart(status_httpd, user):
    h = status_httpd
    T.login(T.new_session(), h.url("/app/app.cgi"), user.login)
    ref = bad_state_ref(h)
    h.graceful()
    deadline = time.time() + 10
    while time.time() < deadline:
        if "resuming normal operations" in h.read_log().split("SIGUSR1")[-1]:
            break
        time.sleep(0.1)
    time.sleep(0.3)
    st = status(h)
    assert st["restarts"] == 1
    assert st["logins"]["completed"] == 1
    assert st["last_error"]["ref"] == ref


def test_counts_shared_by_all_children(httpd_factory, user):
    """Several processes serve requests; the counts are the server's. Each
    connection gets a child of its own (MaxConnectionsPerChild 1: which
    child the kernel hands a connection to is otherwise its choice, and
    under load one child took them all), so the refusals and the reads are
    in different processes."""
    h = httpd_factory(directives=["CIS2StatusPath /cis2-status"],
                      extra=STATUS + ONE_CONNECTION_PER_CHILD)
    n = 6
    for _ in range(n):
        bad_state_ref(h)
    seen = {}
    for _ in range(6):
        st = status(h)
        seen[st["pid"]] = st["logins"]["refused"]
    assert len(seen) > 1, "only one child answered: the test proves nothing"
    assert set(seen.values()) == {n}, seen
