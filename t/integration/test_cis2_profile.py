"""The CIS2 profile against the simulator (issue #3): Require cis2-* rules,
step-up to AAL3 inside an AAL2 site, auth_time freshness, identity
assurance, role change. docs/cis2-conformance.md names these tests.
"""

import json
import re
import time
import urllib.parse

import pytest
import requests

import cis2test as T

SCOPE = ('CIS2Scope "openid profile email nationalrbacaccess associatedorgs '
         'professionalmemberships selectedrole"')
SIM_USERS = {u.login: u for u in T.sim_users()}


def sim_post(sim, knob, body):
    r = requests.post(f"http://127.0.0.1:{sim.port}/_sim/{knob}", json=body,
                      timeout=10)
    assert r.status_code == 200, r.text


@pytest.fixture(autouse=True)
def sim_reset(sim):
    sim_post(sim, "reset", {})
    yield
    sim_post(sim, "reset", {})


def auth_params(resp):
    assert resp.status_code == 302, resp.text[:300]
    q = urllib.parse.urlsplit(resp.headers["Location"]).query
    return {k: v[0] for k, v in urllib.parse.parse_qs(q).items()}


def rp_cookie(s):
    """The module's session cookie in a browser's jar (not the OP's)."""
    return [c.value for c in s.cookies if c.name == "cis2_session"]


def cookies_set(resp):
    return [c for c in T.set_cookie_headers(resp)
            if "session" in c.split("=", 1)[0]
            and "max-age=0" not in c.lower().replace(" ", "")
            and c.split("=", 1)[1].split(";", 1)[0]]


# ---------------------------------------------------------------- Require cis2-*

RULES = {
    # path suffix: (config inside the <Location>, predicate on the session)
    "role-code": ("Require cis2-role S8000:G8000:R8001",
                  lambda sel, roles, u: sel and sel["role_code"] == "S8000:G8000:R8001"),
    "role-id": ("Require cis2-role 555260200203",
                lambda sel, roles, u: sel and sel["person_roleid"] == "555260200203"),
    "activity": ("Require cis2-activity B0420",
                 lambda sel, roles, u: sel and "B0420" in sel.get("activity_codes", [])),
    "org": ("Require cis2-org RH8 RA7",
            lambda sel, roles, u: sel and sel["org_code"] in ("RH8", "RA7")),
    "org-any-role": ("CIS2AuthzRoles any\n    Require cis2-org RA7",
                     lambda sel, roles, u: any(r["org_code"] == "RA7" for r in roles)),
    "aal3": ("Require cis2-aal 3", lambda sel, roles, u: int(u.aal) >= 3),
    "claim-regex": ("Require cis2-claim gmc_id ~^70[0-9]{5}$",
                    lambda sel, roles, u: str(u.raw.get("professional", {}).get("gmc_id", "")).startswith("70")),
    "claim-exact": ("Require cis2-claim nmc_id 12A3456B",
                    lambda sel, roles, u: u.raw.get("professional", {}).get("nmc_id") == "12A3456B"),
    "all": ("<RequireAll>\n      Require cis2-org RH8\n      Require cis2-activity B0062\n    </RequireAll>",
            lambda sel, roles, u: sel and sel["org_code"] == "RH8" and "B0062" in sel.get("activity_codes", [])),
    "any": ("<RequireAny>\n      Require cis2-role S8000:G8000:R8001\n      Require cis2-org RA7\n    </RequireAny>",
            lambda sel, roles, u: sel and (sel["role_code"] == "S8000:G8000:R8001" or sel["org_code"] == "RA7")),
    "none": ("<RequireAll>\n      Require valid-user\n      <RequireNone>\n        Require cis2-org L85003\n      </RequireNone>\n    </RequireAll>",
             lambda sel, roles, u: not (sel and sel["org_code"] == "L85003")),
}


def rules_extra():
    out = []
    for name, (conf, _) in RULES.items():
        out.append(f"<Location /app/app.cgi/{name}>\n    {conf}\n</Location>")
    return "\n".join(out)


@pytest.fixture(scope="module")
def rbac(module_httpd_factory):
    return module_httpd_factory(name="rbac", directives=[SCOPE, "CIS2RequiredAAL 2",
                                                         "CIS2ACRValues AAL2_OR_AAL3_ANY"],
                                extra=rules_extra())


