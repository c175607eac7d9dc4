// The relay's open connections: enforces the connection cap and lets shutdown
// close every session.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>

namespace parley::relay {

class Closable {
public:
    virtual ~Closable() = default;
    // Starts a graceful close; safe from any thread, idempotent.
    virtual void shutdown() = 0;
};

class ConnectionSet {
public:
    explicit ConnectionSet(std::size_t max_connections) : max_(max_connections) {}

    // False (and nothing added) when the relay is full or shutting down.
    [[nodiscard]] bool try_add(const Closable* key, std::weak_ptr<Closable> connection);
    void remove(const Closable* key);
    // Refuses new connections from now on and asks every open one to close.
    void close_all();
    std::size_t size() const;

private:
    const std::size_t max_;
    mutable std::mutex mutex_;
    bool closing_ = false;
    std::map<const Closable*, std::weak_ptr<Closable>> connections_;
};

}  // namespace parley::relay
