#!/usr/bin/env python3
"""A hostile relay, against messages: real `parley` clients talk to the real
`parley-relay` through a man-in-the-middle proxy (tests/tools/hostile_proxy.py) that
drops, duplicates, reorders, rewrites, replays and injects frames
(docs/THREAT-MODEL.md). Epoch records are test_hostile_records.py.

Every test checks the same rule: a forged, replayed or misattributed message is
never shown with status ok; it is either shown as rejected/warning with a reason,
or it leaves the client unaffected (nothing shown, later genuine messages arrive).

Hooks see the relay's sequence numbers times 1000 ("stride space", see
hostile_proxy.py), so an injected frame numbered `seq + 1` never collides with the
relay's next frame. On the wire the client gets dense numbers, as from a relay that
numbers what it injects: an injected frame after everything sent takes the next
number, a real one keeps its distance from the one before (a dropped Deliver leaves
a hole). A client asks again for a hole in the numbering (docs/PROTOCOL.md §6.2
"Gaps"), and a frame it cannot use at all (does not decode, another room) leaves one
too: so a message whose Deliver is dropped or unusable may still arrive later, in the
relay's genuine copy. Tampering hooks therefore change a message's copies per message
(k: the relay's number, counted from the first message to bob), and a text shown ok
must have reached bob in an untouched copy.
"""
import os
import random
import re
import sys
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import harness  # noqa: E402
import hostile_proxy as hp  # noqa: E402
from hostile_setup import (  # noqa: E402
    in_version_2, LISTEN_TIMEOUT, OTHER_ROOM, ROOM, WAIT_S, Setup, assert_genuine_only, create_room, deliver_hook,
    has_ok, ok_lines, rejected, renumbered, run_setup, start_chat, stop, wait_stdout)


# --------------------------------------------------------------------------- replay


def test_replay_at_once(t, protocol=1):
    """The relay delivers a message twice in a row: once with the same sequence
    number, once renumbered. Shown once; the renumbered copy is rejected as a replay."""
    def body(s):
        create_room(s, protocol=protocol)
        s.proxy.on_relay_frame = deliver_hook(
            "bob", lambda c, f, i: [f.encode(), f.encode(), renumbered(f.encode(), f.seq + 1)] if i == 0 else None)
        bob = s.users["bob"].listen(ROOM, s.url("bob"), count=2, timeout=LISTEN_TIMEOUT)
        s.users["alice"].send(ROOM, s.relay.url, ["first"]).expect_ok("alice sends")
        s.users["alice"].send(ROOM, s.relay.url, ["second"]).expect_ok("alice sends")
        result = bob.finish()
        lines = bob.lines()
        assert_genuine_only(lines, [("alice", "first"), ("alice", "second")], "bob", result)
        assert rejected(lines, "replay"), f"bob: the renumbered copy was not rejected as a replay\n  {result.describe()}"
        assert [m["text"] for m in ok_lines(lines)] == ["first", "second"], result.describe()
        result.expect_ok("bob's listener")
    run_setup(t, body)


def test_replay_later(t, protocol=1):
    """A message replayed after three others: rejected as a replay."""
    def body(s):
        create_room(s, protocol=protocol)
        kept = {}

        def fn(conn, f, i):
            if i == 0:
                kept["first"] = f.envelope
            if i == 3:
                return [f.encode(), hp.Frame(hp.DELIVER, room=f.room, genesis=f.genesis, seq=f.seq + 1,
                                             envelope=kept["first"]).encode()]  # msg 4 follows
            return None
        s.proxy.on_relay_frame = deliver_hook("bob", fn)
        texts = [f"msg {i}" for i in range(5)]
        bob = s.users["bob"].listen(ROOM, s.url("bob"), count=5, timeout=LISTEN_TIMEOUT)
        for text in texts:
            s.users["alice"].send(ROOM, s.relay.url, [text]).expect_ok("alice sends")
        result = bob.finish()
        lines = bob.lines()
        assert_genuine_only(lines, [("alice", x) for x in texts], "bob", result)
        assert rejected(lines, "replay"), f"bob: late replay not rejected\n  {result.describe()}"
        assert [m["text"] for m in ok_lines(lines)] == texts
        result.expect_ok("bob's listener")
    run_setup(t, body)