CASES = [
    ("nurse", None),
    ("doctor", "555260200201"),     # Clinical Practitioner at RH8
    ("doctor", "555260200202"),     # Systems support at RH8 (B0062)
    ("doctor", "555260200203"),     # Health Professional at RA7
    ("doctor", "555260200204"),     # GP practice L85003
    ("noroles", None),
    ("aal2", None),
    ("manyroles", "555300200003"),
]


@pytest.mark.parametrize("user,role", CASES,
                         ids=[f"{u}-{r or 'default'}" for u, r in CASES])
def test_require_rules(rbac, user, role):
    """Every rule allows exactly the users documented (docs/directives.md,
    Require cis2-*), users with no roles and with 45 roles included."""
    u = SIM_USERS[user]
    s = T.new_session()
    env = T.app_env(T.login(s, rbac.url("/app/app.cgi"), u.login,
                            form_extra={"role": role} if role else None))
    roles = u.roles
    sel_id = role or (roles[0]["person_roleid"] if roles else None)
    sel = next((r for r in roles if r["person_roleid"] == sel_id), None)
    assert env.get("CIS2_ROLE_ID") == (sel_id if sel else None)
    rbac.expect_log(r"AH01631")           # httpd's own line for each denial
    for name, (conf, allowed) in RULES.items():
        want = 200 if allowed(sel, roles, u) else 403
        r = s.get(rbac.url(f"/app/app.cgi/{name}"), allow_redirects=False,
                  timeout=20)
        assert r.status_code == want, (name, user, role, r.status_code, r.text[:300])
        if want == 403:
            assert "Access not allowed" in r.text
            if name != "none":   # a RequireNone refusal has no unmet rule
                assert "cis2-" in r.text             # names the rule
            assert T.PROTECTED_MARKER not in r.text
            assert r.headers.get("Cache-Control") == "no-store"
            assert not re.search(r"eyJ[\w-]+\.eyJ", r.text)
            assert u.sub not in r.text               # no claim values
        else:
            assert T.app_env(r)["REMOTE_USER"] == u.sub


def test_denial_page_names_the_rule_only(rbac):
    u = SIM_USERS["nurse"]
    s = T.new_session()
    T.app_env(T.login(s, rbac.url("/app/app.cgi"), u.login))
    rbac.expect_log(r"AH01631")
    start = rbac.log_size()
    r = s.get(rbac.url("/app/app.cgi/org"), allow_redirects=False, timeout=20)
    assert r.status_code == 403
    assert "cis2-org RH8 RA7" in r.text
    assert "RBA" not in r.text                       # the user's own org: not shown
    assert "/cis2/change-role" in r.text
    assert rbac.wait_log(r"CIS2-00502: user 555012345678 does not meet "
                         r"'Require cis2-org RH8 RA7'", start)


@pytest.mark.parametrize("line,number", [
    ("Require cis2-aal 4", "CIS2-00154"),
    ("Require cis2-claim gmc_id", "CIS2-00155"),
    ("Require cis2-claim gmc_id ~(unclosed", "CIS2-00156"),
    ("Require cis2-role", "CIS2-00157"),
])
def test_require_lines_checked_at_config_time(httpd_factory, line, number):
    h = httpd_factory(extra=f"<Location /app/x>\n    {line}\n</Location>",
                      start=False)
    p = h.configtest()
    assert p.returncode != 0, p.stdout + p.stderr
    assert number in p.stdout + p.stderr


# ---------------------------------------------------------------- step-up

@pytest.fixture(scope="module")
def aal2site(module_httpd_factory):
    return module_httpd_factory(
        name="aal2site",
        directives=["CIS2RequiredAAL 2", "CIS2ACRValues AAL2_OR_AAL3_ANY"],
        extra="<Location /app/app.cgi/aal3>\n    CIS2RequiredAAL 3\n</Location>")


