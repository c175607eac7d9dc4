#include "relay/connection_set.h"

#include <vector>

namespace parley::relay {

AddressKey address_key(const boost::asio::ip::address& address) {
    if (address.is_v4())
        return boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, address.to_v4())
            .to_bytes();
    auto v6 = address.to_v6();
    if (v6.is_v4_mapped()) return v6.to_bytes();
    AddressKey key = v6.to_bytes();
    for (std::size_t i = 8; i < key.size(); ++i) key[i] = 0;  // the /64
    return key;
}

void ConnectionSet::set_caps(std::size_t max_connections, std::size_t max_per_address) {
    std::lock_guard lock(mutex_);
    max_ = max_connections;
    max_per_address_ = max_per_address;
}

ConnectionSet::Admission ConnectionSet::try_add(const Closable* key,
                                                std::weak_ptr<Closable> connection,
                                                const AddressKey& address) {
    std::lock_guard lock(mutex_);
    if (closing_) return Admission::closing;
    if (connections_.size() >= max_) return Admission::relay_full;
    auto& from_address = per_address_[address];
    if (from_address >= max_per_address_) {
        if (from_address == 0) per_address_.erase(address);
        return Admission::address_full;
    }
    ++from_address;
    connections_.emplace(key, Entry{std::move(connection), address});
    return Admission::admitted;
}

void ConnectionSet::remove(const Closable* key) {
    std::lock_guard lock(mutex_);
    auto it = connections_.find(key);
    if (it == connections_.end()) return;
    if (auto count = per_address_.find(it->second.address);
        count != per_address_.end() && --count->second == 0)
        per_address_.erase(count);
    connections_.erase(it);
    ++closed_;
}

std::vector<std::shared_ptr<Closable>> ConnectionSet::open_connections(bool closing) {
    std::vector<std::shared_ptr<Closable>> open;
    std::lock_guard lock(mutex_);
    closing_ = closing_ || closing;
    for (auto& [key, entry] : connections_)
        if (auto c = entry.connection.lock()) open.push_back(std::move(c));
    return open;
}

void ConnectionSet::close_all() {
    // Outside the lock: a session may finish (and remove itself) meanwhile.
    for (auto& c : open_connections(true)) c->shutdown();
}

void ConnectionSet::abort_all() {
    for (auto& c : open_connections(true)) c->abort_now();
}

std::size_t ConnectionSet::size() const {
    std::lock_guard lock(mutex_);
    return connections_.size();
}

std::uint64_t ConnectionSet::closed_total() const {
    std::lock_guard lock(mutex_);
    return closed_;
}

std::size_t ConnectionSet::count_from(const AddressKey& address) const {
    std::lock_guard lock(mutex_);
    auto it = per_address_.find(address);
    return it == per_address_.end() ? 0 : it->second;
}

}  // namespace parley::relay
