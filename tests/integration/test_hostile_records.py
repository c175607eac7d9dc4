#!/usr/bin/env python3
"""A hostile relay, against epoch records: forged, forked, rolled-back and tampered
NewHead and Chain frames between real clients and the real relay (the proxy and the
rule are those of test_hostile_relay.py; helpers in tests/tools/hostile_setup.py).

A room is the one chain that starts at the genesis its invite names: the relay refuses
a second genesis for a room id (room_exists), and a client follows only the genesis it
pinned (from the invite, or its own create), whatever a relay serves.
"""
import os
import re
import struct
import sys
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import harness  # noqa: E402
import hostile_proxy as hp  # noqa: E402
from hostile_setup import (  # noqa: E402
    LISTEN_TIMEOUT, OTHER_ROOM, ROOM, WAIT_S, Setup, assert_genuine_only, create_room, has_ok,
    json_lines, ok_lines, run_setup, wait_stdout)

# An ignored NewHead still takes its place in the stream (RoomClient::handle_new_head):
# the client joins again once, to fetch the chain the relay really holds, instead of
# fetching the same bad frame from the backlog in a loop. More Join frames than this
# in one quiet second after a tampered NewHead is such a rejoin storm.
MAX_QUIET_REJOINS = 5


# --------------------------------------------------------------------------- epoch records


def newhead_hook(label: str, fn):
    counter = {"n": 0}

    def hook(conn, data):
        f = hp.parse_frame(data)
        if conn.label != label or f is None or f.type != hp.NEW_HEAD:
            return None
        i = counter["n"]
        counter["n"] += 1
        return fn(conn, f, i)
    return hook


def test_forged_new_head_is_ignored(t):
    """Each NewHead to bob is tampered (a byte of the roster, the signature, the epoch
    number, the salt; unsigned; signed by a non-member; a member injected into the
    roster): bob warns, ignores it, catches up on the genuine chain, keeps going."""
    def body(s):
        create_room(s)
        mallory = harness.User(t, "mallory")
        t.keygen(mallory)
        m_seed = hp.load_private_seed(mallory.key_file)
        m_pub = hp.ed25519_public_key(m_seed)

        def inject_member(rec: hp.Record) -> hp.Record:
            r = hp.Record(**rec.__dict__)
            roster = sorted(rec.roster + [m_pub])
            idx = roster.index(m_pub)
            r.roster = roster
            r.ops = rec.ops + [(1, m_pub)]
            r.boxes = rec.boxes[:idx] + [os.urandom(hp.SEALED_BOX_BYTES)] + rec.boxes[idx:]
            return r

        def non_member(rec: hp.Record) -> hp.Record:
            r = inject_member(rec).with_head_field(hp.REC_AUTHOR, m_pub)
            r.signature = hp.ed25519_sign(m_seed, r.signed_message())
            return r

        def tamper(i: int, record: bytes) -> bytes:
            rec = hp.Record.parse(record)
            if i == 0:
                return hp.flip(record, hp.REC_N + 2 + 5)            # a roster byte
            if i == 1:
                return hp.flip(record, len(record) - 10)            # the signature
            if i == 2:
                return hp.flip(record, hp.REC_EPOCH + 7, 0x02)      # epoch number
            if i == 3:
                return hp.flip(record, hp.REC_SALT + 3)             # salt
            if i == 4:
                return rec.body() + bytes(64)                       # unsigned
            if i == 5:
                return non_member(rec).encode()                     # signed by a non-member
            return inject_member(rec).encode()                      # member injected by the relay
        rounds = 7

        def hook(conn, data):
            # Every copy of the NewHead for epoch e (live, and again in a backlog) is
            # tampered the same way: tamper number e - 1.
            f = hp.parse_frame(data)
            if conn.label != "bob" or f is None or f.type != hp.NEW_HEAD:
                return None
            epoch = hp.Record.parse(f.record).epoch
            if epoch > rounds:
                return None
            f.record = tamper(epoch - 1, f.record)
            return [f.encode()]
        s.proxy.on_relay_frame = hook
        bob = s.users["bob"].listen(ROOM, s.url("bob"), count=rounds + 1, timeout=LISTEN_TIMEOUT + 60)
        alice = s.users["alice"]
        genuine = []
        storms = []

        def joins():
            return sum(len(c.frames("c2r", stage="got", ftype=hp.JOIN)) for c in s.proxy.connections("bob"))
        for i in range(rounds):
            alice.rekey(ROOM, s.relay.url).expect_ok(f"alice rekeys to epoch {i + 1}")
            before = joins()
            time.sleep(1.0)  # nobody speaks for a second after the tampered NewHead
            rejoins = joins() - before
            text = f"in epoch {i + 1}"
            alice.send(ROOM, s.relay.url, [text]).expect_ok("alice sends")
            genuine.append(("alice", text))
            wait_stdout(bob.proc, has_ok(text), WAIT_S, f"bob gets '{text}' after tampered NewHead {i}")
            storms.append((i, rejoins))
        alice.send(ROOM, s.relay.url, ["done"]).expect_ok("alice sends")
        genuine.append(("alice", "done"))
        result = bob.finish()
        lines = bob.lines()
        assert_genuine_only(lines, genuine, "bob", result)
        assert [m["epoch"] for m in ok_lines(lines)] == list(range(1, rounds + 1)) + [rounds], result.describe()
        warnings = re.findall(r"warning: the relay announced (?:an invalid|epoch).*", result.stderr)
        # Rounds 1 and 4 change only the signature: the body (and so the record hash) is
        # the genuine one, so a copy that arrives after bob fetched the genuine chain is
        # rightly taken as the record he holds, without a warning. The other five change
        # the body and must each be warned about.
        assert len(warnings) >= rounds - 2, f"expected a warning per tampered NewHead\n  {result.describe()}"
        assert "mallory" not in result.stderr and "added" not in result.stderr, result.describe()
        result.expect_ok("bob's listener")
        stormy = [(i, n) for i, n in storms if n > MAX_QUIET_REJOINS]
        if stormy:
            msg = (f"rejoin storm after an ignored NewHead (tamper round, Join frames in one quiet "
                   f"second): {stormy}")
            raise AssertionError(msg)
    run_setup(t, body)


