#!/usr/bin/env python3
"""Three relay processes on one PostgreSQL database (issue 14), real clients.

Alice, Bob and Charlie each listen through a different relay: every line any of
them sends through any relay reaches all three, once and in order, across a
rekey made through one relay. Then Bob's relay is killed with -9 in the middle
of the conversation: his listener, given a second relay, goes on there from
where it was, and his next line goes out through it, with nothing lost and
nothing shown twice. The test starts PostgreSQL itself (harness.PostgreSQL).
"""
import re
import sys

sys.dont_write_bytecode = True
import harness  # noqa: E402

NAMES = ["alice", "bob", "charlie"]
ROOM = "cluster"


def test_members_on_three_relays_chat_rekey_and_outlive_a_killed_relay(t):
    with harness.PostgreSQL(t) as pg:
        store = pg.url("parley")
        with t.relay(store=store) as r1, t.relay(store=store) as r2, t.relay(store=store) as r3:
            users = t.make_users(NAMES)
            fingerprints = harness.fingerprints_of(users["alice"], NAMES)
            alice, bob, charlie = (users[n] for n in NAMES)
            alice.create(ROOM, r1.url).expect_ok("alice creates the room through relay 1")
            bob.ensure_joined(ROOM, r2.url)
            charlie.ensure_joined(ROOM, r3.url)

            before = [("alice", "hello from relay 1"), ("bob", "hello from relay 2"),
                      ("charlie", "hello from relay 3")]
            after_rekey = [("bob", "bob after the rekey"), ("charlie", "charlie after the rekey")]
            after_kill = [("alice", "alice after relay 2 died"), ("bob", "bob through relay 3 now")]
            expected = before + after_rekey + after_kill
            listeners = {
                "alice": alice.listen(ROOM, r1.url, count=len(expected), timeout=90),
                "bob": bob.listen(ROOM, r2.url, count=len(expected), timeout=90, extra=["--server", r3.url]),
                "charlie": charlie.listen(ROOM, r3.url, count=len(expected), timeout=90),
            }
            relay_of = {"alice": r1, "bob": r2, "charlie": r3}
            for name, text in before:
                users[name].send(ROOM, relay_of[name].url, [text]).expect_ok(f"{name} sends through its relay")

            alice.rekey(ROOM, r1.url).expect_ok("alice rekeys through relay 1")
            for name, text in after_rekey:
                users[name].send(ROOM, relay_of[name].url, [text]).expect_ok(f"{name} sends after the rekey")
            bob_listener = listeners["bob"].proc
            bob_listener.wait_for_stdout(re.compile(re.escape(after_rekey[-1][1])), 30,
                                         "bob's listener has everything up to the kill")

            r2.kill9()
            alice.send(ROOM, r1.url, [after_kill[0][1]]).expect_ok("alice sends while relay 2 is down")
            bob.room_cmd("send", ROOM, r2.url, extra=["--server", r3.url],
                         stdin=after_kill[1][1] + "\n").expect_ok("bob sends, relay 2 first, relay 3 next")

            for name, listener in listeners.items():
                listener.expect_messages(expected, fingerprints)
            stderr = bob_listener.stderr()
            assert re.search(r"using relay ws://127\.0\.0\.1:%d" % r3.port, stderr), (
                f"bob's listener does not say it moved to relay 3:\n{harness.tail(stderr)}")


if __name__ == "__main__":
    harness.main([test_members_on_three_relays_chat_rekey_and_outlive_a_killed_relay])
