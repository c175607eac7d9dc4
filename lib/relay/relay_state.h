// The relay's shared state (after Beast's chat-multi `shared_state`): the chain
// book, and per room the subscribers and message sequence numbers of each chain.
// Sessions hand it every frame they read; it answers through Subscriber::deliver.
//
// Each room has a mutex. Publish (compare-and-set on the head, then NewHead and
// unsubscribe), join (token check, then subscribe) and send (sequence number,
// then fan-out) each run entirely under it, so a join can never land between a
// new head and the unsubscribe, and every member sees a chain's messages in
// sequence order.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "relay/chain_book.h"
#include "relay/chain_store.h"
#include "relay/relay_limits.h"
#include "relay/subscriber.h"
#include "wire/frames.h"

namespace parley::relay {

class RelayState {
public:
    RelayState(std::unique_ptr<ChainStore> store, RelayLimits limits);

    // Handles one frame read from `from`'s connection. Every request gets
    // exactly one reply (success or wire::Error) through from.deliver();
    // undecodable frames and relay->client frame types get Error{0, malformed}
    // (bad_version for an unknown version byte).
    void handle(Subscriber& from, ByteView frame);

    // Unsubscribes `s` from every chain. Sessions call it from their destructor.
    void leave_all(Subscriber& s);

private:
    struct ChainChannel {
        std::set<Subscriber*> members;
        std::uint64_t next_seq = 1;
    };
    struct Room {
        std::mutex mutex;
        std::map<wire::Hash, ChainChannel> channels;  // by genesis hash
    };

    void on_get_chain(Subscriber& from, const wire::GetChain& f);
    void on_publish(Subscriber& from, const wire::Publish& f);
    void on_join(Subscriber& from, const wire::Join& f);
    void on_send(Subscriber& from, const wire::Send& f);

    Room* find_room(const wire::RoomId& room);
    Room& room(const wire::RoomId& room);  // creates it

    std::unique_ptr<ChainStore> store_;
    ChainBook book_;
    RelayLimits limits_;
    std::mutex rooms_mutex_;  // guards the map only; rooms are never removed
    std::map<wire::RoomId, std::unique_ptr<Room>> rooms_;
};

}  // namespace parley::relay
