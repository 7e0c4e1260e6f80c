"""End-to-end logins at the CIS2 simulator and what the app (a CGI) sees."""

import json
import re
import time
import urllib.parse

import pytest

import cis2test as T


@pytest.fixture(scope="module")
def all_users(sim):
    us = T.sim_users()
    assert us, "t/cis2-sim/users.json has no users"
    return us


def pick(all_users, kind):
    aal3 = [u for u in all_users if u.aal in (3, None)]
    if kind == "single-role":
        c = [u for u in aal3 if len(u.roles) == 1]
    elif kind == "multi-role":
        c = [u for u in aal3 if 2 <= len(u.roles) < 40]
    elif kind == "no-roles":
        c = [u for u in aal3 if not u.roles]
    elif kind == "many-roles":
        c = [u for u in aal3 if len(u.roles) >= 40]
    elif kind == "aal2":
        c = [u for u in all_users if u.aal == 2]
    else:
        raise ValueError(kind)
    assert c, f"the simulator has no {kind} user (contract: users.json): {all_users}"
    return c[0]


def role_ids(u):
    return [str(r.get("person_roleid")) for r in u.roles]


def org_codes(u):
    codes = {r.get("org_code") for r in u.roles}
    codes |= {o.get("org_code") for o in u.orgs}
    codes.discard(None)
    return codes


def split(v):
    return [x for x in (v or "").split(",") if x]


def check_env(env, u, t_start):
    assert re.fullmatch(r"\d{12}", env["REMOTE_USER"]), env["REMOTE_USER"]
    assert env["REMOTE_USER"] == u.sub
    assert env.get("AUTH_TYPE", "").lower() == "cis2"
    assert env["CIS2_UID"] == u.sub
    for var, claim in (("CIS2_NAME", "name"), ("CIS2_GIVEN_NAME", "given_name"),
                       ("CIS2_FAMILY_NAME", "family_name"), ("CIS2_EMAIL", "email")):
        want = u.claim(claim)
        assert want, f"simulator user {u} lacks {claim}"
        assert env.get(var) == want, (var, env.get(var), want)
    assert env["CIS2_AAL"] == "3"
    assert env["CIS2_IAL"] == str(u.ial or 3)
    acr = u.claim("acr")
    if acr:
        assert env["CIS2_ACR"] == acr
    assert env["CIS2_ACR"].startswith("AAL3"), env["CIS2_ACR"]
    amr = u.claim("amr")
    assert env["CIS2_AMR"], "CIS2_AMR empty"
    if isinstance(amr, list):
        assert split(env["CIS2_AMR"]) == amr
    auth_time = int(env["CIS2_AUTH_TIME"])
    assert t_start - 5 <= auth_time <= time.time() + 5, (auth_time, t_start)
    # roles and orgs
    assert sorted(split(env.get("CIS2_ROLES"))) == sorted(role_ids(u))
    orgs = split(env.get("CIS2_ORGS"))
    assert len(orgs) == len(set(orgs)), f"duplicate org codes: {orgs}"
    known = org_codes(u)
    assert set(orgs) <= known, (orgs, known)
    assert {r.get("org_code") for r in u.roles} <= set(orgs)
    roles_json = json.loads(env["CIS2_ROLES_JSON"])
    assert isinstance(roles_json, list)
    assert sorted(str(r["person_roleid"]) for r in roles_json) == sorted(role_ids(u))
    claims = json.loads(env["CIS2_CLAIMS_JSON"])
    assert isinstance(claims, dict) and claims.get("sub") == u.sub
    # no CIS2_ variable may hold a token
    for k, v in env.items():
        assert not re.search(r"eyJ[\w-]+\.eyJ[\w-]+\.", v or ""), f"{k} holds a JWT"


# ---------------------------------------------------------------- authorize

