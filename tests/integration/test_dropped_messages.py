#!/usr/bin/env python3
"""A relay that drops one Deliver: the bug "a dropped single-message send vanishes
without a word". Each `send` is its own session, so a message that is the only one of
its `send`, or the last one before another member speaks, leaves no counter gap for
the receiver to notice; only the relay's numbering shows it. The client must ask
again for a hole in that numbering (docs/PROTOCOL.md §6.2 "Gaps"), show the message
if it comes (live or from the backlog), warn once if it does not, and never move its
stored position past the hole quietly.

Real `parley` clients and the real `parley-relay`; the senders (alice, charlie) talk
straight to the relay, bob reads through the man-in-the-middle proxy
(tests/tools/hostile_proxy.py), which drops the Deliver of one message (told apart by
its envelope: the first Deliver the proxy sees for bob's label) once or every time.
"""
import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import harness  # noqa: E402
import hostile_proxy as hp  # noqa: E402
from hostile_setup import (  # noqa: E402
    in_version_2, LISTEN_TIMEOUT, ROOM, WAIT_S, assert_genuine_only, create_room, is_v2_non_text, json_lines, ok_lines, rejected,
    run_setup,
    stop, wait_stdout)

NAMES = ("alice", "bob", "charlie")
# The stall timer is 5 s (a hole asked for, nothing comes); giving a hole up takes
# three of them when nothing at all arrives.
TAIL_WAIT_S = 60.0


class DropFirstMessage:
    """A relay->client hook dropping, for the reading connections of `label`, the
    Deliver of the first message the proxy sees for that label (every copy of its
    envelope when `every_time`, else only the first; with `whole_sender`, everything
    its sender sends, its closing sync included). `number` is the relay's number of
    that message once seen; `dropped` counts the copies dropped."""

    def __init__(self, label: str, every_time: bool, whole_sender: bool = False):
        self.label = label
        self.every_time = every_time
        self.whole_sender = whole_sender
        self.envelope = None
        self.number = None
        self.dropped = 0

    def hook(self, conn, data):
        if conn.label != self.label or conn.reader is False:
            return None
        f = hp.parse_frame(data)
        if f is None or f.type != hp.DELIVER:
            return None
        if self.envelope is None:
            if is_v2_non_text(f.envelope):
                return None  # the first text, not the sync or key-update before it (version 2)
            self.envelope = f.envelope
            self.number = f.seq // hp.SEQ_STRIDE
        same = f.envelope == self.envelope or (
            self.whole_sender and hp.Envelope.parse(f.envelope).sender == hp.Envelope.parse(self.envelope).sender)
        if not same or (self.dropped and not self.every_time):
            return None
        self.dropped += 1
        return []


def history_texts(user) -> list:
    """The texts of `user`'s stored history of ROOM, in the relay's order."""
    result = user.run(["history", "--user", user.name, "--room", ROOM, "--dir", str(user.dir),
                       "--state", str(user.state), "--limit", "1000", "--json"])
    result.expect_ok(f"{user.name}'s history")
    return [m["text"] for m in json_lines(result.stdout)]


def gap_warnings(lines: list) -> list:
    """The warnings for a hole given up (§6.2 "Gaps"), not counter gaps."""
    return [m for m in lines if m.get("status") == "warning" and "did not deliver" in m.get("reason", "")]


def send(s, name: str, text: str) -> None:
    """`text` as a `send` of its own (its own session), straight to the relay."""
    s.users[name].send(ROOM, s.relay.url, [text]).expect_ok(f"{name} sends {text!r}")


def test_live_dropped_once_is_asked_for_again(t, protocol=1):
    """bob listens; the relay drops the Deliver of alice's only message once. When
    the next item comes (her send's closing sync, or charlie's message), numbered past
    the hole, bob asks again and shows alice's message: both once, nothing rejected,
    no warning (her counters too are whole once it came), both in history."""
    def body(s):
        create_room(s, protocol=protocol)
        drop = DropFirstMessage("bob", every_time=False)
        s.proxy.on_relay_frame = drop.hook
        bob = s.users["bob"].listen(ROOM, s.url("bob"), count=2, timeout=LISTEN_TIMEOUT)
        send(s, "alice", "only one")
        s.proxy.wait_for(lambda: drop.dropped == 1, WAIT_S, "the proxy drops alice's message to bob")
        send(s, "charlie", "after")
        result = bob.finish()
        result.expect_ok("bob's listener")
        lines = bob.lines()
        assert_genuine_only(lines, [("alice", "only one"), ("charlie", "after")], "bob", result)
        shown = {(m["from"], m["text"]): m["seq"] for m in ok_lines(lines)}
        assert set(shown) == {("charlie", "after"), ("alice", "only one")}, f"bob: {shown}\n  {result.describe()}"
        assert shown[("alice", "only one")] == drop.number, f"bob: the late message's number\n  {result.describe()}"
        assert "skipped" in result.stderr, f"bob did not say the relay skipped a message\n  {result.describe()}"
        assert not [m for m in lines if m.get("status") == "warning"], f"bob: a warning\n  {result.describe()}"
        assert not rejected(lines), f"bob: a rejection\n  {result.describe()}"
        texts = history_texts(s.users["bob"])
        assert texts == ["only one", "after"], f"bob's history: {texts}"
    run_setup(t, body, names=NAMES)