def test_replay_after_receiver_restart(t, protocol=1):
    """bob's listener handles a message and exits; a new listener process (same
    --state) is served that message again right after its Joined: rejected."""
    def body(s):
        create_room(s, protocol=protocol)
        first = s.users["bob"].listen(ROOM, s.url("bob"), count=1, timeout=LISTEN_TIMEOUT)
        s.users["alice"].send(ROOM, s.relay.url, ["before restart"]).expect_ok("alice sends")
        first.finish().expect_ok("bob's first listener")
        # And alice's closing sync (docs/PROTOCOL.md §5.1), so the replay below is
        # the only item after bob's position.
        drain = s.users["bob"].listen(ROOM, s.url("bob"), count=1, timeout=2)
        assert drain.finish().returncode == 3 and not drain.lines(), "bob's second read"
        bob_conn = [c for c in s.proxy.connections("bob") if c.frames("r2c", ftype=hp.DELIVER)][0]
        old = bob_conn.frames("r2c", ftype=hp.DELIVER)[0]

        def hook(conn, data):
            f = hp.parse_frame(data)
            if conn.label == "bob" and conn is not bob_conn and f is not None and f.type == hp.JOINED:
                # The replay, as if it were the backlog after bob's last position.
                return [data, hp.Frame(hp.DELIVER, room=old.room, genesis=old.genesis, seq=f.last_seq + 1,
                                       envelope=old.envelope).encode()]
            return None
        s.proxy.on_relay_frame = hook
        second = s.users["bob"].listen(ROOM, s.url("bob"), count=1, timeout=LISTEN_TIMEOUT)
        s.users["alice"].send(ROOM, s.relay.url, ["after restart"]).expect_ok("alice sends")
        result = second.finish()
        lines = second.lines()
        assert_genuine_only(lines, [("alice", "after restart")], "bob after restart", result)
        assert rejected(lines, "replay"), f"bob after restart: replay not rejected\n  {result.describe()}"
        result.expect_ok("bob's second listener")
    run_setup(t, body)


def test_replay_into_another_room(t, protocol=1):
    """A Deliver of room A injected into bob's room-B listener, both with room A's
    header and rewritten to name room B and its genesis: both rejected."""
    def body(s):
        create_room(s, ROOM, protocol=protocol)
        create_room(s, OTHER_ROOM, protocol=protocol)
        bob_a = s.users["bob"].listen(ROOM, s.url("bob-a"), count=1, timeout=LISTEN_TIMEOUT)
        s.users["alice"].send(ROOM, s.relay.url, ["said in room A"]).expect_ok("alice sends to A")
        bob_a.finish().expect_ok("bob's room-A listener")
        a_frame = s.proxy.connections("bob-a", reader=True)[0].frames("r2c", ftype=hp.DELIVER)[0]

        def fn(conn, f, i):
            if i != 0:
                return None
            as_is = hp.Frame(hp.DELIVER, room=a_frame.room, genesis=a_frame.genesis, seq=f.seq - 2,
                             envelope=a_frame.envelope).encode()
            moved = hp.Frame(hp.DELIVER, room=conn.room, genesis=conn.genesis, seq=f.seq - 1,
                             envelope=a_frame.envelope).encode()
            return [as_is, moved, f.encode()]
        s.proxy.on_relay_frame = deliver_hook("bob-b", fn)
        bob_b = s.users["bob"].listen(OTHER_ROOM, s.url("bob-b"), count=1, timeout=LISTEN_TIMEOUT)
        s.users["alice"].send(OTHER_ROOM, s.relay.url, ["said in room B"]).expect_ok("alice sends to B")
        result = bob_b.finish()
        lines = bob_b.lines()
        assert_genuine_only(lines, [("alice", "said in room B")], "bob in room B", result)
        assert rejected(lines, "another room"), f"room-A message not rejected in room B\n  {result.describe()}"
        assert len(rejected(lines)) == 2, f"expected two rejections\n  {result.describe()}"
        result.expect_ok("bob's room-B listener")
    run_setup(t, body)


def test_replay_into_another_epoch(t, protocol=1):
    """An epoch-0 message replayed after a rekey to epoch 1 (inside the grace epoch:
    caught by the replay window) and after a rekey to epoch 2 (stale)."""
    def body(s):
        create_room(s, protocol=protocol)
        kept = {}

        def fn(conn, f, i):
            env = hp.Envelope.parse(f.envelope)
            if env.epoch == 0:
                kept["e0"] = f.envelope
            elif "e0" in kept and env.epoch in (1, 2):
                # Before the genuine one (numbered just below it): the listener exits
                # after its last expected message.
                return [hp.Frame(hp.DELIVER, room=f.room, genesis=f.genesis, seq=f.seq - 1,
                                 envelope=kept["e0"]).encode(), f.encode()]
            return None
        s.proxy.on_relay_frame = deliver_hook("bob", fn)
        bob = s.users["bob"].listen(ROOM, s.url("bob"), count=3, timeout=LISTEN_TIMEOUT + 20)
        alice = s.users["alice"]
        alice.send(ROOM, s.relay.url, ["epoch zero"]).expect_ok("alice sends")
        wait_stdout(bob.proc, has_ok("epoch zero"), WAIT_S, "bob gets the epoch-0 message")
        alice.rekey(ROOM, s.relay.url).expect_ok("alice rekeys to epoch 1")
        alice.send(ROOM, s.relay.url, ["epoch one"]).expect_ok("alice sends")
        wait_stdout(bob.proc, has_ok("epoch one"), WAIT_S, "bob gets the epoch-1 message")
        alice.rekey(ROOM, s.relay.url).expect_ok("alice rekeys to epoch 2")
        alice.send(ROOM, s.relay.url, ["epoch two"]).expect_ok("alice sends")
        result = bob.finish()
        lines = bob.lines()
        assert_genuine_only(lines, [("alice", "epoch zero"), ("alice", "epoch one"), ("alice", "epoch two")],
                            "bob", result)
        assert [m["epoch"] for m in ok_lines(lines)] == [0, 1, 2], result.describe()
        assert rejected(lines, "replay"), f"epoch-0 replay in epoch 1 not rejected\n  {result.describe()}"
        assert rejected(lines, "stale epoch 0"), f"epoch-0 replay in epoch 2 not stale\n  {result.describe()}"
        result.expect_ok("bob's listener")
    run_setup(t, body)