def test_authorize_request(httpd, sim, session):
    r = T.start_login(session, httpd.url("/app/app.cgi"))
    assert r.status_code == 302, r.text[:300]
    loc = r.headers["Location"]
    assert loc.startswith(sim.issuer + "/authorize?"), loc
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query, keep_blank_values=True)
    assert all(len(v) == 1 for v in q.values()), f"a parameter twice: {q}"
    q = {k: v[0] for k, v in q.items()}
    assert q["response_type"] == "code"
    assert q["client_id"] == T.DEFAULT_CLIENT
    assert q["redirect_uri"] == httpd.redirect_uri
    assert q["scope"].split() == "openid profile email nationalrbacaccess associatedorgs".split()
    assert q["prompt"] == "login"
    assert q["acr_values"] == "AAL3_ANY"
    assert "max_age" not in q
    assert q["code_challenge_method"] == "S256"
    for k in ("state", "nonce", "code_challenge"):
        assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", q[k]), (k, q[k])
    assert len({q["state"], q["nonce"], q["code_challenge"]}) == 3
    assert "client_secret" not in loc and T.CLIENT_SECRETS[T.DEFAULT_CLIENT] not in loc
    assert T.PROTECTED_MARKER not in r.text
    # a second attempt gets fresh values
    r2 = T.start_login(T.new_session(), httpd.url("/app/app.cgi"))
    q2 = {k: v[0] for k, v in urllib.parse.parse_qs(
        urllib.parse.urlsplit(r2.headers["Location"]).query).items()}
    for k in ("state", "nonce", "code_challenge"):
        assert q2[k] != q[k], f"{k} reused across logins"


def test_authorize_request_honours_directives(httpd_factory, sim, session):
    h = httpd_factory(directives=["CIS2ACRValues AAL2_OR_AAL3_ANY",
                                  "CIS2MaxAge 300", 'CIS2Scope "openid profile"',
                                  "CIS2RequiredAAL 2"])
    r = T.start_login(session, h.url("/app/app.cgi"))
    q = {k: v[0] for k, v in urllib.parse.parse_qs(
        urllib.parse.urlsplit(r.headers["Location"]).query).items()}
    assert q["acr_values"] == "AAL2_OR_AAL3_ANY"
    assert q["max_age"] == "300"
    assert q["scope"] == "openid profile"


# ---------------------------------------------------------------- users

@pytest.mark.parametrize("kind", ["single-role", "multi-role", "no-roles", "many-roles"])
def test_login_user(kind, httpd, all_users, session):
    u = pick(all_users, kind)
    t_start = time.time()
    trace = T.LoginTrace()
    r = T.login(session, httpd.url("/app/app.cgi"), u.login, trace)
    env = T.app_env(r)
    check_env(env, u, t_start)
    if kind == "no-roles":
        assert json.loads(env["CIS2_ROLES_JSON"]) == []
        assert env.get("CIS2_ROLES", "") == ""
    if kind == "many-roles":
        assert len(split(env["CIS2_ROLES"])) >= 40
        assert len(env["CIS2_CLAIMS_JSON"]) > 8000


def test_every_aal3_user_can_log_in(httpd, all_users):
    for u in all_users:
        if u.aal not in (3, None):
            continue
        s = T.new_session()
        env = T.app_env(T.login(s, httpd.url("/app/app.cgi"), u.login))
        assert env["REMOTE_USER"] == u.sub, u


def test_aal2_user_refused_by_default(httpd, all_users, session):
    """CIS2RequiredAAL defaults to 3: an AAL2 user gets the 403 page."""
    u = pick(all_users, "aal2")
    start = httpd.log_size()
    r = T.login(session, httpd.url("/app/app.cgi"), u.login, follow_final=False)
    T.assert_error_page(httpd, r, 403, start)
    assert not T.session_cookie_values(r)
    r = session.get(httpd.url("/app/app.cgi"), allow_redirects=False)
    assert r.status_code == 302


def test_aal2_user_accepted_when_configured(httpd_factory, all_users, session):
    u = pick(all_users, "aal2")
    h = httpd_factory(directives=["CIS2RequiredAAL 2",
                                  "CIS2ACRValues AAL2_OR_AAL3_ANY"])
    env = T.app_env(T.login(session, h.url("/app/app.cgi"), u.login))
    assert env["REMOTE_USER"] == u.sub
    assert env["CIS2_AAL"] == "2"


# ---------------------------------------------------------------- clients

