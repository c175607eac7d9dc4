#include "relay/memory_chain_store.h"

namespace parley::relay {

const MemoryChainStore::Chain* MemoryChainStore::find(const wire::RoomId& room,
                                                      const wire::Hash& genesis) const {
    auto r = rooms_.find(room);
    if (r == rooms_.end()) return nullptr;
    auto c = r->second.chains.find(genesis);
    return c == r->second.chains.end() ? nullptr : &c->second;
}

std::vector<wire::Hash> MemoryChainStore::geneses(const wire::RoomId& room) const {
    std::lock_guard lock(mutex_);
    auto r = rooms_.find(room);
    return r == rooms_.end() ? std::vector<wire::Hash>{} : r->second.order;
}

std::optional<StoredRecord> MemoryChainStore::head(const wire::RoomId& room,
                                                   const wire::Hash& genesis) const {
    std::lock_guard lock(mutex_);
    const Chain* chain = find(room, genesis);
    if (!chain || chain->empty()) return std::nullopt;
    return chain->back();
}

std::vector<Bytes> MemoryChainStore::records(const wire::RoomId& room, const wire::Hash& genesis) const {
    std::lock_guard lock(mutex_);
    std::vector<Bytes> out;
    if (const Chain* chain = find(room, genesis))
        for (const auto& record : *chain) out.push_back(record.encoded);
    return out;
}

std::optional<wire::Hash> MemoryChainStore::chain_containing(const wire::RoomId& room,
                                                             const wire::Hash& record_hash) const {
    std::lock_guard lock(mutex_);
    auto r = rooms_.find(room);
    if (r == rooms_.end()) return std::nullopt;
    for (const auto& [genesis, chain] : r->second.chains)
        for (const auto& record : chain)
            if (record.hash == record_hash) return genesis;
    return std::nullopt;
}

std::size_t MemoryChainStore::length(const wire::RoomId& room, const wire::Hash& genesis) const {
    std::lock_guard lock(mutex_);
    const Chain* chain = find(room, genesis);
    return chain ? chain->size() : 0;
}

void MemoryChainStore::append(const wire::RoomId& room, const wire::Hash& genesis, StoredRecord record) {
    std::lock_guard lock(mutex_);
    auto& r = rooms_[room];
    auto [it, created] = r.chains.try_emplace(genesis);
    if (created) r.order.push_back(genesis);
    it->second.push_back(std::move(record));
}

}  // namespace parley::relay
