#!/usr/bin/env python3
"""`parley device add NAME` and `parley device show` (docs/PROTOCOL.md §10.2, §10.5),
run as a person runs them from the flash drive, with the real binary:

- the device key and its certificate land beside the member's state (DIR/.parley by
  default, --state or parley.toml's state otherwise), private (mode 0600);
- the certificate file is read here from the protocol text alone (a PEM block
  "PARLEY DEVICE CERTIFICATE" of §10.5's bytes) and names the member's identity key,
  the key `show` prints, and the name given; its signature verifies (Python's
  `cryptography`, an implementation of Ed25519 apart from libsodium);
- the card (§10.5) is read from the text too, both its signatures checked, and
  `device card --new` replaces its joining key;
- a second device in one folder, a bad name, a key file others can read and a
  certificate swapped for another member's are refused with a clear message,
  and nothing is overwritten.
"""
import base64
import re
import shutil
import struct
import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey  # noqa: E402

FINGERPRINT = re.compile(r"(?:[0-9a-f]{4} ){9}[0-9a-f]{4}")


def device(t, user, *argv, state=None):
    extra = ["--state", str(state)] if state else []
    return t.run_parley(["device"] + list(argv) + ["--user", user.name, "--dir", str(user.dir)] + extra,
                        name=f"{user.name}-device")


def pem_body(text, kind):
    m = re.fullmatch(r"\s*-----BEGIN " + kind + r"-----\n([A-Za-z0-9+/=\n]+)-----END " + kind + r"-----\s*",
                     text)
    assert m, f"not one PEM block of {kind}:\n{text}"
    return base64.b64decode(m.group(1))


def ed25519_public_key(pem_text):
    """The 32 raw bytes at the end of an Ed25519 SubjectPublicKeyInfo."""
    der = pem_body(pem_text, "PUBLIC KEY")
    assert len(der) == 44, f"an Ed25519 public key is 44 bytes of DER, not {len(der)}"
    return der[-32:]


def parse_certificate(blob):
    """§10.5: 32 identity ‖ 32 device ‖ u8 n ‖ n name ‖ u64 created at ‖ 64 signature."""
    assert len(blob) >= 32 + 32 + 1 + 8 + 64, f"a certificate of {len(blob)} bytes"
    identity, device_key, n = blob[:32], blob[32:64], blob[64]
    name = blob[65:65 + n]
    (created,) = struct.unpack(">Q", blob[65 + n:73 + n])
    signature = blob[73 + n:]
    assert len(signature) == 64, f"{len(blob) - 73 - n} bytes after the name and time, not a 64-byte signature"
    return identity, device_key, name.decode(), created, signature, blob[:73 + n]


def fingerprint_of(key_id_hex):
    return " ".join(key_id_hex[i:i + 4] for i in range(0, 40, 4))


def test_add_then_show_from_the_drive(t):
    alice = t.make_users(["alice"])["alice"]
    device(t, alice, "show").expect_fail("show before any device", "no device of alice", "device add")

    made = device(t, alice, "add", "laptop").expect_ok("device add laptop")
    key_fingerprint = FINGERPRINT.search(made.stdout)
    assert key_fingerprint, f"device add printed no key fingerprint\n  {made.describe()}"
    folder = alice.dir / ".parley"
    pems = list(folder.glob("device-*.pem"))
    certs = list(folder.glob("device-*.cert"))
    assert len(pems) == 1 and len(certs) == 1, f"expected one key and one certificate in {folder}: {pems} {certs}"
    for path in pems + certs:
        mode = path.stat().st_mode & 0o777
        assert mode == 0o600, f"{path} has mode {oct(mode)}, not 0600"

    shown = device(t, alice, "show").expect_ok("device show")
    assert re.search(r"^device\s+laptop$", shown.stdout, re.M), shown.describe()
    assert key_fingerprint.group(0) in shown.stdout, f"show names another key than add\n  {shown.describe()}"
    assert "signature checked" in shown.stdout, shown.describe()

    # The certificate, from the protocol's text alone.
    identity, device_key, name, created, signature, signed = parse_certificate(
        pem_body(certs[0].read_text(), "PARLEY DEVICE CERTIFICATE"))
    assert identity == ed25519_public_key((alice.public_keys / "alice.pem").read_text()), (
        "the certificate's identity key is not alice's public key")
    assert name == "laptop", f"the certificate names {name!r}"
    assert created > 1_700_000_000_000, f"created at {created} is not milliseconds since 1970"
    assert device_key != identity, "the device key is the identity key"
    # python3-cryptography (scripts/setup.sh): raises InvalidSignature unless alice's key signed it.
    Ed25519PublicKey.from_public_bytes(identity).verify(signature, b"parley/v2/sig/device" + signed)

    # A second device in this folder is refused, and the first one stays.
    before = certs[0].read_bytes()
    device(t, alice, "add", "phone").expect_fail("a second device in one folder", "already")
    assert certs[0].read_bytes() == before, "the refused add changed the certificate"
    # Another folder is another device.
    phone_state = t.fresh_dir("phone-state")
    device(t, alice, "add", "phone", state=phone_state).expect_ok("device add phone --state")
    shown = device(t, alice, "show", state=phone_state).expect_ok("device show --state")
    assert re.search(r"^device\s+phone$", shown.stdout, re.M), shown.describe()


