#!/usr/bin/env python3
"""Roster changes as README.md describes them: `rekey --add NAME`, `rekey --sync`,
plain `rekey` (which only notes, never adds, an extra key in public_keys/), and two
members rekeying at the same time.
"""
import re
import sys

sys.dont_write_bytecode = True
import harness  # noqa: E402

ROOM = "roster"
EXIT_NOT_IN_ROOM = 5


def new_user(t, name, everyone):
    """A user whose keys are made after the others' (not in their public_keys/ yet);
    their own folder gets everyone's public keys."""
    user = harness.User(t, name)
    t.keygen(user)
    harness.share_public_keys(list(everyone) + [user], to=[user])
    return user


def give_key(user, to):
    for dest in to:
        (dest.public_keys / f"{user.name}.pem").write_bytes(
            (user.public_keys / f"{user.name}.pem").read_bytes())


def epochs_of(listener):
    return [m["epoch"] for m in listener.messages()]


def fingerprint_text(fingerprint_output):
    """`parley fingerprint NAME` prints 'NAME  FP': the FP part."""
    return fingerprint_output.strip().split(None, 1)[-1]


def test_rekey_add_lets_the_new_member_in(t):
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        alice, bob = users["alice"], users["bob"]
        alice.create(ROOM, relay.url).expect_ok("alice creates the room for alice and bob")
        dave = new_user(t, "dave", [alice, bob])
        fingerprints = harness.fingerprints_of(dave, ["alice", "bob", "dave"])

        # before the rekey dave is not in the room: his join with the invite fails
        result = dave.join(room=ROOM, server=relay.url)
        assert result.returncode == EXIT_NOT_IN_ROOM, (
            f"dave joins before being added: expected exit {EXIT_NOT_IN_ROOM}\n  {result.describe()}")
        result = dave.send(ROOM, relay.url, ["too early"], auto_join=False)
        assert result.returncode in (EXIT_NOT_IN_ROOM, 4), (
            f"dave sends before being added: expected exit {EXIT_NOT_IN_ROOM} (or 4, room unknown)"
            f"\n  {result.describe()}")

        listen_alice = alice.listen(ROOM, relay.url, count=1)  # started before the rekey
        give_key(dave, [alice, bob])
        result = alice.rekey(ROOM, relay.url, extra=["--add", "dave"]).expect_ok(
            "alice: rekey --add dave")
        assert re.search(r"added dave", result.stderr), (
            f"rekey --add dave should say it added dave\n  {result.describe()}")

        listen_dave = dave.listen(ROOM, relay.url, count=1)
        expected = [("bob", "welcome dave")]
        bob.send(ROOM, relay.url, ["welcome dave"]).expect_ok("bob sends after the rekey")
        listen_dave.expect_messages(expected, fingerprints)
        assert epochs_of(listen_dave) == [1], f"dave: expected epoch [1], got {epochs_of(listen_dave)}"
        listen_alice.expect_messages(expected, fingerprints)
        assert epochs_of(listen_alice) == [1], (
            f"alice's listener from before the rekey: expected epoch [1], got "
            f"{epochs_of(listen_alice)}")

        # and dave can talk too (bob's first reader gets the backlog first:
        # his own earlier message, then dave's)
        listen_bob = bob.listen(ROOM, relay.url, count=2)
        dave.send(ROOM, relay.url, ["thanks"]).expect_ok("dave sends")
        listen_bob.expect_messages([("bob", "welcome dave"), ("dave", "thanks")], fingerprints)


def test_rekey_sync_removes_a_deleted_key(t):
    with t.relay() as relay:
        names = ["alice", "bob", "charlie"]
        users = t.make_users(names)
        alice, bob, charlie = (users[n] for n in names)
        fingerprints = harness.fingerprints_of(alice, names)
        alice.create(ROOM, relay.url).expect_ok("alice creates the room")
        charlie.send(ROOM, relay.url, ["charlie is in"]).expect_ok("charlie sends before")

        (alice.public_keys / "charlie.pem").unlink()
        result = alice.rekey(ROOM, relay.url, extra=["--sync"]).expect_ok("alice: rekey --sync")
        charlie_fp = harness.normalize_fingerprint(fingerprint_text(fingerprints["charlie"]))
        removed_lines = [l for l in result.stderr.splitlines() if "removed" in l.lower()]
        assert any("charlie" in l or (charlie_fp and
                                      charlie_fp in harness.normalize_fingerprint(l))
                   for l in removed_lines), (
            f"rekey --sync should say it removed charlie (by name or fingerprint "
            f"{fingerprint_text(fingerprints['charlie'])})\n  {result.describe()}")
        for other in ("alice", "bob"):
            assert not any(other in l for l in removed_lines), (
                f"rekey --sync removed {other}\n  {result.describe()}")
        assert "added" not in result.stderr.lower(), (
            f"rekey --sync added someone\n  {result.describe()}")

        out = charlie.listen(ROOM, relay.url, count=1, timeout=15, wait_joined=False)
        res = out.finish()
        assert res.returncode == EXIT_NOT_IN_ROOM, (
            f"charlie listens after --sync: expected exit {EXIT_NOT_IN_ROOM}\n  {res.describe()}")
        res = charlie.send(ROOM, relay.url, ["hello?"])
        assert res.returncode == EXIT_NOT_IN_ROOM, (
            f"charlie sends after --sync: expected exit {EXIT_NOT_IN_ROOM}\n  {res.describe()}")

        # alice's first reader: the backlog first brings charlie's message from
        # before his removal (genuine, epoch 0; his key file is gone, so he
        # shows by fingerprint), then bob's at epoch 1
        listen_alice = alice.listen(ROOM, relay.url, count=2)
        bob.send(ROOM, relay.url, ["after sync"]).expect_ok("bob sends after the sync")
        got = [(m["text"], m["epoch"]) for m in listen_alice.messages()]
        assert got == [("charlie is in", 0), ("after sync", 1)], (
            f"alice's listener: expected charlie's epoch-0 message, then bob's at epoch 1, got {got}")
        for m, name in zip(listen_alice.messages(), ["charlie", "bob"]):
            fp = harness.normalize_fingerprint(m["fingerprint"])
            assert fp and fp in harness.normalize_fingerprint(fingerprints[name]), (
                f"message {m['text']!r} should carry {name}'s fingerprint: {m}")