def test_forked_new_head_blocks_the_room(t):
    """alice (a member) signs a second, different record for epoch 1; the relay
    announces it to bob, who holds the genuine epoch 1: a fork, both authors named,
    exit 6, nothing more shown."""
    def body(s):
        invite = create_room(s)
        alice = s.users["alice"]
        seed = hp.load_private_seed(alice.key_file)
        bob = s.users["bob"].listen(ROOM, s.url("bob"), count=3, timeout=LISTEN_TIMEOUT)
        alice.rekey(ROOM, s.relay.url).expect_ok("alice rekeys to epoch 1")
        alice.send(ROOM, s.relay.url, ["in epoch 1"]).expect_ok("alice sends")
        wait_stdout(bob.proc, has_ok("in epoch 1"), WAIT_S, "bob follows epoch 1")
        records = hp.fetch_chain("127.0.0.1", s.relay.port, invite.room, invite.genesis)
        rec = hp.Record.parse(records[1])
        created = struct.unpack_from(">Q", rec.head, hp.REC_CREATED)[0] + 1
        other = rec.with_head_field(hp.REC_CREATED, struct.pack(">Q", created))
        other.signature = hp.ed25519_sign(seed, other.signed_message())
        conn = [c for c in s.proxy.connections("bob", reader=True) if c.open][-1]
        last = conn.frames("r2c", ftype=hp.DELIVER)[-1]
        conn.inject_to_client(hp.Frame(hp.NEW_HEAD, room=last.room, genesis=last.genesis, seq=last.seq + 1,
                                       record=other.encode()).encode())
        result = bob.finish()
        assert result.returncode == 6, f"fork: expected exit 6\n  {result.describe()}"
        assert re.search(r"fork at epoch 1", result.stderr), result.describe()
        assert_genuine_only(bob.lines(), [("alice", "in epoch 1")], "bob", result)
    run_setup(t, body)


