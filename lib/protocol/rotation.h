// When version 2 rotates, and who writes the next epoch (docs/PROTOCOL.md §10.3
// "When"). Pure functions of what every member sees alike (the record hash, the
// roster, the times and counts of the room's messages), so members agree on the
// rotator without talking, and rotations do not fight: the relay's
// compare-and-set on the head keeps one winner if two write at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "wire/record.h"

namespace parley::protocol::v2 {

// An epoch falls due after this many messages in the room, or this long after
// it began, and at once when a roster or device change waits.
inline constexpr std::uint64_t epoch_max_messages = 1000;
inline constexpr std::chrono::milliseconds epoch_max_age = std::chrono::hours(24);
// A device makes a new update key after this many messages of its own, or this
// long after its last one, and whenever it writes an epoch.
inline constexpr std::uint64_t update_key_max_messages = 1000;
inline constexpr std::chrono::milliseconds update_key_max_age = std::chrono::hours(24);
// How long the next member in rotator_order waits for the one before it.
inline constexpr std::chrono::milliseconds rotator_patience = std::chrono::minutes(10);

// The roster members in the order they write the epoch after the one whose
// record hash is `record`: lowest BLAKE2b-256("parley/v2/rotator" || record ||
// key) first. The same set in any order gives the same answer.
[[nodiscard]] std::vector<wire::PublicKey> rotator_order(const wire::Hash& record,
                                                         std::vector<wire::PublicKey> members);

// What a member has seen of the current epoch (times in ms since the Unix
// epoch, from the envelopes' and the record's own timestamps).
struct EpochActivity {
    std::uint64_t started_ms = 0;                   // the record's created_at
    std::uint64_t messages = 0;                     // envelopes in the epoch so far (any device, any type)
    std::optional<std::uint64_t> max_messages_at;   // the time of the epoch_max_messages-th one
    std::optional<std::uint64_t> change_waiting_since;  // a roster or device change asked for then
    // The count that makes the epoch due: epoch_max_messages, or fewer where the
    // members chose faster rotation (parley chat/listen --rotate-after).
    std::uint64_t max_messages = epoch_max_messages;

    // One more envelope of the epoch, timestamped `at_ms`.
    void note_message(std::uint64_t at_ms) {
        if (++messages == max_messages) max_messages_at = at_ms;
    }
};

// When the next epoch fell due (or falls due, if that is later than now).
[[nodiscard]] std::uint64_t epoch_due_at(const EpochActivity& activity);

// Whether `me` writes the next epoch at `now_ms`: the rotator once it fell
// due, and the k-th in rotator_order once k patience periods passed without
// one. Several may then write; the relay keeps one.
[[nodiscard]] bool should_write_epoch(const wire::Hash& record, const std::vector<wire::PublicKey>& members,
                                      const wire::PublicKey& me, const EpochActivity& activity,
                                      std::uint64_t now_ms);

// Whether a device makes a new update key now (besides when it writes an epoch).
[[nodiscard]] bool update_key_due(std::uint64_t messages_since_last, std::uint64_t last_rotation_ms,
                                  std::uint64_t now_ms);

}  // namespace parley::protocol::v2
