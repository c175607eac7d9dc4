#!/usr/bin/env python3
"""Rooms of protocol version 2 (docs/PROTOCOL.md §10), run as people run them: real
`parley` clients and the real `parley-relay` over loopback.

- `parley create --protocol 2` brings in every device whose card is in public_keys/
  (§10.5) and refuses, naming them, members who have none;
- two devices of one member (alice's laptop and phone, two state folders certified by
  one identity key) and bob's desk send and listen in one room: each message shows
  once, from its member, with no warning, on every device, and in `parley history`;
- a copy of the laptop's state folder that sends raises, on the laptop, the alarm
  that its device key is in use elsewhere (§10.5), while the others read it as the
  laptop's: the copy holds the device key, the chains and the password;
- a device whose card was not in the genesis cannot enter, and says why;
- a wrong password opens nothing and leaves no state behind: the right one works after,
  and on a device with state for the room it is still a wrong password, not damage.
"""
import re
import shutil
import sys
import threading
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import harness  # noqa: E402
import hostile_proxy as hp  # noqa: E402

ROOM = "v2room"


def device_add(t, user, name, state):
    made = t.run_parley(["device", "add", name, "--user", user.name, "--dir", str(user.dir), "--state", str(state)],
                        name=f"{user.name}-device").expect_ok(f"{user.name}: device add {name}")
    (card,) = Path(state).glob("device-*.card")
    return card, made


def share_card(card, member, name, users):
    for u in users:
        shutil.copyfile(card, u.public_keys / f"{member}.{name}.card")


def room_argv(user, server, state):
    return ["--user", user.name, "--room", ROOM, "--server", server, "--dir", str(user.dir), "--state", str(state)]


def listen(t, user, server, state, count, label):
    argv = [harness.args().parley, "listen"] + room_argv(user, server, state) + ["--count", str(count),
                                                                                "--timeout", "40"]
    proc = harness.Proc(t, label, argv, user.env())
    proc.wait_for_stderr(harness.Listener.JOINED_RE, harness.JOIN_TIMEOUT_S, f"{label} joins")
    return proc


def send(t, user, server, state, lines, label):
    return t.run_parley(["send"] + room_argv(user, server, state), stdin="".join(l + "\n" for l in lines),
                        env=user.env(), name=label)


def json_lines(result):
    import json
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def create_v2(t, user, server):
    """`parley create --protocol 2` by `user`'s first device; returns the invite."""
    created = t.run_parley(["create", "--protocol", "2"] + room_argv(user, server, user.state), env=user.env(),
                           name=f"{user.name}-create").expect_ok("create --protocol 2")
    return harness.invite_of(created)


def join(t, user, invite, state):
    return t.run_parley(["join", invite, "--user", user.name, "--dir", str(user.dir), "--state", str(state)],
                        env=user.env(), name=f"{user.name}-join")


def setup(t):
    users = t.make_users(["alice", "bob"])
    alice, bob = users["alice"], users["bob"]
    phone_state = t.fresh_dir("alice-phone")
    laptop_card, made = device_add(t, alice, "laptop", alice.state)
    phone_card, _ = device_add(t, alice, "phone", phone_state)
    desk_card, _ = device_add(t, bob, "desk", bob.state)
    return alice, bob, phone_state, (laptop_card, phone_card, desk_card)


