// ws:// and wss:// URLs for the relay's address.
#include <algorithm>
#include <cctype>

#include "net/client.h"

namespace parley::net {

std::optional<Endpoint> parse_url(std::string_view url, std::string& error) {
    Endpoint ep;
    constexpr std::string_view ws = "ws://";
    constexpr std::string_view wss = "wss://";
    if (url.starts_with(wss)) {
        ep.tls = true;
        url.remove_prefix(wss.size());
    } else if (url.starts_with(ws)) {
        url.remove_prefix(ws.size());
    } else {
        error = "relay address must start with ws:// or wss://";
        return std::nullopt;
    }
    // Split authority and path.
    auto slash = url.find('/');
    std::string_view authority = url.substr(0, slash);
    if (slash != std::string_view::npos) ep.target = std::string(url.substr(slash));

    std::string_view port;
    if (authority.starts_with('[')) {
        auto close = authority.find(']');
        if (close == std::string_view::npos) {
            error = "missing ']' after IPv6 address";
            return std::nullopt;
        }
        ep.host = std::string(authority.substr(1, close - 1));
        auto after = authority.substr(close + 1);
        if (!after.starts_with(':')) {
            error = "missing port (ws://host:port)";
            return std::nullopt;
        }
        port = after.substr(1);
    } else {
        auto colon = authority.rfind(':');
        if (colon == std::string_view::npos) {
            error = "missing port (ws://host:port)";
            return std::nullopt;
        }
        ep.host = std::string(authority.substr(0, colon));
        if (ep.host.find(':') != std::string::npos) {
            error = "an IPv6 address must be in [brackets]";
            return std::nullopt;
        }
        port = authority.substr(colon + 1);
    }
    if (ep.host.empty()) {
        error = "missing host";
        return std::nullopt;
    }
    bool digits = !port.empty() && port.size() <= 5 &&
                  std::all_of(port.begin(), port.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (!digits || std::stoul(std::string(port)) > 65535 || std::stoul(std::string(port)) == 0) {
        error = "invalid port '" + std::string(port) + "'";
        return std::nullopt;
    }
    ep.port = std::string(port);
    return ep;
}

std::string to_url(const Endpoint& ep) {
    std::string host = ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host;
    return (ep.tls ? "wss://" : "ws://") + host + ":" + ep.port + ep.target;
}

}  // namespace parley::net
