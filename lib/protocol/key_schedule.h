// The key schedule (docs/PROTOCOL.md §3).
//
//   room secret   = Argon2id(password, salt, ops, mem)            once per join
//   binding key   = crypto_kdf(room secret, 1, "PRLYroom")
//   epoch key     = BLAKE2b-256(key = binding key,
//                     label::epoch_key || room id || u64 epoch || previous hash || epoch secret)
//   message key   = crypto_kdf(epoch key, 1, "PRLYepch")
//   access token  = crypto_kdf(epoch key, 2, "PRLYepch")
//   token hash    = BLAKE2b-256(label::token_hash || access token)  (public, in the record)
//   commitment    = BLAKE2b-256(label::commitment || room id || u64 epoch || previous || epoch secret)
//
// The epoch key needs both the password (through the room secret) and the
// epoch secret (sealed to members' keys), so nothing public depends on the
// password alone.
#pragma once

#include <optional>

#include "crypto/primitives.h"

namespace parley::protocol {

using crypto::EpochSecret;
using crypto::SymmetricKey;

struct EpochKeys {
    SymmetricKey message_key;
    crypto::Secret<wire::token_bytes> access_token;
    wire::Hash token_hash{};  // not secret
};

// Argon2id; nullopt when the parameters are outside [kdf_floor, kdf_ceiling] or
// the machine lacks the memory.
[[nodiscard]] std::optional<SymmetricKey> derive_room_secret(const crypto::SecretBuffer& password,
                                                             const wire::Salt& salt,
                                                             const wire::KdfParams& params);
[[nodiscard]] bool kdf_params_allowed(const wire::KdfParams& params);

EpochKeys derive_epoch_keys(const SymmetricKey& room_secret, const wire::RoomId& room,
                            std::uint64_t epoch, const wire::Hash& previous,
                            const EpochSecret& epoch_secret);

wire::Hash epoch_commitment(const wire::RoomId& room, std::uint64_t epoch,
                            const wire::Hash& previous, const EpochSecret& epoch_secret);

wire::Token token_bytes(const EpochKeys& keys);

}  // namespace parley::protocol
