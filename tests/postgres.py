"""A real PostgreSQL server for tests and benchmarks: its own data folder, a free loopback port, a password.

Uses the server programs of the machine's PostgreSQL (Debian's `postgresql` package, which `.ci/run` installs
when missing). PostgreSQL refuses to run as root, so as root the server runs as the `postgres` system user
(`runuser`). The superuser `bedcast` has a password, so URLs carry one as they do in production.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["PostgresServer", "server_programs"]

USER = "bedcast"


def server_programs() -> Path:
    """The folder with `initdb` and `pg_ctl` (the newest installed PostgreSQL).

    Raises:
        RuntimeError: no PostgreSQL server is installed, saying how to install one.
    """
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    raise RuntimeError("no PostgreSQL server programs (initdb, pg_ctl): `apt-get install -y postgresql` (.ci/run does)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """Start with `start()` (or `with`), stop with `stop()`; `url(database)` is a SQLAlchemy URL with the password.

    Args:
        durable: keep PostgreSQL's default fsync on every commit (benchmarks); tests turn it off for speed.
    """

    def __init__(self, durable: bool = False):
        self.durable = durable
        self.password = secrets.token_urlsafe(16)
        self.port = 0
        self.folder: Path | None = None
        self._as_postgres = os.geteuid() == 0

    def _run(self, *command: str | Path, check: bool = True) -> subprocess.CompletedProcess:
        args = [str(c) for c in command]
        if self._as_postgres:
            args = ["runuser", "-u", "postgres", "--", *args]
        return subprocess.run(args, capture_output=True, text=True, check=check, timeout=120)

    def start(self) -> PostgresServer:
        bin_dir = server_programs()
        self.folder = Path(tempfile.mkdtemp(prefix="bedcast-pg-"))
        data, sockets = self.folder / "data", self.folder / "sockets"
        sockets.mkdir()
        secret = self.folder / "password"
        secret.write_text(self.password)
        if self._as_postgres:
            shutil.chown(self.folder, "postgres")
            shutil.chown(sockets, "postgres")
            shutil.chown(secret, "postgres")
        self._run(
            bin_dir / "initdb",
            "-D",
            data,
            "-U",
            USER,
            f"--pwfile={secret}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        secret.unlink()
        options = ["-c", "max_connections=200"]
        if not self.durable:
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        for _attempt in range(5):  # another process may take the free port before the server binds it
            self.port = _free_port()
            started = self._run(
                bin_dir / "pg_ctl",
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                data,
                "-l",
                self.folder / "server.log",
                "-o",
                " ".join([f"-p {self.port} -h 127.0.0.1 -k {sockets}", *options]),
                check=False,
            )
            if started.returncode == 0:
                return self
        raise RuntimeError(f"PostgreSQL did not start: {started.stderr.strip()} {self.log()[-2000:]}")

    def create_database(self, name: str) -> str:
        """Create a database and return its SQLAlchemy URL."""
        import sqlalchemy as sa

        engine = sa.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def log(self) -> str:
        path = self.folder / "server.log" if self.folder else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def stop(self) -> None:
        if self.folder is None:
            return
        self._run(server_programs() / "pg_ctl", "stop", "-m", "immediate", "-D", self.folder / "data", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
