// Version 2's device secrets at rest (docs/PROTOCOL.md §10.2): every secret a
// device keeps for a room (update private keys, init secrets, chain keys,
// skipped message keys) is one row of the state file, sealed under a key that
// needs the device key *and* the room password, so the state folder with its
// key files but without the password opens nothing (§10.1's first row).
//
//   state key = BLAKE2b-256(key = device key's Ed25519 seed,
//                           "parley/v2/local/state-key" || room id || room secret)
//   row       = nonce(24) || XChaCha20-Poly1305(state key, nonce,
//                              ad = "parley/v2/local/state-secret" || room id || u16 n || name(n),
//                              secret)
//
// The name (the caller's: a kind and its ids) is bound to the row, so a row
// copied under another name or room does not open.
#pragma once

#include <optional>

#include "crypto/key_file.h"
#include "wire/frames.h"

namespace parley::store {

// The kinds of §10.2's secrets, the first byte of a row's name.
enum class DeviceSecretKind : std::uint8_t {
    update_key = 1,     // u64 update counter
    init_secret = 2,    // u64 epoch
    sender_chain = 3,   // 32 record hash: this device's next chain key and position
    receiver_chain = 4, // 32 record hash || 32 device key: the front and its position
    skipped_key = 5,    // 32 record hash || 32 device key || u64 position
    adopted_epoch = 6,  // u64 epoch: 32 record hash || 32 access token of an epoch this device adopted
    noted_update = 7,   // 32 device key: another device's newest key-update seen (not secret; kept alike)
    update_sent = 8,    // u64 update counter: 32 record hash of the epoch its key-update went out in
    unsent = 9,         // 32 record hash || u64 position: taken, then refused by the relay (empty row)
    sealed = 10,        // 32 record hash || u64 position: BLAKE2b-256 of the envelope this folder sealed there
};

// kind || the ids, each as written by the caller (fixed-size, big-endian).
[[nodiscard]] Bytes device_secret_name(DeviceSecretKind kind, ByteView ids);

class DeviceStateCipher {
public:
    DeviceStateCipher(const crypto::Identity& device, const wire::RoomId& room,
                      const crypto::SymmetricKey& room_secret);

    [[nodiscard]] Bytes seal(ByteView name, ByteView secret) const;
    // nullopt when the row does not open: another device key, another
    // password, another room, another name, or tampering.
    [[nodiscard]] std::optional<crypto::SecretBuffer> open(ByteView name, ByteView row) const;

    const wire::RoomId& room() const { return room_; }

private:
    Bytes associated_data(ByteView name) const;
    wire::RoomId room_{};
    crypto::SymmetricKey key_;
};

}  // namespace parley::store
