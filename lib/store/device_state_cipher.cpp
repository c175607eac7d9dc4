#include "store/device_state_cipher.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace parley::store {

namespace {

constexpr std::string_view state_key_label = "parley/v2/local/state-key";
constexpr std::string_view row_label = "parley/v2/local/state-secret";

}  // namespace

Bytes device_secret_name(DeviceSecretKind kind, ByteView ids) {
    Bytes name;
    name.reserve(1 + ids.size());
    name.push_back(static_cast<std::uint8_t>(kind));
    name.insert(name.end(), ids.begin(), ids.end());
    return name;
}

DeviceStateCipher::DeviceStateCipher(const crypto::Identity& device, const wire::RoomId& room,
                                     const crypto::SymmetricKey& room_secret)
    : room_(room) {
    // The first 32 bytes of a libsodium Ed25519 secret key are its seed.
    crypto_generichash_state st;
    if (crypto_generichash_init(&st, device.secret.data(), crypto_sign_SEEDBYTES, key_.size()) != 0 ||
        crypto_generichash_update(&st, as_bytes(state_key_label).data(), state_key_label.size()) != 0 ||
        crypto_generichash_update(&st, room.data(), room.size()) != 0 ||
        crypto_generichash_update(&st, room_secret.data(), room_secret.size()) != 0 ||
        crypto_generichash_final(&st, key_.data(), key_.size()) != 0)
        std::abort();
    sodium_memzero(&st, sizeof st);
}

Bytes DeviceStateCipher::associated_data(ByteView name) const {
    if (name.size() > 0xffff) throw std::invalid_argument("a device secret's name is at most 65535 bytes");
    Writer w;
    w.bytes().reserve(row_label.size() + room_.size() + 2 + name.size());
    w.raw(as_bytes(row_label));
    w.raw(room_);
    w.u16(static_cast<std::uint16_t>(name.size()));
    w.raw(name);
    return w.take();
}

Bytes DeviceStateCipher::seal(ByteView name, ByteView secret) const {
    const auto nonce = crypto::random_array<wire::nonce_bytes>();
    const auto ct = crypto::aead_seal(key_, nonce, associated_data(name), secret);
    Bytes row(nonce.size() + ct.size());
    std::memcpy(row.data(), nonce.data(), nonce.size());
    std::memcpy(row.data() + nonce.size(), ct.data(), ct.size());
    return row;
}

std::optional<crypto::SecretBuffer> DeviceStateCipher::open(ByteView name, ByteView row) const {
    if (row.size() < wire::nonce_bytes) return std::nullopt;
    wire::Nonce nonce{};
    std::memcpy(nonce.data(), row.data(), nonce.size());
    return crypto::aead_open_secret(key_, nonce, associated_data(name), row.subspan(wire::nonce_bytes));
}

}  // namespace parley::store
