"""Harness for mod_cis2 integration tests: a private httpd per test module or
test, the log checker, and a browser-like login driver.

Imported by conftest.py and the tests. Debian's /usr/bin/python3 only.
"""

import html.parser
import glob
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
APACHE2 = "/usr/sbin/apache2"
MODDIR = "/usr/lib/apache2/modules"
CIS2_MODULE = os.environ.get("CIS2_MODULE", os.path.join(REPO, "mod_cis2.so"))
SIM_DIR = os.path.join(REPO, "t", "cis2-sim")
SIM_JS = os.path.join(SIM_DIR, "sim.js")

# Browser-like request headers.
NAV_ACCEPT = ("text/html,application/xhtml+xml,application/xml;q=0.9,"
              "image/avif,image/webp,*/*;q=0.8")
NAV_HEADERS = {
    "Accept": NAV_ACCEPT,
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) mod_cis2-integration",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
}

# The marker in the static protected file: it must never appear in a response
# to a request that is not authenticated.
PROTECTED_MARKER = "PROTECTED-7f3a9c1e-do-not-leak"

CLIENT_SECRETS = {
    "123456789012.apps.national": "s3cret-post-0123456789abcdef",
    "secretbasic.apps.national": "s3cret-basic-0123456789abcdef",
    "rs512.apps.national": "s3cret-rs512-0123456789abcdef",
}
DEFAULT_CLIENT = "123456789012.apps.national"

# CIS2 log-line reference: "CIS2-nnnnn: ... ref=XXXXXXXX"
LOGNO_RE = re.compile(r"CIS2-(\d{5})")
REF_RE = re.compile(r"ref=([A-Za-z0-9_-]{4,64})")
LEVEL_RE = re.compile(r"^\[[^\]]*\] \[(?:([\w.-]+):)?(\w+)\]")
BAD_LEVELS = {"warn", "error", "crit", "alert", "emerg"}
CRASH_RE = re.compile(r"child pid \d+ exit signal|exit signal (?:Segmentation|Aborted|Bus)")
# Sanitizer reports (a --enable-sanitizers module under CIS2_HTTPD_PRELOAD):
# ASan/LSan write "==pid==ERROR: AddressSanitizer: ..." and UBSan
# "file:line:col: runtime error: ..." to httpd's stderr, i.e. the error_log.
SANITIZER_RE = re.compile(r"ERROR: (?:Address|Leak)Sanitizer|runtime error: "
                          r"|SUMMARY: (?:Address|UndefinedBehavior)Sanitizer")


