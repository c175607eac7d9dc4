#include "protocol/key_schedule.h"

namespace parley::protocol {

static Array<8> be64(std::uint64_t v) {
    Array<8> out{};
    for (int i = 7; i >= 0; --i) {
        out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v);
        v >>= 8;
    }
    return out;
}

bool kdf_params_allowed(const wire::KdfParams& p) {
    return p.ops >= wire::kdf_floor.ops && p.ops <= wire::kdf_ceiling.ops &&
           p.mem_kib >= wire::kdf_floor.mem_kib && p.mem_kib <= wire::kdf_ceiling.mem_kib;
}

std::optional<SymmetricKey> derive_room_secret(const crypto::SecretBuffer& password,
                                               const wire::Salt& salt, const wire::KdfParams& params) {
    if (!kdf_params_allowed(params)) return std::nullopt;
    SymmetricKey out;
    if (!crypto::argon2id(out, password, salt, params)) return std::nullopt;
    return out;
}

EpochKeys derive_epoch_keys(const SymmetricKey& room_secret, const wire::RoomId& room,
                            std::uint64_t epoch, const wire::Hash& previous,
                            const EpochSecret& epoch_secret) {
    SymmetricKey binding;
    crypto::kdf_derive(binding, label::kdf_id_epoch_binding, label::kdf_ctx_room, room_secret);

    SymmetricKey epoch_key;
    crypto_generichash_state st;
    crypto_generichash_init(&st, binding.data(), binding.size(), epoch_key.size());
    crypto_generichash_update(&st, as_bytes(label::epoch_key).data(), label::epoch_key.size());
    crypto_generichash_update(&st, room.data(), room.size());
    auto e = be64(epoch);
    crypto_generichash_update(&st, e.data(), e.size());
    crypto_generichash_update(&st, previous.data(), previous.size());
    crypto_generichash_update(&st, epoch_secret.data(), epoch_secret.size());
    crypto_generichash_final(&st, epoch_key.data(), epoch_key.size());
    sodium_memzero(&st, sizeof st);

    EpochKeys keys;
    crypto::kdf_derive(keys.message_key, label::kdf_id_message_key, label::kdf_ctx_epoch, epoch_key);
    SymmetricKey token;
    crypto::kdf_derive(token, label::kdf_id_access_token, label::kdf_ctx_epoch, epoch_key);
    std::copy(token.data(), token.data() + token.size(), keys.access_token.data());
    keys.token_hash = wire::token_hash(token_bytes(keys));
    return keys;
}

wire::Token token_bytes(const EpochKeys& keys) {
    // The token is a bearer credential for the relay, sent over TLS; it leaves
    // its Secret here only to be put in a frame.
    wire::Token t{};
    std::copy(keys.access_token.data(), keys.access_token.data() + t.size(), t.begin());
    return t;
}

wire::Hash epoch_commitment(const wire::RoomId& room, std::uint64_t epoch, const wire::Hash& previous,
                            const EpochSecret& epoch_secret) {
    auto e = be64(epoch);
    return wire::labelled_hash(label::commitment,
                               {room, e, previous, ByteView(epoch_secret.data(), epoch_secret.size())});
}

}  // namespace parley::protocol
