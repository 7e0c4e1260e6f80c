"""Logout (issue #5): the local logout endpoint and its validated `return`
URL (the whole open-redirect corpus, end to end), RP-initiated logout at
the simulator's end_session_endpoint, and back-channel logout: the
simulator's real logout tokens (sent when the user signs out there), by
sid and by sub, across httpd child processes, and refused tokens."""

import json
import os
import re
import tempfile
import time
import urllib.parse

import pytest
import requests

import cis2test as T

CLIENT = T.DEFAULT_CLIENT
CORPUS = os.path.join(T.REPO, "t", "redirect-corpus.txt")


# ------------------------------------------------------------ corpus

def load_corpus(host, port):
    """Payloads of t/redirect-corpus.txt as bytes (format at its top)."""
    out = []
    with open(CORPUS, "rb") as f:
        for raw in f.read().split(b"\n"):
            if not raw or raw.startswith(b"#"):
                continue
            line = raw.decode("latin-1")
            line = (line.replace("{SELF_HOST}", f"{host}:{port}")
                    .replace("{SELF_NAME}", host).replace("{SELF_PORT}", str(port)))
            b = re.sub(r"\{([0-9a-fA-F]{2})\}",
                       lambda m: chr(int(m.group(1), 16)), line)
            out.append(b.encode("latin-1"))
    return out


def assert_no_offsite(h, r):
    loc = r.headers.get("Location")
    if loc is None:
        return
    T_ = urllib.parse.urlsplit(urllib.parse.urljoin(h.base + "/", loc))
    assert (T_.scheme, T_.netloc) == ("http", f"127.0.0.1:{h.port}"), loc
    assert not any(c in loc for c in "\r\n\t\\"), repr(loc)


# ------------------------------------------------------------ a simulator
# of our own: its client registration names this module's httpd as the
# back-channel logout receiver and post-logout landing page.

class BclSetup:
    def __init__(self, factory, port_pool, name, extra_conf="", directives=(),
                 mpm=None):
        self.h = factory(name=name, provider={"metadata_url": "http://x/",
                                              "client_id": CLIENT,
                                              "client_secret": T.CLIENT_SECRETS[CLIENT]},
                         start=False, directives=list(directives))
        p = self.h.port
        self.h.directives = [d.replace("{port}", str(p)) for d in self.h.directives]
        clients = [{
            "client_id": CLIENT, "client_secret": T.CLIENT_SECRETS[CLIENT],
            "redirect_uris": [T.redirect_uri(p)],
            "post_logout_redirect_uris": [f"http://127.0.0.1:{p}/index.html"],
            "backchannel_logout_uri": f"http://127.0.0.1:{p}/cis2/backchannel-logout",
            "token_endpoint_auth_method": "client_secret_post",
            "id_token_signed_response_alg": "RS256",
        }]
        d = tempfile.mkdtemp(prefix="cis2-sim-bcl-")
        path = os.path.join(d, "clients.json")
        with open(path, "w") as f:
            json.dump(clients, f)
        self.sim = T.Sim(T.free_port(), path).start()
        self.h.provider["metadata_url"] = self.sim.discovery_url
        self.h.extra = extra_conf
        self.h.mpm = mpm or self.h.mpm
        self.h.write_conf()
        self.h.start()

    def admin(self, name, body=None):
        r = requests.post(f"http://127.0.0.1:{self.sim.port}/_sim/{name}",
                          json=body or {}, timeout=20)
        assert r.status_code == 200, r.text
        return r.json()

    def state(self):
        return requests.get(f"http://127.0.0.1:{self.sim.port}/_sim/state",
                            timeout=20).json()

    def stop(self):
        self.sim.stop()


@pytest.fixture(scope="module")
def bcl(module_httpd_factory, port_pool):
    b = BclSetup(module_httpd_factory, port_pool, "bcl",
                 directives=["CIS2RedirectAllowOrigin http://portal.example:8443"])
    yield b
    b.stop()


# every connection in a new child process, for a threaded MPM (event,
# worker): few threads per child, many children
ONE_CONNECTION_PER_CHILD = """
StartServers 3
ServerLimit 16
ThreadsPerChild 4
MaxRequestWorkers 64
MinSpareThreads 8
MaxSpareThreads 64
MaxConnectionsPerChild 1
"""


@pytest.fixture(scope="module")
def bcl_multi(module_httpd_factory, port_pool):
    """Every connection in its own httpd child process (MaxConnectionsPerChild
    1): the logout token is always handled by another process than the one
    that created the session and the one that next looks it up."""
    b = BclSetup(module_httpd_factory, port_pool, "bclmulti",
                 extra_conf=ONE_CONNECTION_PER_CHILD)
    yield b
    b.stop()


