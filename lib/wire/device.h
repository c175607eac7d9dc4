// Version 2's device certificate (docs/PROTOCOL.md §10.5) and update key entry
// (§10.3): their bytes and the checks anyone can make, the relay included.
// Making them (which needs a secret key) is protocol/device.h's.
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

#include "wire/bytes.h"
#include "wire/frames.h"
#include "wire/labels.h"

namespace parley::wire {

using PublicKey = Array<public_key_bytes>;
using Signature = Array<signature_bytes>;

inline constexpr std::size_t max_device_name_bytes = 32;
inline constexpr std::size_t update_key_bytes = 32;  // X25519
inline constexpr std::size_t update_key_entry_bytes = 32 + update_key_bytes + 8 + 64;
inline constexpr std::size_t device_certificate_fixed_bytes = 32 + 32 + 1 + 8 + 64;  // without the name

// 1..32 bytes of A-Z a-z 0-9 . _ -
[[nodiscard]] bool valid_device_name(std::string_view name);

struct DeviceCertificate {
    PublicKey identity{};  // the member's key, as in the roster
    PublicKey device{};    // made on the device; signs its envelopes and records
    std::string name;
    std::uint64_t created_at_ms = 0;
    Signature signature{};
    bool operator==(const DeviceCertificate&) const = default;
};

// What the identity key signs: the label, then every field before the signature.
[[nodiscard]] Bytes device_certificate_signed_part(const DeviceCertificate& certificate);
void write_device_certificate(Writer& w, const DeviceCertificate& certificate);
[[nodiscard]] Bytes encode_device_certificate(const DeviceCertificate& certificate);
// Reads one certificate from `r` (a name outside the rules fails the reader).
[[nodiscard]] DeviceCertificate read_device_certificate(Reader& r);
// nullopt unless the bytes are exactly one certificate with a valid name (the
// signature is not checked: verify_device_certificate does).
[[nodiscard]] std::optional<DeviceCertificate> decode_device_certificate(ByteView bytes);
[[nodiscard]] bool verify_device_certificate(const DeviceCertificate& certificate);

using UpdateKey = Array<update_key_bytes>;

struct UpdateKeyEntry {
    PublicKey device{};
    UpdateKey update_key{};
    std::uint64_t counter = 0;  // per device, +1 per new update key
    Signature signature{};
    bool operator==(const UpdateKeyEntry&) const = default;
};

// What the device key signs: bound to the room, so an entry cannot be replayed into another.
[[nodiscard]] Bytes update_key_signed_part(const RoomId& room, const UpdateKeyEntry& entry);
void write_update_key_entry(Writer& w, const UpdateKeyEntry& entry);
[[nodiscard]] Bytes encode_update_key_entry(const UpdateKeyEntry& entry);
[[nodiscard]] UpdateKeyEntry read_update_key_entry(Reader& r);
[[nodiscard]] std::optional<UpdateKeyEntry> decode_update_key_entry(ByteView bytes);
// Counter 0 is a device's joining key (docs/PROTOCOL.md §10.5, its card):
// signed for the all-zero room id, so it verifies in any room. Any other
// counter verifies only for `room`.
[[nodiscard]] bool verify_update_key_entry(const RoomId& room, const UpdateKeyEntry& entry);

}  // namespace parley::wire