def test_a_record_forked_against_another_process_of_the_device_blocks(t):
    """Version 2: a device adopts each epoch once, whichever of its processes meets it
    first (§10.2 kind 6). Bob wrote two records for epoch 1 (the relay refused the
    first); alice's laptop adopts the one the relay kept in one process, and the relay
    shows the other to a second process of the laptop, which was waiting at epoch 0:
    that process blocks the room as a fork (exit 6), and says so."""
    def body(s):
        create_room(s, protocol=2)
        alice, bob = s.users["alice"], s.users["bob"]
        kept = {}

        def hook(conn, data):
            f = hp.parse_frame(data)
            if f is None:
                return None
            if conn.label == "bob-lost" and f.type == hp.PUBLISH and "lost" not in kept:
                kept["lost"] = f.record  # bob's first record for epoch 1: refused, as if a limit
                conn.inject_to_client(hp.Frame(hp.ERROR, request=f.request, code=hp.ERR_LIMIT).encode())
                return []
            return None

        def relay_hook(conn, data):
            f = hp.parse_frame(data)
            if conn.label == "alice-b" and f is not None and f.type == hp.NEW_HEAD and "head" not in kept:
                kept["head"] = f  # held back until the other process adopted it
                kept["conn"] = conn
                return []
            return None
        s.proxy.on_client_frame = hook
        s.proxy.on_relay_frame = relay_hook
        waiting = alice.listen(ROOM, s.url("alice-b"), count=1, timeout=LISTEN_TIMEOUT)
        bob.rekey(ROOM, s.url("bob-lost")).expect_fail("bob's first record, refused", "limit")
        bob.rekey(ROOM, s.relay.url).expect_ok("bob writes epoch 1")
        s.proxy.wait_for(lambda: "head" in kept, WAIT_S, "the NewHead to the waiting process")
        alice.send(ROOM, s.relay.url, ["epoch 1 adopted"]).expect_ok("another process of the laptop adopts epoch 1")
        genuine = kept["head"]
        assert genuine.record != kept["lost"]
        kept["conn"].inject_to_client(hp.Frame(hp.NEW_HEAD, room=genuine.room, genesis=genuine.genesis,
                                               seq=genuine.seq, record=kept["lost"]).encode())
        result = waiting.finish()
        assert result.returncode == 6, f"fork: expected exit 6\n  {result.describe()}"
        assert re.search(r"fork at epoch 1", result.stderr), result.describe()
        assert "cannot process" not in result.stderr, result.describe()
        assert not ok_lines(waiting.lines()), result.describe()
    run_setup(t, body)


def test_a_removal_shown_late_does_not_undo_the_re_entry(t):
    """Version 2: bob removes alice (epoch 1) and adds her back (epoch 2). The relay
    holds epoch 1's NewHead back from her running listener while another process of
    her device (a send) enters again by her card and announces a new update key.
    Shown epoch 1 at last, the listener must not take it for her removal: it erases
    none of the keys the device holds now and moves no pin back, but follows the chain
    to epoch 2 and reads on, in epoch 3 too (sealed to the key she announced)."""
    def body(s):
        create_room(s, protocol=2)
        alice, bob = s.users["alice"], s.users["bob"]
        held = {}
        released = threading.Event()

        def relay_hook(conn, data):
            f = hp.parse_frame(data)
            if conn.label == "alice" and f is not None and f.type == hp.NEW_HEAD and not released.is_set():
                held.setdefault("frames", []).append((conn, data))
                return []
            return None
        s.proxy.on_relay_frame = relay_hook
        listener = alice.listen(ROOM, s.url("alice"), count=1, timeout=LISTEN_TIMEOUT)  # (its own "back in" is not shown)
        bob.rekey(ROOM, s.relay.url, extra=["--remove", "alice"]).expect_ok("bob removes alice (epoch 1)")
        bob.rekey(ROOM, s.relay.url, extra=["--add", "alice"]).expect_ok("bob adds alice back (epoch 2)")
        alice.send(ROOM, s.relay.url, ["back in"]).expect_ok("another process of alice's device enters epoch 2")
        bob_listen = bob.listen(ROOM, s.relay.url, count=1, timeout=LISTEN_TIMEOUT)
        bob_listen.finish().expect_ok("bob reads 'back in' and notes alice's key-update")
        s.proxy.wait_for(lambda: "frames" in held, WAIT_S, "epoch 1's NewHead to alice's listener")
        released.set()
        for conn, data in held["frames"]:
            conn.inject_to_client(data)
        bob.rekey(ROOM, s.relay.url).expect_ok("bob writes epoch 3, alice sealed to the key she announced")
        bob.send(ROOM, s.relay.url, ["in epoch 3"]).expect_ok("bob sends in epoch 3")
        result = listener.finish()
        shown = [(m.get("text"), m.get("epoch")) for m in ok_lines(listener.lines())]
        assert ("in epoch 3", 3) in shown, f"alice's listener lost the room to a late removal\n  {result.describe()}"
        assert "was removed from room" not in result.stderr, result.describe()
        result.expect_ok("alice's listener")
    run_setup(t, body)


