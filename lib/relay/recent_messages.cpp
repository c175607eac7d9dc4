#include "relay/recent_messages.h"

#include <algorithm>
#include <cstring>

namespace parley::relay {

RecentMessages::RecentMessages(const MessageLog& log) : log_(log) {
    crypto_shorthash_keygen(key_.data());
}

void RecentMessages::Ring::push(Entry e) {
    if (entries.size() < per_chain) {
        entries.push_back(e);
        return;
    }
    entries[next] = e;
    next = (next + 1) % per_chain;
}

std::uint64_t RecentMessages::fingerprint(ByteView payload) const {
    std::array<unsigned char, crypto_shorthash_BYTES> out{};
    crypto_shorthash(out.data(), payload.data(), payload.size(), key_.data());
    std::uint64_t v = 0;
    std::memcpy(&v, out.data(), sizeof v);
    return v;
}

RecentMessages::Ring& RecentMessages::ring_for(const ChainKey& chain) {
    auto [it, created] = rings_.try_emplace(chain);
    Ring& ring = it->second;
    // What the log holds past what the ring has seen: on the chain's first
    // Resend its last primed_from_log items; after that, what other relay
    // nodes sharing the store appended (none on a store only this process
    // writes). A page of at most 1 MiB at a time.
    const LogRange range = log_.range(chain);
    if (range.last_seq <= ring.seen) return ring;
    std::uint64_t after = range.last_seq > primed_from_log ? range.last_seq - primed_from_log : 0;
    after = std::max({after, range.first_seq - 1, ring.seen});
    try {
        while (after < range.last_seq) {
            const auto page = log_.read(chain, after, range.last_seq, per_chain, 1 << 20);
            if (page.empty()) break;
            for (const auto& item : page)
                if (item.kind == LogKind::message) ring.push({fingerprint(item.payload), item.seq});
            after = page.back().seq;
        }
    } catch (...) {
        if (created) rings_.erase(it);  // filled next time instead of half-filled for good
        throw;
    }
    ring.seen = range.last_seq;
    return ring;
}

std::optional<std::uint64_t> RecentMessages::find(const ChainKey& chain, ByteView payload) {
    const Ring& ring = ring_for(chain);
    const std::uint64_t f = fingerprint(payload);
    // Newest first: entries[next - 1] back to entries[0], then from the end.
    const std::size_t n = ring.entries.size();
    for (std::size_t k = 1; k <= n; ++k) {
        const Entry& e = ring.entries[(ring.next + n - k) % n];
        if (e.fingerprint != f) continue;
        const auto items = log_.read(chain, e.seq - 1, e.seq, 1, 1);
        const bool same = items.size() == 1 && items[0].kind == LogKind::message &&
                          std::equal(items[0].payload.begin(), items[0].payload.end(),
                                     payload.begin(), payload.end());
        return same ? std::optional(e.seq) : std::nullopt;
    }
    return std::nullopt;
}

void RecentMessages::add(const ChainKey& chain, std::uint64_t seq, ByteView payload) {
    if (rings_.empty()) return;  // no Resend yet: the common case costs nothing
    auto it = rings_.find(chain);
    if (it == rings_.end()) return;
    it->second.push({fingerprint(payload), seq});
    // Past a gap (another node's items), ring_for reads the gap at the next
    // Resend, and this one again with it: twice in the ring, harmless.
    if (seq == it->second.seen + 1) it->second.seen = seq;
}

}  // namespace parley::relay
