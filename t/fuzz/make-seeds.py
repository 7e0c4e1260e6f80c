#!/usr/bin/python3
"""t/fuzz/make-seeds.py — write the seed corpora of the fuzz targets
(t/fuzz/corpus/<target>/seed-*). Seeds are small, realistic inputs (CIS2's
shapes: ":443" issuers, base64 kids with '/', '+' and '=', role arrays) plus
the known-hostile ones; the fuzzer mutates from there. Tokens are signed
with t/unit/data/key1.pem (python3-cryptography). Re-run after changing a
seed; regression inputs found by fuzzing live beside them as regress-*.
"""
import base64
import json
import os
import struct
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "unit", "data")
ISS = ("https://am.nhsint.auth-ptl.cis2.spineservices.nhs.uk:443/openam/"
       "oauth2/realms/root/realms/NHSIdentity/realms/Healthcare")
KID = "b/O6OvVv1+y+WgrH5Ui9WTioLt0="


def b64u(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


with open(os.path.join(DATA, "key1.pem"), "rb") as f:
    KEY = serialization.load_pem_private_key(f.read(), None)


def jws(header, payload, alg=None):
    h = b64u(json.dumps(header, separators=(",", ":")))
    p = b64u(payload if isinstance(payload, (bytes, str))
             else json.dumps(payload, separators=(",", ":")))
    alg = alg or header.get("alg")
    if alg in ("RS256", "RS512"):
        hh = hashes.SHA256() if alg == "RS256" else hashes.SHA512()
        sig = KEY.sign(f"{h}.{p}".encode(), padding.PKCS1v15(), hh)
    else:
        sig = b""
    return f"{h}.{p}.{b64u(sig)}"


ROLES = [{"person_roleid": "555021935107", "org_code": "RR8",
          "role_name": "\"Clinical\":\"Clinical Provision\":\"Nurse\"",
          "role_code": "S8000:G8000:R8001",
          "activity_codes": ["B0211", "B0264"],
          "workgroups": ["567062976105"], "workgroups_codes": ["567062976105"],
          "aow": ["Hospital"]}]
ID_CLAIMS = {"iss": ISS, "sub": "555012345678", "aud": "fuzz-client",
             "azp": "fuzz-client", "exp": 1700000300, "iat": 1700000000,
             "auth_time": 1700000000, "nonce": "n-0S6_WzA2Mj",
             "acr": "AAL3_ANY", "amr": ["SC"], "sid": "f1c4c5d3-sid",
             "authentication_assurance_level": "3",
             "id_assurance_level": 3}
USERINFO = {"sub": "555012345678", "name": "Test User", "given_name": "Test",
            "family_name": "User", "email": "test@nhs.net",
            "selected_roleid": "555021935107", "nhsid_nrbac_roles": ROLES,
            "nhsid_user_orgs": [{"org_code": "RR8", "org_name": "LEEDS"}],
            "idassurancelevel": "3", "uid": "555012345678"}
ID_TOKEN = jws({"alg": "RS256", "kid": KID, "typ": "JWT"}, ID_CLAIMS)

seeds = {}


def add(target, name, content):
    if isinstance(content, str):
        content = content.encode()
    seeds.setdefault(target, {})["seed-" + name] = content


# ---- jws ----
add("jws", "good", ID_TOKEN)
add("jws", "rs512", jws({"alg": "RS512", "kid": KID}, ID_CLAIMS))
add("jws", "none", jws({"alg": "none"}, ID_CLAIMS))
add("jws", "hs256", jws({"alg": "HS256", "kid": KID}, ID_CLAIMS, "x"))
add("jws", "crit", jws({"alg": "RS256", "crit": ["exp"], "exp": 1}, ID_CLAIMS))
add("jws", "array-payload", jws({"alg": "RS256"}, "[1,2]"))
add("jws", "ctl-claims", jws({"alg": "RS256", "kid": KID},
                             dict(ID_CLAIMS, sub="5550\r\n12", name="a\u0000b")))
add("jws", "big-exp", jws({"alg": "RS256"}, dict(ID_CLAIMS, exp=1e300)))
add("jws", "aud-array", jws({"alg": "RS256"},
                            dict(ID_CLAIMS, aud=["x", "fuzz-client"])))
add("jws", "two-parts", "eyJhbGciOiJSUzI1NiJ9.e30")
add("jws", "jwe", "a.b.c.d.e")
add("jws", "padding", ID_TOKEN.replace(".", "=.", 1))

# ---- jwks ----
for fn in sorted(os.listdir(DATA)):
    if fn.startswith("jwks") and fn.endswith(".json"):
        with open(os.path.join(DATA, fn), "rb") as f:
            add("jwks", fn[:-5], f.read())
add("jwks", "dup-kid", json.dumps({"keys": [
    {"kty": "RSA", "kid": "1", "n": "AQAB", "e": "AQAB"},
    {"kty": "RSA", "kid": "1", "n": "AQAB", "e": "AQAB"}]}))
add("jwks", "truncated", b'{"keys":[{"kty":"RSA","kid":"1","n":"ubfm')

# ---- discovery ----
DISC = {"issuer": ISS, "authorization_endpoint": ISS + "/authorize",
        "token_endpoint": ISS + "/access_token",
        "userinfo_endpoint": ISS + "/userinfo",
        "jwks_uri": ISS.replace("/realms/root/realms/NHSIdentity/realms/"
                                "Healthcare", "/connect/jwk_uri"),
        "end_session_endpoint": ISS + "/connect/endSession",
        "backchannel_logout_supported": True,
        "token_endpoint_auth_methods_supported": [
            "client_secret_post", "private_key_jwt", "client_secret_basic"],
        "id_token_signing_alg_values_supported": ["RS256", "RS512"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "scopes_supported": ["openid", "profile", "nationalrbacaccess"],
        "acr_values_supported": ["AAL3_ANY", "AAL2_OR_AAL3_ANY"]}
add("discovery", "cis2", json.dumps(DISC, indent=1))
add("discovery", "short", json.dumps({"issuer": "https://op.example:443/r",
    "authorization_endpoint": "https://op.example/a",
    "token_endpoint": "https://op.example/t",
    "jwks_uri": "https://op.example/k"}))
add("discovery", "ctl-endpoint", json.dumps(dict(DISC,
    token_endpoint="https://op.example/t\r\nX: y")))
add("discovery", "html", "<html><body>Service Unavailable</body></html>")
add("discovery", "deep", "{\"a\":" * 40 + "1" + "}" * 40)

# ---- token ----
TOK = {"access_token": "at-123", "id_token": ID_TOKEN, "token_type": "Bearer",
       "expires_in": 3599, "scope": "openid profile"}
add("token", "good", b"\x00" + json.dumps(TOK).encode())
add("token", "invalid-grant", b"\x01" + json.dumps(
    {"error": "invalid_grant", "error_description": "bad code"}).encode())
add("token", "invalid-client", b"\x02" + b'{"error":"invalid_client"}')
add("token", "html-500", b"\x03<html>Internal Server Error</html>")
add("token", "ctl-error", b"\x01" + json.dumps(
    {"error": "bad\r\nInjected: 1"}).encode())
add("token", "no-id-token", b"\x00" + json.dumps(
    {"access_token": "a", "token_type": "bearer"}).encode())
add("token", "mac", b"\x00" + json.dumps(dict(TOK, token_type="MAC")).encode())

# ---- userinfo ----
add("userinfo", "cis2", json.dumps(USERINFO))
add("userinfo", "jwt", jws({"alg": "RS256", "kid": KID},
                           dict(USERINFO, iss=ISS)))
add("userinfo", "ctl", json.dumps(dict(USERINFO, name="Eve\r\nX-Evil: 1",
                                       given_name="a\u0000b",
                                       family_name="x" * 2000)))
add("userinfo", "other-sub", json.dumps({"sub": "999"}))
add("userinfo", "odd-claims", json.dumps({"sub": "555012345678",
    "a-b.c": 1, "": "empty", "n": None, "t": True, "f": 1.5,
    "selected_roleid": 7, "nhsid_nrbac_roles": "x"}))

# ---- logout_form ----
LT = jws({"alg": "RS256", "kid": KID, "typ": "logout+jwt"},
         {"iss": ISS, "aud": "fuzz-client", "iat": 1700000000,
          "jti": "j1", "sid": "f1c4c5d3-sid",
          "events": {"http://schemas.openid.net/event/backchannel-logout": {}}})
add("logout_form", "good", "logout_token=" + LT)
add("logout_form", "dup", "logout_token=a&logout_token=b")
add("logout_form", "encoded", "logout%5Ftoken=" + LT.replace(".", "%2E")
    + "&x=%00&y=%zz&+=+")
add("logout_form", "amps", "&&&&=&=")

# ---- cookie ----
add("cookie", "normal", "cis2_session=Abc-123_xyz; cis2_login=qwerty")
add("cookie", "host", "__Host-cis2_session=\"q\"; other=1")
add("cookie", "dup", "cis2_session=a; cis2_session=b")
add("cookie", "no-eq", "cis2_session; =; ;;; cis2_login")
add("cookie", "bad-octets", "cis2_session=a b,c;cis2_login=\x7f")
add("cookie", "many", "; ".join(f"c{i}=v{i}" for i in range(120)))

# ---- callback ----
add("callback", "code", "code=abc.def-ghi&state=" + "s" * 43
    + "&iss=" + ISS)
add("callback", "error", "error=access_denied&error_description=User+cancelled"
    "&state=st")
add("callback", "dup", "code=a&code=b&state=s")
add("callback", "only-amp", "&")
add("callback", "enc", "code=%41%00&state=%2")

# ---- redirect ----
with open(os.path.join(HERE, "..", "redirect-corpus.txt"), encoding="utf-8",
          errors="surrogateescape") as f:
    lines = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]
for i, l in enumerate(lines[::8]):
    add("redirect", f"corpus{i:03d}",
        l.replace("{SELF_HOST}", "rp.example").encode("utf-8",
                                                      "surrogateescape"))
add("redirect", "local", "/app/page?x=1")
add("redirect", "self", "https://rp.example/app")
add("redirect", "allowed", "https://portal.example:8443/home")

# ---- decode ----
add("decode", "b64", b64u(bytes(range(40))))
add("decode", "b64-pad", "QUJD==")
add("decode", "pct", "a%20b+c%2B%E2%82%AC")
add("decode", "pct-bad", "%0%zz%00")
add("decode", "html", "<a href=\"x\">'&amp;</a>")

# ---- session ----


def s_str(v):
    if v is None:
        return b"\x00"
    v = v.encode()
    return b"\x01" + struct.pack(">I", len(v)) + v


def session(env):
    b = b"C2S\x01"
    for v in ("fuzz-client", "555012345678", "sid-1", "555012345678"):
        b += s_str(v)
    b += struct.pack(">qqqii", 1700000000000000, 1700000000000000,
                     1700028800000000, 3, 3)
    b += s_str("AAL3_ANY") + s_str(ID_TOKEN[:60])
    if env is None:
        b += b"\x00"
    else:
        b += b"\x01" + struct.pack(">I", len(env))
        for k, v in env:
            b += s_str(k) + s_str(v)
    return b


add("session", "session", session([("CIS2_UID", "555012345678"),
                                   ("CIS2_NAME", "Test User")]))
add("session", "session-noenv", session(None))
add("session", "session-huge-count",
    session([]).replace(b"\x01\x00\x00\x00\x00", b"\x01\xff\xff\xff\xff"))
pend = b"C2P\x01" + b"".join(s_str(v) for v in (
    "fuzz-client", "bind", "nonce", "verifier", "/app?x=1", None)) \
    + struct.pack(">q", 1700000000000000)
add("session", "pending", pend)
add("session", "pending-trunc", pend[:-3])

# version 3 (cis2_session.c): varints, a string table, splices. Not made
# here: seed-session-v3-lz4-* (the compressed form) and
# seed-session-v2-doctor (the version 2 codec's), records the encoders
# wrote for t/unit/data's users
def uv(n):
    out = b""
    while True:
        b = n & 0x7f
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def s3(v):
    if v is None:
        return b"\x00"
    v = v.encode()
    return uv(len(v) << 2 | 1) + v


def ref3(i):
    return uv(i << 2 | 2)


def splice3(pre, idx, suf):
    return uv(len(pre) << 2 | 3) + pre.encode() + uv(idx) + uv(len(suf)) \
        + suf.encode()


def zz(n):
    return uv(((n << 1) ^ (n >> 63)) & 0xffffffffffffffff)


def session3(env, roles=b"\x00", tail=None):
    b = b"C2S\x03\x00" + s3("fuzz-client") + s3("555012345678") + \
        s3("sid-1") + s3("555012345678")
    b += uv(1700000000000000) + zz(-10000000) + zz(28800000000) + zz(3) + zz(3)
    b += ref3(88)                         # "AAL3_ANY"
    b += b"\x01" + s3(ID_TOKEN[:60])      # the ID token as text
    if env is None:
        b += b"\x00"
    else:
        b += uv(len(env) + 1) + b"".join(k + v for k, v in env)
    return b + roles + (tail if tail is not None else zz(-1) + b"\x00")


add("session", "v3", session3([(ref3(0), s3("555012345678")),
                               (ref3(12), s3('[{"person_roleid":"1"}]' * 3)),
                               (ref3(13), splice3('{"roles":', 106 + 6, "}"))]))
add("session", "v3-noenv", session3(None))
add("session", "v3-roles", session3(
    [], uv(2) + s3("555254240100") + ref3(103) + s3("RBA") + uv(1) + s3("B0401")
    + s3("555254240101") + b"\x00" + b"\x00" + uv(0),
    zz(1) + uv(1) + s3("gmc_id") + s3("7012345")))
add("session", "v3-bad-ref", session3([(ref3(100000), s3("x"))]))
# the ID token as its three base64url-decoded parts
parts = [base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
         for x in ID_TOKEN.split(".")]
add("session", "v3-idt-parts", session3(None).replace(
    b"\x01" + s3(ID_TOKEN[:60]),
    b"\x02" + b"".join(uv(len(x)) + x for x in parts), 1))


# ---- json ----
add("json", "claims", json.dumps(ID_CLAIMS))
add("json", "dates", '{"exp":1e300,"iat":-1,"nbf":1.5,"auth_time":"123",'
    '"authentication_assurance_level":"03","id_assurance_level":9e18}')
add("json", "dupkey", '{"exp":1,"exp":2}')
add("json", "nul", '{"a":"x\\u0000y"}')
add("json", "deep", "[" * 50 + "]" * 50)

for target, files in seeds.items():
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, content in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(content)
print("seeds:", {t: len(f) for t, f in sorted(seeds.items())}, file=sys.stderr)
