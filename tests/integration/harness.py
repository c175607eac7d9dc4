"""End-to-end test harness for Parley: real relay and client processes on loopback.

Standard library only. Each test file does:

    import harness
    def test_something(t):           # t is a harness.Case
        with t.relay() as relay:
            users = t.make_users(["alice", "bob"])
            ...
    if __name__ == "__main__":
        harness.main([test_something])

and is run by ctest as `python3 test_x.py --parley PATH --relay PATH`.

Conventions:
- Every test function gets its own temporary directory (Case.tmp). It is removed
  when the test passes and kept (path printed) when it fails. Every process's
  stdout and stderr go to files under TMP/logs/, so a kept directory shows what
  each process said.
- Every wait is bounded; processes still running when a test ends are killed.
- Each simulated user has a "flash drive" directory TMP/NAME holding NAME.pem and
  public_keys/, and its own local state directory TMP/NAME/state (--state).
- HOME points at TMP/home so nothing touches the real home directory.
- Listener counts (`listen --count N`) include the user's own messages sent from
  another process (those arrive with own=true): a listener expects every message
  of the room.
- Rooms are made by `User.create` (`parley create`), whose last stdout line is the
  room's invite: it is kept in Case.invites[room]. Any other room command of a user
  (send, listen, chat, rekey, history, invite) on a room with an invite that this
  user's state folder has not joined yet first runs `parley join INVITE` (and
  requires it to succeed); the creator's state counts as joined. `auto_join=False`
  runs a command without that (to see what an unknown room does).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS_DIR = REPO_ROOT / "scripts"

DEFAULT_PASSWORD = "correct horse battery staple 42"
# "parley-relay: " in the plain log format, "<5>" (a priority) in the journal's.
READY_RE = re.compile(r"(?:parley-relay: |<\d>)listening on (wss?)://([^\s/]+):(\d+)")
# Printed before the READY_RE line when the metrics address is on.
METRICS_RE = re.compile(r"(?:parley-relay: |<\d>)metrics on http://([^\s/]+):(\d+)/metrics")
INVITE_RE = re.compile(r"^parley-invite:1:([A-Za-z0-9._-]{1,64}):([0-9a-f]{64}):([0-9a-f]{64}):(wss?://\S+)$")
# Commands that name a room the device must know (joined or created).
ROOM_COMMANDS = ("send", "listen", "chat", "rekey", "upgrade", "history", "invite")
STARTUP_TIMEOUT_S = 20.0
COMMAND_TIMEOUT_S = 45.0
STOP_TIMEOUT_S = 10.0
JOIN_TIMEOUT_S = 30.0

_args: Optional[argparse.Namespace] = None


def args() -> argparse.Namespace:
    """The parsed --parley/--relay arguments (parsed once)."""
    global _args
    if _args is None:
        parser = argparse.ArgumentParser(description="Parley end-to-end test")
        parser.add_argument("--parley", required=True, help="path to the parley client")
        parser.add_argument("--relay", required=True, help="path to parley-relay")
        parser.add_argument("--keep", action="store_true", help="keep temp dirs even on success")
        parser.add_argument("-k", dest="only", default=None, help="run only tests containing this")
        _args = parser.parse_args()
        for path in (_args.parley, _args.relay):
            if not os.access(path, os.X_OK):
                parser.error(f"not an executable: {path}")
        _args.parley = str(Path(_args.parley).resolve())
        _args.relay = str(Path(_args.relay).resolve())
    return _args


def tail(text: str, lines: int = 30) -> str:
    parts = text.rstrip("\n").splitlines()
    if len(parts) > lines:
        parts = ["[...]"] + parts[-lines:]
    return "\n".join("    | " + p for p in parts) if parts else "    | (empty)"


def normalize_fingerprint(text: str) -> str:
    """Lowercase alphanumerics only, so 'AB:CD ef' and 'abcdef' compare equal."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


