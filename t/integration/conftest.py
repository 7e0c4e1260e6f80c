"""pytest fixtures for mod_cis2 integration tests.

Run:  cd t/integration && /usr/bin/python3 -m pytest -q
Needs: /work/main/mod_cis2.so (or $CIS2_MODULE), t/cis2-sim with node_modules
(`cd t/cis2-sim && npm ci`), Debian's apache2, python3-pytest,
python3-requests, python3-cryptography. Nothing is skipped: a missing piece
fails the tests that need it with a message saying what to build.
"""

import json
import os
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cis2test as T  # noqa: E402
from hostile_op import HostileOP  # noqa: E402

if not sys.executable.startswith("/usr/bin/python3"):
    # The pyenv python first on PATH lacks Debian's modules; say so loudly.
    sys.stderr.write(f"warning: running under {sys.executable}; "
                     "use /usr/bin/python3 -m pytest\n")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "allow_log(*regex): bad-level error_log lines matching "
        "one of these regexes do not fail the test")


# ------------------------------------------------------------ preflight

def _require_module():
    if not os.path.isfile(T.CIS2_MODULE):
        pytest.fail(f"mod_cis2 not built: {T.CIS2_MODULE} is missing. Build it "
                    "with `cd /work/main && autoreconf -fi && ./configure && "
                    "make` (or set CIS2_MODULE).", pytrace=False)


def _require_sim():
    if not os.path.isfile(T.SIM_JS):
        pytest.fail(f"CIS2 simulator missing: {T.SIM_JS}", pytrace=False)
    if not os.path.isdir(os.path.join(T.SIM_DIR, "node_modules", "oidc-provider")):
        pytest.fail("simulator dependencies missing: run "
                    "`cd t/cis2-sim && npm ci`", pytrace=False)


@pytest.fixture(autouse=True)
def module_built():
    _require_module()


# ------------------------------------------------------------ log checker

@pytest.fixture(autouse=True)
def error_log_check(request):
    """Fail a test on any unexpected warn/error/crit/alert/emerg line or a
    crashed child in the error_log of any httpd it used. Expected lines are
    allowed by `httpd.expect_log(regex)` or @pytest.mark.allow_log(regex)."""
    marker = request.node.get_closest_marker("allow_log")
    allowed = list(marker.args) if marker else []
    yield
    problems = []
    for h in list(T.ALL):
        end = h.log_size()
        start = getattr(h, "checked_upto", 0)
        if allowed:
            h.expect_log(*allowed)
        bad = h.bad_lines(start, end)
        h.checked_upto = end
        if bad:
            problems.append(f"httpd {h.name} ({h.error_log}):\n  "
                            + "\n  ".join(bad[:20])
                            + T.core_backtraces(h))
        h.allowed = []
    if problems:
        pytest.fail("unexpected error_log lines:\n" + "\n".join(problems),
                    pytrace=False)


# ------------------------------------------------------------ ports, sim

@pytest.fixture(scope="session")
def port_pool():
    return T.PortPool(24)


@pytest.fixture(scope="session")
def clients_file(port_pool):
    uris = [T.redirect_uri(p) for p in port_pool.ports]
    post_logout = [f"http://127.0.0.1:{p}/" for p in port_pool.ports]
    clients = [
        {"client_id": "123456789012.apps.national",
         "client_secret": T.CLIENT_SECRETS["123456789012.apps.national"],
         "redirect_uris": uris, "post_logout_redirect_uris": post_logout,
         "token_endpoint_auth_method": "client_secret_post",
         "id_token_signed_response_alg": "RS256"},
        {"client_id": "secretbasic.apps.national",
         "client_secret": T.CLIENT_SECRETS["secretbasic.apps.national"],
         "redirect_uris": uris, "post_logout_redirect_uris": post_logout,
         "token_endpoint_auth_method": "client_secret_basic",
         "id_token_signed_response_alg": "RS256"},
        {"client_id": "rs512.apps.national",
         "client_secret": T.CLIENT_SECRETS["rs512.apps.national"],
         "redirect_uris": uris, "post_logout_redirect_uris": post_logout,
         "token_endpoint_auth_method": "client_secret_post",
         "id_token_signed_response_alg": "RS512"},
    ]
    d = tempfile.mkdtemp(prefix="cis2-sim-")
    path = os.path.join(d, "clients.json")
    with open(path, "w") as f:
        json.dump(clients, f, indent=1)
    return path