def test_step_up_refused_for_aal2_user(aal2site, sim):
    """An AAL2 user of an AAL2 site who opens an AAL3 location is sent back
    to CIS2 with acr_values=AAL3_ANY; coming back at AAL2 they get the 403
    step-up page, no new session, and keep their AAL2 session."""
    u = SIM_USERS["aal2"]
    s = T.new_session()
    env = T.app_env(T.login(s, aal2site.url("/app/app.cgi"), u.login))
    assert env["CIS2_AAL"] == "2"
    cookie_before = rp_cookie(s)
    r = s.get(aal2site.url("/app/app.cgi/aal3"), allow_redirects=False, timeout=20)
    q = auth_params(r)
    assert q["acr_values"] == "AAL3_ANY" and q["prompt"] == "login"
    trace = T.LoginTrace()
    T.pick_user_at_op(s, urllib.parse.urljoin(r.url, r.headers["Location"]),
                      u.login, trace)
    start = aal2site.log_size()
    r = s.get(trace.callback_url, allow_redirects=False, timeout=20)
    T.assert_error_page(aal2site, r, 403, start)
    assert "AAL3" in r.text and "smartcard" in r.text
    assert not cookies_set(r)
    # the AAL2 session still works where AAL2 is enough, not at the AAL3 page
    assert rp_cookie(s) == \
        cookie_before
    assert T.app_env(s.get(aal2site.url("/app/app.cgi"), timeout=20))["CIS2_AAL"] == "2"
    assert s.get(aal2site.url("/app/app.cgi/aal3"), allow_redirects=False,
                 timeout=20).status_code == 302


def test_step_up_fresh_browser_aal2_refused_no_session(aal2site):
    u = SIM_USERS["aal2"]
    s = T.new_session()
    r = T.start_login(s, aal2site.url("/app/app.cgi/aal3"))
    assert auth_params(r)["acr_values"] == "AAL3_ANY"
    start = aal2site.log_size()
    r = T.login(T.new_session(), aal2site.url("/app/app.cgi/aal3"), u.login,
                follow_final=False)
    T.assert_error_page(aal2site, r, 403, start)
    assert not cookies_set(r)


def test_step_up_succeeds_with_aal3(aal2site, sim):
    """The same user stepping up with an AAL3 authenticator gets in; the new
    session replaces the AAL2 one (new id)."""
    u = SIM_USERS["aal2"]
    s = T.new_session()
    T.app_env(T.login(s, aal2site.url("/app/app.cgi"), u.login))
    old = rp_cookie(s)
    assert old
    sim_post(sim, "next-login", {"aal": "3", "amr": ["N3_SMARTCARD"]})
    env = T.app_env(T.login(s, aal2site.url("/app/app.cgi/aal3"), u.login))
    assert env["CIS2_AAL"] == "3"
    new = rp_cookie(s)
    assert new and new != old


def test_step_up_not_offered_to_scripts(aal2site):
    u = SIM_USERS["aal2"]
    s = T.new_session()
    T.app_env(T.login(s, aal2site.url("/app/app.cgi"), u.login))
    r = s.get(aal2site.url("/app/app.cgi/aal3"), allow_redirects=False,
              headers={"Accept": "application/json", "Sec-Fetch-Mode": "cors",
                       "Sec-Fetch-Dest": "empty"}, timeout=20)
    assert r.status_code == 403
    assert r.json()["error"] == "insufficient_aal"


# ---------------------------------------------------------------- freshness, IAL

def test_stale_auth_time_refused(httpd, sim):
    """NHS CIA Ses Req 003: CIS2 reports a sign-in 15 minutes old (a user who
    stripped prompt=login would get that): refused, no session."""
    sim_post(sim, "next-login", {"auth_time_offset": -900})
    start = httpd.log_size()
    r = T.login(T.new_session(), httpd.url("/app/app.cgi"), "nurse",
                follow_final=False)
    T.assert_error_page(httpd, r, 403, start)
    assert "fresh" in r.text
    assert not cookies_set(r)
    assert "auth_time" in httpd.read_log(start)


def test_auth_time_within_window_accepted(httpd, sim):
    sim_post(sim, "next-login", {"auth_time_offset": -200})
    env = T.app_env(T.login(T.new_session(), httpd.url("/app/app.cgi"), "nurse"))
    assert time.time() - int(env["CIS2_AUTH_TIME"]) >= 195


@pytest.mark.parametrize("ial", ["2", 2], ids=["string", "integer"])
def test_ial_below_requirement_refused(httpd, sim, ial):
    """NHS CIA SC Req 002: id_assurance_level below 3 (string or integer):
    refused, no session."""
    sim_post(sim, "next-login", {"ial": ial})
    start = httpd.log_size()
    r = T.login(T.new_session(), httpd.url("/app/app.cgi"), "nurse",
                follow_final=False)
    T.assert_error_page(httpd, r, 403, start)
    assert not cookies_set(r)


