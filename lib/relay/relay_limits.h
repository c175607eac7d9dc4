// The relay's resource limits, as named defaults the command line can override.
#pragma once

#include <chrono>
#include <cstddef>

namespace parley::relay {

inline constexpr std::size_t default_max_frame_bytes = 256 * 1024;
inline constexpr std::size_t default_max_send_queue_bytes = 8u << 20;
inline constexpr std::size_t default_max_chains_per_connection = 64;
inline constexpr std::size_t default_max_connections = 10000;
// A joining connection's backlog goes out a page at a time, the next page once
// its queue has drained below backlog_resume_bytes, so a long absence never
// trips the send-queue limit.
inline constexpr std::size_t default_backlog_page_bytes = 1u << 20;
inline constexpr std::size_t default_backlog_page_items = 1024;
inline constexpr std::size_t backlog_resume_bytes = 256u << 10;
inline constexpr std::chrono::seconds default_tls_handshake_timeout{30};
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
    std::size_t backlog_page_bytes = default_backlog_page_bytes;
    std::size_t backlog_page_items = default_backlog_page_items;
    std::chrono::seconds tls_handshake_timeout = default_tls_handshake_timeout;
};

}  // namespace parley::relay
