#include "protocol/device.h"

#include <sodium.h>

#include <stdexcept>

#include "wire/bytes.h"
#include "wire/labels.h"

namespace parley::protocol::v2 {

namespace {

ByteView view(std::string_view s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

void write_certificate_fields(Writer& w, const DeviceCertificate& c) {
    w.raw(c.identity);
    w.raw(c.device);
    w.u8(static_cast<std::uint8_t>(c.name.size()));
    w.raw(view(c.name));
    w.u64(c.created_at_ms);
}

}  // namespace

bool valid_device_name(std::string_view name) {
    if (name.empty() || name.size() > max_device_name_bytes) return false;
    for (char c : name) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

Bytes device_certificate_signed_part(const DeviceCertificate& certificate) {
    Writer w;
    w.raw(view(label::v2::sig_device));
    write_certificate_fields(w, certificate);
    return w.take();
}

Bytes encode_device_certificate(const DeviceCertificate& certificate) {
    Writer w;
    write_certificate_fields(w, certificate);
    w.raw(certificate.signature);
    return w.take();
}

std::optional<DeviceCertificate> decode_device_certificate(ByteView bytes) {
    Reader r(bytes);
    DeviceCertificate c;
    c.identity = r.fixed<wire::public_key_bytes>();
    c.device = r.fixed<wire::public_key_bytes>();
    const auto n = r.u8();
    const auto name = r.take(n);
    c.name.assign(name.begin(), name.end());
    c.created_at_ms = r.u64();
    c.signature = r.fixed<wire::signature_bytes>();
    if (!r.ok_and_done() || !valid_device_name(c.name)) return std::nullopt;
    return c;
}

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

bool verify_device_certificate(const DeviceCertificate& certificate) {
    return valid_device_name(certificate.name) &&
           crypto::verify(certificate.identity, certificate.signature, device_certificate_signed_part(certificate));
}

UpdateKeyPair generate_update_key() {
    UpdateKeyPair pair;
    if (crypto_box_keypair(pair.public_key.data(), pair.private_key.data()) != 0) std::abort();
    return pair;
}

Bytes update_key_signed_part(const wire::RoomId& room, const UpdateKeyEntry& entry) {
    Writer w;
    w.raw(view(label::v2::sig_update_key));
    w.raw(room);
    w.raw(entry.device);
    w.u64(entry.counter);
    w.raw(entry.update_key);
    return w.take();
}

Bytes encode_update_key_entry(const UpdateKeyEntry& entry) {
    Writer w;
    w.raw(entry.device);
    w.raw(entry.update_key);
    w.u64(entry.counter);
    w.raw(entry.signature);
    return w.take();
}

std::optional<UpdateKeyEntry> decode_update_key_entry(ByteView bytes) {
    Reader r(bytes);
    UpdateKeyEntry e;
    e.device = r.fixed<wire::public_key_bytes>();
    e.update_key = r.fixed<update_key_bytes>();
    e.counter = r.u64();
    e.signature = r.fixed<wire::signature_bytes>();
    if (!r.ok_and_done()) return std::nullopt;
    return e;
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

bool verify_update_key_entry(const wire::RoomId& room, const UpdateKeyEntry& entry) {
    return crypto::verify(entry.device, entry.signature, update_key_signed_part(room, entry));
}

}  // namespace parley::protocol::v2