@pytest.fixture(scope="session")
def sim(clients_file):
    _require_sim()
    s = T.Sim(T.free_port(), clients_file)
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def user(sim):
    """A simulator user every default site accepts: AAL3, one role."""
    us = [u for u in T.sim_users() if u.aal in (3, None) and len(u.roles) == 1]
    assert us, "no single-role AAL3 user in the simulator"
    return us[0]


@pytest.fixture(scope="session")
def users():
    _require_sim()
    return T.load_users()


def sim_provider(sim, client_id=T.DEFAULT_CLIENT, auth=None):
    p = {"metadata_url": sim.discovery_url, "client_id": client_id,
         "client_secret": T.CLIENT_SECRETS[client_id]}
    if auth:
        p["auth"] = auth
    return p


# ------------------------------------------------------------ httpd

class _Factory:
    def __init__(self, pool, sim_getter, name):
        self.pool = pool
        self.sim_getter = sim_getter
        self.name = name
        self.made = []

    def __call__(self, name=None, provider=None, client_id=T.DEFAULT_CLIENT,
                 auth=None, directives=(), extra="", start=True,
                 base_cis2=True):
        if provider is None:
            provider = sim_provider(self.sim_getter(), client_id, auth)
        h = T.Httpd(name or f"{self.name}-{len(self.made)}", self.pool.take(),
                    provider, directives=directives, extra=extra,
                    base_cis2=base_cis2, pool=self.pool)
        self.made.append(h)
        if start:
            h.start()
        return h

    def close(self):
        for h in self.made:
            h.stop()
            if not h.started:
                self.pool.give(h.port)


@pytest.fixture
def httpd_factory(request, port_pool):
    """Per-test httpds: make(name=, provider=|client_id=, auth=,
    directives=[...], extra="...", start=True)."""
    f = _Factory(port_pool, lambda: request.getfixturevalue("sim"),
                 request.node.name[:40].replace("/", "_").replace("[", "_").replace("]", ""))
    yield f
    f.close()


@pytest.fixture(scope="module")
def module_httpd_factory(request, port_pool):
    f = _Factory(port_pool, lambda: request.getfixturevalue("sim"),
                 request.module.__name__)
    yield f
    f.close()


@pytest.fixture(scope="module")
def httpd(module_httpd_factory):
    """The default httpd for a test module: simulator, client_secret_post."""
    return module_httpd_factory()


@pytest.fixture
def session():
    s = T.new_session()
    yield s
    s.close()


# ------------------------------------------------------------ backends

class _EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        body = json.dumps({"path": self.path,
                           "headers": [[k, v] for k, v in self.headers.items()]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET


@pytest.fixture(scope="session")
def echo_backend():
    """A tiny backend that answers every request with its headers as JSON."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


# ------------------------------------------------------------ hostile OP

HOSTILE_CLIENT = "hostile.apps.national"
HOSTILE_SECRET = "hostile-secret-0123456789abcdef0123"


@pytest.fixture(scope="module")
def hostile_op():
    op = HostileOP(HOSTILE_CLIENT, HOSTILE_SECRET).start()
    yield op
    op.stop()


def hostile_provider(op):
    return {"metadata_url": op.discovery_url, "client_id": op.client_id,
            "client_secret": op.client_secret}


@pytest.fixture(scope="module")
def hostile_httpd(module_httpd_factory, hostile_op):
    return module_httpd_factory(name="hostile", provider=hostile_provider(hostile_op),
                                directives=["CIS2HTTPTimeout 1 2"])
