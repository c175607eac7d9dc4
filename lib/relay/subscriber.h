// What RelayState knows of a connection: somewhere to queue frames, and the
// chains it has joined. A WebSocket session in the relay, a fake in tests.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <utility>

#include "wire/bytes.h"
#include "wire/frames.h"

namespace parley::relay {

using ChainKey = std::pair<wire::RoomId, wire::Hash>;  // (room id, genesis hash)
using SharedFrame = std::shared_ptr<const Bytes>;     // one encoding, shared by all recipients

class Subscriber {
public:
    virtual ~Subscriber() = default;

    // Queues one encoded frame for this connection, in call order. Called from
    // any thread, often under a room's lock: must not block and must not call
    // back into RelayState.
    virtual void deliver(SharedFrame frame) = 0;

private:
    friend class RelayState;
    // The chains this connection is subscribed to. Lock order: room, then this.
    std::mutex memberships_mutex_;
    std::set<ChainKey> memberships_;
};

}  // namespace parley::relay
