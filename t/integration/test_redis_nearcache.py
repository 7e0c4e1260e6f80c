"""The Redis store's host-local near-cache (CIS2SessionStoreCacheTTL,
issue #6): two httpd nodes sharing one real redis-server, each with its
own near-cache. Repeated requests are answered without Redis (counted by
redis-server itself, INFO commandstats); a logout or back-channel logout
that reaches node B ends the session on node A on the very next request
although A had it cached with a TTL far longer than the test; with Redis
gone A does not serve from its cache (503) and recovers when Redis is
back; a subscriber that Redis refuses keeps the cache off; TTL 0 turns
the cache off.
"""

import re
import time

import pytest
import requests

import cis2test as T
from redis_nodes import (backchannel_sim, ports, redis,  # noqa: F401
                         sim_post, start_nodes, stop_nodes)

CLIENT = "nearcache.apps.national"
SECRET = "s3cret-nearcache-0123456789abcdef"
PASSPHRASE = "near-cache passphrase shared by every node"
TTL = "60s"         # far longer than any test: only invalidation ends a copy
STATUS = """LoadModule authz_host_module /usr/lib/apache2/modules/mod_authz_host.so
<Location /cis2-status>
    Require ip 127.0.0.1
</Location>
"""


@pytest.fixture(scope="module")
def nc_sim(ports):
    """A simulator whose client sends back-channel logouts to node B."""
    yield from backchannel_sim(ports, CLIENT, SECRET, ports, "nearcache")


def provider(sim):
    return {"metadata_url": sim.discovery_url, "client_id": CLIENT,
            "client_secret": SECRET}


def store_lines(url, ttl=TTL):
    return [f"CIS2SessionStore {url} timeout=500ms connect_timeout=500ms",
            f"CIS2CryptoPassphrase \"{PASSPHRASE}\"",
            f"CIS2SessionStoreCacheTTL {ttl}"]


@pytest.fixture(scope="module")
def nodes(nc_sim, redis, ports):
    made = start_nodes(("nc-a", "nc-b"), ports, provider(nc_sim),
                       store_lines(redis.url)
                       + ["CIS2StatusPath /cis2-status"], extra=STATUS)
    for h in made:
        assert h.wait_log(r"CIS2-10113: .*subscriber connected", 0,
                          timeout=10), h.read_log()
    yield made
    stop_nodes(made)


@pytest.fixture(scope="module")
def user():
    us = [u for u in T.sim_users() if u.aal in (3, None) and len(u.roles) == 1]
    assert us
    return us[0]


def status(h):
    return requests.get(h.url("/cis2-status?json"), timeout=10).json()


@pytest.fixture(scope="module")
def users():
    us = [u for u in T.sim_users() if u.aal in (3, None)]
    assert us
    return us


def calls(redis, cmd):
    """How often redis-server has run `cmd` (INFO commandstats)."""
    info = redis.command("INFO", "commandstats").decode()
    m = re.search(rf"^cmdstat_{cmd}:calls=(\d+)", info, re.M)
    return int(m.group(1)) if m else 0


def app(s, node):
    return s.get(node.url("/app/app.cgi"), allow_redirects=False, timeout=10)


def signed_in_on_a(nodes, user, redis, serve=5):
    """A session made on A and served from A's near-cache `serve` times
    (checked: those requests made no session read in Redis)."""
    a, _ = nodes
    s = T.new_session()
    assert T.app_env(T.login(s, a.url("/app/app.cgi"), user.login))[
        "REMOTE_USER"] == user.sub
    assert app(s, a).status_code == 200       # read once from Redis...
    before = calls(redis, "hmget")
    for _ in range(serve):                    # ...then from the cache
        r = app(s, a)
        assert T.app_env(r)["REMOTE_USER"] == user.sub
    assert calls(redis, "hmget") == before, "A did not serve from its cache"
    return s


def ended_on(node, s, within=0.2):
    """The session no longer works on node: at once, or within `within`
    seconds (a PUBLISH takes that long at most to reach the other node's
    subscriber on a loaded machine; the TTL is 60 s)."""
    deadline = time.time() + within
    while True:
        r = app(s, node)
        if r.status_code == 302:
            return True
        assert r.status_code == 200
        if time.time() > deadline:
            return False
        time.sleep(0.01)


def test_near_cache_answers_repeated_requests(nodes, user, redis):
    a, b = nodes
    s = signed_in_on_a(nodes, user, redis, serve=20)
    # B has its own near-cache: one read from Redis, then none
    assert app(s, b).status_code == 200
    before = calls(redis, "hmget")
    for _ in range(10):
        assert app(s, b).status_code == 200
    assert calls(redis, "hmget") == before
    st = status(a)
    nc = st["store"]["near_cache"]
    assert nc["serving"] is True and nc["ttl_ms"] == 60000
    assert nc["hits"] >= 20 and nc["stores"] >= 1
    # a session nobody has is not "cached" as absent: an unknown cookie
    # costs a Redis read every time
    s2 = T.new_session()
    s2.cookies.set("cis2_session", "A" * 43)
    before = calls(redis, "hmget")
    for _ in range(3):
        assert app(s2, a).status_code == 302
    assert calls(redis, "hmget") >= before + 3    # (+ pending sign-ins)


def test_backchannel_logout_on_b_ends_cached_session_on_a(nodes, user, redis,
                                                          nc_sim):
    a, b = nodes
    s = signed_in_on_a(nodes, user, redis)
    mark = b.log_size()
    out = sim_post(nc_sim, "backchannel-logout", {"user": user.login,
                                                  "client_id": CLIENT})
    assert [d.get("status") for d in out["deliveries"]] == [200], out
    assert b.wait_log(r"CIS2-00411: back-channel logout: 1 session", mark)
    # the next request on A, not one after the 60 s TTL
    r = app(s, a)
    assert r.status_code == 302, "A served a session ended on B"
    assert app(s, b).status_code == 302


