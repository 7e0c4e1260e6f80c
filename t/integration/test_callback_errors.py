"""Bad callbacks: 400 page with a reference id matching a CIS2-nnnnn log
line; no protected byte; nothing from the request reflected."""

import urllib.parse

import pytest

import cis2test as T

REFLECT = "zzREFLECTzz"


def cb(httpd, query):
    return httpd.url("/cis2/callback" + ("?" + query if query else ""))


def pending_state(session, httpd):
    """Start a login in `session`; return the state the module sent."""
    r = T.start_login(session, httpd.url("/app/app.cgi"))
    assert r.status_code == 302
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(r.headers["Location"]).query)
    return q["state"][0], r.headers["Location"]


def check_400(httpd, resp, start, *reflect):
    T.assert_error_page(httpd, resp, 400, start,
                        body_must_not=[REFLECT, *reflect])
    assert not T.session_cookie_values(resp)
    assert "Location" not in resp.headers


@pytest.mark.parametrize("query", [
    "",
    f"code={REFLECT}",
    f"code={REFLECT}&state=",
    f"code={REFLECT}&state={REFLECT}unknownstate",
    f"code={REFLECT}&state=" + "A" * 43,
    f"state={REFLECT}",
    "code=%00%0d%0a&state=%3Cscript%3E%0d%0aSet-Cookie:%20" + REFLECT,
    f"code={REFLECT}&state=" + "B" * 7000,
], ids=["empty", "no-state", "empty-state", "unknown-state", "unknown-state-43",
        "no-code", "control-chars", "huge-state"])
def test_bad_callback_400(query, httpd, session):
    start = httpd.log_size()
    r = session.get(cb(httpd, query), allow_redirects=False)
    check_400(httpd, r, start)
    assert not [h for h in T.set_cookie_headers(r) if REFLECT in h]


def test_error_access_denied(httpd, session):
    state, _ = pending_state(session, httpd)
    start = httpd.log_size()
    q = urllib.parse.urlencode({"error": "access_denied", "state": state,
                                "error_description": f"<i>{REFLECT}</i>"})
    r = session.get(cb(httpd, q), allow_redirects=False)
    httpd.expect_log(r"CIS2-\d{5}")
    check_400(httpd, r, start)
    # the state is spent: a later code with it is refused too
    start = httpd.log_size()
    r = session.get(cb(httpd, f"code=x&state={state}"), allow_redirects=False)
    check_400(httpd, r, start)


@pytest.mark.parametrize("dup", ["state", "code", "both"])
def test_duplicate_params(dup, httpd, user, session):
    state, auth = pending_state(session, httpd)
    trace = T.LoginTrace()
    T.pick_user_at_op(session, auth, user.login, trace)
    u = urllib.parse.urlsplit(trace.callback_url)
    q = urllib.parse.parse_qs(u.query)
    code = q["code"][0]
    parts = [("code", code), ("state", state)]
    if dup in ("state", "both"):
        parts.append(("state", state))
    if dup in ("code", "both"):
        parts.append(("code", code + "x"))
    start = httpd.log_size()
    r = session.get(cb(httpd, urllib.parse.urlencode(parts)), allow_redirects=False)
    check_400(httpd, r, start, code)
    assert session.get(httpd.url("/app/app.cgi"), allow_redirects=False).status_code == 302


def test_replayed_callback(httpd, user, session):
    trace = T.LoginTrace()
    final = T.login(session, httpd.url("/app/app.cgi"), user.login, trace)
    assert final.status_code == 200
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(trace.callback_url).query)["code"][0]
    # same browser, same URL
    start = httpd.log_size()
    r = session.get(trace.callback_url, allow_redirects=False)
    check_400(httpd, r, start, code)
    # another browser, same URL
    start = httpd.log_size()
    r = T.new_session().get(trace.callback_url, allow_redirects=False)
    check_400(httpd, r, start, code)
    # the replay did not end or change the real session
    assert session.get(httpd.url("/app/app.cgi"), allow_redirects=False).status_code == 200


def test_callback_in_another_browser(httpd, user):
    """Login CSRF: a callback URL completed in a browser that did not start
    the login (no binding cookie, or another one) is refused."""
    a = T.new_session()
    state, auth = pending_state(a, httpd)
    trace = T.LoginTrace()
    T.pick_user_at_op(a, auth, user.login, trace)
    for victim in (T.new_session(), None):
        if victim is None:
            victim = T.new_session()
            pending_state(victim, httpd)      # has its own binding cookie
        start = httpd.log_size()
        r = victim.get(trace.callback_url, allow_redirects=False)
        check_400(httpd, r, start)
        assert victim.get(httpd.url("/app/app.cgi"), allow_redirects=False).status_code == 302


def test_callback_wrong_method(httpd, session):
    r = session.post(cb(httpd, "code=a&state=b"), data={"code": "a", "state": "b"},
                     allow_redirects=False)
    assert r.status_code in (400, 405), r.status_code
    assert T.PROTECTED_MARKER not in r.text and "Location" not in r.headers


def test_parallel_replay_single_use(httpd, user, session):
    """The same callback fired 8 times at once (a double-click, or an
    attacker racing the user): exactly one becomes a session."""
    import concurrent.futures
    r = T.start_login(session, httpd.url("/app/app.cgi"))
    trace = T.LoginTrace()
    T.pick_user_at_op(session, r.headers["Location"], user.login, trace)
    cookies = session.cookies.get_dict()

    def hit(_):
        s = T.new_session()
        for k, v in cookies.items():
            s.cookies.set(k, v, domain="127.0.0.1", path="/")
        resp = s.get(trace.callback_url, allow_redirects=False)
        return resp.status_code, T.session_cookie_values(resp)
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(hit, range(8)))
    ok = [r for r in results if r[0] == 302]
    assert len(ok) == 1, results
    assert len(ok[0][1]) == 1
    assert all(r[0] == 400 and not r[1] for r in results if r[0] != 302), results
