// docs/PROTOCOL.md §10.5 and §10.3: device certificates and update key entries.
#include "wire/device.h"

#include <sodium.h>

namespace parley::wire {

namespace {

bool verify(const PublicKey& key, const Signature& signature, ByteView message) {
    return crypto_sign_verify_detached(signature.data(), message.data(), message.size(), key.data()) == 0;
}

void write_certificate_fields(Writer& w, const DeviceCertificate& c) {
    w.raw(c.identity);
    w.raw(c.device);
    w.u8(static_cast<std::uint8_t>(c.name.size()));
    w.raw(as_bytes(c.name));
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
    w.raw(as_bytes(label::v2::sig_device));
    write_certificate_fields(w, certificate);
    return w.take();
}

void write_device_certificate(Writer& w, const DeviceCertificate& certificate) {
    write_certificate_fields(w, certificate);
    w.raw(certificate.signature);
}

Bytes encode_device_certificate(const DeviceCertificate& certificate) {
    Writer w;
    write_device_certificate(w, certificate);
    return w.take();
}

DeviceCertificate read_device_certificate(Reader& r) {
    DeviceCertificate c;
    c.identity = r.fixed<public_key_bytes>();
    c.device = r.fixed<public_key_bytes>();
    const auto n = r.u8();
    const auto name = r.take(n);
    c.name.assign(name.begin(), name.end());
    c.created_at_ms = r.u64();
    c.signature = r.fixed<signature_bytes>();
    if (!valid_device_name(c.name)) r.fail();
    return c;
}

std::optional<DeviceCertificate> decode_device_certificate(ByteView bytes) {
    Reader r(bytes);
    auto c = read_device_certificate(r);
    if (!r.ok_and_done()) return std::nullopt;
    return c;
}

bool verify_device_certificate(const DeviceCertificate& certificate) {
    return valid_device_name(certificate.name) &&
           verify(certificate.identity, certificate.signature, device_certificate_signed_part(certificate));
}

Bytes update_key_signed_part(const RoomId& room, const UpdateKeyEntry& entry) {
    Writer w;
    w.raw(as_bytes(label::v2::sig_update_key));
    w.raw(room);
    w.raw(entry.device);
    w.u64(entry.counter);
    w.raw(entry.update_key);
    return w.take();
}

void write_update_key_entry(Writer& w, const UpdateKeyEntry& entry) {
    w.raw(entry.device);
    w.raw(entry.update_key);
    w.u64(entry.counter);
    w.raw(entry.signature);
}

Bytes encode_update_key_entry(const UpdateKeyEntry& entry) {
    Writer w;
    write_update_key_entry(w, entry);
    return w.take();
}

UpdateKeyEntry read_update_key_entry(Reader& r) {
    UpdateKeyEntry e;
    e.device = r.fixed<public_key_bytes>();
    e.update_key = r.fixed<update_key_bytes>();
    e.counter = r.u64();
    e.signature = r.fixed<signature_bytes>();
    return e;
}

std::optional<UpdateKeyEntry> decode_update_key_entry(ByteView bytes) {
    Reader r(bytes);
    auto e = read_update_key_entry(r);
    if (!r.ok_and_done()) return std::nullopt;
    return e;
}

bool verify_update_key_entry(const RoomId& room, const UpdateKeyEntry& entry) {
    static const RoomId any_room{};
    return verify(entry.device, entry.signature, update_key_signed_part(entry.counter == 0 ? any_room : room, entry));
}

}  // namespace parley::wire
