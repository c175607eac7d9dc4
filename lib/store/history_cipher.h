// History at rest (docs/PROTOCOL.md §8): each stored message is sealed with a
// key derived from the member's private key, so the state file alone reveals
// no message.
//
//   history key = BLAKE2b-256(key = Ed25519 seed, "parley/v1/local/history-key")
//   row         = nonce(24) || XChaCha20-Poly1305(history key, nonce,
//                                                 ad = room id || u64 seq, entry)
//   entry       = 32 sender key || u64 epoch || u64 counter || u64 timestamp ms ||
//                 u8 flags (1 = own) || text
#pragma once

#include <optional>
#include <string>

#include "crypto/key_file.h"
#include "wire/frames.h"

namespace parley::store {

struct HistoryEntry {
    std::uint64_t seq = 0;
    crypto::PublicKey sender{};
    std::uint64_t epoch = 0;
    std::uint64_t counter = 0;
    std::uint64_t timestamp_ms = 0;
    bool own = false;
    std::string text;
};

class HistoryCipher {
public:
    explicit HistoryCipher(const crypto::Identity& identity);

    Bytes seal(const wire::RoomId& room, const HistoryEntry& entry) const;
    // nullopt when the row does not authenticate (another key, or tampering).
    std::optional<HistoryEntry> open(const wire::RoomId& room, std::uint64_t seq, ByteView row) const;

private:
    crypto::SymmetricKey key_;
};

}  // namespace parley::store