def test_two_devices_of_one_member_chat_without_a_warning(t):
    alice, bob, phone_state, (laptop_card, phone_card, desk_card) = setup(t)
    relay = t.relay().start()
    server = relay.url

    # Without bob's card the room cannot bring bob in: refused, naming him.
    share_card(laptop_card, "alice", "laptop", [alice, bob])
    share_card(phone_card, "alice", "phone", [alice, bob])
    refused = t.run_parley(["create", "--protocol", "2"] + room_argv(alice, server, alice.state), env=alice.env(),
                           name="alice-create")
    refused.expect_fail("create --protocol 2 with a member without a card", "no device card", "bob")
    share_card(desk_card, "bob", "desk", [alice, bob])

    created = t.run_parley(["create", "--protocol", "2"] + room_argv(alice, server, alice.state), env=alice.env(),
                           name="alice-create").expect_ok("create --protocol 2")
    assert "2 members and 3 devices" in created.stderr, created.describe()
    invite = harness.invite_of(created)
    for user, state in ((bob, bob.state), (alice, phone_state)):
        join(t, user, invite, state).expect_ok(f"{user.name} joins from {state}")

    expected = [("alice", "from the laptop"), ("alice", "from the phone"), ("bob", "from the desk"),
                ("alice", "the laptop again")]
    bob_listen = listen(t, bob, server, bob.state, 3, "bob-listen")  # alice's three
    laptop_listen = listen(t, alice, server, alice.state, 2, "laptop-listen")  # the phone's and bob's
    send(t, alice, server, alice.state, ["from the laptop"], "laptop-send").expect_ok("laptop sends")
    send(t, alice, server, phone_state, ["from the phone"], "phone-send").expect_ok("phone sends")
    send(t, bob, server, bob.state, ["from the desk"], "desk-send").expect_ok("desk sends")
    send(t, alice, server, alice.state, ["the laptop again"], "laptop-send2").expect_ok("laptop sends again")

    # A device's listener shows the others' messages, not what its own device sent
    # (another process of its folder: it keeps no key of its own positions, §10.4).
    got = json_lines(bob_listen.wait(60, "bob's listener").expect_ok("bob's listener"))
    texts = [(m.get("from"), m.get("text"), m.get("own")) for m in got]
    want = [(f, x, False) for f, x in expected if f != "bob"]
    assert texts == want, f"bob read {texts}, not {want}: no warning, each once\n  {got}"

    got = json_lines(laptop_listen.wait(60, "the laptop's listener").expect_ok("the laptop's listener"))
    texts = [(m.get("from"), m.get("text"), m.get("own")) for m in got]
    want = [(f, x, False) for f, x in expected if "laptop" not in x]
    assert texts == want, f"the laptop read {texts}, not {want}: its phone's messages are shown\n  {got}"

    # /who in chat: each member with its devices, this one marked.
    who = t.run_parley(["chat", "--ui", "line"] + room_argv(alice, server, phone_state), stdin="/who\n/quit\n",
                       env=alice.env(), name="phone-chat").expect_ok("chat /who on the phone")
    out = who.stdout + who.stderr
    for line in (r"device laptop  [0-9a-f ]{49}$", r"device phone  [0-9a-f ]{49}  \(this device\)$",
                 r"device desk  [0-9a-f ]{49}$"):
        assert re.search(line, out, re.M), f"/who lacks {line!r}\n  {who.describe()}"

    history = t.run_parley(["history", "--json", "--user", "bob", "--room", ROOM, "--dir", str(bob.dir),
                            "--state", str(bob.state)], env=bob.env(),
                           name="bob-history").expect_ok("bob's history")
    stored = [(m.get("from"), m.get("text")) for m in json_lines(history)]
    assert stored == expected, f"bob's history holds {stored}"

    # A copy of the laptop's state folder (device key, chains, password) sends:
    # bob reads it as the laptop's, and the laptop raises the alarm.
    copy = t.fresh_dir("laptop-copy")
    shutil.rmtree(copy)
    shutil.copytree(alice.state, copy)
    laptop_listen = listen(t, alice, server, alice.state, 1, "laptop-listen2")
    send(t, alice, server, copy, ["sent from a copy"], "copy-send").expect_ok("the copy sends")
    send(t, bob, server, bob.state, ["after the copy"], "desk-send2").expect_ok("desk sends after the copy")
    got = json_lines(laptop_listen.wait(60, "the laptop's listener").expect_ok("the laptop's listener"))
    alarms = [m for m in got if m.get("status") == "rejected" and "in use elsewhere" in m.get("reason", "")]
    assert alarms, f"the laptop did not raise the alarm for a copy of its device key: {got}"
    assert not [m for m in got if m.get("status") == "ok" and m.get("text") == "sent from a copy"], got

    # Another copy, and this time the laptop sends first: both take the same
    # position of the laptop's chain. The laptop knows its own envelope there by
    # what it sealed, so the copy's still raises the alarm.
    copy2 = t.fresh_dir("laptop-copy2")
    shutil.rmtree(copy2)
    shutil.copytree(alice.state, copy2)
    send(t, alice, server, alice.state, ["the laptop at position p"], "laptop-send3").expect_ok("the laptop sends")
    send(t, alice, server, copy2, ["the copy at position p"], "copy-send2").expect_ok("the second copy sends")
    send(t, bob, server, bob.state, ["after the second copy"], "desk-send3").expect_ok("desk sends")
    laptop_listen = listen(t, alice, server, alice.state, 1, "laptop-listen3")
    got = json_lines(laptop_listen.wait(60, "the laptop's listener").expect_ok("the laptop's listener"))
    alarms = [m for m in got if m.get("status") == "rejected" and "in use elsewhere" in m.get("reason", "")]
    assert alarms, f"a copy sending at a position the laptop took too raised no alarm: {got}"
    assert [m.get("text") for m in got if m.get("status") == "ok"] == ["after the second copy"], got


def test_a_device_not_in_the_room_and_a_wrong_password(t):
    alice, bob, phone_state, (laptop_card, phone_card, desk_card) = setup(t)
    relay = t.relay().start()
    server = relay.url
    # The phone's card is not shared: the room brings in the laptop and the desk.
    share_card(laptop_card, "alice", "laptop", [alice, bob])
    share_card(desk_card, "bob", "desk", [alice, bob])
    invite = create_v2(t, alice, server)
    t.run_parley(["join", invite, "--user", "alice", "--dir", str(alice.dir), "--state", str(phone_state)],
                 env=alice.env(), name="phone-join").expect_fail("a device the room did not bring in",
                                                                 "this device (phone) is not in room")
    # Bob with a wrong password: refused, and his state keeps nothing of it.
    t.run_parley(["join", invite, "--user", "bob", "--dir", str(bob.dir), "--state", str(bob.state)],
                 env=bob.env("not the password"), name="bob-join").expect_fail("a wrong password",
                                                                               "wrong room password")
    t.run_parley(["join", invite, "--user", "bob", "--dir", str(bob.dir), "--state", str(bob.state)],
                 env=bob.env(), name="bob-join").expect_ok("the right password after a wrong one")
    bob_listen = listen(t, bob, server, bob.state, 1, "bob-listen")
    send(t, alice, server, alice.state, ["hello bob"], "laptop-send").expect_ok("laptop sends")
    got = json_lines(bob_listen.wait(60, "bob's listener"))
    assert [(m.get("from"), m.get("text"), m.get("status")) for m in got] == [("alice", "hello bob", "ok")], got
    # Now bob's device has state for the room, sealed under the password: a
    # mistyped one is a wrong password still (chat asks again), not a damaged file.
    wrong = t.run_parley(["send"] + room_argv(bob, server, bob.state), stdin="typo\n", env=bob.env("not the password"),
                         name="bob-send").expect_fail("a wrong password on existing state", "wrong room password")
    assert "damaged" not in wrong.stderr, wrong.describe()
    send(t, bob, server, bob.state, ["the right one"], "bob-send").expect_ok("the right password after a wrong one")