@pytest.fixture(scope="module")
def rp(module_httpd_factory, port_pool):
    b = BclSetup(module_httpd_factory, port_pool, "rplogout", directives=[
        "CIS2RPInitiatedLogout on",
        "CIS2PostLogoutRedirectURI http://127.0.0.1:{port}/index.html"])
    yield b
    b.stop()


def login(h, user, path="/app/app.cgi"):
    s = T.new_session()
    r = T.login(s, h.url(path), user)
    assert r.status_code == 200, r.text[:300]
    return s


def authed(s, h):
    r = s.get(h.url("/app/app.cgi"), allow_redirects=False,
              headers={"Accept": "application/json", "Sec-Fetch-Mode": "cors"})
    assert r.status_code in (200, 401), r.status_code
    return r.status_code == 200


def pid_of(line):
    m = re.search(r"\[pid (\d+)", line or "")
    return int(m.group(1)) if m else None


def end_sim_session(s, b):
    """The user signs out AT the simulator (no id_token_hint): the logout
    confirm form is submitted as a browser would; oidc-provider then sends
    the back-channel logout tokens. Returns the final response."""
    end = f"{b.sim.issuer}/connect/endSession"
    r = s.get(end, allow_redirects=False, timeout=20)
    assert r.status_code == 200, r.text[:300]
    fp = T.FormParser()
    fp.feed(r.text)
    form = next(f for f in fp.forms if f["method"] == "post")
    action = urllib.parse.urljoin(r.url, form["action"])
    r = s.post(action, data=form["fields"], allow_redirects=False, timeout=20)
    assert r.status_code in (200, 302, 303), (r.status_code, r.text[:300])
    return r


# ------------------------------------------------------------ local logout

def test_logout_ends_session_and_clears_cookies(bcl, users):
    h = bcl.h
    s = login(h, "nurse")
    sid = s.cookies.get("cis2_session")
    r = s.get(h.url("/cis2/logout"), allow_redirects=False)
    assert r.status_code == 200 and "signed out" in r.text
    sets = T.set_cookie_headers(r)
    assert any(c.startswith("cis2_session=;") and "Max-Age=0" in c for c in sets), sets
    assert any(c.startswith("cis2_login=;") for c in sets), sets
    assert not authed(s, h)
    # the old id is dead on the server too (not just forgotten by the browser)
    s2 = T.new_session()
    s2.cookies.set("cis2_session", sid, domain="127.0.0.1", path="/")
    assert not authed(s2, h)


@pytest.mark.parametrize("target,expect", [
    ("/app/app.cgi?x=1", "/app/app.cgi?x=1"),
    ("/", "/"),
    ("http://127.0.0.1:{port}/index.html", "http://127.0.0.1:{port}/index.html"),
    ("http://portal.example:8443/home", "http://portal.example:8443/home"),
])
def test_logout_return_accepted(bcl, target, expect):
    h = bcl.h
    target, expect = (x.format(port=h.port) for x in (target, expect))
    r = requests.get(h.url("/cis2/logout"), params={"return": target},
                     allow_redirects=False)
    assert r.status_code == 303, (r.status_code, r.text[:200])
    assert r.headers["Location"] == expect


@pytest.mark.parametrize("query", [
    "return=//evil.example/", "return=http://portal.example/",
    "return=https://portal.example:8443/", "return=/a&return=/b",
    "return=%2F%2Fevil.example", "return=javascript:alert(1)"])
def test_logout_return_refused(bcl, query):
    h = bcl.h
    r = requests.get(h.url("/cis2/logout?" + query), allow_redirects=False)
    assert r.status_code == 200 and "Location" not in r.headers
    assert "evil" not in r.text and "javascript" not in r.text


def test_logout_corpus_end_to_end(bcl):
    """Every payload of t/redirect-corpus.txt (379+) given as `return` to
    the logout endpoint: none is followed. Sent percent-encoded (the
    validator sees the exact bytes) and raw (where a request line allows:
    then the server's own decoding is in play too, and whatever it makes
    of the bytes must stay on our origin)."""
    h = bcl.h
    corpus = load_corpus("127.0.0.1", h.port)
    assert len(corpus) >= 200
    s = requests.Session()
    refused = 0
    for payload in corpus:
        q = "return=" + urllib.parse.quote(payload, safe="")
        r = s.get(h.url("/cis2/logout?" + q), allow_redirects=False)
        assert r.status_code == 200, (payload, r.status_code, r.headers.get("Location"))
        assert "Location" not in r.headers, (payload, r.headers["Location"])
        refused += 1
        raw = urllib.parse.quote(payload, safe="/:@!$'()*,;=?%\\.~-_[]{}|^`")
        r = s.get(h.url("/cis2/logout?return=" + raw), allow_redirects=False)
        assert r.status_code in (200, 303, 400), (payload, r.status_code)
        assert_no_offsite(h, r)
    assert refused == len(corpus)