def pin_bob_at_epoch_1(s: Setup) -> None:
    s.users["alice"].rekey(ROOM, s.relay.url).expect_ok("alice rekeys to epoch 1")
    s.users["bob"].send(ROOM, s.relay.url, ["pinning epoch 1"]).expect_ok("bob pins epoch 1")


def chain_hook(label: str, rewrite):
    """A relay->client hook: each Chain page to `label` gets its records from
    rewrite(records) (a list it may change)."""
    def hook(conn, data):
        f = hp.parse_frame(data)
        if conn.label != label or f is None or f.type != hp.CHAIN:
            return None
        f.records = rewrite(list(f.records))
        return [f.encode()]
    return hook


def refused(s: Setup, user: str, label: str, what: str, *mentions: str) -> harness.Result:
    result = s.users[user].room_cmd("listen", ROOM, s.url(label), extra=["--count", "1", "--timeout", "10"])
    result.expect_fail(what, *mentions)
    assert result.returncode != 3, f"{what}: timed out instead of refusing\n  {result.describe()}"
    assert not ok_lines(json_lines(result.stdout)), f"{what}: showed messages\n  {result.describe()}"
    return result


def new_device_join_refused(s: Setup, user: str, label: str, what: str, *mentions: str) -> harness.Result:
    """`user` on a new device (fresh state) joins ROOM with the invite through the proxy
    port `label`: the join must fail, and a listen on that device afterwards too."""
    state = s.t.fresh_dir(f"{user}-new-device")
    u = s.users[user]
    result = u.join(room=ROOM, server=s.url(label), state=state)
    result.expect_fail(what, *mentions)
    assert result.returncode != 3, f"{what}: timed out instead of refusing\n  {result.describe()}"
    after = u.run(["listen"] + u.room_args(ROOM, s.url(label), state=state) + ["--count", "1", "--timeout", "5"],
                  auto_join=False)
    assert after.returncode not in (0, 3) and not ok_lines(json_lines(after.stdout)), (
        f"{what}: the device that failed to join listens anyway\n  {after.describe()}")
    return result


def test_rollback_is_refused(t):
    """bob pinned epoch 1; the relay serves the chain without its last record."""
    def body(s):
        create_room(s)
        pin_bob_at_epoch_1(s)
        s.proxy.on_relay_frame = chain_hook("bob", lambda c: c[:-1])
        refused(s, "bob", "bob", "rolled-back chain", "rollback")
    run_setup(t, body)


