#include "relay/relay_state.h"

#include <type_traits>
#include <vector>

namespace parley::relay {
namespace {

using wire::RelayError;

SharedFrame encode(const wire::Frame& frame) {
    return std::make_shared<const Bytes>(wire::encode_frame(frame));
}

void reply_error(Subscriber& to, std::uint64_t request_id, RelayError code) {
    to.deliver(encode(wire::Error{request_id, code}));
}

}  // namespace

RelayState::RelayState(std::unique_ptr<ChainStore> store, RelayLimits limits)
    : store_(std::move(store)), book_(*store_), limits_(limits) {}

RelayState::Room* RelayState::find_room(const wire::RoomId& id) {
    std::lock_guard lock(rooms_mutex_);
    auto it = rooms_.find(id);
    return it == rooms_.end() ? nullptr : it->second.get();
}

RelayState::Room& RelayState::room(const wire::RoomId& id) {
    std::lock_guard lock(rooms_mutex_);
    auto& slot = rooms_[id];
    if (!slot) slot = std::make_unique<Room>();
    return *slot;
}

void RelayState::handle(Subscriber& from, ByteView bytes) {
    auto decoded = wire::decode_frame(bytes);
    if (!decoded.frame) {
        reply_error(from, 0, decoded.error == wire::FrameError::bad_version ? RelayError::bad_version
                                                                             : RelayError::malformed);
        return;
    }
    std::visit(
        [&](const auto& f) {
            using T = std::decay_t<decltype(f)>;
            if constexpr (std::is_same_v<T, wire::GetChain>) on_get_chain(from, f);
            else if constexpr (std::is_same_v<T, wire::Publish>) on_publish(from, f);
            else if constexpr (std::is_same_v<T, wire::Join>) on_join(from, f);
            else if constexpr (std::is_same_v<T, wire::Send>) on_send(from, f);
            else reply_error(from, 0, RelayError::malformed);  // a relay->client type
        },
        *decoded.frame);
}

void RelayState::on_get_chain(Subscriber& from, const wire::GetChain& f) {
    wire::Chain reply{f.room, {}};
    if (Room* r = find_room(f.room)) {
        std::lock_guard lock(r->mutex);
        reply.chains = book_.chains(f.room, f.genesis);
    }
    from.deliver(encode(reply));
}

void RelayState::on_publish(Subscriber& from, const wire::Publish& f) {
    // Decode and verify the signature before taking any lock or making a room.
    auto verified = verify_published_record(f.room, f.record);
    if (!verified) return reply_error(from, f.request_id, RelayError::bad_record);

    Room& r = room(f.room);
    std::lock_guard lock(r.mutex);
    auto outcome = book_.publish(f.room, f.token, *verified);
    if (outcome.error) return reply_error(from, f.request_id, *outcome.error);
    from.deliver(encode(wire::Published{f.request_id, outcome.record_hash}));
    if (!outcome.appended) return;

    // A new head: tell the chain's members, then make them join again with the
    // new epoch's token (removed members cannot).
    auto it = r.channels.find(outcome.genesis);
    if (it == r.channels.end()) return;
    auto new_head = encode(wire::NewHead{f.room, outcome.genesis, 0, verified->encoded});
    const ChainKey key{f.room, outcome.genesis};
    for (Subscriber* member : it->second.members) {
        member->deliver(new_head);
        std::lock_guard member_lock(member->memberships_mutex_);
        member->memberships_.erase(key);
    }
    it->second.members.clear();
}

void RelayState::on_join(Subscriber& from, const wire::Join& f) {
    Room* r = find_room(f.room);
    if (!r) return reply_error(from, f.request_id, RelayError::unknown_chain);
    std::lock_guard lock(r->mutex);
    auto outcome = book_.check_join(f.room, f.genesis, f.token);
    if (outcome.error) return reply_error(from, f.request_id, *outcome.error);
    {
        std::lock_guard member_lock(from.memberships_mutex_);
        const ChainKey key{f.room, f.genesis};
        if (!from.memberships_.contains(key)) {
            if (from.memberships_.size() >= limits_.max_chains_per_connection)
                return reply_error(from, f.request_id, RelayError::limit);
            from.memberships_.insert(key);
        }
    }
    r->channels[f.genesis].members.insert(&from);
    from.deliver(encode(wire::Joined{f.request_id, outcome.head_epoch, outcome.head_hash, 0, 1}));
}

void RelayState::on_send(Subscriber& from, const wire::Send& f) {
    Room* r = find_room(f.room);
    if (!r) return reply_error(from, f.request_id, RelayError::not_joined);
    std::lock_guard lock(r->mutex);
    auto it = r->channels.find(f.genesis);
    if (it == r->channels.end() || !it->second.members.contains(&from))
        return reply_error(from, f.request_id, RelayError::not_joined);
    auto& channel = it->second;
    const std::uint64_t seq = channel.next_seq++;
    from.deliver(encode(wire::Ack{f.request_id, seq}));
    // One encoding for every recipient; the sender already has its message.
    auto deliver = encode(wire::Deliver{f.room, f.genesis, seq, f.envelope});
    for (Subscriber* member : channel.members)
        if (member != &from) member->deliver(deliver);
}

void RelayState::leave_all(Subscriber& s) {
    std::vector<ChainKey> keys;
    {
        std::lock_guard lock(s.memberships_mutex_);
        keys.assign(s.memberships_.begin(), s.memberships_.end());
    }
    for (const auto& [room_id, genesis] : keys) {
        Room* r = find_room(room_id);
        if (!r) continue;
        std::lock_guard lock(r->mutex);
        if (auto it = r->channels.find(genesis); it != r->channels.end()) it->second.members.erase(&s);
        std::lock_guard member_lock(s.memberships_mutex_);
        s.memberships_.erase({room_id, genesis});
    }
}

}  // namespace parley::relay
