// Version 2's devices and update keys (docs/PROTOCOL.md §10.5, §10.3): making
// them, which needs a secret key. Their bytes and the public checks are
// wire/device.h's (the relay runs those too); they are named here as well.
//
// A device certificate is signed by the member's identity key for a device
// key; an update key entry is signed by the device key for the X25519 key the
// next epoch secret is sealed to. Vectors: tests/vectors/v2.json.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "crypto/key_file.h"
#include "crypto/primitives.h"
#include "wire/device.h"

namespace parley::protocol::v2 {

using wire::DeviceCertificate;
using wire::UpdateKey;
using wire::UpdateKeyEntry;
using wire::decode_device_certificate;
using wire::decode_update_key_entry;
using wire::device_certificate_signed_part;
using wire::encode_device_certificate;
using wire::encode_update_key_entry;
using wire::max_device_name_bytes;
using wire::update_key_bytes;
using wire::update_key_entry_bytes;
using wire::update_key_signed_part;
using wire::valid_device_name;
using wire::verify_device_certificate;
using wire::verify_update_key_entry;

// Throws std::invalid_argument for a name valid_device_name refuses.
[[nodiscard]] DeviceCertificate certify_device(const crypto::Identity& identity, const wire::PublicKey& device,
                                               std::string name, std::uint64_t created_at_ms);

// A device's update key pair: X25519 (crypto_box), never derived from an
// Ed25519 key. The private half stays in the device's state; old ones are
// erased once a newer one is in force (§10.3).
struct UpdateKeyPair {
    UpdateKey public_key{};
    crypto::Secret<update_key_bytes> private_key;
};
[[nodiscard]] UpdateKeyPair generate_update_key();

[[nodiscard]] UpdateKeyEntry sign_update_key(const crypto::Identity& device, const wire::RoomId& room,
                                             const UpdateKey& update_key, std::uint64_t counter);

// A device's card (§10.5): its certificate and its joining key entry (counter
// 0, signed for the all-zero room id), which whoever brings the device into a
// room seals its first box to. Bytes: certificate || 136-byte entry.
struct DeviceCard {
    DeviceCertificate certificate;
    UpdateKeyEntry joining;
    bool operator==(const DeviceCard&) const = default;
};
[[nodiscard]] UpdateKeyEntry sign_joining_key(const crypto::Identity& device, const UpdateKey& joining_key);
[[nodiscard]] Bytes encode_device_card(const DeviceCard& card);
[[nodiscard]] std::optional<DeviceCard> decode_device_card(ByteView bytes);
// The certificate verifies, the entry is of the certificate's device key, has
// counter 0 and verifies. (Whether the identity key is a member's is the reader's check.)
[[nodiscard]] bool verify_device_card(const DeviceCard& card);

}  // namespace parley::protocol::v2