# ------------------------------------------------------------ back-channel

def test_bcl_by_sid_when_user_signs_out_at_cis2(bcl):
    """oidc-provider's own back-channel logout: the user signs out at the
    simulator; our session of that CIS2 session ends, another user's not."""
    h = bcl.h
    a = login(h, "nurse")
    other = login(h, "doctor")
    assert authed(a, h) and authed(other, h)
    start = h.log_size()
    end_sim_session(a, bcl)
    line = h.wait_log(r"CIS2-00411: .*1 session\(s\) ended \(by sid", start)
    assert line, h.read_log(start)
    deliveries = [d for d in bcl.state()["backchannel"] if d.get("status")]
    assert deliveries and deliveries[-1]["status"] == 200, deliveries
    assert not authed(a, h)
    assert authed(other, h)


def test_bcl_by_sub_ends_every_session_of_the_user(bcl):
    h = bcl.h
    a1, a2 = login(h, "noroles"), login(h, "noroles")
    b = login(h, "doctor")
    start = h.log_size()
    out = bcl.admin("backchannel-logout", {"user": "noroles", "claims": {"sid": None},
                                           "end_session": False})
    assert [d["status"] for d in out["deliveries"]] == [200], out
    line = h.wait_log(r"CIS2-00411: .*2 session\(s\) ended \(by sub=555034567890", start)
    assert line, h.read_log(start)
    assert not authed(a1, h) and not authed(a2, h)
    assert authed(b, h)


def test_bcl_token_older_than_login_cannot_end_newer_session(bcl):
    h = bcl.h
    s = login(h, "nurse")
    old = int(time.time()) - 120          # issued before this login (skew 60 s)
    out = bcl.admin("backchannel-logout", {"user": "nurse", "claims": {"iat": old,
                                           "sid": None}, "end_session": False})
    assert out["deliveries"][0]["status"] == 200, out
    assert authed(s, h), "a token issued before the login ended the newer session"


def test_bcl_replayed_token_refused(bcl):
    h = bcl.h
    login(h, "nurse")
    out = bcl.admin("backchannel-logout", {"user": "nurse", "end_session": False})
    d = out["deliveries"][0]
    assert d["status"] == 200
    start = h.log_size()
    r = requests.post(h.url("/cis2/backchannel-logout"),
                      data={"logout_token": d["logout_token"]}, allow_redirects=False)
    assert r.status_code == 400
    assert "no-store" in r.headers.get("Cache-Control", "")
    assert h.wait_log(r"CIS2-00409: .*replayed", start)


@pytest.mark.parametrize("knobs,logno", [
    ({"claims": {"iat": -600}}, "00408"),              # stale: 10 min old
    ({"claims": {"exp": -100}}, "00408"),              # expired
    ({"claims": {"iat": +600}}, "00408"),              # from the future
    ({"claims": {"nonce": "n-0S6_WzA2Mj4b9Qd0rT1uVxYz7KpLmNoPqRsTuVwXy"}}, "00408"),
    ({"claims": {"events": {}}}, "00408"),
    ({"claims": {"events": None}}, "00408"),
    ({"claims": {"aud": "someone-else.apps.national"}}, "00408"),
    ({"claims": {"iss": "http://127.0.0.1/other"}}, "00408"),
    ({"claims": {"sub": None, "sid": None}}, "00408"),
    ({"sign_with": "rogue"}, "00408"),
    ({"sign_with": "none"}, "00408"),
    ({"sign_with": "hs256"}, "00408"),
    ({"header": {"kid": "nope"}}, "00408"),
], ids=["stale", "expired", "future", "nonce", "no-event", "no-events", "aud",
        "iss", "no-sub-sid", "rogue-key", "alg-none", "hs256", "unknown-kid"])
def test_bcl_bad_tokens_refused_with_400(bcl, knobs, logno):
    h = bcl.h
    s = login(h, "nurse")
    body = {"user": "nurse", "end_session": False, **knobs}
    now = int(time.time())
    claims = dict(body.get("claims", {}))
    for k in ("iat", "exp"):
        if isinstance(claims.get(k), int):
            claims[k] = now + claims[k]
    body["claims"] = claims
    start = h.log_size()
    out = bcl.admin("backchannel-logout", body)
    assert [d.get("status") for d in out["deliveries"]] == [400], out
    assert h.wait_log(f"CIS2-{logno}: ", start), h.read_log(start)
    assert authed(s, h), "a refused logout token ended the session"


