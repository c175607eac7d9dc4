#!/usr/bin/env python3
"""The client refuses bad input loudly: every case exits non-zero with a clear message.

Each test names the words its error message must contain (any one of them,
case-insensitive).
"""
import os
import shutil
import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import harness  # noqa: E402
import hostile_proxy as hp  # noqa: E402

ROOM = "negatives"


def test_wrong_password_is_refused(t):
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        users["alice"].create(ROOM, relay.url).expect_ok("alice creates the room")
        bob = users["bob"]
        listener = bob.listen(ROOM, relay.url, count=1, timeout=15, password="wrong password",
                              wait_joined=False)
        result = listener.finish().expect_fail("listen with a wrong password", "password")
        assert result.returncode != 3, f"listen timed out instead of failing\n  {result.describe()}"
        bob.send(ROOM, relay.url, ["hi"], password="wrong password").expect_fail(
            "send with a wrong password", "password")
        # joining on a new device checks the password too
        result = bob.join(room=ROOM, server=relay.url, password="wrong password",
                          state=t.fresh_dir("bob-new-device"))
        result.expect_fail("join with a wrong password", "password")
        # and the right password still works afterwards
        bob.send(ROOM, relay.url, ["hi"]).expect_ok("send with the right password")


def test_key_not_in_roster_is_refused(t):
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        users["alice"].create(ROOM, relay.url).expect_ok("alice creates the room")
        # dave's keys are made after the room exists; his folder lists everyone
        dave = harness.User(t, "dave")
        t.keygen(dave)
        harness.share_public_keys(list(users.values()) + [dave], to=[dave])
        # dave got the invite, but his key is not in the roster
        result = dave.join(room=ROOM, server=relay.url)
        result.expect_fail("join by a key that is not in the roster", "roster", "not a member")
        assert result.returncode == 5, f"join by a non-member: expected exit 5\n  {result.describe()}"
        # whatever the failed join kept on his device, he can neither send nor listen
        dave.send(ROOM, relay.url, ["let me in"], auto_join=False).expect_fail(
            "send by a key that is not in the roster", "roster", "not a member", "no room named")
        listener = dave.listen(ROOM, relay.url, count=1, timeout=15, wait_joined=False, auto_join=False)
        listener.finish().expect_fail("listen by a key that is not in the roster",
                                      "roster", "not a member", "no room named")


def test_world_readable_private_key_is_refused(t):
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        alice = users["alice"]
        alice.create(ROOM, relay.url).expect_ok("alice creates the room")
        os.chmod(alice.key_file, 0o644)
        alice.send(ROOM, relay.url, ["hi"]).expect_fail(
            "send with a 0644 private key", "permission")
        os.chmod(alice.key_file, 0o600)
        alice.send(ROOM, relay.url, ["hi"]).expect_ok("send with the key back at 0600")


def test_missing_public_keys_folder_is_an_error(t):
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        users["alice"].create(ROOM, relay.url).expect_ok("alice creates the room")
        bob = users["bob"]
        bob.ensure_joined(ROOM, relay.url)
        shutil.rmtree(bob.public_keys)
        bob.send(ROOM, relay.url, ["hi"]).expect_fail(
            "send without a public_keys/ folder", "public_keys")
        carol = harness.User(t, "carol")
        t.keygen(carol)
        shutil.rmtree(carol.public_keys)
        carol.create("another-room", relay.url).expect_fail(
            "create without a public_keys/ folder", "public_keys")


def test_duplicate_public_key_is_an_error(t):
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        alice = users["alice"]
        shutil.copyfile(alice.public_keys / "bob.pem", alice.public_keys / "robert.pem")
        alice.create(ROOM, relay.url).expect_fail(
            "create with the same key as bob.pem and robert.pem", "duplicate")


def test_rsa_key_is_refused_with_ed25519_hint(t):
    with t.relay() as relay:
        users = t.make_users(["alice"])
        eve = harness.User(t, "eve")
        eve.public_keys.mkdir(parents=True)
        t.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
               "-out", str(eve.key_file)], name="openssl-rsa").expect_ok("openssl genpkey RSA")
        os.chmod(eve.key_file, 0o600)
        t.run(["openssl", "pkey", "-in", str(eve.key_file), "-pubout",
               "-out", str(eve.public_keys / "eve.pem")], name="openssl-pub").expect_ok(
            "openssl pkey -pubout")
        harness.share_public_keys(list(users.values()) + [eve], to=[eve])
        eve.create(ROOM, relay.url).expect_fail("create with an RSA private key", "ed25519")
        eve.fingerprint("eve").expect_fail("fingerprint of an RSA public key", "ed25519")


