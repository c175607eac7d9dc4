#!/usr/bin/env python3
"""Store and forward: nothing is lost when the relay or a member goes away.

Real relay processes with a data directory, real clients. A member who was not
connected gets what was said, once, in order; a relay restart (clean or kill -9)
keeps rooms and every acknowledged message; a client restart resumes from its
last sequence number; retention says what expired.
"""
import json
import re
import signal
import sys
import time

sys.dont_write_bytecode = True
import harness  # noqa: E402

ROOM = "porch"


def texts(listener):
    return [(m["from"], m["text"]) for m in listener.messages()]


def expect_exactly(got, expected, who):
    assert got == expected, (f"{who}: expected {len(expected)} messages in order, got {len(got)}"
                             f"\n  missing: {[e for e in expected if e not in got][:5]}"
                             f"\n  extra/duplicate: {[g for g in got if got.count(g) > 1 or g not in expected][:5]}")


def history(user, room):
    result = user.run(["history", "--user", user.name, "--room", room, "--dir", str(user.dir),
                       "--state", str(user.state), "--limit", "100000", "--json"])
    result.expect_ok(f"{user.name}'s history")
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_offline_member_gets_what_was_said_once_in_order(t):
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        alice, bob = users["alice"], users["bob"]
        alice.create(ROOM, relay.url).expect_ok("alice creates the room")
        first = [f"while bob was away #{i}" for i in range(5)]
        alice.send(ROOM, relay.url, first).expect_ok("alice sends while bob is offline")

        listener = bob.listen(ROOM, relay.url, count=5, timeout=30)
        expect_exactly(texts(listener), [("alice", x) for x in first], "bob, first time back")

        second = [f"later #{i}" for i in range(3)]
        alice.send(ROOM, relay.url, second).expect_ok("alice sends again")
        listener = bob.listen(ROOM, relay.url, count=3, timeout=30)
        expect_exactly(texts(listener), [("alice", x) for x in second], "bob resumes after his last message")

        stored = [(m["from"], m["text"]) for m in history(bob, ROOM)]
        expect_exactly(stored, [("alice", x) for x in first + second], "bob's stored history")
        assert "while bob was away #0" in bob.run(
            ["history", "--user", "bob", "--room", ROOM, "--dir", str(bob.dir), "--state", str(bob.state)]).stdout


def test_relay_restart_keeps_rooms_and_messages(t):
    users = t.make_users(["alice", "bob"])
    alice, bob = users["alice"], users["bob"]
    data = t.fresh_dir("shared-relay-data")
    port = harness.free_port()
    relay = t.relay(data=data, port=port).start()
    alice.create(ROOM, relay.url).expect_ok("alice creates the room")
    alice.send(ROOM, relay.url, ["before the restart"]).expect_ok("alice sends")
    relay.stop()

    relay = t.relay(data=data, port=port).start()
    try:
        alice.send(ROOM, relay.url, ["after the restart"]).expect_ok("alice sends to the restarted relay")
        listener = bob.listen(ROOM, relay.url, count=2, timeout=30)
        expect_exactly(texts(listener), [("alice", "before the restart"), ("alice", "after the restart")],
                       "bob after a relay restart")
    finally:
        relay.stop()


def test_kill9_of_the_relay_loses_no_acknowledged_message(t):
    users = t.make_users(["alice", "bob"])
    alice, bob = users["alice"], users["bob"]
    data = t.fresh_dir("shared-relay-data")
    port = harness.free_port()
    relay = t.relay(data=data, port=port).start()
    alice.create(ROOM, relay.url).expect_ok("alice creates the room")

    lines = [f"steady stream #{i:03d}" for i in range(150)]
    sender = alice.start_send(ROOM, relay.url, lines)
    # Kill it mid-stream: once some lines are stored (not after a fixed time,
    # which a slow build may not have used to connect yet).
    deadline = time.monotonic() + 30
    while relay.db_counts()["log"] < 5:
        assert time.monotonic() < deadline, "alice's send stored nothing in 30 s"
        assert sender.running(), f"alice's send ended before the crash\n  {sender.result().describe()}"
        time.sleep(0.02)
    relay.kill9()
    time.sleep(0.3)
    relay = t.relay(data=data, port=port).start()
    try:
        # `send` exits 0 only once every line was acknowledged; it reconnects and
        # resends what the relay had not acknowledged when it died.
        sender.wait(90, "alice's send across the relay crash").expect_ok("alice's send survives the crash")
        listener = bob.listen(ROOM, relay.url, count=len(lines), timeout=40)
        got = texts(listener)
        expect_exactly(got, [("alice", x) for x in lines], "bob after the relay's kill -9")
        # A line stored just before the crash, whose Ack died with the relay, is
        # resent: the relay answers with the stored copy, so bob is never told
        # about a replay that did not happen.
        warned = [m for m in listener.lines() if m.get("status") in ("rejected", "warning")]
        assert not warned, f"bob was warned about lines alice sent once: {warned[:3]}"
    finally:
        relay.stop()


