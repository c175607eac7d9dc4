#!/usr/bin/env python3
"""The client does what README.md says about its command line: exit codes, password
sources and their warnings, keygen's refusal to overwrite, core dumps off, and no
terminal escape sequences from other members reaching the terminal.

(`listen --timeout` exiting 3 is covered in test_three_members.py.)
"""
import json
import fcntl
import os
import pty
import re
import resource
import select
import signal
import struct
import subprocess
import sys
import termios
import time

sys.dont_write_bytecode = True
import harness  # noqa: E402

ROOM = "claims"
# README: "Exit codes: 0 done, 1 error, 3 timeout, 4 room does not exist,
# 5 you are not (or no longer) in the room."
EXIT_NO_ROOM = 4
EXIT_NOT_IN_ROOM = 5


def no_password_env(t):
    """The test environment without PARLEY_PASSWORD (Case.env drops every PARLEY_*)."""
    env = t.env()
    assert "PARLEY_PASSWORD" not in env
    return env


def test_listen_to_missing_room_exits_4(t):
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        listener = users["bob"].listen("no-such-room", relay.url, count=1, timeout=15,
                                       wait_joined=False)
        result = listener.finish()
        assert result.returncode == EXIT_NO_ROOM, (
            f"listen on a room that does not exist: expected exit {EXIT_NO_ROOM}\n"
            f"  {result.describe()}")
        result.expect_fail("listen on a missing room", "parley create")
        result.expect_fail("listen on a missing room", "parley join")
        result.expect_fail("listen on a missing room", "no room named no-such-room")
        assert "joined" not in result.stderr, f"listener says it joined\n  {result.describe()}"


def test_listen_without_timeout_waits_for_its_count(t):
    """`listen --count 1` with no --timeout waits however long it takes (a bot's
    loop): it neither times out at once nor after a while, and exits 0 with the message."""
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        users["alice"].create(ROOM, relay.url).expect_ok("alice creates")
        listener = users["bob"].listen(ROOM, relay.url, count=1, timeout=None)
        # Still waiting a moment after its join (the bug: exit 3 "timeout after 0
        # message(s)" at once), then the message comes.
        time.sleep(1.5)
        assert listener.proc.running(), f"listen without --timeout exited early\n  {listener.finish().describe()}"
        users["alice"].send(ROOM, relay.url, ["for the bot"]).expect_ok("alice sends")
        result = listener.finish()
        result.expect_ok("listen without --timeout")
        assert [m["text"] for m in listener.messages()] == ["for the bot"], result.describe()


def test_chat_can_be_left_while_the_relay_is_down(t):
    """With the relay gone, `chat` keeps trying to reconnect; /quit, and the end of
    its input (Ctrl-D), still leave at once with exit 0 (they used to wait for the
    relay to come back)."""
    with t.relay() as relay:
        users = t.make_users(["alice"])
        users["alice"].create(ROOM, relay.url).expect_ok("alice creates")
        for how in ("/quit", "end of input"):
            chat = users["alice"].start("chat", ROOM, relay.url)
            chat.wait_for_stdout(re.compile("joined room"), 30, "chat joined")
            relay.stop()
            chat.wait_for_stdout(re.compile("reconnecting"), 30, "chat notices the relay is gone")
            if how == "/quit":
                chat.write_stdin("/quit\n")
            else:
                chat.write_stdin("", close=True)
            result = chat.wait(5, f"chat after {how} with the relay down")
            result.expect_ok(f"chat left with {how} while the relay was down")
            relay.start()


