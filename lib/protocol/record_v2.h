// Writing and opening version-2 epoch records (docs/PROTOCOL.md §10.6). The
// layout and the public checks are wire/record.h's; this is the part that
// needs secrets: sealing to every device's update key, and opening one's own
// box with the update key it was sealed to.
//
//   joiner secret = BLAKE2b-256(key = init secret[e-1], "parley/v2/joiner" ‖ room ‖ u64 e ‖ epoch secret)
//   commitment    = BLAKE2b-256("parley/v2/hash/commitment" ‖ room ‖ u64 e ‖ previous ‖ joiner secret)
//   box (kind 1)  = seal(update key, context ‖ epoch secret)   a device that holds init secret[e-1]
//   box (kind 2)  = seal(update key, context ‖ joiner secret)  a device new to the chain, or locked out
//
// init secret[e-1] is 32 zero bytes for the first version-2 record of a chain
// (its genesis, or the upgrade from version 1), whose boxes are all kind 2.
// The epoch key, token and sender chains follow from the joiner secret
// (sender_chain.h's derive_epoch).
#pragma once

#include <functional>
#include <optional>
#include <variant>
#include <vector>

#include "crypto/key_file.h"
#include "protocol/device.h"
#include "protocol/sender_chain.h"
#include "wire/record.h"

namespace parley::protocol::v2 {

wire::Hash commitment(const wire::RoomId& room, std::uint64_t epoch, const wire::Hash& previous,
                      const SymmetricKey& joiner);

struct DeviceDraft {
    DeviceCertificate certificate;
    UpdateKeyEntry update;  // the box is sealed to update.update_key
    wire::BoxKind box_kind = wire::BoxKind::joiner_secret;
};

// What the author of a version-2 record chooses; randomness is passed in so
// records can be made deterministically in tests.
struct RecordDraft {
    wire::RoomId room{};
    std::uint64_t epoch = 0;
    wire::Hash previous{};
    wire::Salt salt{};
    wire::KdfParams kdf{};
    std::uint64_t created_at_ms = 0;
    std::vector<DeviceDraft> devices;  // any order; the members are the certificates' identities
    std::vector<wire::RosterOp> ops;
};

struct WrittenRecord {
    wire::EpochRecord record;
    SymmetricKey joiner;  // the author's own way into the epoch (derive_epoch)
};

// Seals to every device, sets token hash and commitment, signs with the author
// device's key. `previous_init` is the author's init secret[epoch - 1] (zero for
// the first version-2 record). nullopt if an update key does not take a box (a
// small-order point) or a member has more devices than a record holds.
[[nodiscard]] std::optional<WrittenRecord> build_record(const crypto::Identity& author_device, RecordDraft draft,
                                                        const SymmetricKey& room_secret,
                                                        const EpochSecret& epoch_secret,
                                                        const SymmetricKey& previous_init);

enum class OpenError {
    not_a_device,     // this device is not in the record
    no_update_key,    // the box is sealed to an update key this device no longer holds: ask for a rekey (sync 4)
    no_init_secret,   // a kind 1 box, but this device does not hold init secret[epoch - 1]
    bad_box,          // the box does not open, or names the wrong context: blame the author
    bad_commitment,   // the secret does not match the record's commitment: blame the author
    wrong_password,   // the epoch's token hash is not what the room secret gives (store::DeviceEpochs::adopt)
};
const char* to_string(OpenError e);

// The private half of the update key with this counter and public key, or
// nullptr if the device erased it (or never had it).
using UpdateKeyLookup = std::function<const crypto::Secret<update_key_bytes>*(std::uint64_t counter, const UpdateKey&)>;

// Finds this device's box, opens it with its update key, checks its context
// and the commitment, and returns the epoch's joiner secret. `previous_init`
// is this device's init secret[epoch - 1], nullptr if it has none.
[[nodiscard]] std::variant<SymmetricKey, OpenError> open_record(const wire::PublicKey& device,
                                                                const UpdateKeyLookup& update_keys,
                                                                const SymmetricKey* previous_init,
                                                                const wire::EpochRecord& record);

}  // namespace parley::protocol::v2
