// What RelayState knows of a connection: somewhere to queue frames, and the
// chains it has joined. A WebSocket session in the relay, a fake in tests.
#pragma once

#include <string>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <utility>

#include "wire/bytes.h"
#include "wire/frames.h"

namespace parley::relay {

using ChainKey = std::pair<wire::RoomId, wire::Hash>;  // (room id, genesis hash)
using SharedFrame = std::shared_ptr<const Bytes>;     // one encoding, shared by all recipients

inline SharedFrame encode_shared(const wire::Frame& frame) {
    return std::make_shared<const Bytes>(wire::encode_frame(frame));
}

class Subscriber {
public:
    virtual ~Subscriber() = default;

    // Queues one encoded frame for this connection, in call order. Called from
    // any thread, often under a room's lock: must not block and must not call
    // back into RelayState.
    virtual void deliver(SharedFrame frame) = 0;

    // Queues several frames in order, as deliver() on each would. The fan-out
    // hands a connection a whole committed batch at once, so a session can
    // take it under one lock.
    virtual void deliver_all(std::span<const SharedFrame> frames) {
        for (const auto& frame : frames) deliver(frame);
    }

    // RelayState stopped sending `chain`'s backlog after a page so this
    // connection's queue stays bounded: call RelayState::continue_backlog
    // (not from inside this call) once the queue has drained. Same rules as
    // deliver(), whose frames it follows in order.
    virtual void backlog_paused(const ChainKey& chain) = 0;

    // What the per-address caps count (connection_set.h's AddressKey: an IPv4
    // address or an IPv6 /64). All zero for a connection without one (tests).
    virtual std::array<std::uint8_t, 16> address_key() const { return {}; }
    // The peer's address as the log names it ("192.0.2.7", "2001:db8::1").
    virtual std::string peer_name() const { return "(no address)"; }

    // Unique for the life of the process (unlike an address, never reused).
    std::uint64_t id() const { return id_; }

private:
    friend class RelayState;
    static inline std::atomic<std::uint64_t> next_id_{1};
    const std::uint64_t id_ = next_id_.fetch_add(1);
    // The chains this connection is subscribed to. Lock order: room, then this.
    std::mutex memberships_mutex_;
    std::set<ChainKey> memberships_;
};

}  // namespace parley::relay