def test_create_seals_to_this_devices_own_card_after_a_new_one(t):
    """The laptop replaced its joining key (`device card --new`, which erases the old
    private half) and the old card is still in public_keys/: the room it creates seals
    its box to its own folder's card, so it can open the room it made."""
    alice, bob, _, (laptop_card, _, desk_card) = setup(t)
    relay = t.relay().start()
    server = relay.url
    share_card(laptop_card, "alice", "laptop", [alice, bob])
    share_card(desk_card, "bob", "desk", [alice, bob])
    t.run_parley(["device", "card", "--new", "--user", "alice", "--dir", str(alice.dir), "--state",
                  str(alice.state)], name="alice-card").expect_ok("device card --new")
    invite = create_v2(t, alice, server)
    join(t, bob, invite, bob.state).expect_ok("bob joins")
    bob_listen = listen(t, bob, server, bob.state, 1, "bob-listen")
    send(t, alice, server, alice.state, ["from the laptop"], "laptop-send").expect_ok("the laptop sends in its room")
    got = json_lines(bob_listen.wait(60, "bob's listener").expect_ok("bob's listener"))
    assert [(m.get("from"), m.get("text")) for m in got] == [("alice", "from the laptop")], got


def rewind(state):
    """What a thief does with its copy of a state folder: forget how far the device
    read, so `listen` asks the relay for its whole log again."""
    import sqlite3
    (db,) = Path(state).glob("state-*.sqlite")
    con = sqlite3.connect(db)
    for table in ("rooms", "stream_digests", "stream_gaps", "history", "rebases"):
        con.execute(f"DELETE FROM {table}")
    con.commit()
    con.close()


def test_a_stolen_device_state_reads_neither_before_the_theft_nor_after_a_rotation(t):
    """The done-when of forward secrecy and healing, from the outside: alice's laptop
    reads up to message k; a thief copies its state folder (device key, chains, update
    keys) and knows the password, rewinds the copy and reads the relay's whole log:
    nothing up to k opens, what follows k does; after alice's next rotation (she writes
    an epoch) the copy cannot even enter the room."""
    alice, bob, _, (laptop_card, _, desk_card) = setup(t)
    relay = t.relay().start()
    server = relay.url
    share_card(laptop_card, "alice", "laptop", [alice, bob])
    share_card(desk_card, "bob", "desk", [alice, bob])
    invite = create_v2(t, alice, server)
    join(t, bob, invite, bob.state).expect_ok("bob joins")

    # Epoch 0: each device sends its key-update (it is on its card's joining key)
    # with its first message; the other's reader notes it.
    laptop_listen = listen(t, alice, server, alice.state, 2, "laptop-listen")
    send(t, bob, server, bob.state, ["b1", "b2"], "desk-send").expect_ok("bob sends")
    laptop_listen.wait(60, "the laptop's listener").expect_ok("the laptop reads b1, b2")
    bob_listen = listen(t, bob, server, bob.state, 1, "desk-listen")
    send(t, alice, server, alice.state, ["a1"], "laptop-send").expect_ok("alice sends")
    bob_listen.wait(60, "bob's listener").expect_ok("bob reads a1 (and alice's key-update)")
    rekeyed = bob.room_cmd("rekey", ROOM, server, auto_join=False).expect_ok("bob writes epoch 1")
    assert "epoch 1" in rekeyed.stderr, rekeyed.describe()
    # The joining key is a last resort kept for the next room (§10.5): once in, alice
    # replaces it, as the docs advise.
    t.run_parley(["device", "card", "--new", "--user", "alice", "--dir", str(alice.dir), "--state",
                  str(alice.state)], name="alice-card").expect_ok("device card --new")

    # Epoch 1: the laptop reads b3 (message k), then its folder is stolen.
    laptop_listen = listen(t, alice, server, alice.state, 1, "laptop-listen2")
    send(t, bob, server, bob.state, ["b3"], "desk-send2").expect_ok("bob sends b3")
    got = json_lines(laptop_listen.wait(60, "the laptop's listener").expect_ok("the laptop reads b3"))
    assert [(m.get("text"), m.get("epoch")) for m in got] == [("b3", 1)], got
    assert chain_rows(alice.state, harness.Invite(invite).genesis) > 0, "epoch 0's chains are gone too early"
    copy = t.fresh_dir("laptop-copy")
    shutil.rmtree(copy)
    shutil.copytree(alice.state, copy)
    rewind(copy)
    send(t, bob, server, bob.state, ["b4"], "desk-send3").expect_ok("bob sends b4, after the theft")

    thief = listen(t, alice, server, copy, 1, "thief-listen")
    got = json_lines(thief.wait(60, "the thief's listener").expect_ok("the thief's listener"))
    shown = [m.get("text") for m in got if m.get("status") == "ok"]
    assert shown == ["b4"], f"the stolen state read {shown}: only what came after the theft may open\n  {got}"
    refused = [m for m in got if m.get("status") == "rejected"]
    assert len(refused) >= 3, f"b1, b2 and b3 should be refused to the thief, not skipped unseen: {got}"

    # Alice's next rotation: she writes epoch 2, sealed to a key the copy never had.
    alice.room_cmd("rekey", ROOM, server, auto_join=False).expect_ok("alice writes epoch 2")
    send(t, bob, server, bob.state, ["b5"], "desk-send4").expect_ok("bob sends b5 in epoch 2")
    locked = t.run_parley(["listen", "--count", "1", "--timeout", "10"] + room_argv(alice, server, copy),
                          env=alice.env(), name="thief-listen2")
    locked.expect_fail("the stolen state after alice's rotation", "cannot open the room's current epoch")
    assert "b5" not in locked.stdout, locked.describe()
    laptop_listen = listen(t, alice, server, alice.state, 2, "laptop-listen3")
    got = json_lines(laptop_listen.wait(60, "the laptop's listener").expect_ok("the laptop reads b4, b5"))
    assert [(m.get("text"), m.get("epoch")) for m in got] == [("b4", 1), ("b5", 2)], got
    # Its stream in epoch 2, the laptop keeps no chain of epoch 0 (kinds 3 to 5 of
    # §10.2, named by the record hash): what the relay still holds of it stays shut.
    genesis = harness.Invite(invite).genesis
    assert chain_rows(alice.state, genesis) == 0, "the laptop kept chains of an epoch two behind its stream"


