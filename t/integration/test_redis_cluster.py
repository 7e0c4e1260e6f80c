"""Two httpd nodes sharing one Redis (CIS2SessionStore redis://), as an
NHS site runs several nodes behind a load balancer (issue #6): a login
started on node A finishes on node B, a session made on A works on B, a
back-channel logout that reaches B ends the session on A, Redis going down
gives a clear 503 (no login loop, no crash) and coming back restores the
sessions it had, and what Redis holds is ciphertext under hashed names.

The nodes share the client registration and CIS2RedirectURI (A's URL, as a
load-balanced site has one public name); the test delivers the callback to
B's port, which is what a load balancer does.
"""

import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse

import pytest

import cis2test as T
from redis_server import RedisServer
from redis_nodes import (backchannel_sim, on, ports, redis,  # noqa: F401
                         sim_post, start_nodes, stop_nodes)

CLIENT = "cluster.apps.national"
SECRET = "s3cret-cluster-0123456789abcdef"
PASSPHRASE = "cluster passphrase shared by every node"


@pytest.fixture(scope="module")
def cluster_sim(ports):
    """A simulator whose client sends back-channel logouts to node B."""
    yield from backchannel_sim(ports, CLIENT, SECRET, ports[:1], "cluster")


@pytest.fixture(scope="module")
def nodes(cluster_sim, redis, ports):
    provider = {"metadata_url": cluster_sim.discovery_url,
                "client_id": CLIENT, "client_secret": SECRET}
    made = start_nodes(("node-a", "node-b"), ports, provider, [
        f"CIS2SessionStore {redis.url} timeout=500ms connect_timeout=500ms",
        f"CIS2CryptoPassphrase \"{PASSPHRASE}\""])
    yield made
    stop_nodes(made)


@pytest.fixture(scope="module")
def users():
    us = [u for u in T.sim_users() if u.aal in (3, None)]
    assert len(us) >= 2
    return us


@pytest.fixture(scope="module")
def user():
    us = [u for u in T.sim_users() if u.aal in (3, None) and len(u.roles) == 1]
    assert us
    return us[0]


def test_configtest_needs_a_passphrase(redis, httpd_factory):
    h = httpd_factory(directives=[f"CIS2SessionStore {redis.url}"],
                      start=False)
    p = h.configtest()
    assert p.returncode != 0
    assert "CIS2-10107" in p.stdout + p.stderr
    h = httpd_factory(directives=["CIS2SessionStore memcache://x"], start=False)
    p = h.configtest()
    assert p.returncode != 0 and "CIS2-10100" in p.stdout + p.stderr
    h = httpd_factory(directives=[f"CIS2SessionStore {redis.url} colour=red",
                                  f"CIS2CryptoPassphrase \"{PASSPHRASE}\""],
                      start=False)
    p = h.configtest()
    assert p.returncode != 0 and "CIS2-10103" in p.stdout + p.stderr
    h = httpd_factory(directives=["CIS2CryptoPassphrase short"], start=False)
    p = h.configtest()
    assert p.returncode != 0 and "CIS2-10106" in p.stdout + p.stderr


def test_login_started_on_a_finishes_on_b(nodes, user):
    a, b = nodes
    s = T.new_session()
    trace = T.LoginTrace()
    r = T.start_login(s, a.url("/app/app.cgi"))
    assert r.status_code == 302
    T.pick_user_at_op(s, urllib.parse.urljoin(a.url("/"), r.headers["Location"]),
                      user.login, trace)
    mark = b.log_size()
    r = s.get(on(b, trace.callback_url), allow_redirects=False, timeout=20)
    assert r.status_code == 302, r.text[:500]
    assert b.wait_log(r"CIS2-00306: signed in", mark), "B did not sign in"
    sid = T.session_cookie_values(r)
    assert sid
    env = T.app_env(s.get(b.url("/app/app.cgi"), allow_redirects=False))
    assert env["REMOTE_USER"] == user.sub
    # ...and the session B made is good on A as well
    env = T.app_env(s.get(a.url("/app/app.cgi"), allow_redirects=False))
    assert env["REMOTE_USER"] == user.sub
    # the pending login was single use across nodes: replaying the
    # callback on A finds nothing
    r = s.get(trace.callback_url, allow_redirects=False, timeout=20)
    assert r.status_code == 400


def test_session_made_on_a_is_used_on_b(nodes, user):
    a, b = nodes
    s = T.new_session()
    r = T.login(s, a.url("/app/app.cgi"), user.login)
    env_a = T.app_env(r)
    env_b = T.app_env(s.get(b.url("/app/app.cgi"), allow_redirects=False))
    assert env_b["REMOTE_USER"] == env_a["REMOTE_USER"] == user.sub
    assert env_b.get("CIS2_ROLE_ID") == env_a.get("CIS2_ROLE_ID")
    # logout on B ends it on A
    s.get(b.url("/cis2/logout"), allow_redirects=False)
    r = s.get(a.url("/app/app.cgi"), allow_redirects=False)
    assert r.status_code == 302


