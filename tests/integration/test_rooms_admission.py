#!/usr/bin/env python3
"""Rooms, invites and admission (issue 9): a room is created explicitly and joined with
its invite; its id is random and its genesis is pinned from the invite, so nobody can
plant another chain for it; a relay decides who may create rooms (--founders, or
--open-rooms within quotas) and serves long chains in pages.

Raw frames go through tests/tools/hostile_proxy.py (RawClient, forge_genesis). The
attacks are those of docs/THREAT-MODEL.md, "Rooms, admission and the flash drive".
"""
import os
import re
import signal
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import harness  # noqa: E402
import hostile_proxy as hp  # noqa: E402

ROOM = "lantern"
EXIT_NO_ROOM = 4
EXIT_NOT_IN_ROOM = 5


def reload_founders(relay, path, what, timeout=15.0) -> str:
    """SIGHUP to the relay, then wait for its log to name the founders file again (it
    says what it made of it, loaded or refused). Returns what it logged."""
    offset = len(relay.proc.stderr())
    relay.proc.signal(signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while str(path) not in relay.proc.stderr()[offset:]:
        assert relay.proc.running(), f"{what}: the relay exited\n  {relay.proc.result().describe()}"
        assert time.monotonic() < deadline, (
            f"{what}: the relay logged nothing about {path.name} after SIGHUP:\n{harness.tail(relay.proc.stderr())}")
        time.sleep(0.05)
    return relay.proc.stderr()[offset:]


def epochs(records):
    return [hp.Record.parse(r).epoch for r in records]


def check_links(records, genesis):
    """records[0] is the genesis named by the invite; each record's previous-hash field
    names the record before it."""
    assert hp.Record.parse(records[0]).hash() == genesis, "the chain does not start at the invite's genesis"
    for before, rec in zip(records, records[1:]):
        r = hp.Record.parse(rec)
        prev = r.head[hp.REC_PREV:hp.REC_PREV + 32]
        assert prev == hp.Record.parse(before).hash(), f"record of epoch {r.epoch} does not follow the one before"


# --------------------------------------------------------------------------- a. grinding


def test_removed_member_cannot_steer_a_new_device(t):
    """charlie is removed. He knows the password and, from the invite, the room id; he
    signs a genesis of his own for that room id (ground to a smaller hash than the
    real one, which the old 'smallest genesis' rule would have preferred) and publishes
    it with a raw client. The relay refuses it (room_exists) and stores nothing; bob's
    new device joins with the invite, follows the real chain (epoch 1, two members),
    and what bob says reaches alice, never charlie."""
    with t.relay() as relay:
        users = t.make_users(["alice", "bob", "charlie"])
        alice, bob, charlie = users["alice"], users["bob"], users["charlie"]
        fps = harness.fingerprints_of(alice, ["alice", "bob"])
        alice.create(ROOM, relay.url).expect_ok("alice creates the room")
        invite = t.invite(ROOM)
        assert invite.name == ROOM and invite.server == relay.url, f"invite: {invite}"
        for user in (bob, charlie):
            user.join(room=ROOM, server=relay.url).expect_ok(f"{user.name} joins with the invite")
        alice.rekey(ROOM, relay.url, extra=["--remove", "charlie"]).expect_ok("alice: rekey --remove charlie")

        # charlie's genesis, made by his own client from a copy of his flash drive
        # (another state folder) on another relay, then re-addressed and re-signed.
        with t.relay() as relay2:
            device = harness.User(t, "charlie")
            device.state = t.fresh_dir("charlie-copy-state")
            made = device.create("grind", relay2.url, remember=False).expect_ok("charlie creates a room elsewhere")
            own = harness.Invite(harness.invite_of(made))
            own_genesis = hp.fetch_chain("127.0.0.1", relay2.port, own.room, own.genesis)[0]
        forged = hp.forge_genesis(own_genesis, invite.room, hp.load_private_seed(charlie.key_file),
                                  below=invite.genesis)
        forged_hash = hp.Record.parse(forged).hash()
        assert forged_hash < invite.genesis

        before = relay.db_counts()
        with hp.RawClient("127.0.0.1", relay.port) as c:
            reply = c.publish(invite.room, forged)
            assert reply.type == hp.ERROR and reply.code == hp.ERR_ROOM_EXISTS, (
                f"charlie's genesis for the room id: expected Error {hp.ERR_ROOM_EXISTS} (room_exists), "
                f"got {reply.name} {vars(reply)}")
            reply = c.get_chain(invite.room, forged_hash)
            assert reply.type == hp.ERROR and reply.code == hp.ERR_UNKNOWN_CHAIN, (
                f"GetChain for charlie's genesis: expected Error {hp.ERR_UNKNOWN_CHAIN}, got {reply.name}")
            records, _ = c.fetch_chain(invite.room, invite.genesis)
        assert relay.db_counts() == before, f"the relay stored something: {before} -> {relay.db_counts()}"
        assert epochs(records) == [0, 1], f"the room's chain: epochs {epochs(records)}"
        check_links(records, invite.genesis)
        assert hp.Record.parse(records[1]).author == hp.load_public_key(alice.public_keys / "alice.pem")

        # charlie's chain cannot be reached with an invite that names it either
        planted = f"parley-invite:1:{ROOM}:{invite.room.hex()}:{forged_hash.hex()}:{relay.url}"
        charlie.join(invite=planted, state=t.fresh_dir("charlie-planted")).expect_fail(
            "a join by an invite naming charlie's refused genesis")
        # and his own device, which pinned the real genesis, refuses that invite
        charlie.join(invite=planted).expect_fail("an invite whose genesis differs from the pinned one")

        new_state = t.fresh_dir("bob-new-device")
        result = bob.join(room=ROOM, server=relay.url, state=new_state).expect_ok("bob's new device joins")
        assert re.search(rf"joined room {ROOM} at epoch 1 with 2 members", result.stderr), (
            f"bob's new device should follow the real chain to epoch 1 (alice and bob)\n  {result.describe()}")

        listen_alice = alice.listen(ROOM, relay.url, count=1)
        listen_charlie = charlie.listen(ROOM, relay.url, count=1, timeout=15, wait_joined=False)
        bob.run(["send"] + bob.room_args(ROOM, relay.url, state=new_state), stdin="for alice only\n",
                auto_join=False).expect_ok("bob sends from his new device")
        listen_alice.expect_messages([("bob", "for alice only")], fps)
        assert [m["epoch"] for m in listen_alice.messages()] == [1], listen_alice.finish().describe()
        res = listen_charlie.finish()
        assert "for alice only" not in res.stdout + res.stderr, f"charlie read bob's message\n  {res.describe()}"
        assert not [m for m in listen_charlie.lines() if m.get("status") == "ok"], res.describe()
        assert res.returncode == EXIT_NOT_IN_ROOM, f"charlie's listen: expected exit 5\n  {res.describe()}"


# --------------------------------------------------------------------------- b. unknown names


def test_send_to_a_typo_creates_nothing(t):
    """`send --room typo` (and every other room command) on a name the device never
    created or joined: exit 4, "no room named typo", nothing sent (even with no relay
    at the address), nothing stored by the relay, nothing kept on the device."""
    with t.relay() as relay:
        users = t.make_users(["alice", "bob"])
        alice, bob = users["alice"], users["bob"]
        fps = harness.fingerprints_of(bob, ["alice"])
        alice.create(ROOM, relay.url).expect_ok("alice creates the room")
        before = relay.db_counts()
        dead = f"ws://127.0.0.1:{harness.free_port()}"  # nothing listens there
        for user in (alice, bob):
            local = ["--user", user.name, "--room", "typo", "--dir", str(user.dir), "--state", str(user.state)]
            cases = [
                ("send", ["send"] + user.room_args("typo", relay.url), "never sent\n"),
                ("send to a dead address", ["send"] + user.room_args("typo", dead), "never sent\n"),
                ("listen", ["listen"] + user.room_args("typo", relay.url) + ["--count", "1", "--timeout", "5"], None),
                ("chat", ["chat"] + user.room_args("typo", relay.url), "never sent\n/quit\n"),
                ("rekey", ["rekey"] + user.room_args("typo", relay.url), None),
                ("history", ["history"] + local, None),
            ]
            for what, argv, stdin in cases:
                result = user.run(argv, stdin=stdin, auto_join=False, timeout=20)
                assert result.returncode == EXIT_NO_ROOM and "no room named typo" in result.stderr, (
                    f"{user.name}'s {what} on an unknown room: expected exit {EXIT_NO_ROOM} and "
                    f"'no room named typo'\n  {result.describe()}")
                assert "parley join" in result.stderr and "parley create" in result.stderr, (
                    f"{what}: the hint should name create and join\n  {result.describe()}")
            user.run(["invite"] + local, auto_join=False).expect_fail("invite of an unknown room", "no room named")
        assert relay.db_counts() == before, f"the relay stored something: {before} -> {relay.db_counts()}"
        # nothing was kept on the device either: the name is free for a create
        made = alice.create("typo", relay.url).expect_ok("alice creates 'typo' after all")
        assert t.invite("typo").room != t.invite(ROOM).room, made.describe()
        after = relay.db_counts()
        assert after["chains"] == before["chains"] + 1, f"one room more: {before} -> {after}"
        # the real room is untouched
        listener = bob.listen(ROOM, relay.url, count=1)
        alice.send(ROOM, relay.url, ["the real room"]).expect_ok("alice sends to the real room")
        listener.expect_messages([("alice", "the real room")], fps)


# --------------------------------------------------------------------------- c. founders


def test_closed_relay_refuses_outsiders(t):
    """--founders FILE holding alice's key: bob's create fails naming founders, alice's
    works, and bob (not a founder) still joins and talks. FILE rewritten with bob's key
    as a 64-hex line and SIGHUP: bob's create works (the refused create kept nothing
    on his device). A broken FILE on SIGHUP is logged and the old list kept."""
    users = t.make_users(["alice", "bob"])
    alice, bob = users["alice"], users["bob"]
    alice_pem = (alice.public_keys / "alice.pem").read_text()
    bob_hex = hp.load_public_key(bob.public_keys / "bob.pem").hex()
    founders = t.tmp / "founders.pem"
    founders.write_text(alice_pem)
    with t.relay(extra_args=["--founders", str(founders)]) as relay:
        fps = harness.fingerprints_of(alice, ["bob"])
        result = bob.create("bobs-room", relay.url)
        result.expect_fail("bob creates on a relay whose only founder is alice", "founder")
        alice.create(ROOM, relay.url).expect_ok("alice (a founder) creates")
        listener = alice.listen(ROOM, relay.url, count=1)
        bob.send(ROOM, relay.url, ["not a founder, still a member"]).expect_ok("bob joins and sends")
        listener.expect_messages([("bob", "not a founder, still a member")], fps)

        founders.write_text(alice_pem + "\n# bob, added later\n\n" + bob_hex + "\n")
        reload_founders(relay, founders, "founders file with bob's key")
        bob.create("bobs-room", relay.url).expect_ok("bob creates after the founders file lists him and SIGHUP")

        founders.write_text("# broken\nnot a key at all\n")
        said = reload_founders(relay, founders, "a broken founders file")
        assert re.search(r"(line 2|:2\b)", said), f"the reload error should name line 2:\n{harness.tail(said)}"
        bob.create("bobs-second-room", relay.url).expect_ok("bob creates: the old list was kept")
        alice.create("alices-second-room", relay.url).expect_ok("alice creates: the old list was kept")


# --------------------------------------------------------------------------- d. quotas


def test_open_relay_quota(t):
    """--open-rooms --rooms-per-address-per-hour 2: two creates from 127.0.0.1 work, a
    third (any key) is refused with a quota message; the rooms made keep working,
    rekeys included (a new epoch is not a new room). --max-chain-records 3: a third
    rekey is refused. --max-room-bytes 1 MiB: a send that would pass it is refused,
    and only that room's sender is affected."""
    with t.relay(extra_args=["--open-rooms", "--rooms-per-address-per-hour", "2", "--max-chain-records", "3",
                             "--max-room-bytes", str(1 << 20)]) as relay:
        users = t.make_users(["alice", "bob"])
        alice, bob = users["alice"], users["bob"]
        fps = harness.fingerprints_of(bob, ["alice"])
        alice.create("one", relay.url).expect_ok("the first room")
        alice.create("two", relay.url).expect_ok("the second room")
        before = relay.db_counts()
        alice.create("three", relay.url).expect_fail("a third room from the same address", "quota")
        bob.create("four", relay.url).expect_fail("a third room from the same address, another key", "quota")
        assert relay.db_counts() == before, f"a refused create stored something: {before} -> {relay.db_counts()}"
        # a refused create keeps nothing on the device: the name is still free there
        alice.create("three", relay.url).expect_fail("the third room again", "quota")

        alice.rekey("one", relay.url).expect_ok("a rekey of a room made within the quota")
        alice.rekey("one", relay.url).expect_ok("a second rekey (the chain's third record)")
        alice.rekey("one", relay.url).expect_fail("a fourth record with --max-chain-records 3", "quota")

        # room "two" fills its 1 MiB; room "one" is not affected
        big = [f"{i:02d} " + "x" * 60000 for i in range(20)]
        alice.send("two", relay.url, big).expect_fail("sending 1.2 MiB into a room of at most 1 MiB", "quota")
        listener = bob.listen("one", relay.url, count=1)
        alice.send("one", relay.url, ["within the quota"]).expect_ok("alice sends to the other room")
        listener.expect_messages([("alice", "within the quota")], fps)
        assert [m["epoch"] for m in listener.messages()] == [2]


# --------------------------------------------------------------------------- e. pages


REKEYS = 30
PAGE_BYTES = 4096


def test_long_chain_is_served_in_pages(t):
    """--chain-page-bytes 4096 and 30 rekeys: the raw client gets the chain in pages
    (complete=0 until the last, each page within the byte budget, consecutive epochs,
    linked records from the invite's genesis; from `after` = the genesis, the records
    after it; from the head, an empty complete page; an `after` that is no record of
    the chain is an Error). bob's new device
    joins through a proxy that counts the pages it fetched, and then talks."""
    with t.relay(extra_args=["--chain-page-bytes", str(PAGE_BYTES)]) as relay:
        users = t.make_users(["alice", "bob"])
        alice, bob = users["alice"], users["bob"]
        fps = harness.fingerprints_of(alice, ["alice", "bob"])
        alice.create(ROOM, relay.url).expect_ok("alice creates the room")
        invite = t.invite(ROOM)
        for i in range(REKEYS):
            alice.rekey(ROOM, relay.url).expect_ok(f"alice's rekey {i + 1}")

        with hp.RawClient("127.0.0.1", relay.port) as c:
            records, pages = c.fetch_chain(invite.room, invite.genesis)
            later, _ = c.fetch_chain(invite.room, invite.genesis, after=invite.genesis)
            stray = c.get_chain(invite.room, invite.genesis, after=os.urandom(32))
            at_head = c.get_chain(invite.room, invite.genesis, after=hp.Record.parse(records[-1]).hash())
        assert epochs(records) == list(range(REKEYS + 1)), f"epochs {epochs(records)}"
        check_links(records, invite.genesis)
        flags = [p.complete for p in pages]
        assert len(pages) >= 3 and flags == [0] * (len(pages) - 1) + [1], (
            f"expected several pages, complete only on the last: {flags}")
        for i, page in enumerate(pages):
            sizes = [len(r) for r in page.records]
            assert sum(sizes) - sizes[-1] < PAGE_BYTES, f"page {i} holds {sum(sizes)} bytes: {sizes}"
            if i + 1 < len(pages):
                assert sum(sizes) + len(pages[i + 1].records[0]) > PAGE_BYTES, (
                    f"page {i} ({sum(sizes)} bytes) stopped with room for the next record")
        assert later == records[1:], f"after the genesis: epochs {epochs(later)}"
        assert stray.type == hp.ERROR and stray.code == hp.ERR_UNKNOWN_CHAIN, (
            f"an `after` that is not in the chain: expected Error {hp.ERR_UNKNOWN_CHAIN}, got {stray.name}")
        assert at_head.type == hp.CHAIN and at_head.complete == 1 and at_head.records == [], (
            f"`after` = the head: expected an empty, complete page, got {at_head.name} {vars(at_head)}")

        proxy = hp.HostileProxy("127.0.0.1", relay.port, seq_stride=1).start()
        try:
            result = bob.join(room=ROOM, server=proxy.listen("bob")).expect_ok("bob's new device joins")
            got = [f for conn in proxy.connections("bob") for f in conn.frames("r2c", ftype=hp.CHAIN)]
            assert not proxy.errors, proxy.errors
        finally:
            proxy.stop()
        assert re.search(rf"joined room {ROOM} at epoch {REKEYS}\b", result.stderr), result.describe()
        assert len(got) >= len(pages) and [f.complete for f in got[:len(pages)]] == flags, (
            f"bob's join fetched {len(got)} Chain pages, complete flags {[f.complete for f in got]}; "
            f"the chain is {len(pages)} pages")

        listen_alice = alice.listen(ROOM, relay.url, count=2)
        listen_bob = bob.listen(ROOM, relay.url, count=2)
        alice.send(ROOM, relay.url, ["a long chain"]).expect_ok("alice sends")
        bob.send(ROOM, relay.url, ["read in pages"]).expect_ok("bob sends")
        for listener in (listen_alice, listen_bob):
            listener.expect_messages([("alice", "a long chain"), ("bob", "read in pages")], fps)
            assert {m["epoch"] for m in listener.messages()} == {REKEYS}


# --------------------------------------------------------------------------- f. start-up


def start_relay(t, extra, name="relay"):
    # Metrics off: relays started in parallel would fight over 127.0.0.1:9464.
    argv = [harness.args().relay, "--data", str(t.fresh_dir("relay-data")), "--metrics-listen", "off"] + list(extra)
    return harness.Proc(t, name, argv, t.env(), cwd=t.fresh_dir("relay"))


def test_relay_beyond_loopback_must_say_who_creates_rooms(t):
    """On 0.0.0.0 with neither --founders nor --open-rooms the relay refuses to start,
    naming both flags; with both it refuses too ("pick one"); a founders file with a bad
    line stops it naming the line. With one of the two flags it starts."""
    users = t.make_users(["alice"])
    good = t.tmp / "founders.pem"
    good.write_text("# the founders\n\n" + (users["alice"].public_keys / "alice.pem").read_text())
    bad = t.tmp / "bad-founders.pem"
    bad.write_text("# the founders\n\nthis is not a key\n")
    wide = ["--listen", "0.0.0.0:0", "--insecure-plaintext"]

    result = start_relay(t, wide).wait(harness.STARTUP_TIMEOUT_S, "a relay on 0.0.0.0 with neither flag")
    assert result.returncode != 0, f"the relay started on 0.0.0.0 without --founders or --open-rooms\n  {result.describe()}"
    assert "--founders" in result.stderr and "--open-rooms" in result.stderr, (
        f"the refusal should name both flags\n  {result.describe()}")

    result = start_relay(t, wide + ["--founders", str(good), "--open-rooms"]).wait(
        harness.STARTUP_TIMEOUT_S, "a relay with both flags")
    result.expect_fail("a relay with --founders and --open-rooms", "pick one")

    result = start_relay(t, ["--listen", "127.0.0.1:0", "--founders", str(bad)]).wait(
        harness.STARTUP_TIMEOUT_S, "a relay with a bad founders file")
    assert result.returncode != 0 and re.search(r"(line 3|:3\b)", result.stderr), (
        f"a bad founders file should stop the relay naming line 3\n  {result.describe()}")

    result = start_relay(t, ["--listen", "127.0.0.1:0", "--founders", str(t.tmp / "missing.pem")]).wait(
        harness.STARTUP_TIMEOUT_S, "a relay with a missing founders file")
    result.expect_fail("a relay with a missing founders file", "missing.pem")

    for flags in (["--founders", str(good)], ["--open-rooms"]):
        proc = start_relay(t, wide + flags)
        proc.wait_for_stderr(harness.READY_RE, harness.STARTUP_TIMEOUT_S, f"a relay on 0.0.0.0 with {flags[0]}")
        proc.signal(signal.SIGTERM)
        proc.wait(harness.STOP_TIMEOUT_S, "relay stop").expect_ok(f"the relay with {flags[0]} stops")


# --------------------------------------------------------------------------- invites


def test_invite_command_and_settings_file(t):
    """`parley invite` prints a room's invite on any member's device, without a relay or
    a password; `invite = "..."` in parley.toml joins the room before the first
    command; malformed invites and a name clash are clear errors."""
    relay = t.relay().start()
    users = t.make_users(["alice", "bob", "carol"])
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    fps = harness.fingerprints_of(alice, ["carol"])
    created = alice.create(ROOM, relay.url).expect_ok("alice creates the room")
    invite = t.invites[ROOM]
    assert created.stdout == invite + "\n", f"create's stdout should be the invite alone\n  {created.describe()}"
    alice.create(ROOM, relay.url).expect_fail("a second create of a name this device knows", ROOM)
    bob.ensure_joined(ROOM, relay.url)
    bob.join(room=ROOM, server=relay.url).expect_ok("bob joins the same invite again")
    alice.create("other", relay.url).expect_ok("alice creates another room")
    # a name this device already uses for another room: refused, with a hint
    bob.join(invite=t.invites["other"], room=ROOM, server=relay.url).expect_fail(
        "bob joins another room under the name he uses for the first", "--room")

    # carol's flash drive names only the invite: her first send joins first
    (carol.dir / "parley.toml").write_text(f'invite = "{invite}"\n')
    listener = alice.listen(ROOM, relay.url, count=1)
    carol.run(["send", "--user", "carol", "--dir", str(carol.dir), "--state", str(carol.state)],
              stdin="joined from the settings file\n", auto_join=False).expect_ok("carol sends with only --user")
    listener.expect_messages([("carol", "joined from the settings file")], fps)
    relay.stop()

    # with the relay gone and no password: the invite is still there to hand out
    for user in (alice, bob, carol):
        result = t.run_parley(["invite", "--user", user.name, "--room", ROOM, "--dir", str(user.dir),
                               "--state", str(user.state)], env=t.env(), name=f"{user.name}-invite")
        result.expect_ok(f"{user.name}'s parley invite without relay or password")
        assert harness.invite_of(result, "parley invite") == invite, (
            f"{user.name}'s invite differs from the creator's\n  {result.describe()}")

    room_hex = t.invite(ROOM).room.hex()
    bad = [
        ("not a Parley invite", "https://example.com/join"),
        ("version", invite.replace("parley-invite:1:", "parley-invite:2:", 1)),
        ("room id", invite.replace(f":{room_hex}:", ":abcd:", 1)),
    ]
    for words, text in bad:
        carol.join(invite=text, state=t.fresh_dir("carol-bad-invite")).expect_fail(f"join {text!r}", words)


if __name__ == "__main__":
    harness.main([
        test_removed_member_cannot_steer_a_new_device,
        test_send_to_a_typo_creates_nothing,
        test_closed_relay_refuses_outsiders,
        test_open_relay_quota,
        test_long_chain_is_served_in_pages,
        test_relay_beyond_loopback_must_say_who_creates_rooms,
        test_invite_command_and_settings_file,
    ])
