#!/bin/sh
# Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
#
# make-fixtures.sh — (re)generate the key and JWKS fixtures of the unit tests
# (test_jwks.c, test_jwt.c, test_login.c). Needs only the openssl CLI and
# Debian's /usr/bin/python3 (standard library). The outputs are small and
# checked in; rerunning the script replaces every key, which is harmless
# because the tests mint their tokens at run time from these PEM files.
#
#   key1.pem, key1.pub.pem   RSA 2048, the OP's current signing key
#   key2.pem                 RSA 2048, the next key (rollover, wrong-key tests)
#   weak.pem                 RSA 1024, must be skipped as too small
#   ec.pem                   P-256, must be skipped (not RSA)
#   jwks.json                key1 (kid with '/', '+', '=') and key2
#   jwks-key1.json           key1 only (header without kid)
#   jwks-key1-rs512.json     key1 with "alg": "RS512"
#   jwks-mixed.json          EC key, key2 with use=enc, weak key, key1 with
#                            key_ops [verify], a kty-less entry, a non-object
#   jwks-ec-only.json        only the EC key
#   jwks-enc-only.json       only RSA keys with use=enc
#   jwks-empty.json          {"keys": []}
#   jwks-nokeys.json         {} (no keys member)
#   jwks-keys-object.json    "keys" is an object, not an array
#   jwks-bad.json            not JSON
#   jwks-array.json          a JSON array at the top level
set -eu

cd "$(dirname "$0")"
PY=/usr/bin/python3

KID1='b/O6OvVv1+y+WgrH5Ui9WTioLt0='
KID2='Qm9sbG92ZXIvS2V5Kz0yMDI2+w=='
KID_EC='ec/P-256+test='
KID_WEAK='weak/1024+key='

rsa_key() {
    openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:$2" -out "$1" \
        2>/dev/null
}
rsa_key key1.pem 2048
rsa_key key2.pem 2048
rsa_key weak.pem 1024
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem \
    2>/dev/null
openssl pkey -in key1.pem -pubout -out key1.pub.pem
# test keys, not secrets: readable by whoever runs make check
chmod 644 key1.pem key2.pem weak.pem ec.pem

# hex modulus of an RSA key ("Modulus=ABCD...")
rsa_n() {
    openssl rsa -in "$1" -noout -modulus 2>/dev/null | sed 's/^Modulus=//'
}
# uncompressed EC point 04||x||y: the last 65 bytes of the DER SPKI, in hex
ec_point() {
    openssl pkey -in "$1" -pubout -outform DER | od -An -v -tx1 | tr -d ' \n'
}

N1=$(rsa_n key1.pem) N2=$(rsa_n key2.pem) NW=$(rsa_n weak.pem) \
ECP=$(ec_point ec.pem) \
KID1=$KID1 KID2=$KID2 KID_EC=$KID_EC KID_WEAK=$KID_WEAK \
"$PY" - <<'EOF'
import base64, json, os

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def rsa(nhex, kid, **extra):
    k = {"kty": "RSA", "kid": kid, "use": "sig",
         "n": b64u(bytes.fromhex(nhex)), "e": "AQAB"}
    k.update(extra)
    return {key: val for key, val in k.items() if val is not None}

pt = bytes.fromhex(os.environ["ECP"])[-65:]
assert pt[0] == 4
ec = {"kty": "EC", "crv": "P-256", "kid": os.environ["KID_EC"], "use": "sig",
      "x": b64u(pt[1:33]), "y": b64u(pt[33:65])}

k1 = rsa(os.environ["N1"], os.environ["KID1"])
k2 = rsa(os.environ["N2"], os.environ["KID2"])
weak = rsa(os.environ["NW"], os.environ["KID_WEAK"])

def write(name, doc):
    with open(name, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")

write("jwks.json", {"keys": [k1, k2]})
write("jwks-key1.json", {"keys": [k1]})
write("jwks-key1-rs512.json", {"keys": [dict(k1, alg="RS512")]})
k1ops = dict(k1, key_ops=["verify"])
del k1ops["use"]
write("jwks-mixed.json", {"keys": [
    ec,
    dict(k2, use="enc"),
    weak,
    {"kid": "no-kty", "n": k1["n"], "e": "AQAB"},
    "not-an-object",
    dict(k2, kid="ops-sign-only", key_ops=["sign"]),
    k1ops,
]})
write("jwks-ec-only.json", {"keys": [ec]})
write("jwks-enc-only.json",
      {"keys": [dict(k1, use="enc"), dict(k2, use="enc")]})
write("jwks-empty.json", {"keys": []})
write("jwks-nokeys.json", {})
write("jwks-keys-object.json", {"keys": k1})
write("jwks-array.json", [k1])
with open("jwks-bad.json", "w") as f:
    f.write('{"keys": [ {"kty": "RSA", \n')
EOF
echo "fixtures written to $(pwd)"
