// The relay's resource limits, as named defaults the command line can override
// (apps/relay/main.cpp has a flag for each one a relay operator may need).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "relay/token_bucket.h"

namespace parley::relay {

inline constexpr std::size_t default_max_frame_bytes = 256 * 1024;
inline constexpr std::size_t default_max_send_queue_bytes = 8u << 20;
inline constexpr std::size_t default_max_chains_per_connection = 64;
inline constexpr std::size_t default_max_connections = 10000;
// Counted per IPv4 address, or per IPv6 /64 (one host usually holds a whole /64).
// A small group needs a handful; a household behind one NAT, a few dozen.
inline constexpr std::size_t default_max_connections_per_address = 64;
// Frames a connection may send per second, with a burst allowance. Over it the
// relay stops reading from that connection until it is back under, so a flooder
// is slowed by TCP itself and loses nothing; everyone else is served as usual.
// A person types far less; `parley send` of a pasted file stays under it.
inline constexpr double default_messages_per_second = 200;
inline constexpr double default_message_burst = 400;
// Bytes of frames a connection may send per second, with a burst allowance: the
// frame limit alone would let one connection push 200 frames of 256 KiB, 50 MiB
// a second, into the relay's disk. Chat text is small: 4 MiB/s is far above what
// a member sends, `parley send` of a pasted file included. Over it, reading
// waits as for the frame limit; a connection overdraws by at most one frame.
inline constexpr double default_bytes_per_second = 4u << 20;
inline constexpr double default_byte_burst = 16u << 20;
// A joining connection's backlog goes out a page at a time, the next page once
// its queue has drained below backlog_resume_bytes, so a long absence never
// trips the send-queue limit.
inline constexpr std::size_t default_backlog_page_bytes = 1u << 20;
inline constexpr std::size_t default_backlog_page_items = 1024;
inline constexpr std::size_t default_backlog_resume_bytes = 256u << 10;
// From TCP accept to a complete HTTP upgrade request (TLS handshake included):
// a slowloris client is dropped when it runs out.
inline constexpr std::chrono::seconds default_handshake_timeout{10};
// No frame from the client for half of this: the relay pings; for all of it: closed.
inline constexpr std::chrono::seconds default_idle_timeout{120};
// After SIGTERM, how long sessions get to finish their close handshakes.
inline constexpr std::chrono::seconds shutdown_grace{3};

struct RelayLimits {
    // One WebSocket message; a larger one fails the read and closes that connection.
    std::size_t max_frame_bytes = default_max_frame_bytes;
    // Bytes waiting to go out to one connection; a slow consumer over it is cut.
    std::size_t max_send_queue_bytes = default_max_send_queue_bytes;
    // (room, genesis) subscriptions one connection may hold.
    std::size_t max_chains_per_connection = default_max_chains_per_connection;
    std::size_t max_connections = default_max_connections;
    std::size_t max_connections_per_address = default_max_connections_per_address;
    // 0 = no limit.
    double messages_per_second = default_messages_per_second;
    double message_burst = default_message_burst;
    double bytes_per_second = default_bytes_per_second;
    double byte_burst = default_byte_burst;
    std::size_t backlog_page_bytes = default_backlog_page_bytes;
    std::size_t backlog_page_items = default_backlog_page_items;
    std::size_t backlog_resume_bytes = default_backlog_resume_bytes;
    // Records in one Chain page (at least one record whatever its size).
    std::size_t chain_page_bytes = 1u << 20;
    std::chrono::seconds handshake_timeout = default_handshake_timeout;
    std::chrono::seconds idle_timeout = default_idle_timeout;

    // A backlog page, with what is still queued when it goes out, has to fit
    // under the send-queue cap, or a member coming back would be cut on every
    // page (a page holds at least one item, at most max_frame_bytes).
    void fit_backlog_to_send_queue() {
        backlog_page_bytes = std::min(backlog_page_bytes, max_send_queue_bytes / 4);
        backlog_resume_bytes = std::min(backlog_resume_bytes, max_send_queue_bytes / 4);
        chain_page_bytes = std::min(chain_page_bytes, max_send_queue_bytes / 4);  // a Chain page likewise
    }
};

// The read limits as token-bucket rates, made once for all connections.
struct ReadRates {
    explicit ReadRates(const RelayLimits& limits)
        : frames(limits.messages_per_second, limits.message_burst),
          bytes(limits.bytes_per_second, limits.byte_burst) {}
    TokenBucket::Rate frames;
    TokenBucket::Rate bytes;
};

// The limits in force, replaced whole by a reload (SIGHUP). Any thread may
// take a snapshot; a connection keeps one and takes a new one when the
// generation has moved, so what a frame pays is one relaxed atomic load.
class LiveLimits {
public:
    struct Snapshot {
        explicit Snapshot(const RelayLimits& l) : limits(l), rates(l) {}
        RelayLimits limits;
        ReadRates rates;
    };

    explicit LiveLimits(const RelayLimits& limits) : current_(std::make_shared<const Snapshot>(limits)) {}

    std::shared_ptr<const Snapshot> get() const {
        std::lock_guard lock(mutex_);
        return current_;
    }
    std::uint64_t generation() const { return generation_.load(std::memory_order_relaxed); }
    void set(const RelayLimits& limits) {
        auto fresh = std::make_shared<const Snapshot>(limits);
        std::lock_guard lock(mutex_);
        current_ = std::move(fresh);
        generation_.fetch_add(1, std::memory_order_relaxed);
    }

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const Snapshot> current_;
    std::atomic<std::uint64_t> generation_{0};
};

}  // namespace parley::relay
