#include "protocol/receiver.h"

#include <algorithm>

namespace parley::protocol {

namespace {

const crypto::PublicKey* roster_key(const EpochView& view, const wire::KeyId& id) {
    auto it = std::find(view.ids.begin(), view.ids.end(), id);
    return it == view.ids.end() ? nullptr : &view.roster[static_cast<std::size_t>(it - view.ids.begin())];
}

bool in_roster(const std::vector<crypto::PublicKey>& roster, const crypto::PublicKey& key) {
    return std::binary_search(roster.begin(), roster.end(), key);
}

Delivery reject(Delivery d, std::string reason) {
    d.accepted = false;
    d.reason = std::move(reason);
    return d;
}

}  // namespace

Receiver::Receiver(wire::RoomId room, crypto::PublicKey me, wire::SessionId my_session,
                   ReplayStore& store, SentByUs sent_by_us)
    : room_(room), me_(me), my_session_(my_session), store_(store), sent_by_us_(std::move(sent_by_us)) {}

void Receiver::set_stream_epoch(std::uint64_t epoch) {
    head_epoch_ = epoch;
    // Keys older than the grace epoch are no longer needed: drop them. Epochs
    // newer than the stream position stay: a catch-up reaches them.
    while (!epochs_.empty() && epochs_.begin()->first + 1 < head_epoch_) epochs_.erase(epochs_.begin());
}

void Receiver::add_epoch(EpochView view, bool advance) {
    // Hash each member's key id once, not per message.
    view.ids.clear();
    for (const auto& k : view.roster) view.ids.push_back(crypto::key_id(k));
    auto epoch = view.epoch;
    epochs_.insert_or_assign(epoch, std::move(view));
    if (advance && epoch > head_epoch_) set_stream_epoch(epoch);
}

const EpochView* Receiver::find_epoch(const wire::Envelope& env, std::string& reason) const {
    const auto& h = env.header;
    auto it = epochs_.find(h.epoch);
    if (it != epochs_.end() && it->second.record_hash != h.record_hash) {
        // Another record for an epoch we hold. If a member of that epoch really
        // signed it, the chain forked and the relay shows each side its own
        // branch; otherwise it is a forgery like any other.
        const crypto::PublicKey* signer = roster_key(it->second, h.sender);
        if (signer != nullptr && crypto::verify(*signer, env.signature, wire::envelope_signed_message(env))) {
            reason = "fork: " + std::string("a message signed under a different record for epoch ") +
                     std::to_string(h.epoch) + "; the relay may be splitting the room (compare room codes with /verify)";
        } else {
            reason = "message for an epoch record we do not hold";
        }
        return nullptr;
    }
    if (it == epochs_.end()) {
        if (h.epoch > head_epoch_) reason = "message for epoch " + std::to_string(h.epoch) + ", newer than ours";
        else if (h.epoch + 1 < head_epoch_) reason = "message for stale epoch " + std::to_string(h.epoch);
        else reason = "message for an epoch record we do not hold";
        return nullptr;
    }
    return &it->second;
}

Delivery Receiver::receive(ByteView bytes) {
    Delivery d;
    // 1. version, type
    auto decoded = wire::decode_envelope(bytes);
    if (!decoded.envelope) return reject(d, wire::to_string(decoded.error));
    const auto& env = *decoded.envelope;
    d.header = env.header;
    // The epochs a Receiver holds are version 1's (docs/PROTOCOL.md §10.4: an
    // envelope's version is its epoch's).
    if (env.header.version != 1) return reject(d, "a version 2 envelope in a version 1 epoch");
    // 2. room
    if (env.header.room != room_) return reject(d, "message for another room");
    // 3. epoch record known and pinned
    std::string reason;
    const EpochView* view = find_epoch(env, reason);
    if (view == nullptr) {
        d.stale = reason.starts_with("message for stale epoch");
        return reject(d, reason);
    }
    if (!view->message_key) {
        d.ignored = true;
        d.reason = "from epoch " + std::to_string(view->epoch) + ", before we were a member";
        return d;
    }
    // 4. sender in that record's roster; after a newer epoch, only if still a member
    const crypto::PublicKey* sender = roster_key(*view, env.header.sender);
    if (sender == nullptr) return reject(d, "sender is not in the roster of epoch " + std::to_string(view->epoch));
    if (view->epoch + 1 < head_epoch_) {
        d.stale = true;
        return reject(d, "message for stale epoch " + std::to_string(view->epoch));
    }
    if (view->epoch < head_epoch_ && !in_roster(epochs_.at(head_epoch_).roster, *sender))
        return reject(d, "sender was removed at epoch " + std::to_string(head_epoch_));
    const bool own_key = *sender == me_;
    // 5. replay pre-check (cheap, before any crypto)
    StreamKey stream{room_, env.header.record_hash, env.header.sender, env.header.session};
    auto decision = check_replay(store_.load_window(stream), env.header.counter);
    if (decision.check != ReplayCheck::fresh) d.replay = true;
    if (decision.check == ReplayCheck::replayed) return reject(d, "replayed message (counter already seen)");
    if (decision.check == ReplayCheck::too_old) return reject(d, "message too old for the replay window");
    // 6, 7. signature, then decrypt
    auto opened = open_message(env, *sender, *view->message_key);
    if (!opened.text) return reject(d, to_string(opened.error));
    if (env.header.type == wire::EnvelopeType::sync) {
        d.sync = decode_sync(*opened.text);
        if (!d.sync) return reject(d, "malformed sync envelope");
        opened.text->clear();
    }
    // 8. our own key, checked only once the signature proved it: a message we
    //    sent (this process: reflected by the relay; another of ours: shown as
    //    ours), or the alarm
    if (own_key) {
        if (!sent_by_us_(env.header.session, env.header.record_hash, env.header.counter))
            return reject(d, "signed with your key but not sent from this state folder: "
                             "your private key may be in use elsewhere (another computer or a copy of "
                             "your key file running parley at the same time?); if that is not you, the "
                             "key is stolen: remove it from the room");
        if (env.header.session == my_session_) return reject(d, "our own message reflected back by the relay");
        d.own = true;
    }
    // 9. the sender's counters under this record, over all its sessions: one
    //    skipped is a message that did not come. A sender first seen here
    //    started at 0, unless what came before may have expired unread.
    if (!own_key) {
        SenderKey key{room_, env.header.record_hash, env.header.sender};
        auto front = check_front(store_.load_front(key), env.header.counter);
        const bool may_have_expired = front.first && expired_through_ && view->epoch <= *expired_through_;
        if (!may_have_expired) d.missing_before = front.missing_before;
        if (front.updated == env.header.counter) store_.save_front(key, front.updated);
    }
    // 10. remember it; a genuine message of a newer epoch we hold moves the
    //    stream forward (its NewHead may have expired from the relay's log)
    store_.save_window(stream, decision.updated);
    d.accepted = true;
    d.sender = *sender;
    d.text = std::move(*opened.text);
    if (view->epoch > head_epoch_) set_stream_epoch(view->epoch);  // `view` is not used after this
    return d;
}

}  // namespace parley::protocol
