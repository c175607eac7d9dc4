// Thin, checked wrappers over the libsodium primitives Parley uses
// (docs/PROTOCOL.md §2, §3). Every return value is checked; failures come back
// as false / nullopt, never as garbage output.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "crypto/secret.h"
#include "wire/bytes.h"
#include "wire/envelope.h"
#include "wire/record.h"

namespace parley::crypto {

using wire::Hash;
using wire::KeyId;
using wire::PublicKey;
using wire::Signature;

using SigningKey = Secret<crypto_sign_SECRETKEYBYTES>;  // Ed25519 seed || public key
using SymmetricKey = Secret<32>;
using EpochSecret = Secret<wire::secret_bytes>;

// Aborts if libsodium cannot initialise (no usable randomness): nothing is safe then.
void init();

void random_bytes(std::span<std::uint8_t> out);
template <std::size_t N>
Array<N> random_array() {
    Array<N> out{};
    random_bytes(out);
    return out;
}

// BLAKE2b-256(label::key_id || public key).
KeyId key_id(const PublicKey& key);
// First 160 bits of the key id as 10 groups of 4 hex digits.
std::string fingerprint(const PublicKey& key);
std::string format_fingerprint(const Hash& hash);
// BLAKE2b-256(label::roster || sorted keys).
Hash roster_hash(std::span<const PublicKey> sorted_keys);
// BLAKE2b-256(label::room_id || name).
wire::RoomId room_id(std::string_view room_name);
// BLAKE2b-256(label::room_code || genesis hash || head hash).
Hash room_code(const Hash& genesis, const Hash& head);
// Unkeyed BLAKE2b-256 of `data` (a digest to recognise bytes seen before).
Hash blake2b(ByteView data);

Signature sign(const SigningKey& key, ByteView message);
[[nodiscard]] bool verify(const PublicKey& key, const Signature& sig, ByteView message);

// XChaCha20-Poly1305-IETF. open() returns nullopt when the tag does not verify.
Bytes aead_seal(const SymmetricKey& key, const wire::Nonce& nonce, ByteView ad, ByteView plaintext);
[[nodiscard]] std::optional<Bytes> aead_open(const SymmetricKey& key, const wire::Nonce& nonce,
                                             ByteView ad, ByteView ciphertext);
// The same, for a plaintext that is itself a secret: decrypted straight into
// locked memory, never into the ordinary heap.
[[nodiscard]] std::optional<SecretBuffer> aead_open_secret(const SymmetricKey& key, const wire::Nonce& nonce,
                                                           ByteView ad, ByteView ciphertext);

// Sealed box to the X25519 form of an Ed25519 public key; nullopt if the key
// does not convert.
[[nodiscard]] std::optional<Bytes> seal_to(const PublicKey& recipient, ByteView plaintext);
// Opens a sealed box with the X25519 form of our Ed25519 key.
[[nodiscard]] std::optional<SecretBuffer> open_sealed(const SigningKey& key, ByteView box);
// Version 2 (§10.6): a sealed box to an X25519 key used as it is (an update
// key), and its opening with that key's private half. nullopt on failure.
[[nodiscard]] std::optional<Bytes> seal_to_x25519(const Array<crypto_box_PUBLICKEYBYTES>& recipient, ByteView plaintext);
[[nodiscard]] std::optional<SecretBuffer> open_sealed_x25519(const Array<crypto_box_PUBLICKEYBYTES>& public_key,
                                                             const Secret<crypto_box_SECRETKEYBYTES>& private_key,
                                                             ByteView box);
// True when the Ed25519 key has an X25519 form (rejects small-order points etc).
[[nodiscard]] bool converts_to_x25519(const PublicKey& key);

// crypto_kdf_derive_from_key with an 8-byte context.
void kdf_derive(SymmetricKey& out, std::uint64_t id, const char (&context)[9], const SymmetricKey& key);

// Argon2id. False on failure (out of memory): the caller reports it.
[[nodiscard]] bool argon2id(SymmetricKey& out, const SecretBuffer& password, const wire::Salt& salt,
                            const wire::KdfParams& params);

}  // namespace parley::crypto
