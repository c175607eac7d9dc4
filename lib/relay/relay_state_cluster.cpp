// RelayState's part for several relay nodes on one database (a store that
// reports the others' commits: RelayStore::watch_commits): what another node
// stored reaches this node's members in the chain's order, read from the
// store, when the notification comes, or, while this node has Sends of the
// chain in flight, before this node's next items and once they are out.
// relay_state.h tells the whole story.
#include <vector>

#include "relay/log.h"
#include "relay/relay_state.h"

namespace parley::relay {

void RelayState::catch_up(ChainChannel& ch, const ChainKey& key, std::uint64_t up_to) {
    const auto in_force = limits_.get();
    while (ch.published_seq < up_to) {
        auto items = store_->read(key, ch.published_seq, up_to, in_force->limits.backlog_page_items,
                                  in_force->limits.backlog_page_bytes);
        if (items.empty()) {  // retention took them first
            ch.published_seq = up_to;
            break;
        }
        fan_out_items(ch, key, items);
    }
}

void RelayState::fan_out_items(ChainChannel& ch, const ChainKey& key, std::vector<LogItem>& items) {
    for (auto& item : items) {
        if (item.seq <= ch.published_seq) continue;  // out already (read before the lock)
        metrics_.add(metrics_.items_from_other_nodes);
        // Counted for the quotas as this node's own (other chains' bytes
        // count once prune() reads the store's total).
        const std::uint64_t bytes = (item.kind == LogKind::new_head ? 2 : 1) * item.payload.size();
        ch.stored_bytes += bytes;
        stored_total_ += bytes;
        if (item.kind == LogKind::new_head) {
            fan_out_new_head(ch, key, item.seq, item.payload);
            continue;
        }
        auto frame = encode_shared(wire::Deliver{key.first, key.second, item.seq, std::move(item.payload)});
        std::uint64_t n = 0;
        for (auto& entry : ch.members)
            if (!entry.second.catching_up) {  // it reads the log up to published_seq
                entry.second.subscriber->deliver(frame);
                ++n;
            }
        ch.published_seq = item.seq;
        metrics_.add(metrics_.deliveries, n);
        metrics_.add(metrics_.bytes_delivered, n * frame->size());
    }
}

void RelayState::catch_up_or_part(ChainChannel& ch, const ChainKey& key, std::uint64_t up_to) {
    try {
        catch_up(ch, key, up_to);
    } catch (const StorageError& e) {
        metrics_.add(metrics_.storage_errors);
        PARLEY_LOG_THROTTLED(5, error, "storage: %s", e.what());
        auto error = encode_shared(wire::Error{0, wire::RelayError::internal});
        for (auto& entry : ch.members) {
            entry.second.subscriber->deliver(error);
            part(ch, key, *entry.second.subscriber);
        }
        ch.members.clear();
        ch.published_seq = std::max(ch.published_seq, up_to);  // a Join reads them from the log
    }
}

// In three steps, so that hearing of many chains at once costs one read of
// the store, not one per chain: under each room's lock, what is due (a chain
// with Sends of this node in flight only records it: settle() catches up
// once they are out); then one read_each for all, under no lock; then, under
// each lock again, the items past what is out by then, and a read of the rest
// if a page did not hold it all.
void RelayState::on_stored_elsewhere(const std::vector<ChainTip>& tips, bool everything) {
    std::vector<ChainTip> todo = tips;
    if (everything) {  // the chains with a channel here, at the store's end of each
        std::vector<std::pair<wire::RoomId, std::shared_ptr<Room>>> rooms;
        {
            std::lock_guard lock(rooms_mutex_);
            for (auto& [id, r] : rooms_) rooms.emplace_back(id, r);
        }
        for (auto& [id, r] : rooms) {
            std::lock_guard lock(r->mutex);
            for (const auto& entry : r->channels) todo.push_back({{id, entry.first}, 0});
        }
    }
    std::vector<LogSpan> spans;
    for (auto& tip : todo) {
        auto r = find_room(tip.chain.first);
        if (!r) continue;  // nobody here
        std::lock_guard lock(r->mutex);
        auto it = r->dead ? r->channels.end() : r->channels.find(tip.chain.second);
        if (it == r->channels.end()) continue;
        ChainChannel& ch = it->second;
        try {
            if (everything) tip.last_seq = store_->range(tip.chain).last_seq;
        } catch (const StorageError& e) {
            metrics_.add(metrics_.storage_errors);
            PARLEY_LOG_THROTTLED(5, error, "storage: %s", e.what());
            continue;  // the next notification, or the next Send's fan-out, brings them
        }
        if (tip.last_seq <= ch.published_seq) continue;
        ch.remote_seq = std::max(ch.remote_seq, tip.last_seq);
        if (ch.pending == 0) spans.push_back({tip.chain, ch.published_seq, tip.last_seq});
    }
    if (spans.empty()) return;
    std::vector<std::vector<LogItem>> read;
    try {
        const auto in_force = limits_.get();
        read = store_->read_each(spans, in_force->limits.backlog_page_items, in_force->limits.backlog_page_bytes);
    } catch (const StorageError& e) {
        metrics_.add(metrics_.storage_errors);
        PARLEY_LOG_THROTTLED(5, error, "storage: %s", e.what());
        read.assign(spans.size(), {});  // each chain reads its own below (or parts its members)
    }
    for (std::size_t i = 0; i < spans.size(); ++i) {
        const ChainKey& key = spans[i].chain;
        auto r = find_room(key.first);
        if (!r) continue;
        std::lock_guard lock(r->mutex);
        auto it = r->dead ? r->channels.end() : r->channels.find(key.second);
        if (it == r->channels.end()) continue;
        ChainChannel& ch = it->second;
        // Sends of this node in flight again: what was read may follow theirs
        // in the log; settle() catches up once they are out.
        if (ch.pending == 0) {
            if (i < read.size()) fan_out_items(ch, key, read[i]);
            settle(ch, key);
        }
        release_if_idle(key.first, *r);  // a NewHead sent its members off
    }
}

}  // namespace parley::relay
