// The receiver: every incoming envelope goes through the checks of
// docs/PROTOCOL.md §7, in order, and comes out accepted or rejected with a
// reason. Nothing is shown as genuine unless every check passed.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/message.h"
#include "protocol/replay.h"
#include "wire/record.h"

namespace parley::protocol {

// One epoch we hold keys for.
struct EpochView {
    std::uint64_t epoch = 0;
    wire::Hash record_hash{};
    std::vector<crypto::PublicKey> roster;  // sorted
    std::shared_ptr<const crypto::SymmetricKey> message_key;
    std::vector<wire::KeyId> ids;  // key ids of `roster`, filled by Receiver::add_epoch
};

struct Delivery {
    bool accepted = false;
    std::string reason;                      // why it was rejected
    std::optional<crypto::PublicKey> sender; // set once the sender is known to be in the roster
    wire::EnvelopeHeader header{};
    std::string text;
    std::uint64_t missing_before = 0;  // gap in this sender's counter stream
    bool own = false;                  // our key, from another session of ours
};

class Receiver {
public:
    // `owns_session` tells whether a session id of our own key was started on
    // this device (another process of ours): such messages are ours, not an alarm.
    Receiver(wire::RoomId room, crypto::PublicKey me, wire::SessionId my_session, ReplayStore& store,
             std::function<bool(const wire::SessionId&)> owns_session);

    // Adds an epoch we can read and makes it the head if it is the newest.
    void add_epoch(EpochView view);
    std::uint64_t head_epoch() const { return head_epoch_; }

    [[nodiscard]] Delivery receive(ByteView envelope_bytes);

private:
    const EpochView* find_epoch(const wire::EnvelopeHeader& h, std::string& reason) const;

    wire::RoomId room_;
    crypto::PublicKey me_;
    wire::SessionId my_session_;
    ReplayStore& store_;
    std::function<bool(const wire::SessionId&)> owns_session_;
    std::map<std::uint64_t, EpochView> epochs_;
    std::uint64_t head_epoch_ = 0;
};

}  // namespace parley::protocol