def test_send_rides_out_a_relay_killed_every_second(t):
    """README: `send` exits 0 once every line was acknowledged, and keeps trying a relay
    that is away (--retry, and a minute after a drop). With the relay killed (-9) and
    started again on the same port every second, three members send four batches
    each: every batch exits 0, and bob then gets every line exactly once."""
    users = t.make_users(["alice", "bob", "charlie", "dave"])
    senders = ["alice", "charlie", "dave"]
    data = t.fresh_dir("shared-relay-data")
    port = harness.free_port()
    relay = t.relay(data=data, port=port).start()
    url = relay.url
    users["alice"].create(ROOM, url).expect_ok("alice creates the room")
    for name in ("bob", "charlie", "dave"):
        users[name].ensure_joined(ROOM, url)
    waves = 4
    batches = {name: [[f"{name} batch {b} line {i}" for i in range(20)] for b in range(waves)] for name in senders}
    running = []
    kills = 0
    try:
        # A wave of three sends (one per member) at a time, the next once it is
        # done; the relay dies every second throughout, so every wave meets a kill.
        deadline = time.monotonic() + 240
        wave = 0
        while wave < waves or any(p.running() for _, _, p in running):
            assert time.monotonic() < deadline, "the sends did not finish in 240 s"
            if wave < waves and not any(p.running() for _, _, p in running):
                running += [(name, wave, users[name].start_send(ROOM, url, batches[name][wave], auto_join=False))
                            for name in senders]
                wave += 1
            time.sleep(1.0)
            relay.kill9()
            kills += 1
            relay = t.relay(data=data, port=port).start()
        for name, b, proc in running:
            proc.wait(10, f"{name}'s batch {b}").expect_ok(f"{name}'s batch {b} across {kills} relay kills")
        expected = [(name, line) for name in senders for batch in batches[name] for line in batch]
        listener = users["bob"].listen(ROOM, relay.url, count=len(expected), timeout=60)
        got = texts(listener)
        assert sorted(got) == sorted(expected), (
            f"bob after {kills} kills: missing {[e for e in expected if e not in got][:5]}, "
            f"duplicates {[g for g in got if got.count(g) > 1][:5]}")
        for name in senders:  # each sender's lines in the order it sent them, batch by batch
            mine = [line for who, line in got if who == name]
            for batch in batches[name]:
                positions = [mine.index(line) for line in batch]
                assert positions == sorted(positions), f"{name}'s batch out of order: {mine}"
        warned = [m for m in listener.lines() if m.get("status") != "ok"]
        assert not warned, f"bob was warned about lines sent once: {warned[:3]}"
        assert kills >= waves, f"the relay was killed only {kills} time(s): the test did not test"
    finally:
        relay.stop()