def chain_rows(state, record_hash):
    import sqlite3
    (db,) = Path(state).glob("state-*.sqlite")
    con = sqlite3.connect(db)
    n = sum(con.execute("SELECT count(*) FROM device_secrets WHERE substr(name, 1, 33) = ?",
                        (bytes([kind]) + record_hash,)).fetchone()[0] for kind in (3, 4, 5))
    con.close()
    return n


def test_two_rekeys_at_once_end_in_one_chain_with_both_changes(t):
    """alice adds dave while bob removes carol, at the same moment (alice's record held
    on its way until bob's is in): the relay keeps one record per epoch, the loser
    writes its change on top of the winner's, and the room ends at epoch 2 with dave in
    and carol out, everyone's devices sealed to."""
    users = t.make_users(["alice", "bob", "carol", "dave"])
    alice, bob, carol, dave = (users[n] for n in ("alice", "bob", "carol", "dave"))
    cards = {u.name: device_add(t, u, "dev", u.state)[0] for u in users.values()}
    for u in (alice, bob, carol):
        (u.public_keys / "dave.pem").unlink()
        for name in ("alice", "bob", "carol"):
            share_card(cards[name], name, "dev", [u])
    relay = t.relay().start()
    server = relay.url
    invite = create_v2(t, alice, server)
    for u in (bob, carol):
        t.run_parley(["join", invite, "--user", u.name, "--dir", str(u.dir), "--state", str(u.state)],
                     env=u.env(), name=f"{u.name}-join").expect_ok(f"{u.name} joins")
    # Dave's key and card reach alice's drive.
    shutil.copyfile(dave.public_keys / "dave.pem", alice.public_keys / "dave.pem")
    share_card(cards["dave"], "dave", "dev", [alice])

    # At once, for sure: alice's Publish is held in a proxy until bob's record for
    # epoch 1 is in, then goes on; the relay refuses it (not the head) and alice
    # writes again on top of bob's.
    proxy = hp.HostileProxy("127.0.0.1", relay.port).start()
    held = {}
    publishing = threading.Event()

    def hold_first_publish(conn, data):
        f = hp.parse_frame(data)
        if f is not None and f.type == hp.PUBLISH:
            held.setdefault("publishes", []).append(f)
            if len(held["publishes"]) == 1:
                held["first"] = (conn, data)
                publishing.set()
                return []
        return None
    proxy.on_client_frame = hold_first_publish
    try:
        alice_rekey = harness.Proc(t, "alice-rekey", [harness.args().parley, "rekey"] +
                                   room_argv(alice, proxy.listen("alice"), alice.state) + ["--add", "dave"], alice.env())
        assert publishing.wait(30), "alice's rekey never published"
        bob_said = t.run_parley(["rekey"] + room_argv(bob, server, bob.state) + ["--remove", "carol"], env=bob.env(),
                                name="bob-rekey").expect_ok("bob's rekey, while alice's is on its way")
        assert "now at epoch 1" in bob_said.stderr, bob_said.describe()
        conn, data = held["first"]
        conn.inject_to_relay(data)
        alice_said = alice_rekey.wait(harness.COMMAND_TIMEOUT_S, "alice's rekey").expect_ok("alice's rekey")
        assert "now at epoch 2" in alice_said.stderr, alice_said.describe()
        assert len(held["publishes"]) == 2, f"alice published {len(held['publishes'])} records, not 2 (lost, wrote again)"
    finally:
        proxy.stop()
    t.run_parley(["join", invite, "--user", "dave", "--dir", str(dave.dir), "--state", str(dave.state)],
                 env=dave.env(), name="dave-join").expect_ok("dave joins once added")
    shutil.copyfile(dave.public_keys / "dave.pem", bob.public_keys / "dave.pem")

    bob_listen = listen(t, bob, server, bob.state, 2, "bob-listen")
    send(t, dave, server, dave.state, ["dave is in"], "dave-send").expect_ok("dave sends in epoch 2")
    send(t, alice, server, alice.state, ["carol is out"], "alice-send").expect_ok("alice sends")
    got = json_lines(bob_listen.wait(60, "bob's listener").expect_ok("bob's listener"))
    assert [(m.get("from"), m.get("text"), m.get("epoch")) for m in got] == [
        ("dave", "dave is in", 2), ("alice", "carol is out", 2)], got
    gone = t.run_parley(["listen", "--count", "1", "--timeout", "10"] + room_argv(carol, server, carol.state),
                        env=carol.env(), name="carol-listen")
    assert gone.returncode == 5 and "removed" in gone.stderr, gone.describe()