def test_relay_refuses_a_second_genesis_for_a_room_id(t):
    """alice (a member, so she knows the room id and holds a roster key) signs a second
    genesis for the room id, ground so that its hash sorts below the real one (what
    the old 'smallest genesis wins' rule rewarded), and publishes it with a raw client:
    the relay refuses it (room_exists) and stores nothing; the real genesis published
    again is answered idempotently; the chain the relay serves starts at the invite's
    genesis."""
    def body(s):
        invite = create_room(s)
        alice = s.users["alice"]
        seed = hp.load_private_seed(alice.key_file)
        before = s.relay.db_counts()
        genuine = hp.fetch_chain("127.0.0.1", s.relay.port, invite.room, invite.genesis)
        assert hp.Record.parse(genuine[0]).hash() == invite.genesis, "the invite's genesis is not the chain's"
        forged = hp.forge_genesis(genuine[0], invite.room, seed, below=invite.genesis)
        forged_hash = hp.Record.parse(forged).hash()
        assert forged_hash < invite.genesis and forged != genuine[0]
        with hp.RawClient("127.0.0.1", s.relay.port) as c:
            reply = c.publish(invite.room, forged)
            assert reply.type == hp.ERROR and reply.code == hp.ERR_ROOM_EXISTS, (
                f"a second genesis for the room id: expected Error {hp.ERR_ROOM_EXISTS} (room_exists), got "
                f"{reply.name} {vars(reply)}")
            reply = c.get_chain(invite.room, forged_hash)
            assert reply.type == hp.ERROR and reply.code == hp.ERR_UNKNOWN_CHAIN, (
                f"GetChain for the refused genesis: expected Error {hp.ERR_UNKNOWN_CHAIN}, got {reply.name}")
            reply = c.publish(invite.room, genuine[0])
            assert reply.type == hp.PUBLISHED and reply.hash == invite.genesis, (
                f"the same genesis again: expected Published (idempotent), got {reply.name} {vars(reply)}")
        assert s.relay.db_counts() == before, f"the relay stored something: {before} -> {s.relay.db_counts()}"
        served = hp.fetch_chain("127.0.0.1", s.relay.port, invite.room, invite.genesis)
        assert served == genuine, "the relay's chain changed"
        # The room works as before for its members.
        bob = s.users["bob"].listen(ROOM, s.relay.url, count=1, timeout=LISTEN_TIMEOUT)
        alice.send(ROOM, s.relay.url, ["after the forgery"]).expect_ok("alice sends")
        result = bob.finish()
        assert_genuine_only(bob.lines(), [("alice", "after the forgery")], "bob", result)
        assert [m["text"] for m in ok_lines(bob.lines())] == ["after the forgery"], result.describe()
    run_setup(t, body)


def test_other_genesis_for_pinned_room_is_refused(t):
    """bob pinned the room; a hostile relay serves him another valid chain: one whose
    genesis a member signed for the same room id (smaller hash), one made for another
    room id on another relay, or another room's chain. Each is refused; so is a join by
    invite on bob's new device (no other pin than the invite's) to which the relay
    serves the forged chain, and that device, joining through an honest relay, follows
    the real chain."""
    def body(s):
        invite = create_room(s)
        create_room(s, OTHER_ROOM)
        pin_bob_at_epoch_1(s)
        other_invite = t.invite(OTHER_ROOM)
        with t.relay() as relay2:
            # alice on another device (fresh state) founds a room of the same name there
            other_device = harness.User(t, "alice")
            other_device.state = t.fresh_dir("alice-other-state")
            made = other_device.create(ROOM, relay2.url, remember=False).expect_ok(
                "alice creates the same room name elsewhere")
            elsewhere = harness.Invite(harness.invite_of(made))
            assert elsewhere.room != invite.room, "two creates of one name made the same room id"
            foreign = hp.fetch_chain("127.0.0.1", relay2.port, elsewhere.room, elsewhere.genesis)
        real = hp.fetch_chain("127.0.0.1", s.relay.port, invite.room, invite.genesis)
        other_room = hp.fetch_chain("127.0.0.1", s.relay.port, other_invite.room, other_invite.genesis)
        seed = hp.load_private_seed(s.users["alice"].key_file)
        forged = [hp.forge_genesis(foreign[0], invite.room, seed, below=invite.genesis)]
        s.proxy.on_relay_frame = chain_hook("bob", lambda c: forged)
        refused(s, "bob", "bob", "a forged genesis for the room id", "pinned")
        s.proxy.on_relay_frame = chain_hook("bob", lambda c: foreign)
        refused(s, "bob", "bob", "another room's genesis (another relay)", "pinned", "another room")
        s.proxy.on_relay_frame = chain_hook("bob", lambda c: other_room)
        refused(s, "bob", "bob", "another room's chain", "pinned", "another room")
        # bob's new device knows only the invite: the relay serves the forged chain.
        s.proxy.on_relay_frame = chain_hook("bob-new", lambda c: forged)
        new_device_join_refused(s, "bob", "bob-new", "a new device served a forged genesis",
                                "pinned", "genesis", "invite")
        s.proxy.reset_hooks()
        state = t.fresh_dir("bob-honest-device")
        result = s.users["bob"].join(room=ROOM, server=s.relay.url, state=state).expect_ok(
            "bob's new device joins through the honest relay")
        assert re.search(rf"joined room {ROOM} at epoch 1\b", result.stderr), (
            f"bob's new device did not follow the real chain to epoch 1\n  {result.describe()}")
        assert len(real) == 2
    run_setup(t, body)