def test_usage_errors_exit_2_with_the_parley_prefix_and_both_programs_have_version(t):
    """A mistake on the command line exits 2 (README: "2 usage"), says `parley: error:`
    and hints at --help, for both programs; --version prints the version and exits 0;
    --help lists the exit codes."""
    cases = [
        ([harness.args().parley, "listen", "--room", "x"], "parley", "--user is required"),
        ([harness.args().parley, "send", "--user", "a", "--frobnicate"], "parley", "frobnicate"),
        ([harness.args().parley], "parley", "subcommand"),
        ([harness.args().parley, "listen", "--user", "a", "--count", "many"], "parley", "many"),
        ([harness.args().relay, "--listen", "127.0.0.1:0", "--no-such-flag"], "parley-relay", "no-such-flag"),
        ([harness.args().relay, "--listen", "127.0.0.1:0", "--threads", "0"], "parley-relay", "threads"),
    ]
    for argv, program, words in cases:
        result = t.run(argv, name="usage")
        assert result.returncode == 2, f"{argv[1:]}: expected exit 2 (usage)\n  {result.describe()}"
        assert result.stderr.startswith(f"{program}: error: "), f"{argv[1:]}: no prefix\n  {result.describe()}"
        assert words in result.stderr and f"hint: {program}" in result.stderr, result.describe()
    for exe, program in ((harness.args().parley, "parley"), (harness.args().relay, "parley-relay")):
        result = t.run([exe, "--version"], name="version")
        result.expect_ok(f"{program} --version")
        assert re.fullmatch(rf"{program} \d+\.\d+\.\d+\n", result.stdout), result.describe()
    help_text = t.run([harness.args().parley, "--help"], name="help")
    help_text.expect_ok("parley --help")
    assert "exit codes: 0 done, 1 error, 2 usage, 3 timeout" in help_text.stdout, help_text.describe()


def test_send_skips_and_names_a_line_too_long_and_sends_the_rest(t):
    """README: a line over 64 KiB is not sent; `send` names it (by its input line
    number), still sends the lines around it, and exits 1."""
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        users["alice"].create(ROOM, relay.url).expect_ok("alice creates")
        lines = ["short one", "x" * (70 * 1024), "", "short three", "short four"]
        result = users["alice"].run(["send"] + users["alice"].room_args(ROOM, relay.url),
                                    stdin="".join(line + "\n" for line in lines))
        assert result.returncode == 1, f"send with a line too long: expected exit 1\n  {result.describe()}"
        assert "line 2 not sent: too long" in result.stderr, result.describe()
        assert "3 messages accepted by the relay" in result.stderr, result.describe()
        assert "not sent (too long): line 2" in result.stderr, result.describe()
        listener = users["bob"].listen(ROOM, relay.url, count=3, timeout=30)
        assert [m["text"] for m in listener.messages()] == ["short one", "short three", "short four"], (
            listener.finish().describe())


def test_listen_killed_by_a_closed_pipe_loses_nothing(t):
    """`listen | head -1`: the reader of its output goes away, the next line kills
    listen with SIGPIPE while it writes it. That message is not marked as read: the
    next listen prints it."""
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        alice, bob = users["alice"], users["bob"]
        alice.create(ROOM, relay.url).expect_ok("alice creates")
        bob.ensure_joined(ROOM, relay.url)
        argv = [harness.args().parley, "listen"] + bob.room_args(ROOM, relay.url) + ["--timeout", "60"]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=bob.env())
        try:
            alice.send(ROOM, relay.url, ["first"]).expect_ok("alice sends")
            ready, _, _ = select.select([proc.stdout], [], [], 30)
            assert ready, "bob's listener printed nothing in 30 s"
            assert json.loads(proc.stdout.readline())["text"] == "first"
            proc.stdout.close()  # as `head -1` exits
            alice.send(ROOM, relay.url, ["second"]).expect_ok("alice sends again")
            rc = proc.wait(30)
            assert rc == -signal.SIGPIPE, f"listen exit {rc}, expected death by SIGPIPE"
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stderr.close()
        listener = bob.listen(ROOM, relay.url, count=1, timeout=30)
        assert [m["text"] for m in listener.messages()] == ["second"], listener.finish().describe()


