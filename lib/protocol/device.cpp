#include "protocol/device.h"

#include <sodium.h>

#include <cstdlib>
#include <stdexcept>

namespace parley::protocol::v2 {

DeviceCertificate certify_device(const crypto::Identity& identity, const wire::PublicKey& device, std::string name,
                                 std::uint64_t created_at_ms) {
    if (!valid_device_name(name))
        throw std::invalid_argument("a device name is 1 to 32 of A-Z a-z 0-9 . _ -, not '" + name + "'");
    DeviceCertificate c;
    c.identity = identity.public_key;
    c.device = device;
    c.name = std::move(name);
    c.created_at_ms = created_at_ms;
    c.signature = crypto::sign(identity.secret, device_certificate_signed_part(c));
    return c;
}

UpdateKeyPair generate_update_key() {
    UpdateKeyPair pair;
    if (crypto_box_keypair(pair.public_key.data(), pair.private_key.data()) != 0) std::abort();
    return pair;
}

UpdateKeyEntry sign_update_key(const crypto::Identity& device, const wire::RoomId& room, const UpdateKey& update_key,
                               std::uint64_t counter) {
    UpdateKeyEntry e;
    e.device = device.public_key;
    e.update_key = update_key;
    e.counter = counter;
    e.signature = crypto::sign(device.secret, update_key_signed_part(room, e));
    return e;
}

UpdateKeyEntry sign_joining_key(const crypto::Identity& device, const UpdateKey& joining_key) {
    return sign_update_key(device, wire::RoomId{}, joining_key, 0);
}

Bytes encode_device_card(const DeviceCard& card) {
    auto out = encode_device_certificate(card.certificate);
    const auto entry = encode_update_key_entry(card.joining);
    out.insert(out.end(), entry.begin(), entry.end());
    return out;
}

std::optional<DeviceCard> decode_device_card(ByteView bytes) {
    if (bytes.size() <= update_key_entry_bytes) return std::nullopt;
    const auto split = bytes.size() - update_key_entry_bytes;
    auto certificate = decode_device_certificate(bytes.first(split));
    auto entry = decode_update_key_entry(bytes.subspan(split));
    if (!certificate || !entry) return std::nullopt;
    return DeviceCard{std::move(*certificate), *entry};
}

bool verify_device_card(const DeviceCard& card) {
    return verify_device_certificate(card.certificate) && card.joining.device == card.certificate.device &&
           card.joining.counter == 0 && verify_update_key_entry(wire::RoomId{}, card.joining);
}

}  // namespace parley::protocol::v2
