// protocol/replay.h: the per-stream counter window.
#include <gtest/gtest.h>

#include "protocol/replay.h"

namespace parley::protocol {
namespace {

// Feeds counters through check_replay the way the receiver does: state moves
// only when a counter is accepted.
class Stream {
public:
    ReplayDecision offer(std::uint64_t counter) {
        auto d = check_replay(window_, counter);
        if (d.check == ReplayCheck::fresh) window_ = d.updated;
        return d;
    }
    ReplayCheck check(std::uint64_t counter) { return offer(counter).check; }

private:
    std::optional<ReplayWindow> window_;
};

TEST(Replay, FirstMessageOfAStreamIsFreshWithoutAGap) {
    for (std::uint64_t first : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1000}}) {
        auto d = check_replay(std::nullopt, first);
        EXPECT_EQ(d.check, ReplayCheck::fresh);
        EXPECT_EQ(d.updated.highest, first);
    }
}

TEST(Replay, AcceptsCountersInOrder) {
    Stream s;
    for (std::uint64_t c = 0; c < 200; ++c) {
        auto d = s.offer(c);
        EXPECT_EQ(d.check, ReplayCheck::fresh) << c;
    }
}

TEST(Replay, RejectsADuplicate) {
    Stream s;
    EXPECT_EQ(s.check(0), ReplayCheck::fresh);
    EXPECT_EQ(s.check(0), ReplayCheck::replayed);
    EXPECT_EQ(s.check(1), ReplayCheck::fresh);
    EXPECT_EQ(s.check(1), ReplayCheck::replayed);
    EXPECT_EQ(s.check(0), ReplayCheck::replayed);
}