def test_redis_holds_only_ciphertext(nodes, user, redis):
    a, _ = nodes
    s = T.new_session()
    T.app_env(T.login(s, a.url("/app/app.cgi"), user.login))
    sid = s.cookies.get("cis2_session")
    assert sid
    keys = redis.command("KEYS", "cis2:*")
    assert keys, "nothing in Redis"
    secrets = [sid.encode(), user.sub.encode(), str(user.login).encode()]
    name = user.raw.get("name") or user.claim("name")
    if name:
        secrets.append(name.encode())
    sessions = 0
    for k in keys:
        for sec in secrets:
            assert sec not in k, f"Redis key {k!r} reveals {sec!r}"
        kind = redis.command("TYPE", k)
        if kind != "hash":
            continue
        v = redis.command("HGET", k, "v")
        assert v is not None
        for sec in secrets + [b"CIS2_", b"REMOTE_USER", b"nhsid"]:
            assert sec not in v, f"value of {k!r} holds {sec!r} in clear"
        ttl = redis.command("PTTL", k)
        assert ttl > 0, f"{k!r} has no TTL"
        if k.startswith(b"cis2:s:"):
            sessions += 1
            assert len(v) > 200
    assert sessions >= 1


def test_backchannel_logout_on_b_ends_the_session_on_a(nodes, user,
                                                        cluster_sim):
    a, b = nodes
    s = T.new_session()
    T.app_env(T.login(s, a.url("/app/app.cgi"), user.login))
    mark = b.log_size()
    out = sim_post(cluster_sim, "backchannel-logout", {"user": user.login,
                                                       "client_id": CLIENT})
    statuses = [d.get("status") for d in out["deliveries"]]
    assert statuses == [200], out
    assert b.wait_log(r"CIS2-00411: back-channel logout: 1 session", mark), \
        b.read_log(mark)
    r = s.get(a.url("/app/app.cgi"), allow_redirects=False)
    assert r.status_code == 302, "the session survived a back-channel logout"


def test_redis_down_gives_503_then_recovers(nodes, user, redis):
    a, b = nodes
    for h in nodes:
        h.expect_log(r"CIS2-10111", r"CIS2-00003: .*Redis at",
                     r"CIS2-10114")       # the near-cache's subscriber
    s = T.new_session()
    T.app_env(T.login(s, a.url("/app/app.cgi"), user.login))
    redis.command("SAVE")                 # what Redis will come back with
    mark_a, mark_b = a.log_size(), b.log_size()
    redis.kill()
    try:
        # the near-cache stops serving once its subscriber sees Redis go
        # (test_redis_nearcache.py); only then is 503 certain
        for h, m in ((a, mark_a), (b, mark_b)):
            assert h.wait_log(r"CIS2-10114", m), h.read_log(m)
        # a signed-in user: 503 with a reference, on either node, no loop
        r = s.get(a.url("/app/app.cgi"), allow_redirects=False, timeout=10)
        T.assert_error_page(a, r, 503, mark_a)
        assert r.headers.get("Retry-After")
        assert "Location" not in r.headers
        r = s.get(b.url("/app/app.cgi"), allow_redirects=False, timeout=10)
        T.assert_error_page(b, r, 503, mark_b)
        # a new visitor: no redirect to CIS2 either (it could not finish)
        fresh = T.new_session()
        r = fresh.get(a.url("/app/app.cgi"), allow_redirects=False, timeout=10)
        assert r.status_code == 503 and "Location" not in r.headers
        # many requests while down stay fast (backoff) and never crash
        t0 = time.time()
        for _ in range(30):
            assert s.get(a.url("/app/app.cgi"), allow_redirects=False,
                         timeout=10).status_code == 503
        assert time.time() - t0 < 10
        lines = [l for l in a.read_log(mark_a).splitlines() if "CIS2-10111" in l]
        assert lines and all("ref=" in l for l in lines)
    finally:
        redis.start()
    # back: the session that was in Redis is valid again, on both nodes
    deadline = time.time() + 10
    while True:
        r = s.get(a.url("/app/app.cgi"), allow_redirects=False, timeout=10)
        if r.status_code == 200 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert T.app_env(r)["REMOTE_USER"] == user.sub
    env = T.app_env(s.get(b.url("/app/app.cgi"), allow_redirects=False))
    assert env["REMOTE_USER"] == user.sub
    assert a.wait_log(r"Redis at .* is reachable again", 0)


def graceful(h):
    mark = h.log_size()
    h.graceful()
    assert h.wait_log("resuming normal operations", mark, timeout=15)
    time.sleep(0.5)
    return mark


