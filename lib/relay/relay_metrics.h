// The figures for GET /metrics (Prometheus text format 0.0.4), served on the
// metrics address (relay/metrics_listener.h). Relaxed atomics: each is only
// ever added to, and a scrape needs no consistent snapshot. The process
// figures are read from /proc/self at each scrape.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parley::relay {

// A Prometheus histogram of durations with fixed buckets: one relaxed atomic
// per bucket, so observing takes no lock. Buckets are stored per interval and
// made cumulative when rendered; the count is their sum, so it always equals
// the +Inf bucket. The sum is kept in nanoseconds.
class LatencyHistogram {
public:
    // Upper bounds in seconds, then +Inf.
    static constexpr std::array<double, 10> bounds_seconds{0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                           0.025,  0.05,  0.1,    0.25,  1};

    void observe(std::chrono::nanoseconds duration);
    // `name`_bucket{le="..."} lines, `name`_sum and `name`_count, with HELP and TYPE.
    void render(std::string& out, std::string_view name, std::string_view help) const;

private:
    std::array<std::atomic<std::uint64_t>, bounds_seconds.size() + 1> buckets_{};  // the last: +Inf
    std::atomic<std::uint64_t> sum_ns_{0};
};

// What the kernel says about this process (/proc/self), at one moment.
struct ProcessFigures {
    std::uint64_t resident_bytes = 0;
    double cpu_seconds = 0;           // user + system
    double start_time_seconds = 0;    // since the Unix epoch
    std::uint64_t open_fds = 0;
    std::uint64_t max_fds = 0;        // the soft RLIMIT_NOFILE
};

// From /proc/self/stat's text: utime, stime, starttime and rss, turned into
// seconds and bytes with the clock tick, the boot time (/proc/stat's btime,
// Unix seconds) and the page size. nullopt if the text does not parse.
[[nodiscard]] std::optional<ProcessFigures> parse_proc_stat(std::string_view stat, long ticks_per_second,
                                                            std::uint64_t boot_time_seconds,
                                                            std::uint64_t page_bytes);

// This process's figures: /proc/self/stat, /proc/stat, /proc/self/fd and
// getrlimit. nullopt where /proc cannot be read (then they are left out).
[[nodiscard]] std::optional<ProcessFigures> read_process_figures();

// Figures the relay's state knows at scrape time, beside the counters.
struct MetricsGauges {
    std::size_t connections = 0;      // open client connections
    std::size_t rooms_in_memory = 0;  // RelayState::rooms_in_memory()
    std::string_view version;         // the project version, for build_info
};

struct RelayMetrics {
    std::atomic<std::uint64_t> messages_stored{0};  // Sends committed to the log
    std::atomic<std::uint64_t> bytes_stored{0};     // their envelope bytes
    std::atomic<std::uint64_t> deliveries{0};       // Deliver/NewHead frames queued to connections
    std::atomic<std::uint64_t> bytes_delivered{0};
    std::atomic<std::uint64_t> backlog_items{0};    // of those, sent from the stored log on join
    std::atomic<std::uint64_t> items_from_other_nodes{0};  // log items other relay nodes stored, fanned out here
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
    std::atomic<std::uint64_t> frames_in{0};            // WebSocket messages read from clients
    std::atomic<std::uint64_t> frames_out{0};           // WebSocket messages written to clients
    LatencyHistogram commit_seconds;  // each group commit's transaction (group_commit.h)

    void add(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) {
        counter.fetch_add(n, std::memory_order_relaxed);
    }
    // The whole page: counters, `gauges`, the commit histogram and the
    // process figures (read now).
    std::string render(const MetricsGauges& gauges) const;
};

}  // namespace parley::relay
