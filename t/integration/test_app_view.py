"""The exact JSON values the app sees (docs/app-view.md): CIS2_ROLES_JSON
and CIS2_CLAIMS_JSON hold the simulator's claims, byte for byte compact
JSON, for users from no roles to 45 roles; whatever the session record's
encoding (issue #4 shrank it), the app view does not change."""

import json
import re
import time

import pytest

import cis2test as T

# claims that never reach CIS2_CLAIMS_JSON (cis2_claims.c secret_claims)
SECRET = {"nonce", "at_hash", "c_hash", "s_hash", "sid",
          "org.forgerock.openidconnect.ops", "access_token", "refresh_token",
          "id_token"}
USERINFO_SCALARS = ("sub", "uid", "name", "given_name", "family_name", "email")


def compact(text):
    """The text as jansson's compact dump writes it (key order kept)."""
    return json.dumps(json.loads(text), separators=(",", ":"),
                      ensure_ascii=False)


def users():
    return {u.login: u for u in T.sim_users()}


@pytest.mark.parametrize("login", ["nurse", "doctor", "fiveroles", "manyroles",
                                   "noroles"])
def test_json_values_are_the_simulators_claims(login, httpd, sim):
    u = users()[login]
    env = T.app_env(T.login(T.new_session(), httpd.url("/app/app.cgi"), login))
    roles_text = env["CIS2_ROLES_JSON"]
    claims_text = env["CIS2_CLAIMS_JSON"]
    assert compact(roles_text) == roles_text
    assert compact(claims_text) == claims_text
    roles = json.loads(roles_text)
    claims = json.loads(claims_text)
    # every role exactly as the simulator sent it, in its order
    assert roles == u.roles
    if u.roles:
        assert claims["nhsid_nrbac_roles"] == u.roles
        # the same text inside CIS2_CLAIMS_JSON
        assert '"nhsid_nrbac_roles":' + roles_text in claims_text
    if u.orgs:
        assert claims["nhsid_user_orgs"] == [
            {"org_code": o["org_code"], "org_name": o["org_name"]}
            for o in u.orgs]
    else:
        assert "nhsid_user_orgs" not in claims
    for k in USERINFO_SCALARS:
        if u.claim(k) is not None or k == "sub":
            assert claims[k] == (u.sub if k == "sub" else u.claim(k)), k
    assert not SECRET & set(claims), SECRET & set(claims)
    # the ID token's claims are there too (signed authority for these)
    assert claims["iss"] == sim.issuer
    assert claims["aud"] == T.DEFAULT_CLIENT
    assert str(claims["auth_time"]) == env["CIS2_AUTH_TIME"]
    assert claims["acr"] == env["CIS2_ACR"]
    # each top-level text claim that is exported on its own agrees
    for k, v in claims.items():
        name = "CIS2_CLAIM_" + "".join(
            c if c.isalnum() else "_" for c in k.upper())
        if isinstance(v, str) and name in env:
            assert env[name] == v, (name, env[name], v)
    # lists agree with the JSON
    assert env["CIS2_ROLES"] == ",".join(r["person_roleid"] for r in u.roles)


def test_same_view_as_headers(httpd_factory, sim):
    """CIS2PassClaimsAs headers: the same values (five roles), as the
    request headers a proxied backend would read."""
    h = httpd_factory(extra="<Location /app/app.cgi>\n"
                            "    CIS2PassClaimsAs both\n</Location>\n")
    env = T.app_env(T.login(T.new_session(), h.url("/app/app.cgi"),
                            "fiveroles"))
    names = [k for k in env if k.startswith("CIS2_")]
    assert len(names) > 20, names
    for k in names:
        assert env["HTTP_" + k] == env[k], k
    assert len(json.loads(env["CIS2_ROLES_JSON"])) == 5


def stored_bytes(h):
    """Bytes of keys and values in the store, from the numbered line a
    graceful restart logs (CIS2-10011)."""
    start = h.log_size()
    h.graceful()
    assert h.wait_log(r"CIS2-10011", start, timeout=15), h.read_log(start)
    m = re.search(r"CIS2-10011: session store: (\d+) sessions in \d+ bytes "
                  r"\((\d+) bytes of keys and values\)", h.read_log(start))
    assert m, h.read_log(start)
    return int(m.group(1)), int(m.group(2))


def test_five_role_session_fits_the_256m_budget(httpd_factory, sim):
    """Issue #4: 100k sessions of a 5-role user in a 256 MB store need
    key + record <= ~2.2 KB; a real sign-in of `fiveroles` stores < 2000
    bytes; with CIS2RPInitiatedLogout the ID token is kept too (its
    decoded parts, ~500 bytes once compressed) and it still fits."""
    h = httpd_factory()
    s = T.new_session()
    env = T.app_env(T.login(s, h.url("/app/app.cgi"), "fiveroles"))
    assert len(json.loads(env["CIS2_ROLES_JSON"])) == 5
    n, size = stored_bytes(h)
    assert n == 1 and size <= 2000, (n, size)
    # the session still works after the graceful restart
    time.sleep(1)
    assert T.app_env(s.get(h.url("/app/app.cgi"), timeout=20)) == env

    h2 = httpd_factory(directives=["CIS2RPInitiatedLogout on"])
    T.login(T.new_session(), h2.url("/app/app.cgi"), "fiveroles")
    n2, size2 = stored_bytes(h2)
    assert n2 == 1 and size + 300 < size2 <= 2000, (size, size2)