def run_in_pty(argv, env, script, timeout=30.0):
    """argv in a new pseudo-terminal, which is its controlling terminal (so the
    /dev/tty password prompt works); `script` is [(regex awaited in everything
    printed so far, then: text to type, a signal number to send, or None)].
    Returns (output, exit code, the terminal's local modes after the exit)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: never returns
        try:
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # 80 columns
    out = b""
    reaped = False

    def read_some(wait):
        nonlocal out
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            return True
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the child is gone
            data = b""
        out += data
        return bool(data)

    try:
        for pattern, reply in script:
            deadline = time.monotonic() + timeout
            while not re.search(pattern, out.decode(errors="replace")):
                assert time.monotonic() < deadline, f"waited {timeout:.0f}s for {pattern!r}; got:\n{out.decode(errors='replace')}"
                assert read_some(0.2), f"ended before {pattern!r}; got:\n{out.decode(errors='replace')}"
            if isinstance(reply, str):
                for i in range(0, len(reply), 64):  # as typed: a few bytes at a time
                    os.write(fd, reply[i:i + 64].encode())
            elif reply is not None:
                os.kill(pid, reply)
        deadline = time.monotonic() + timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                reaped = True
                return out.decode(errors="replace"), os.waitstatus_to_exitcode(status), termios.tcgetattr(fd)[3]
            assert time.monotonic() < deadline, f"did not exit; got:\n{out.decode(errors='replace')}"
            read_some(0.1)
    finally:
        if not reaped and not os.waitpid(pid, os.WNOHANG)[0]:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)


def test_chat_asks_again_for_a_mistyped_password(t):
    """In a real terminal, `chat` with a wrong password at the prompt says so and asks
    again (it used to exit); the right one then opens the room."""
    with t.relay() as relay:
        users = t.make_users(["alice"])
        alice = users["alice"]
        alice.create(ROOM, relay.url).expect_ok("alice creates")
        argv = [harness.args().parley, "chat", "--ui", "line"] + alice.room_args(ROOM, relay.url)
        out, code, _ = run_in_pty(argv, no_password_env(t), [
            (r"room password for claims: ", "not the password\n"),
            (r"wrong room password for room claims; try again[\s\S]*room password for claims: ",
             alice.password + "\n"),
            (r"joined room claims", "/quit\r"),
        ])
        assert code == 0, f"chat exit {code}\n{out}"


def test_chat_input_line_in_a_real_terminal(t):
    """In an 80-column terminal: a 300-character line is drawn on one row, scrolled
    sideways (it used to be printed again, whole and wrapped, on every key); a paste
    of five lines is not sent until confirmed; own messages say (you)."""
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        alice = users["alice"]
        alice.create(ROOM, relay.url).expect_ok("alice creates")
        argv = [harness.args().parley, "chat", "--ui", "line"] + alice.room_args(ROOM, relay.url)
        long_line = "".join(chr(ord("a") + i % 26) for i in range(300))
        paste = "\x1b[200~p1\np2\np3\np4\np5\n\x1b[201~"
        out, code, _ = run_in_pty(argv, alice.env(), [
            (r"joined room claims", long_line),
            (re.escape(long_line[-60:]), "\r"),
            (re.escape("(you): " + long_line), paste),
            (r"you pasted 5 lines", "y\r"),
            (r"\(you\): p5", "/quit\r"),
        ])
        assert code == 0, f"chat exit {code}\n{out}"
        # Every redraw of the input line ("\r ESC[K > ...") fits in the 80 columns.
        drawn = [seg.split("\r")[0] for seg in out.split("\r\x1b[K> ")[1:]]
        assert drawn and max(len(d) for d in drawn) <= 79, f"an input line wider than the terminal: {max(drawn, key=len)!r}"
        assert re.search(r"\(you\): " + long_line, out), "the long line was not sent whole"
        bob_listener = users["bob"].listen(ROOM, relay.url, count=6, timeout=30)
        assert [m["text"] for m in bob_listener.messages()] == [long_line, "p1", "p2", "p3", "p4", "p5"], (
            bob_listener.finish().describe())


def test_chat_killed_gives_the_terminal_back(t):
    """`chat` turns echo off while it edits the line itself; killed (SIGTERM, SIGHUP),
    it turns it back on before it dies, so the shell is usable afterwards."""
    with t.relay() as relay:
        users = t.make_users(["alice"])
        alice = users["alice"]
        alice.create(ROOM, relay.url).expect_ok("alice creates")
        argv = [harness.args().parley, "chat", "--ui", "line"] + alice.room_args(ROOM, relay.url)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            out, code, lflag = run_in_pty(argv, alice.env(), [(r"joined room claims", sig)])
            assert code == -sig, f"chat after signal {sig}: exit {code}\n{out}"
            assert lflag & termios.ECHO and lflag & termios.ICANON, (
                f"after signal {sig} the terminal was left without echo or line editing\n{out}")


def test_removed_member_exits_5(t):
    with t.relay() as relay:
        users = t.make_users(["alice", "bob", "charlie"])
        alice, bob, charlie = users["alice"], users["bob"], users["charlie"]
        alice.create(ROOM, relay.url).expect_ok("alice creates the room")
        charlie.send(ROOM, relay.url, ["charlie was here"]).expect_ok("charlie sends before removal")
        # a listener of charlie's that is running when he is removed
        running = charlie.listen(ROOM, relay.url, count=5, timeout=40)

        alice.rekey(ROOM, relay.url, extra=["--remove", "charlie"]).expect_ok(
            "alice: rekey --remove charlie")

        result = running.finish()
        assert result.returncode == EXIT_NOT_IN_ROOM, (
            f"charlie's running listener after his removal: expected exit {EXIT_NOT_IN_ROOM}\n"
            f"  {result.describe()}")

        out = charlie.listen(ROOM, relay.url, count=1, timeout=15, wait_joined=False)
        result = out.finish()
        assert result.returncode == EXIT_NOT_IN_ROOM, (
            f"charlie listens after removal: expected exit {EXIT_NOT_IN_ROOM}\n  {result.describe()}")
        result = charlie.send(ROOM, relay.url, ["anyone?"])
        assert result.returncode == EXIT_NOT_IN_ROOM, (
            f"charlie sends after removal: expected exit {EXIT_NOT_IN_ROOM}\n  {result.describe()}")
        # bob is unaffected
        bob.send(ROOM, relay.url, ["still in"]).expect_ok("bob sends after the removal")


def _core_limit_line(pid: int) -> str:
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max core file size"):
                return line.rstrip("\n")
    raise AssertionError(f"/proc/{pid}/limits has no 'Max core file size' line")


def test_client_disables_core_dumps(t):
    """README: "the client disables core dumps". The client is started with a non-zero
    core limit (when this process may raise it), so the check can tell."""
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        users["alice"].create(ROOM, relay.url).expect_ok("alice creates the room")
        saved = resource.getrlimit(resource.RLIMIT_CORE)
        wanted = None
        for limit in ((resource.RLIM_INFINITY, resource.RLIM_INFINITY), (saved[1], saved[1]),
                      (min(saved[1], 1 << 20), saved[1])):
            try:
                resource.setrlimit(resource.RLIMIT_CORE, limit)
                wanted = limit
                break
            except (ValueError, OSError):
                continue
        try:
            listener = users["bob"].listen(ROOM, relay.url, count=1, timeout=30)
            control = harness.Proc(t, "sleep", ["sleep", "30"], t.env())
        finally:
            resource.setrlimit(resource.RLIMIT_CORE, saved)
        control_line = _core_limit_line(control.popen.pid)
        line = _core_limit_line(listener.proc.popen.pid)
        assert listener.proc.running(), "bob's listener exited early"
        fields = line[len("Max core file size"):].split()
        assert fields[:2] == ["0", "0"], (
            f"parley listen (pid {listener.proc.popen.pid}) still allows core dumps:\n"
            f"    {line}\n  a sibling process started the same way has:\n    {control_line}")
        if wanted is None or wanted[0] == 0:
            print(f"  note: could not start the client with a non-zero core limit ({control_line})",
                  flush=True)
        control.kill()
        listener.proc.kill()


def test_password_sources(t):
    """--password=... (with a warning), PARLEY_PASSWORD and --password-file all work;
    bob's listener receives each of the three messages."""
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        alice, bob = users["alice"], users["bob"]
        fingerprints = harness.fingerprints_of(bob, ["alice", "bob"])
        alice.create(ROOM, relay.url).expect_ok("alice creates the room")
        listener = bob.listen(ROOM, relay.url, count=3)
        argv = ["send"] + alice.room_args(ROOM, relay.url)

        # --password=... : works, and warns that other users can see it
        result = t.run_parley(argv + [f"--password={alice.password}"], stdin="via argv\n",
                              env=no_password_env(t), name="alice-send-argv")
        result.expect_ok("send with --password=...")
        assert re.search(r"other (local )?users", result.stderr, re.IGNORECASE), (
            f"--password=... should warn that other users can read it\n  {result.describe()}")

        # PARLEY_PASSWORD
        result = alice.send(ROOM, relay.url, ["via env"]).expect_ok("send with PARLEY_PASSWORD")
        assert not re.search(r"other (local )?users", result.stderr, re.IGNORECASE), (
            f"PARLEY_PASSWORD should not get the --password warning\n  {result.describe()}")

        # --password-file FILE
        pw_file = t.tmp / "alice-password.txt"
        pw_file.write_text(alice.password + "\n")
        os.chmod(pw_file, 0o600)
        result = t.run_parley(argv + ["--password-file", str(pw_file)], stdin="via file\n",
                              env=no_password_env(t), name="alice-send-file")
        result.expect_ok("send with --password-file")

        listener.expect_messages([("alice", "via argv"), ("alice", "via env"),
                                  ("alice", "via file")], fingerprints)