def update_key_rows(state):
    """The update keys (kind 1 of §10.2) a state folder holds, of any room."""
    import sqlite3
    (db,) = Path(state).glob("state-*.sqlite")
    con = sqlite3.connect(db)
    n = con.execute("SELECT count(*) FROM device_secrets WHERE substr(name, 1, 1) = ?", (bytes([1]),)).fetchone()[0]
    con.close()
    return n


def test_a_member_removed_and_added_back_reads_again(t):
    """Carol's device rotated its update key (epoch 1 is sealed to its key 1), then bob
    removes her: her device erases the update keys it held for the room (they open the
    boxes of the epochs she was in), and when bob adds her back by her card she enters
    with her joining key as a new device would, and reads."""
    users = t.make_users(["bob", "carol"])
    bob, carol = users["bob"], users["carol"]
    cards = {u.name: device_add(t, u, "dev", u.state)[0] for u in users.values()}
    for name, card in cards.items():
        share_card(card, name, "dev", [bob, carol])
    relay = t.relay().start()
    server = relay.url
    invite = create_v2(t, bob, server)
    join(t, carol, invite, carol.state).expect_ok("carol joins")
    def carol_rotates(epoch):
        """carol sends (her key-update goes with it), bob notes it and writes `epoch`,
        sealed to her new key, and carol reads bob's message there."""
        bob_listen = listen(t, bob, server, bob.state, 1, f"bob-listen-{epoch}")
        send(t, carol, server, carol.state, [f"key-update before epoch {epoch}"], f"carol-send-{epoch}").expect_ok(
            "carol sends")
        bob_listen.wait(60, "bob's listener").expect_ok("bob reads carol's message and notes her key-update")
        bob.room_cmd("rekey", ROOM, server, auto_join=False).expect_ok(f"bob writes epoch {epoch}")
        carol_listen = listen(t, carol, server, carol.state, 1, f"carol-listen-{epoch}")
        send(t, bob, server, bob.state, [f"in epoch {epoch}"], f"bob-send-{epoch}").expect_ok("bob sends")
        got = json_lines(carol_listen.wait(60, "carol's listener").expect_ok(f"carol reads epoch {epoch}"))
        assert [(m.get("text"), m.get("epoch")) for m in got] == [(f"in epoch {epoch}", epoch)], got

    carol_rotates(1)
    assert update_key_rows(carol.state) > 0

    live = listen(t, carol, server, carol.state, 1, "carol-listen-live")
    bob.room_cmd("rekey", ROOM, server, ["--remove", "carol"], auto_join=False).expect_ok("bob removes carol")
    result = live.wait(60, "carol's listener")
    assert result.returncode == 5 and "removed" in result.stderr, result.describe()
    assert update_key_rows(carol.state) == 0, "a device removed while it listened kept its update keys"
    gone = t.run_parley(["listen", "--count", "1", "--timeout", "10"] + room_argv(carol, server, carol.state),
                        env=carol.env(), name="carol-listen2")
    assert gone.returncode == 5 and "removed" in gone.stderr, gone.describe()
    assert update_key_rows(carol.state) == 0, "a removed device kept update keys that open its old epochs' boxes"

    bob.room_cmd("rekey", ROOM, server, ["--add", "carol"], auto_join=False).expect_ok("bob adds carol back")
    carol_listen = listen(t, carol, server, carol.state, 1, "carol-listen3")
    send(t, bob, server, bob.state, ["welcome back"], "bob-send2").expect_ok("bob sends in epoch 3")
    got = json_lines(carol_listen.wait(60, "carol's listener").expect_ok("carol reads again"))
    assert [(m.get("from"), m.get("text"), m.get("epoch"), m.get("status")) for m in got] == [
        ("bob", "welcome back", 3, "ok")], got

    # Again while carol is away: she rotates (epoch 4 seals to her key 1), then is
    # removed and added back before her device runs again. The record that brings
    # her back is sealed to her card, not to the key her state still holds.
    carol_rotates(4)  # her key 1 (counted anew since she came back) in force
    bob.room_cmd("rekey", ROOM, server, ["--remove", "carol"], auto_join=False).expect_ok("bob removes carol")
    bob.room_cmd("rekey", ROOM, server, ["--add", "carol"], auto_join=False).expect_ok("bob adds carol back")
    carol_listen = listen(t, carol, server, carol.state, 1, "carol-listen5")
    send(t, bob, server, bob.state, ["back again"], "bob-send4").expect_ok("bob sends in epoch 6")
    got = json_lines(carol_listen.wait(60, "carol's listener").expect_ok("carol reads after being away"))
    assert [(m.get("text"), m.get("epoch"), m.get("status")) for m in got] == [("back again", 6, "ok")], got


