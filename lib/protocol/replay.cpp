#include "protocol/replay.h"

namespace parley::protocol {

ReplayDecision check_replay(const std::optional<ReplayWindow>& window, std::uint64_t counter) {
    ReplayDecision d;
    if (!window) {
        d.updated = {counter, 0};
        return d;
    }
    const auto& w = *window;
    if (counter > w.highest) {
        const std::uint64_t shift = counter - w.highest;
        // the old highest becomes bit (shift - 1) below the new highest
        std::uint64_t seen = 0;
        if (shift < replay_window_size) seen = (w.seen_below << shift) | (std::uint64_t{1} << (shift - 1));
        else if (shift == replay_window_size) seen = std::uint64_t{1} << (shift - 1);
        d.updated = {counter, seen};
        return d;
    }
    if (counter == w.highest) {
        d.check = ReplayCheck::replayed;
        return d;
    }
    const std::uint64_t distance = w.highest - counter;  // >= 1
    if (distance > replay_window_size) {
        d.check = ReplayCheck::too_old;
        return d;
    }
    const std::uint64_t bit = std::uint64_t{1} << (distance - 1);
    if (w.seen_below & bit) {
        d.check = ReplayCheck::replayed;
        return d;
    }
    d.updated = {w.highest, w.seen_below | bit};
    return d;
}

FrontDecision check_front(const std::optional<std::uint64_t>& front, std::uint64_t counter) {
    if (!front) return {true, counter, counter};
    if (counter <= *front) return {false, 0, *front};  // late, not a new gap
    return {false, counter - *front - 1, counter};
}

std::optional<ReplayWindow> MemoryReplayStore::load_window(const StreamKey& key) {
    auto it = windows_.find(key);
    if (it == windows_.end()) return std::nullopt;
    return it->second;
}

void MemoryReplayStore::save_window(const StreamKey& key, const ReplayWindow& window) {
    windows_[key] = window;
}

std::optional<std::uint64_t> MemoryReplayStore::load_front(const SenderKey& key) {
    auto it = fronts_.find(key);
    if (it == fronts_.end()) return std::nullopt;
    return it->second;
}

void MemoryReplayStore::save_front(const SenderKey& key, std::uint64_t highest) { fronts_[key] = highest; }

}  // namespace parley::protocol