def test_no_password_source_without_tty_fails_fast(t):
    """No --password, PARLEY_PASSWORD or --password-file, stdin not a tty and no
    controlling terminal (new session): an error naming the sources, not a hang."""
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        alice, bob = users["alice"], users["bob"]
        alice.create(ROOM, relay.url).expect_ok("alice creates the room")
        bob.ensure_joined(ROOM, relay.url)  # bob knows the room: only the password is missing
        sources = ("PARLEY_PASSWORD", "password-file")
        cases = [
            ("listen", ["listen"] + bob.room_args(ROOM, relay.url) + ["--count", "1",
                                                                     "--timeout", "20"], None),
            ("send", ["send"] + bob.room_args(ROOM, relay.url), "hello\n"),
            ("create", ["create"] + bob.room_args("other-room", relay.url), None),
            ("join", ["join", t.invites[ROOM], "--user", "bob", "--dir", str(bob.dir),
                      "--state", str(t.fresh_dir("bob-new-device"))], None),
        ]
        for what, argv, stdin in cases:
            result = t.run_parley(argv, stdin=stdin, env=no_password_env(t), timeout=15,
                                  name=f"bob-{what}-nopw")
            assert result.returncode not in (0, 3), (
                f"{what} without any password source should fail\n  {result.describe()}")
            said = result.stderr + result.stdout
            missing = [s for s in sources if s.lower() not in said.lower()]
            assert not missing, (
                f"{what} without a password: the error should name the password sources "
                f"(missing {missing})\n  {result.describe()}")


