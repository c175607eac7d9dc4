#include "protocol/sender_chain.h"

#include "wire/record.h"

namespace parley::protocol::v2 {

namespace {

Array<8> be64(std::uint64_t v) {
    Array<8> out{};
    for (int i = 7; i >= 0; --i) {
        out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v);
        v >>= 8;
    }
    return out;
}

// BLAKE2b-256 keyed with `key` over the concatenation of `parts`.
SymmetricKey keyed_hash(const SymmetricKey& key, std::initializer_list<ByteView> parts) {
    SymmetricKey out;
    crypto_generichash_state st;
    crypto_generichash_init(&st, key.data(), key.size(), out.size());
    for (const auto& part : parts) crypto_generichash_update(&st, part.data(), part.size());
    crypto_generichash_final(&st, out.data(), out.size());
    sodium_memzero(&st, sizeof st);
    return out;
}

ByteView view(std::string_view s) { return as_bytes(s); }
template <class T>
ByteView view(const T& secret_or_array) {
    return ByteView(secret_or_array.data(), secret_or_array.size());
}

// message key (id 1) and the next chain key (id 2) of `chain_key`, which is
// then overwritten by the next one.
SymmetricKey step(SymmetricKey& chain_key) {
    SymmetricKey message_key;
    crypto::kdf_derive(message_key, label::v2::kdf_id_message_key, label::v2::kdf_ctx_chain, chain_key);
    SymmetricKey next;
    crypto::kdf_derive(next, label::v2::kdf_id_next_chain_key, label::v2::kdf_ctx_chain, chain_key);
    chain_key = std::move(next);
    return message_key;
}

}  // namespace

SymmetricKey joiner_secret(const SymmetricKey& previous_init, const wire::RoomId& room, std::uint64_t epoch,
                           const EpochSecret& epoch_secret) {
    const auto e = be64(epoch);
    return keyed_hash(previous_init, {view(label::v2::joiner), view(room), view(e), view(epoch_secret)});
}

EpochSchedule derive_epoch(const SymmetricKey& room_secret, const wire::RoomId& room, std::uint64_t epoch,
                           const wire::Hash& previous, const SymmetricKey& joiner) {
    SymmetricKey binding;
    crypto::kdf_derive(binding, label::kdf_id_epoch_binding, label::kdf_ctx_room, room_secret);
    const auto e = be64(epoch);
    const auto epoch_key =
        keyed_hash(binding, {view(label::v2::epoch_key), view(room), view(e), view(previous), view(joiner)});
    EpochSchedule out;
    crypto::kdf_derive(out.init_secret, label::v2::kdf_id_init_secret, label::kdf_ctx_epoch, epoch_key);
    crypto::kdf_derive(out.sender_root, label::v2::kdf_id_sender_root, label::kdf_ctx_epoch, epoch_key);
    SymmetricKey token;
    crypto::kdf_derive(token, label::v2::kdf_id_access_token, label::kdf_ctx_epoch, epoch_key);
    std::copy(token.data(), token.data() + token.size(), out.access_token.data());
    wire::Token t{};
    std::copy(token.data(), token.data() + t.size(), t.begin());
    out.token_hash = wire::token_hash(t);
    sodium_memzero(t.data(), t.size());
    return out;
}

SymmetricKey chain_start(const SymmetricKey& sender_root, const wire::RoomId& room, std::uint64_t epoch,
                         const crypto::PublicKey& device) {
    const auto e = be64(epoch);
    return keyed_hash(sender_root, {view(label::v2::chain), view(room), view(e), view(device)});
}

SenderChain::Step SenderChain::next() {
    Step s;
    s.position = position_++;
    s.message_key = step(chain_key_);
    return s;
}

std::variant<SymmetricKey, ReceiverChain::Error> ReceiverChain::take(std::uint64_t position) {
    if (position < next_) {
        auto it = skipped_.find(position);
        if (it == skipped_.end()) return Error::no_key;
        SymmetricKey key = std::move(it->second);
        skipped_.erase(it);
        return key;
    }
    if (position - next_ > max_jump) return Error::too_far_ahead;
    while (next_ < position) {
        skipped_.emplace(next_++, step(front_));
        if (skipped_.size() > max_skipped) skipped_.erase(skipped_.begin());  // the oldest goes
    }
    ++next_;
    return step(front_);
}

}  // namespace parley::protocol::v2
