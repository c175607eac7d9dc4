#include "protocol/stream_gaps.h"

#include <algorithm>

namespace parley::protocol {

StreamGaps::StreamGaps(std::vector<GapRange> stored) {
    std::sort(stored.begin(), stored.end(), [](const GapRange& a, const GapRange& b) { return a.first < b.first; });
    for (auto& r : stored) {
        if (r.first == 0 || r.last < r.first) continue;
        r.requested = false;
        if (!ranges_.empty() && r.first <= ranges_.back().last + 1 && ranges_.back().last != UINT64_MAX) {
            auto& prev = ranges_.back();
            prev.last = std::max(prev.last, r.last);
            prev.asked = std::min(prev.asked, r.asked);
        } else {
            ranges_.push_back(r);
        }
    }
    while (ranges_.size() > max_ranges) ranges_.erase(ranges_.begin());
}

std::vector<GapRange> StreamGaps::add(std::uint64_t first, std::uint64_t last) {
    std::vector<GapRange> given_up;
    if (first == 0 || last < first) return given_up;
    GapRange fresh{first, last, 0, false};
    // Merge with whatever it touches; the merged hole counts the fewest asks.
    auto it = std::lower_bound(ranges_.begin(), ranges_.end(), first,
                               [](const GapRange& r, std::uint64_t v) { return r.last < v - 1; });
    while (it != ranges_.end() && it->first <= (last == UINT64_MAX ? last : last + 1)) {
        fresh.first = std::min(fresh.first, it->first);
        fresh.last = std::max(fresh.last, it->last);
        it = ranges_.erase(it);
    }
    ranges_.insert(it, fresh);
    while (ranges_.size() > max_ranges) {
        given_up.push_back(ranges_.front());
        ranges_.erase(ranges_.begin());
    }
    return given_up;
}

bool StreamGaps::contains(std::uint64_t seq) const {
    auto it = std::lower_bound(ranges_.begin(), ranges_.end(), seq,
                               [](const GapRange& r, std::uint64_t v) { return r.last < v; });
    return it != ranges_.end() && it->first <= seq;
}

bool StreamGaps::fill(std::uint64_t seq) {
    auto it = std::lower_bound(ranges_.begin(), ranges_.end(), seq,
                               [](const GapRange& r, std::uint64_t v) { return r.last < v; });
    if (it == ranges_.end() || it->first > seq) return false;
    if (it->first == seq && it->last == seq) {
        ranges_.erase(it);
    } else if (it->first == seq) {
        ++it->first;
    } else if (it->last == seq) {
        --it->last;
    } else {
        GapRange upper = *it;
        upper.first = seq + 1;
        it->last = seq - 1;
        ranges_.insert(it + 1, upper);
        // (One over max_ranges at most, until the next add trims it.)
    }
    return true;
}

std::vector<GapRange> StreamGaps::expire_below(std::uint64_t first_seq) {
    std::vector<GapRange> expired;
    while (!ranges_.empty() && ranges_.front().first < first_seq) {
        auto& r = ranges_.front();
        if (r.last < first_seq) {
            expired.push_back(r);
            ranges_.erase(ranges_.begin());
        } else {
            expired.push_back({r.first, first_seq - 1, r.asked, r.requested});
            r.first = first_seq;
        }
    }
    return expired;
}

void StreamGaps::request_all() {
    for (auto& r : ranges_) r.requested = true;
}

std::vector<GapRange> StreamGaps::passed(std::uint64_t seq) {
    std::vector<GapRange> given_up;
    for (auto it = ranges_.begin(); it != ranges_.end() && it->last < seq;) {
        if (!it->requested) {
            ++it;
            continue;
        }
        it->requested = false;
        if (++it->asked >= max_asks) {
            given_up.push_back(*it);
            it = ranges_.erase(it);
        } else {
            ++it;
        }
    }
    return given_up;
}

bool StreamGaps::need_ask() const {
    return std::any_of(ranges_.begin(), ranges_.end(), [](const GapRange& r) { return !r.requested; });
}

bool StreamGaps::waiting() const {
    return std::any_of(ranges_.begin(), ranges_.end(), [](const GapRange& r) { return r.requested; });
}

std::optional<std::uint64_t> StreamGaps::first() const {
    if (ranges_.empty()) return std::nullopt;
    return ranges_.front().first;
}

}  // namespace parley::protocol
