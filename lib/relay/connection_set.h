// The relay's open connections: enforces the connection caps (in total and per
// address) and lets shutdown close every session.
#pragma once

#include <array>
#include <boost/asio/ip/address.hpp>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace parley::relay {

class Closable {
public:
    virtual ~Closable() = default;
    // Starts a graceful close; safe from any thread, idempotent.
    virtual void shutdown() = 0;
    // Closes the socket now, whatever is in flight; safe from any thread.
    virtual void abort_now() = 0;
};

// What the per-address cap counts: an IPv4 address (as its v4-mapped IPv6
// form), or an IPv6 /64, since one host usually holds a whole /64.
using AddressKey = std::array<std::uint8_t, 16>;
AddressKey address_key(const boost::asio::ip::address& address);

class ConnectionSet {
public:
    enum class Admission { admitted, relay_full, address_full, closing };

    ConnectionSet(std::size_t max_connections, std::size_t max_per_address)
        : max_(max_connections), max_per_address_(max_per_address) {}

    // A reload's caps: open connections stay, new ones count against these.
    void set_caps(std::size_t max_connections, std::size_t max_per_address);

    // Anything but `admitted` adds nothing.
    [[nodiscard]] Admission try_add(const Closable* key, std::weak_ptr<Closable> connection,
                                    const AddressKey& address);
    void remove(const Closable* key);
    // Refuses new connections from now on and asks every open one to close.
    void close_all();
    // Closes every open connection's socket at once (after close_all's grace).
    void abort_all();
    std::size_t size() const;
    std::size_t count_from(const AddressKey& address) const;
    std::uint64_t closed_total() const;  // connections removed since start

private:
    std::vector<std::shared_ptr<Closable>> open_connections(bool closing);

    struct Entry {
        std::weak_ptr<Closable> connection;
        AddressKey address;
    };

    mutable std::mutex mutex_;
    std::size_t max_;
    std::size_t max_per_address_;
    bool closing_ = false;
    std::uint64_t closed_ = 0;
    std::map<const Closable*, Entry> connections_;
    std::map<AddressKey, std::size_t> per_address_;  // only addresses with connections
};

}  // namespace parley::relay
