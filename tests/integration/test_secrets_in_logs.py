#!/usr/bin/env python3
"""Secrets never reach a log: a whole session (create, listen, send, rekey, chat,
history, a wrong password, a relay restart) through the real relay and clients,
then every byte any process wrote to stdout or stderr is searched for the room
password and for each member's private key (PEM body, raw seed in hex and base64).
The relay's database is searched for the password too: it must hold nothing that
depends on it alone.
"""
import base64
import re
import sys

sys.dont_write_bytecode = True
import harness  # noqa: E402

ROOM = "vault"
PASSWORD = "a long and secret room password 7311"


def private_key_forms(user):
    """The ways a private key could leak: its PEM body, and its 32-byte seed."""
    pem = user.key_file.read_text()
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    der = base64.b64decode(body)
    seed = der[-32:]  # PKCS#8 Ed25519: the seed is the last 32 bytes
    forms = {"PEM body": body, "seed hex": seed.hex(), "seed base64": base64.b64encode(seed).decode()}
    return forms, seed


def test_no_secret_in_any_output_or_the_relay_database(t):
    data = t.fresh_dir("relay-data-secret")
    users = t.make_users(["alice", "bob"], password=PASSWORD)
    alice, bob = users["alice"], users["bob"]
    relay = t.relay(data=data, extra_args=["--log-level", "debug"]).start()  # every line the relay has
    alice.create(ROOM, relay.url).expect_ok("alice creates the room")
    listener = bob.listen(ROOM, relay.url, count=3, timeout=30)
    alice.send(ROOM, relay.url, ["one", "two"]).expect_ok("alice sends")
    alice.rekey(ROOM, relay.url).expect_ok("alice rekeys")
    alice.send(ROOM, relay.url, ["three"]).expect_ok("alice sends after the rekey")
    listener.finish().expect_ok("bob's listener")
    # a wrong password, the argv form (masked), chat and history
    bob.run(["listen"] + bob.room_args(ROOM, relay.url) + ["--count", "1", "--timeout", "5"],
            password="not the password")
    bob.run(["send"] + bob.room_args(ROOM, relay.url) + [f"--password={PASSWORD}"], stdin="argv form\n",
            password="")
    alice.run(["chat"] + alice.room_args(ROOM, relay.url), stdin="hello from chat\n/who\n/quit\n")
    bob.run(["history", "--user", "bob", "--room", ROOM, "--dir", str(bob.dir), "--state", str(bob.state)])
    relay.stop()
    relay = t.relay(data=data, extra_args=["--log-level", "debug"]).start()  # every line the relay has
    relay.stop()

    secrets = {"the room password": PASSWORD.encode()}
    for user in (alice, bob):
        forms, seed = private_key_forms(user)
        for what, text in forms.items():
            secrets[f"{user.name}'s private key ({what})"] = text.encode()
        secrets[f"{user.name}'s private key (raw seed)"] = seed

    outputs = sorted(p for p in t.logs.iterdir() if p.suffix in (".out", ".err"))
    assert len(outputs) >= 20, f"expected the logs of a whole session, found {len(outputs)} files"
    for path in outputs:
        content = path.read_bytes()
        for what, secret in secrets.items():
            assert secret not in content, f"{what} appears in {path.name}"
    # the relay keeps nothing that depends on the password alone
    for path in data.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), f"the password appears in the relay's {path.name}"
    # and the warning about --password was given, with the value masked in argv
    cmds = " ".join(p.read_text() for p in t.logs.glob("*.cmd"))
    assert re.search(r"--password=", cmds), "the argv form was not exercised"


if __name__ == "__main__":
    harness.main([test_no_secret_in_any_output_or_the_relay_database])