def test_chat_line_typed_while_the_relay_is_away_is_kept_and_sent_when_it_returns(t):
    """A line typed in `chat` while the relay is away is shown as pending at once,
    kept in the state file, and sent once the relay is back: by the same chat when it
    reconnects, or by the next chat if the first one was left meanwhile. bob gets
    each line exactly once."""
    users = t.make_users(["alice", "bob"])
    alice, bob = users["alice"], users["bob"]
    data = t.fresh_dir("shared-relay-data")
    port = harness.free_port()
    relay = t.relay(data=data, port=port).start()
    try:
        alice.create(ROOM, relay.url).expect_ok("alice creates the room")
        bob.ensure_joined(ROOM, relay.url)

        def start_chat():
            proc = harness.Proc(t, "alice-chat", [harness.args().parley, "chat"] + alice.room_args(ROOM, relay.url),
                                alice.env(), stdin_pipe=True)
            proc.wait_for_stdout(re.compile(r"joined room"), 30, "alice's chat joins")
            return proc

        chat = start_chat()
        relay.stop()
        chat.wait_for_stdout(re.compile(r"reconnecting"), 30, "alice's chat notices the relay is gone")
        chat.write_stdin("typed while away\n")
        chat.wait_for_stdout(re.compile(r"\(pending, not connected\): typed while away"), 10,
                             "the line shown as pending at once")
        relay = t.relay(data=data, port=port).start()
        chat.wait_for_stdout(re.compile(r"typed while away  \(typed [0-9:]+, sent now\)"), 40,
                             "the pending line sent after the reconnect")

        relay.stop()
        chat.wait_for_stdout(re.compile(r"reconnecting[\s\S]*reconnecting"), 30, "alice's chat loses the relay again")
        chat.write_stdin("typed before leaving\n")
        chat.wait_for_stdout(re.compile(r"\(pending, not connected\): typed before leaving"), 10, "pending again")
        chat.write_stdin("/quit\n", close=True)
        left = chat.wait(10, "alice's chat left while the relay is away")
        left.expect_ok("alice's chat")
        assert "1 line(s) typed while the relay was away are not sent yet" in left.stderr, left.describe()

        relay = t.relay(data=data, port=port).start()
        chat = start_chat()
        chat.wait_for_stdout(re.compile(r"typed before leaving  \(typed [0-9:]+, sent now\)"), 30,
                             "the next chat sends what the last one left pending")
        chat.write_stdin("/quit\n", close=True)
        chat.wait(harness.COMMAND_TIMEOUT_S, "alice's second chat").expect_ok("alice's second chat")

        listener = bob.listen(ROOM, relay.url, count=2, timeout=30)
        expect_exactly(texts(listener), [("alice", "typed while away"), ("alice", "typed before leaving")],
                       "bob")
    finally:
        relay.stop()


def test_client_killed_and_restarted_resumes_without_gaps_or_duplicates(t):
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        alice, bob = users["alice"], users["bob"]
        alice.create(ROOM, relay.url).expect_ok("alice creates the room")
        lines = [f"message {i:02d}" for i in range(12)]

        listener = bob.listen(ROOM, relay.url, count=len(lines), timeout=40)
        alice.send(ROOM, relay.url, lines[:6]).expect_ok("alice sends the first half")
        listener.proc.wait_for_stdout(re.compile(r"message 05"), 20, "bob sees the first half")
        listener.proc.signal(signal.SIGKILL)
        listener.proc.wait(10, "bob's killed listener")

        alice.send(ROOM, relay.url, lines[6:]).expect_ok("alice sends the second half")
        listener = bob.listen(ROOM, relay.url, count=6, timeout=30)
        expect_exactly(texts(listener), [("alice", x) for x in lines[6:]], "bob's restarted listener")
        stored = [(m["from"], m["text"]) for m in history(bob, ROOM)]
        expect_exactly(stored, [("alice", x) for x in lines], "bob's history across the kill")


def test_retention_prunes_and_the_client_says_what_expired(t):
    users = t.make_users(["alice", "bob"])
    alice, bob = users["alice"], users["bob"]
    data = t.fresh_dir("shared-relay-data")
    relay = t.relay(data=data).start()
    alice.create(ROOM, relay.url).expect_ok("alice creates the room")
    lines = [f"old news #{i}" for i in range(8)]
    alice.send(ROOM, relay.url, lines).expect_ok("alice sends")
    relay.stop()
    # the relay prunes at start-up (and every minute): keep the newest 4, the
    # last 3 lines and the closing sync of alice's send (docs/PROTOCOL.md §5.1)
    relay = t.relay(data=data, extra_args=["--retain-messages", "4"]).start()
    try:
        listener = bob.listen(ROOM, relay.url, count=3, timeout=20, wait_joined=False)
        result = listener.finish()
        assert re.search(r"messages 1 to 5 expired", result.stderr), (
            f"bob was not told that messages 1 to 5 expired\n  {result.describe()}")
        got = texts(listener)
        assert got == [("alice", x) for x in lines[-3:]], f"bob should get the last 3 only, got {got}"
    finally:
        relay.stop()


