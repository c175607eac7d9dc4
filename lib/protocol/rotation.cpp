#include "protocol/rotation.h"

#include <algorithm>

#include "crypto/primitives.h"
#include "wire/labels.h"

namespace parley::protocol::v2 {

namespace {

wire::Hash rotator_rank(const wire::Hash& record, const wire::PublicKey& key) {
    Bytes input(label::v2::rotator.begin(), label::v2::rotator.end());
    input.insert(input.end(), record.begin(), record.end());
    input.insert(input.end(), key.begin(), key.end());
    return crypto::blake2b(input);
}

std::uint64_t ms(std::chrono::milliseconds d) { return static_cast<std::uint64_t>(d.count()); }

}  // namespace

std::vector<wire::PublicKey> rotator_order(const wire::Hash& record, std::vector<wire::PublicKey> members) {
    std::vector<std::pair<wire::Hash, wire::PublicKey>> ranked;
    ranked.reserve(members.size());
    for (const auto& key : members) ranked.emplace_back(rotator_rank(record, key), key);
    std::sort(ranked.begin(), ranked.end());
    ranked.erase(std::unique(ranked.begin(), ranked.end()), ranked.end());
    std::vector<wire::PublicKey> order;
    order.reserve(ranked.size());
    for (const auto& [rank, key] : ranked) order.push_back(key);
    return order;
}

std::uint64_t epoch_due_at(const EpochActivity& a) {
    std::uint64_t due = a.started_ms + ms(epoch_max_age);
    if (a.max_messages_at) due = std::min(due, std::max(*a.max_messages_at, a.started_ms));
    if (a.change_waiting_since) due = std::min(due, std::max(*a.change_waiting_since, a.started_ms));
    return due;
}

bool should_write_epoch(const wire::Hash& record, const std::vector<wire::PublicKey>& members,
                        const wire::PublicKey& me, const EpochActivity& activity, std::uint64_t now_ms) {
    const std::uint64_t due = epoch_due_at(activity);
    if (now_ms < due) return false;
    const auto order = rotator_order(record, members);
    const auto at = std::find(order.begin(), order.end(), me);
    if (at == order.end()) return false;  // not a member of this epoch
    const auto place = static_cast<std::uint64_t>(at - order.begin());
    return place <= (now_ms - due) / ms(rotator_patience);
}

bool update_key_due(std::uint64_t messages_since_last, std::uint64_t last_rotation_ms, std::uint64_t now_ms) {
    return messages_since_last >= update_key_max_messages ||
           (now_ms >= last_rotation_ms && now_ms - last_rotation_ms >= ms(update_key_max_age));
}

}  // namespace parley::protocol::v2
