#!/usr/bin/env python3
"""An independent implementation of docs/PROTOCOL.md §10.2 (version 2's key schedule
and sender chains), written from the text with Python's hashlib alone, checked
against tests/vectors/v2.json (which the C++ code wrote). If they disagree, the text
and the code say different things. For §10.5's device certificate and §10.3's update
key entry it rebuilds, from the text and the inputs, the bytes each signature covers
and the encoding around the vector's signature (Ed25519 itself is checked by the C++
tests, device_test.cpp: hashlib has no Ed25519).

crypto_kdf_derive_from_key(key, id, ctx) is BLAKE2b-256 keyed with `key`, of empty
input, with salt = u64 id little-endian ‖ 8 zero bytes and personal = ctx ‖ 8 zero
bytes (libsodium's definition)."""
import hashlib
import json
import struct
import sys
from pathlib import Path


def kdf(key, id_, ctx):
    return hashlib.blake2b(b"", digest_size=32, key=key, salt=struct.pack("<Q", id_) + bytes(8),
                           person=ctx + bytes(8)).digest()


def keyed(key, *parts):
    return hashlib.blake2b(b"".join(parts), digest_size=32, key=key).digest()


def u64(n):
    return struct.pack(">Q", n)


def main():
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("v2.json")
    v = json.loads(path.read_text())
    i, o = v["inputs"], v["outputs"]
    h = bytes.fromhex
    room, room_secret = h(i["room_id"]), h(i["room_secret"])
    binding = kdf(room_secret, 1, b"PRLYroom")

    def epoch(previous_init, e, previous_hash, epoch_secret):
        joiner = keyed(previous_init, b"parley/v2/joiner", room, u64(e), epoch_secret)
        epoch_key = keyed(binding, b"parley/v2/epoch-key", room, u64(e), previous_hash, joiner)
        return joiner, epoch_key

    failures = []

    def check(name, got):
        want = o[name]
        if got != want:
            failures.append(f"{name}: the text gives {got}, the code wrote {want}")

    joiner0, key0 = epoch(bytes(32), 0, bytes(32), h(i["epoch0_secret"]))
    init0 = kdf(key0, 4, b"PRLYepch")
    check("epoch0_joiner_secret", joiner0.hex())
    check("epoch0_init_secret", init0.hex())
    joiner1, key1 = epoch(init0, 1, h(i["epoch1_previous_hash"]), h(i["epoch1_secret"]))
    check("epoch1_joiner_secret", joiner1.hex())
    check("epoch1_init_secret", kdf(key1, 4, b"PRLYepch").hex())
    root = kdf(key1, 3, b"PRLYepch")
    check("epoch1_sender_root", root.hex())
    token = kdf(key1, 2, b"PRLYepch")
    check("epoch1_token_hash", hashlib.blake2b(b"parley/v1/hash/token" + token, digest_size=32).hexdigest())
    chain = keyed(root, b"parley/v2/chain", room, u64(1), h(i["device_key"]))
    check("epoch1_chain_key_0", chain.hex())
    keys = []
    for _ in range(4):
        keys.append(kdf(chain, 1, b"PRLYchn2").hex())
        chain = kdf(chain, 2, b"PRLYchn2")
    check("epoch1_message_keys_0_to_3", keys)
    check("epoch1_chain_key_4", chain.hex())

    # §10.5: identity key ‖ device key ‖ u8 n ‖ name ‖ u64 created at, signed under
    # "parley/v2/sig/device"; the certificate is those fields and the signature.
    name = i["device_name"].encode()
    fields = h(i["identity_key"]) + h(i["device_key"]) + bytes([len(name)]) + name + u64(i["device_created_at_ms"])
    check("device_certificate_signed_part", (b"parley/v2/sig/device" + fields).hex())
    certificate = h(o["device_certificate"])
    check("device_certificate", (fields + certificate[len(fields):]).hex())
    if len(certificate) != len(fields) + 64:
        failures.append(f"device_certificate: {len(certificate)} bytes, the text gives {len(fields) + 64}")
    # §10.3: signed over "parley/v2/sig/update-key" ‖ room id ‖ device key ‖ u64 counter
    # ‖ update key; the entry is device key ‖ update key ‖ u64 counter ‖ signature.
    counter = u64(i["update_key_counter"])
    check("update_key_entry_signed_part",
          (b"parley/v2/sig/update-key" + room + h(i["device_key"]) + counter + h(i["update_key"])).hex())
    entry = h(o["update_key_entry"])
    head = h(i["device_key"]) + h(i["update_key"]) + counter
    check("update_key_entry", (head + entry[len(head):]).hex())
    if len(entry) != len(head) + 64:
        failures.append(f"update_key_entry: {len(entry)} bytes, the text gives {len(head) + 64}")

    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print(f"{path.name}: every output reproduced from PROTOCOL.md §10.2, §10.3 and §10.5 ({len(o)} values)")


if __name__ == "__main__":
    main()