# --------------------------------------------------------------------------- reflection


def chat_rejects_reflection(s: Setup, line: str, then: str = "") -> harness.Result:
    """alice says `line` in chat, with the proxy's hooks set to reflect it back to her:
    her chat shows the reflection rejected as such and her line once. `then` is typed
    before /quit. Returns the chat's result."""
    chat = start_chat(s, "alice")
    chat.write_stdin(line + "\n")
    chat.wait_for_stdout(re.compile(r"rejected"), WAIT_S, "alice's chat shows the reflection as rejected")
    # (In version 2 the first reflection is of the sync before her text.)
    chat.wait_for_stdout(re.compile(r"\(you\): " + re.escape(line)), WAIT_S, "alice's chat shows her line sent")
    chat.write_stdin(then + "/quit\n", close=True)
    result = chat.wait(harness.COMMAND_TIMEOUT_S, "alice's chat")
    result.expect_ok("alice's chat")
    assert re.search(r"rejected a message: .*reflect", result.stdout), f"no 'reflected' reason\n  {result.describe()}"
    assert result.stdout.count(line) == 1, f"message shown twice\n  {result.describe()}"
    return result


def test_reflection_of_own_message(t, protocol=1):
    """alice chats; the relay echoes her Send's envelope back to her own connection as
    a Deliver. Rejected as reflected, never shown as a new message from alice."""
    def body(s):
        create_room(s, protocol=protocol)
        pending = {}

        def c2r(conn, data):
            f = hp.parse_frame(data)
            if conn.label == "alice" and f is not None and f.type == hp.SEND:
                pending[conn.id] = f
            return None

        def r2c(conn, data):
            f = hp.parse_frame(data)
            if conn.label == "alice" and f is not None and f.type == hp.ACK and conn.id in pending:
                sent = pending.pop(conn.id)
                return [data, hp.Frame(hp.DELIVER, room=sent.room, genesis=sent.genesis, seq=f.seq + 1,
                                       envelope=sent.envelope).encode()]
            return None
        s.proxy.on_client_frame = c2r
        s.proxy.on_relay_frame = r2c
        bob = s.users["bob"].listen(ROOM, s.relay.url, count=2, timeout=LISTEN_TIMEOUT)
        chat_result = chat_rejects_reflection(s, "hello from chat", then="still chatting\n")
        # Once, as she sent it; never a second time as a message of hers that came back.
        assert chat_result.stdout.count("(you): hello from chat") == 1, (
            f"the reflected message was shown as alice's own\n  {chat_result.describe()}")
        result = bob.finish()
        assert_genuine_only(bob.lines(), [("alice", "hello from chat"), ("alice", "still chatting")], "bob", result)
        result.expect_ok("bob's listener")
    run_setup(t, body)


def test_reflection_before_the_ack(t, protocol=1):
    """The relay echoes alice's Send back to her as a Deliver before it acknowledges it,
    on the same connection. A client that resends recognises its own message in the
    backlog after a reconnect; this is not that (no connection was lost, the number is
    not from a backlog): rejected as reflected, shown once."""
    def body(s):
        create_room(s, protocol=protocol)

        def c2r(conn, data):
            f = hp.parse_frame(data)
            if conn.label == "alice" and f is not None and f.type == hp.SEND and "done" not in conn.state:
                conn.state["done"] = True
                conn.inject_to_client(hp.Frame(hp.DELIVER, room=f.room, genesis=f.genesis, seq=999,
                                               envelope=f.envelope).encode())
            return None
        s.proxy.on_client_frame = c2r
        chat_rejects_reflection(s, "hello early")
    run_setup(t, body)


# --------------------------------------------------------------------------- reorder, drop


def test_reorder_two_delivers(t, protocol=1):
    """Two Delivers swapped, renumbered into delivery order: both shown once each."""
    def body(s):
        create_room(s, protocol=protocol)
        held = {}

        def fn(conn, f, i):
            if i == 0:
                held["f"] = f
                return []
            if i == 1:
                first = held.pop("f")
                return [renumbered(f.encode(), first.seq), renumbered(first.encode(), f.seq)]
            return None
        s.proxy.on_relay_frame = deliver_hook("bob", fn)
        bob = s.users["bob"].listen(ROOM, s.url("bob"), count=3, timeout=LISTEN_TIMEOUT)
        s.users["alice"].send(ROOM, s.relay.url, ["one", "two", "three"]).expect_ok("alice sends")
        result = bob.finish()
        lines = bob.lines()
        assert_genuine_only(lines, [("alice", "one"), ("alice", "two"), ("alice", "three")], "bob", result)
        assert sorted(m["text"] for m in ok_lines(lines)) == ["one", "three", "two"], result.describe()
        assert not rejected(lines), f"reordered message rejected\n  {result.describe()}"
        result.expect_ok("bob's listener")
    run_setup(t, body)


