#!/usr/bin/env python3
"""An independent implementation of docs/PROTOCOL.md §10.2 (version 2's key schedule
and sender chains), §10.4 (an envelope's header and a sync) and §10.6 (version 2's epoch records: read field by field,
hashed, their commitment, token hash and joiner secrets derived, desk's opened box
rebuilt), written from the text with Python's hashlib alone, checked
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


class Reader:
    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, n):
        if self.at + n > len(self.data):
            raise ValueError(f"short record at byte {self.at}")
        out = self.data[self.at:self.at + n]
        self.at += n
        return out

    def int(self, n):
        return int.from_bytes(self.take(n), "big")


def read_record(data):
    """§10.6's layout, field by field."""
    r = Reader(data)
    rec = {"version": r.int(1), "room": r.take(32), "epoch": r.int(8), "previous": r.take(32), "salt": r.take(16),
           "kdf_ops": r.int(4), "kdf_mem": r.int(4), "created_at": r.int(8), "author": r.take(32), "members": []}
    for _ in range(r.int(2)):
        member = {"key": r.take(32), "devices": []}
        for _ in range(r.int(1)):
            start = r.at
            identity, device = r.take(32), r.take(32)
            name = r.take(r.int(1))
            r.take(8 + 64)
            certificate = r.data[start:r.at]
            start = r.at
            entry_device, update_key, counter = r.take(32), r.take(32), r.int(8)
            r.take(64)
            entry = r.data[start:r.at]
            member["devices"].append({"identity": identity, "device": device, "name": name.decode(),
                                      "certificate": certificate, "entry": entry, "entry_device": entry_device,
                                      "update_key": update_key, "counter": counter, "kind": r.int(1),
                                      "box": r.take(252)})
        rec["members"].append(member)
    rec["ops"] = [(r.int(1), r.take(32)) for _ in range(r.int(2))]
    rec["token_hash"], rec["commitment"] = r.take(32), r.take(32)
    rec["body"] = data[:r.at]
    r.take(64)
    if r.at != len(data):
        raise ValueError("bytes after the signature")
    return rec


