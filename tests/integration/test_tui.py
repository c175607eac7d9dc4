"""The full-screen chat (`parley chat` on a terminal) in a real terminal: tmux runs
it, the tests type with `send-keys` and read the screen with `capture-pane`, as a
person would see it. Each test has its own tmux server (its own socket), so tests
can run side by side."""

import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import harness

ROOM = "tui"
WIDTH, HEIGHT = 80, 24


class Terminal:
    """`parley chat` in a tmux pane of its own tmux server. After the program exits,
    the pane's shell writes its exit code and `stty -a` (was the terminal given
    back?) to files, then the pane closes."""

    def __init__(self, t, argv, env, width=WIDTH, height=HEIGHT):
        self.t = t
        n = t.next_seq()
        self.sock = t.tmp / f"tmux{n}.sock"
        self.exit_file = t.tmp / f"tui{n}.exit"
        self.stty_file = t.tmp / f"tui{n}.stty"
        self.pid_file = t.tmp / f"tui{n}.pid"
        self.stderr_file = t.logs / f"tui{n}.stderr"
        script = t.tmp / f"tui{n}.sh"
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()
                          if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) and k not in ("TERM", "TMUX"))
        command = " ".join(shlex.quote(a) for a in argv)
        script.write_text(
            "#!/bin/sh\n" + exports +
            f"sh -c 'echo $$ > {shlex.quote(str(self.pid_file))}; exec \"$@\"' sh {command}"
            f" 2>{shlex.quote(str(self.stderr_file))}\n"
            f"echo $? > {shlex.quote(str(self.exit_file))}.tmp\n"
            f"stty -a > {shlex.quote(str(self.stty_file))} 2>&1\n"
            f"mv {shlex.quote(str(self.exit_file))}.tmp {shlex.quote(str(self.exit_file))}\n")
        script.chmod(0o755)
        self.tmux("new-session", "-d", "-s", "chat", "-x", str(width), "-y", str(height), str(script))

    def tmux(self, *args):
        return subprocess.run(["tmux", "-u", "-f", "/dev/null", "-S", str(self.sock)] + list(args),
                              check=True, capture_output=True, text=True, timeout=15).stdout

    def keys(self, *keys):
        """tmux key names: Enter, C-c, M-1, PPage, ..."""
        self.tmux("send-keys", "-t", "chat", *keys)

    def type(self, text):
        self.tmux("send-keys", "-t", "chat", "-l", text)

    def paste(self, text):
        """A real paste: bracketed (ESC [ 200 ~ ... ESC [ 201 ~) as the program asked for."""
        buffer = self.t.tmp / "paste.txt"
        buffer.write_text(text)
        self.tmux("load-buffer", "-b", "p", str(buffer))
        self.tmux("paste-buffer", "-p", "-d", "-b", "p", "-t", "chat")

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "chat")

    def rows(self):
        return self.screen().split("\n")

    def title(self):
        return self.tmux("display-message", "-p", "-t", "chat", "#{pane_title}").strip()

    def resize(self, width, height):
        self.tmux("resize-window", "-t", "chat", "-x", str(width), "-y", str(height))

    def wait_for(self, pattern, timeout=30.0, what=""):
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            if self.exit_file.exists():
                raise AssertionError(f"chat exited while waiting for {what or pattern!r}: "
                                     f"exit {self.exit_file.read_text().strip()}\n{self.stderr()}")
            screen = self.screen()
            if re.search(pattern, screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"waited {timeout:.0f}s for {what or pattern!r}; the screen:\n{screen}")

    def wait_exit(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while not self.exit_file.exists():
            assert time.monotonic() < deadline, f"chat did not exit in {timeout:.0f}s; the screen:\n{self.screen()}"
            time.sleep(0.02)
        return int(self.exit_file.read_text().strip())

    def pid(self):
        return int(self.pid_file.read_text().strip())

    def stderr(self):
        return self.stderr_file.read_text() if self.stderr_file.exists() else ""

    def terminal_given_back(self):
        """True when the terminal has echo and line editing again (stty -a after the exit)."""
        modes = self.stty_file.read_text().split()
        return "echo" in modes and "icanon" in modes

    def close(self):
        subprocess.run(["tmux", "-S", str(self.sock), "kill-server"], capture_output=True, timeout=15)


def chat(t, user, room, server, **kw):
    user.ensure_joined(room, server)
    argv = [harness.args().parley, "chat", "--ui", "full"] + user.room_args(room, server)
    return Terminal(t, argv, user.env(), **kw)


def status_row(rows):
    """The status bar: the row with '[alice]' in it."""
    found = [r for r in rows if re.match(r"^ \d\d:\d\d \[\w+\] ", r)]
    assert found, "no status bar on the screen:\n" + "\n".join(rows)
    return found[-1]


def input_row(screen):
    return screen.rstrip("\n").split("\n")[-1]


def slow_factor():
    """Sanitizer builds (build/asan, build/tsan) run several times slower."""
    return 3.0 if "san" in str(Path(harness.args().parley).parent) else 1.0


def test_typing_while_messages_arrive_a_long_line_resize_and_scrollback(t):
    """Messages from bob appear above what alice is typing without disturbing it; a
    300-character line edits on one row and is sent whole, shown wrapped; a resize
    lays everything out again; after 200 messages PgUp scrolls back to older ones
    and PgDn returns; a mention of alice sets the terminal title."""
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        alice, bob = users["alice"], users["bob"]
        alice.create(ROOM, relay.url).expect_ok("alice creates")
        term = chat(t, alice, ROOM, relay.url)
        try:
            term.wait_for(r"joined room tui", what="the room joined")
            assert re.search(r"\| connected, epoch 0, 2 members", status_row(term.rows())), term.screen()

            # Typing, while bob's message arrives.
            term.type("half a sentence")
            bob.send(ROOM, relay.url, ["hello from bob"]).expect_ok("bob sends")
            screen = term.wait_for(r"\d\d:\d\d bob: hello from bob", what="bob's message")
            assert input_row(screen).startswith("[tui] half a sentence"), f"the input line was disturbed:\n{screen}"
            listener = bob.listen(ROOM, relay.url, count=3, timeout=40)
            term.type(", finished")
            term.keys("Enter")
            term.wait_for(r"alice: half a sentence, finished", what="alice's own line")

            # A 300-character line: one row while typed, wrapped once sent.
            long_line = " ".join("word%03d" % i for i in range(38))[:300]
            assert len(long_line) == 300
            term.type(long_line)
            screen = term.wait_for(re.escape(long_line[-30:]), what="the end of the long line in the input row")
            assert len(input_row(screen)) <= WIDTH and long_line[:40] not in input_row(screen), (
                f"the input row does not scroll sideways:\n{screen}")
            term.keys("Enter")
            screen = term.wait_for(re.escape(long_line[-12:]) + r"\s*\n", what="the long line shown")
            rows = screen.split("\n")
            assert all(len(r) <= WIDTH for r in rows), screen
            start = max(i for i, r in enumerate(rows) if " alice: word000" in r)
            shown = " ".join(r.strip() for r in rows[start:start + 5])
            shown = shown.split("alice: ", 1)[1]
            assert long_line in shown, f"the long line is not shown whole, in order:\n{screen}"
            assert [m["text"] for m in listener.messages()] == [
                "hello from bob", "half a sentence, finished", long_line], listener.finish().describe()

            # A resize: the bar moves to the new second-to-last row, rows fit the new width.
            term.resize(50, 16)
            deadline = time.monotonic() + 10
            while True:
                rows = term.screen().rstrip("\n").split("\n")
                if len(rows) == 16 and re.match(r"^ \d\d:\d\d \[alice\]", rows[14]):
                    break
                assert time.monotonic() < deadline, "after the resize:\n" + "\n".join(rows)
                time.sleep(0.1)
            assert all(len(r) <= 50 for r in rows), "\n".join(rows)
            assert re.search(re.escape(long_line[-12:]), "\n".join(rows)), "\n".join(rows)
            term.resize(WIDTH, HEIGHT)

            # 200 messages, then scrollback.
            bob.send(ROOM, relay.url, ["m%03d" % i for i in range(1, 201)]).expect_ok("bob sends 200")
            screen = term.wait_for(r"bob: m200", what="the 200th message")
            assert "bob: m150" not in screen
            for _ in range(5):
                term.keys("PPage")
            # Once all five are handled (one at a time: a slow build shows the first
            # page before the rest), a message before m120 is in view.
            screen = term.wait_for(r"bob: m(0\d\d|1[01]\d)\b[\s\S]*-- more below --", what="the view scrolled up")
            assert "bob: m200" not in screen, screen
            seen = [int(n) for n in re.findall(r"bob: m(\d\d\d)", screen)]
            assert seen and max(seen) < 200 and min(seen) < 120, f"PgUp did not go back:\n{screen}"
            for _ in range(20):
                term.keys("PPage")
            term.wait_for(r"bob: m001\b", what="the first of the 200 at the top of the scrollback")
            for _ in range(30):
                term.keys("NPage")
            screen = term.wait_for(r"bob: m200", what="PgDn back at the bottom")
            assert "-- more below --" not in screen

            # A mention: the title says so.
            bob.send(ROOM, relay.url, ["alice, look at this"]).expect_ok("bob names alice")
            term.wait_for(r"bob: alice, look at this")
            # In the window being read, a mention rings but leaves no mark in the title.
            assert term.title() == "parley: alice", term.title()

            term.keys("C-l")  # drawn again, whole
            term.wait_for(r"\[alice\] 1:tui \| connected", what="the screen drawn again after Ctrl-L")

            term.type("/quit")
            term.keys("Enter")
            assert term.wait_exit() == 0, term.stderr()
            assert term.terminal_given_back(), term.stty_file.read_text()
        finally:
            term.close()

        # Started again: the 200 are in the scrollback, from this device's history.
        term = chat(t, alice, ROOM, relay.url)
        try:
            screen = term.wait_for(r"joined room tui", what="the room joined again")
            assert "bob: m200" in screen, screen
            for _ in range(25):
                term.keys("PPage")
            term.wait_for(r"bob: m001\b", what="the oldest of the 200, from history")
            term.keys("C-c")
            assert term.wait_exit() == 0, term.stderr()
        finally:
            term.close()


def test_a_paste_of_ten_lines_asks_first(t):
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        alice, bob = users["alice"], users["bob"]
        alice.create(ROOM, relay.url).expect_ok("alice creates")
        term = chat(t, alice, ROOM, relay.url)
        try:
            term.wait_for(r"joined room tui")
            listener = bob.listen(ROOM, relay.url, count=10, timeout=40)
            term.paste("".join("pasted line %d\n" % i for i in range(1, 11)))
            term.wait_for(r"you pasted 10 lines", what="the paste question")
            time.sleep(1)
            assert "alice: pasted line 1" not in term.screen(), "sent before the answer"
            term.type("y")
            term.keys("Enter")
            term.wait_for(r"alice: pasted line 10", what="the ten lines sent")
            assert [m["text"] for m in listener.messages()] == ["pasted line %d" % i for i in range(1, 11)], (
                listener.finish().describe())
            term.keys("C-c")
            assert term.wait_exit() == 0, term.stderr()
        finally:
            term.close()


def test_offline_line_is_sent_when_the_relay_returns_and_ctrl_c_leaves_at_once(t):
    """With the relay gone, a typed line shows as pending and is delivered once the
    relay is back; with the relay gone again, Ctrl-C leaves within a second and gives
    the terminal back."""
    data = t.fresh_dir("relay-data")
    port = harness.free_port()
    relay = t.relay(data=data, port=port).start()
    users = t.make_users(["alice", "bob"])
    alice, bob = users["alice"], users["bob"]
    alice.create(ROOM, relay.url).expect_ok("alice creates")
    url = relay.url
    term = chat(t, alice, ROOM, url)
    try:
        term.wait_for(r"joined room tui")
        relay.kill9()
        term.wait_for(r"reconnecting", what="the status bar saying the relay is away")
        term.type("typed while the relay was away")
        term.keys("Enter")
        term.wait_for(r"alice \(pending\): typed while the relay was away", what="the pending line")
        assert re.search(r"1 pending", status_row(term.rows())), term.screen()
        relay = t.relay(data=data, port=port).start()
        term.wait_for(r"alice: typed while the relay was away\s+\(typed \d\d:\d\d:\d\d, sent now\)", timeout=40,
                      what="the pending line sent")
        listener = bob.listen(ROOM, url, count=1, timeout=40)
        assert [m["text"] for m in listener.messages()] == ["typed while the relay was away"], (
            listener.finish().describe())

        relay.kill9()
        term.wait_for(r"reconnecting", what="the relay away again")
        started = time.monotonic()
        term.keys("C-c")
        code = term.wait_exit()
        took = time.monotonic() - started
        assert code == 0, term.stderr()
        assert took <= 1.0 * slow_factor(), f"Ctrl-C with the relay down took {took:.2f}s"
        print(f"  Ctrl-C with the relay down: exited in {took:.2f}s", flush=True)
        assert term.terminal_given_back(), term.stty_file.read_text()
    finally:
        term.close()
        if relay.proc is not None:
            relay.stop()


def test_two_rooms_in_one_window(t):
    """/join opens a second room in a second window (asking its password there);
    each window shows its own room's messages; one that arrives in the other window
    counts as unread in the bar; Alt-1/Alt-2 and /win switch; /part closes one."""
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        alice, bob = users["alice"], users["bob"]
        alice.create(ROOM, relay.url).expect_ok("alice creates tui")
        alice.create("work", relay.url).expect_ok("alice creates work")
        alice.ensure_joined("work", relay.url)
        bob.ensure_joined("work", relay.url)
        term = chat(t, alice, ROOM, relay.url)
        try:
            term.wait_for(r"joined room tui")
            term.type("/join wrok")
            term.keys("Enter")
            screen = term.wait_for(r"no room named wrok on this device", what="a typo refused before any password")
            assert "room password for wrok" not in screen, screen
            term.type("/join work")
            term.keys("Enter")
            term.wait_for(r"room password for work:", what="the password prompt")
            term.type("wrong password")
            assert "wrong password" not in term.screen(), "the password is shown"
            assert re.search(r"room password for work: \*+", term.screen()), term.screen()
            term.keys("Enter")
            term.wait_for(r"wrong room password for work", what="a wrong password refused")
            term.wait_for(r"room password for work:", what="asked again")
            term.type(alice.password)
            term.keys("Enter")
            screen = term.wait_for(r"joined room work", what="the second room joined")
            assert re.search(r"1:tui 2:work", status_row(screen.split("\n"))), screen

            bob.send(ROOM, relay.url, ["alice, for the tui room"]).expect_ok("bob in tui")
            term.wait_for(r"2:work.*\| connected", what="work's bar")
            deadline = time.monotonic() + 20
            while "1:tui(1!)" not in status_row(term.rows()):
                assert time.monotonic() < deadline, "no unread mention for tui:\n" + term.screen()
                time.sleep(0.1)
            assert "for the tui room" not in term.screen(), "tui's message shown in work's window"
            assert term.title() == "parley: alice - named in tui", term.title()
            term.type("said in work")
            term.keys("Enter")
            term.wait_for(r"alice: said in work")

            term.keys("M-1")
            screen = term.wait_for(r"bob: alice, for the tui room", what="tui's window")
            assert "said in work" not in screen
            assert "1:tui " in status_row(screen.split("\n")), screen
            assert term.title() == "parley: alice", term.title()

            work = bob.listen("work", relay.url, count=1, timeout=40)
            assert [m["text"] for m in work.messages()] == ["said in work"], work.finish().describe()
            term.type("/win 2")
            term.keys("Enter")
            term.wait_for(r"alice: said in work")
            term.type("/part")
            term.keys("Enter")
            screen = term.wait_for(r"bob: alice, for the tui room", what="back in tui after /part")
            assert "2:work" not in status_row(screen.split("\n")), screen
            term.keys("C-c")
            assert term.wait_exit() == 0, term.stderr()
        finally:
            term.close()


def test_own_message_sent_before_chat_is_shown_once(t):
    """A message alice sent with `send` after one of bob's she had not read yet: chat
    shows it from her history, and the relay's backlog brings it again; it is shown
    once (it used to be shown twice)."""
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        alice, bob = users["alice"], users["bob"]
        alice.create(ROOM, relay.url).expect_ok("alice creates")
        bob.send(ROOM, relay.url, ["bob first"]).expect_ok("bob sends")
        alice.send(ROOM, relay.url, ["alice second"]).expect_ok("alice sends")
        term = chat(t, alice, ROOM, relay.url)
        try:
            screen = term.wait_for(r"bob: bob first", what="the backlog")
            time.sleep(0.5)
            screen = term.screen()
            assert len(re.findall(r"alice: alice second", screen)) == 1, f"shown other than once:\n{screen}"
            term.keys("C-c")
            assert term.wait_exit() == 0, term.stderr()
        finally:
            term.close()


def test_killed_full_screen_chat_gives_the_terminal_back(t):
    with t.relay() as relay:
        users = t.make_users(["alice"])
        alice = users["alice"]
        alice.create(ROOM, relay.url).expect_ok("alice creates")
        for sig in (signal.SIGTERM, signal.SIGHUP):
            term = chat(t, alice, ROOM, relay.url)
            try:
                term.wait_for(r"joined room tui")
                import os
                os.kill(term.pid(), sig)
                code = term.wait_exit()
                assert code == 128 + sig, f"exit {code} after signal {sig}"
                assert term.terminal_given_back(), term.stty_file.read_text()
            finally:
                term.close()


if __name__ == "__main__":
    harness.main([
        test_typing_while_messages_arrive_a_long_line_resize_and_scrollback,
        test_a_paste_of_ten_lines_asks_first,
        test_offline_line_is_sent_when_the_relay_returns_and_ctrl_c_leaves_at_once,
        test_two_rooms_in_one_window,
        test_own_message_sent_before_chat_is_shown_once,
        test_killed_full_screen_chat_gives_the_terminal_back,
    ])