def test_live_dropped_every_time_is_a_warning(t, protocol=1):
    """bob listens; the relay drops alice's only message every time it is asked for.
    Once her send's closing sync (numbered past the hole) came, bob asks again twice,
    then warns once about that number, and once that one message of alice's is
    missing; he shows charlie's later message. A later listener with the same state
    does not warn again: the hole was given up and the position moved past it."""
    def body(s):
        create_room(s, protocol=protocol)
        drop = DropFirstMessage("bob", every_time=True)
        s.proxy.on_relay_frame = drop.hook
        bob = s.users["bob"].listen(ROOM, s.url("bob"), count=5, timeout=LISTEN_TIMEOUT)
        send(s, "alice", "only one")
        s.proxy.wait_for(lambda: drop.dropped >= 1, WAIT_S, "the proxy drops alice's message to bob")
        send(s, "charlie", "after")
        lines = wait_stdout(bob.proc, lambda ls: bool(gap_warnings(ls)) and bool(ok_lines(ls)) and any(
            m.get("from") == "alice" and m.get("status") == "warning" for m in ls), WAIT_S,
            "bob's warnings for the hole and for alice's message, and charlie's message")
        stop(bob.proc)
        err = bob.proc.stderr()
        lines = json_lines(bob.proc.stdout())  # everything it printed before it stopped
        ctx = f"\n  stdout:\n{harness.tail(bob.proc.stdout())}\n  stderr:\n{harness.tail(err)}"
        assert_genuine_only(lines, [("charlie", "after")], "bob")
        assert [m["text"] for m in ok_lines(lines)] == ["after"], f"bob{ctx}"
        warnings = gap_warnings(lines)
        assert len(warnings) == 1, f"bob: expected one warning for the hole{ctx}"
        w = warnings[0]
        after = ok_lines(lines)[0]
        assert w["seq"] == w["last_seq"] == drop.number < after["seq"], f"bob: the warning's numbers: {w}{ctx}"
        assert w.get("room") == ROOM and "though asked for again" in w["reason"], w
        from_alice = [m for m in lines if m.get("status") == "warning" and m.get("from") == "alice"]
        assert len(from_alice) == 1 and from_alice[0]["missing"] == 1, f"bob: alice's counters{ctx}"
        assert "skipped" in err, f"bob did not say the relay skipped a message{ctx}"
        assert drop.dropped >= 3, f"the proxy dropped {drop.dropped} copies: bob did not ask again twice{ctx}"
        assert not rejected(lines), f"bob: a rejection{ctx}"

        again = s.users["bob"].listen(ROOM, s.url("bob"), count=1, timeout=4)
        result = again.finish()
        assert result.returncode == 3, f"bob's second listener: expected a timeout (exit 3)\n  {result.describe()}"
        assert again.lines() == [], f"bob's second listener printed something\n  {result.describe()}"
        assert "skipped" not in result.stderr, f"bob's second listener asked again\n  {result.describe()}"
        assert history_texts(s.users["bob"]) == ["after"], "bob's history"
    run_setup(t, body, names=NAMES)


def test_backlog_dropped_once_is_asked_for_again(t, protocol=1):
    """bob is away while alice sends one message and charlie another; the relay drops
    alice's from bob's backlog once. bob shows charlie's, asks again for the hole once
    caught up, and shows alice's: both once, and in history in the relay's order."""
    def body(s):
        create_room(s, protocol=protocol)
        send(s, "alice", "one")
        send(s, "charlie", "two")
        drop = DropFirstMessage("bob", every_time=False)
        s.proxy.on_relay_frame = drop.hook
        bob = s.users["bob"].listen(ROOM, s.url("bob"), count=2, timeout=LISTEN_TIMEOUT)
        result = bob.finish()
        result.expect_ok("bob's listener")
        lines = bob.lines()
        assert drop.dropped == 1, f"the proxy dropped {drop.dropped} copies\n  {result.describe()}"
        assert_genuine_only(lines, [("alice", "one"), ("charlie", "two")], "bob", result)
        shown = [(m["from"], m["text"]) for m in ok_lines(lines)]
        assert shown == [("charlie", "two"), ("alice", "one")], f"bob: {shown}\n  {result.describe()}"
        assert "skipped" in result.stderr, f"bob did not say the relay skipped a message\n  {result.describe()}"
        assert not [m for m in lines if m.get("status") == "warning"], f"bob: a warning\n  {result.describe()}"
        assert not rejected(lines), f"bob: a rejection\n  {result.describe()}"
        texts = history_texts(s.users["bob"])
        assert texts == ["one", "two"], f"bob's history: {texts}"
    run_setup(t, body, names=NAMES)