def test_ial_from_userinfo_spelling(httpd_factory, sim):
    """No id_assurance_level in the ID token: the UserInfo spelling
    idassurancelevel (nhsperson scope) decides."""
    h = httpd_factory(directives=['CIS2Scope "openid profile nhsperson"'])
    sim_post(sim, "next-login", {"ial": "2"})
    sim_post(sim, "next-token", {"id_token": {"id_assurance_level": None}})
    start = h.log_size()
    r = T.login(T.new_session(), h.url("/app/app.cgi"), "nurse", follow_final=False)
    T.assert_error_page(h, r, 403, start)
    assert "identity assurance level 2" in h.read_log(start)
    sim_post(sim, "next-token", {"id_token": {"id_assurance_level": None}})
    env = T.app_env(T.login(T.new_session(), h.url("/app/app.cgi"), "nurse"))
    assert env["CIS2_IAL"] == "3"


def test_aal_integer_claim_accepted(httpd, sim):
    sim_post(sim, "next-login", {"aal": 3, "ial": 3})
    env = T.app_env(T.login(T.new_session(), httpd.url("/app/app.cgi"), "nurse"))
    assert env["CIS2_AAL"] == "3" and env["CIS2_IAL"] == "3"


def test_max_age_instead_of_prompt(httpd_factory):
    """NHS CIA Ses Req 002 either way: prompt off + max_age 300."""
    h = httpd_factory(directives=["CIS2Prompt off", "CIS2MaxAge 300"])
    q = auth_params(T.start_login(T.new_session(), h.url("/app/app.cgi")))
    assert "prompt" not in q and q["max_age"] == "300"
    env = T.app_env(T.login(T.new_session(), h.url("/app/app.cgi"), "nurse"))
    assert env["REMOTE_USER"] == SIM_USERS["nurse"].sub


# ---------------------------------------------------------------- change role

@pytest.fixture(scope="module")
def roles_site(module_httpd_factory):
    return module_httpd_factory(name="roles", directives=[SCOPE])


def test_change_role(roles_site, sim):
    u = SIM_USERS["doctor"]
    s = T.new_session()
    env = T.app_env(T.login(s, roles_site.url("/app/app.cgi"), u.login,
                            form_extra={"role": "555260200201"}))
    assert env["CIS2_ROLE_ID"] == "555260200201"
    old = rp_cookie(s)
    r = s.get(roles_site.url("/cis2/change-role?return=/app/app.cgi"),
              allow_redirects=False, timeout=20)
    q = auth_params(r)
    assert q["prompt"] == "login"
    scopes = q["scope"].split()
    assert "changedrole" in scopes and "selectedrole" not in scopes
    trace = T.LoginTrace()
    T.pick_user_at_op(s, urllib.parse.urljoin(r.url, r.headers["Location"]),
                      u.login, trace, form_extra={"role": "555260200203"})
    r = s.get(trace.callback_url, allow_redirects=False, timeout=20)
    assert r.status_code == 302
    assert r.headers["Location"].endswith("/app/app.cgi")
    env = T.app_env(s.get(roles_site.url("/app/app.cgi"), timeout=20))
    assert env["CIS2_ROLE_ID"] == "555260200203"
    assert env["CIS2_ORG_CODE"] == "RA7"
    assert env["REMOTE_USER"] == u.sub
    new = rp_cookie(s)
    assert new != old                      # a new session id
    # the old session id is gone
    stale = T.new_session()
    stale.cookies.set("cis2_session", old[0])
    assert stale.get(roles_site.url("/app/app.cgi"), allow_redirects=False,
                     timeout=20).status_code == 302


def test_change_role_needs_a_session(roles_site):
    r = T.new_session().get(roles_site.url("/cis2/change-role"),
                            allow_redirects=False, timeout=20)
    assert r.status_code == 401
    assert "not signed in" in r.text