class Invite:
    """A parsed `parley-invite:1:NAME:ROOMHEX:GENESISHEX:SERVER` line."""

    def __init__(self, line: str):
        match = INVITE_RE.match(line.strip())
        assert match, f"not a well-formed invite: {line!r}"
        self.line = line.strip()
        self.name = match.group(1)
        self.room = bytes.fromhex(match.group(2))
        self.genesis = bytes.fromhex(match.group(3))
        self.server = match.group(4)

    def __str__(self) -> str:
        return self.line


def invite_of(result: "Result", what: str = "create") -> str:
    """The invite `parley create` (or `parley invite`) printed: its stdout's last line."""
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert lines and INVITE_RE.match(lines[-1].strip()), (
        f"{what}: stdout's last line is not an invite (parley-invite:1:NAME:ROOM:GENESIS:SERVER)"
        f"\n  {result.describe()}")
    return lines[-1].strip()


def flag_value(argv: Sequence[str], name: str) -> Optional[str]:
    """The value of `--name V` or `--name=V` in argv (the last one), else None."""
    value = None
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif a.startswith(name + "="):
            value = a[len(name) + 1:]
    return value


# --------------------------------------------------------------------------- processes


class Result:
    """A finished process: exit code and captured output."""

    def __init__(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str):
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def describe(self) -> str:
        cmd = " ".join(self.argv)
        return (f"command: {cmd}\n  exit code: {self.returncode}\n"
                f"  stdout:\n{tail(self.stdout)}\n  stderr:\n{tail(self.stderr)}")

    def expect_ok(self, what: str) -> "Result":
        assert self.returncode == 0, f"{what}: expected exit 0\n  {self.describe()}"
        return self

    def expect_fail(self, what: str, *mentions: str) -> "Result":
        """Non-zero exit, and stderr (or stdout) mentions at least one of `mentions`."""
        assert self.returncode != 0, f"{what}: expected a non-zero exit\n  {self.describe()}"
        if mentions:
            said = (self.stderr + "\n" + self.stdout).lower()
            assert any(m.lower() in said for m in mentions), (
                f"{what}: expected the error to mention one of {list(mentions)}\n"
                f"  {self.describe()}")
        return self


