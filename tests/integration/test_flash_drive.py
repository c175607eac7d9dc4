"""The flash drive carries the member (issue 9, points 5 to 7), with real processes:

- the state lives beside the key by default (DIR/.parley): the drive moved to
  another computer (another HOME, no --state) reads and sends with no warning,
  its own earlier messages included;
- history needs the room password as well as the private key: a thief with the
  drive but not the password reads nothing;
- a relay restored from an older copy of its database is reported once, and
  nothing is lost or shown twice.
"""

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

ROOM = "drive"


def drive_args(user: harness.User, extra=()):
    """A room command as a person runs it from the drive: no --state, no --server."""
    return ["--user", user.name, "--room", ROOM, "--dir", str(user.dir)] + list(extra)


def on_computer(t: harness.Case, user: harness.User, home: Path, argv, stdin=None, password=None,
                timeout=harness.COMMAND_TIMEOUT_S):
    env = t.env(PARLEY_PASSWORD=user.password if password is None else password, HOME=str(home))
    return t.run_parley(argv, stdin=stdin, env=env, timeout=timeout, name=f"{user.name}-{argv[0]}")


def listen_lines(result: harness.Result) -> list:
    import json
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def make_room_on_drives(t: harness.Case, relay: harness.Relay, home: Path):
    users = t.make_users(["alice", "bob"])
    harness.share_public_keys(list(users.values()))
    alice, bob = users["alice"], users["bob"]
    made = on_computer(t, alice, home, ["create"] + drive_args(alice, ["--server", relay.url]))
    made.expect_ok("alice creates the room (state on her drive)")
    invite = harness.invite_of(made)
    on_computer(t, bob, home, ["join", invite] + drive_args(bob)).expect_ok("bob joins from his drive")
    return alice, bob


def test_drive_moved_to_another_computer_raises_no_alarm(t: harness.Case):
    with t.relay() as relay:
        first, second = t.fresh_dir("home-a"), t.fresh_dir("home-b")
        alice, bob = make_room_on_drives(t, relay, first)
        assert (alice.dir / ".parley").is_dir(), "the state is not beside the key"
        on_computer(t, alice, first, ["send"] + drive_args(alice), stdin="from the first computer\n").expect_ok(
            "alice sends on the first computer")
        # The drive moves: another HOME, the same folder. Alice reads the room,
        # her own earlier message included, and sends again.
        read = on_computer(t, alice, second, ["listen"] + drive_args(alice, ["--count", "1", "--timeout", "20"]))
        read.expect_ok("alice reads on the second computer")
        lines = listen_lines(read)
        assert [(m.get("status"), m.get("text"), m.get("own")) for m in lines] == [
            ("ok", "from the first computer", True)], f"on the second computer: {lines}\n{read.describe()}"
        assert "elsewhere" not in read.stderr, read.describe()
        on_computer(t, alice, second, ["send"] + drive_args(alice), stdin="from the second computer\n").expect_ok(
            "alice sends on the second computer")
        got = on_computer(t, bob, first, ["listen"] + drive_args(bob, ["--count", "2", "--timeout", "20"]))
        got.expect_ok("bob reads both")
        texts = [(m.get("status"), m.get("from"), m.get("text")) for m in listen_lines(got)]
        assert texts == [("ok", "alice", "from the first computer"), ("ok", "alice", "from the second computer")], (
            f"bob: {texts}\n{got.describe()}")
        # Both computers at once with one key is still the alarm: a copy of the
        # drive on a third computer (its own state) sends, and alice's drive sees it.
        copy = t.fresh_dir("stolen-copy")
        shutil.copytree(alice.dir, copy / "alice", ignore=shutil.ignore_patterns(".parley"))
        thief = harness.User(t, "alice")
        thief.dir = copy / "alice"
        made = on_computer(t, thief, first, ["join", invite_from(alice, first, t)] + drive_args(thief))
        made.expect_ok("a copy of alice's key joins with its own state")
        on_computer(t, thief, first, ["send"] + drive_args(thief), stdin="who is this\n").expect_ok("the copy sends")
        # (Her own message from the second computer comes first; listen counts
        # only genuine messages, so this one ends on its timeout.)
        alarm = on_computer(t, alice, second, ["listen"] + drive_args(alice, ["--count", "2", "--timeout", "6"]))
        rejected = [m for m in listen_lines(alarm) if m.get("status") == "rejected"]
        assert rejected and "in use elsewhere" in rejected[0].get("reason", ""), (
            f"a second copy of the key raised no alarm: {listen_lines(alarm)}\n{alarm.describe()}")