def test_backlog_tail_dropped_every_time_is_a_warning(t, protocol=1):
    """bob is away while alice sends the room's only message; the relay drops it from
    bob's backlog every time. Its Joined announced it, nothing arrives: after the stall
    timer the missing tail becomes a hole, asked for twice, then one warning."""
    def body(s):
        create_room(s, protocol=protocol)
        send(s, "alice", "tail")
        drop = DropFirstMessage("bob", every_time=True)
        s.proxy.on_relay_frame = drop.hook
        bob = s.users["bob"].listen(ROOM, s.url("bob"), count=1, timeout=TAIL_WAIT_S + 30)
        lines = wait_stdout(bob.proc, lambda ls: bool(gap_warnings(ls)), TAIL_WAIT_S, "bob's warning for the tail")
        stop(bob.proc)
        err = bob.proc.stderr()
        lines = json_lines(bob.proc.stdout())
        ctx = f"\n  stdout:\n{harness.tail(bob.proc.stdout())}\n  stderr:\n{harness.tail(err)}"
        assert not ok_lines(lines), f"bob showed a message{ctx}"
        assert len(lines) == 1, f"bob: expected the warning only{ctx}"
        w = lines[0]
        assert w["seq"] == w["last_seq"] == drop.number, f"bob: the warning's numbers: {w}{ctx}"
        assert "did not deliver" in w["reason"] and "though asked for again" in w["reason"], w
        assert "skipped" in err, f"bob did not say the relay skipped a message{ctx}"
        assert drop.dropped >= 3, f"the proxy dropped {drop.dropped} copies: bob did not ask again twice{ctx}"
    run_setup(t, body, names=NAMES)


def test_position_does_not_move_past_a_hole(t, protocol=1):
    """bob's first listener (count 1) is never sent alice's message; it shows charlie's
    later one and exits at once. The hole stays in bob's state: his next listener asks
    for it from the start and shows alice's message."""
    def body(s):
        create_room(s, protocol=protocol)
        # Her closing sync too: the first item past the hole is charlie's message.
        drop = DropFirstMessage("bob-1", every_time=True, whole_sender=True)
        s.proxy.on_relay_frame = drop.hook
        first = s.users["bob"].listen(ROOM, s.url("bob-1"), count=1, timeout=LISTEN_TIMEOUT)
        send(s, "alice", "one")
        s.proxy.wait_for(lambda: drop.dropped == 2, WAIT_S, "the proxy drops alice's message and sync to bob-1")
        send(s, "charlie", "two")
        r1 = first.finish()
        r1.expect_ok("bob's first listener")
        lines1 = first.lines()
        assert_genuine_only(lines1, [("charlie", "two")], "bob's first listener", r1)
        assert [m["text"] for m in ok_lines(lines1)] == ["two"], r1.describe()
        assert not [m for m in lines1 if m.get("status") == "warning"], r1.describe()

        second = s.users["bob"].listen(ROOM, s.url("bob-2"), count=1, timeout=LISTEN_TIMEOUT)
        r2 = second.finish()
        r2.expect_ok("bob's second listener")
        lines2 = second.lines()
        assert_genuine_only(lines2, [("alice", "one")], "bob's second listener", r2)
        assert [m["text"] for m in ok_lines(lines2)] == ["one"], r2.describe()
        assert ok_lines(lines2)[0]["seq"] == drop.number, r2.describe()
        assert not [m for m in lines2 if m.get("status") != "ok"], r2.describe()
        texts = history_texts(s.users["bob"])
        assert texts == ["one", "two"], f"bob's history: {texts}"
    run_setup(t, body, names=NAMES)


TESTS = [test_live_dropped_once_is_asked_for_again, test_live_dropped_every_time_is_a_warning,
         test_backlog_dropped_once_is_asked_for_again, test_backlog_tail_dropped_every_time_is_a_warning,
         test_position_does_not_move_past_a_hole]

if __name__ == "__main__":
    harness.main(TESTS + [in_version_2(test) for test in TESTS])
