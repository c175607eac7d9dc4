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
                   ReplayStore& store, std::function<bool(const wire::SessionId&)> owns_session)
    : room_(room), me_(me), my_session_(my_session), store_(store), owns_session_(std::move(owns_session)) {}

void Receiver::add_epoch(EpochView view) {
    head_epoch_ = std::max(head_epoch_, view.epoch);
    // Hash each member's key id once, not per message.
    view.ids.clear();
    for (const auto& k : view.roster) view.ids.push_back(crypto::key_id(k));
    auto epoch = view.epoch;
    epochs_.insert_or_assign(epoch, std::move(view));
}

const EpochView* Receiver::find_epoch(const wire::EnvelopeHeader& h, std::string& reason) const {
    auto it = epochs_.find(h.epoch);
    if (it == epochs_.end() || it->second.record_hash != h.record_hash) {
        reason = h.epoch > head_epoch_ ? "message for epoch " + std::to_string(h.epoch) + ", newer than ours"
                                       : "message for an epoch record we do not hold";
        return nullptr;
    }
    if (h.epoch + 1 < head_epoch_) {
        reason = "message for stale epoch " + std::to_string(h.epoch);
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
    // 2. room
    if (env.header.room != room_) return reject(d, "message for another room");
    // 3. epoch record known and pinned
    std::string reason;
    const EpochView* view = find_epoch(env.header, reason);
    if (view == nullptr) return reject(d, reason);
    // 4. sender in that record's roster; after a newer epoch, only if still a member
    const crypto::PublicKey* sender = roster_key(*view, env.header.sender);
    if (sender == nullptr) return reject(d, "sender is not in the roster of epoch " + std::to_string(view->epoch));
    if (view->epoch < head_epoch_ && !in_roster(epochs_.at(head_epoch_).roster, *sender))
        return reject(d, "sender was removed at epoch " + std::to_string(head_epoch_));
    // 5. our own session: the relay reflected our message (harmless either way)
    const bool own_key = *sender == me_;
    if (own_key && env.header.session == my_session_)
        return reject(d, "our own message reflected back by the relay");
    // 6. replay pre-check (cheap, before any crypto)
    StreamKey stream{room_, env.header.record_hash, env.header.sender, env.header.session};
    auto decision = check_replay(store_.load_window(stream), env.header.counter);
    if (decision.check == ReplayCheck::replayed) return reject(d, "replayed message (counter already seen)");
    if (decision.check == ReplayCheck::too_old) return reject(d, "message too old for the replay window");
    // 7. signature, then decrypt
    auto opened = open_message(env, *sender, *view->message_key);
    if (!opened.text) return reject(d, to_string(opened.error));
    // 8. only a message that really is signed by our key may raise the alarm
    if (own_key) {
        if (!owns_session_(env.header.session))
            return reject(d, "signed with your key from a session this device did not start: "
                             "your private key may be in use elsewhere");
        d.own = true;
    }
    // 9. remember it
    store_.save_window(stream, decision.updated);
    d.accepted = true;
    d.sender = *sender;
    d.text = std::move(*opened.text);
    d.missing_before = decision.missing_before;
    return d;
}

}  // namespace parley::protocol