def test_reorder_keeping_sequence_numbers(t, protocol=1):
    """Messages 2 and 3 swapped with their own sequence numbers: 3 arrives first and
    leaves a hole where 2 belongs. The client asks again for the hole (§6.2 "Gaps") and
    2 is shown late; the counter gap 3 left is held meanwhile and, 2 having come, never
    shown (§7 step 9). All four once each, nothing rejected, no warning."""
    def body(s):
        create_room(s, protocol=protocol)
        held = {}

        def fn(conn, f, i):
            if i == 1:
                held["f"] = f
                return []
            if i == 2:
                return [f.encode(), held.pop("f").encode()]
            return None  # (the copies asked for again pass untouched)
        s.proxy.on_relay_frame = deliver_hook("bob", fn)
        texts = ["one", "two", "three", "four"]
        bob = s.users["bob"].listen(ROOM, s.url("bob"), count=4, timeout=LISTEN_TIMEOUT)
        s.users["alice"].send(ROOM, s.relay.url, texts).expect_ok("alice sends")
        result = bob.finish()
        result.expect_ok("bob's listener")
        lines = bob.lines()
        assert_genuine_only(lines, [("alice", x) for x in texts], "bob", result)
        shown = [m["text"] for m in ok_lines(lines)]
        assert shown == ["one", "three", "two", "four"], f"bob: {shown}\n  {result.describe()}"
        assert not rejected(lines), f"reordered message rejected\n  {result.describe()}"
        warnings = [m for m in lines if m.get("status") == "warning"]
        assert not warnings, f"bob: a warning for a message that came\n  {result.describe()}"
        assert "skipped" in result.stderr, f"bob did not ask again for the hole\n  {result.describe()}"
    run_setup(t, body)


def test_drop_for_one_member_is_asked_for_again(t, protocol=1):
    """The relay drops messages 2 and 3 for bob only, once: bob asks again for the hole
    (§6.2 "Gaps") and shows 2 and 3 late, each once, with no warning (the counter gap
    message 4 showed was held until the hole was settled, §7 step 9); charlie sees
    everything."""
    def body(s):
        create_room(s, protocol=protocol)
        # deliver_hook counts per label, across connections: the copies bob's
        # second connection asks for pass untouched.
        s.proxy.on_relay_frame = deliver_hook("bob", lambda c, f, i: [] if i in (1, 2) else None)
        texts = [f"m{i}" for i in range(1, 6)]
        bob = s.users["bob"].listen(ROOM, s.url("bob"), count=5, timeout=LISTEN_TIMEOUT)
        charlie = s.users["charlie"].listen(ROOM, s.url("charlie"), count=5, timeout=LISTEN_TIMEOUT)
        s.users["alice"].send(ROOM, s.relay.url, texts).expect_ok("alice sends")
        result = bob.finish()
        result.expect_ok("bob's listener")
        lines = bob.lines()
        assert_genuine_only(lines, [("alice", x) for x in texts], "bob", result)
        shown = [m["text"] for m in ok_lines(lines)]
        assert shown == ["m1", "m4", "m2", "m3", "m5"], f"bob: {shown}\n  {result.describe()}"
        assert not rejected(lines), f"bob: a message asked for again was rejected\n  {result.describe()}"
        warnings = [m for m in lines if m.get("status") == "warning"]
        assert not warnings, f"bob: a warning for messages that came\n  {result.describe()}"
        assert "skipped" in result.stderr, f"bob did not ask again for the hole\n  {result.describe()}"
        c_result = charlie.finish()
        c_lines = charlie.lines()
        assert [m["text"] for m in ok_lines(c_lines)] == texts, c_result.describe()
        assert not [m for m in c_lines if m.get("status") != "ok"], c_result.describe()
        c_result.expect_ok("charlie's listener")
    run_setup(t, body, names=("alice", "bob", "charlie"))


# --------------------------------------------------------------------------- tampering