def test_key_rotation_across_graceful_restarts(httpd_factory, redis, users):
    old, new = "the old passphrase of this site", "the new passphrase, rotated in"
    store = f"CIS2SessionStore {redis.url}"
    h = httpd_factory(directives=[store, f"CIS2CryptoPassphrase \"{old}\""])
    s1 = T.new_session()
    T.app_env(T.login(s1, h.url("/app/app.cgi"), users[0].login))
    # the new key first, the old one still listed: old sessions live on
    h.directives = [store, f"CIS2CryptoPassphrase \"{new}\" \"{old}\""]
    h.write_conf()
    mark = graceful(h)
    line = h.wait_log(r"CIS2-10109", mark)
    assert line and re.search(r"key ids \w{8} \(writes\), \w{8}", line), line
    assert T.app_env(s1.get(h.url("/app/app.cgi"), allow_redirects=False))
    s2 = T.new_session()
    T.app_env(T.login(s2, h.url("/app/app.cgi"), users[1].login))
    # the old key dropped: its sessions are simply not found (sign in
    # again, no error page); sessions written with the new key go on
    h.directives = [store, f"CIS2CryptoPassphrase \"{new}\""]
    h.write_conf()
    graceful(h)
    r = s1.get(h.url("/app/app.cgi"), allow_redirects=False)
    assert r.status_code == 302
    assert T.app_env(s2.get(h.url("/app/app.cgi"), allow_redirects=False))[
        "REMOTE_USER"] == users[1].sub


def make_pki(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate,
    the keys readable by root only (httpd's parent reads them)."""
    sh = f"""set -e; cd '{d}'
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca \
    -keyout ca.key -out ca.crt
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key \
    -out server.csr
printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
    -days 2 -extfile san.ext -out server.crt
openssl req -newkey rsa:2048 -nodes -subj /CN=node -keyout client.key \
    -out client.csr
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
    -days 2 -out client.crt
chmod 600 client.key server.key ca.key
"""
    p = subprocess.run(["sh", "-c", sh], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_rediss_with_client_certificate(httpd_factory, users, port_pool):
    d = tempfile.mkdtemp(prefix="cis2-pki-")
    os.chmod(d, 0o755)
    make_pki(d)
    r = RedisServer(port=port_pool.take(), tls={"cert": f"{d}/server.crt", "key": f"{d}/server.key",
                         "ca": f"{d}/ca.crt", "auth_clients": True}).start()
    try:
        store = (f"CIS2SessionStore rediss://127.0.0.1:{r.port}/0 "
                 f"ca={d}/ca.crt cert={d}/client.crt key={d}/client.key")
        h = httpd_factory(directives=[store,
                                      f"CIS2CryptoPassphrase \"{PASSPHRASE}\""])
        s = T.new_session()
        env = T.app_env(T.login(s, h.url("/app/app.cgi"), users[0].login))
        assert env["REMOTE_USER"] == users[0].sub
        assert T.app_env(s.get(h.url("/app/app.cgi"),
                               allow_redirects=False))["REMOTE_USER"] == users[0].sub
        # a CA that did not sign the server: a clear 503, the reason logged
        h2 = httpd_factory(directives=[
            f"CIS2SessionStore rediss://127.0.0.1:{r.port}/0 ca={d}/client.crt "
            f"cert={d}/client.crt key={d}/client.key",
            f"CIS2CryptoPassphrase \"{PASSPHRASE}\""])
        h2.expect_log(r"CIS2-10111", r"CIS2-00003: .*Redis at",
                      r"CIS2-10114: .*not trusted")
        mark = h2.log_size()
        resp = T.new_session().get(h2.url("/app/app.cgi"), allow_redirects=False)
        T.assert_error_page(h2, resp, 503, mark)
        assert h2.wait_log(r"CIS2-10111.*not trusted", mark)
        # a key file that does not exist stops the start, naming it
        h3 = httpd_factory(directives=[
            f"CIS2SessionStore rediss://127.0.0.1:{r.port}/0 ca={d}/ca.crt "
            f"cert={d}/client.crt key={d}/missing.key",
            f"CIS2CryptoPassphrase \"{PASSPHRASE}\""], start=False)
        h3.expect_log(r"CIS2-10112", r"AH000(16|20)")
        # `-k start` detaches before the failure; the parent then exits
        subprocess.run([T.APACHE2, "-f", h3.conf, "-k", "start"],
                       capture_output=True, timeout=30, env=T.httpd_env())
        assert h3.wait_log(r"CIS2-10112: .*missing\.key", 0, timeout=15)
        assert h3.wait_log(r"Configuration Failed", 0, timeout=15)
        assert h.wait_log(r"CIS2-10113: .*subscriber connected", 0)
    finally:
        for x in T.ALL:                   # Redis goes before the httpds
            x.expect_log(r"CIS2-10114")
        r.stop()
        port_pool.give(r.port)
        shutil.rmtree(d, ignore_errors=True)
