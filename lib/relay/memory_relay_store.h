// RelayStore in memory: the reference implementation for tests. Everything is
// lost when the process ends; the relay itself uses SqliteRelayStore.
#pragma once

#include <deque>
#include <map>
#include <mutex>

#include "relay/relay_store.h"

namespace parley::relay {

class MemoryRelayStore final : public RelayStore {
public:
    explicit MemoryRelayStore(Clock clock = system_clock_ms()) : clock_(std::move(clock)) {}

    // ChainStore
    std::vector<wire::Hash> geneses(const wire::RoomId& room) const override;
    std::optional<StoredRecord> head(const wire::RoomId& room, const wire::Hash& genesis) const override;
    std::vector<Bytes> records(const wire::RoomId& room, const wire::Hash& genesis) const override;
    std::optional<wire::Hash> chain_containing(const wire::RoomId& room,
                                               const wire::Hash& record_hash) const override;
    std::size_t length(const wire::RoomId& room, const wire::Hash& genesis) const override;
    std::vector<Bytes> records_after(const wire::RoomId& room, const wire::Hash& genesis,
                                     std::optional<std::uint64_t> after_epoch, std::size_t max_items,
                                     std::size_t max_bytes) const override;
    std::optional<std::uint64_t> epoch_of(const wire::RoomId& room, const wire::Hash& genesis,
                                          const wire::Hash& record_hash) const override;
    std::uint64_t stored_bytes(const wire::RoomId& room, const wire::Hash& genesis) const override;
    std::uint64_t total_stored_bytes() const override;
    std::uint64_t append(const wire::RoomId& room, const wire::Hash& genesis, StoredRecord record) override;

    // MessageLog
    std::vector<std::uint64_t> append(const std::vector<LogAppend>& items) override;
    std::vector<LogItem> read(const ChainKey& chain, std::uint64_t after_seq, std::uint64_t up_to_seq,
                              std::size_t max_items, std::size_t max_bytes) const override;
    LogRange range(const ChainKey& chain) const override;
    std::size_t prune(const RetentionPolicy& policy) override;

    // Tests: the next append of either kind fails with StorageError.
    void fail_next_append() { fail_next_ = true; }

private:
    using Chain = std::vector<StoredRecord>;
    struct RoomChains {
        std::vector<wire::Hash> order;  // geneses, oldest first
        std::map<wire::Hash, Chain> chains;
    };
    struct TimedItem {
        LogItem item;
        std::int64_t stored_at_ms = 0;
    };
    struct ChainLog {
        std::deque<TimedItem> items;
        std::uint64_t last_seq = 0;
    };
    const Chain* find(const wire::RoomId& room, const wire::Hash& genesis) const;
    void check_failure();

    Clock clock_;
    // One lock for everything; calls are short (no crypto under it).
    mutable std::mutex mutex_;
    std::map<wire::RoomId, RoomChains> rooms_;
    std::map<ChainKey, ChainLog> logs_;
    bool fail_next_ = false;
};

}  // namespace parley::relay