def invite_from(user: harness.User, home: Path, t: harness.Case) -> str:
    result = on_computer(t, user, home, ["invite"] + drive_args(user)).expect_ok("parley invite")
    return result.stdout.strip().splitlines()[-1]


def test_history_needs_the_room_password(t: harness.Case):
    with t.relay() as relay:
        home = t.fresh_dir("home")
        alice, bob = make_room_on_drives(t, relay, home)
        on_computer(t, alice, home, ["send"] + drive_args(alice), stdin="the secret plan\n").expect_ok("alice sends")
        on_computer(t, bob, home, ["listen"] + drive_args(bob, ["--count", "1", "--timeout", "20"])).expect_ok(
            "bob reads it")
        ok = on_computer(t, bob, home, ["history"] + drive_args(bob))
        ok.expect_ok("bob's history with the password")
        assert "the secret plan" in ok.stdout, ok.describe()
        # A thief with bob's drive (key file and state) but not the password.
        thief = on_computer(t, bob, t.fresh_dir("thief-home"), ["history"] + drive_args(bob),
                            password="not the password")
        thief.expect_fail("history with a wrong password", "wrong room password")
        assert "secret plan" not in thief.stdout + thief.stderr, thief.describe()
        # The state file alone holds the text nowhere in clear.
        for f in (bob.dir / ".parley").iterdir():
            assert b"secret plan" not in f.read_bytes(), f"plaintext in {f}"


def test_relay_restored_from_an_older_copy_is_reported_and_loses_nothing(t: harness.Case):
    home = t.fresh_dir("home")
    data = t.fresh_dir("relay-data")
    relay = t.relay(data=data).start()
    port = relay.port
    alice, bob = make_room_on_drives(t, relay, home)
    on_computer(t, alice, home, ["send"] + drive_args(alice), stdin="one\n").expect_ok("one")
    relay.stop()
    backup = t.fresh_dir("backup")
    for f in data.iterdir():
        shutil.copy2(f, backup / f.name)
    relay = t.relay(data=data, port=port).start()
    on_computer(t, alice, home, ["send"] + drive_args(alice), stdin="two\nthree\n").expect_ok("two, three")
    read = on_computer(t, bob, home, ["listen"] + drive_args(bob, ["--count", "3", "--timeout", "20"]))
    read.expect_ok("bob reads one to three")
    # And the closing sync of alice's second send (docs/PROTOCOL.md §5.1), which
    # the restore loses: one bob never read would be a counter of alice's missing.
    drain = on_computer(t, bob, home, ["listen"] + drive_args(bob, ["--timeout", "2"]))
    assert drain.returncode == 3 and not listen_lines(drain), drain.describe()
    relay.stop()
    # The operator restores the older copy (the relay's own hint for a damaged database).
    for f in data.iterdir():
        f.unlink()
    for f in backup.iterdir():
        shutil.copy2(f, data / f.name)
    relay = t.relay(data=data, port=port).start()
    # Three messages after the restore: the relay's numbering (now 4) passes
    # bob's position (3) before bob comes back, so only the content of his last
    # item (three, where the relay now holds five) shows that the log went back.
    on_computer(t, alice, home, ["send"] + drive_args(alice), stdin="four\nfive\nsix\n").expect_ok(
        "four to six, after the restore")
    after = on_computer(t, bob, home, ["listen"] + drive_args(bob, ["--count", "3", "--timeout", "20"]))
    after.expect_ok("bob reads after the restore")
    lines = listen_lines(after)
    assert [(m.get("status"), m.get("text")) for m in lines] == [("ok", "four"), ("ok", "five"), ("ok", "six")], (
        f"after the restore bob saw {lines} (one again, or a warning for it, or not all?)\n{after.describe()}")
    assert after.stderr.count("the relay's log is behind this device") == 1, after.describe()
    for who in (bob, alice):
        # Alice only sent: her send met the restored relay first, and her own
        # "four" must not take the place of her "two" in her history.
        history = on_computer(t, who, home, ["history"] + drive_args(who, ["--json"]))
        history.expect_ok(f"{who.name}'s history")
        texts = [m["text"] for m in listen_lines(history)]
        assert texts == ["one", "two", "three", "four", "five", "six"], (
            f"{who.name}'s history after the restore: {texts}")
    # Read again later: nothing more, no second report.
    again = on_computer(t, bob, home, ["listen"] + drive_args(bob, ["--count", "1", "--timeout", "3"]))
    assert again.returncode == 3 and "behind" not in again.stderr, again.describe()
    relay.stop()


if __name__ == "__main__":
    harness.main([
        test_drive_moved_to_another_computer_raises_no_alarm,
        test_history_needs_the_room_password,
        test_relay_restored_from_an_older_copy_is_reported_and_loses_nothing,
    ])
