// Counters for GET /metrics (Prometheus text format 0.0.4). Relaxed atomics:
// each is only ever added to, and a scrape needs no consistent snapshot.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace parley::relay {

struct RelayMetrics {
    std::atomic<std::uint64_t> messages_stored{0};  // Sends committed to the log
    std::atomic<std::uint64_t> bytes_stored{0};     // their envelope bytes
    std::atomic<std::uint64_t> deliveries{0};       // Deliver/NewHead frames queued to connections
    std::atomic<std::uint64_t> bytes_delivered{0};
    std::atomic<std::uint64_t> backlog_items{0};    // of those, sent from the stored log on join
    std::atomic<std::uint64_t> commit_batches{0};
    std::atomic<std::uint64_t> resends_already_stored{0};  // Resends answered with a stored copy's Ack
    std::atomic<std::uint64_t> storage_errors{0};   // failed commits and reads
    std::atomic<std::uint64_t> pruned_items{0};
    std::atomic<std::uint64_t> refused_connections{0};  // over the total or per-address cap
    std::atomic<std::uint64_t> throttled_reads{0};      // reads paused by the rate limit
    std::atomic<std::uint64_t> slow_consumers_cut{0};   // connections cut at the send-queue cap
    std::atomic<std::uint64_t> rooms_created{0};        // geneses accepted
    std::atomic<std::uint64_t> founder_refusals{0};     // geneses by a key not in --founders
    std::atomic<std::uint64_t> quota_refusals{0};       // requests refused by a storage or room quota
    std::atomic<std::uint64_t> chain_pages{0};          // Chain pages sent

    void add(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) {
        counter.fetch_add(n, std::memory_order_relaxed);
    }
    std::string render(std::size_t connections) const;
};

}  // namespace parley::relay
