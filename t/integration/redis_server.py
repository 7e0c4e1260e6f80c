"""A private redis-server for tests: own port on 127.0.0.1, own temp dir,
stopped by pid; and a tiny RESP client to read what it holds.

Debian's /usr/bin/redis-server (package redis-server). No Python redis
module is needed.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import cis2test as T

REDIS_SERVER = "/usr/bin/redis-server"


class RedisServer:
    def __init__(self, port=None, tls=None):
        """tls: a dict of cert, key, ca file paths (and optional
        auth_clients=True): the server listens with TLS only, on port."""
        self.port = port or T.free_port()
        self.dir = tempfile.mkdtemp(prefix="cis2-redis-")
        self.proc = None
        self.tls = tls

    def start(self, timeout=10):
        if not os.path.exists(REDIS_SERVER):
            raise RuntimeError("redis-server missing: apt-get install redis-server")
        # no automatic snapshots: a test decides when (SAVE) and reloads
        # dump.rdb from its dir when restarted
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", self.dir, "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--logfile", "redis.log"] + self.tls_args(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.tls:
                    socket.create_connection(("127.0.0.1", self.port), 1).close()
                    return self
                if self.command("PING") == "PONG":
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on {self.port}")

    def tls_args(self):
        if not self.tls:
            return []
        t = self.tls
        return ["--port", "0", "--tls-port", str(self.port),
                "--tls-cert-file", t["cert"], "--tls-key-file", t["key"],
                "--tls-ca-cert-file", t["ca"], "--tls-auth-clients",
                "yes" if t.get("auth_clients") else "no"]

    def kill(self):
        """Stop it hard (as a crash would): only what was SAVEd survives."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    # -- RESP ------------------------------------------------------------

    def command(self, *args):
        with socket.create_connection(("127.0.0.1", self.port), 2) as s:
            out = [f"*{len(args)}\r\n".encode()]
            for a in args:
                b = a if isinstance(a, bytes) else str(a).encode()
                out.append(b"$%d\r\n%s\r\n" % (len(b), b))
            s.sendall(b"".join(out))
            f = s.makefile("rb")
            return _read(f)


def _read(f):
    line = f.readline()
    if not line:
        raise OSError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read(f) for _ in range(n)]
    raise OSError(f"bad RESP reply {line!r}")