def test_bcl_request_shape(bcl):
    h = bcl.h
    u = h.url("/cis2/backchannel-logout")
    r = requests.get(u, allow_redirects=False, headers={"Accept": T.NAV_ACCEPT})
    assert r.status_code == 405 and "POST" in r.headers.get("Allow", "")
    for data, ctype in [("", "application/x-www-form-urlencoded"),
                        ("logout_token=", "application/x-www-form-urlencoded"),
                        ("logout_token=a.b.c", "application/x-www-form-urlencoded"),
                        ("logout_token=a.b.c&logout_token=d.e.f",
                         "application/x-www-form-urlencoded"),
                        ('{"logout_token": "a.b.c"}', "application/json"),
                        ("logout_token=" + "A" * 70000,
                         "application/x-www-form-urlencoded")]:
        r = requests.post(u, data=data, headers={"Content-Type": ctype},
                          allow_redirects=False)
        assert r.status_code == 400, (data[:40], r.status_code)
        assert "Location" not in r.headers   # never a login redirect


def test_bcl_across_processes_by_sid_and_sub(bcl_multi):
    """Two (and more) httpd child processes share the store: the process
    that handles the logout token is never the one that made the session."""
    check_bcl_across_processes(bcl_multi)


def check_bcl_across_processes(b):
    """By sid (the user signs out at the simulator) and by sub (two browsers
    of one user, one token), on an httpd whose every connection gets a new
    child process (MaxConnectionsPerChild 1). Also used by test_mpm.py."""
    h = b.h

    def still_in(sess):
        # each child process serves one connection, then exits: a pooled
        # keep-alive connection is dead, so ask on a new one
        sess.close()
        return authed(sess, h)

    other = login(h, "noroles")
    s1 = login(h, "nurse")
    made = h.wait_log(r"CIS2-00306: signed in sub=555012345678")
    start = h.log_size()
    end_sim_session(s1, b)                      # by sid, from the simulator
    done = h.wait_log(r"CIS2-00411: .*1 session\(s\) ended \(by sid", start, 10)
    assert done, h.read_log(start)
    assert pid_of(made) != pid_of(done), (made, done)
    assert not still_in(s1)
    s2, s3 = login(h, "doctor"), login(h, "doctor")
    start = h.log_size()
    out = b.admin("backchannel-logout", {"user": "doctor", "claims": {"sid": None},
                                         "end_session": False})
    assert [d["status"] for d in out["deliveries"]] == [200], out
    done = h.wait_log(r"CIS2-00411: .*\d+ session\(s\) ended \(by sub=", start, 10)
    assert done, h.read_log(start)
    # these two, and any earlier session of the same user on this httpd
    assert int(re.search(r"(\d+) session\(s\)", done).group(1)) >= 2, done
    makers = {pid_of(l) for l in h.read_log().splitlines()
              if "CIS2-00306: signed in sub=555023456789" in l}
    assert pid_of(done) not in makers
    assert len({pid_of(l) for l in h.read_log().splitlines() if "CIS2-00" in l}) >= 3
    assert not still_in(s2) and not still_in(s3)
    assert still_in(other)


# ------------------------------------------------------------ RP-initiated

def test_rp_initiated_logout(rp):
    h = rp.h
    s = login(h, "nurse")
    assert authed(s, h)
    start = h.log_size()
    r = s.get(h.url("/cis2/logout"), allow_redirects=False)
    assert r.status_code == 302
    u = urllib.parse.urlsplit(r.headers["Location"])
    q = urllib.parse.parse_qs(u.query)
    assert f"{u.scheme}://{u.netloc}{u.path}" == f"{rp.sim.issuer}/connect/endSession"
    assert q["client_id"] == [CLIENT]
    assert q["post_logout_redirect_uri"] == [f"http://127.0.0.1:{h.port}/index.html"]
    hint = q["id_token_hint"][0]
    assert hint.count(".") == 2
    assert not authed(s, h)                   # ended here before going to CIS2
    # the browser goes on to CIS2 and confirms; CIS2 ends its session, sends
    # the back-channel token, and comes back to our post-logout page
    r = s.get(r.headers["Location"], allow_redirects=False)
    assert r.status_code == 200
    fp = T.FormParser()
    fp.feed(r.text)
    form = next(f for f in fp.forms if f["method"] == "post")
    r = s.post(urllib.parse.urljoin(r.url, form["action"]), data=form["fields"],
               allow_redirects=False)
    assert r.status_code in (302, 303), (r.status_code, r.text[:300])
    assert r.headers["Location"].startswith(f"http://127.0.0.1:{h.port}/index.html")
    assert s.get(r.headers["Location"]).status_code == 200
    assert h.wait_log(r"CIS2-00406: RP-initiated logout", start)
    # the simulator's session is gone: its back-channel token reached us
    assert h.wait_log(r"CIS2-00411: .*0 session\(s\) ended", start)
    # without a session, logout is local only
    r = T.new_session().get(h.url("/cis2/logout"), allow_redirects=False)
    assert r.status_code == 200
