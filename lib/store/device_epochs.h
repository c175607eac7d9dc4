// Version 2's update keys and epochs on a device (docs/PROTOCOL.md §10.2, §10.3),
// kept in the state file under the device state key (device_state_cipher.h):
//
//   update key  (kind 1, u64 counter)  32 public key || 32 private key
//   init secret (kind 2, u64 epoch)    32 init secret[epoch]
//
// Adopting an epoch record opens this device's box with the update key it was
// sealed to, derives the epoch, starts a receiver chain for every device of the
// record (and this device's sender chain), keeps init secret[e] and erases init
// secret[e - 1] and every update key older than the one in force, all in one
// transaction: a state stolen afterwards holds nothing that opens an earlier
// epoch's box, and after this device's next rotation nothing that opens a later one.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <variant>

#include "protocol/record_v2.h"
#include "store/device_chains.h"

namespace parley::store {

// This device adopted another record for that epoch (a process of it, or it
// before a restart): the chain forked.
class ForkError : public StoreError {
public:
    explicit ForkError(std::uint64_t epoch)
        : StoreError("this device adopted another record for epoch " + std::to_string(epoch) +
                     " of this room: the chain forked"),
          epoch_(epoch) {}
    std::uint64_t epoch() const { return epoch_; }

private:
    std::uint64_t epoch_;
};

class DeviceEpochs {
public:
    // All three must outlive this; `device` is this device's key.
    DeviceEpochs(StateStore& store, const DeviceStateCipher& cipher, const crypto::Identity& device)
        : store_(store), cipher_(cipher), device_(device) {}
    DeviceEpochs(StateStore&, DeviceStateCipher&&, const crypto::Identity&) = delete;  // it would dangle

    // False when the state file holds version-2 rows of this room and none of
    // them opens under this cipher: the password is not the one they were
    // sealed with (a damaged row among good ones is a StoreError later, where it is read).
    bool state_opens();

    // The device is out of the room as of epoch `out_at` (its member removed,
    // or itself revoked), or enters it again by its card there: every update
    // key, init secret and key-update mark it holds for `room` is erased (they
    // open the boxes of the epochs it was in, and no later record is sealed to
    // them). Nothing happens if the device adopted an epoch after `out_at`: a
    // process of it is in again already, and the removal is old news (a relay
    // may show it late). Needs no password.
    static void erase_keys(StateStore& store, const wire::RoomId& room, std::uint64_t out_at);
    // Whether this device adopted a record of an epoch after `epoch`.
    bool adopted_after(std::uint64_t epoch) { return adopted_after(store_, cipher_.room(), epoch); }

    // A new update key pair, its private half stored under the next counter
    // (1 for the first); returns the signed entry for a key-update envelope or a record.
    protocol::v2::UpdateKeyEntry new_update_key();
    // The device's joining key (its card's, protocol/device_files.h
    // load_joining_key) as update key 0 of this room: what a record bringing
    // the device in seals its box to. Erased here, as any older update key, once
    // a record puts a newer one in force. Throws StoreError after a rotation
    // (erase_keys first when a record brings the device in again).
    void take_joining_key(const crypto::Secret<protocol::v2::update_key_bytes>& joining_private);
    // The highest update key counter this device holds (0: none, or the joining key).
    std::uint64_t newest_update_counter();
    // The entry of the newest update key this device holds (signed again: the
    // same bytes), nullopt when it holds none past its joining key. What a
    // key-update sends again when its first sending did not make it into a record.
    std::optional<protocol::v2::UpdateKeyEntry> newest_update_entry();

    // The epoch (record hash) in which a process of this device sent the
    // key-update of update key `counter`, so the others do not send it again there.
    void mark_update_sent(std::uint64_t counter, const wire::Hash& record);
    std::optional<wire::Hash> update_sent_in(std::uint64_t counter);

    // Key-updates of the room's devices (verified by the receiver), for the
    // next record this device writes: per device the one with the highest
    // counter is kept; noted_updates() gives them, by device key.
    void note_update(const protocol::v2::UpdateKeyEntry& entry);
    std::map<wire::PublicKey, protocol::v2::UpdateKeyEntry> noted_updates();
    // init secret[epoch] if this device holds it (the author of epoch + 1 needs it).
    std::optional<crypto::SymmetricKey> init_secret(std::uint64_t epoch);

    struct Adopted {
        wire::Hash token_hash{};
        crypto::Secret<wire::token_bytes> access_token;
        std::uint64_t update_counter = 0;  // this device's update key in force in the epoch
    };
    // Takes `record` (already checked against its predecessor, wire/record.h)
    // as this device's current epoch, forgetting the noted key-updates of
    // devices it does not name. On an error nothing is changed. Adopting
    // a record again (another process of the device did, or a restart) returns
    // what the first adoption kept and touches no chain; another record for an
    // epoch this device adopted throws ForkError.
    std::variant<Adopted, protocol::v2::OpenError> adopt(const wire::EpochRecord& record,
                                                         const crypto::SymmetricKey& room_secret,
                                                         DeviceChains& chains);

    // What adopting `record` kept (its access token), if this device did;
    // throws ForkError if it adopted another record for that epoch.
    std::optional<Adopted> adopted(const wire::EpochRecord& record);

private:
    static bool adopted_after(StateStore& store, const wire::RoomId& room, std::uint64_t epoch);
    void put_update_key(std::uint64_t counter, const protocol::v2::UpdateKey& public_key,
                        const crypto::Secret<protocol::v2::update_key_bytes>& private_key);
    StateStore& store_;
    const DeviceStateCipher& cipher_;
    const crypto::Identity& device_;
};

}  // namespace parley::store
