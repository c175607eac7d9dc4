#include "store/history_cipher.h"

#include <cstring>

namespace parley::store {

namespace {

constexpr std::string_view legacy_label = "parley/v1/local/history-key";
constexpr std::string_view history_label = "parley/v1/local/room-history-key";
constexpr std::string_view check_label = "parley/v1/local/history-check";
constexpr std::size_t entry_header_bytes = 32 + 8 + 8 + 8 + 1;

Bytes associated_data(const wire::RoomId& room, std::uint64_t seq) {
    Writer w;
    w.raw(room);
    w.u64(seq);
    return w.take();
}

}  // namespace

HistoryCipher::HistoryCipher(const crypto::Identity& identity, const wire::RoomId& room,
                             const crypto::SymmetricKey& room_secret) {
    // The first 32 bytes of a libsodium Ed25519 secret key are its seed.
    crypto_generichash_state st;
    if (crypto_generichash_init(&st, identity.secret.data(), crypto_sign_SEEDBYTES, key_.size()) != 0 ||
        crypto_generichash_update(&st, as_bytes(history_label).data(), history_label.size()) != 0 ||
        crypto_generichash_update(&st, room.data(), room.size()) != 0 ||
        crypto_generichash_update(&st, room_secret.data(), room_secret.size()) != 0 ||
        crypto_generichash_final(&st, key_.data(), key_.size()) != 0)
        std::abort();
    sodium_memzero(&st, sizeof st);
}

HistoryCipher HistoryCipher::legacy(const crypto::Identity& identity) {
    HistoryCipher c;
    if (crypto_generichash(c.key_.data(), c.key_.size(), as_bytes(legacy_label).data(), legacy_label.size(),
                           identity.secret.data(), crypto_sign_SEEDBYTES) != 0)
        std::abort();
    return c;
}

wire::Hash HistoryCipher::check_value() const {
    wire::Hash out{};
    if (crypto_generichash(out.data(), out.size(), as_bytes(check_label).data(), check_label.size(), key_.data(),
                           key_.size()) != 0)
        std::abort();
    return out;
}

Bytes HistoryCipher::seal(const wire::RoomId& room, const HistoryEntry& e) const {
    return seal(room, e, crypto::random_array<wire::nonce_bytes>());
}

Bytes HistoryCipher::seal(const wire::RoomId& room, const HistoryEntry& e, const wire::Nonce& nonce) const {
    Writer w;
    w.raw(e.sender);
    w.u64(e.epoch);
    w.u64(e.counter);
    w.u64(e.timestamp_ms);
    w.u8(e.own ? 1 : 0);
    w.raw(as_bytes(e.text));
    Bytes plain = w.take();
    auto ct = crypto::aead_seal(key_, nonce, associated_data(room, e.seq), plain);
    sodium_memzero(plain.data(), plain.size());
    Bytes row(nonce.size() + ct.size());
    std::memcpy(row.data(), nonce.data(), nonce.size());
    std::memcpy(row.data() + nonce.size(), ct.data(), ct.size());
    return row;
}

std::optional<HistoryEntry> HistoryCipher::open(const wire::RoomId& room, std::uint64_t seq, ByteView row) const {
    if (row.size() < wire::nonce_bytes) return std::nullopt;
    wire::Nonce nonce{};
    std::memcpy(nonce.data(), row.data(), nonce.size());
    auto plain = crypto::aead_open(key_, nonce, associated_data(room, seq), row.subspan(wire::nonce_bytes));
    if (!plain || plain->size() < entry_header_bytes) return std::nullopt;
    Reader r(*plain);
    HistoryEntry e;
    e.seq = seq;
    e.sender = r.fixed<wire::public_key_bytes>();
    e.epoch = r.u64();
    e.counter = r.u64();
    e.timestamp_ms = r.u64();
    e.own = r.u8() == 1;
    auto text = r.rest();
    e.text.assign(text.begin(), text.end());
    sodium_memzero(plain->data(), plain->size());
    return e;
}

}  // namespace parley::store
