// The relay's numbers a reader has not handled below the highest it has: holes
// in a stream the relay must send in order and without a hole (docs/PROTOCOL.md
// §6.2, "Gaps"). The relay never announced them as expired, so each is asked
// for again (a Join from just before the first) until it comes, expires, or
// the relay passed it over max_asks times; then it is shown as a warning.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace parley::protocol {

struct GapRange {
    std::uint64_t first = 0;
    std::uint64_t last = 0;   // inclusive
    std::uint32_t asked = 0;  // times the relay was asked for it again and went past it
    // Asked for on the current connection (not stored: every Join asks again).
    bool requested = false;

    bool operator==(const GapRange& o) const { return first == o.first && last == o.last && asked == o.asked; }
};

class StreamGaps {
public:
    static constexpr std::uint32_t max_asks = 2;
    // More separate holes than this and the oldest is given up (a relay that
    // drops every other item must not grow a device's state without bound).
    static constexpr std::size_t max_ranges = 64;

    StreamGaps() = default;
    // As stored: any order, overlaps merged, empty or reversed ranges dropped.
    explicit StreamGaps(std::vector<GapRange> stored);

    // first..last never came (a later number did). Returns the ranges given
    // up to keep the bound.
    [[nodiscard]] std::vector<GapRange> add(std::uint64_t first, std::uint64_t last);
    bool contains(std::uint64_t seq) const;
    // `seq` came after all (or is handled otherwise): no longer missing.
    // False when it was not missing.
    bool fill(std::uint64_t seq);
    // What the relay no longer holds (below its first_seq): removed, returned.
    [[nodiscard]] std::vector<GapRange> expire_below(std::uint64_t first_seq);
    // A Join asked for every hole (its after_seq was below the first).
    void request_all();
    // The relay's stream on the connection that asked went past `seq` (sent
    // it, or sent nothing more for long): every hole asked for below it is
    // counted; those passed over max_asks times are removed and returned.
    [[nodiscard]] std::vector<GapRange> passed(std::uint64_t seq);
    // A hole not asked for on the current connection.
    bool need_ask() const;
    // A hole asked for on the current connection that has not come yet.
    bool waiting() const;
    std::optional<std::uint64_t> first() const;
    const std::vector<GapRange>& ranges() const { return ranges_; }
    bool empty() const { return ranges_.empty(); }
    void clear() { ranges_.clear(); }

private:
    std::vector<GapRange> ranges_;  // sorted, disjoint, not adjacent
};

}  // namespace parley::protocol
