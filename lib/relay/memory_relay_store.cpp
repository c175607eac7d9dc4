#include "relay/memory_relay_store.h"

#include <algorithm>

namespace parley::relay {

Clock system_clock_ms() {
    return [] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    };
}

const MemoryRelayStore::Chain* MemoryRelayStore::find(const wire::RoomId& room,
                                                      const wire::Hash& genesis) const {
    auto r = rooms_.find(room);
    if (r == rooms_.end()) return nullptr;
    auto c = r->second.chains.find(genesis);
    return c == r->second.chains.end() ? nullptr : &c->second;
}

void MemoryRelayStore::check_failure() {
    if (fail_next_) {
        fail_next_ = false;
        throw StorageError("injected storage failure");
    }
}

std::vector<wire::Hash> MemoryRelayStore::geneses(const wire::RoomId& room) const {
    std::lock_guard lock(mutex_);
    auto r = rooms_.find(room);
    return r == rooms_.end() ? std::vector<wire::Hash>{} : r->second.order;
}

std::optional<StoredRecord> MemoryRelayStore::head(const wire::RoomId& room,
                                                   const wire::Hash& genesis) const {
    std::lock_guard lock(mutex_);
    const Chain* chain = find(room, genesis);
    if (!chain || chain->empty()) return std::nullopt;
    return chain->back();
}

std::vector<Bytes> MemoryRelayStore::records(const wire::RoomId& room, const wire::Hash& genesis) const {
    std::lock_guard lock(mutex_);
    std::vector<Bytes> out;
    if (const Chain* chain = find(room, genesis))
        for (const auto& record : *chain) out.push_back(record.encoded);
    return out;
}

std::optional<wire::Hash> MemoryRelayStore::chain_containing(const wire::RoomId& room,
                                                             const wire::Hash& record_hash) const {
    std::lock_guard lock(mutex_);
    auto r = rooms_.find(room);
    if (r == rooms_.end()) return std::nullopt;
    for (const auto& [genesis, chain] : r->second.chains)
        for (const auto& record : chain)
            if (record.hash == record_hash) return genesis;
    return std::nullopt;
}

std::size_t MemoryRelayStore::length(const wire::RoomId& room, const wire::Hash& genesis) const {
    std::lock_guard lock(mutex_);
    const Chain* chain = find(room, genesis);
    return chain ? chain->size() : 0;
}

std::vector<Bytes> MemoryRelayStore::records_after(const wire::RoomId& room, const wire::Hash& genesis,
                                                  std::optional<std::uint64_t> after_epoch,
                                                  std::size_t max_items, std::size_t max_bytes) const {
    std::lock_guard lock(mutex_);
    std::vector<Bytes> out;
    const Chain* chain = find(room, genesis);
    if (!chain) return out;
    std::size_t bytes = 0;
    for (const auto& record : *chain) {
        if (after_epoch && record.epoch <= *after_epoch) continue;
        if (out.size() >= max_items || bytes >= max_bytes) break;
        bytes += record.encoded.size();
        out.push_back(record.encoded);
    }
    return out;
}

std::optional<std::uint64_t> MemoryRelayStore::epoch_of(const wire::RoomId& room, const wire::Hash& genesis,
                                                        const wire::Hash& record_hash) const {
    std::lock_guard lock(mutex_);
    if (const Chain* chain = find(room, genesis))
        for (const auto& record : *chain)
            if (record.hash == record_hash) return record.epoch;
    return std::nullopt;
}

std::uint64_t MemoryRelayStore::stored_bytes(const wire::RoomId& room, const wire::Hash& genesis) const {
    std::lock_guard lock(mutex_);
    std::uint64_t bytes = 0;
    if (const Chain* chain = find(room, genesis))
        for (const auto& record : *chain) bytes += record.encoded.size();
    if (auto it = logs_.find({room, genesis}); it != logs_.end())
        for (const auto& timed : it->second.items) bytes += timed.item.payload.size();
    return bytes;
}

std::uint64_t MemoryRelayStore::total_stored_bytes() const {
    std::uint64_t bytes = 0;
    std::vector<ChainKey> keys;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [room, r] : rooms_)
            for (const auto& g : r.order) keys.emplace_back(room, g);
    }
    for (const auto& [room, genesis] : keys) bytes += stored_bytes(room, genesis);
    return bytes;
}

std::uint64_t MemoryRelayStore::append(const wire::RoomId& room, const wire::Hash& genesis,
                                       StoredRecord record) {
    std::lock_guard lock(mutex_);
    check_failure();
    std::uint64_t seq = 0;
    if (record.epoch > 0) {
        auto& log = logs_[{room, genesis}];
        seq = ++log.last_seq;
        log.items.push_back({{seq, LogKind::new_head, record.encoded}, clock_()});
    }
    auto& r = rooms_[room];
    auto [it, created] = r.chains.try_emplace(genesis);
    if (created) r.order.push_back(genesis);
    it->second.push_back(std::move(record));
    return seq;
}

std::vector<std::uint64_t> MemoryRelayStore::append(const std::vector<LogAppend>& items) {
    std::lock_guard lock(mutex_);
    check_failure();
    std::vector<std::uint64_t> seqs;
    const std::int64_t now = clock_();
    for (const auto& item : items) {
        auto& log = logs_[item.chain];
        seqs.push_back(++log.last_seq);
        log.items.push_back({{log.last_seq, item.kind, item.payload}, now});
    }
    return seqs;
}

std::vector<LogItem> MemoryRelayStore::read(const ChainKey& chain, std::uint64_t after_seq,
                                            std::uint64_t up_to_seq, std::size_t max_items,
                                            std::size_t max_bytes) const {
    std::lock_guard lock(mutex_);
    std::vector<LogItem> out;
    auto it = logs_.find(chain);
    if (it == logs_.end()) return out;
    std::size_t bytes = 0;
    for (const auto& [item, stored_at] : it->second.items) {
        if (item.seq <= after_seq) continue;
        if (item.seq > up_to_seq || out.size() >= max_items || bytes >= max_bytes) break;
        bytes += item.payload.size();
        out.push_back(item);
    }
    return out;
}

LogRange MemoryRelayStore::range(const ChainKey& chain) const {
    std::lock_guard lock(mutex_);
    auto it = logs_.find(chain);
    if (it == logs_.end()) return {};
    const auto& log = it->second;
    return {log.items.empty() ? log.last_seq + 1 : log.items.front().item.seq, log.last_seq};
}

std::size_t MemoryRelayStore::prune(const RetentionPolicy& policy) {
    std::lock_guard lock(mutex_);
    const std::int64_t cutoff = clock_() - policy.max_age.count();
    std::size_t removed = 0;
    for (auto& [chain, log] : logs_) {
        while (!log.items.empty() &&
               (log.items.size() > policy.max_items || log.items.front().stored_at_ms < cutoff)) {
            log.items.pop_front();
            ++removed;
        }
    }
    return removed;
}

}  // namespace parley::relay
