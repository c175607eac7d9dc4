#include "store/history_cipher.h"

#include <cstring>

namespace parley::store {

namespace {

constexpr std::string_view history_label = "parley/v1/local/history-key";
constexpr std::size_t entry_header_bytes = 32 + 8 + 8 + 8 + 1;

Bytes associated_data(const wire::RoomId& room, std::uint64_t seq) {
    Writer w;
    w.raw(room);
    w.u64(seq);
    return w.take();
}

}  // namespace

HistoryCipher::HistoryCipher(const crypto::Identity& identity) {
    // The first 32 bytes of a libsodium Ed25519 secret key are its seed.
    if (crypto_generichash(key_.data(), key_.size(), as_bytes(history_label).data(), history_label.size(),
                           identity.secret.data(), crypto_sign_SEEDBYTES) != 0)
        std::abort();
}

Bytes HistoryCipher::seal(const wire::RoomId& room, const HistoryEntry& e) const {
    Writer w;
    w.raw(e.sender);
    w.u64(e.epoch);
    w.u64(e.counter);
    w.u64(e.timestamp_ms);
    w.u8(e.own ? 1 : 0);
    w.raw(as_bytes(e.text));
    Bytes plain = w.take();
    auto nonce = crypto::random_array<wire::nonce_bytes>();
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
