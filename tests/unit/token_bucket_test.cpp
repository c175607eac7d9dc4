#include "relay/token_bucket.h"

#include <gtest/gtest.h>

using parley::relay::TokenBucket;
using namespace std::chrono_literals;

namespace {
const TokenBucket::Clock::time_point t0{};
}

TEST(TokenBucket, AllowsTheBurstThenRefusesUntilRefilled) {
    TokenBucket bucket(10, 5, t0);  // 10 a second, 5 at once
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(bucket.take(t0)) << i;
    EXPECT_FALSE(bucket.take(t0));
    EXPECT_EQ(bucket.wait_time(t0), 100ms);  // one token at 10/s
    EXPECT_FALSE(bucket.take(t0 + 99ms));
    EXPECT_TRUE(bucket.take(t0 + 100ms));
    EXPECT_FALSE(bucket.take(t0 + 100ms));
}

TEST(TokenBucket, SustainedRateIsTheConfiguredRate) {
    TokenBucket bucket(100, 1, t0);
    int taken = 0;
    for (auto t = t0; t < t0 + 10s; t += 1ms) taken += bucket.take(t) ? 1 : 0;
    // 1 at start + 100/s over 10 s (the last refill at 9.999 s).
    EXPECT_GE(taken, 999);
    EXPECT_LE(taken, 1001);
}

TEST(TokenBucket, NeverHoldsMoreThanTheBurst) {
    TokenBucket bucket(1000, 3, t0);
    ASSERT_TRUE(bucket.take(t0));
    // An hour idle refills to the burst, no further.
    const auto later = t0 + 1h;
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(bucket.take(later)) << i;
    EXPECT_FALSE(bucket.take(later));
}

TEST(TokenBucket, WaitTimeIsZeroWhenATokenIsThereAndRoundsUp) {
    TokenBucket bucket(3, 1, t0);
    EXPECT_EQ(bucket.wait_time(t0), TokenBucket::Clock::duration::zero());
    ASSERT_TRUE(bucket.take(t0));
    const auto wait = bucket.wait_time(t0);
    EXPECT_GE(wait, 333333us);
    EXPECT_LE(wait, 333334us);
    EXPECT_FALSE(bucket.take(t0 + wait - 1us));
    EXPECT_TRUE(bucket.take(t0 + wait));  // waking at exactly that time finds a token
}

TEST(TokenBucket, AnEarlierTimeGrantsNothing) {
    TokenBucket bucket(10, 1, t0 + 1s);
    ASSERT_TRUE(bucket.take(t0 + 1s));
    EXPECT_FALSE(bucket.take(t0));
    EXPECT_FALSE(bucket.take(t0 + 1s));
    EXPECT_TRUE(bucket.take(t0 + 1100ms));
}

TEST(TokenBucket, ZeroRateMeansUnlimited) {
    TokenBucket bucket(0, 1, t0);
    for (int i = 0; i < 10000; ++i) ASSERT_TRUE(bucket.take(t0));
    EXPECT_EQ(bucket.wait_time(t0), TokenBucket::Clock::duration::zero());
}

TEST(TokenBucket, SpendGoesIntoDebtAndWaitTimeSaysWhenItIsPaidOff) {
    TokenBucket bytes(1000, 500, t0);  // 1,000 bytes a second, 500 at once
    bytes.spend(t0, 400);
    EXPECT_EQ(bytes.wait_time(t0), TokenBucket::Clock::duration::zero()) << "400 of a 500 burst";
    bytes.spend(t0, 1100);  // 1,500 spent at once: 1,000 over the burst... less the one token's slack
    const auto wait = bytes.wait_time(t0);
    EXPECT_GT(wait, 990ms);
    EXPECT_LT(wait, 1010ms);
    EXPECT_EQ(bytes.wait_time(t0 + wait), TokenBucket::Clock::duration::zero());
    EXPECT_TRUE(bytes.take(t0 + wait));
}

TEST(TokenBucket, SpendingAtTheRateKeepsUpAndAboveItFallsBehind) {
    TokenBucket at_rate(1 << 20, 1, t0);  // 1 MiB/s, charged 64 KiB at a time
    TokenBucket above(1 << 20, 1, t0);
    auto now = t0;
    for (int i = 0; i < 160; ++i) {  // 10 s of 64 KiB every 62.5 ms: exactly 1 MiB/s
        at_rate.spend(now, 64 * 1024);
        above.spend(now, 80 * 1024);
        now += 62500us;
    }
    EXPECT_LT(at_rate.wait_time(now), 1ms) << "a reader at the rate never waits";
    EXPECT_GT(above.wait_time(now), 2400ms) << "25% over for 10 s: 2.5 s behind";
    EXPECT_LT(above.wait_time(now), 2600ms);
}

TEST(TokenBucket, ZeroRateSpendsNothing) {
    TokenBucket bucket(0, 1, t0);
    bucket.spend(t0, 1e12);
    EXPECT_EQ(bucket.wait_time(t0), TokenBucket::Clock::duration::zero());
}
