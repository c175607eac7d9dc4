// --listen HOST:PORT, and whether the host is loopback (the only place plain
// ws:// is allowed without --insecure-plaintext).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parley::relay {

struct ListenAddress {
    std::string host;  // without IPv6 brackets
    std::uint16_t port = 0;  // 0 = ephemeral
};

// HOST:PORT, [IPV6]:PORT. nullopt and a user-facing `error` otherwise.
[[nodiscard]] std::optional<ListenAddress> parse_listen_address(std::string_view text, std::string& error);

// Resolves the host (an IP literal, "localhost", or a name) to the address to
// bind. Throws std::runtime_error if it does not resolve.
boost::asio::ip::tcp::endpoint resolve_listen_address(const ListenAddress& address);

// 127.0.0.0/8 or ::1 (after resolving, so "localhost" counts).
bool is_loopback(const boost::asio::ip::tcp::endpoint& endpoint);

// 127.0.0.1:PORT or [::1]:PORT, from the bound endpoint.
std::string host_port(const boost::asio::ip::tcp::endpoint& endpoint);

// ws://127.0.0.1:PORT or wss://[::1]:PORT, from the bound endpoint.
std::string listen_url(const boost::asio::ip::tcp::endpoint& endpoint, bool tls);

}  // namespace parley::relay
