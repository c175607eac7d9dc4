#!/usr/bin/env python3
"""A relay that withholds a sender's last message without numbering it: it answers
alice's Send with an Ack of its own and stores nothing, so no reader sees a hole in
the relay's numbering (test_dropped_messages.py covers the holes it does number).
What shows it is alice's own counters: every process of her state folder takes the
next one, and a sync (a position that shows nothing) goes out at the end of each
`send`, every --sync-interval while `chat` has sent something, and when `chat` quits
(docs/PROTOCOL.md §5.1). A reader then reports, once, how many of alice's messages
never came (§7 step 8): in `listen` a JSON warning naming her and the count, in
`chat` a `!!` line.

Real `parley` clients and the real `parley-relay`; alice talks through the
man-in-the-middle proxy (tests/tools/hostile_proxy.py), bob straight to the relay.
"""
import re
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import harness  # noqa: E402
import hostile_proxy as hp  # noqa: E402
from hostile_setup import (  # noqa: E402
    in_version_2, LISTEN_TIMEOUT, ROOM, WAIT_S, create_room, json_lines, ok_lines, rejected, run_setup, start_chat, stop,
    wait_stdout)

# A sync goes out this long after chat's first unsynced line; the reader holds a
# counter gap 2 s more (a hole of the relay's may still bring it).
SYNC_INTERVAL_S = 2


class WithholdFirstSend:
    """A client->relay hook for `label`: the first Send of a text (alice's first
    message) never reaches the relay; the proxy answers it with an Ack of its own, as
    a relay that acknowledges and then withholds would. Everything else passes (in a
    room of version 2, the syncs and key-update a device sends before its first text:
    an envelope's type is its second byte, in the clear)."""

    def __init__(self, label: str = "alice"):
        self.label = label
        self.withheld = 0

    def hook(self, conn, data):
        if conn.label != self.label or self.withheld:
            return None
        f = hp.parse_frame(data)
        if f is None or f.type != hp.SEND or f.envelope[1] != 1:
            return None
        self.withheld += 1
        # Above everything the connection was sent: it takes the next number.
        conn.inject_to_client(hp.Frame(hp.ACK, request=f.request, seq=10**9 * hp.SEQ_STRIDE).encode())
        return []


def counter_warnings(lines: list) -> list:
    return [m for m in lines if m.get("status") == "warning" and "from" in m]


def check_warning(lines: list, count: int, ctx: str) -> None:
    warnings = counter_warnings(lines)
    assert len(warnings) == 1, f"bob: expected one warning naming alice{ctx}"
    w = warnings[0]
    assert w["from"] == "alice" and w["missing"] == count, f"bob's warning: {w}{ctx}"
    assert f"{count} message(s) from alice missing" in w["reason"], w
    assert not rejected(lines), f"bob: a rejection{ctx}"


def listen_ctx(proc: harness.Proc) -> str:
    return f"\n  stdout:\n{harness.tail(proc.stdout())}\n  stderr:\n{harness.tail(proc.stderr())}"


def test_listen_sees_a_withheld_single_send_live(t, protocol=1):
    """bob listens; alice's `send` of one line is withheld. Its closing sync reaches
    bob, who warns that one message of alice's is missing before anything else of
    hers arrives; her next message is shown as usual."""
    def body(s):
        create_room(s, protocol=protocol)
        withhold = WithholdFirstSend()
        s.proxy.on_client_frame = withhold.hook
        bob = s.users["bob"].listen(ROOM, s.relay.url, count=1, timeout=LISTEN_TIMEOUT)
        s.users["alice"].send(ROOM, s.url("alice"), ["withheld"]).expect_ok("alice's send (the relay acks it)")
        assert withhold.withheld == 1, "the proxy did not withhold alice's message"
        wait_stdout(bob.proc, lambda ls: bool(counter_warnings(ls)), WAIT_S, "bob's warning for alice's message")
        s.users["alice"].send(ROOM, s.relay.url, ["after"]).expect_ok("alice's next send")
        result = bob.finish()
        result.expect_ok("bob's listener")
        lines = bob.lines()
        ctx = f"\n  {result.describe()}"
        check_warning(lines, 1, ctx)
        assert [(m["from"], m["text"]) for m in ok_lines(lines)] == [("alice", "after")], f"bob{ctx}"
    run_setup(t, body)


def test_listen_sees_a_withheld_single_send_in_the_backlog(t, protocol=1):
    """bob is away while alice's one-line `send` is withheld; when bob reads the
    relay's log, her sync in it makes him warn about the missing message."""
    def body(s):
        create_room(s, protocol=protocol)
        withhold = WithholdFirstSend()
        s.proxy.on_client_frame = withhold.hook
        s.users["alice"].send(ROOM, s.url("alice"), ["withheld"]).expect_ok("alice's send (the relay acks it)")
        assert withhold.withheld == 1, "the proxy did not withhold alice's message"
        bob = s.users["bob"].listen(ROOM, s.relay.url, count=1, timeout=LISTEN_TIMEOUT)
        wait_stdout(bob.proc, lambda ls: bool(counter_warnings(ls)), WAIT_S, "bob's warning for alice's message")
        s.users["alice"].send(ROOM, s.relay.url, ["after"]).expect_ok("alice's next send")
        result = bob.finish()
        result.expect_ok("bob's listener")
        ctx = f"\n  {result.describe()}"
        check_warning(bob.lines(), 1, ctx)
        again = s.users["bob"].listen(ROOM, s.relay.url, count=1, timeout=3)
        result = again.finish()
        assert not counter_warnings(again.lines()), f"bob warned twice\n  {result.describe()}"
    run_setup(t, body)


