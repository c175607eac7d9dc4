#!/usr/bin/env python3
"""`rekey --remove charlie`: charlie loses the room; alice and bob keep talking.

Flow: alice creates the room for alice, bob and charlie; one message reaches bob and
charlie (so charlie has joined and pinned the chain); alice runs
`rekey --remove charlie`; alice and bob then take charlie.pem out of their
public_keys/ (as they would on their flash drives, so their folder agrees with the
new roster); bob's next message reaches alice at epoch 1, while charlie (whose
folder still lists everyone) can neither listen nor send.
"""
import sys

sys.dont_write_bytecode = True
import harness  # noqa: E402

ROOM = "book-club"
NAMES = ["alice", "bob", "charlie"]
REMOVED_WORDS = ("roster", "removed", "not a member", "no longer")


def test_removed_member_is_locked_out(t):
    with t.relay() as relay:
        users = t.make_users(NAMES)
        alice, bob, charlie = (users[n] for n in NAMES)
        fingerprints = harness.fingerprints_of(alice, NAMES)
        alice.create(ROOM, relay.url).expect_ok("alice creates the room")

        # before: everyone is in
        before = [("alice", "before the rekey")]
        listen_bob = bob.listen(ROOM, relay.url, count=1)
        listen_charlie = charlie.listen(ROOM, relay.url, count=1)
        alice.send(ROOM, relay.url, [text for _, text in before]).expect_ok("alice sends")
        listen_bob.expect_messages(before, fingerprints)
        listen_charlie.expect_messages(before, fingerprints)

        # alice removes charlie
        alice.rekey(ROOM, relay.url, extra=["--remove", "charlie"]).expect_ok(
            "alice: rekey --remove charlie")
        for user in (alice, bob):
            (user.public_keys / "charlie.pem").unlink()

        # after: bob's message reaches alice at epoch 1. alice's listener is her
        # first reader, so the relay's backlog brings the epoch-0 message first
        # (store and forward), then bob's.
        after = [("bob", "charlie is gone")]
        listen_alice = alice.listen(ROOM, relay.url, count=2)
        bob.send(ROOM, relay.url, [text for _, text in after]).expect_ok("bob sends after rekey")
        listen_alice.expect_messages(before + after, fingerprints)
        epochs = [m["epoch"] for m in listen_alice.messages()]
        assert epochs == [0, 1], f"the backlog message is at epoch 0 and bob's at epoch 1, got {epochs}"

        # charlie is out: listening and sending both fail, naming the reason
        out = charlie.listen(ROOM, relay.url, count=1, timeout=15, wait_joined=False)
        result = out.finish().expect_fail("charlie listens after removal", *REMOVED_WORDS)
        assert result.returncode != 3, (
            f"charlie's listener ran into its timeout instead of failing\n  {result.describe()}")
        assert "joined" not in result.stderr, (
            f"charlie's listener says it joined the room\n  {result.describe()}")
        leaked = [m for m in out.lines() if m.get("status") == "ok"]
        assert not leaked, f"charlie received messages after removal: {leaked}"
        charlie.send(ROOM, relay.url, ["can anyone hear me?"]).expect_fail(
            "charlie sends after removal", *REMOVED_WORDS)


def test_rekey_without_changes_keeps_everyone(t):
    """A plain rekey keeps the roster: bob still gets alice's message, at epoch 1."""
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        fingerprints = harness.fingerprints_of(users["bob"], ["alice", "bob"])
        users["alice"].create(ROOM, relay.url).expect_ok("alice creates the room")
        users["bob"].rekey(ROOM, relay.url).expect_ok("bob: plain rekey")
        expected = [("alice", "still here")]
        listen_bob = users["bob"].listen(ROOM, relay.url, count=1)
        users["alice"].send(ROOM, relay.url, ["still here"]).expect_ok("alice sends")
        listen_bob.expect_messages(expected, fingerprints)
        epochs = [m["epoch"] for m in listen_bob.messages()]
        assert epochs == [1], f"message after one rekey should be at epoch 1, got {epochs}"


if __name__ == "__main__":
    harness.main([test_removed_member_is_locked_out, test_rekey_without_changes_keeps_everyone])