def httpd_env():
    """The environment for apache2: ours, plus, when CIS2_HTTPD_PRELOAD names
    the ASan runtime (t/run-sanitizers), that runtime preloaded into httpd
    only (Debian's httpd is not instrumented; the module is)."""
    env = dict(os.environ)
    preload = os.environ.get("CIS2_HTTPD_PRELOAD")
    if preload:
        env["LD_PRELOAD"] = preload
        # use_sigaltstack=0: see t/run-sanitizers (a libasan false report
        # at thread exit)
        env.setdefault("ASAN_OPTIONS",
                       "detect_leaks=0:halt_on_error=1:use_sigaltstack=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


# ---------------------------------------------------------------- ports

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PortPool:
    """Ports reserved for httpd instances. All of them are registered as
    redirect URIs with the simulator, so any httpd built on a pool port can
    log in there."""

    def __init__(self, n):
        socks = []
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        self.ports = [s.getsockname()[1] for s in socks]
        for s in socks:
            s.close()
        self.free = list(self.ports)
        self.lock = threading.Lock()

    def take(self):
        with self.lock:
            if not self.free:
                raise RuntimeError("port pool exhausted: too many live httpds")
            return self.free.pop(0)

    def give(self, port):
        with self.lock:
            if port in self.ports and port not in self.free:
                self.free.append(port)


def redirect_uri(port):
    return f"http://127.0.0.1:{port}/cis2/callback"


# ---------------------------------------------------------------- httpd

LIVE = []          # every started Httpd, for the log checker
ALL = []           # every Httpd ever made in this run
_LIVE_LOCK = threading.Lock()

APP_CGI = os.path.join(HERE, "app.cgi")

# The MPM: event unless the environment says otherwise (CIS2_TEST_MPM=worker
# or prefork runs the whole suite under that MPM); one Httpd may choose its
# own (Httpd.mpm, e.g. test_mpm.py).
DEFAULT_MPM = os.environ.get("CIS2_TEST_MPM", "event")

MPM_SETTINGS = {
    "event": """StartServers 1
ServerLimit 4
ThreadsPerChild 16
MaxRequestWorkers 64
MinSpareThreads 8
MaxSpareThreads 48""",
    "prefork": """StartServers 3
ServerLimit 24
MaxRequestWorkers 24
MinSpareServers 2
MaxSpareServers 8""",
}
MPM_SETTINGS["worker"] = MPM_SETTINGS["event"]

LOADS = [
    ("authn_core_module", "mod_authn_core.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("authz_user_module", "mod_authz_user.so"),
    ("cgid_module", "mod_cgid.so"),
    ("alias_module", "mod_alias.so"),
    ("env_module", "mod_env.so"),
    ("headers_module", "mod_headers.so"),
    ("mime_module", "mod_mime.so"),
    ("setenvif_module", "mod_setenvif.so"),
    ("proxy_module", "mod_proxy.so"),
    ("proxy_http_module", "mod_proxy_http.so"),
]


class HttpdStartError(Exception):
    pass


class Httpd:
    """A private httpd: own ServerRoot, pid file, logs, CGI dir, port.

    provider: dict with keys metadata_url, client_id, client_secret (the
    simulator's or a hostile OP's). directives: extra server-level CIS2
    lines (list of str) replacing/adding to the base ones; locations: extra
    config appended at the end (str).
    """

    def __init__(self, name, port, provider, directives=(), extra="",
                 base_cis2=True, pool=None):
        self.name = name
        self.port = port
        self.pool = pool
        self.provider = provider
        self.directives = list(directives)
        self.extra = extra
        self.base_cis2 = base_cis2
        self.root = tempfile.mkdtemp(prefix=f"cis2-httpd-{name}-")
        os.chmod(self.root, 0o755)
        for d in ("logs", "htdocs", "htdocs/protected", "cgi", "run"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
            os.chmod(os.path.join(self.root, d), 0o755)
        # ScriptSock and run dir must be writable by the children (www-data)
        shutil.chown(os.path.join(self.root, "run"), "www-data", "www-data")
        shutil.copy(APP_CGI, os.path.join(self.root, "cgi", "app.cgi"))
        os.chmod(os.path.join(self.root, "cgi", "app.cgi"), 0o755)
        with open(os.path.join(self.root, "htdocs", "protected", "secret.txt"), "w") as f:
            f.write(f"top secret: {PROTECTED_MARKER}\n")
        with open(os.path.join(self.root, "htdocs", "index.html"), "w") as f:
            f.write("<html><body>public index</body></html>\n")
        self.conf = os.path.join(self.root, "httpd.conf")
        self.error_log = os.path.join(self.root, "logs", "error_log")
        self.pidfile = os.path.join(self.root, "run", "httpd.pid")
        self.allowed = []          # regexes of expected bad-level log lines
        self.started = False
        self.mpm = DEFAULT_MPM
        ALL.append(self)
        self.write_conf()

    # -- config ---------------------------------------------------------

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def url(self, path):
        return self.base + path

    @property
    def redirect_uri(self):
        return redirect_uri(self.port)

    def cis2_lines(self):
        p = self.provider
        lines = []
        if self.base_cis2:
            lines += [
                f"CIS2ProviderMetadataURL {p['metadata_url']}",
                f"CIS2ClientID {p['client_id']}",
                f"CIS2ClientSecret {p['client_secret']}",
                f"CIS2RedirectURI {self.redirect_uri}",
            ]
            if p.get("auth"):
                lines.append(f"CIS2TokenEndpointAuth {p['auth']}")
        # later directives win for single-valued ones: drop base lines the
        # caller overrides or removes ("-CIS2ClientID" removes)
        for d in self.directives:
            key = d.split()[0]
            if key.startswith("-"):
                lines = [l for l in lines if l.split()[0] != key[1:]]
                continue
            lines = [l for l in lines if l.split()[0] != key]
            lines.append(d)
        return lines

    def write_conf(self):
        r = self.root
        loads = "\n".join(
            f"LoadModule {n} {MODDIR}/{f}" for n, f in
            [(f"mpm_{self.mpm}_module", f"mod_mpm_{self.mpm}.so")] + LOADS)
        cis2 = "\n".join(self.cis2_lines())
        text = f"""# generated by t/integration/cis2test.py
ServerRoot {r}
ServerName 127.0.0.1
Listen 127.0.0.1:{self.port}
PidFile {self.pidfile}
DefaultRuntimeDir {r}/run
ErrorLog {self.error_log}
LogFormat "%h %l %u %t \\"%r\\" %>s %b" common
CustomLog {r}/logs/access_log common
User www-data
Group www-data
{loads}
LoadModule cis2_module {CIS2_MODULE}
LogLevel info cis2:debug
TypesConfig /etc/mime.types
ScriptSock {r}/run/cgisock
# a crashed child leaves its core here (conftest prints its backtrace)
CoreDumpDirectory {r}/run
Timeout 30
KeepAlive On
{MPM_SETTINGS[self.mpm]}
DocumentRoot {r}/htdocs
<Directory {r}/htdocs>
    Require all granted
</Directory>
<Directory {r}/cgi>
    Options +ExecCGI
    Require all granted
</Directory>
ScriptAlias /app/ {r}/cgi/
ScriptAlias /open/ {r}/cgi/
ScriptAlias /unprotected/ {r}/cgi/

{cis2}

<Location /app>
    AuthType cis2
    Require valid-user
</Location>
<Location /protected>
    AuthType cis2
    Require valid-user
</Location>
<Location /open>
    AuthType cis2
    Require all granted
</Location>
{self.extra}
"""
        with open(self.conf, "w") as f:
            f.write(text)

    # -- lifecycle -------------------------------------------------------

    def configtest(self):
        return subprocess.run([APACHE2, "-t", "-f", self.conf],
                              capture_output=True, text=True, timeout=30,
                              env=httpd_env())

    def start(self):
        self.log_start = 0
        p = subprocess.run([APACHE2, "-f", self.conf, "-k", "start"],
                           capture_output=True, text=True, timeout=60,
                           env=httpd_env())
        if p.returncode != 0:
            raise HttpdStartError(
                f"httpd {self.name} failed to start (rc={p.returncode}):\n"
                f"{p.stdout}{p.stderr}\n--- error_log ---\n{self.read_log()}")
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.5):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise HttpdStartError(f"httpd {self.name} not listening on "
                                  f"{self.port}:\n{self.read_log()}")
        self.started = True
        with _LIVE_LOCK:
            LIVE.append(self)
        return self

    def graceful(self):
        """`apache2 -k graceful` with the harness environment (so an ASan
        build keeps its runtime preloaded); fails the test if it fails."""
        p = subprocess.run([APACHE2, "-f", self.conf, "-k", "graceful"],
                           capture_output=True, text=True, timeout=60,
                           env=httpd_env())
        assert p.returncode == 0, f"graceful failed: {p.stdout}{p.stderr}"
        return p

    def pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        if not self.started:
            return
        pid = self.pid()
        subprocess.run([APACHE2, "-f", self.conf, "-k", "stop"],
                       capture_output=True, text=True, timeout=30,
                       env=httpd_env())
        if pid:
            deadline = time.time() + 15
            while time.time() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                os.kill(pid, signal.SIGKILL)
        self.started = False
        with _LIVE_LOCK:
            if self in LIVE:
                LIVE.remove(self)
        if self.pool:
            self.pool.give(self.port)

    # -- logs ------------------------------------------------------------

    def read_log(self, start=0, end=None):
        try:
            with open(self.error_log, "rb") as f:
                f.seek(start)
                data = f.read() if end is None else f.read(max(0, end - start))
                return data.decode("utf-8", "replace")
        except OSError:
            return ""

    def log_size(self):
        try:
            return os.path.getsize(self.error_log)
        except OSError:
            return 0

    def expect_log(self, *patterns):
        """Allow bad-level lines matching any of these regexes (e.g.
        "CIS2-00123" or r"CIS2-\\d{5}") for the current test."""
        self.allowed.extend(re.compile(p) for p in patterns)

    def bad_lines(self, start, end=None):
        out = []
        for line in self.read_log(start, end).splitlines():
            if CRASH_RE.search(line) or SANITIZER_RE.search(line):
                out.append(line)
                continue
            m = LEVEL_RE.match(line)
            if not m or m.group(2) not in BAD_LEVELS:
                continue
            if any(p.search(line) for p in self.allowed):
                continue
            out.append(line)
        return out

    def wait_log(self, regex, start=0, timeout=3.0):
        """Wait for a log line matching regex after offset start; return
        the line or None."""
        rx = re.compile(regex)
        deadline = time.time() + timeout
        while True:
            for line in self.read_log(start).splitlines():
                if rx.search(line):
                    return line
            if time.time() > deadline:
                return None
            time.sleep(0.05)

    def numbered_lines(self, start=0):
        return [l for l in self.read_log(start).splitlines()
                if LOGNO_RE.search(l)]


# ---------------------------------------------------------------- simulator

class Sim:
    def __init__(self, port, clients_file, users_file=None):
        self.port = port
        self.clients_file = clients_file
        self.users_file = users_file
        self.proc = None
        self.output = []

    @property
    def issuer(self):
        return (f"http://127.0.0.1:{self.port}/openam/oauth2/realms/root/"
                f"realms/NHSIdentity/realms/Healthcare")

    @property
    def discovery_url(self):
        return self.issuer + "/.well-known/openid-configuration"

    def start(self, timeout=30):
        cmd = ["node", SIM_JS, "--port", str(self.port),
               "--clients", self.clients_file]
        if self.users_file:
            cmd += ["--users", self.users_file]
        self.proc = subprocess.Popen(cmd, cwd=SIM_DIR, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        ready = threading.Event()

        def pump():
            for line in self.proc.stdout:
                self.output.append(line)
                if "cis2-sim listening on" in line:
                    ready.set()
        threading.Thread(target=pump, daemon=True).start()
        deadline = time.time() + timeout
        while not ready.wait(0.1):
            if self.proc.poll() is not None or time.time() > deadline:
                out = "".join(self.output)
                self.stop()
                raise RuntimeError(f"cis2-sim did not start: {out}")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# A crashed httpd child writes a core into its run dir (CoreDumpDirectory):
# raise our soft limit to the hard one so the children may.
try:
    resource.setrlimit(resource.RLIMIT_CORE,
                       (resource.getrlimit(resource.RLIMIT_CORE)[1],) * 2)
except (ValueError, OSError):
    pass


def core_backtraces(h, limit=2):
    """The backtraces of the cores a crashed child of `h` left, for the
    report of the test that saw the crash (empty without cores or gdb).
    Each core is reported once (renamed *.reported), so a later failure of
    the same httpd does not show an earlier crash. Nothing appears when the
    kernel's core_pattern pipes cores elsewhere (systemd-coredump, apport):
    CoreDumpDirectory only applies to a plain file name."""
    cores = sorted(c for c in glob.glob(os.path.join(h.root, "run", "core*"))
                   if not c.endswith(".reported"))
    if not cores or shutil.which("gdb") is None:
        return ""
    out = []
    for core in cores[:limit]:
        try:
            r = subprocess.run(
                ["gdb", "-batch", "-nx", "-ex", "bt 40",
                 "-ex", "thread apply all bt 12",
                 APACHE2, core], capture_output=True, text=True, timeout=120)
            bt = [l for l in r.stdout.splitlines()
                  if l.startswith(("#", "Thread", "Program terminated"))]
        except (OSError, subprocess.TimeoutExpired) as e:
            bt = [f"gdb failed: {e}"]
        out.append(f"\n  core {core}:\n    " + "\n    ".join(bt[:200]))
    for core in cores:
        try:
            os.rename(core, core + ".reported")
        except OSError:
            pass
    return "".join(out)


def load_users(path=None):
    path = path or os.path.join(SIM_DIR, "users.json")
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, dict):
        data = data.get("users", list(data.values()))
    return data


# ---------------------------------------------------------------- browser

class FormParser(html.parser.HTMLParser):
    """Collect forms: action, method, hidden inputs, and the buttons/inputs
    named `user` with their values."""

    def __init__(self):
        super().__init__()
        self.forms = []
        self.cur = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.cur = {"action": a.get("action"),
                        "method": (a.get("method") or "get").lower(),
                        "fields": {}, "users": []}
            self.forms.append(self.cur)
        elif tag in ("input", "button") and self.cur is not None:
            name = a.get("name")
            if name == "user":
                if a.get("value") is not None:
                    self.cur["users"].append(a.get("value"))
            elif name and a.get("type", "").lower() == "hidden":
                self.cur["fields"][name] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self.cur = None


def new_session():
    s = requests.Session()
    s.headers.update(NAV_HEADERS)
    return s


class LoginTrace:
    """Every hop of a login, for assertions."""

    def __init__(self):
        self.hops = []          # requests.Response objects in order
        self.authorize_url = None
        self.callback_url = None
        self.final = None

    def __repr__(self):
        return "LoginTrace(" + ", ".join(
            f"{r.request.method} {r.url} -> {r.status_code}"
            for r in self.hops) + ")"


def is_callback(url):
    return urllib.parse.urlsplit(url).path.endswith("/cis2/callback")


def follow(session, resp, trace, limit=15, stop_before_callback=False):
    """Follow redirects by hand, recording each hop. With
    stop_before_callback, return the response whose Location is the RP
    callback without requesting it."""
    for _ in range(limit):
        if resp.status_code not in (301, 302, 303, 307, 308):
            return resp
        loc = resp.headers["Location"]
        nxt = urllib.parse.urljoin(resp.url, loc)
        if is_callback(nxt):
            trace.callback_url = nxt
            if stop_before_callback:
                return resp
        resp = session.get(nxt, allow_redirects=False, timeout=20)
        trace.hops.append(resp)
    raise AssertionError(f"too many redirects: {trace}")


def start_login(session, url, timeout=20, **kw):
    """GET a protected URL as a navigation; returns the (302) response."""
    return session.get(url, allow_redirects=False, timeout=timeout, **kw)


def pick_user_at_op(session, authorize_url, user, trace, timeout=20, form_extra=None):
    """From the OP's authorize URL to the redirect towards our callback:
    returns that redirect response (trace.callback_url is set)."""
    trace.authorize_url = authorize_url
    r = session.get(authorize_url, allow_redirects=False, timeout=timeout)
    trace.hops.append(r)
    r = follow(session, r, trace, stop_before_callback=True)
    if trace.callback_url:
        return r
    assert r.status_code == 200, f"no interaction page: {trace} {r.text[:500]}"
    fp = FormParser()
    fp.feed(r.text)
    forms = [f for f in fp.forms if f["users"] or f["method"] == "post"]
    assert forms, f"no login form on the interaction page: {r.text[:1000]}"
    form = next((f for f in forms if user in f["users"]), None)
    assert form is not None, (f"user {user!r} not offered by the OP; offered: "
                              f"{[f['users'] for f in forms]}")
    action = urllib.parse.urljoin(r.url, form["action"] or r.url)
    data = dict(form["fields"])
    data["user"] = user
    data.update(form_extra or {})
    r = session.post(action, data=data, allow_redirects=False, timeout=timeout)
    trace.hops.append(r)
    r = follow(session, r, trace, stop_before_callback=True)
    assert trace.callback_url, (f"the OP did not redirect to our callback: "
                                f"{trace} {r.status_code} {r.text[:800]}")
    return r


def login(session, url, user, trace=None, timeout=20, follow_final=True,
          form_extra=None):
    """Full browser-like login at the simulator. Returns the final response
    (after the callback and the redirect back to `url`); with
    follow_final=False, returns the callback's own response."""
    trace = trace if trace is not None else LoginTrace()
    r = start_login(session, url, timeout)
    trace.hops.append(r)
    assert r.status_code == 302, (
        f"expected 302 to the OP for {url}, got {r.status_code}: {r.text[:500]}")
    pick_user_at_op(session, urllib.parse.urljoin(url, r.headers["Location"]),
                    user, trace, timeout, form_extra)
    r = session.get(trace.callback_url, allow_redirects=False, timeout=timeout)
    trace.hops.append(r)
    trace.callback_response = r
    if follow_final:
        r = follow(session, r, trace)
    trace.final = r
    return r


def set_cookie_headers(resp):
    """All Set-Cookie header values of one response (requests folds them)."""
    raw = resp.raw
    try:
        return raw.headers.getlist("Set-Cookie")
    except AttributeError:
        v = resp.headers.get("Set-Cookie")
        return [v] if v else []


def app_env(resp):
    """The CGI's JSON output."""
    assert resp.status_code == 200, f"{resp.status_code}: {resp.text[:500]}"
    try:
        return resp.json()
    except ValueError:
        raise AssertionError(f"app.cgi did not answer JSON: {resp.text[:500]}")


def refs_in(text):
    return set(REF_RE.findall(text))


def assert_error_page(httpd, resp, status, log_start, body_must_not=()):
    """The outcome contract for an error: status, a page with a short
    reference id that also appears in a CIS2-nnnnn log line, no protected
    byte, no reflected request data."""
    assert resp.status_code == status, (
        f"expected {status}, got {resp.status_code}; body: {resp.text[:500]}")
    body = resp.text
    assert PROTECTED_MARKER not in body
    for s in body_must_not:
        if s:
            assert s not in body, f"error page reflects request data {s!r}"
    # the numbered log line may be written just after the response
    deadline = time.time() + 3
    while True:
        lines = [l for l in httpd.read_log(log_start).splitlines()
                 if LOGNO_RE.search(l) and REF_RE.search(l)]
        refs = {m for l in lines for m in REF_RE.findall(l)}
        hit = [r for r in refs if r in body]
        if hit or time.time() > deadline:
            break
        time.sleep(0.05)
    assert lines, ("no CIS2-nnnnn ... ref=... log line for this error; log:\n"
                   + httpd.read_log(log_start)[-3000:])
    assert hit, (f"the page shows none of the log refs {sorted(refs)}; "
                 f"body: {body[:800]}")
    return hit[0]


def hostile_login(session, httpd, path="/app/app.cgi", timeout=20):
    """Login against the hostile OP (its /authorize answers at once).
    Returns (callback response, seconds the callback took, trace)."""
    trace = LoginTrace()
    r = start_login(session, httpd.url(path), timeout)
    trace.hops.append(r)
    assert r.status_code == 302, f"{r.status_code}: {r.text[:300]}"
    trace.authorize_url = r.headers["Location"]
    r = session.get(trace.authorize_url, allow_redirects=False, timeout=timeout)
    trace.hops.append(r)
    assert r.status_code == 302 and is_callback(r.headers["Location"]), r.text
    trace.callback_url = r.headers["Location"]
    t0 = time.monotonic()
    r = session.get(trace.callback_url, allow_redirects=False, timeout=timeout)
    elapsed = time.monotonic() - t0
    trace.hops.append(r)
    trace.callback_response = r
    return r, elapsed, trace


def session_cookie_values(resp, name="cis2_session"):
    """Non-empty values set for cookie `name` by one response."""
    out = []
    for h in set_cookie_headers(resp):
        k, _, rest = h.partition("=")
        if k.strip() == name:
            v = rest.split(";", 1)[0].strip().strip('"')
            if v and "max-age=0" not in h.lower().replace(" ", ""):
                out.append(v)
    return out


# ---------------------------------------------------------------- sim users

def find_key(obj, key):
    """First value of `key` anywhere in a nested JSON object (breadth-first)."""
    queue = [obj]
    while queue:
        o = queue.pop(0)
        if isinstance(o, dict):
            if key in o:
                return o[key]
            queue.extend(o.values())
        elif isinstance(o, list):
            queue.extend(x for x in o if isinstance(x, (dict, list)))
    return None


class SimUser:
    """One user of t/cis2-sim/users.json: {id, uid, name..., aal, ial, amr,
    orgs[], roles[]} (the simulator turns it into CIS2 claims)."""

    def __init__(self, raw):
        self.raw = raw
        self.sub = str(raw.get("sub") or raw.get("uid") or find_key(raw, "nhsid_useruid"))
        self.login = str(raw.get("id") or raw.get("login") or self.sub)
        roles = raw.get("roles")
        if roles is None:
            roles = find_key(raw, "nhsid_nrbac_roles")
        self.roles = roles if isinstance(roles, list) else []
        orgs = raw.get("orgs")
        if orgs is None:
            orgs = find_key(raw, "nhsid_user_orgs")
        self.orgs = orgs if isinstance(orgs, list) else []

        def level(*keys):
            for k in keys:
                v = raw.get(k)
                if v is None:
                    v = find_key(raw, k)
                if v is not None:
                    try:
                        return int(str(v).upper().replace("AAL", ""))
                    except ValueError:
                        return None
            return None
        self.aal = level("aal", "authentication_assurance_level")
        self.ial = level("ial", "id_assurance_level", "idassurancelevel")

    def claim(self, name):
        return find_key(self.raw, name)

    def __repr__(self):
        return f"SimUser({self.login}, sub={self.sub}, aal={self.aal}, roles={len(self.roles)})"


def sim_users():
    return [SimUser(u) for u in load_users()]