def test_plain_rekey_notes_but_does_not_add(t):
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        alice, bob = users["alice"], users["bob"]
        alice.create(ROOM, relay.url).expect_ok("alice creates the room")
        dave = new_user(t, "dave", [alice, bob])
        give_key(dave, [alice])

        result = alice.rekey(ROOM, relay.url).expect_ok("alice: plain rekey")
        assert "parley rekey --add dave" in result.stderr, (
            f"plain rekey with dave.pem in public_keys/ but not in the room should note "
            f"'parley rekey --add dave'\n  {result.describe()}")
        assert not re.search(r"added dave", result.stderr), (
            f"plain rekey added dave\n  {result.describe()}")

        res = dave.join(room=ROOM, server=relay.url)
        assert res.returncode == EXIT_NOT_IN_ROOM, (
            f"dave joins after a plain rekey: expected exit {EXIT_NOT_IN_ROOM} (not in the room)"
            f"\n  {res.describe()}")
        res = dave.send(ROOM, relay.url, ["am I in?"], auto_join=False)
        assert res.returncode in (EXIT_NOT_IN_ROOM, 4), (
            f"dave sends after a plain rekey: expected exit {EXIT_NOT_IN_ROOM} (or 4, room unknown)"
            f"\n  {res.describe()}")
        out = dave.listen(ROOM, relay.url, count=1, timeout=15, wait_joined=False, auto_join=False)
        res = out.finish()
        assert res.returncode in (EXIT_NOT_IN_ROOM, 4), (
            f"dave listens after a plain rekey: expected exit {EXIT_NOT_IN_ROOM} (or 4)\n  {res.describe()}")


def test_concurrent_rekeys_both_succeed(t):
    with t.relay() as relay:
        names = ["alice", "bob", "charlie"]
        users = t.make_users(names)
        fingerprints = harness.fingerprints_of(users["alice"], names)
        users["alice"].create(ROOM, relay.url).expect_ok("alice creates the room")

        users["bob"].ensure_joined(ROOM, relay.url)
        procs = [(n, users[n].start("rekey", ROOM, relay.url, stdin_pipe=False))
                 for n in ("alice", "bob")]
        epochs_said = []
        for name, proc in procs:
            res = proc.wait(harness.COMMAND_TIMEOUT_S, f"{name}'s concurrent rekey")
            res.expect_ok(f"{name}: rekey concurrently with the other")
            match = re.search(r"now at epoch (\d+)", res.stderr)
            if match:
                epochs_said.append(int(match.group(1)))
        if len(epochs_said) == 2:
            assert sorted(epochs_said) == [1, 2], (
                f"the two rekeys should make epochs 1 and 2, they said {epochs_said}")

        expected = [(n, f"{n} after the rekeys") for n in names]
        listeners = {n: users[n].listen(ROOM, relay.url, count=len(expected)) for n in names}
        for name, text in expected:
            users[name].send(ROOM, relay.url, [text]).expect_ok(f"{name} sends")
        for name in names:
            listeners[name].expect_messages(expected, fingerprints)
            assert set(epochs_of(listeners[name])) == {2}, (
                f"{name}: messages after two rekeys should be at epoch 2, got "
                f"{epochs_of(listeners[name])}")


if __name__ == "__main__":
    harness.main([
        test_rekey_add_lets_the_new_member_in,
        test_rekey_sync_removes_a_deleted_key,
        test_plain_rekey_notes_but_does_not_add,
        test_concurrent_rekeys_both_succeed,
    ])
