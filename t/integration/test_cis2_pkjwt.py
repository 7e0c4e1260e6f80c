"""private_key_jwt against the simulator (issue #3, CIS2.md §4 and §9).

The simulator is registered, as CIS2's Connection Manager would be, with
jwks_uri = the module's own JWKS endpoint (<dir of CIS2RedirectURI>/jwks)
and jwks_uri_signing_algorithm RS256 or RS512; it fetches that JWKS to check
every client assertion. So a login that works proves the whole chain: the
key file, the RFC 7638 kid, the assertion's claims (aud = the token
endpoint byte for byte) and the published JWKS.
"""

import json
import os
import subprocess
import tempfile
import urllib.parse

import pytest
import requests

import cis2test as T

PK256 = "pkjwt256.apps.national"
PK512 = "pkjwt512.apps.national"


def genkey(path):
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", path], check=True,
                   capture_output=True)
    os.chmod(path, 0o644)   # httpd reads it at start-up (as root here)
    return path


@pytest.fixture(scope="module")
def pk(request):
    """A private simulator with two private_key_jwt clients whose jwks_uri
    are the JWKS endpoints of two httpd ports reserved for this module."""
    d = tempfile.mkdtemp(prefix="cis2-pkjwt-")
    os.chmod(d, 0o755)
    ports = {PK256: T.free_port(), PK512: T.free_port()}
    algs = {PK256: "RS256", PK512: "RS512"}
    clients = [{"client_id": cid,
                "redirect_uris": [T.redirect_uri(port)],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": f"http://127.0.0.1:{port}/cis2/jwks",
                "jwks_uri_signing_algorithm": algs[cid],
                "id_token_signed_response_alg": "RS256"}
               for cid, port in ports.items()]
    with open(os.path.join(d, "clients.json"), "w") as f:
        json.dump(clients, f)
    sim = T.Sim(T.free_port(), os.path.join(d, "clients.json")).start()
    keys = {n: genkey(os.path.join(d, f"{n}.pem")) for n in ("a", "b", "c")}
    made = []

    class Ctx:
        pass
    ctx = Ctx()
    ctx.sim, ctx.ports, ctx.keys, ctx.dir = sim, ports, keys, d

    def make(client_id, directives, name):
        prov = {"metadata_url": sim.discovery_url, "client_id": client_id,
                "client_secret": "unused"}
        h = T.Httpd(name, ports[client_id], prov,
                    directives=["-CIS2ClientSecret",
                                "CIS2TokenEndpointAuth private_key_jwt"]
                    + directives)
        made.append(h)
        return h.start()
    ctx.make = make
    yield ctx
    for h in made:
        h.stop()
    sim.stop()


def jwks_of(h):
    r = requests.get(h.url("/cis2/jwks"), timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def login_ok(h):
    u = next(u for u in T.sim_users() if u.aal == 3 and len(u.roles) == 1)
    s = T.new_session()
    env = T.app_env(T.login(s, h.url("/app/app.cgi"), u.login))
    assert env["REMOTE_USER"] == u.sub
    return env


def sim_logins(sim):
    return requests.get(f"http://127.0.0.1:{sim.port}/_sim/state",
                        timeout=10).json()["logins"]


@pytest.mark.parametrize("client_id,alg", [(PK256, "RS256"), (PK512, "RS512")],
                         ids=["RS256", "RS512"])
def test_private_key_jwt_login(pk, client_id, alg):
    h = pk.make(client_id, [f"CIS2PrivateKeyFile {pk.keys['a']}",
                            f"CIS2ClientAssertionAlg {alg}"], f"pk-{alg}")
    try:
        jwks = jwks_of(h)
        assert len(jwks["keys"]) == 1
        k = jwks["keys"][0]
        assert k["kty"] == "RSA" and k["use"] == "sig" and k["alg"] == alg
        assert len(k["kid"]) == 43            # RFC 7638 thumbprint
        assert "d" not in k and "p" not in k  # never the private part
        before = len(sim_logins(pk.sim))
        login_ok(h)
        logins = sim_logins(pk.sim)
        assert len(logins) == before + 1 and logins[-1]["client_id"] == client_id
        # the JWKS endpoint is public and GET-only
        r = requests.post(h.url("/cis2/jwks"), timeout=10)
        assert r.status_code == 405
    finally:
        h.stop()


def expire_client_jwks(sim, client_id):
    r = requests.post(f"http://127.0.0.1:{sim.port}/_sim/expire-client-jwks",
                      json={"client_id": client_id}, timeout=10)
    assert r.status_code == 200, r.text


def test_key_rollover_keeps_logins_working(pk):
    """New key first in the JWKS, the old one still listed: logins go on
    working without touching the client registration (CIS2.md §9)."""
    h = pk.make(PK512, [f"CIS2PrivateKeyFile {pk.keys['b']}"], "pk-old")
    try:
        expire_client_jwks(pk.sim, PK512)   # forget earlier tests' keys
        old_kid = jwks_of(h)["keys"][0]["kid"]
        login_ok(h)                          # the OP now caches [old]
    finally:
        h.stop()
    # roll: sign with the new key, keep publishing the old one
    h = pk.make(PK512, [f"CIS2PrivateKeyFile {pk.keys['c']} new-key-2026",
                        f"CIS2PreviousKeyFile {pk.keys['b']}"], "pk-new")
    try:
        kids = [k["kid"] for k in jwks_of(h)["keys"]]
        assert kids == ["new-key-2026", old_kid]
        # the OP meets an unknown kid once its cached copy may be refetched
        expire_client_jwks(pk.sim, PK512)
        login_ok(h)                          # the OP now caches [new, old]
    finally:
        h.stop()
    # a server of the same site not yet rolled (still signing with the old
    # key) keeps working, because the old key is still listed
    h = pk.make(PK512, [f"CIS2PrivateKeyFile {pk.keys['b']}",
                        f"CIS2PreviousKeyFile {pk.keys['c']} new-key-2026"],
                "pk-lagging")
    try:
        login_ok(h)
    finally:
        h.stop()


def test_assertion_alg_other_than_registered_is_refused(pk):
    """Control: the simulator really checks the assertion. A client
    registered for RS256 that signs RS512 gets invalid_client, and the user
    a 502 page with a reference (the admin: CIS2-00304 ... invalid_client)."""
    h = pk.make(PK256, [f"CIS2PrivateKeyFile {pk.keys['a']}",
                        "CIS2ClientAssertionAlg RS512"], "pk-wrongalg")
    try:
        h.expect_log(r"CIS2-00304")
        u = next(u for u in T.sim_users() if u.aal == 3 and len(u.roles) == 1)
        s = T.new_session()
        start = h.log_size()
        r = T.login(s, h.url("/app/app.cgi"), u.login, follow_final=False)
        T.assert_error_page(h, r, 502, start)
        assert "invalid_client" in h.read_log(start)
    finally:
        h.stop()


def test_configtest_needs_a_private_key(httpd_factory):
    h = httpd_factory(directives=["CIS2TokenEndpointAuth private_key_jwt"],
                      start=False)
    p = h.configtest()
    assert p.returncode != 0
    assert "CIS2-00500" in p.stdout + p.stderr


def test_configtest_refuses_public_key_as_current(httpd_factory, tmp_path):
    key = genkey(str(tmp_path / "k.pem"))
    pub = str(tmp_path / "k.pub.pem")
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub],
                   check=True, capture_output=True)
    os.chmod(str(tmp_path), 0o755)
    h = httpd_factory(directives=[f"CIS2PrivateKeyFile {pub}"], start=False)
    p = h.configtest()
    assert p.returncode != 0 and "CIS2-00151" in p.stdout + p.stderr
    h = httpd_factory(directives=["CIS2PrivateKeyFile /nonexistent.pem"],
                      start=False)
    p = h.configtest()
    assert p.returncode != 0 and "CIS2-00150" in p.stdout + p.stderr