class PerMessage:
    """A relay->client hook for `label`'s reading connections that changes Deliver
    frames per message, not per frame: the relay may send a message more than once
    now (a client asks again for a hole, §6.2 "Gaps"), so a change keyed by the
    frame's index would fall on another message each time.

    change(f, k) gives the frames to send instead of message k's Deliver f (k counts
    the texts to `label` in the relay's order, from 0), or None to pass it.
    Every copy of a message is changed the same way, except for the messages in
    `first_copy_only`: those are changed only on the first connection that carries
    them and pass untouched afterwards (the genuine copy a client asks for again).
    Records what the hook made (`made`: frame bytes), each message's envelope as the
    relay sent it (`original`) and when it was first changed (`changed_at`)."""

    def __init__(self, label: str, change, first_copy_only=()):
        self.label = label
        self.change = change
        self.first_copy_only = set(first_copy_only)
        self.texts = {}  # the relay's number of each text -> k
        self.first_conn = {}
        self.original = {}
        self.changed_at = {}
        self.made = set()

    def hook(self, conn, data):
        if conn.label != self.label or conn.reader is False:
            return None
        f = hp.parse_frame(data)
        if f is None or f.type != hp.DELIVER or len(f.envelope) < 2 or f.envelope[1] != TEXT:
            return None  # a sync or a key-update passes (version 2 puts them around the texts)
        number = f.seq // hp.SEQ_STRIDE
        k = self.texts.setdefault(number, len(self.texts))
        self.original.setdefault(k, f.envelope)
        self.first_conn.setdefault(k, conn.id)
        if k in self.first_copy_only and conn.id != self.first_conn[k]:
            return None
        out = self.change(f, k)
        if out is None:
            return None
        self.changed_at.setdefault(k, time.monotonic())
        self.made.update(out)
        return out

    def untouched_copy_sent(self, s: Setup, k: int) -> bool:
        """Whether message k reached `label` after it was first changed in a Deliver the
        hook did not make: the relay's own envelope, room and genesis."""
        since = self.changed_at.get(k, 0.0)
        for conn in s.proxy.connections(self.label):
            for e in list(conn.log):
                if e.direction != "r2c" or e.stage != "sent" or e.time < since or e.data in self.made:
                    continue
                f = e.frame
                if (f is not None and f.type == hp.DELIVER and f.envelope == self.original.get(k)
                        and f.room == conn.room and f.genesis == conn.genesis):
                    return True
        return False

    def check_shown(self, s: Setup, lines: list, texts: list, allowed=lambda k: False) -> None:
        """Every message shown ok was sent to `label` in an untouched copy after its
        changed ones (or `allowed(k)`: a change that may leave it intact)."""
        for m in ok_lines(lines):
            k = texts.index(m["text"])
            if k in self.changed_at and not allowed(k):
                assert self.untouched_copy_sent(s, k), (
                    f"message {k} ({m['text']!r}) shown as ok, but bob never got an untouched copy of it: {m}")


def flip_positions(frame_len: int, ct_len: int, n: int = 30, seed: int = 4) -> list:
    """n byte positions in a Deliver frame, spread over every region: frame version and
    type, room, genesis, the low byte of the sequence number, the envelope length, the
    envelope header, the ciphertext length, the ciphertext and the signature. (The
    high bytes of the relay's sequence number are not authenticated by anyone: a relay
    that sets it far ahead only withholds later messages, which it can always do.)"""
    rng = random.Random(seed)
    env = hp.DELIVER_ENVELOPE
    ct = env + hp.ENV_HEADER_BYTES + 4
    regions = [(0, 1), (1, 2), (2, 34), (34, 66), (73, 74), (74, 78),
               (env + 0, env + 2), (env + 2, env + 34), (env + 34, env + 42), (env + 42, env + 74),
               (env + 74, env + 106), (env + 106, env + 122), (env + 122, env + 130), (env + 130, env + 138),
               (env + 138, env + 162), (env + 162, ct), (ct, ct + ct_len), (ct + ct_len, frame_len)]
    picks = [rng.randrange(a, b) for a, b in regions]
    while len(picks) < n:
        picks.append(rng.randrange(env, frame_len))
    rng.shuffle(picks)
    return picks[:n]


def unusable(pos: int) -> bool:
    """A change at `pos` leaves a Deliver the client cannot place at all: it does not
    decode (frame version, type, envelope length) or names another room or chain. Its
    number stays a hole (§6.2 "Gaps")."""
    return pos < hp.DELIVER_SEQ or hp.DELIVER_LEN <= pos < hp.DELIVER_ENVELOPE


def test_single_byte_changes_in_deliver(t, protocol=1):
    """30 messages, each Deliver to bob with one byte changed (random bit) at a
    different position, on every copy the relay sends; then an untouched message. No
    altered text is ever ok. A copy the client cannot place leaves a hole it asks for
    again; the copies asked for are changed too, so it gives the hole up with a
    warning."""
    def body(s):
        create_room(s, protocol=protocol)
        n = 30
        texts = [f"tamper probe {i:02d}" for i in range(n)] + ["untouched last"]
        done = {}

        def change(f, k):
            if k >= n:
                return None
            data = f.encode()
            positions = flip_positions(len(data), len(hp.Envelope.parse(f.envelope).ciphertext), n)
            pos = positions[k]
            mask = 1 << random.Random(k).randrange(8)
            done[k] = (pos, mask)
            return [hp.flip(data, pos, mask)]
        tamper = PerMessage("bob", change)
        s.proxy.on_relay_frame = tamper.hook
        bob = s.users["bob"].listen(ROOM, s.url("bob"), count=n + 1, timeout=LISTEN_TIMEOUT)
        s.users["alice"].send(ROOM, s.relay.url, texts).expect_ok("alice sends")
        lines = wait_stdout(bob.proc, has_ok("untouched last"), WAIT_S, "bob gets the untouched message")
        holes = [k for k, (pos, _) in done.items() if unusable(pos)]
        if holes:
            # Asked for twice and passed over twice: given up. (That may come after the
            # last message, when a hole is right before it.)
            lines = wait_stdout(bob.proc, lambda ls: any("did not deliver" in m.get("reason", "") for m in ls),
                                WAIT_S, "bob gives up a hole left by a frame it cannot place")
            bob.proc.wait_for_stderr(re.compile("skipped"), WAIT_S, "bob asks again for a hole")
        stop(bob.proc)
        genuine = [("alice", x) for x in texts]
        assert_genuine_only(lines, genuine, "bob")
        assert sorted(done) == list(range(n)), f"only {len(done)} messages were tampered"
        # Only a change in the relay's own, unauthenticated sequence number may leave
        # a message intact; everything in the envelope or the room/chain names must not.
        tamper.check_shown(s, lines, texts, allowed=lambda k: hp.DELIVER_SEQ <= done[k][0] < hp.DELIVER_LEN)
        assert len(rejected(lines)) >= n // 2, f"too few rejections: {lines}"
        err = bob.proc.stderr()
        undecodable = [p for p, _ in done.values() if p < 2 or hp.DELIVER_LEN <= p < hp.DELIVER_ENVELOPE]
        if undecodable:
            assert "does not decode" in err, f"no warning for undecodable frames:\n{harness.tail(err)}"
    run_setup(t, body)


