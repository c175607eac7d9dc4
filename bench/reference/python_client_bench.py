# The original chat.py's per-message crypto (/work/shared/seed/origin-post.txt),
# measured in messages per second on a 256-byte text, as the reference for
# Parley's client (bench/crypto_bench.cpp). Debian 12's python3-pycryptodome
# (the `Cryptodome` namespace; `Crypto` when installed from PyPI).
#
#   send:    AES-EAX encrypt_and_digest of the PKCS#7-padded text, then
#            RSA-2048 PKCS#1 v1.5 signature over SHA-256 of the ciphertext
#   receive: RSA verify with the sender's key, then AES-EAX decrypt, tag check, unpad
#   *_as_written adds what chat.py does around them on every message: the hex
#   and JSON encoding, and on receipt re-reading and importing each public key
#   file until one verifies (three members, the sender in the middle).
#
# Prints one JSON object. Usage: /usr/bin/python3 python_client_bench.py [SECONDS]
import binascii
import json
import os
import sys
import tempfile
import time

try:
    from Cryptodome.Cipher import AES
    from Cryptodome.Hash import SHA256
    from Cryptodome.PublicKey import RSA
    from Cryptodome.Signature import pkcs1_15
    from Cryptodome.Util.Padding import pad, unpad
except ImportError:
    from Crypto.Cipher import AES
    from Crypto.Hash import SHA256
    from Crypto.PublicKey import RSA
    from Crypto.Signature import pkcs1_15
    from Crypto.Util.Padding import pad, unpad

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
TEXT = b"m" * 256
KEY = os.urandom(32)  # chat.py's PBKDF2 output

members = [RSA.generate(2048) for _ in range(3)]
me = members[1]
keydir = tempfile.mkdtemp(prefix="chatpy-keys-")
for i, k in enumerate(members):
    with open(os.path.join(keydir, f"{i}.pem"), "wb") as f:
        f.write(k.publickey().export_key())


def seal(text):
    cipher = AES.new(KEY, AES.MODE_EAX)
    ct, tag = cipher.encrypt_and_digest(pad(text, AES.block_size, style='pkcs7'))
    sig = pkcs1_15.new(me).sign(SHA256.new(ct))
    return ct, sig, cipher.nonce, tag


def open_(ct, sig, nonce, tag, key):
    pkcs1_15.new(key).verify(SHA256.new(ct), sig)
    cipher = AES.new(KEY, AES.MODE_EAX, nonce=nonce)
    return unpad(cipher.decrypt_and_verify(ct, tag), AES.block_size, style='pkcs7')


def to_json(ct, sig, nonce, tag):
    return json.dumps({"message": binascii.hexlify(ct).decode(), "signature": binascii.hexlify(sig).decode(),
                       "aes-nonce": binascii.hexlify(nonce).decode(), "aes-tag": binascii.hexlify(tag).decode()})


def from_json(text):
    j = json.loads(text)
    return (binascii.unhexlify(j["message"]), binascii.unhexlify(j["signature"]),
            binascii.unhexlify(j["aes-nonce"]), binascii.unhexlify(j["aes-tag"]))


def open_as_written(text):
    ct, sig, nonce, tag = from_json(text)
    h = SHA256.new(ct)
    for name in sorted(os.listdir(keydir)):
        with open(os.path.join(keydir, name)) as f:
            key = RSA.import_key(f.read())
        try:
            pkcs1_15.new(key).verify(h, sig)
        except ValueError:
            continue
        cipher = AES.new(KEY, AES.MODE_EAX, nonce=nonce)
        return unpad(cipher.decrypt_and_verify(ct, tag), AES.block_size, style='pkcs7')
    raise ValueError("no key verifies")


def rate(fn):
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= SECONDS:
            return n / elapsed


sealed = seal(TEXT)
wire = to_json(*sealed)
assert open_(*sealed, me.publickey()) == TEXT and open_as_written(wire) == TEXT
public = me.publickey()
print(json.dumps({
    "seal_per_s": rate(lambda: seal(TEXT)),
    "open_per_s": rate(lambda: open_(*sealed, public)),
    "seal_as_written_per_s": rate(lambda: to_json(*seal(TEXT))),
    "open_as_written_per_s": rate(lambda: open_as_written(wire)),
}))