def test_no_jwks_endpoint_without_keys(httpd):
    r = requests.get(httpd.url("/cis2/jwks"), timeout=10)
    assert r.status_code == 404


# ---------------------------------------------------------------- signed UserInfo

@pytest.fixture(scope="module")
def signed_ui():
    """A private simulator with a client registered for signed UserInfo
    (CIS2.md §6: JWT, no aud)."""
    d = tempfile.mkdtemp(prefix="cis2-sui-")
    os.chmod(d, 0o755)
    port = T.free_port()
    clients = [{"client_id": "signedui.apps.national",
                "client_secret": "s3cret-signedui-0123456789abcdef",
                "redirect_uris": [T.redirect_uri(port)],
                "token_endpoint_auth_method": "client_secret_post",
                "id_token_signed_response_alg": "RS256",
                "userinfo_signed_response_alg": "RS256"}]
    with open(os.path.join(d, "clients.json"), "w") as f:
        json.dump(clients, f)
    sim = T.Sim(T.free_port(), os.path.join(d, "clients.json")).start()
    prov = {"metadata_url": sim.discovery_url,
            "client_id": "signedui.apps.national",
            "client_secret": "s3cret-signedui-0123456789abcdef"}
    h = T.Httpd("signed-userinfo", port, prov).start()
    yield sim, h
    h.stop()
    sim.stop()


def test_signed_userinfo_verified(signed_ui):
    sim, h = signed_ui
    u = next(u for u in T.sim_users() if u.login == "doctor")
    env = T.app_env(T.login(T.new_session(), h.url("/app/app.cgi"), u.login))
    # names and roles come from UserInfo: the signed one was accepted
    assert env["CIS2_FAMILY_NAME"] == u.claim("family_name")
    assert len(env["CIS2_ROLES"].split(",")) == len(u.roles)


@pytest.mark.parametrize("knob,why", [
    ({"sign_with": "rogue"}, "bad_signature"),
    ({"sub": "999999999999"}, "sub_mismatch"),
    ({"iss": "https://elsewhere.example/"}, "bad_iss"),
], ids=["bad-signature", "other-sub", "other-iss"])
def test_signed_userinfo_tampered_refused(signed_ui, knob, why):
    sim, h = signed_ui
    r = requests.post(f"http://127.0.0.1:{sim.port}/_sim/next-userinfo",
                      json=knob, timeout=10)
    assert r.status_code == 200
    h.expect_log(r"CIS2-00304")
    start = h.log_size()
    r = T.login(T.new_session(), h.url("/app/app.cgi"), "nurse",
                follow_final=False)
    T.assert_error_page(h, r, 401, start)
    assert why in h.read_log(start), h.read_log(start)[-600:]
    assert not [c for c in T.set_cookie_headers(r) if c.startswith("cis2_session=")
                and not c.startswith("cis2_session=;")]
