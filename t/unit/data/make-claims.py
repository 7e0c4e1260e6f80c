#!/usr/bin/python3
"""Write the claim fixtures of t/unit/test_payload.c from t/cis2-sim/users.json.

For each user: claims-<id>-idtoken.json (the ID token's payload),
claims-<id>-userinfo.json (the UserInfo response) and claims-<id>.jwt (an
ID token of realistic size: RS256 header, that payload, a 256-byte
signature), shaped as t/cis2-sim/sim.js shapes them (idTokenClaims,
userinfoClaims, node-oidc-provider's standard claims) for mod_cis2's
default scope plus `selectedrole` (CIS2_DEFAULT_SCOPE, mod_cis2_config.h),
with CIS2's production issuer (CIS2.md §2) and fixed times and ids, so the
files are stable. Run again after changing those users:
    t/unit/data/make-claims.py
"""
import base64
import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
USERS = os.path.join(HERE, "..", "..", "cis2-sim", "users.json")
ISSUER = ("https://am.nhsidentity.spineservices.nhs.uk:443/openam/oauth2/"
          "realms/root/realms/NHSIdentity/realms/Healthcare")
CLIENT = "123456789012.apps.national"
PROFESSIONAL_IDS = ["gmc_id", "gmp_id", "gdc_id", "gdp_id", "nmc_id",
                    "gphc_id", "rcn_id", "consultant_id"]
NOW = 1750525000


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def id_token_claims(u):
    c = {
        "at_hash": b64u(hashlib.sha256(b"at" + u["id"].encode()).digest()[:16]),
        "sub": u["uid"],
        "auditTrackingId": "6f0c2a1e-3b7d-4c59-9e2a-8d1f4b6c7a90-104857",
        "amr": u["amr"],
        "iss": ISSUER,
        "tokenName": "id_token",
        "sid": "f2b1c7e0-9c1e-4a5d-9b2e-2d7c3a1f0e11",
        "aud": CLIENT,
        "acr": "AAL3_ANY" if u["aal"] == "3" else "AAL2_ANY",
        "azp": CLIENT,
        "auth_time": NOW - 10,
        "realm": "/NHSIdentity/Healthcare",
        "exp": NOW + 3600,
        "tokenType": "JWTToken",
        "iat": NOW,
        "nonce": "n-0S6_WzA2Mj3k9Qx7vLp2RtYs8UcB1dFe4GhJk5",
        "id_assurance_level": u["ial"],
        "authentication_assurance_level": u["aal"],
        "subname": u["uid"],
    }
    if u.get("roles"):
        c["selected_roleid"] = u["roles"][0]["person_roleid"]
    return c


def userinfo_claims(u):
    c = {"sub": u["uid"]}
    for k in ("uid", "name", "given_name", "family_name", "email"):
        if u.get(k) is not None:
            c[k] = u[k]
    if u.get("orgs"):
        c["nhsid_user_orgs"] = [{"org_code": o["org_code"],
                                 "org_name": o["org_name"]} for o in u["orgs"]]
    if u.get("roles") is not None:
        c["nhsid_nrbac_roles"] = u["roles"]
    return c


def main():
    users = {u["id"]: u for u in json.load(open(USERS))}
    for uid in ("doctor", "fiveroles", "manyroles"):
        u = users[uid]
        idt, ui = id_token_claims(u), userinfo_claims(u)
        for name, obj in (("idtoken", idt), ("userinfo", ui)):
            with open(os.path.join(HERE, f"claims-{uid}-{name}.json"), "w") as f:
                json.dump(obj, f, indent=1, ensure_ascii=False)
                f.write("\n")
        head = {"typ": "JWT", "kid": "wU3ifIIaLOUAReRB/FG6eM1P1QM=", "alg": "RS256"}
        sig = b"".join(hashlib.sha256(bytes([i]) + uid.encode()).digest()
                       for i in range(8))
        jwt = ".".join((b64u(json.dumps(head, separators=(",", ":")).encode()),
                        b64u(json.dumps(idt, separators=(",", ":")).encode()),
                        b64u(sig)))
        with open(os.path.join(HERE, f"claims-{uid}.jwt"), "w") as f:
            f.write(jwt + "\n")


if __name__ == "__main__":
    main()