def test_truncated_and_extended_deliver(t, protocol=1):
    """Deliver frames cut short or with bytes added (frame level, and envelope level
    with a consistent length): no changed frame is shown. A frame cut or extended so it
    does not decode takes no place in the stream: the client asks again for its number
    and shows the relay's genuine copy (changed only on the first connection). An
    envelope resized inside a well-formed frame is rejected (changed on every copy).
    The listener keeps working."""
    def body(s):
        create_room(s, protocol=protocol)

        def env_resize(f, delta):
            env = f.envelope + b"\x00" * delta if delta > 0 else f.envelope[:delta]
            return hp.Frame(hp.DELIVER, room=f.room, genesis=f.genesis, seq=f.seq, envelope=env).encode()
        # The frames that do not decode first: the client handles every one of them
        # on its first connection (it asks again only after the next frame it can
        # place, the first resized envelope), so each is tried and each comes back.
        frame_level = [
            lambda f: f.encode()[:-1],                 # frame one byte short
            lambda f: f.encode()[:len(f.encode()) // 2],
            lambda f: f.encode()[:hp.DELIVER_ENVELOPE],  # header only
            lambda f: f.encode() + b"\x00",            # trailing byte
            lambda f: f.encode() + os.urandom(300),
            lambda f: f.encode()[:2],                  # version and type only
        ]
        envelope_level = [
            lambda f: env_resize(f, 1),                # envelope one byte longer, length fixed up
            lambda f: env_resize(f, -1),               # envelope one byte shorter
            lambda f: env_resize(f, 256),              # a padding block more
        ]
        mutations = frame_level + envelope_level
        tamper = PerMessage("bob", lambda f, k: [mutations[k](f)] if k < len(mutations) else None,
                            first_copy_only=range(len(frame_level)))
        s.proxy.on_relay_frame = tamper.hook
        texts = [f"cut {i}" for i in range(len(mutations))] + ["whole"]
        recovered = texts[:len(frame_level)]
        bob = s.users["bob"].listen(ROOM, s.url("bob"), count=len(recovered) + 1, timeout=LISTEN_TIMEOUT)
        s.users["alice"].send(ROOM, s.relay.url, texts).expect_ok("alice sends")
        result = bob.finish()
        lines = bob.lines()
        assert_genuine_only(lines, [("alice", x) for x in texts], "bob", result)
        tamper.check_shown(s, lines, texts)
        shown = [m["text"] for m in ok_lines(lines)]
        assert shown == recovered + ["whole"], f"bob: {shown}\n  {result.describe()}"
        assert len(rejected(lines, "malformed")) == len(envelope_level), result.describe()
        assert result.stderr.count("does not decode") == len(frame_level), result.describe()
        assert "skipped" in result.stderr, result.describe()
        result.expect_ok("bob's listener")
    run_setup(t, body)


# --------------------------------------------------------------------------- a member re-signing


def test_member_resigns_another_members_ciphertext(t, protocol=1):
    """bob (a member, with the message key) takes alice's envelope on its way to
    charlie: (1) header still names alice, signature is bob's; (2) header names bob,
    re-signed by bob; (3) mallory, not a member, signs it as herself. All rejected."""
    def body(s):
        create_room(s, protocol=protocol)
        bob_seed = hp.load_private_seed(s.users["bob"].key_file)
        bob_pub = hp.ed25519_public_key(bob_seed)
        mallory = harness.User(t, "mallory")
        t.keygen(mallory)
        m_seed = hp.load_private_seed(mallory.key_file)
        m_pub = hp.ed25519_public_key(m_seed)

        def fn(conn, f, i):
            if i != 0:
                return None
            env = hp.Envelope.parse(f.envelope)
            v1 = hp.Envelope(env.header, env.ciphertext, b"")
            v1.signature = hp.ed25519_sign(bob_seed, v1.signed_message())
            v2 = env.with_header_field(hp.ENV_SENDER, hp.key_id(bob_pub))
            v2.signature = hp.ed25519_sign(bob_seed, v2.signed_message())
            v3 = env.with_header_field(hp.ENV_SENDER, hp.key_id(m_pub))
            v3.signature = hp.ed25519_sign(m_seed, v3.signed_message())
            return [hp.Frame(hp.DELIVER, room=f.room, genesis=f.genesis, seq=f.seq + k,
                             envelope=v.encode()).encode() for k, v in enumerate((v1, v2, v3))]
        s.proxy.on_relay_frame = deliver_hook("charlie", fn)
        charlie = s.users["charlie"].listen(ROOM, s.url("charlie"), count=1, timeout=LISTEN_TIMEOUT)
        s.users["alice"].send(ROOM, s.relay.url, ["alice wrote this", "and this"]).expect_ok("alice sends")
        result = charlie.finish()
        lines = charlie.lines()
        assert_genuine_only(lines, [("alice", "and this")], "charlie", result)
        rej = rejected(lines)
        assert len(rej) == 3, f"expected three rejections\n  {result.describe()}"
        # Version 1 names members; version 2 devices, each certified by a record.
        assert re.search("roster" if protocol == 1 else "no record of this epoch certifies", rej[2]["reason"]), rej[2]
        result.expect_ok("charlie's listener")
    run_setup(t, body, names=("alice", "bob", "charlie"))


# --------------------------------------------------------------------------- downgrade, unknown frames


def test_version_downgrade_and_unknown_frames(t, protocol=1):
    """Deliver frames with version 0 or 2, envelopes with version 0 or 2, an unknown
    frame type, a plaintext 'message', a client-to-relay frame, a text WebSocket
    message: each rejected or ignored with a warning; the listener keeps working. The
    downgraded frames (message 0) do not decode, so they take no place in the stream:
    the client asks again for that number and shows the relay's genuine copy (changed
    only on the first connection). Messages 1 and 2 are changed on every copy."""
    def body(s):
        create_room(s, protocol=protocol)

        def change(f, k):
            data = f.encode()
            env = hp.DELIVER_ENVELOPE
            if k == 0:
                return [hp.flip(data, 0, 0x01), bytes([2]) + data[1:]]           # frame version 0, 2
            if k == 1:
                # Versions 0 and the other one: 2 in a room of version 1, 1 (a downgrade) in one of 2.
                e0 = data[:env] + b"\x00" + data[env + 1:]
                e2 = data[:env] + bytes([3 - protocol]) + data[env + 1:]
                return [e0, renumbered(e2, f.seq + 1)]
            if k == 2:
                unknown = bytes([1, 0x87]) + data[2:]
                plain = hp.Frame(hp.DELIVER, room=f.room, genesis=f.genesis, seq=f.seq,
                                 envelope=b"hello, I am the relay").encode()
                client_frame = hp.Frame(hp.SEND, request=1, room=f.room, genesis=f.genesis,
                                        envelope=f.envelope).encode()
                envtype = data[:env + 1] + b"\x07" + data[env + 2:]
                return [unknown, plain, client_frame, renumbered(envtype, f.seq + 1)]
            return None
        tamper = PerMessage("bob", change, first_copy_only=[0])
        s.proxy.on_relay_frame = tamper.hook
        texts = ["downgraded frame", "downgraded envelope", "unknown things", "plain and simple"]
        # Deterministic order: the client asks again right after the first frame it
        # places past the hole (message 1's version-0 envelope), and the connection that
        # asks brings message 0, then the rest, in order.
        bob = s.users["bob"].listen(ROOM, s.url("bob"), count=2, timeout=LISTEN_TIMEOUT)
        s.users["alice"].send(ROOM, s.relay.url, texts).expect_ok("alice sends")
        result = bob.finish()
        lines = bob.lines()
        assert_genuine_only(lines, [("alice", "downgraded frame"), ("alice", "plain and simple")], "bob", result)
        tamper.check_shown(s, lines, texts)
        assert [m["text"] for m in ok_lines(lines)] == ["downgraded frame", "plain and simple"], result.describe()
        assert len(rejected(lines, "version")) >= 2, f"envelope version not rejected\n  {result.describe()}"
        assert len(rejected(lines)) >= 4, result.describe()
        assert result.stderr.count("does not decode") >= 3, result.describe()
        assert "client-to-relay frame" in result.stderr, result.describe()
        assert "skipped" in result.stderr, result.describe()
        result.expect_ok("bob's listener")
    run_setup(t, body)


def test_a_refused_key_update_is_sent_again(t):
    """Version 2 (§10.3): each device announces a new update key once per epoch. The
    relay refuses alice's first key-update (an Error, as for a limit): her next text
    in the epoch goes with the same key-update again, not without one (a refused
    announcement marked as sent would leave her unhealed for a whole epoch)."""
    def body(s):
        create_room(s, protocol=2)
        state = {"refused": 0}

        def hook(conn, data):
            f = hp.parse_frame(data)
            if conn.label != "alice" or f is None or f.type not in (hp.SEND, hp.RESEND):
                return None
            if f.envelope[1] == KEY_UPDATE and state["refused"] == 0:
                state["refused"] += 1
                conn.inject_to_client(hp.Frame(hp.ERROR, request=f.request, code=hp.ERR_LIMIT).encode())
                return []
            return None
        s.proxy.on_client_frame = hook
        s.users["alice"].send(ROOM, s.url("alice"), ["one", "two"]).expect_ok("alice sends")
        passed = [f for c in s.proxy.connections("alice") for f in c.frames("c2r")
                  if f.type in (hp.SEND, hp.RESEND)]
        types = [f.envelope[1] for f in passed]
        assert state["refused"] == 1, "the hook never saw a key-update"
        assert types.count(KEY_UPDATE) == 1, f"the refused key-update was not sent again: types {types}"
        assert types.count(TEXT) == 2, types
        bob = s.users["bob"].listen(ROOM, s.relay.url, count=2, timeout=LISTEN_TIMEOUT)
        result = bob.finish()
        lines = bob.lines()
        assert [m["text"] for m in ok_lines(lines)] == ["one", "two"], result.describe()
        # The refused envelope's position was used and never stored: bob is told one
        # envelope of alice's is missing, as for any the relay did not keep (§10.4).
        warnings = [m for m in lines if m.get("status") == "warning"]
        assert [(m.get("from"), m.get("missing")) for m in warnings] == [("alice", 1)], result.describe()
    run_setup(t, body)


def test_a_send_cut_across_a_rotation_raises_no_false_alarm(t):
    """Version 2 (§10.4): alice's first envelopes in epoch 0 are a first-of-epoch sync
    and her key-update. The relay keeps the sync, but her connection drops before its
    Ack, and bob writes epoch 1 meanwhile: she seals what is left again in epoch 1.
    The key-update's position in epoch 0 never went out, and her first-of-epoch sync
    of epoch 1 does not count it: bob, who got all she sent in epoch 0, is told of
    nothing missing."""
    def body(s):
        create_room(s, protocol=2)
        held = {}
        acked = threading.Event()

        def hook(conn, data):
            f = hp.parse_frame(data)
            if conn.label != "alice" or f is None:
                return None
            if f.type == hp.ACK and "conn" not in held:
                held["conn"] = conn  # the sync's Ack: never reaches alice
                acked.set()
                return []
            if f.type == hp.NEW_HEAD and held.get("conn") is conn:
                conn.cut()  # bob's epoch 1: alice learns of it on the next connection
                return []
            return None
        s.proxy.on_relay_frame = hook
        alice = s.users["alice"].start("send", ROOM, s.url("alice"))
        alice.write_stdin("after the cut\n", close=True)
        assert acked.wait(WAIT_S), "alice's first envelope was never acknowledged"
        s.users["bob"].rekey(ROOM, s.relay.url).expect_ok("bob writes epoch 1")
        alice.wait(WAIT_S, "alice's send").expect_ok("alice's send, after a reconnect")
        bob = s.users["bob"].listen(ROOM, s.relay.url, count=1, timeout=LISTEN_TIMEOUT)
        result = bob.finish()
        lines = bob.lines()
        assert [m["text"] for m in ok_lines(lines)] == ["after the cut"], result.describe()
        assert [m for m in lines if m.get("status") != "ok"] == [], \
            f"bob was told of a message alice never sent\n  {result.describe()}"
        result.expect_ok("bob's listener")
    run_setup(t, body)


def test_the_proxy_tells_a_client_gone_from_a_broken_request(t):
    """The proxy's own rule, which every test here leans on: a client that closes
    before its first byte (a listener stopped while it connects again) is no proxy
    error; a request cut in the middle still is one."""
    s = Setup(t)
    try:
        port = int(s.url("bob").rsplit(":", 1)[1])
        import socket
        with socket.create_connection(("127.0.0.1", port)):
            pass
        s.proxy.wait_for(lambda: s.proxy.gone_before_upgrade, 10, "the empty connection to end")
        assert not s.proxy.errors, f"an empty connection counted as an error: {s.proxy.errors}"
        with socket.create_connection(("127.0.0.1", port)) as c:
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        s.proxy.wait_for(lambda: s.proxy.errors, 10, "the cut request to count as an error")
        assert len(s.proxy.gone_before_upgrade) == 1
    finally:
        s.close(True)


# The clear type byte of an envelope (§8, §10.4).
TEXT, SYNC, KEY_UPDATE = 1, 2, 3


VERSION_2 = [test_replay_at_once, test_replay_later, test_replay_after_receiver_restart,
             test_replay_into_another_room, test_replay_into_another_epoch, test_reflection_of_own_message,
             test_reflection_before_the_ack, test_reorder_two_delivers, test_reorder_keeping_sequence_numbers,
             test_drop_for_one_member_is_asked_for_again, test_single_byte_changes_in_deliver,
             test_truncated_and_extended_deliver, test_member_resigns_another_members_ciphertext,
             test_version_downgrade_and_unknown_frames]

if __name__ == "__main__":
    harness.main([
        test_replay_at_once,
        test_replay_later,
        test_replay_after_receiver_restart,
        test_replay_into_another_room,
        test_replay_into_another_epoch,
        test_reflection_of_own_message,
        test_reflection_before_the_ack,
        test_reorder_two_delivers,
        test_reorder_keeping_sequence_numbers,
        test_drop_for_one_member_is_asked_for_again,
        test_single_byte_changes_in_deliver,
        test_truncated_and_extended_deliver,
        test_member_resigns_another_members_ciphertext,
        test_version_downgrade_and_unknown_frames,
        test_a_refused_key_update_is_sent_again,
        test_a_send_cut_across_a_rotation_raises_no_false_alarm,
        test_the_proxy_tells_a_client_gone_from_a_broken_request,
    ] + [in_version_2(test) for test in VERSION_2])
