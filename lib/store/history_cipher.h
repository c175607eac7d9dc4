// History at rest (docs/PROTOCOL.md §8): each stored message is sealed with a
// key that needs the member's private key *and* the room password, so neither
// the state file nor the state file with the key file (a lost flash drive)
// reveals a message without the password.
//
//   history key = BLAKE2b-256(key = Ed25519 seed,
//                             "parley/v1/local/room-history-key" || room id || room secret)
//   check       = BLAKE2b-256(key = history key, "parley/v1/local/history-check")
//                 (stored, so a wrong password is told from damaged rows)
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
    // `room_secret` is the room's Argon2id output (docs/PROTOCOL.md §3).
    HistoryCipher(const crypto::Identity& identity, const wire::RoomId& room, const crypto::SymmetricKey& room_secret);
    // The key of versions before the password was part of it (the private key
    // alone): only to read rows those versions wrote, and seal them again.
    static HistoryCipher legacy(const crypto::Identity& identity);

    wire::Hash check_value() const;

    Bytes seal(const wire::RoomId& room, const HistoryEntry& entry) const;
    // With a given nonce: only for test vectors (a row's nonce is random).
    Bytes seal(const wire::RoomId& room, const HistoryEntry& entry, const wire::Nonce& nonce) const;
    // nullopt when the row does not authenticate (another key, or tampering).
    std::optional<HistoryEntry> open(const wire::RoomId& room, std::uint64_t seq, ByteView row) const;

private:
    HistoryCipher() = default;
    crypto::SymmetricKey key_;
};

}  // namespace parley::store