def check_records(i, o, h, room, binding, epoch, failures):
    def fail(what):
        failures.append(what)

    def check(name, got, want):
        if got != want:
            fail(f"{name}: the text gives {got}, the code wrote {want}")

    names = {h(i["device_key"]): "laptop", h(i["phone_device_key"]): "phone", h(i["desk_device_key"]): "desk"}
    owners = {"laptop": h(i["identity_key"]), "phone": h(i["identity_key"]), "desk": h(i["bob_identity_key"])}
    previous_init, previous_hash = bytes(32), bytes(32)
    for e, (record, secret, kind) in enumerate([("record_genesis", "epoch0_secret", 2),
                                                 ("record_epoch1", "epoch1_secret", 1)]):
        rec = read_record(h(o[record]))
        check(f"{record} version", rec["version"], 2)
        check(f"{record} room", rec["room"], room)
        check(f"{record} epoch", rec["epoch"], e)
        check(f"{record} previous", rec["previous"].hex(), previous_hash.hex())
        check(f"{record} salt", rec["salt"].hex(), i["record_salt"])
        check(f"{record} kdf", (rec["kdf_ops"], rec["kdf_mem"]), (i["record_kdf_ops"], i["record_kdf_mem_kib"]))
        check(f"{record} author", names.get(rec["author"]), "laptop" if e == 0 else "desk")
        members = [m["key"] for m in rec["members"]]
        check(f"{record} members in order", members, sorted(members))
        for m in rec["members"]:
            for d in m["devices"]:
                name = names.get(d["device"])
                check(f"{record} {name} member", (d["identity"], m["key"]), (owners.get(name), owners.get(name)))
                check(f"{record} {name} entry device", d["entry_device"], d["device"])
                check(f"{record} {name} box kind", d["kind"], kind)
                if name == "laptop":
                    check(f"{record} laptop certificate", d["certificate"].hex(), o["device_certificate"])
                    check(f"{record} laptop entry", d["entry"].hex(), o["update_key_entry"])
                if name == "desk":
                    check(f"{record} desk's update counter", d["counter"], e + 1)
            devices = [d["device"] for d in m["devices"]]
            check(f"{record} devices in order", devices, sorted(devices))
        want_ops = [(1, k) for k in members] if e == 0 else []
        check(f"{record} operations", rec["ops"], want_ops)
        record_hash = hashlib.blake2b(b"parley/v2/hash/record" + rec["body"], digest_size=32).digest()
        check(f"{record}_hash", record_hash.hex(), o[f"{record}_hash"])
        joiner, epoch_key = epoch(previous_init, e, previous_hash, h(i[secret]))
        check(f"{record}_joiner_secret", joiner.hex(), o[f"{record}_joiner_secret"])
        commitment = hashlib.blake2b(b"parley/v2/hash/commitment" + room + u64(e) + previous_hash + joiner,
                                     digest_size=32).digest()
        check(f"{record} commitment", rec["commitment"].hex(), commitment.hex())
        token = kdf(epoch_key, 2, b"PRLYepch")
        check(f"{record} token hash", rec["token_hash"].hex(),
              hashlib.blake2b(b"parley/v1/hash/token" + token, digest_size=32).hexdigest())
        if e == 1:
            # desk's box, opened by the C++ code: the context and the epoch secret (kind 1).
            desk = next(d for m in rec["members"] for d in m["devices"] if names.get(d["device"]) == "desk")
            plaintext = (b"parley/v2/seal/epoch-secret" + room + u64(1) + previous_hash + rec["author"] +
                         desk["device"] + u64(desk["counter"]) + bytes([1]) + h(i[secret]))
            check("record_epoch1_desk_box_plaintext", plaintext.hex(), o["record_epoch1_desk_box_plaintext"])
        previous_init, previous_hash = kdf(epoch_key, 4, b"PRLYepch"), record_hash


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

    check_records(i, o, h, room, binding, epoch, failures)

    # §10.4: laptop's envelope at chain position 0 of epoch 1. The header is rebuilt
    # from the text (hashlib has no XChaCha20-Poly1305 nor Ed25519: the C++ test
    # opens and verifies it); the ciphertext is one padded block and the tag.
    envelope = h(o["envelope_epoch1_laptop_0"])
    key_id = hashlib.blake2b(b"parley/v1/key-id" + h(i["device_key"]), digest_size=32).digest()
    header = (bytes([2, 1]) + room + u64(1) + h(i["envelope_record_hash"]) + key_id + h(i["envelope_session"]) +
              u64(0) + u64(i["envelope_timestamp_ms"]) + h(i["envelope_nonce"]))
    if envelope[:162] != header:
        failures.append(f"envelope_epoch1_laptop_0: the text gives the header {header.hex()}, "
                        f"the code wrote {envelope[:162].hex()}")
    blob = struct.unpack(">I", envelope[162:166])[0]
    if len(header) != 162 or blob != 256 + 16 or len(envelope) != 162 + 4 + blob + 64:
        failures.append(f"envelope_epoch1_laptop_0: {len(envelope)} bytes with a {blob}-byte ciphertext, "
                        "the text gives 162 + 4 + 272 + 64")
    # A reason 3 sync: u8 3 ‖ the genesis record's hash ‖ u64 positions.
    check("sync_first_of_epoch_plaintext", (bytes([3]) + h(o["record_genesis_hash"]) + u64(i["sync_positions"])).hex())

    # §10.3: the rotator order after the genesis: lowest
    # BLAKE2b-256("parley/v2/rotator" ‖ record hash ‖ key) first.
    genesis_hash = h(o["record_genesis_hash"])
    order = sorted(i["rotator_keys"],
                   key=lambda k: hashlib.blake2b(b"parley/v2/rotator" + genesis_hash + h(k), digest_size=32).digest())
    check("rotator_order_after_genesis", order)

    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print(f"{path.name}: every output reproduced from PROTOCOL.md §10.2, §10.3 (keys and the rotator), §10.4, §10.5 and §10.6 ({len(o)} values)")


if __name__ == "__main__":
    main()
