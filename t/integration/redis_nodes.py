"""Two httpd nodes sharing one private redis-server, as a load-balanced NHS
site runs them (issue #6): the set-up that test_redis_cluster.py and
test_redis_nearcache.py share. Module-scoped fixtures `redis` and `ports`
(import them into the test module), a simulator whose client sends
back-channel logouts to node B, the nodes themselves, and two helpers of
the tests (a URL sent to the other node; a simulator control call).
"""

import json
import os
import tempfile
import urllib.parse

import pytest
import requests

import cis2test as T
from redis_server import RedisServer


@pytest.fixture(scope="module")
def redis(port_pool):
    r = RedisServer(port=port_pool.take()).start()   # never an httpd's port
    yield r
    r.stop()
    port_pool.give(r.port)


@pytest.fixture(scope="module")
def ports(port_pool):
    """Node A's and node B's ports."""
    a, b = port_pool.take(), port_pool.take()
    yield a, b
    port_pool.give(a)
    port_pool.give(b)


def backchannel_sim(ports, client_id, secret, redirect_ports, tag):
    """A generator for a module fixture: a simulator whose one client (A's
    post-logout page) sends back-channel logouts to node B."""
    a, b = ports
    clients = [{
        "client_id": client_id, "client_secret": secret,
        "redirect_uris": [T.redirect_uri(p) for p in redirect_ports],
        "post_logout_redirect_uris": [f"http://127.0.0.1:{a}/"],
        "backchannel_logout_uri": f"http://127.0.0.1:{b}/cis2/backchannel-logout",
        "token_endpoint_auth_method": "client_secret_post",
        "id_token_signed_response_alg": "RS256"}]
    d = tempfile.mkdtemp(prefix=f"cis2-sim-{tag}-")
    path = os.path.join(d, "clients.json")
    with open(path, "w") as f:
        json.dump(clients, f)
    s = T.Sim(T.free_port(), path)
    s.start()
    yield s
    s.stop()


def start_nodes(names, ports, provider, directives, extra=""):
    """The two nodes, started, with the same directives and CIS2RedirectURI
    (A's URL: a load-balanced site has one public name)."""
    made = []
    try:
        for name, port in zip(names, ports):
            h = T.Httpd(name, port, provider, extra=extra,
                        directives=list(directives)
                        + [f"CIS2RedirectURI {T.redirect_uri(ports[0])}"])
            h.start()
            made.append(h)
    except Exception:
        stop_nodes(made)
        raise
    return made


def stop_nodes(made):
    for h in made:
        h.stop()


def on(node, url):
    """The same URL, sent to another node (what the load balancer does)."""
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(u._replace(netloc=f"127.0.0.1:{node.port}"))


def sim_post(sim, name, body):
    base = f"http://127.0.0.1:{sim.port}"
    r = requests.post(f"{base}/_sim/{name}", json=body, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()
