"""t/soak — the soak test of issue #7, bounded in time and count, loopback
only: one httpd (event MPM, several children) with the module, the CIS2
simulator, and at the same time

  * N sessions created up front by real logins through the simulator;
  * wrk on a protected file, each request with one of those N session
    cookies (soak.lua counts 5xx and any non-200);
  * logins continuing through the simulator (new browsers, all the time);
  * back-channel logouts: a "victim" user logs in and the simulator sends a
    logout token for that user; the session must end (and only that one);
  * `apache2 -k graceful` every few seconds;
  * a sampler: httpd's total RSS (parent + children) every 5 s, and a
    check of random sessions from the N (a lost session is a failure).

At the end every one of the N sessions must still authenticate. Pass
criteria: zero 5xx, zero non-200 on the wrk load, zero lost sessions, zero
failed logins or logouts, no child crash or sanitizer report and no
error-level line in error_log, and RSS growth under --rss-slack (default
25 %) between the first sample after warm-up and the last. Prints one
summary block (docs/security.md records one)."""

import argparse
import concurrent.futures
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import cis2test as T  # noqa: E402

CLIENT = T.DEFAULT_CLIENT
VICTIM = "noroles"           # the user whose sessions back-channel logout ends
USERS = ["nurse", "doctor", "manyroles"]


def browser():
    """A requests session that, like a browser, resends an idempotent
    request once when a reused keep-alive connection turns out to have been
    closed by the server: a graceful restart closes idle keep-alive
    connections, and a request racing that close gets no answer at all (an
    HTTP/1.1 property, not an error response). Counted by urllib3, never a
    retry on an HTTP status."""
    s = T.new_session()
    retry = Retry(total=2, connect=2, read=2, status=0, other=0,
                  allowed_methods=frozenset({"GET", "HEAD"}), raise_on_status=False)
    s.mount("http://", HTTPAdapter(max_retries=retry))
    return s


def rss_kb(parent):
    """RSS of httpd's parent and every child (kB), from /proc."""
    total, n = 0, 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
            if int(pid) != parent and int(st[1]) != parent:
                continue
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        n += 1
        except (OSError, IndexError, ValueError):
            continue
    return total, n


