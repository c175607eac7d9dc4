#include "relay/connection_set.h"

#include <vector>

namespace parley::relay {

bool ConnectionSet::try_add(const Closable* key, std::weak_ptr<Closable> connection) {
    std::lock_guard lock(mutex_);
    if (closing_ || connections_.size() >= max_) return false;
    connections_.emplace(key, std::move(connection));
    return true;
}

void ConnectionSet::remove(const Closable* key) {
    std::lock_guard lock(mutex_);
    connections_.erase(key);
}

void ConnectionSet::close_all() {
    std::vector<std::shared_ptr<Closable>> open;
    {
        std::lock_guard lock(mutex_);
        closing_ = true;
        for (auto& [key, weak] : connections_)
            if (auto c = weak.lock()) open.push_back(std::move(c));
    }
    // Outside the lock: a session may finish (and remove itself) meanwhile.
    for (auto& c : open) c->shutdown();
}

std::size_t ConnectionSet::size() const {
    std::lock_guard lock(mutex_);
    return connections_.size();
}

}  // namespace parley::relay