def test_the_card_from_the_text(t):
    """§10.5's card: certificate ‖ joining key entry (32 device key ‖ 32 X25519 key ‖
    u64 counter 0 ‖ 64 signature over "parley/v2/sig/update-key" ‖ 32 zero bytes ‖
    device key ‖ u64 0 ‖ key), one PEM block PARLEY DEVICE CARD, readable by all."""
    carol = t.make_users(["carol"])["carol"]
    made = device(t, carol, "add", "tablet").expect_ok("device add tablet")
    assert "public_keys/carol.tablet.card" in made.stdout, f"add does not say where the card goes\n  {made.describe()}"
    folder = carol.dir / ".parley"
    (card_path,) = folder.glob("device-*.card")
    (joining_path,) = folder.glob("device-*.joining")
    assert card_path.stat().st_mode & 0o777 == 0o644, oct(card_path.stat().st_mode)
    assert joining_path.stat().st_mode & 0o777 == 0o600, oct(joining_path.stat().st_mode)
    blob = pem_body(card_path.read_text(), "PARLEY DEVICE CARD")
    certificate, entry = blob[:-136], blob[-136:]
    identity, device_key, name, _, signature, signed = parse_certificate(certificate)
    assert name == "tablet" and identity == ed25519_public_key((carol.public_keys / "carol.pem").read_text())
    Ed25519PublicKey.from_public_bytes(identity).verify(signature, b"parley/v2/sig/device" + signed)
    entry_device, update_key, (counter,), entry_signature = entry[:32], entry[32:64], struct.unpack(
        ">Q", entry[64:72]), entry[72:]
    assert entry_device == device_key, "the card's joining key is another device's"
    assert counter == 0, f"a joining key has update counter 0, not {counter}"
    Ed25519PublicKey.from_public_bytes(device_key).verify(
        entry_signature, b"parley/v2/sig/update-key" + bytes(32) + device_key + bytes(8) + update_key)

    # Asked again: the same card; --new: another joining key, the card rewritten.
    again = device(t, carol, "card").expect_ok("device card")
    assert "public_keys/carol.tablet.card" in again.stdout, again.describe()
    assert pem_body(card_path.read_text(), "PARLEY DEVICE CARD") == blob, "asking for the card changed it"
    device(t, carol, "card", "--new").expect_ok("device card --new")
    renewed = pem_body(card_path.read_text(), "PARLEY DEVICE CARD")
    assert renewed[:-136] == certificate and renewed[-104:-72] != update_key, "--new kept the joining key"
    device(t, carol, "show", "--new").expect_fail("--new with show", "--new goes with")

    # Into public_keys/ as the add said: every command reading the folder takes it;
    # under another device's name it names the file and the name it should have.
    shutil.copyfile(card_path, carol.public_keys / "carol.tablet.card")
    t.run_parley(["fingerprint", "--dir", str(carol.dir), "carol"], name="fp").expect_ok("a well-named card")
    (carol.public_keys / "carol.tablet.card").rename(carol.public_keys / "carol.phone.card")
    t.run_parley(["fingerprint", "--dir", str(carol.dir), "carol"], name="fp").expect_fail(
        "a card under another device's name", "carol.phone.card", "should be carol.tablet.card")
    (carol.public_keys / "carol.phone.card").unlink()
    joining_path.chmod(0o644)
    device(t, carol, "card", "--new").expect_ok("card --new over a readable joining key, which it erases")
    assert joining_path.stat().st_mode & 0o777 == 0o600


def test_parley_toml_state_is_where_the_device_goes(t):
    bob = t.make_users(["bob"])["bob"]
    (bob.dir / "parley.toml").write_text('state = "drive-state"\n')
    device(t, bob, "add", "desk").expect_ok("device add with parley.toml's state")
    assert list((bob.dir / "drive-state").glob("device-*.cert")), "the device is not in parley.toml's state folder"
    assert not (bob.dir / ".parley").exists() or not list((bob.dir / ".parley").glob("device-*")), (
        "the device went to DIR/.parley despite parley.toml's state")


def test_mistakes_and_attacks_are_refused(t):
    users = t.make_users(["alice", "mallory"])
    alice, mallory = users["alice"], users["mallory"]
    existed = (alice.dir / ".parley").exists()
    device(t, alice, "show").expect_fail("show before any add", "no device of alice", "parley device add")
    assert (alice.dir / ".parley").exists() == existed, "'device show' created the state folder"
    for bad in ("two words", "x" * 33, "../up"):
        result = device(t, alice, "add", bad)
        result.expect_fail(f"device name {bad!r}", "bad device name")
        assert result.returncode == 2, f"a bad name is a usage error (exit 2)\n  {result.describe()}"
    result = device(t, alice, "add").expect_fail("add without a name", "no device name")
    assert result.returncode == 2, result.describe()
    result = device(t, alice, "show", "laptop").expect_fail("show with a name", "takes no name")
    assert result.returncode == 2, result.describe()
    assert not list((alice.dir / ".parley").glob("device-*")), "a refused add wrote files"

    device(t, alice, "add", "laptop").expect_ok("alice's device")
    device(t, mallory, "add", "laptop").expect_ok("mallory's device")
    alice_key = next((alice.dir / ".parley").glob("device-*.pem"))
    alice_key.chmod(0o640)
    device(t, alice, "show").expect_fail("a device key others can read", "readable by other users", "chmod 600")
    alice_key.chmod(0o600)

    # Mallory swaps her own device's files in for alice's: refused, by name.
    for suffix in (".pem", ".cert"):
        mine = next((alice.dir / ".parley").glob("device-*" + suffix))
        hers = next((mallory.dir / ".parley").glob("device-*" + suffix))
        mine.chmod(0o600)
        shutil.copyfile(hers, mine)
    device(t, alice, "show").expect_fail("mallory's device in alice's files", "another member")


if __name__ == "__main__":
    harness.main([
        test_add_then_show_from_the_drive,
        test_the_card_from_the_text,
        test_parley_toml_state_is_where_the_device_goes,
        test_mistakes_and_attacks_are_refused,
    ])