def test_chat_heartbeat_shows_a_withheld_last_line_within_the_interval(t, protocol=1):
    """alice chats and says one line, which the relay withholds; she stays in the
    room and says nothing more. Her sync after --sync-interval shows bob's listener
    the missing line while her chat is still open."""
    def body(s):
        create_room(s, protocol=protocol)
        withhold = WithholdFirstSend()
        s.proxy.on_client_frame = withhold.hook
        bob = s.users["bob"].listen(ROOM, s.relay.url, count=1, timeout=LISTEN_TIMEOUT)
        alice = s.users["alice"].start("chat", ROOM, s.url("alice"), extra=["--sync-interval", str(SYNC_INTERVAL_S)])
        try:
            alice.wait_for_stdout(re.compile(r"joined room"), WAIT_S, "alice's chat joins")
            alice.write_stdin("the last line\n")
            s.proxy.wait_for(lambda: withhold.withheld == 1, WAIT_S, "the proxy withholds alice's line")
            start = time.monotonic()
            wait_stdout(bob.proc, lambda ls: bool(counter_warnings(ls)), WAIT_S, "bob's warning for alice's line")
            took = time.monotonic() - start
            assert alice.running(), "alice's chat left: the warning came from her leaving sync, not the heartbeat"
            print(f"bob warned {took:.1f} s after alice's line (sync interval {SYNC_INTERVAL_S} s)")
        finally:
            alice.write_stdin("/quit\n", close=True)
            alice.wait(WAIT_S, "alice's chat quits")
        stop(bob.proc)
        lines = json_lines(bob.proc.stdout())
        check_warning(lines, 1, listen_ctx(bob.proc))
        assert not ok_lines(lines), f"bob showed a message{listen_ctx(bob.proc)}"
    run_setup(t, body)


def test_chat_reader_shows_the_warning(t, protocol=1):
    """bob reads in `chat`; alice's one-line `send` is withheld: bob's chat shows a
    `!!` line naming alice and the count, and her next line as usual."""
    def body(s):
        create_room(s, protocol=protocol)
        withhold = WithholdFirstSend()
        s.proxy.on_client_frame = withhold.hook
        bob = start_chat(s, "bob", label="bob")
        try:
            s.users["alice"].send(ROOM, s.url("alice"), ["the secret plan"]).expect_ok(
                "alice's send (the relay acks it)")
            bob.wait_for_stdout(re.compile(r"!!.*1 message\(s\) from alice missing"), WAIT_S,
                                "bob's chat warns about alice's message")
            s.users["alice"].send(ROOM, s.relay.url, ["after"]).expect_ok("alice's next send")
            bob.wait_for_stdout(re.compile(r"alice: after"), WAIT_S, "bob's chat shows alice's next line")
        finally:
            bob.write_stdin("/quit\n", close=True)
            result = bob.wait(WAIT_S, "bob's chat quits")
        out = result.stdout
        assert out.count("from alice missing") == 1, f"bob's chat warned more than once\n  {result.describe()}"
        assert "secret plan" not in out, f"bob's chat showed the withheld line\n  {result.describe()}"
    run_setup(t, body)


def test_two_sends_withheld_tail_counts_across_sessions(t, protocol=1):
    """alice sends twice (two processes, two sessions); the relay withholds the first
    send's only line and its closing sync: nothing of it reaches anyone. Her second
    send's line shows bob that two positions of hers (the line and its sync) are
    missing, though no session of hers shows a gap of its own."""
    def body(s):
        create_room(s, protocol=protocol)
        state = {"n": 0}

        def withhold_first_send_process(conn, data):
            # Every Send of alice's first `send` (its line and its sync; in version 2
            # also the first-of-epoch sync and key-update before them), Acked by the
            # proxy: her second `send` goes straight to the relay.
            f = hp.parse_frame(data)
            if conn.label != "alice" or f is None or f.type != hp.SEND:
                return None
            state["n"] += 1
            conn.inject_to_client(hp.Frame(hp.ACK, request=f.request, seq=10**9 * hp.SEQ_STRIDE + state["n"]).encode())
            return []
        s.proxy.on_client_frame = withhold_first_send_process
        bob = s.users["bob"].listen(ROOM, s.relay.url, count=1, timeout=LISTEN_TIMEOUT)
        s.users["alice"].send(ROOM, s.url("alice"), ["withheld"]).expect_ok("alice's first send")
        want = 2 if protocol == 1 else 4
        assert state["n"] == want, f"the proxy withheld {state['n']} frames, expected {want}"
        s.users["alice"].send(ROOM, s.relay.url, ["second"]).expect_ok("alice's second send")
        result = bob.finish()
        result.expect_ok("bob's listener")
        ctx = f"\n  {result.describe()}"
        check_warning(bob.lines(), want, ctx)
        assert [(m["from"], m["text"]) for m in ok_lines(bob.lines())] == [("alice", "second")], f"bob{ctx}"
    run_setup(t, body)


TESTS = [
    test_listen_sees_a_withheld_single_send_live,
    test_listen_sees_a_withheld_single_send_in_the_backlog,
    test_chat_heartbeat_shows_a_withheld_last_line_within_the_interval,
    test_chat_reader_shows_the_warning,
    test_two_sends_withheld_tail_counts_across_sessions,
]

if __name__ == "__main__":
    harness.main(TESTS + [in_version_2(test) for test in TESTS])
