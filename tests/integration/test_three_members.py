#!/usr/bin/env python3
"""Three members in one room over ws:// on loopback: everyone sees everything.

Each listener runs with --count 9: the 3 messages of each of the 3 members,
including its own user's 3 messages (sent by a separate `parley send` process,
so they arrive with own=true).
"""
import sys

sys.dont_write_bytecode = True
import harness  # noqa: E402

NAMES = ["alice", "bob", "charlie"]
ROOM = "kitchen"
PER_SENDER = 3


def expected_messages():
    return [(n, f"{n} says hello #{i}") for n in NAMES for i in range(1, PER_SENDER + 1)]


def test_three_members_see_every_message(t):
    with t.relay() as relay:
        users = t.make_users(NAMES)
        fingerprints = harness.fingerprints_of(users["alice"], NAMES)
        users["alice"].create(ROOM, relay.url).expect_ok("alice creates the room")

        expected = expected_messages()
        listeners = {n: users[n].listen(ROOM, relay.url, count=len(expected), timeout=40)
                     for n in NAMES}

        # all three send at the same time
        senders = []
        for name in NAMES:
            lines = [text for sender, text in expected if sender == name]
            senders.append((name, users[name].start_send(ROOM, relay.url, lines)))
        for name, proc in senders:
            proc.wait(harness.COMMAND_TIMEOUT_S, f"{name}'s send").expect_ok(f"{name} sends")

        for name in NAMES:
            listeners[name].expect_messages(expected, fingerprints)
        # every message names the room and a plausible epoch
        for name in NAMES:
            for m in listeners[name].messages():
                assert m["room"] == ROOM, f"{name}: message has room {m['room']!r}: {m}"
                assert m["epoch"] == 0, f"{name}: message epoch {m['epoch']!r}, expected 0: {m}"
        # keygen printed the same fingerprint that messages carry
        for m in listeners["alice"].messages():
            fp = harness.normalize_fingerprint(str(m["fingerprint"]))
            keygen = harness.normalize_fingerprint(users[m["from"]].keygen_output)
            assert fp in keygen, (
                f"keygen output for {m['from']} does not show the fingerprint {m['fingerprint']!r}"
                f"\n{harness.tail(users[m['from']].keygen_output)}")


def test_sequential_sends_arrive_in_order(t):
    """One sender, several `send` runs one after another: order kept across sessions."""
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        fingerprints = harness.fingerprints_of(users["bob"], ["alice", "bob"])
        users["alice"].create(ROOM, relay.url).expect_ok("alice creates the room")
        expected = [("alice", f"line {i}") for i in range(1, 5)]
        bob = users["bob"].listen(ROOM, relay.url, count=len(expected), timeout=40)
        for _, text in expected:
            users["alice"].send(ROOM, relay.url, [text]).expect_ok(f"alice sends {text!r}")
        bob.expect_messages(expected, fingerprints)


def test_chat_without_a_tty_sends_stdin_lines(t):
    """`parley chat` with stdin not a terminal: each line is sent, /quit exits 0."""
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        fingerprints = harness.fingerprints_of(users["bob"], ["alice", "bob"])
        users["alice"].create(ROOM, relay.url).expect_ok("alice creates the room")
        expected = [("alice", "typed in chat 1"), ("alice", "typed in chat 2")]
        bob = users["bob"].listen(ROOM, relay.url, count=len(expected), timeout=40)
        stdin = "".join(text + "\n" for _, text in expected) + "/quit\n"
        users["alice"].room_cmd("chat", ROOM, relay.url, stdin=stdin).expect_ok(
            "alice chats with stdin from a pipe")
        bob.expect_messages(expected, fingerprints)


def test_listen_timeout_exits_3(t):
    """`listen --timeout` with fewer messages than --count exits 3, keeping what it got."""
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        users["alice"].create(ROOM, relay.url).expect_ok("alice creates the room")
        bob = users["bob"].listen(ROOM, relay.url, count=2, timeout=3)
        users["alice"].send(ROOM, relay.url, ["only one"]).expect_ok("alice sends")
        result = bob.finish()
        assert result.returncode == 3, f"listen timeout: expected exit 3\n  {result.describe()}"
        texts = [m["text"] for m in bob.messages()]
        assert texts == ["only one"], f"listener printed {texts}, expected ['only one']"


if __name__ == "__main__":
    harness.main([test_three_members_see_every_message, test_sequential_sends_arrive_in_order,
                  test_chat_without_a_tty_sends_stdin_lines, test_listen_timeout_exits_3])
