// protocol/stream_gaps.h: holes in the relay's numbering, asked for again and
// given up after max_asks (docs/PROTOCOL.md §6.2 "Gaps").
#include <gtest/gtest.h>

#include "protocol/stream_gaps.h"

namespace parley::protocol {
namespace {

using Ranges = std::vector<GapRange>;

TEST(StreamGaps, AddMergesTouchingHolesAndKeepsThemSorted) {
    StreamGaps g;
    EXPECT_TRUE(g.add(10, 12).empty());
    EXPECT_TRUE(g.add(3, 4).empty());
    EXPECT_TRUE(g.add(13, 13).empty());  // adjacent: one hole 10..13
    EXPECT_TRUE(g.add(6, 6).empty());
    EXPECT_EQ(g.ranges(), (Ranges{{3, 4}, {6, 6}, {10, 13}}));
    EXPECT_TRUE(g.add(5, 5).empty());  // closes 3..6
    EXPECT_EQ(g.ranges(), (Ranges{{3, 6}, {10, 13}}));
    EXPECT_TRUE(g.add(0, 2).empty());  // number 0 is never an item: refused whole
    EXPECT_TRUE(g.add(9, 8).empty());  // reversed: nothing
    EXPECT_EQ(g.ranges(), (Ranges{{3, 6}, {10, 13}}));
    EXPECT_EQ(g.first(), 3u);
}

TEST(StreamGaps, ContainsAndFillSplitAHole) {
    StreamGaps g;
    (void)g.add(5, 9);
    EXPECT_FALSE(g.contains(4));
    EXPECT_TRUE(g.contains(5));
    EXPECT_TRUE(g.contains(9));
    EXPECT_FALSE(g.contains(10));
    EXPECT_TRUE(g.fill(7));
    EXPECT_EQ(g.ranges(), (Ranges{{5, 6}, {8, 9}}));
    EXPECT_FALSE(g.fill(7));  // not missing any more
    EXPECT_TRUE(g.fill(5));
    EXPECT_TRUE(g.fill(9));
    EXPECT_EQ(g.ranges(), (Ranges{{6, 6}, {8, 8}}));
    EXPECT_TRUE(g.fill(6));
    EXPECT_TRUE(g.fill(8));
    EXPECT_TRUE(g.empty());
    EXPECT_FALSE(g.first());
}

TEST(StreamGaps, HolesAtTheTopOfTheNumberRangeDoNotWrap) {
    const auto top = UINT64_MAX;
    StreamGaps g;
    (void)g.add(top - 1, top);
    (void)g.add(1, 1);
    EXPECT_TRUE(g.contains(top));
    EXPECT_EQ(g.ranges(), (Ranges{{1, 1}, {top - 1, top}}));
    (void)g.add(top, top);
    EXPECT_EQ(g.ranges(), (Ranges{{1, 1}, {top - 1, top}}));
    EXPECT_TRUE(g.fill(top));
    EXPECT_EQ(g.ranges(), (Ranges{{1, 1}, {top - 1, top - 1}}));
}

TEST(StreamGaps, OnlyHolesAskedForOnThisConnectionArePassed) {
    StreamGaps g;
    (void)g.add(2, 2);
    EXPECT_TRUE(g.need_ask());
    EXPECT_FALSE(g.waiting());
    // Not asked for yet: the relay going past it counts for nothing.
    EXPECT_TRUE(g.passed(10).empty());
    EXPECT_EQ(g.ranges().front().asked, 0u);
    g.request_all();
    EXPECT_FALSE(g.need_ask());
    EXPECT_TRUE(g.waiting());
    EXPECT_TRUE(g.passed(2).empty());  // that is the hole itself, not past it
    EXPECT_TRUE(g.passed(3).empty());  // asked once, went past: one more try
    EXPECT_EQ(g.ranges().front().asked, 1u);
    EXPECT_TRUE(g.need_ask());
    EXPECT_TRUE(g.passed(4).empty());  // not asked again yet: not counted twice
    g.request_all();
    const auto given_up = g.passed(3);
    ASSERT_EQ(given_up.size(), 1u);
    EXPECT_EQ(given_up[0], (GapRange{2, 2, StreamGaps::max_asks}));
    EXPECT_TRUE(g.empty());
}

TEST(StreamGaps, PassingCountsOnlyTheHolesBelow) {
    StreamGaps g;
    (void)g.add(2, 3);
    (void)g.add(7, 8);
    g.request_all();
    EXPECT_TRUE(g.passed(5).empty());
    EXPECT_EQ(g.ranges()[0].asked, 1u);
    EXPECT_EQ(g.ranges()[1].asked, 0u);
    EXPECT_TRUE(g.ranges()[1].requested);
}

TEST(StreamGaps, ExpiryRemovesWhatTheRelayNoLongerHolds) {
    StreamGaps g;
    (void)g.add(2, 3);
    (void)g.add(6, 9);
    const auto expired = g.expire_below(8);
    ASSERT_EQ(expired.size(), 2u);
    EXPECT_EQ(expired[0], (GapRange{2, 3}));
    EXPECT_EQ(expired[1], (GapRange{6, 7}));
    EXPECT_EQ(g.ranges(), (Ranges{{8, 9}}));
    EXPECT_TRUE(g.expire_below(8).empty());
}

TEST(StreamGaps, TooManyHolesGiveUpTheOldest) {
    StreamGaps g;
    for (std::uint64_t i = 0; i < StreamGaps::max_ranges; ++i) EXPECT_TRUE(g.add(2 * i + 1, 2 * i + 1).empty());
    const auto given_up = g.add(1000, 1000);
    ASSERT_EQ(given_up.size(), 1u);
    EXPECT_EQ(given_up[0].first, 1u);
    EXPECT_EQ(g.ranges().size(), StreamGaps::max_ranges);
    EXPECT_EQ(g.first(), 3u);
}

TEST(StreamGaps, StoredRangesAreCleanedOnLoad) {
    // Out of order, overlapping, empty and reversed rows (a damaged or edited
    // state file): merged, the fewest asks kept, nothing asked for yet.
    StreamGaps g({{9, 12, 1, true}, {3, 4, 0, false}, {11, 15, 0, false}, {0, 0, 0, false}, {8, 7, 0, false}});
    EXPECT_EQ(g.ranges(), (Ranges{{3, 4, 0}, {9, 15, 0}}));
    EXPECT_TRUE(g.need_ask());
    EXPECT_FALSE(g.waiting());
}

}  // namespace
}  // namespace parley::protocol