def test_tampered_records_in_chain_are_refused(t):
    """A byte of the salt, the KDF ops or the KDF memory changed (also to below the
    floor), and a member injected into the roster, in a record of the Chain reply:
    refused both by bob (pinned at epoch 1) and by charlie joining with the invite on a
    new device each time (first contact: only the invite's genesis hash pinned)."""
    def body(s):
        create_room(s, joiners=["bob"])
        pin_bob_at_epoch_1(s)
        mallory = harness.User(t, "mallory")
        t.keygen(mallory)
        m_pub = hp.load_public_key(mallory.public_keys / "mallory.pem")

        def inject(rec_bytes):
            r = hp.Record.parse(rec_bytes)
            roster = sorted(r.roster + [m_pub])
            idx = roster.index(m_pub)
            ops = list(r.ops)
            if r.epoch == 0:
                ops.insert(idx, (1, m_pub))   # a genesis adds exactly its roster, in order
            else:
                ops.append((1, m_pub))
            r2 = hp.Record(r.head, roster, ops, r.token_hash, r.commitment,
                           r.boxes[:idx] + [os.urandom(hp.SEALED_BOX_BYTES)] + r.boxes[idx:], r.signature)
            return r2.encode()

        cases = [
            ("salt of the genesis", 0, lambda r: hp.flip(r, hp.REC_SALT + 7)),
            ("salt of epoch 1", 1, lambda r: hp.flip(r, hp.REC_SALT)),
            ("KDF ops of the genesis", 0, lambda r: hp.flip(r, hp.REC_KDF_OPS + 3)),
            ("KDF memory of epoch 1", 1, lambda r: hp.flip(r, hp.REC_KDF_MEM + 1)),
            ("KDF memory below the floor", 0,
             lambda r: r[:hp.REC_KDF_MEM] + struct.pack(">I", 8) + r[hp.REC_KDF_MEM + 4:]),
            ("KDF ops below the floor", 1,
             lambda r: r[:hp.REC_KDF_OPS] + struct.pack(">I", 1) + r[hp.REC_KDF_OPS + 4:]),
            ("member injected into the genesis roster", 0, inject),
            ("member injected into the epoch-1 roster", 1, inject),
        ]
        for what, index, change in cases:
            def rewrite(chain, index=index, change=change):
                chain[index] = change(chain[index])
                return chain
            s.proxy.on_relay_frame = chain_hook("bob", rewrite)
            refused(s, "bob", "bob", f"bob, {what}", "pinned", "signature", "kdf", "rejected", "invalid epoch chain")
            s.proxy.on_relay_frame = chain_hook("charlie", rewrite)
            new_device_join_refused(s, "charlie", "charlie", f"charlie, {what}", "usable", "signature", "kdf",
                                    "invite", "genesis", "invalid epoch chain")
    run_setup(t, body, names=("alice", "bob", "charlie"))


if __name__ == "__main__":
    harness.main([
        test_forged_new_head_is_ignored,
        test_forked_new_head_blocks_the_room,
        test_a_record_forked_against_another_process_of_the_device_blocks,
        test_a_removal_shown_late_does_not_undo_the_re_entry,
        test_rollback_is_refused,
        test_relay_refuses_a_second_genesis_for_a_room_id,
        test_other_genesis_for_pinned_room_is_refused,
        test_tampered_records_in_chain_are_refused,
    ])
