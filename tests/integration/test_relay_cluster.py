#!/usr/bin/env python3
"""Three relay processes on one PostgreSQL database (issue 14), real clients.

Alice, Bob and Charlie each listen through a different relay: every line any of
them sends through any relay reaches all three, once and in order, across a
rekey made through one relay. Then Bob's relay is killed with -9 in the middle
of the conversation: his listener, given a second relay, goes on there from
where it was, and his next line goes out through it, with nothing lost and
nothing shown twice. A message whose Ack a dying relay never sent is resent
through another relay, which knows it from the database: kept and shown once.
The tests start PostgreSQL themselves (harness.PostgreSQL).
"""
import re
import sys
import threading
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import harness  # noqa: E402
import hostile_proxy as hp  # noqa: E402

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
            assert "behind" not in stderr, f"relay 3 answered bob's join as behind him:\n{harness.tail(stderr)}"


def test_a_message_whose_ack_was_lost_is_resent_through_another_relay_and_kept_once(t):
    """Alice sends through relay 1 (behind a proxy that drops the Ack); relay 1 has
    stored the message and is killed with -9 before any Ack leaves. Her `send`,
    given relay 2 as well, resends it there; relay 2 finds it in the database and
    acknowledges the stored copy. Bob, on relay 2, sees it once and no replay."""
    with harness.PostgreSQL(t) as pg:
        store = pg.url("parley")
        with t.relay(store=store) as r1, t.relay(store=store) as r2:
            users = t.make_users(["alice", "bob"])
            fingerprints = harness.fingerprints_of(users["alice"], ["alice", "bob"])
            alice, bob = users["alice"], users["bob"]
            alice.create(ROOM, r1.url).expect_ok("alice creates the room through relay 1")
            bob.ensure_joined(ROOM, r2.url)
            expected = [("alice", "before the lost ack"), ("alice", "its ack was lost"), ("alice", "after it")]
            listener = bob.listen(ROOM, r2.url, count=len(expected), timeout=90)
            alice.send(ROOM, r1.url, [expected[0][1]]).expect_ok("alice sends through relay 1")

            lost = threading.Event()

            def drop_the_ack(conn, payload):
                f = hp.parse_frame(payload)
                if f is not None and f.type == hp.ACK and not lost.is_set():
                    lost.set()
                    return []
                return None
            with hp.HostileProxy("127.0.0.1", r1.port, seq_stride=1) as proxy:
                proxy.on_relay_frame = drop_the_ack
                via_proxy = proxy.listen("alice")
                result = {}
                sender = threading.Thread(target=lambda: result.setdefault("send", alice.room_cmd(
                    "send", ROOM, via_proxy, extra=["--server", r2.url], stdin=expected[1][1] + "\n")))
                sender.start()
                assert lost.wait(30), "relay 1 never acknowledged the message"
                r1.kill9()
                sender.join(90)
                assert "send" in result, "alice's send did not finish"
                result["send"].expect_ok("alice's send goes on through relay 2")
            stderr = result["send"].stderr
            assert re.search(r"using relay ws://127\.0\.0\.1:%d" % r2.port, stderr), (
                f"alice's send does not say it moved to relay 2:\n{harness.tail(stderr)}")
            alice.send(ROOM, r2.url, [expected[2][1]]).expect_ok("alice sends through relay 2")
            listener.expect_messages(expected, fingerprints)
            status, _, body = harness.http_get(r2.metrics_port, "/metrics")
            assert status == 200
            m = re.search(r"^parley_relay_resends_already_stored_total (\d+)", body, re.M)
            assert m and int(m.group(1)) == 1, f"relay 2 did not take the resend as already stored:\n{body}"
            err = listener.proc.stderr()
            assert "behind" not in err and "replay" not in err, f"bob's listener:\n{harness.tail(err)}"


def test_a_relay_that_cannot_reach_the_database_is_left_for_another(t):
    """Relay 1 is up but can no longer reach the database (its role may not log in
    any more, its connections are cut): it answers `internal`. Alice's `send`,
    given relay 2 as well, says so and goes on through relay 2."""
    with harness.PostgreSQL(t) as pg:
        store = pg.url("parley")
        pg.sql("parley", "CREATE ROLE relay1 LOGIN SUPERUSER")
        with t.relay(store=store.replace("user=parley", "user=relay1")) as r1, t.relay(store=store) as r2:
            users = t.make_users(["alice", "bob"])
            fingerprints = harness.fingerprints_of(users["alice"], ["alice", "bob"])
            alice, bob = users["alice"], users["bob"]
            alice.create(ROOM, r1.url).expect_ok("alice creates the room through relay 1")
            bob.ensure_joined(ROOM, r2.url)
            expected = [("alice", "through relay 1"), ("alice", "relay 1 lost its database")]
            listener = bob.listen(ROOM, r2.url, count=len(expected), timeout=60)
            alice.send(ROOM, r1.url, [expected[0][1]]).expect_ok("alice sends through relay 1")
            pg.sql("parley", "ALTER ROLE relay1 NOLOGIN; "
                             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'relay1'")
            result = alice.room_cmd("send", ROOM, r1.url, extra=["--server", r2.url], stdin=expected[1][1] + "\n")
            result.expect_ok("alice's send goes on through relay 2")
            assert re.search(r"relay ws://127\.0\.0\.1:%d/? cannot serve the room now \(.*internal.*\); trying relay "
                             r"ws://127\.0\.0\.1:%d" % (r1.port, r2.port), result.stderr), (
                f"alice's send does not say why it left relay 1:\n{harness.tail(result.stderr)}")
            assert "cannot reach" not in result.stderr, harness.tail(result.stderr)
            listener.expect_messages(expected, fingerprints)


if __name__ == "__main__":
    harness.main([test_members_on_three_relays_chat_rekey_and_outlive_a_killed_relay,
                  test_a_message_whose_ack_was_lost_is_resent_through_another_relay_and_kept_once,
                  test_a_relay_that_cannot_reach_the_database_is_left_for_another])
