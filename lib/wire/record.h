// Epoch records (docs/PROTOCOL.md §4, and §10.6 for version 2): the signed chain that carries each epoch's
// salt, KDF parameters, roster, access-token hash and sealed epoch secrets.
//
// This layer owns the byte layout and the checks anyone can make without a
// secret: structure, hash, the author's signature, and whether one record may
// follow another. Both the relay and the client run these; only the client can
// open a sealed box.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "wire/bytes.h"
#include "wire/device.h"
#include "wire/frames.h"
#include "wire/labels.h"

namespace parley::wire {

using PublicKey = Array<public_key_bytes>;
using Signature = Array<signature_bytes>;
using Salt = Array<salt_bytes>;

// Argon2id cost, carried in every record. Clients refuse values outside
// [floor, ceiling] so a relay or member can neither downgrade nor exhaust them.
struct KdfParams {
    std::uint32_t ops = 3;
    std::uint32_t mem_kib = 64 * 1024;
    bool operator==(const KdfParams&) const = default;
};
inline constexpr KdfParams kdf_floor{3, 64 * 1024};
inline constexpr KdfParams kdf_ceiling{10, 1024 * 1024};

// Version 1 has kinds 1 and 2; version 2 adds 3 and 4, whose key is a device key.
enum class RosterOpKind : std::uint8_t { add = 1, remove = 2, add_device = 3, revoke_device = 4 };
struct RosterOp {
    RosterOpKind kind = RosterOpKind::add;
    PublicKey key{};
    bool operator==(const RosterOp&) const = default;
};

// One member's copy of the epoch secret, sealed to the X25519 form of their key.
inline constexpr std::size_t sealed_plaintext_bytes =
    label::seal_epoch.size() + hash_bytes + 8 + hash_bytes + public_key_bytes * 2 + secret_bytes;
inline constexpr std::size_t sealed_box_bytes = seal_overhead_bytes + sealed_plaintext_bytes;
using SealedBox = Array<sealed_box_bytes>;

// Version 2 (§10.6): one box per device, sealed to its update key, holding
// the epoch secret (a device of the previous epoch, which holds init secret[e-1])
// or the joiner secret (a device new to the chain, or locked out).
enum class BoxKind : std::uint8_t { epoch_secret = 1, joiner_secret = 2 };
inline constexpr std::size_t device_box_plaintext_bytes =
    label::v2::seal_epoch.size() + hash_bytes + 8 + hash_bytes + public_key_bytes * 2 + 8 + 1 + secret_bytes;
inline constexpr std::size_t device_box_bytes = seal_overhead_bytes + device_box_plaintext_bytes;
static_assert(device_box_bytes == 252);
using DeviceBox = Array<device_box_bytes>;
inline constexpr std::size_t max_devices_per_member = 8;

struct RecordDevice {
    DeviceCertificate certificate;  // certificate.identity is the member
    UpdateKeyEntry update;          // update.device == certificate.device
    BoxKind box_kind = BoxKind::joiner_secret;
    DeviceBox box{};
    const PublicKey& key() const { return certificate.device; }
    const PublicKey& member() const { return certificate.identity; }
    bool operator==(const RecordDevice&) const = default;
};

struct EpochRecord {
    std::uint8_t version = record_version_1;
    RoomId room{};
    std::uint64_t epoch = 0;
    Hash previous{};  // all-zero for the genesis
    Salt salt{};
    KdfParams kdf{};
    std::uint64_t created_at_ms = 0;
    PublicKey author{};              // version 1: a member's identity key; version 2: a device key
    std::vector<PublicKey> roster;  // members' identity keys, strictly ascending, so no duplicates
    std::vector<RosterOp> ops;      // genesis: one add per member
    Hash token_hash{};
    Hash commitment{};
    std::vector<SealedBox> boxes;       // version 1: boxes[i] is for roster[i]
    std::vector<RecordDevice> devices;  // version 2: ordered by member, then device key
    Signature signature{};
};

// Version 2: the device with this key, or nullptr.
[[nodiscard]] const RecordDevice* find_device(const EpochRecord& record, const PublicKey& device);

enum class RecordError {
    malformed,        // does not decode, or fields out of range
    bad_version,      // unknown record version
    bad_signature,    // author's signature does not verify
    not_a_successor,  // wrong room, epoch, previous hash, salt or KDF parameters
    bad_roster,       // roster/ops inconsistent, author not allowed, unsorted keys
};
const char* to_string(RecordError e);

// The signed body: every field but the signature.
[[nodiscard]] Bytes record_body(const EpochRecord& record);
[[nodiscard]] Bytes encode_record(const EpochRecord& record);

struct DecodedRecord {
    std::optional<EpochRecord> record;
    RecordError error = RecordError::malformed;
};
// Exact decoding plus the self-contained checks: sorted roster, one box per
// member, genesis shape (epoch 0 <=> zero previous hash, ops add exactly the
// roster, author a member). Version 2 also: devices in order, certificates and
// entries naming their member and device, no device key twice, the author one
// of the devices, a genesis's boxes all kind 2. Verifies no signature.
[[nodiscard]] DecodedRecord decode_record(ByteView bytes);

// BLAKE2b-256(label::record_hash || body).
[[nodiscard]] Hash record_hash(const EpochRecord& record);
// Ed25519 over label::sig_record || body, by record.author. Version 2 also
// verifies every device certificate and update key entry, except those the
// verified `previous` record holds byte for byte.
[[nodiscard]] bool verify_record_signature(const EpochRecord& record, const EpochRecord* previous = nullptr);
// Bytes the author signs (label || body).
[[nodiscard]] Bytes record_signed_message(const EpochRecord& record);

// Can `next` follow `prev`? Same version (or version 1 to 2), room, salt, KDF
// parameters; epoch + 1; previous hash; author in prev's roster; next.roster ==
// prev.roster with ops applied (each add new, each remove present, no key
// twice). Version 2: the device rules of §10.6 too. Signatures excluded.
[[nodiscard]] std::optional<RecordError> check_successor(const EpochRecord& prev,
                                                         const EpochRecord& next);

// BLAKE2b-256(label::token_hash || token): what records and the relay keep.
[[nodiscard]] Hash token_hash(const Token& token);

// Generic hash helper: BLAKE2b-256(label || parts...).
[[nodiscard]] Hash labelled_hash(std::string_view label, std::initializer_list<ByteView> parts);

}  // namespace parley::wire