def test_openssl_ed25519_key_works(t):
    with t.relay() as relay:
        frank = harness.User(t, "frank")
        frank.public_keys.mkdir(parents=True)
        t.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(frank.key_file)],
              name="openssl-ed25519").expect_ok("openssl genpkey ed25519")
        os.chmod(frank.key_file, 0o600)
        t.run(["openssl", "pkey", "-in", str(frank.key_file), "-pubout",
               "-out", str(frank.public_keys / "frank.pem")], name="openssl-pub").expect_ok(
            "openssl pkey -pubout")
        result = frank.fingerprint("frank").expect_ok("fingerprint of an openssl ed25519 key")
        assert len(harness.normalize_fingerprint(result.stdout)) >= 32, (
            f"fingerprint output too short for 128 bits:\n  {result.describe()}")
        users = t.make_users(["alice"])
        harness.share_public_keys([frank, users["alice"]])
        frank.create(ROOM, relay.url).expect_ok("create with an openssl-made ed25519 key")
        fingerprints = harness.fingerprints_of(users["alice"], ["frank"])
        listener = users["alice"].listen(ROOM, relay.url, count=1)
        frank.send(ROOM, relay.url, ["made with openssl"]).expect_ok("frank sends")
        listener.expect_messages([("frank", "made with openssl")], fingerprints)


def test_new_chain_under_a_pinned_room_id_is_refused(t):
    """The relay comes back with empty state. Re-creating the room name there makes
    another room (room ids are random, never derived from the name); but charlie, a
    member who knows the room id from the invite, publishes a genesis of his own for
    it. bob and alice, who pinned the old genesis, refuse that chain."""
    users = t.make_users(["alice", "bob", "charlie"])
    alice, bob, charlie = users["alice"], users["bob"], users["charlie"]
    fingerprints = harness.fingerprints_of(bob, ["alice", "bob", "charlie"])
    with t.relay() as relay:
        alice.create(ROOM, relay.url).expect_ok("alice creates the room")
        invite = t.invite(ROOM)
        listener = bob.listen(ROOM, relay.url, count=1)
        alice.send(ROOM, relay.url, ["first chain"]).expect_ok("alice sends")
        listener.expect_messages([("alice", "first chain")], fingerprints)
    with t.relay() as relay:  # a fresh relay process: no rooms
        pinned_words = ("pin", "genesis")
        # nothing there yet: refused, not a timeout, not a new room
        result = bob.listen(ROOM, relay.url, count=1, timeout=15, wait_joined=False).finish()
        result.expect_fail("bob listens to a relay that lost his room", *pinned_words, "does not have")
        assert result.returncode != 3, f"listen timed out instead of failing\n  {result.describe()}"
        # charlie's own room of the same name is another room
        made = charlie.create(ROOM, relay.url, remember=False).expect_ok("charlie creates a room of that name")
        assert harness.Invite(harness.invite_of(made)).room != invite.room, (
            "re-creating a room name made the same room id")
        # charlie's genesis for the room id itself
        theirs = harness.Invite(harness.invite_of(made))
        record = hp.fetch_chain("127.0.0.1", relay.port, theirs.room, theirs.genesis)[0]
        forged = hp.forge_genesis(record, invite.room, hp.load_private_seed(charlie.key_file))
        with hp.RawClient("127.0.0.1", relay.port) as c:
            reply = c.publish(invite.room, forged)
        assert reply.type == hp.PUBLISHED, f"charlie's genesis on the empty relay: got {reply.name} {vars(reply)}"
        listener = bob.listen(ROOM, relay.url, count=1, timeout=15, wait_joined=False)
        result = listener.finish().expect_fail("bob listens to a foreign chain", *pinned_words)
        assert result.returncode != 3, f"listen timed out instead of failing\n  {result.describe()}"
        bob.send(ROOM, relay.url, ["hello?"]).expect_fail(
            "bob sends into a foreign chain", *pinned_words)
        alice.send(ROOM, relay.url, ["hello?"]).expect_fail(
            "alice (the founder) sends into a foreign chain", *pinned_words)


if __name__ == "__main__":
    harness.main([
        test_wrong_password_is_refused,
        test_key_not_in_roster_is_refused,
        test_world_readable_private_key_is_refused,
        test_missing_public_keys_folder_is_an_error,
        test_duplicate_public_key_is_an_error,
        test_rsa_key_is_refused_with_ed25519_hint,
        test_openssl_ed25519_key_works,
        test_new_chain_under_a_pinned_room_id_is_refused,
    ])