def test_change_role_return_must_be_local(roles_site):
    s = T.new_session()
    T.app_env(T.login(s, roles_site.url("/app/app.cgi"), "nurse"))
    r = s.get(roles_site.url("/cis2/change-role?return=https://evil.example/"),
              allow_redirects=False, timeout=20)
    assert r.status_code == 302
    trace = T.LoginTrace()
    T.pick_user_at_op(s, urllib.parse.urljoin(r.url, r.headers["Location"]),
                      "nurse", trace)
    r = s.get(trace.callback_url, allow_redirects=False, timeout=20)
    assert r.status_code == 302
    assert "evil" not in r.headers["Location"]


# ---------------------------------------------------------------- environments

REALM = "/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare"
ENVIRONMENTS = {
    "integration": "am.nhsint.auth-ptl.cis2.spineservices.nhs.uk",
    "deployment": "am.nhsdep.auth-ptl.cis2.spineservices.nhs.uk",
    "live": "am.nhsidentity.spineservices.nhs.uk",
}


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_environment_issuer_is_exact(httpd_factory, sim, env):
    """CIS2Environment sets the issuer byte for byte (":443" included, as
    CIS2.md §1): with the simulator's document in its place the module
    refuses it, quoting the exact expected issuer; CIS2Issuer overrides."""
    host = ENVIRONMENTS[env]
    h = httpd_factory(directives=[f"CIS2Environment {env}"])
    h.expect_log(r"CIS2-00204", r"CIS2-00003")
    start = h.log_size()
    r = T.start_login(T.new_session(), h.url("/app/app.cgi"))
    assert r.status_code == 502
    assert h.wait_log(re.escape(f"does not match 'https://{host}:443{REALM}'"),
                      start)
    h2 = httpd_factory(directives=[f"CIS2Environment {env}",
                                   f"CIS2Issuer {sim.issuer}"])
    env_ = T.app_env(T.login(T.new_session(), h2.url("/app/app.cgi"), "nurse"))
    assert env_["REMOTE_USER"] == SIM_USERS["nurse"].sub


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_environment_discovery_url(httpd_factory, env):
    """Without CIS2ProviderMetadataURL the module fetches the environment's
    discovery document (CIS2.md §1: no ":443" needed there)."""
    host = ENVIRONMENTS[env]
    h = httpd_factory(directives=["-CIS2ProviderMetadataURL",
                                  f"CIS2Environment {env}",
                                  "CIS2HTTPTimeout 1 2"])
    h.expect_log(r"CIS2-00204", r"CIS2-00003")
    start = h.log_size()
    T.start_login(T.new_session(), h.url("/app/app.cgi"))
    assert h.wait_log(re.escape(f"fetching provider metadata from https://{host}"
                                f"{REALM}/.well-known/openid-configuration"), start)


# ---------------------------------------------------------------- the conformance guide

def test_conformance_doc_names_real_tests():
    """Every integration test docs/cis2-conformance.md cites exists, so each
    requirement row is backed by a test that runs."""
    import pathlib
    here = pathlib.Path(__file__).resolve().parent
    doc = (here.parents[1] / "docs" / "cis2-conformance.md").read_text()
    refs = re.findall(r"`(test_\w+\.py)::(test_\w+)`", doc)
    assert len(refs) >= 30, refs
    for f, name in refs:
        text = (here / f).read_text()
        assert re.search(rf"^def {name}\(", text, re.M), f"{f}::{name} does not exist"
    for name in re.findall(r"t/unit/test_http\.c: ([\w, ]+)`", doc)[0].split(", "):
        assert f"START_TEST({name})" in (here.parents[0] / "unit" / "test_http.c").read_text()


def test_acr_default_follows_required_aal(httpd_factory):
    """CIS2.md §8: AAL3_ANY by default; an AAL2 site asks AAL2_OR_AAL3_ANY
    without having to say so; an explicit CIS2ACRValues wins."""
    h = httpd_factory(directives=["CIS2RequiredAAL AAL2"])   # CIS2's spelling
    q = auth_params(T.start_login(T.new_session(), h.url("/app/app.cgi")))
    assert q["acr_values"] == "AAL2_OR_AAL3_ANY"
    h = httpd_factory(directives=["CIS2RequiredAAL 2", "CIS2ACRValues AAL2_ANY"])
    q = auth_params(T.start_login(T.new_session(), h.url("/app/app.cgi")))
    assert q["acr_values"] == "AAL2_ANY"


# ---------------------------------------------------------------- 60 roles