def test_the_rotator_writes_the_next_epoch_when_it_is_due(t):
    """§10.3 "When": with both members reading (`listen --rotate-after 10`), the epoch
    falls due at its 10th envelope and exactly one of them, the first in the rotator
    order, writes the next epoch by itself; what follows is read in it, by both, and
    each device is sealed to the update key its key-update announced."""
    alice, bob, phone_state, cards = setup(t)
    relay = t.relay().start()
    server = relay.url
    for card, member, name in zip(cards, ("alice", "alice", "bob"), ("laptop", "phone", "desk")):
        share_card(card, member, name, [alice, bob])
    invite = create_v2(t, alice, server)
    for user, state in ((bob, bob.state), (alice, phone_state)):
        join(t, user, invite, state).expect_ok(f"{user.name} joins")

    # Alice reads on her phone and sends from her laptop. (Two processes of one
    # device sending across a rotation may report a position the relay refused
    # as missing, PROTOCOL §10.4: a false alarm rather than a missed one.)
    def rotating_listener(user, count, label, state=None):
        argv = [harness.args().parley, "listen"] + room_argv(user, server, state or user.state) + [
            "--count", str(count), "--timeout", "40", "--rotate-after", "10"]
        proc = harness.Proc(t, label, argv, user.env())
        proc.wait_for_stderr(harness.Listener.JOINED_RE, harness.JOIN_TIMEOUT_S, f"{label} joins")
        return proc

    lines = [f"line {i}" for i in range(12)]
    bob_listen = rotating_listener(bob, len(lines) + 1, "bob-listen")
    alice_listen = rotating_listener(alice, len(lines) + 2, "alice-listen", phone_state)
    send(t, alice, server, alice.state, lines, "alice-send").expect_ok("alice sends 12 lines")
    # One of the two listeners writes epoch 1; alice's next line is read in it.
    deadline = harness.time.monotonic() + 30
    while "epoch 1 by" not in bob_listen.stderr() and "writing epoch 1" not in bob_listen.stderr():
        assert harness.time.monotonic() < deadline, f"no epoch 1 within 30 s\n  {bob_listen.stderr()}"
        harness.time.sleep(0.1)
    send(t, alice, server, alice.state, ["in epoch 1"], "alice-send2").expect_ok("alice sends again")
    send(t, bob, server, bob.state, ["bob in epoch 1"], "bob-send").expect_ok("bob sends")
    # Every line once and no warning, though the epoch may have moved on under
    # alice's send (a line the relay refused is sealed again in the new epoch,
    # and its old position is not reported as withheld).
    got = json_lines(bob_listen.wait(60, "bob's listener").expect_ok("bob's listener"))
    assert [(m.get("status"), m.get("text")) for m in got] == [("ok", x) for x in lines + ["in epoch 1"]], got
    assert got[-1]["epoch"] >= 1, got
    got_alice = json_lines(alice_listen.wait(60, "alice's listener").expect_ok("alice's listener"))
    assert [(m.get("status"), m.get("text")) for m in got_alice] == [
        ("ok", x) for x in lines + ["in epoch 1", "bob in epoch 1"]], got_alice
    assert got_alice[-1]["epoch"] >= 1, got_alice
    # Exactly one wrote epoch 1: the first of the rotator order; the other would have
    # waited 10 minutes for it.
    writers = [p for p in (bob_listen, alice_listen) if "writing epoch 1" in p.stderr()]
    assert len(writers) == 1, f"{len(writers)} listeners wrote epoch 1:\n  {bob_listen.stderr()}\n  {alice_listen.stderr()}"


