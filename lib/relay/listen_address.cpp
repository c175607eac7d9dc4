#include "relay/listen_address.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace parley::relay {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::optional<ListenAddress> parse_listen_address(std::string_view text, std::string& error) {
    ListenAddress out;
    std::string_view port;
    if (text.starts_with('[')) {
        auto close = text.find(']');
        if (close == std::string_view::npos || text.substr(close + 1, 1) != ":") {
            error = "expected [IPV6]:PORT";
            return std::nullopt;
        }
        out.host = std::string(text.substr(1, close - 1));
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            error = "expected HOST:PORT";
            return std::nullopt;
        }
        out.host = std::string(text.substr(0, colon));
        if (out.host.find(':') != std::string::npos) {
            error = "put an IPv6 address in brackets: [::1]:PORT";
            return std::nullopt;
        }
        port = text.substr(colon + 1);
    }
    bool digits = !port.empty() && port.size() <= 5 &&
                  std::all_of(port.begin(), port.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (out.host.empty() || !digits || std::stoul(std::string(port)) > 65535) {
        error = "expected HOST:PORT with a port from 0 to 65535";
        return std::nullopt;
    }
    out.port = static_cast<std::uint16_t>(std::stoul(std::string(port)));
    return out;
}

tcp::endpoint resolve_listen_address(const ListenAddress& address) {
    boost::system::error_code ec;
    auto ip = asio::ip::make_address(address.host, ec);
    if (!ec) return {ip, address.port};
    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(address.host, std::to_string(address.port),
                                    tcp::resolver::passive, ec);
    if (ec || results.empty())
        throw std::runtime_error("cannot resolve listen address " + address.host + ": " + ec.message());
    // Prefer IPv4, so "localhost" means 127.0.0.1 as the ready line says.
    for (const auto& entry : results)
        if (entry.endpoint().address().is_v4()) return entry.endpoint();
    return results.begin()->endpoint();
}

bool is_loopback(const tcp::endpoint& endpoint) { return endpoint.address().is_loopback(); }

std::string host_port(const tcp::endpoint& endpoint) {
    auto address = endpoint.address();
    std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
    return host + ":" + std::to_string(endpoint.port());
}

std::string listen_url(const tcp::endpoint& endpoint, bool tls) {
    return (tls ? "wss://" : "ws://") + host_port(endpoint);
}

}  // namespace parley::relay
