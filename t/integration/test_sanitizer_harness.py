"""The harness side of the sanitizer CI (t/run-sanitizers, issue #7): the
error_log checker must flag ASan, LSan and UBSan reports, and under
CIS2_HTTPD_PRELOAD the httpd processes really run the ASan runtime and the
instrumented module (else the sanitizer integration run would prove
nothing)."""

import os

import cis2test as T

REPORTS = [
    "==12345==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x6020 at pc",
    "==12345==ERROR: LeakSanitizer: detected memory leaks",
    "mod_cis2/cis2_url.c:120:9: runtime error: signed integer overflow",
    "SUMMARY: AddressSanitizer: heap-use-after-free mod_cis2/cis2_shm.c:300",
    "SUMMARY: UndefinedBehaviorSanitizer: undefined-behavior cis2_util.c:5:1",
]


def test_checker_flags_sanitizer_reports():
    for line in REPORTS:
        assert T.SANITIZER_RE.search(line), line
    assert not T.SANITIZER_RE.search(
        "[Sun Nov 29 05:00:00 2026] [cis2:info] [pid 1] CIS2-00201: session cookie ignored")


def test_httpd_runs_the_module_under_test(httpd):
    """Every httpd process maps the module given by CIS2_MODULE, and with
    CIS2_HTTPD_PRELOAD also the ASan runtime."""
    import time
    import requests
    requests.get(httpd.url("/index.html"), timeout=20)   # a child is up
    deadline = time.time() + 10
    while httpd.pid() is None and time.time() < deadline:
        time.sleep(0.1)                 # the pid file may trail the listener
    httpd_pid = httpd.pid()
    assert httpd_pid, "httpd wrote no pid file"
    pids = [httpd_pid]
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == httpd_pid:
                        pids.append(int(p))
            except (OSError, ValueError, IndexError):
                pass
    assert len(pids) >= 2, "no httpd children"
    module = os.path.realpath(T.CIS2_MODULE)
    preload = os.environ.get("CIS2_HTTPD_PRELOAD")
    for pid in pids:
        with open(f"/proc/{pid}/maps") as f:
            maps = f.read()
        assert module in maps, f"httpd pid {pid} does not map {module}"
        if preload:
            assert "libasan" in maps, f"httpd pid {pid} runs without the ASan runtime"