def test_upgrade_moves_a_version_1_room_with_its_history(t):
    """§10.7: `parley upgrade` writes the first version-2 record of a room of version 1,
    its members' devices from their cards; one without a card stops it, by name, unless
    `--without` removes them in the same step. What was said before stays readable."""
    users = t.make_users(["alice", "bob", "carol"])
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    relay = t.relay().start()
    server = relay.url
    alice.create(ROOM, server).expect_ok("a room of version 1")
    bob.ensure_joined(ROOM, server)
    bob_listen = listen(t, bob, server, bob.state, 1, "bob-listen")
    alice.send(ROOM, server, ["said in version 1"]).expect_ok("alice sends in version 1")
    bob_listen.wait(60, "bob's listener").expect_ok("bob reads it")
    carol.ensure_joined(ROOM, server)

    cards = {u.name: device_add(t, u, "dev", u.state)[0] for u in (alice, bob)}
    for u in (alice, bob):
        for name, card in cards.items():
            share_card(card, name, "dev", [u])
    refused = alice.room_cmd("upgrade", ROOM, server)
    refused.expect_fail("an upgrade while carol has no card", "no device card", "carol", "--without")
    upgraded = alice.room_cmd("upgrade", ROOM, server, extra=["--without", "carol"]).expect_ok("upgrade --without carol")
    assert "moved to protocol version 2 at epoch 1 with 2 members and 2 devices" in upgraded.stderr, upgraded.describe()
    alice.room_cmd("upgrade", ROOM, server).expect_fail("a second upgrade", "at protocol version 2 already")

    bob_listen = listen(t, bob, server, bob.state, 1, "bob-listen2")
    alice.send(ROOM, server, ["said in version 2"]).expect_ok("alice sends in version 2")
    got = json_lines(bob_listen.wait(60, "bob's listener").expect_ok("bob's listener"))
    assert [(m.get("text"), m.get("epoch")) for m in got] == [("said in version 2", 1)], got
    history = t.run_parley(["history", "--json", "--user", "bob", "--room", ROOM, "--dir", str(bob.dir),
                            "--state", str(bob.state)], env=bob.env(), name="bob-history").expect_ok("history")
    assert [m.get("text") for m in json_lines(history)] == ["said in version 1", "said in version 2"], history.stdout
    gone = carol.room_cmd("listen", ROOM, server, extra=["--count", "1", "--timeout", "10"])
    assert gone.returncode == 5 and "removed" in gone.stderr, gone.describe()


def test_a_revoked_device_is_out_and_stays_out(t):
    """alice's laptop is lost: from her phone she revokes it (`rekey --revoke
    alice.laptop`, operation 4 of §10.6). The laptop can no longer read the room and
    says why; bob reads the phone; and a later rekey by bob, whose public_keys/ still
    holds the laptop's card, does not bring it back."""
    alice, bob, phone_state, (laptop_card, phone_card, desk_card) = setup(t)
    relay = t.relay().start()
    server = relay.url
    for card, member, name in ((laptop_card, "alice", "laptop"), (phone_card, "alice", "phone"),
                               (desk_card, "bob", "desk")):
        share_card(card, member, name, [alice, bob])
    invite = create_v2(t, alice, server)
    for user, state in ((bob, bob.state), (alice, phone_state)):
        join(t, user, invite, state).expect_ok(f"{user.name} joins from {state}")

    def rekey(user, state, extra, label):
        return t.run_parley(["rekey"] + room_argv(user, server, state) + extra, env=user.env(), name=label)

    rekey(alice, alice.state, ["--revoke", "alice.laptop"], "laptop-rekey").expect_fail(
        "the laptop revoking itself", "cannot revoke itself")
    rekey(alice, phone_state, ["--revoke", "alice.tablet"], "phone-rekey").expect_fail(
        "a device that is not there", "no device alice.tablet")
    revoked = rekey(alice, phone_state, ["--revoke", "alice.laptop"], "phone-rekey").expect_ok("the phone revokes the laptop")
    assert "revoked the device" in revoked.stderr and "epoch 1" in revoked.stderr, revoked.describe()
    rekey(bob, bob.state, ["--revoke", "alice.phone"], "bob-rekey").expect_fail(
        "alice's last device", "only device", "--remove alice")

    out = t.run_parley(["send"] + room_argv(alice, server, alice.state), stdin="from the lost laptop\n",
                       env=alice.env(), name="laptop-send")
    assert out.returncode == 5 and "was revoked from room v2room at epoch 1 by alice" in out.stderr, out.describe()

    rekey(bob, bob.state, [], "bob-rekey").expect_ok("bob rekeys, the laptop's card still in his public_keys/")
    bob_listen = listen(t, bob, server, bob.state, 1, "bob-listen")
    send(t, alice, server, phone_state, ["from the phone"], "phone-send").expect_ok("the phone sends")
    got = json_lines(bob_listen.wait(60, "bob's listener").expect_ok("bob's listener"))
    assert [(m.get("text"), m.get("epoch")) for m in got] == [("from the phone", 2)], got
    who = t.run_parley(["chat", "--ui", "line"] + room_argv(bob, server, bob.state), stdin="/who\n/quit\n",
                       env=bob.env(), name="bob-chat").expect_ok("bob's /who")
    assert "device phone" in who.stdout + who.stderr and "device laptop" not in who.stdout + who.stderr, who.describe()


