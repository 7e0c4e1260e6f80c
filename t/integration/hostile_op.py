"""A small, scriptable, hostile OpenID Provider for mod_cis2 integration tests.

It serves discovery, a JWKS, an /authorize endpoint that redirects straight back
to the RP callback (remembering the nonce and PKCE challenge it was sent), a
token endpoint whose ID token it mints itself, and UserInfo. Each test tells it
what to get wrong through `op.set(...)`; `op.reset()` restores good behaviour
(a login against a reset OP must succeed: that is the positive control every
refusal test is measured against).

Only loopback, only for tests. Keys are generated per process with Debian's
python3-cryptography.
"""

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# A CIS2-looking kid (standard base64 with '/', '+', '='): CIS2.md §9.
GOOD_KID = "b/O6OvVv1+y+WgrH5Ui9WTioLt0="
OTHER_KID = "zZ9+unknown/kid=="
ROTATED_KID = "Um90YXRlZC9rZXkrMjAyNg=="   # the key the OP rotates to

SUB = "555012345678"


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_uint(n):
    return b64u(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def _new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


_KEYS = {}


def _key(name):
    # Key generation is slow-ish; share keys across OP instances in a process.
    if name not in _KEYS:
        _KEYS[name] = _new_key()
    return _KEYS[name]


def jwk_of(key, kid):
    pub = key.public_key().public_numbers()
    return {"kty": "RSA", "use": "sig", "kid": kid,
            "n": b64u_uint(pub.n), "e": b64u_uint(pub.e)}


def sign_jwt(header, payload, key=None, secret=None):
    """Compact JWS. RS256/RS512 with `key`, HS256 with `secret`,
    'none' gives an empty signature."""
    h = b64u(json.dumps(header, separators=(",", ":")))
    p = b64u(json.dumps(payload, separators=(",", ":")))
    signing_input = f"{h}.{p}".encode()
    alg = header.get("alg")
    if alg == "none":
        sig = b""
    elif alg == "HS256":
        sig = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    elif alg in ("RS256", "RS512"):
        h_alg = hashes.SHA256() if alg == "RS256" else hashes.SHA512()
        sig = key.sign(signing_input, padding.PKCS1v15(), h_alg)
    else:
        raise ValueError(alg)
    return f"{h}.{p}.{b64u(sig)}"


DELETE = object()   # claim override meaning "leave this claim out"


class HostileOP:
    """Start with HostileOP(client_id, client_secret).start(); stop()."""

    def __init__(self, client_id, client_secret, issuer=None, path="/op"):
        self.client_id = client_id
        self.client_secret = client_secret
        self.path = path
        self._issuer_override = issuer
        self.key = _key("good")
        self.wrong_key = _key("wrong")
        self.kid = GOOD_KID
        self.lock = threading.Lock()
        self.codes = {}          # code -> dict(nonce, state, redirect_uri, ...)
        self.requests = []       # (method, path, headers dict, body str)
        self.request_conns = []  # per request: the number of its connection
        self.connections = 0     # TCP connections accepted so far
        self.issued = []         # every access_token / id_token handed out
        self.reset()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}{self.path}"
        self.issuer = issuer if issuer is not None else self.base
        self.thread = None

    # ---- control --------------------------------------------------------

    def reset(self):
        with getattr(self, "lock", threading.Lock()):
            self.b = {
                "claims": {},            # overrides of ID token claims
                "header": {},            # overrides of the JOSE header
                "signing": "RS256",      # RS256 RS512 wrongkey none hs256-secret
                "nonce": "echo",         # "echo" or a fixed string
                "token_status": 200,
                "token_body": None,      # raw body instead of the JSON answer
                "token_ctype": "application/json",
                "token_delay": 0.0,
                "token_error": None,     # OAuth error code, with 400
                "userinfo_sub": None,    # override of UserInfo sub
                "userinfo_status": 200,
                "userinfo_extra": {},
                # issue #7: a provider that misbehaves on command
                "discovery_status": 200,
                "discovery_body": None,  # raw body instead of the document
                "discovery_ctype": "application/json",
                "discovery_delay": 0.0,
                "discovery_extra": {},   # members merged into the document
                "discovery_location": None,  # Location with discovery_status
                "jwks_status": 200,
                "jwks_body": None,       # raw body instead of the key set
                "jwks_delay": 0.0,
                # key rotation: None; "published" = sign with a new key and
                # kid that the JWKS now serves (the old key withdrawn);
                # "unpublished" = sign with the new key, JWKS unchanged
                "rotate": None,
                "token_endless": False,  # 200 + a body that never ends
                "token_location": None,  # Location header on token_status
                "userinfo_body": None,   # raw body
                "userinfo_ctype": "application/json",
                "userinfo_delay": 0.0,
                "userinfo_endless": False,
                # issue #4: None keeps connections open (HTTP/1.1);
                # "announce" answers with "Connection: close" and closes;
                # "silent" closes after each answer without a word
                "close_connections": None,
            }

    def set(self, **kw):
        with self.lock:
            for k, v in kw.items():
                if k not in self.b:
                    raise KeyError(k)
                self.b[k] = v

    @property
    def discovery_url(self):
        return f"{self.base}/.well-known/openid-configuration"

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       name=f"hostile-op-{self.port}",
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def conns_of(self, start=0, paths=("/access_token", "/userinfo")):
        """Connection numbers of the requests since index `start` whose
        path ends with one of `paths` (the module's own calls)."""
        with self.lock:
            return [c for r, c in zip(self.requests[start:],
                                      self.request_conns[start:])
                    if r[1].split("?")[0].endswith(tuple(paths))]

    def token_requests(self):
        return [r for r in self.requests if r[1].endswith("/access_token")]

    # ---- documents ------------------------------------------------------

    def discovery(self):
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.base}/authorize",
            "token_endpoint": f"{self.base}/access_token",
            "userinfo_endpoint": f"{self.base}/userinfo",
            "jwks_uri": f"{self.base}/connect/jwk_uri",
            "end_session_endpoint": f"{self.base}/connect/endSession",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "RS512"],
            "scopes_supported": ["openid", "profile", "email",
                                 "nationalrbacaccess", "associatedorgs"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_post", "client_secret_basic", "private_key_jwt"],
            "code_challenge_methods_supported": ["S256"],
            "acr_values_supported": ["AAL3_ANY", "AAL2_OR_AAL3_ANY"],
            "claims_parameter_supported": False,
            **self.b["discovery_extra"],
        }

    def jwks(self):
        if self.b["rotate"] == "published":
            return {"keys": [jwk_of(_key("rotated"), ROTATED_KID)]}
        return {"keys": [jwk_of(self.key, self.kid)]}

    def jwks_fetches(self):
        return [r for r in self.requests if r[1].endswith("/connect/jwk_uri")]

    def id_token(self, grant):
        now = int(time.time())
        b = self.b
        claims = {
            "iss": self.issuer, "sub": SUB, "aud": self.client_id,
            "azp": self.client_id, "iat": now, "exp": now + 3600,
            "auth_time": now - 2,
            "acr": "AAL3_ANY", "amr": ["N3_SMARTCARD"],
            "id_assurance_level": "3", "authentication_assurance_level": "3",
            "sid": str(uuid.uuid4()),
        }
        nonce = grant.get("nonce") if b["nonce"] == "echo" else b["nonce"]
        if nonce is not None:
            claims["nonce"] = nonce
        for k, v in b["claims"].items():
            if v is DELETE:
                claims.pop(k, None)
            else:
                claims[k] = v(now) if callable(v) else v
        signing = b["signing"]
        header = {"typ": "JWT", "kid": self.kid}
        key, secret = self.key, None
        if b["rotate"] is not None:
            header["kid"] = ROTATED_KID
            key = _key("rotated")
        if signing in ("RS256", "RS512"):
            header["alg"] = signing
        elif signing == "wrongkey":
            header["alg"] = "RS256"
            key = self.wrong_key
        elif signing == "none":
            header = {"typ": "JWT", "alg": "none"}
        elif signing == "hs256-secret":
            header = {"typ": "JWT", "alg": "HS256", "kid": self.kid}
            secret = self.client_secret
        else:
            raise ValueError(signing)
        header.update(b["header"])
        if header.get("alg") == "none":
            key = None
        return sign_jwt(header, claims, key=key, secret=secret)

    def userinfo(self):
        info = {
            "sub": self.b["userinfo_sub"] or SUB, "uid": SUB,
            "nhsid_useruid": SUB,
            "name": "HOSTILE TEST Mr", "given_name": "Test",
            "family_name": "Hostile", "email": "hostile.test@nhs.net",
            "idassurancelevel": "3",
            "nhsid_user_orgs": [{"org_code": "RBA", "org_name": "TEST TRUST"}],
            "nhsid_nrbac_roles": [{
                "person_orgid": "555254239107", "person_roleid": "555254240100",
                "org_code": "RBA",
                "role_name": "\"Clinical\":\"Clinical Provision\":\"Nurse Access Role\"",
                "role_code": "S8000:G8000:R8001",
                "activity_codes": ["B0401"]}],
        }
        info.update(self.b["userinfo_extra"])
        return info

    # ---- HTTP -----------------------------------------------------------

    def _handler(self):
        op = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def setup(self):
                super().setup()
                with op.lock:
                    op.connections += 1
                    self.conn_no = op.connections

            def _send(self, status, body, ctype="application/json",
                      headers=None):
                if isinstance(body, (dict, list)):
                    body = json.dumps(body)
                if isinstance(body, str):
                    body = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                close = op.b["close_connections"]
                if close == "announce":
                    self.send_header("Connection", "close")
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if close is not None:
                    self.close_connection = True

            def _endless(self, ctype="application/json"):
                """200 and a chunked body that never ends (until the
                client hangs up, or 60 s)."""
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b'{"access_token":"' + b"A" * 65536
                deadline = time.time() + 60
                try:
                    while time.time() < deadline:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                        chunk = b"A" * 65536
                        time.sleep(0.01)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass
                self.close_connection = True

            def _record(self, body=""):
                with op.lock:
                    op.requests.append((self.command, self.path,
                                        dict(self.headers.items()), body))
                    op.request_conns.append(self.conn_no)

            def do_GET(self):
                self._record()
                u = urllib.parse.urlsplit(self.path)
                p = u.path
                if not p.startswith(op.path):
                    return self._send(404, {"error": "not_found"})
                p = p[len(op.path):]
                b = op.b
                if p == "/.well-known/openid-configuration":
                    if b["discovery_delay"]:
                        time.sleep(b["discovery_delay"])
                    if b["discovery_location"] is not None:
                        return self._send(b["discovery_status"], "", "text/plain",
                                          {"Location": b["discovery_location"]})
                    if b["discovery_body"] is not None:
                        return self._send(b["discovery_status"],
                                          b["discovery_body"],
                                          b["discovery_ctype"])
                    return self._send(b["discovery_status"], op.discovery(),
                                      b["discovery_ctype"])
                if p == "/connect/jwk_uri":
                    if b["jwks_delay"]:
                        time.sleep(b["jwks_delay"])
                    if b["jwks_body"] is not None:
                        return self._send(b["jwks_status"], b["jwks_body"])
                    return self._send(b["jwks_status"], op.jwks())
                if p == "/authorize":
                    q = urllib.parse.parse_qs(u.query)
                    state = q.get("state", [""])[0]
                    code = b64u(uuid.uuid4().bytes)
                    with op.lock:
                        op.codes[code] = {
                            "nonce": q.get("nonce", [None])[0],
                            "state": state,
                            "redirect_uri": q.get("redirect_uri", [""])[0],
                            "code_challenge": q.get("code_challenge", [None])[0],
                            "query": q,
                        }
                    ru = q.get("redirect_uri", [""])[0]
                    loc = ru + ("&" if "?" in ru else "?") + urllib.parse.urlencode(
                        {"code": code, "state": state})
                    return self._send(302, "", "text/plain", {"Location": loc})
                if p == "/userinfo":
                    if b["userinfo_delay"]:
                        time.sleep(b["userinfo_delay"])
                    if b["userinfo_endless"]:
                        return self._endless()
                    if b["userinfo_body"] is not None:
                        return self._send(b["userinfo_status"],
                                          b["userinfo_body"],
                                          b["userinfo_ctype"])
                    if op.b["userinfo_status"] != 200:
                        return self._send(op.b["userinfo_status"],
                                          {"error": "server_error"})
                    return self._send(200, op.userinfo())
                return self._send(404, {"error": "not_found"})

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode("utf-8", "replace")
                self._record(body)
                p = urllib.parse.urlsplit(self.path).path
                if p != op.path + "/access_token":
                    return self._send(404, {"error": "not_found"})
                b = op.b
                if b["token_delay"]:
                    time.sleep(b["token_delay"])
                if b["token_error"]:
                    return self._send(400, {"error": b["token_error"],
                                            "error_description": "nope"})
                if b["token_endless"]:
                    return self._endless()
                if b["token_location"] is not None:
                    return self._send(b["token_status"], "", "text/plain",
                                      {"Location": b["token_location"]})
                if b["token_body"] is not None:
                    return self._send(b["token_status"], b["token_body"],
                                      b["token_ctype"])
                form = urllib.parse.parse_qs(body)
                code = form.get("code", [""])[0]
                with op.lock:
                    grant = op.codes.pop(code, None)
                if grant is None:
                    return self._send(400, {"error": "invalid_grant"})
                at, idt = b64u(uuid.uuid4().bytes), op.id_token(grant)
                with op.lock:
                    op.issued += [at, idt]
                return self._send(b["token_status"], {
                    "access_token": at,
                    "id_token": idt,
                    "token_type": "Bearer", "expires_in": 3599,
                    "scope": "openid profile email nationalrbacaccess",
                })

        return H
