// Version 2's key schedule and sender chains (docs/PROTOCOL.md §10.2): forward
// secrecy inside an epoch. Stage 2 lands in parts; this is the first, with its
// test vectors (tests/vectors/v2.json). Nothing on the wire uses it yet:
// version 1 (§3) is what runs.
//
//   joiner secret[e] = BLAKE2b-256(key = init secret[e-1], "parley/v2/joiner" ||
//                        room id || u64 e || epoch secret[e])   init secret[-1] = 0^32
//   epoch key[e]     = BLAKE2b-256(key = binding key, "parley/v2/epoch-key" ||
//                        room id || u64 e || previous hash || joiner secret[e])
//   access token     = crypto_kdf(epoch key, 2, "PRLYepch")
//   sender root      = crypto_kdf(epoch key, 3, "PRLYepch")
//   init secret[e]   = crypto_kdf(epoch key, 4, "PRLYepch")
//   chain key[d, 0]  = BLAKE2b-256(key = sender root, "parley/v2/chain" ||
//                        room id || u64 e || device key)
//   message key[d, i]   = crypto_kdf(chain key[d, i], 1, "PRLYchn2")
//   chain key[d, i + 1] = crypto_kdf(chain key[d, i], 2, "PRLYchn2")
//
// Who erases what: a device keeps init secret[e] (for the next epoch) and the
// access token; the joiner secret, the epoch key and the sender root go once
// every device's first chain key is derived. Chains keep only their front and
// a bounded set of skipped message keys; a used key is gone.
#pragma once

#include <cstdint>
#include <map>
#include <variant>

#include "crypto/primitives.h"
#include "wire/envelope.h"

namespace parley::protocol::v2 {

using crypto::EpochSecret;
using crypto::SymmetricKey;

// The joiner secret of epoch `epoch`; `previous_init` is init secret[epoch - 1]
// (all zero for the genesis).
SymmetricKey joiner_secret(const SymmetricKey& previous_init, const wire::RoomId& room, std::uint64_t epoch,
                           const EpochSecret& epoch_secret);

// What a device derives from an epoch's joiner secret.
struct EpochSchedule {
    SymmetricKey init_secret;  // kept: the next epoch's joiner secret needs it
    SymmetricKey sender_root;  // erased once every device's chain key 0 is derived
    crypto::Secret<wire::token_bytes> access_token;
    wire::Hash token_hash{};  // not secret
};
EpochSchedule derive_epoch(const SymmetricKey& room_secret, const wire::RoomId& room, std::uint64_t epoch,
                           const wire::Hash& previous, const SymmetricKey& joiner);

// chain key[device, 0] of an epoch.
SymmetricKey chain_start(const SymmetricKey& sender_root, const wire::RoomId& room, std::uint64_t epoch,
                         const crypto::PublicKey& device);

// The sending side of one device's chain: each position once, in order.
class SenderChain {
public:
    explicit SenderChain(SymmetricKey chain_key, std::uint64_t position = 0)
        : chain_key_(std::move(chain_key)), position_(position) {}

    struct Step {
        std::uint64_t position = 0;  // the envelope's counter
        SymmetricKey message_key;    // the caller erases it once the envelope is sealed
    };
    // The message key for the next position; the chain moves on and the chain
    // key behind it is overwritten.
    Step next();

    std::uint64_t position() const { return position_; }           // the next one to use
    const SymmetricKey& chain_key() const { return chain_key_; }   // at position(): what the state file keeps

private:
    SymmetricKey chain_key_;
    std::uint64_t position_;
};

// One device's chain as a receiver sees it: the front (the next position it
// expects) and the keys of positions it skipped, bounded.
class ReceiverChain {
public:
    explicit ReceiverChain(SymmetricKey chain_key, std::uint64_t next = 0)
        : front_(std::move(chain_key)), next_(next) {}
    // As a state file keeps it (store/device_chains.h): the front, its
    // position and the skipped keys (at most max_skipped, all below `next`).
    ReceiverChain(SymmetricKey chain_key, std::uint64_t next, std::map<std::uint64_t, SymmetricKey> skipped)
        : front_(std::move(chain_key)), next_(next), skipped_(std::move(skipped)) {}

    enum class Error {
        no_key,         // a position already used, or skipped so long ago that its key was dropped
        too_far_ahead,  // more than max_jump past the front: not derived (a forged counter must not cost 2^64 steps)
    };
    // The message key for `position`, which is then gone from the chain: a
    // skipped key is taken out; a position at or past the front moves the front
    // past it, keeping the keys in between (the oldest dropped past max_skipped).
    std::variant<SymmetricKey, Error> take(std::uint64_t position);

    std::uint64_t next() const { return next_; }
    std::size_t skipped() const { return skipped_.size(); }
    const SymmetricKey& front() const { return front_; }  // chain key at next()
    const std::map<std::uint64_t, SymmetricKey>& skipped_keys() const { return skipped_; }

    static constexpr std::size_t max_skipped = 256;
    static constexpr std::uint64_t max_jump = 4096;

private:
    SymmetricKey front_;  // chain key at next_
    std::uint64_t next_;
    std::map<std::uint64_t, SymmetricKey> skipped_;  // position -> message key
};

}  // namespace parley::protocol::v2