def test_a_corrupt_state_file_is_a_clear_error(t):
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        alice, bob = users["alice"], users["bob"]
        alice.create(ROOM, relay.url).expect_ok("alice creates the room")
        bob.state.mkdir(parents=True, exist_ok=True)
        for f in bob.state.glob("*.sqlite"):
            f.unlink()
        # the file name is derived from bob's key id; make every candidate garbage
        bob.ensure_joined(ROOM, relay.url)
        files = list(bob.state.glob("state-*.sqlite"))
        assert files, f"no state file in {bob.state}"
        for f in files:
            f.write_bytes(b"this is not a database\x00" * 64)
        result = bob.run(["listen"] + bob.room_args(ROOM, relay.url) + ["--count", "1", "--timeout", "3"])
        result.expect_fail("a corrupt state file", "state")
        assert "Traceback" not in result.stderr and result.returncode not in (-6, -11, 134, 139), result.describe()


def test_chat_across_a_relay_restart_shows_no_warning_for_its_own_messages(t):
    """alice chats, the relay restarts (kill -9), alice's chat reconnects and resumes
    after the last message it handled. The relay's backlog then holds alice's own
    messages from this chat session: they are hers, not a reflection, and are not
    shown again or warned about. bob sees each message once."""
    users = t.make_users(["alice", "bob"])
    alice, bob = users["alice"], users["bob"]
    data = t.fresh_dir("chat-restart-relay-data")
    port = harness.free_port()
    relay = t.relay(data=data, port=port).start()
    try:
        alice.create(ROOM, relay.url).expect_ok("alice creates the room")
        chat = harness.Proc(t, "alice-chat", [harness.args().parley, "chat"] + alice.room_args(ROOM, relay.url),
                            alice.env(), stdin_pipe=True)

        chat.write_stdin("before the crash\n")
        chat.wait_for_stdout(re.compile(r"before the crash"), 30, "alice's chat shows her line")
        time.sleep(0.5)  # the Ack is in: the message is stored
        relay.kill9()
        relay = t.relay(data=data, port=port).start()
        chat.wait_for_stdout(re.compile(r"reconnected"), 30, "alice's chat reconnects")
        chat.write_stdin("after the restart\n")
        chat.wait_for_stdout(re.compile(r"after the restart"), 30, "alice's chat shows her second line")
        time.sleep(1.0)  # anything the backlog would bring back has arrived
        chat.write_stdin("/quit\n", close=True)
        result = chat.wait(harness.COMMAND_TIMEOUT_S, "alice's chat")
        result.expect_ok("alice's chat")
        out = result.stdout + result.stderr
        assert "rejected" not in out and "!!" not in out, f"a warning in alice's chat\n  {result.describe()}"
        assert out.count("before the crash") == 1, f"alice's first line shown twice\n  {result.describe()}"
        listener = bob.listen(ROOM, relay.url, count=2, timeout=30)
        expect_exactly(texts(listener), [("alice", "before the crash"), ("alice", "after the restart")],
                       "bob after the relay's restart")
    finally:
        relay.stop()


if __name__ == "__main__":
    harness.main([
        test_offline_member_gets_what_was_said_once_in_order,
        test_relay_restart_keeps_rooms_and_messages,
        test_kill9_of_the_relay_loses_no_acknowledged_message,
        test_send_rides_out_a_relay_killed_every_second,
        test_client_killed_and_restarted_resumes_without_gaps_or_duplicates,
        test_retention_prunes_and_the_client_says_what_expired,
        test_a_corrupt_state_file_is_a_clear_error,
        test_chat_across_a_relay_restart_shows_no_warning_for_its_own_messages,
        test_chat_line_typed_while_the_relay_is_away_is_kept_and_sent_when_it_returns,
    ])