def test_a_key_update_heals_without_the_member_writing_an_epoch(t):
    """Healing by the member's next rotation when someone else writes the epochs
    (§10.3): alice's device sends a new update key once per epoch with its first
    envelope there. A copy of her folder taken in epoch 0 follows epoch 1 (sealed to
    the key it holds: the limit §10.1 states) but not epoch 2, sealed to the key alice
    announced in epoch 1; bob wrote both."""
    alice, bob, _, (laptop_card, _, desk_card) = setup(t)
    relay = t.relay().start()
    server = relay.url
    share_card(laptop_card, "alice", "laptop", [alice, bob])
    share_card(desk_card, "bob", "desk", [alice, bob])
    join(t, bob, create_v2(t, alice, server), bob.state).expect_ok("bob joins")

    bob_listen = listen(t, bob, server, bob.state, 2, "bob-listen")
    send(t, alice, server, alice.state, ["a0"], "alice-send").expect_ok("alice sends in epoch 0")
    copy = t.fresh_dir("laptop-copy")
    shutil.rmtree(copy)
    shutil.copytree(alice.state, copy)
    bob.room_cmd("rekey", ROOM, server, auto_join=False).expect_ok("bob writes epoch 1")
    send(t, alice, server, alice.state, ["a1"], "alice-send2").expect_ok("alice sends in epoch 1")
    got = json_lines(bob_listen.wait(60, "bob's listener").expect_ok("bob's listener"))
    assert [(m.get("text"), m.get("epoch")) for m in got] == [("a0", 0), ("a1", 1)], got

    thief = t.run_parley(["listen", "--count", "1", "--timeout", "5"] + room_argv(alice, server, copy),
                         env=alice.env(), name="thief-listen")
    assert thief.returncode in (0, 3) and "joined room v2room at epoch 1" in thief.stderr, (
        f"the copy should still follow epoch 1\n  {thief.describe()}")
    bob.room_cmd("rekey", ROOM, server, auto_join=False).expect_ok("bob writes epoch 2")
    locked = t.run_parley(["listen", "--count", "1", "--timeout", "5"] + room_argv(alice, server, copy),
                          env=alice.env(), name="thief-listen2")
    locked.expect_fail("the copy after alice's key-update", "cannot open the room's current epoch")
    send(t, alice, server, alice.state, ["a2"], "alice-send3").expect_ok("alice goes on in epoch 2")


def test_a_device_whose_card_appears_is_brought_in_by_the_rotator(t):
    """alice's phone was not in the room; once its card is in public_keys/, a waiting
    device change makes the epoch due at once (§10.3 "When"): the reader first in the
    rotator order writes the next epoch with it (operation 3, a kind 2 box to its
    joining key), and the phone joins and speaks."""
    alice, bob, phone_state, (laptop_card, phone_card, desk_card) = setup(t)
    relay = t.relay().start()
    server = relay.url
    share_card(laptop_card, "alice", "laptop", [alice, bob])
    share_card(desk_card, "bob", "desk", [alice, bob])
    invite = create_v2(t, alice, server)
    join(t, bob, invite, bob.state).expect_ok("bob joins")
    share_card(phone_card, "alice", "phone", [alice, bob])

    bob_listen = listen(t, bob, server, bob.state, 1, "bob-listen")
    laptop_listen = listen(t, alice, server, alice.state, 1, "laptop-listen")
    deadline = harness.time.monotonic() + 30
    while "writing epoch 1" not in bob_listen.stderr() + laptop_listen.stderr():
        assert harness.time.monotonic() < deadline, (
            f"nobody brought the phone in\n  {bob_listen.stderr()}\n  {laptop_listen.stderr()}")
        harness.time.sleep(0.1)
    writer = bob_listen if "writing epoch 1" in bob_listen.stderr() else laptop_listen
    assert "a device waits to come in" in writer.stderr(), writer.stderr()
    t.run_parley(["join", invite, "--user", "alice", "--dir", str(alice.dir), "--state", str(phone_state)],
                 env=alice.env(), name="phone-join").expect_ok("the phone joins once brought in")
    send(t, alice, server, phone_state, ["hello from the phone"], "phone-send").expect_ok("the phone sends")
    for proc, who in ((bob_listen, "bob"), (laptop_listen, "the laptop")):
        got = json_lines(proc.wait(60, f"{who}'s listener").expect_ok(f"{who}'s listener"))
        assert [(m.get("from"), m.get("text"), m.get("epoch")) for m in got] == [
            ("alice", "hello from the phone", 1)], got


if __name__ == "__main__":
    harness.main([test_two_devices_of_one_member_chat_without_a_warning,
                  test_a_device_not_in_the_room_and_a_wrong_password,
                  test_a_member_removed_and_added_back_reads_again,
                  test_create_seals_to_this_devices_own_card_after_a_new_one,
                  test_a_stolen_device_state_reads_neither_before_the_theft_nor_after_a_rotation,
                  test_two_rekeys_at_once_end_in_one_chain_with_both_changes,
                  test_the_rotator_writes_the_next_epoch_when_it_is_due,
                  test_upgrade_moves_a_version_1_room_with_its_history,
                  test_a_revoked_device_is_out_and_stays_out,
                  test_a_key_update_heals_without_the_member_writing_an_epoch,
                  test_a_device_whose_card_appears_is_brought_in_by_the_rotator])