def test_short_password_warns_at_create(t):
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        alice = users["alice"]
        short = "eleven-char"  # 11 characters
        assert len(short) < 12
        result = alice.create("short-room", relay.url, password=short).expect_ok(
            "create with an 11-character password")
        assert re.search(r"short|weak", result.stderr, re.IGNORECASE), (
            f"create with a short password should warn about it\n  {result.describe()}")
        result = alice.create("long-room", relay.url).expect_ok("create with a long password")
        assert not re.search(r"short|weak", result.stderr, re.IGNORECASE), (
            f"create with a {len(alice.password)}-character password should not warn\n"
            f"  {result.describe()}")


def test_keygen_refuses_to_overwrite(t):
    alice = harness.User(t, "alice")
    alice.dir.mkdir()
    old_umask = os.umask(0)  # the key file must be 0600 whatever the umask
    try:
        t.keygen(alice)  # checks exit 0 and mode 0600
    finally:
        os.umask(old_umask)
    mode = alice.key_file.stat().st_mode & 0o777
    assert mode == 0o600, f"private key mode {oct(mode)} under umask 000, expected 0600"
    private_before = alice.key_file.read_bytes()
    public_before = (alice.public_keys / "alice.pem").read_bytes()
    result = t.run_parley(["keygen", "--user", "alice", "--dir", str(alice.dir)],
                          name="alice-keygen-again")
    result.expect_fail("keygen over an existing key", "exist", "overwrite")
    assert alice.key_file.read_bytes() == private_before, "keygen changed the existing private key"
    assert (alice.public_keys / "alice.pem").read_bytes() == public_before, (
        "keygen changed the existing public key")
    mode = alice.key_file.stat().st_mode & 0o777
    assert mode == 0o600, f"private key mode changed to {oct(mode)}"