def test_local_logout_on_b_ends_cached_session_on_a(nodes, user, redis):
    a, b = nodes
    s = signed_in_on_a(nodes, user, redis)
    assert app(s, b).status_code == 200       # cached on B as well
    cookie = s.cookies.get("cis2_session")
    r = s.get(b.url("/cis2/logout"), allow_redirects=False, timeout=10)
    assert r.status_code in (200, 302, 303)
    s.cookies.set("cis2_session", cookie)     # the browser kept a copy
    assert ended_on(a, s), "A served a session ended on B"
    assert app(s, b).status_code == 302
    # and a logout on A ends B's cached copy
    s = signed_in_on_a(nodes, user, redis)
    assert app(s, b).status_code == 200
    assert app(s, b).status_code == 200
    cookie = s.cookies.get("cis2_session")
    s.get(a.url("/cis2/logout"), allow_redirects=False, timeout=10)
    s.cookies.set("cis2_session", cookie)
    assert ended_on(b, s), "B served a session ended on A"


def test_redis_down_no_serving_from_cache(nodes, user, redis):
    a, b = nodes
    for h in nodes:
        h.expect_log(r"CIS2-10111", r"CIS2-00003: .*Redis at",
                     r"CIS2-10114")
    s = signed_in_on_a(nodes, user, redis)
    redis.command("SAVE")
    mark = a.log_size()
    redis.kill()
    try:
        assert a.wait_log(r"CIS2-10114: .*subscriber down", mark), \
            a.read_log(mark)
        # the copy A holds is not served: 503, as without a cache
        for _ in range(5):
            r = app(s, a)
            assert r.status_code == 503, r.status_code
            assert "Location" not in r.headers
        st = status(a)
        assert st["store"]["near_cache"]["serving"] is False
        assert st["store"]["near_cache"]["epoch_bumps"] >= 1
    finally:
        mark = a.log_size()
        redis.start()
    assert a.wait_log(r"CIS2-10113: .*subscriber connected", mark,
                      timeout=10), a.read_log(mark)
    deadline = time.time() + 10
    while True:
        r = app(s, a)
        if r.status_code == 200 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert T.app_env(r)["REMOTE_USER"] == user.sub
    # and it is cached again
    assert app(s, a).status_code == 200
    before = calls(redis, "hmget")
    for _ in range(5):
        assert app(s, a).status_code == 200
    assert calls(redis, "hmget") == before


def test_refused_subscriber_keeps_the_cache_off(httpd_factory, redis, users):
    # an ACL user with no pub/sub channel (Redis 7's default for new
    # users): commands work, SUBSCRIBE is refused
    redis.command("ACL", "SETUSER", "nochan", "reset", "on", ">nochan-pw",
                  "~*", "+@all", "resetchannels")
    try:
        url = f"redis://nochan:nochan-pw@127.0.0.1:{redis.port}/0"
        h = httpd_factory(directives=store_lines(url))
        h.expect_log(r"CIS2-10114: .*SUBSCRIBE refused")
        assert h.wait_log(r"CIS2-10114: .*SUBSCRIBE refused", 0, timeout=10)
        s = T.new_session()
        env = T.app_env(T.login(s, h.url("/app/app.cgi"), users[0].login))
        assert env["REMOTE_USER"] == users[0].sub
        before = calls(redis, "hmget")
        for _ in range(5):
            assert app(s, h).status_code == 200
        assert calls(redis, "hmget") == before + 5, "served from a cache " \
            "whose invalidations cannot arrive"
        # the deleting scripts still work without the channel
        s.get(h.url("/cis2/logout"), allow_redirects=False, timeout=10)
        assert app(s, h).status_code == 302
        assert h.wait_log(r"CIS2-10113", 0, timeout=0.1) is None
    finally:
        redis.command("ACL", "DELUSER", "nochan")


def test_ttl_zero_turns_the_cache_off(httpd_factory, redis, users):
    h = httpd_factory(directives=store_lines(redis.url, ttl="0"))
    assert h.wait_log(r"CIS2-10120: .*no near-cache", 0)
    s = T.new_session()
    T.app_env(T.login(s, h.url("/app/app.cgi"), users[0].login))
    before = calls(redis, "hmget")
    for _ in range(5):
        assert app(s, h).status_code == 200
    assert calls(redis, "hmget") == before + 5
    assert h.wait_log(r"CIS2-10113", 0, timeout=0.1) is None


def test_short_ttl_bounds_the_age_of_a_copy(httpd_factory, redis, users):
    h = httpd_factory(directives=store_lines(redis.url, ttl="300ms"))
    assert h.wait_log(r"CIS2-10113", 0, timeout=10)
    s = T.new_session()
    T.app_env(T.login(s, h.url("/app/app.cgi"), users[0].login))
    assert app(s, h).status_code == 200
    time.sleep(0.5)                           # the copy is older than 300ms
    before = calls(redis, "hmget")
    assert app(s, h).status_code == 200
    assert calls(redis, "hmget") == before + 1


def test_bad_ttl_is_refused(httpd_factory, redis):
    for bad in ("61s", "-1", "soon"):
        h = httpd_factory(directives=store_lines(redis.url, ttl=bad),
                          start=False)
        p = h.configtest()
        assert p.returncode != 0 and "CIS2-10115" in p.stdout + p.stderr
