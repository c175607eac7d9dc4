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
        d.missing_before = shift - 1;
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

std::optional<ReplayWindow> MemoryReplayStore::load_window(const StreamKey& key) {
    auto it = windows_.find(key);
    if (it == windows_.end()) return std::nullopt;
    return it->second;
}

void MemoryReplayStore::save_window(const StreamKey& key, const ReplayWindow& window) {
    windows_[key] = window;
}

}  // namespace parley::protocol