@pytest.mark.parametrize("client_id,auth", [
    ("123456789012.apps.national", None),
    ("123456789012.apps.national", "client_secret_post"),
    ("secretbasic.apps.national", "client_secret_basic"),
    ("rs512.apps.national", None),
], ids=["post-default", "post-explicit", "basic", "rs512"])
def test_client_auth_methods(client_id, auth, httpd_factory, all_users, session):
    u = pick(all_users, "single-role")
    h = httpd_factory(client_id=client_id, auth=auth)
    env = T.app_env(T.login(session, h.url("/app/app.cgi"), u.login))
    assert env["REMOTE_USER"] == u.sub


def test_rs512_client_refused_when_only_rs256_allowed(httpd_factory, all_users, session):
    u = pick(all_users, "single-role")
    h = httpd_factory(client_id="rs512.apps.national",
                      directives=["CIS2IDTokenAlgs RS256"])
    h.expect_log(r"CIS2-\d{5}|\[cis2:(?:error|warn)\]")
    start = h.log_size()
    r = T.login(session, h.url("/app/app.cgi"), u.login, follow_final=False)
    T.assert_error_page(h, r, 401, start)


# ---------------------------------------------------------------- role selection

def test_selected_role_variables(httpd_factory, all_users, session):
    """With the `selectedrole` scope CIS2 returns selected_roleid; the
    module maps it to the role object (CIS2_ROLE_*, CIS2_ORG_*, codes)."""
    u = pick(all_users, "multi-role")
    role = u.roles[-1]          # not the first: the choice must be honoured
    h = httpd_factory(directives=[
        'CIS2Scope "openid profile email nationalrbacaccess associatedorgs selectedrole"'])
    env = T.app_env(T.login(session, h.url("/app/app.cgi"), u.login,
                            form_extra={"role": role["person_roleid"]}))
    assert env["CIS2_ROLE_ID"] == role["person_roleid"]
    assert env["CIS2_ROLE_CODE"] == role["role_code"]
    assert env["CIS2_ROLE_NAME"] == role["role_name"]
    assert env["CIS2_ORG_CODE"] == role["org_code"]
    org_name = next((o["org_name"] for o in u.orgs if o["org_code"] == role["org_code"]), None)
    if org_name:
        assert env["CIS2_ORG_NAME"] == org_name
    assert split(env.get("CIS2_ACTIVITY_CODES")) == role.get("activity_codes", [])
    assert split(env.get("CIS2_WORKGROUP_CODES")) == role.get("workgroups_codes", [])
    assert split(env.get("CIS2_AOW_CODES")) == role.get("aow_codes", [])
    # all roles are still listed
    assert sorted(split(env["CIS2_ROLES"])) == sorted(role_ids(u))


def test_no_selected_role_without_scope(httpd, all_users, session):
    u = pick(all_users, "multi-role")
    env = T.app_env(T.login(session, httpd.url("/app/app.cgi"), u.login))
    assert "CIS2_ROLE_ID" not in env


# ---------------------------------------------------------------- directives

def test_remote_user_claim(httpd_factory, all_users, session):
    u = pick(all_users, "single-role")
    h = httpd_factory(directives=["CIS2RemoteUserClaim email"])
    env = T.app_env(T.login(session, h.url("/app/app.cgi"), u.login))
    assert env["REMOTE_USER"] == u.claim("email")
    assert env["CIS2_UID"] == u.sub


def test_cookie_name_and_path(httpd_factory, all_users, session):
    u = pick(all_users, "single-role")
    h = httpd_factory(directives=["CIS2CookieName my_cis2_sess", "CIS2CookiePath /app"])
    trace = T.LoginTrace()
    env = T.app_env(T.login(session, h.url("/app/app.cgi"), u.login, trace))
    assert env["REMOTE_USER"] == u.sub
    sets = T.set_cookie_headers(trace.callback_response)
    mine = [x for x in sets if x.startswith("my_cis2_sess=")]
    assert len(mine) == 1, sets
    assert "Path=/app" in mine[0]
    assert not [x for x in sets if x.startswith("cis2_session=")]