class Soak:
    def __init__(self, a):
        self.a = a
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.c = dict(logins=0, login_fail=0, bcl=0, bcl_fail=0, graceful=0,
                      graceful_fail=0, checks=0, lost=0, login_5xx=0)
        self.rss = []
        self.problems = []

    def count(self, k, n=1):
        with self.lock:
            self.c[k] += n

    # ---- set-up ----------------------------------------------------------

    def start(self):
        self.port = T.free_port()
        extra = f"""
StartServers 2
ServerLimit 8
ThreadsPerChild 16
MaxRequestWorkers 128
MinSpareThreads 16
MaxSpareThreads 128
"""
        self.h = T.Httpd("soak", self.port, {"metadata_url": "http://x/",
                                             "client_id": CLIENT,
                                             "client_secret": T.CLIENT_SECRETS[CLIENT]},
                         directives=["CIS2SessionStoreSize 256M"], extra=extra,
                         base_cis2=True)
        clients = [{
            "client_id": CLIENT, "client_secret": T.CLIENT_SECRETS[CLIENT],
            "redirect_uris": [T.redirect_uri(self.port)],
            "post_logout_redirect_uris": [f"http://127.0.0.1:{self.port}/index.html"],
            "backchannel_logout_uri":
                f"http://127.0.0.1:{self.port}/cis2/backchannel-logout",
            "token_endpoint_auth_method": "client_secret_post",
            "id_token_signed_response_alg": "RS256",
        }]
        d = tempfile.mkdtemp(prefix="cis2-soak-")
        path = os.path.join(d, "clients.json")
        with open(path, "w") as f:
            json.dump(clients, f)
        self.sim = T.Sim(T.free_port(), path).start()
        self.h.provider["metadata_url"] = self.sim.discovery_url
        self.h.write_conf()
        self.h.start()
        self.log_start = 0

    def close(self):
        try:
            self.h.stop()
        finally:
            self.sim.stop()

    # ---- the parts -------------------------------------------------------

    def login(self, user):
        s = browser()
        # a static protected page: mod_cgid itself answers 503 to requests
        # racing the restart of its daemon at a graceful restart (AH02833),
        # which would say nothing about mod_cis2 (docs/security.md §5)
        r = T.login(s, self.h.url("/protected/secret.txt"), user, timeout=30)
        if r.status_code != 200 or T.PROTECTED_MARKER not in r.text:
            if r.status_code >= 500:
                self.count("login_5xx")
            raise AssertionError(f"login {user}: {r.status_code} {r.text[:200]}")
        sid = s.cookies.get("cis2_session")
        assert sid
        return s, sid

    def authed(self, sid):
        with browser() as b:
            r = b.get(self.h.url("/protected/secret.txt"),
                      headers={"Cookie": f"cis2_session={sid}",
                               "Accept": "application/json"},
                      allow_redirects=False, timeout=30)
        if r.status_code >= 500:
            self.problems.append(f"5xx on a session check: {r.status_code}")
        return r.status_code == 200 and T.PROTECTED_MARKER in r.text

    def make_sessions(self):
        def one(i):
            for attempt in range(3):
                try:
                    return self.login(USERS[i % len(USERS)])[1]
                except Exception as e:       # noqa: BLE001
                    err = e
            raise err
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(self.a.workers) as ex:
            self.sids = list(ex.map(one, range(self.a.sessions)))
        self.setup_secs = time.monotonic() - t0

    def lane_logins(self):
        i = 0
        while not self.stop.is_set():
            try:
                self.login(USERS[i % len(USERS)])
                self.count("logins")
            except Exception as e:           # noqa: BLE001
                self.count("login_fail")
                self.problems.append(f"login: {e}")
            i += 1

    def lane_bcl(self):
        while not self.stop.is_set():
            try:
                _, sid = self.login(VICTIM)
                assert self.authed(sid), "victim session not working before logout"
                r = requests.post(f"http://127.0.0.1:{self.sim.port}/_sim/backchannel-logout",
                                  json={"user": VICTIM, "claims": {"sid": None},
                                        "end_session": False}, timeout=30)
                out = r.json()
                assert [d.get("status") for d in out["deliveries"]] == [200], out
                assert not self.authed(sid), "session still works after back-channel logout"
                self.count("bcl")
            except Exception as e:           # noqa: BLE001
                self.count("bcl_fail")
                self.problems.append(f"back-channel logout: {e}")
            self.stop.wait(self.a.bcl_every)

    def lane_graceful(self):
        while not self.stop.wait(self.a.graceful):
            p = subprocess.run([T.APACHE2, "-f", self.h.conf, "-k", "graceful"],
                               capture_output=True, text=True, timeout=60,
                               env=T.httpd_env())
            self.count("graceful" if p.returncode == 0 else "graceful_fail")

    def lane_sampler(self):
        while not self.stop.wait(5):
            pid = self.h.pid()
            if pid:
                self.rss.append(rss_kb(pid))
            for sid in random.sample(self.sids, min(50, len(self.sids))):
                self.count("checks")
                if not self.authed(sid):
                    self.count("lost")
                    self.problems.append("a session from the set stopped working")

    def wrk(self):
        cookies = os.path.join(self.h.root, "soak-cookies.txt")
        with open(cookies, "w") as f:
            f.write("\n".join(self.sids) + "\n")
        env = dict(os.environ, SOAK_COOKIES=cookies)
        p = subprocess.run(["wrk", "-t2", f"-c{self.a.connections}", f"-d{self.a.duration}s",
                            "--timeout", "10s", "-s", os.path.join(HERE, "soak.lua"),
                            self.h.url("/protected/secret.txt")],
                           capture_output=True, text=True, env=env,
                           timeout=self.a.duration + 120)
        self.wrk_out = p.stdout + p.stderr
        m = re.search(r"SOAK (.*)", self.wrk_out)
        self.wrk_stats = dict(kv.split("=") for kv in m.group(1).split()) if m else {}
        m = re.search(r"Requests/sec:\s+([\d.]+)", self.wrk_out)
        self.wrk_stats["rps"] = m.group(1) if m else "?"

    # ---- the run ---------------------------------------------------------

    def run(self):
        self.start()
        try:
            print(f"soak: {self.a.sessions} sessions ...", flush=True)
            self.make_sessions()
            print(f"soak: sessions made in {self.setup_secs:.0f}s; load for "
                  f"{self.a.duration}s, graceful every {self.a.graceful}s", flush=True)
            pid = self.h.pid()
            self.rss.append(rss_kb(pid))
            lanes = [threading.Thread(target=f, daemon=True) for f in
                     [self.lane_graceful, self.lane_sampler, self.lane_bcl]
                     + [self.lane_logins] * self.a.login_lanes]
            for t in lanes:
                t.start()
            self.wrk()
            self.stop.set()
            for t in lanes:
                t.join(120)
            time.sleep(1)
            lost_final = [sid for sid in self.sids if not self.authed(sid)]
            self.rss.append(rss_kb(self.h.pid()))
            log = self.h.read_log()
            return self.report(lost_final, log)
        finally:
            self.close()

    def report(self, lost_final, log):
        crashes = [l for l in log.splitlines()
                   if T.CRASH_RE.search(l) or T.SANITIZER_RE.search(l)]
        errors = [l for l in log.splitlines()
                  if (m := T.LEVEL_RE.match(l)) and m.group(2) in ("error", "crit",
                                                                   "alert", "emerg")]
        warm = self.rss[1] if len(self.rss) > 2 else self.rss[0]
        last = self.rss[-1]
        growth = (last[0] - warm[0]) / max(1, warm[0])
        w = self.wrk_stats
        summary = {
            "sessions": self.a.sessions, "setup_secs": round(self.setup_secs),
            "duration_secs": self.a.duration, "graceful_every_secs": self.a.graceful,
            "wrk_requests": int(w.get("requests", 0)), "wrk_rps": w.get("rps"),
            "wrk_p50_us": int(w.get("p50_us", 0)), "wrk_p99_us": int(w.get("p99_us", 0)),
            "wrk_5xx": int(w.get("s5xx", -1)), "wrk_non200": int(w.get("non200", -1)),
            # connections closed by graceful restarts (keep-alive race)
            "wrk_socket_errors": sum(int(w.get(k, 0)) for k in
                                     ("errors_connect", "errors_read", "errors_write",
                                      "errors_timeout")),
            **self.c,
            "lost_sessions_final": len(lost_final),
            "rss_kb_start": self.rss[0][0], "rss_kb_warm": warm[0], "rss_kb_end": last[0],
            "rss_kb_max": max(r[0] for r in self.rss),
            "httpd_processes_end": last[1],
            "rss_growth_pct": round(100 * growth, 1),
            "child_crashes_or_sanitizer": len(crashes),
            "error_log_errors": len(errors),
        }
        print(json.dumps(summary, indent=1))
        fails = []
        if summary["wrk_5xx"] != 0:
            fails.append("5xx under load")
        if summary["wrk_non200"] != 0:
            fails.append("non-200 for a valid session under load")
        if summary["lost"] or lost_final:
            fails.append("lost sessions")
        if self.c["login_fail"] or self.c["bcl_fail"] or self.c["graceful_fail"]:
            fails.append("failed logins, logouts or restarts")
        if self.c["graceful"] == 0 or self.c["bcl"] == 0 or self.c["logins"] == 0:
            fails.append("a lane did nothing")
        if crashes:
            fails.append("child crash or sanitizer report")
        if errors:
            fails.append("error-level lines in error_log")
        if growth > self.a.rss_slack:
            fails.append(f"RSS grew {100 * growth:.0f}%")
        for p in sorted(set(self.problems))[:20]:
            print("problem:", p)
        for l in (crashes + errors)[:20]:
            print("log:", l)
        print("SOAK", "FAIL: " + "; ".join(fails) if fails else "PASS", flush=True)
        return 1 if fails else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=2000)
    ap.add_argument("--duration", type=int, default=120, help="seconds of load")
    ap.add_argument("--graceful", type=float, default=3.0, help="seconds between graceful restarts")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=8, help="threads making sessions")
    ap.add_argument("--login-lanes", type=int, default=2)
    ap.add_argument("--bcl-every", type=float, default=2.0)
    ap.add_argument("--rss-slack", type=float, default=0.25)
    a = ap.parse_args()
    if not 1 <= a.sessions <= 100000 or not 5 <= a.duration <= 3600:
        ap.error("bounded: 1..100000 sessions, 5..3600 s")
    # SIGTERM/SIGINT end the run through the finally: blocks (httpd and the
    # simulator are stopped, nothing is left behind)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(Soak(a).run())


if __name__ == "__main__":
    main()