class Proc:
    """A background process whose stdout/stderr go to log files (no pipe deadlocks)."""

    def __init__(self, case: "Case", name: str, argv: Sequence[str], env: dict,
                 stdin_data: Optional[str] = None, cwd: Optional[Path] = None,
                 stdin_pipe: bool = False):
        self.case = case
        self.name = name
        self.argv = list(argv)
        seq = case.next_seq()
        self.out_path = case.logs / f"{seq:03d}-{name}.out"
        self.err_path = case.logs / f"{seq:03d}-{name}.err"
        (case.logs / f"{seq:03d}-{name}.cmd").write_text(" ".join(self.argv) + "\n")
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE if stdin_data is not None or stdin_pipe else subprocess.DEVNULL,
            stdout=self._out, stderr=self._err, env=env, cwd=str(cwd or case.tmp),
            start_new_session=True)
        case.procs.append(self)
        if stdin_data is not None:
            try:
                self.popen.stdin.write(stdin_data.encode())
                self.popen.stdin.close()
            except BrokenPipeError:
                pass

    def write_stdin(self, data: str, close: bool = False) -> None:
        """For stdin_pipe=True: write to the still-open stdin (and optionally close it)."""
        try:
            self.popen.stdin.write(data.encode())
            self.popen.stdin.flush()
            if close:
                self.popen.stdin.close()
        except (BrokenPipeError, ValueError):
            pass

    def wait_for_stdout(self, pattern: re.Pattern, timeout: float, what: str) -> re.Match:
        return self._wait_for("stdout", self.stdout, pattern, timeout, what)

    def _wait_for(self, stream: str, read: Callable[[], str], pattern: re.Pattern,
                  timeout: float, what: str) -> re.Match:
        """Poll `read()` until `pattern` shows; fail if the process exits first
        or the deadline passes (killing it)."""
        deadline = time.monotonic() + timeout
        while True:
            match = pattern.search(read())
            if match:
                return match
            if not self.running():
                raise AssertionError(f"{what}: process exited before printing "
                                     f"{pattern.pattern!r}\n  {self.result().describe()}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"{what}: no {pattern.pattern!r} on {stream} within "
                                     f"{timeout:.0f}s\n  {self.result(-9).describe()}")
            time.sleep(0.05)

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.popen.poll() is None

    def wait(self, timeout: float, what: str = "") -> Result:
        """Wait for exit; on timeout kill the process and fail the test."""
        try:
            rc = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"{what or self.name}: still running after {timeout:.0f}s, killed\n"
                f"  {self.result(-9).describe()}")
        return self.result(rc)

    def result(self, rc: Optional[int] = None) -> Result:
        self._out.flush()
        self._err.flush()
        return Result(self.argv, self.popen.returncode if rc is None else rc,
                      self.stdout(), self.stderr())

    def wait_for_stderr(self, pattern: re.Pattern, timeout: float, what: str) -> re.Match:
        return self._wait_for("stderr", self.stderr, pattern, timeout, what)

    def signal(self, sig: int) -> None:
        if self.running():
            try:
                self.popen.send_signal(sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        if self.running():
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.popen.kill()
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def close(self) -> None:
        self.kill()
        if self.popen.stdin is not None:
            try:
                self.popen.stdin.close()
            except (BrokenPipeError, OSError):
                pass
        self._out.close()
        self._err.close()


# --------------------------------------------------------------------------- relay


class Relay:
    """A parley-relay on 127.0.0.1 with an OS-chosen port. Use as a context manager.

    Its metrics address (--metrics-listen) is 127.0.0.1 on another OS-chosen port,
    kept in metrics_port, unless extra_args name one: relays started in parallel
    never fight over the default 127.0.0.1:9464."""

    def __init__(self, case: "Case", cert: Optional[Path] = None, key: Optional[Path] = None,
                 extra_args: Sequence[str] = (), data: Optional[Path] = None, port: int = 0,
                 store: Optional[str] = None):
        self.case = case
        self.store = store  # a postgresql:// URL instead of a data folder
        self.cert = cert
        self.key = key
        self.extra_args = list(extra_args)
        # Its own data directory unless one is given (to restart on the same data).
        self.data = data if data is not None else case.fresh_dir("relay-data")
        self.fixed_port = port
        self.proc: Optional[Proc] = None
        self.scheme = ""
        self.port = 0
        self.metrics_port = 0  # 0: metrics off

    def start(self) -> "Relay":
        argv = [args().relay, "--listen", f"127.0.0.1:{self.fixed_port}"]
        argv += ["--store", self.store] if self.store else ["--data", str(self.data)]
        if self.cert:
            argv += ["--cert", str(self.cert), "--key", str(self.key)]
        if flag_value(self.extra_args, "--metrics-listen") is None:
            argv += ["--metrics-listen", "127.0.0.1:0"]
        argv += self.extra_args
        # Its own working directory; state lives in self.data (fresh unless given).
        cwd = self.case.fresh_dir("relay")
        self.proc = Proc(self.case, "relay", argv, self.case.env(), cwd=cwd)
        match = self.proc.wait_for_stderr(READY_RE, STARTUP_TIMEOUT_S, "relay start")
        self.scheme, self.port = match.group(1), int(match.group(3))
        metrics = METRICS_RE.search(self.proc.stderr())
        self.metrics_port = int(metrics.group(2)) if metrics else 0
        expected = "wss" if self.cert else "ws"
        assert self.scheme == expected, f"relay announced {self.scheme}://, expected {expected}://"
        return self

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url_for(self, host: str) -> str:
        return f"{self.scheme}://{host}:{self.port}"

    def db_counts(self) -> dict:
        """Rows in the relay database's chains, records and log tables (read-only,
        beside the running relay): what it holds."""
        import sqlite3
        path = self.data / "relay.sqlite"
        assert path.is_file(), f"no relay database at {path}"
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            return {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                    for table in ("chains", "records", "log")}
        finally:
            db.close()

    def stop(self) -> None:
        """SIGTERM, and require a clean exit 0."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.signal(signal.SIGTERM)
        result = proc.wait(STOP_TIMEOUT_S, "relay stop (SIGTERM)")
        assert result.returncode == 0, f"relay: exit code after SIGTERM is not 0\n  {result.describe()}"

    def kill9(self) -> None:
        """SIGKILL: a crash, no chance to clean up."""
        if self.proc is not None:
            proc, self.proc = self.proc, None
            proc.signal(signal.SIGKILL)
            proc.wait(STOP_TIMEOUT_S, "relay after SIGKILL")

    def __enter__(self) -> "Relay":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.stop()
        elif self.proc is not None:
            self.proc.kill()


class PostgreSQL:
    """A PostgreSQL 15 server of the test's own (as in tests/integration/pg_server.h):
    initdb and pg_ctl in a temporary folder, as nobody when run as root, listening
    on a Unix socket only. Use as a context manager; url(db) makes the database."""

    BIN = Path("/usr/lib/postgresql/15/bin")

    def __init__(self, case: "Case"):
        self.case = case
        self.dir = Path(tempfile.mkdtemp(prefix="parley-pg-"))
        self.as_user = []
        if os.geteuid() == 0:
            import pwd
            nobody = pwd.getpwnam("nobody")
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
            self.as_user = ["runuser", "-u", "nobody", "--"]
        self.created: set = set()

    def _run(self, argv: Sequence[str], what: str) -> None:
        result = subprocess.run(self.as_user + list(argv), capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}"

    def start(self) -> "PostgreSQL":
        data = self.dir / "data"
        self._run([str(self.BIN / "initdb"), "-D", str(data), "-U", "parley", "-A", "trust", "--no-sync",
                   "-E", "UTF8", "--no-locale"], "initdb")
        self._run([str(self.BIN / "pg_ctl"), "-D", str(data), "-l", str(self.dir / "server.log"), "-w", "-t", "60",
                   "-o", f"-k {self.dir} -c listen_addresses='' -c fsync=off", "start"], "pg_ctl start")
        return self

    def url(self, db: str) -> str:
        if db not in self.created:
            self._run([str(self.BIN / "createdb"), "-h", str(self.dir), "-U", "parley", db], "createdb")
            self.created.add(db)
        return f"postgresql:///{db}?host={self.dir}&user=parley"

    def sql(self, db: str, statement: str) -> str:
        """Runs `statement` in `db` as the superuser; its output, unaligned."""
        result = subprocess.run(self.as_user + [str(self.BIN / "psql"), "-h",
                                                str(self.dir), "-U", "parley", "-d", db, "-At", "-v",
                                                "ON_ERROR_STOP=1", "-c", statement],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"psql {statement!r} failed:\n{result.stdout}{result.stderr}"
        return result.stdout

    def __enter__(self) -> "PostgreSQL":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        subprocess.run(self.as_user + [str(self.BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate",
                                       "-w", "stop"], capture_output=True, timeout=120)
        shutil.rmtree(self.dir, ignore_errors=True)


def http_get(port: int, path: str, timeout: float = 10.0) -> tuple:
    """(status, head, body) of a plain HTTP/1.1 GET on 127.0.0.1:port, read to EOF.
    `head` is the status line and headers, lowercased."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    assert match, f"GET {path} on port {port}: not an HTTP answer: {data[:100]!r}"
    return int(match.group(1)), head.decode(errors="replace").lower(), body.decode(errors="replace")


def free_port() -> int:
    """A port that was free a moment ago, for a relay that must come back on it."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- users


class User:
    """One simulated person: a flash-drive directory and a local state directory."""

    def __init__(self, case: "Case", name: str, password: str = DEFAULT_PASSWORD):
        self.case = case
        self.name = name
        self.dir = case.tmp / name
        self.state = self.dir / "state"
        self.password = password
        self.keygen_output = ""

    @property
    def key_file(self) -> Path:
        return self.dir / f"{self.name}.pem"

    @property
    def public_keys(self) -> Path:
        return self.dir / "public_keys"

    def room_args(self, room: str, server: str, ca: Optional[Path] = None,
                  state: Optional[Path] = None) -> list:
        argv = ["--user", self.name, "--room", room, "--server", server,
                "--dir", str(self.dir), "--state", str(state or self.state)]
        if ca is not None:
            argv += ["--ca", str(ca)]
        return argv

    def env(self, password: Optional[str] = None) -> dict:
        return self.case.env(PARLEY_PASSWORD=self.password if password is None else password)

    # ---- rooms: create, join, and the automatic join before a room command

    def joined(self, room: str, state: Optional[Path] = None) -> bool:
        return (str(state or self.state), room) in self.case.joined

    def mark_joined(self, room: str, state: Optional[Path] = None) -> None:
        self.case.joined.add((str(state or self.state), room))

    def remember_created(self, room: str, result: Result, state: Optional[Path] = None) -> str:
        """Record the invite a successful `create` printed (and that this state folder
        holds the room). Returns the invite."""
        invite = invite_of(result, f"{self.name}'s create of {room}")
        self.case.invites[room] = invite
        self.mark_joined(room, state)
        return invite

    def join(self, invite: Optional[str] = None, room: Optional[str] = None,
             server: Optional[str] = None, ca: Optional[Path] = None,
             password: Optional[str] = None, state: Optional[Path] = None,
             extra: Sequence[str] = (), timeout: float = COMMAND_TIMEOUT_S) -> Result:
        """`parley join INVITE` (the case's invite for `room` unless given); `--room` and
        `--server` only when given. On success the room counts as joined for `state`."""
        if invite is None:
            assert room in self.case.invites, f"no invite for room {room!r} in this test"
            invite = self.case.invites[room]
        state = state or self.state
        argv = ["join", invite, "--user", self.name, "--dir", str(self.dir), "--state", str(state)]
        if room is not None:
            argv += ["--room", room]
        if server is not None:
            argv += ["--server", server]
        if ca is not None:
            argv += ["--ca", str(ca)]
        result = self.run(argv + list(extra), password=password, timeout=timeout, auto_join=False)
        if result.returncode == 0:
            name = room
            if name is None:
                match = INVITE_RE.match(invite.strip())
                name = match.group(1) if match else None
            if name is not None:
                self.mark_joined(name, state)
        return result

    def ensure_joined(self, room: Optional[str], server: Optional[str] = None,
                      ca: Optional[Path] = None, state: Optional[Path] = None) -> None:
        """Join `room` with its invite first if this state folder has not (and the test
        has an invite for it), with this user's own password; the join must succeed."""
        if room is None or room not in self.case.invites or self.joined(room, state):
            return
        self.join(room=room, server=server, ca=ca, state=state).expect_ok(
            f"{self.name} joins {room} with its invite (before a room command)")

    def _auto_join(self, argv: Sequence[str]) -> None:
        if argv and argv[0] in ROOM_COMMANDS:
            state = flag_value(argv, "--state")
            ca = flag_value(argv, "--ca")
            self.ensure_joined(flag_value(argv, "--room"), flag_value(argv, "--server"),
                               Path(ca) if ca else None, Path(state) if state else None)

    def run(self, argv: Sequence[str], stdin: Optional[str] = None,
            password: Optional[str] = None, timeout: float = COMMAND_TIMEOUT_S,
            auto_join: bool = True) -> Result:
        """Run `parley ARGV...` as this user (password via PARLEY_PASSWORD). A room
        command first joins its room if needed (see the module docstring)."""
        if auto_join:
            self._auto_join(argv)
        return self.case.run_parley(argv, stdin=stdin, env=self.env(password), timeout=timeout,
                                    name=f"{self.name}-{argv[0]}")

    def start(self, cmd: str, room: str, server: str, extra: Sequence[str] = (),
              ca: Optional[Path] = None, stdin_pipe: bool = True, auto_join: bool = True,
              password: Optional[str] = None) -> "Proc":
        """`parley CMD` for a room in the background (stdin open for `chat` lines by
        default), after the automatic join."""
        if auto_join:
            self.ensure_joined(room, server, ca)
        argv = [args().parley, cmd] + self.room_args(room, server, ca) + list(extra)
        return Proc(self.case, f"{self.name}-{cmd}", argv, self.env(password), stdin_pipe=stdin_pipe)

    def room_cmd(self, cmd: str, room: str, server: str, extra: Sequence[str] = (),
                 ca: Optional[Path] = None, **kw) -> Result:
        return self.run([cmd] + self.room_args(room, server, ca) + list(extra), **kw)

    def create(self, room: str, server: str, remember: bool = True, **kw) -> Result:
        """`parley create`; on success the invite is kept in the case (unless
        remember=False) and this user counts as joined."""
        result = self.room_cmd("create", room, server, **kw)
        if result.returncode == 0 and remember:
            self.remember_created(room, result)
        return result

    def send(self, room: str, server: str, lines: Iterable[str], **kw) -> Result:
        text = "".join(line + "\n" for line in lines)
        return self.room_cmd("send", room, server, stdin=text, **kw)

    def start_send(self, room: str, server: str, lines: Iterable[str],
                   ca: Optional[Path] = None, auto_join: bool = True) -> Proc:
        """`parley send` in the background (for concurrent senders); wait() on it."""
        if auto_join:
            self.ensure_joined(room, server, ca)
        argv = [args().parley, "send"] + self.room_args(room, server, ca)
        return Proc(self.case, f"{self.name}-send", argv, self.env(),
                    stdin_data="".join(line + "\n" for line in lines))

    def rekey(self, room: str, server: str, extra: Sequence[str] = (), **kw) -> Result:
        return self.room_cmd("rekey", room, server, extra=extra, **kw)

    def fingerprint(self, name: Optional[str] = None) -> Result:
        argv = ["fingerprint", "--dir", str(self.dir)] + ([name] if name else [])
        return self.case.run_parley(argv, env=self.env(), name=f"{self.name}-fingerprint")

    def listen(self, room: str, server: str, count: int, timeout: Optional[float] = 40.0,
               ca: Optional[Path] = None, password: Optional[str] = None,
               wait_joined: bool = True, auto_join: bool = True, extra: Sequence[str] = ()) -> "Listener":
        if auto_join:
            self.ensure_joined(room, server, ca)
        listener = Listener(self, room, server, count, timeout, ca, password, extra)
        if wait_joined:
            listener.wait_joined()
        return listener


class Listener:
    """`parley listen` in the background, printing one JSON object per line."""

    JOINED_RE = re.compile(r"joined")
    NO_TIMEOUT_WAIT_S = 60.0

    def __init__(self, user: User, room: str, server: str, count: int, timeout: Optional[float],
                 ca: Optional[Path], password: Optional[str], extra: Sequence[str] = ()):
        # timeout None: no --timeout (listen waits for its count for good); the
        # test then waits at most NO_TIMEOUT_WAIT_S for it.
        self.user = user
        self.count = count
        self.timeout = timeout if timeout is not None else self.NO_TIMEOUT_WAIT_S
        argv = ([args().parley, "listen"] + user.room_args(room, server, ca) + ["--count", str(count)] +
                (["--timeout", str(int(timeout))] if timeout is not None else []) + list(extra))
        self.proc = Proc(user.case, f"{user.name}-listen", argv, user.env(password))
        self._result: Optional[Result] = None

    def wait_joined(self, timeout: float = JOIN_TIMEOUT_S) -> None:
        self.proc.wait_for_stderr(self.JOINED_RE, timeout, f"{self.user.name}'s listener join")

    def finish(self, extra_s: float = 15.0) -> Result:
        """Wait for exit (bounded by the listener's own --timeout plus a margin)."""
        if self._result is None:
            self._result = self.proc.wait(self.timeout + extra_s, f"{self.user.name}'s listener")
        return self._result

    def lines(self) -> list:
        """Every stdout line parsed as JSON; a line that is not JSON fails the test."""
        result = self.finish()
        parsed = []
        for raw in result.stdout.splitlines():
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError:
                raise AssertionError(f"{self.user.name}'s listener printed a non-JSON line: "
                                     f"{raw!r}\n  {result.describe()}")
            assert isinstance(obj, dict), f"listener line is not a JSON object: {raw!r}"
            parsed.append(obj)
        return parsed

    def messages(self) -> list:
        """The status=ok messages, in arrival order."""
        return [m for m in self.lines() if m.get("status") == "ok"]

    def expect_messages(self, expected: Sequence[tuple], fingerprints: dict) -> None:
        """Check this listener got exactly `expected` [(sender, text), ...]: each once,
        in each sender's order, status ok, with the right fingerprint and own flag.
        Also requires exit code 0 and no rejected lines."""
        who = f"{self.user.name}'s listener"
        result = self.finish()
        lines = self.lines()
        context = f"\n  {result.describe()}"
        rejected = [m for m in lines if m.get("status") == "rejected"]
        assert not rejected, f"{who}: rejected messages: {rejected}{context}"
        got = self.messages()
        got_pairs = [(m.get("from"), m.get("text")) for m in got]
        missing = [p for p in expected if p not in got_pairs]
        extra = [p for p in got_pairs if p not in expected]
        dups = sorted({p for p in got_pairs if got_pairs.count(p) > 1})
        assert not missing and not extra and not dups, (
            f"{who}: wrong message set\n  missing: {missing}\n  unexpected: {extra}\n"
            f"  duplicated: {dups}{context}")
        for sender in {s for s, _ in expected}:
            want = [t for s, t in expected if s == sender]
            have = [t for s, t in got_pairs if s == sender]
            assert want == have, f"{who}: {sender}'s messages out of order: {have} != {want}"
        for m in got:
            for key in ("room", "from", "fingerprint", "epoch", "time", "text", "status", "own"):
                assert key in m, f"{who}: message lacks key {key!r}: {m}"
            sender = m["from"]
            want_fp = normalize_fingerprint(fingerprints[sender])
            have_fp = normalize_fingerprint(str(m["fingerprint"]))
            assert have_fp and have_fp in want_fp, (
                f"{who}: fingerprint of {sender} in message ({m['fingerprint']!r}) does not "
                f"appear in `parley fingerprint {sender}` output:\n{tail(fingerprints[sender])}")
            want_own = sender == self.user.name
            assert m["own"] is want_own, (
                f"{who}: own should be {want_own} for a message from {sender}: {m}")
        assert result.returncode == 0, f"{who}: expected exit 0 after {self.count} messages{context}"


# --------------------------------------------------------------------------- test case


class Case:
    """Per-test context: temp dir, process registry, helpers."""

    def __init__(self, name: str):
        self.name = name
        self.tmp = Path(tempfile.mkdtemp(prefix=f"parley-{name}-"))
        self.logs = self.tmp / "logs"
        self.logs.mkdir()
        self.home = self.tmp / "home"
        self.home.mkdir()
        self.procs: list = []
        self._seq = 0
        self._dirs: dict = {}
        self.invites: dict = {}    # room name -> invite line (from its create)
        self.joined: set = set()   # (state folder, room name) pairs that know the room

    def invite(self, room: str) -> Invite:
        """The parsed invite of a room created in this test."""
        assert room in self.invites, f"no invite for room {room!r} in this test"
        return Invite(self.invites[room])

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def fresh_dir(self, prefix: str) -> Path:
        n = self._dirs.get(prefix, 0) + 1
        self._dirs[prefix] = n
        path = self.tmp / f"{prefix}{n}"
        path.mkdir()
        return path

    def env(self, **extra: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        env["HOME"] = str(self.home)
        env["LC_ALL"] = "C.UTF-8"
        env.update(extra)
        return env

    def relay(self, **kw) -> Relay:
        return Relay(self, **kw)

    def run_parley(self, argv: Sequence[str], stdin: Optional[str] = None,
                   env: Optional[dict] = None, timeout: float = COMMAND_TIMEOUT_S,
                   name: str = "parley") -> Result:
        proc = Proc(self, name, [args().parley] + list(argv), env or self.env(),
                    stdin_data=stdin)
        return proc.wait(timeout, f"parley {argv[0]}")

    def run(self, argv: Sequence[str], timeout: float = COMMAND_TIMEOUT_S,
            name: str = "cmd") -> Result:
        proc = Proc(self, name, list(argv), self.env())
        return proc.wait(timeout, argv[0])

    def keygen(self, user: User) -> None:
        user.dir.mkdir(parents=True, exist_ok=True)
        result = self.run_parley(["keygen", "--user", user.name, "--dir", str(user.dir)],
                                 name=f"{user.name}-keygen")
        result.expect_ok(f"keygen for {user.name}")
        user.keygen_output = result.stdout + result.stderr
        assert user.key_file.is_file(), f"keygen did not write {user.key_file}"
        mode = user.key_file.stat().st_mode & 0o777
        assert mode == 0o600, f"keygen wrote {user.key_file} with mode {oct(mode)}, not 0600"
        assert (user.public_keys / f"{user.name}.pem").is_file(), (
            f"keygen did not write {user.public_keys / (user.name + '.pem')}")

    def make_users(self, names: Sequence[str], password: str = DEFAULT_PASSWORD) -> dict:
        """keygen for each name in TMP/NAME, then give everyone everyone's public keys."""
        users = {n: User(self, n, password) for n in names}
        for user in users.values():
            self.keygen(user)
        share_public_keys(list(users.values()))
        return users

    def cleanup(self, keep: bool) -> None:
        for proc in self.procs:
            proc.close()
        if keep:
            print(f"  kept temp dir: {self.tmp}", flush=True)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def share_public_keys(users: Sequence[User], to: Optional[Sequence[User]] = None) -> None:
    """Copy each user's own public key into the public_keys/ of every user in `to`."""
    for dest in (to if to is not None else users):
        dest.public_keys.mkdir(parents=True, exist_ok=True)
        for src in users:
            if src is dest:
                continue
            shutil.copyfile(src.public_keys / f"{src.name}.pem",
                            dest.public_keys / f"{src.name}.pem")


def fingerprints_of(user: User, names: Sequence[str]) -> dict:
    """`parley fingerprint NAME` output per name, as seen from `user`'s directory."""
    out = {}
    for name in names:
        result = user.fingerprint(name).expect_ok(f"parley fingerprint {name}")
        out[name] = result.stdout
        assert normalize_fingerprint(result.stdout), f"empty fingerprint output for {name}"
    return out


def make_test_cert(directory: Path) -> tuple:
    """scripts/make-test-cert.sh DIR -> (cert.pem, key.pem)."""
    subprocess.run([str(SCRIPTS_DIR / "make-test-cert.sh"), str(directory)], check=True,
                   stdout=subprocess.DEVNULL, timeout=30)
    return directory / "cert.pem", directory / "key.pem"


# --------------------------------------------------------------------------- runner


def main(tests: Sequence[Callable[[Case], None]]) -> None:
    opts = args()
    passed, failed = 0, 0
    file_name = Path(sys.argv[0]).stem
    for test in tests:
        name = test.__name__
        if opts.only and opts.only not in name:
            continue
        case = Case(name)
        start = time.monotonic()
        print(f"[ RUN  ] {file_name}.{name}", flush=True)
        ok = False
        try:
            test(case)
            ok = True
        except AssertionError as exc:
            print(f"[ FAIL ] {file_name}.{name}: {exc}", flush=True)
        except Exception:  # an error in the test or harness itself
            print(f"[ FAIL ] {file_name}.{name}: unexpected error\n{traceback.format_exc()}",
                  flush=True)
        finally:
            case.cleanup(keep=not ok or opts.keep)
        elapsed = time.monotonic() - start
        if ok:
            passed += 1
            print(f"[  OK  ] {file_name}.{name} ({elapsed:.1f}s)", flush=True)
        else:
            failed += 1
    print(f"{file_name}: {passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed or passed == 0 else 0)
