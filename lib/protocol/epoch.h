// Writing, opening and verifying epoch records (docs/PROTOCOL.md §4).
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "crypto/key_file.h"
#include "protocol/key_schedule.h"
#include "wire/record.h"

namespace parley::protocol {

using wire::EpochRecord;
using wire::Hash;
using crypto::PublicKey;

// What the author of a new record chooses; randomness is passed in so records
// can be made deterministically in tests.
struct RecordDraft {
    wire::RoomId room{};
    std::uint64_t epoch = 0;
    Hash previous{};
    wire::Salt salt{};
    wire::KdfParams kdf{};
    std::uint64_t created_at_ms = 0;
    std::vector<PublicKey> roster;  // any order; sorted on build
    std::vector<wire::RosterOp> ops;
};

// Seals `epoch_secret` to every roster member, derives the token hash and the
// commitment, and signs. Returns nullopt if a roster key has no X25519 form.
[[nodiscard]] std::optional<EpochRecord> build_record(const crypto::Identity& author,
                                                      RecordDraft draft,
                                                      const SymmetricKey& room_secret,
                                                      const EpochSecret& epoch_secret);

enum class OpenError {
    not_member,      // our key is not in the roster
    bad_box,         // box does not open, or its context is wrong: blame the author
    bad_commitment,  // the secret does not match the record's commitment: blame the author
    other_version,   // a version-2 record (§10.6): record_v2.h opens those
};
const char* to_string(OpenError e);

// Finds our box, opens it, checks its context (label, room, epoch, previous,
// author, recipient) and the commitment.
[[nodiscard]] std::variant<EpochSecret, OpenError> open_epoch_secret(const crypto::Identity& me,
                                                                     const EpochRecord& record);

// A chain that passed every public check, epoch 0 first.
struct VerifiedChain {
    std::vector<EpochRecord> records;
    std::vector<Hash> hashes;
    const EpochRecord& head() const { return records.back(); }
    const Hash& head_hash() const { return hashes.back(); }
    const Hash& genesis_hash() const { return hashes.front(); }
};

// Decodes and checks a whole chain: genesis shape, signatures, successors,
// room id, KDF parameters within floor and ceiling. On failure, a reason.
[[nodiscard]] std::variant<VerifiedChain, std::string> verify_chain(const std::vector<Bytes>& encoded,
                                                                    const wire::RoomId& room);

// Checks `next` (already decoded) as the successor of the chain's head.
[[nodiscard]] std::optional<std::string> extend_chain(VerifiedChain& chain, EpochRecord next);

// What a client remembers of a room between runs.
struct Pin {
    Hash genesis{};
    std::uint64_t head_epoch = 0;
    Hash head{};
};

enum class PinVerdict { matches, extends, rollback, fork, other_chain };
// Compares a verified chain with what we pinned earlier.
[[nodiscard]] PinVerdict check_pin(const VerifiedChain& chain, const Pin& pin);

}  // namespace parley::protocol