ESCAPES = "\x1b[31mred\x1b[0m bell\x07 title\x1b]0;pwned\x07 csi\u009b2J end"
FORBIDDEN = {b"\x1b": "ESC", b"\x07": "BEL", "\u009b".encode(): "C1 CSI"}


def test_escape_sequences_do_not_reach_the_terminal(t):
    with t.relay() as relay:
        # bob reads with `chat`, carol with `listen` (two readers of one user would
        # share bob's replay state and one of them would see replays)
        users = t.make_users(["alice", "bob", "carol"])
        alice, bob, carol = users["alice"], users["bob"], users["carol"]
        fingerprints = harness.fingerprints_of(carol, ["alice", "bob", "carol"])
        alice.create(ROOM, relay.url).expect_ok("alice creates the room")

        listener = carol.listen(ROOM, relay.url, count=2)
        chat = bob.start("chat", ROOM, relay.url)
        chat.wait_for_stdout(re.compile(r"joined"), harness.JOIN_TIMEOUT_S, "bob's chat join")

        alice.send(ROOM, relay.url, [ESCAPES, "marker after"]).expect_ok("alice sends")
        chat.wait_for_stdout(re.compile(r"marker after"), 30, "bob's chat shows alice's messages")
        time.sleep(0.5)
        chat.write_stdin("/quit\n", close=True)
        chat.wait(20, "bob's chat after /quit").expect_ok("bob's chat quits")

        raw = chat.out_path.read_bytes()
        found = [name for seq, name in FORBIDDEN.items() if seq in raw]
        assert not found, (f"bob's chat wrote {found} bytes to its stdout:\n"
                           f"    {raw!r}")
        shown = [l for l in raw.decode("utf-8", "replace").splitlines() if "red" in l]
        assert shown, f"bob's chat did not show the message with escapes at all:\n    {raw!r}"

        # listen keeps the exact text, JSON-escaped (no raw control bytes on stdout)
        listener.expect_messages([("alice", ESCAPES), ("alice", "marker after")], fingerprints)
        raw = listener.proc.out_path.read_bytes()
        found = [name for seq, name in FORBIDDEN.items() if seq in raw and name != "C1 CSI"]
        assert not found, f"listen wrote raw {found} bytes (should be JSON-escaped):\n    {raw!r}"
        texts = [json.loads(l)["text"] for l in raw.decode().splitlines() if l.strip()]
        assert ESCAPES in texts, f"listen changed the text: {texts!r}"


