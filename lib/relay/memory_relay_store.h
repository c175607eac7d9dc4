// ChainStore in memory: the reference implementation, and the relay's store
// until chains move to SQLite. Everything is lost when the relay stops.
#pragma once

#include <map>
#include <mutex>

#include "relay/chain_store.h"

namespace parley::relay {

class MemoryChainStore final : public ChainStore {
public:
    std::vector<wire::Hash> geneses(const wire::RoomId& room) const override;
    std::optional<StoredRecord> head(const wire::RoomId& room, const wire::Hash& genesis) const override;
    std::vector<Bytes> records(const wire::RoomId& room, const wire::Hash& genesis) const override;
    std::optional<wire::Hash> chain_containing(const wire::RoomId& room,
                                               const wire::Hash& record_hash) const override;
    std::size_t length(const wire::RoomId& room, const wire::Hash& genesis) const override;
    void append(const wire::RoomId& room, const wire::Hash& genesis, StoredRecord record) override;

private:
    using Chain = std::vector<StoredRecord>;
    struct RoomChains {
        std::vector<wire::Hash> order;  // geneses, oldest first
        std::map<wire::Hash, Chain> chains;
    };
    const Chain* find(const wire::RoomId& room, const wire::Hash& genesis) const;

    // One lock for the map; calls are short (no crypto under it).
    mutable std::mutex mutex_;
    std::map<wire::RoomId, RoomChains> rooms_;
};

}  // namespace parley::relay
