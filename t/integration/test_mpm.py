"""mod_cis2 under the prefork and worker MPMs (issue #4: the store "works
under prefork, worker and event MPMs"; the rest of the suite runs event,
or any MPM with CIS2_TEST_MPM=prefork|worker).

Each httpd serves every connection from a new child process
(MaxConnectionsPerChild 1), so a login's redirect, callback and first page,
each later request and the back-channel logout are handled by different
processes: only the shared store connects them. Then a graceful restart
keeps the session (retained shared memory), and a local logout ends it."""

import os
import re

import pytest

import cis2test as T
from test_logout import (ONE_CONNECTION_PER_CHILD, BclSetup, authed,
                         check_bcl_across_processes, login)

# one connection per child process (and, for worker, few threads per child
# and many children, as for test_logout.py's event httpd)
# and which process served each request (%P), to check the spread
PIDS_LOG = 'CustomLog logs/pids_log "%P %U %>s"\n'
EXTRA = {"prefork": "MaxConnectionsPerChild 1\n" + PIDS_LOG,
         "worker": ONE_CONNECTION_PER_CHILD + PIDS_LOG}


@pytest.fixture(scope="module", params=["prefork", "worker"])
def mpm_setup(request, module_httpd_factory, port_pool):
    b = BclSetup(module_httpd_factory, port_pool, f"mpm-{request.param}",
                 extra_conf=EXTRA[request.param], mpm=request.param)
    b.mpm = request.param
    yield b
    b.stop()


def loaded_mpm(h):
    with open(h.conf) as f:
        m = re.search(r"LoadModule (mpm_\w+)_module", f.read())
    return m.group(1)


def test_sign_in_and_session_across_processes(mpm_setup, users):
    b = mpm_setup
    h = b.h
    assert loaded_mpm(h) == f"mpm_{b.mpm}", "the httpd runs another MPM"
    s = login(h, "doctor")
    env = T.app_env(s.get(h.url("/app/app.cgi")))
    doctor = T.SimUser(next(u for u in users if u.get("id") == "doctor"))
    assert env["REMOTE_USER"] == doctor.sub
    assert env["CIS2_UID"] == doctor.sub
    assert len(env["CIS2_ROLES"].split(",")) == len(doctor.roles), env
    # twenty more requests, each on a new connection, so in a new process
    codes = []
    for _ in range(20):
        s.close()
        codes.append(s.get(h.url("/protected/secret.txt"),
                           allow_redirects=False).status_code)
    assert codes == [200] * 20, codes
    # the twenty were served by several processes (one connection per
    # child), each finding the session in the shared store
    with open(os.path.join(h.root, "logs", "pids_log")) as f:
        served = [l.split() for l in f]
    pids = {pid for pid, uri, code in served
            if uri == "/protected/secret.txt" and code == "200"}
    assert len(pids) >= 2, f"expected several processes: {served}"


def test_back_channel_logout_reaches_every_process(mpm_setup):
    check_bcl_across_processes(mpm_setup)


def test_graceful_restart_keeps_sessions_then_logout(mpm_setup):
    b = mpm_setup
    h = b.h
    s = login(h, "nurse")
    start = h.log_size()
    h.graceful()
    assert h.wait_log(r"CIS2-10011", start, timeout=15), h.read_log(start)
    s.close()           # one connection per child: ask on a new one
    assert authed(s, h), "the session did not survive a graceful restart"
    s.close()
    r = s.get(h.url("/cis2/logout"), allow_redirects=False)
    assert r.status_code == 200 and "signed out" in r.text
    s.close()
    assert not authed(s, h)