def test_settings_file_beside_the_key(t):
    """README: parley.toml in the key folder holds server and room (and ca, state),
    so `parley send --user alice` is enough; flags win over it; a room the device
    knows needs no server; a bad file is an error naming its line, before anything
    is sent."""
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        alice, bob = users["alice"], users["bob"]
        fps = harness.fingerprints_of(bob, ["alice"])
        (alice.dir / "parley.toml").write_text(
            f'# alice\'s flash drive\nserver = "{relay.url}"\nroom = "{ROOM}"\nstate = "from-config"\n')
        created = alice.run(["create", "--user", "alice", "--dir", str(alice.dir)]).expect_ok(
            "create with only --user (and --dir)")
        alice.remember_created(ROOM, created, state=alice.dir / "from-config")
        assert t.invite(ROOM).server == relay.url, f"the invite names another server\n  {created.describe()}"
        assert (alice.dir / "from-config").is_dir(), "state = \"from-config\" was not used, relative to the file"
        # bob's file names another room: the flag wins.
        (bob.dir / "parley.toml").write_text(f'server = "{relay.url}"\nroom = "not-this-one"\n')
        listener = bob.listen(ROOM, relay.url, count=1, timeout=30)
        alice.run(["send", "--user", "alice", "--dir", str(alice.dir)],
                  stdin="from the settings file\n").expect_ok("send with only --user")
        listener.expect_messages([("alice", "from the settings file")], fps)

        (alice.dir / "parley.toml").write_text(f'room = "{ROOM}"\nsever = "{relay.url}"\n')
        alice.run(["send", "--user", "alice", "--dir", str(alice.dir)], stdin="never sent\n").expect_fail(
            "a misspelt setting", "parley.toml:2: unknown setting 'sever'")
        # A room this device knows needs no server: the one stored with it is used.
        (alice.dir / "parley.toml").write_text(f'room = "{ROOM}"\nstate = "from-config"\n')
        alice.run(["send", "--user", "alice", "--dir", str(alice.dir)], stdin="no server needed\n").expect_ok(
            "send to a known room without a server anywhere")
        (alice.dir / "parley.toml").write_text('room = "elsewhere"\n')
        alice.run(["create", "--user", "alice", "--dir", str(alice.dir)]).expect_fail(
            "create with no server anywhere", "no relay given")
        (alice.dir / "parley.toml").unlink()
        result = alice.run(["send", "--user", "alice", "--dir", str(alice.dir)], stdin="never sent\n")
        result.expect_fail("no settings file and no flags", "no room given")
        assert "parley.toml" in result.stderr, f"the hint does not name the file\n  {result.describe()}"
        alice.run(["send", "--user", "alice", "--dir", str(alice.dir), "--config", str(t.tmp / "nope.toml")],
                  stdin="never sent\n").expect_fail("--config naming a missing file", "no settings file")
        history = alice.run(["history", "--user", "alice", "--room", ROOM, "--dir", str(alice.dir),
                             "--state", str(alice.dir / "from-config"), "--json"]).expect_ok("history")
        texts = [json.loads(l)["text"] for l in history.stdout.splitlines() if l.strip()]
        assert texts == ["from the settings file", "no server needed"], f"alice's history: {texts}"


if __name__ == "__main__":
    harness.main([
        test_listen_to_missing_room_exits_4,
        test_listen_without_timeout_waits_for_its_count,
        test_chat_can_be_left_while_the_relay_is_down,
        test_usage_errors_exit_2_with_the_parley_prefix_and_both_programs_have_version,
        test_send_skips_and_names_a_line_too_long_and_sends_the_rest,
        test_listen_killed_by_a_closed_pipe_loses_nothing,
        test_chat_asks_again_for_a_mistyped_password,
        test_chat_killed_gives_the_terminal_back,
        test_chat_input_line_in_a_real_terminal,
        test_removed_member_exits_5,
        test_client_disables_core_dumps,
        test_password_sources,
        test_no_password_source_without_tty_fails_fast,
        test_short_password_warns_at_create,
        test_keygen_refuses_to_overwrite,
        test_escape_sequences_do_not_reach_the_terminal,
        test_settings_file_beside_the_key,
    ])
