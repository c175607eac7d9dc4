// Every domain-separation label and size constant of protocol v1, in one place.
// docs/PROTOCOL.md §2 lists them; a label is never reused for a second purpose.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace parley::label {

inline constexpr std::string_view key_id = "parley/v1/key-id";
inline constexpr std::string_view room_id = "parley/v1/room-id";
inline constexpr std::string_view roster = "parley/v1/hash/roster";
inline constexpr std::string_view record_hash = "parley/v1/hash/record";
inline constexpr std::string_view token_hash = "parley/v1/hash/token";
inline constexpr std::string_view commitment = "parley/v1/hash/commitment";
inline constexpr std::string_view room_code = "parley/v1/hash/room-code";
inline constexpr std::string_view sig_record = "parley/v1/sig/record";
inline constexpr std::string_view sig_envelope = "parley/v1/sig/envelope";
inline constexpr std::string_view seal_epoch = "parley/v1/seal/epoch-secret";
inline constexpr std::string_view epoch_key = "parley/v1/epoch-key";

// crypto_kdf contexts are exactly 8 bytes.
inline constexpr char kdf_ctx_room[] = "PRLYroom";   // room secret -> epoch binding key
inline constexpr char kdf_ctx_epoch[] = "PRLYepch";  // epoch key -> message key, token
inline constexpr std::uint64_t kdf_id_epoch_binding = 1;
inline constexpr std::uint64_t kdf_id_message_key = 1;
inline constexpr std::uint64_t kdf_id_access_token = 2;

// Version 2 (docs/PROTOCOL.md §10.2, being built): the key schedule with an
// init secret, and the sender chains.
namespace v2 {
inline constexpr std::string_view joiner = "parley/v2/joiner";
inline constexpr std::string_view epoch_key = "parley/v2/epoch-key";
inline constexpr std::string_view chain = "parley/v2/chain";
inline constexpr char kdf_ctx_chain[] = "PRLYchn2";  // chain key -> message key, next chain key
inline constexpr std::uint64_t kdf_id_message_key = 1;  // in PRLYepch and in PRLYchn2
inline constexpr std::uint64_t kdf_id_access_token = 2;
inline constexpr std::uint64_t kdf_id_sender_root = 3;
inline constexpr std::uint64_t kdf_id_init_secret = 4;
inline constexpr std::uint64_t kdf_id_next_chain_key = 2;
// §10.5, §10.3: what a device certificate and an update key entry are signed under.
inline constexpr std::string_view sig_device = "parley/v2/sig/device";
inline constexpr std::string_view sig_update_key = "parley/v2/sig/update-key";
// §10.6: version-2 records.
inline constexpr std::string_view record_hash = "parley/v2/hash/record";
inline constexpr std::string_view sig_record = "parley/v2/sig/record";
inline constexpr std::string_view commitment = "parley/v2/hash/commitment";
inline constexpr std::string_view seal_epoch = "parley/v2/seal/epoch-secret";
// §10.4: envelopes of version-2 epochs, signed by a device key.
inline constexpr std::string_view sig_envelope = "parley/v2/sig/envelope";
// §10.3: who writes the next epoch.
inline constexpr std::string_view rotator = "parley/v2/rotator";
}  // namespace v2

}  // namespace parley::label

namespace parley::wire {

inline constexpr std::uint8_t protocol_version = 1;
// Epoch records come in two versions (docs/PROTOCOL.md §4, §10.6); frames and
// envelopes are still version 1.
inline constexpr std::uint8_t record_version_1 = 1;
inline constexpr std::uint8_t record_version_2 = 2;

inline constexpr std::size_t public_key_bytes = 32;  // Ed25519
inline constexpr std::size_t signature_bytes = 64;   // Ed25519
inline constexpr std::size_t hash_bytes = 32;        // BLAKE2b-256
inline constexpr std::size_t session_id_bytes = 16;
inline constexpr std::size_t nonce_bytes = 24;  // XChaCha20-Poly1305
inline constexpr std::size_t aead_tag_bytes = 16;
inline constexpr std::size_t salt_bytes = 16;   // crypto_pwhash_SALTBYTES
inline constexpr std::size_t secret_bytes = 32;
inline constexpr std::size_t token_bytes = 32;
inline constexpr std::size_t seal_overhead_bytes = 48;  // crypto_box_SEALBYTES

inline constexpr std::size_t max_roster_members = 256;
inline constexpr std::size_t max_record_bytes = 64 * 1024;
inline constexpr std::size_t max_envelope_bytes = 72 * 1024;
inline constexpr std::size_t max_plaintext_bytes = 64 * 1024;
inline constexpr std::size_t padding_block_bytes = 256;
// What fits a record in practice: a genesis carries per member a roster key
// (32), an add operation (33) and a sealed box (243), beside 205 bytes of fixed
// fields and the 64-byte signature, so at most 211 members fit in 64 KiB.
inline constexpr std::size_t max_members_in_record = (max_record_bytes - 205 - 64) / (32 + 33 + 243);
static_assert(max_members_in_record == 211);

}  // namespace parley::wire