@pytest.fixture(scope="module")
def bigroles(tmp_path_factory):
    """A private simulator whose extra user holds 60 roles with 20 activity
    codes each (~50 KB of role claims), next to the stock users."""
    import os
    d = tmp_path_factory.mktemp("bigroles")
    os.chmod(str(d), 0o755)
    users = T.load_users()
    roles = []
    for i in range(60):
        roles.append({
            "person_orgid": f"5559{i:08d}", "person_roleid": f"5558{i:08d}",
            "org_code": f"R{i:02d}",
            "role_name": '"Clinical":"Clinical Provision":"Role %d"' % i,
            "role_code": f"S8000:G8000:R80{i:02d}",
            "activities": [f"Activity {i}-{j}" for j in range(20)],
            "activity_codes": [f"B{i:02d}{j:02d}" for j in range(20)],
            "workgroups": ["Team"], "workgroups_codes": [f"5556{i:08d}"],
            "aow": ['"A":"B":"C"'], "aow_codes": ["P0010:Q0050:T0210"]})
    users.append({"id": "bigroles", "uid": "555099999999", "title": "Dr",
                  "given_name": "Big", "family_name": "Roles",
                  "name": "ROLES Big Dr", "email": "big.roles@nhs.net",
                  "aal": "3", "ial": "3", "amr": ["N3_SMARTCARD"],
                  "orgs": [{"org_code": f"R{i:02d}", "org_name": f"TRUST {i}",
                            "person_orgid": f"5559{i:08d}"} for i in range(60)],
                  "roles": roles})
    upath = d / "users.json"
    upath.write_text(json.dumps(users))
    port = T.free_port()
    secret = "s3cret-bigroles-0123456789abcdef"
    cpath = d / "clients.json"
    cpath.write_text(json.dumps([{
        "client_id": "bigroles.apps.national", "client_secret": secret,
        "redirect_uris": [T.redirect_uri(port)],
        "token_endpoint_auth_method": "client_secret_post"}]))
    sim = T.Sim(T.free_port(), str(cpath), str(upath)).start()
    prov = {"metadata_url": sim.discovery_url,
            "client_id": "bigroles.apps.national", "client_secret": secret}
    h = T.Httpd("bigroles", port, prov, directives=[SCOPE], extra="""
<Location /app/app.cgi/r59>
    CIS2AuthzRoles any
    Require cis2-role S8000:G8000:R8059
</Location>
<Location /app/app.cgi/act>
    Require cis2-activity B5519
</Location>""").start()
    yield h, roles
    h.stop()
    sim.stop()


def test_sixty_roles(bigroles):
    h, roles = bigroles
    s = T.new_session()
    env = T.app_env(T.login(s, h.url("/app/app.cgi"), "bigroles",
                            form_extra={"role": roles[55]["person_roleid"]}))
    assert len(env["CIS2_ROLES"].split(",")) == 60
    assert len(env["CIS2_ROLES_JSON"]) > 40000
    assert env["CIS2_ROLE_ID"] == roles[55]["person_roleid"]
    assert env["CIS2_ACTIVITY_CODES"].split(",") == roles[55]["activity_codes"]
    assert env["CIS2_ORG_NAME"] == "TRUST 55"
    assert T.app_env(s.get(h.url("/app/app.cgi/r59"), timeout=20))["REMOTE_USER"]
    assert T.app_env(s.get(h.url("/app/app.cgi/act"), timeout=20))["REMOTE_USER"]
    # change to role 0: the activity rule (role 55's B5519) now refuses
    r = s.get(h.url("/cis2/change-role?return=/app/app.cgi"),
              allow_redirects=False, timeout=20)
    trace = T.LoginTrace()
    T.pick_user_at_op(s, urllib.parse.urljoin(r.url, r.headers["Location"]),
                      "bigroles", trace, form_extra={"role": roles[0]["person_roleid"]})
    assert s.get(trace.callback_url, allow_redirects=False, timeout=20).status_code == 302
    assert T.app_env(s.get(h.url("/app/app.cgi"), timeout=20))["CIS2_ROLE_ID"] == \
        roles[0]["person_roleid"]
    h.expect_log(r"AH01631")
    assert s.get(h.url("/app/app.cgi/act"), allow_redirects=False,
                 timeout=20).status_code == 403
