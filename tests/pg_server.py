"""A real PostgreSQL server for the tests, started on loopback in a temporary directory.

`PgServer.start()` runs initdb (as an unprivileged user when we are root: the server refuses to
run as root), starts `postgres` on a free port with its unix socket in the same directory, and
`stop()` ends it (immediate shutdown) and removes the directory. One server serves the whole test
session (conftest.py: `pg_server`); each test gets a schema of its own (`pg_url`), so tests never see
each other's rows. fsync is off: the tests kill bot processes, never the server.

`make test` installs the server from the distribution's packages when it is missing
(.ci/ensure-postgresql.sh); without it the tests that need it are skipped, except on CI (`CI` set),
where they fail.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

TEST_USER = "ozonbot-pgtest"  # the unprivileged owner of the test cluster when we run as root


class NoServer(RuntimeError):
    """No PostgreSQL server binaries here (and none could be installed)."""


def find_bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout
        bindir = Path(out.strip())
        if (bindir / "initdb").exists():
            return bindir
    raise NoServer("no PostgreSQL server binaries (initdb) found; `make test` installs them with apt-get "
                   "(.ci/ensure-postgresql.sh) when run as root")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unprivileged_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    made = subprocess.run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER],
                          capture_output=True, text=True)
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        pass
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        raise NoServer(f"running as root and no unprivileged user to run PostgreSQL as: {made.stderr}") from None


class PgServer:
    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="ozonbot-pg-"))
        self.data = self.dir / "data"
        self.port = 0
        self._user: pwd.struct_passwd | None = None

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [str(a) for a in args]
        kwargs: dict = {}
        if self._user is not None:
            uid, gid = self._user.pw_uid, self._user.pw_gid

            def demote() -> None:
                os.setgroups([])
                os.setgid(gid)
                os.setuid(uid)

            kwargs["preexec_fn"] = demote
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=self.dir, check=False,
                              **kwargs)

    def start(self) -> PgServer:
        if os.geteuid() == 0:
            self._user = _unprivileged_user()
            os.chown(self.dir, self._user.pw_uid, self._user.pw_gid)
        os.chmod(self.dir, 0o755)
        made = self._run(self.bindir / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                         "--no-sync", "--locale=C")
        if made.returncode:
            raise RuntimeError(f"initdb failed: {made.stderr or made.stdout}")
        for attempt in range(5):
            self.port = _free_port()
            options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300 "
                       "-c shared_buffers=32MB")
            started = self._run(self.bindir / "pg_ctl", "-D", self.data, "-l", self.dir / "server.log", "-o", options,
                                "-w", "-t", "60", "start")
            if started.returncode == 0:
                return self
            if attempt == 4:
                log = (self.dir / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"PostgreSQL did not start: {started.stderr or started.stdout}\n{log}")
            time.sleep(0.2)  # the port was taken in between: try another
        return self

    def url(self, database: str = "postgres", **params: str) -> str:
        """A DATABASE_URL for asyncpg: the unix socket in the server's directory."""
        query = "&".join([f"host={self.dir}", f"port={self.port}"] + [f"{k}={v}" for k, v in params.items()])
        return f"postgresql://postgres@/{database}?{query}"

    def psql(self, sql: str) -> str:
        done = subprocess.run([str(self.bindir / "psql"), "-h", str(self.dir), "-p", str(self.port), "-U", "postgres",
                               "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
                              capture_output=True, text=True, timeout=60, check=False)
        if done.returncode:
            raise RuntimeError(f"psql failed: {done.stderr}")
        return done.stdout

    def stop(self) -> None:
        try:
            if self.port:
                self._run(self.bindir / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", timeout=60)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
