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

// One epoch of the chain: its roster, and its message key if we were a member.
struct EpochView {
    std::uint64_t epoch = 0;
    wire::Hash record_hash{};
    std::vector<crypto::PublicKey> roster;  // sorted
    std::shared_ptr<const crypto::SymmetricKey> message_key;  // null: not ours to read
    std::vector<wire::KeyId> ids;  // key ids of `roster`, filled by Receiver::add_epoch
};

struct Delivery {
    bool accepted = false;
    std::string reason;                      // why it was rejected
    std::optional<crypto::PublicKey> sender; // set once the sender is known to be in the roster
    wire::EnvelopeHeader header{};
    std::string text;                  // a text's message (empty for a sync)
    std::optional<SyncNote> sync;      // set for a sync: accepted, never shown
    // Counters of this sender under this record that never came before this
    // one (§7 step 9): messages withheld or lost.
    std::uint64_t missing_before = 0;
    bool own = false;                  // our key, from another session of ours
    // Not rejected, not shown: a message of an epoch from before we were a
    // member (a catch-up backlog holds them).
    bool ignored = false;
    // Rejected as already seen (a replay, or older than the replay window), or
    // as of a stale epoch: what a relay whose log went back sends again.
    bool replay = false;
    bool stale = false;
};

class Receiver {
public:
    // Whether this device (this process or another of ours) took that
    // counter under that record for that session. A message signed by our
    // key is ours only then: anything else raises the alarm that our key is in
    // use elsewhere.
    using SentByUs = std::function<bool(const wire::SessionId&, const wire::Hash& record, std::uint64_t counter)>;
    Receiver(wire::RoomId room, crypto::PublicKey me, wire::SessionId my_session, ReplayStore& store,
             SentByUs sent_by_us);

    // Adds an epoch; with `advance`, moves the stream position to it if it is
    // the newest (a live NewHead). A client catching up adds every epoch
    // without advancing.
    void add_epoch(EpochView view, bool advance = true);
    // Where the relay's stream stands: the epoch of the newest record it
    // showed us. Messages of older epochs are accepted only from members still
    // in this epoch's roster, and only one epoch back; a client catching up
    // sets it back to where it left off and moves it with each NewHead.
    void set_stream_epoch(std::uint64_t epoch);
    std::uint64_t head_epoch() const { return head_epoch_; }
    // Items of epochs up to `epoch` expired on the relay before this device
    // read them: the first counter seen from a sender there is not a gap.
    void set_expired_through(std::optional<std::uint64_t> epoch) { expired_through_ = epoch; }

    [[nodiscard]] Delivery receive(ByteView envelope_bytes);

private:
    const EpochView* find_epoch(const wire::Envelope& env, std::string& reason) const;

    wire::RoomId room_;
    crypto::PublicKey me_;
    wire::SessionId my_session_;
    ReplayStore& store_;
    SentByUs sent_by_us_;
    std::optional<std::uint64_t> expired_through_;
    std::map<std::uint64_t, EpochView> epochs_;
    std::uint64_t head_epoch_ = 0;
};

}  // namespace parley::protocol