TEST(Front, CountsTheCountersSkipped) {
    auto d = check_front(4, 9);
    EXPECT_FALSE(d.first);
    EXPECT_EQ(d.missing_before, 4u);  // 5, 6, 7, 8
    EXPECT_EQ(d.updated, 9u);
    d = check_front(9, 10);
    EXPECT_EQ(d.missing_before, 0u);
    EXPECT_EQ(d.updated, 10u);
    EXPECT_EQ(check_front(1, 1'000'000).missing_before, 999'998u);
}

TEST(Front, ALateCounterIsNoNewGapAndKeepsTheFront) {
    for (std::uint64_t late : {std::uint64_t{0}, std::uint64_t{5}, std::uint64_t{10}}) {
        auto d = check_front(10, late);
        EXPECT_EQ(d.missing_before, 0u) << late;
        EXPECT_EQ(d.updated, 10u) << late;
    }
}

TEST(Front, TheFirstCounterOfASenderCountsEveryOneBelowIt) {
    auto d = check_front(std::nullopt, 0);
    EXPECT_TRUE(d.first);
    EXPECT_EQ(d.missing_before, 0u);
    d = check_front(std::nullopt, 3);
    EXPECT_TRUE(d.first);
    EXPECT_EQ(d.missing_before, 3u);  // 0, 1, 2
    EXPECT_EQ(d.updated, 3u);
}

TEST(Replay, AcceptsOutOfOrderWithinTheWindowOnce) {
    Stream s;
    ASSERT_EQ(s.check(0), ReplayCheck::fresh);
    ASSERT_EQ(s.check(10), ReplayCheck::fresh);
    for (std::uint64_t c : {5, 1, 9, 3}) {
        auto d = s.offer(c);
        EXPECT_EQ(d.check, ReplayCheck::fresh) << c;
        EXPECT_EQ(s.check(c), ReplayCheck::replayed) << c;
    }
    EXPECT_EQ(s.check(10), ReplayCheck::replayed);
    EXPECT_EQ(s.check(0), ReplayCheck::replayed);
    EXPECT_EQ(s.check(2), ReplayCheck::fresh);
}

TEST(Replay, AcceptsExactlySixtyFourBelowTheHighestButNotSixtyFive) {
    Stream s;
    ASSERT_EQ(s.check(100), ReplayCheck::fresh);
    EXPECT_EQ(s.check(100 - 65), ReplayCheck::too_old);
    EXPECT_EQ(s.check(100 - 64), ReplayCheck::fresh);
    EXPECT_EQ(s.check(100 - 64), ReplayCheck::replayed);
    EXPECT_EQ(s.check(0), ReplayCheck::too_old);
}

TEST(Replay, RemembersTheOldHighestAfterAJumpOfExactlySixtyFour) {
    Stream s;
    ASSERT_EQ(s.check(10), ReplayCheck::fresh);
    ASSERT_EQ(s.check(9), ReplayCheck::fresh);
    auto d = s.offer(74);
    EXPECT_EQ(d.check, ReplayCheck::fresh);
    EXPECT_EQ(s.check(10), ReplayCheck::replayed);  // still inside the window
    EXPECT_EQ(s.check(9), ReplayCheck::too_old);    // fell out of it
    EXPECT_EQ(s.check(11), ReplayCheck::fresh);     // never seen
}

TEST(Replay, JumpOfMoreThanSixtyFourForgetsTheOldWindow) {
    Stream s;
    ASSERT_EQ(s.check(10), ReplayCheck::fresh);
    auto d = s.offer(10 + 65);
    EXPECT_EQ(d.check, ReplayCheck::fresh);
    EXPECT_EQ(s.check(10), ReplayCheck::too_old);
    EXPECT_EQ(s.check(11), ReplayCheck::fresh);
    EXPECT_EQ(s.check(75), ReplayCheck::replayed);

    Stream far;
    ASSERT_EQ(far.check(1), ReplayCheck::fresh);
    EXPECT_EQ(far.check(1'000'000), ReplayCheck::fresh);
    EXPECT_EQ(far.check(1'000'000 - 1), ReplayCheck::fresh);
    EXPECT_EQ(far.check(1), ReplayCheck::too_old);
}

TEST(Replay, WindowSlidesWithSmallSteps) {
    Stream s;
    for (std::uint64_t c = 0; c < 300; c += 2) ASSERT_EQ(s.check(c), ReplayCheck::fresh) << c;
    // odd counters within 64 of the highest (298) are still acceptable once
    for (std::uint64_t c = 297; c >= 298 - 63; c -= 2) {
        EXPECT_EQ(s.check(c), ReplayCheck::fresh) << c;
        EXPECT_EQ(s.check(c), ReplayCheck::replayed) << c;
    }
    for (std::uint64_t c = 298; c >= 298 - 64; c -= 2) EXPECT_EQ(s.check(c), ReplayCheck::replayed) << c;
    EXPECT_EQ(s.check(298 - 65), ReplayCheck::too_old);
}

TEST(Replay, HandlesTheLargestCounter) {
    Stream s;
    const auto max = std::numeric_limits<std::uint64_t>::max();
    ASSERT_EQ(s.check(max - 1), ReplayCheck::fresh);
    EXPECT_EQ(s.check(max), ReplayCheck::fresh);
    EXPECT_EQ(s.check(max), ReplayCheck::replayed);
    EXPECT_EQ(s.check(max - 1), ReplayCheck::replayed);
}

TEST(Replay, CheckIsPureUntilTheDecisionIsStored) {
    std::optional<ReplayWindow> w = ReplayWindow{5, 0};
    auto d1 = check_replay(w, 3);
    auto d2 = check_replay(w, 3);
    EXPECT_EQ(d1.check, ReplayCheck::fresh);
    EXPECT_EQ(d2.check, ReplayCheck::fresh);
    EXPECT_EQ(w->highest, 5u);
    EXPECT_EQ(w->seen_below, 0u);
}

TEST(MemoryReplayStore, KeepsOneWindowPerStream) {
    MemoryReplayStore store;
    StreamKey a{}, b{};
    b.session[0] = 1;
    EXPECT_FALSE(store.load_window(a));
    store.save_window(a, {7, 3});
    ASSERT_TRUE(store.load_window(a));
    EXPECT_EQ(store.load_window(a)->highest, 7u);
    EXPECT_EQ(store.load_window(a)->seen_below, 3u);
    EXPECT_FALSE(store.load_window(b));
}

}  // namespace
}  // namespace parley::protocol
