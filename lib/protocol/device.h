// Version 2's devices and update keys (docs/PROTOCOL.md §10.5, §10.3), as a
// library with its vectors (tests/vectors/v2.json): the device certificate an
// identity key signs for a device key, and the update key entry a device signs
// for the X25519 key the next epoch secret is sealed to. Nothing on the wire
// uses them yet: version 1 (§3, §4) is what runs.
//
//   device certificate = 32 identity key ‖ 32 device key ‖ u8 n ‖ n name ‖ u64 created at
//                        ‖ 64 signature by the identity key over "parley/v2/sig/device" ‖ the fields before it
//   update key entry   = 32 device key ‖ 32 update key ‖ u64 counter
//                        ‖ 64 signature by the device key over
//                          "parley/v2/sig/update-key" ‖ room id ‖ device key ‖ u64 counter ‖ update key
//
// Integers are big-endian. A name is 1..32 bytes of A-Z a-z 0-9 . _ -.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/key_file.h"
#include "crypto/primitives.h"
#include "wire/record.h"

namespace parley::protocol::v2 {

inline constexpr std::size_t max_device_name_bytes = 32;
inline constexpr std::size_t update_key_bytes = 32;  // X25519
inline constexpr std::size_t update_key_entry_bytes = 32 + update_key_bytes + 8 + 64;

// 1..32 bytes of A-Z a-z 0-9 . _ -
[[nodiscard]] bool valid_device_name(std::string_view name);

struct DeviceCertificate {
    wire::PublicKey identity{};  // the member's key, as in the roster
    wire::PublicKey device{};    // made on the device; signs its envelopes
    std::string name;
    std::uint64_t created_at_ms = 0;
    wire::Signature signature{};
    bool operator==(const DeviceCertificate&) const = default;
};

// What the identity key signs: the label, then every field before the signature.
[[nodiscard]] Bytes device_certificate_signed_part(const DeviceCertificate& certificate);
[[nodiscard]] Bytes encode_device_certificate(const DeviceCertificate& certificate);
// nullopt unless the bytes are exactly one certificate with a valid name (the
// signature is not checked: verify_device_certificate does).
[[nodiscard]] std::optional<DeviceCertificate> decode_device_certificate(ByteView bytes);
// Throws std::invalid_argument for a name valid_device_name refuses.
[[nodiscard]] DeviceCertificate certify_device(const crypto::Identity& identity, const wire::PublicKey& device,
                                               std::string name, std::uint64_t created_at_ms);
[[nodiscard]] bool verify_device_certificate(const DeviceCertificate& certificate);

using UpdateKey = Array<update_key_bytes>;

// A device's update key pair: X25519 (crypto_box), never derived from an
// Ed25519 key. The private half stays in the device's state; old ones are
// erased once a newer one is in force (§10.3).
struct UpdateKeyPair {
    UpdateKey public_key{};
    crypto::Secret<update_key_bytes> private_key;
};
[[nodiscard]] UpdateKeyPair generate_update_key();

struct UpdateKeyEntry {
    wire::PublicKey device{};
    UpdateKey update_key{};
    std::uint64_t counter = 0;  // per device, +1 per new update key
    wire::Signature signature{};
    bool operator==(const UpdateKeyEntry&) const = default;
};

// What the device key signs: bound to the room, so an entry cannot be replayed into another.
[[nodiscard]] Bytes update_key_signed_part(const wire::RoomId& room, const UpdateKeyEntry& entry);
[[nodiscard]] Bytes encode_update_key_entry(const UpdateKeyEntry& entry);
[[nodiscard]] std::optional<UpdateKeyEntry> decode_update_key_entry(ByteView bytes);
[[nodiscard]] UpdateKeyEntry sign_update_key(const crypto::Identity& device, const wire::RoomId& room,
                                             const UpdateKey& update_key, std::uint64_t counter);
[[nodiscard]] bool verify_update_key_entry(const wire::RoomId& room, const UpdateKeyEntry& entry);

}  // namespace parley::protocol::v2
