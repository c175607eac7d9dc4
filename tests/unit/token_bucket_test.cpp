#include "relay/token_bucket.h"

#include <gtest/gtest.h>

using parley::relay::TokenBucket;
using namespace std::chrono_literals;

namespace {
const TokenBucket::Clock::time_point t0{};
}

TEST(TokenBucket, AllowsTheBurstThenRefusesUntilRefilled) {
    const TokenBucket::Rate bucket_rate(10, 5);  // 10 a second, 5 at once
    TokenBucket bucket(t0);
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(bucket.take(bucket_rate, t0)) << i;
    EXPECT_FALSE(bucket.take(bucket_rate, t0));
    EXPECT_EQ(bucket.wait_time(bucket_rate, t0), 100ms);  // one token at 10/s
    EXPECT_FALSE(bucket.take(bucket_rate, t0 + 99ms));
    EXPECT_TRUE(bucket.take(bucket_rate, t0 + 100ms));
    EXPECT_FALSE(bucket.take(bucket_rate, t0 + 100ms));
}

TEST(TokenBucket, SustainedRateIsTheConfiguredRate) {
    const TokenBucket::Rate bucket_rate(100, 1);
    TokenBucket bucket(t0);
    int taken = 0;
    for (auto t = t0; t < t0 + 10s; t += 1ms) taken += bucket.take(bucket_rate, t) ? 1 : 0;
    // 1 at start + 100/s over 10 s (the last refill at 9.999 s).
    EXPECT_GE(taken, 999);
    EXPECT_LE(taken, 1001);
}

TEST(TokenBucket, NeverHoldsMoreThanTheBurst) {
    const TokenBucket::Rate bucket_rate(1000, 3);
    TokenBucket bucket(t0);
    ASSERT_TRUE(bucket.take(bucket_rate, t0));
    // An hour idle refills to the burst, no further.
    const auto later = t0 + 1h;
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(bucket.take(bucket_rate, later)) << i;
    EXPECT_FALSE(bucket.take(bucket_rate, later));
}

TEST(TokenBucket, WaitTimeIsZeroWhenATokenIsThereAndRoundsUp) {
    const TokenBucket::Rate bucket_rate(3, 1);
    TokenBucket bucket(t0);
    EXPECT_EQ(bucket.wait_time(bucket_rate, t0), TokenBucket::Clock::duration::zero());
    ASSERT_TRUE(bucket.take(bucket_rate, t0));
    const auto wait = bucket.wait_time(bucket_rate, t0);
    EXPECT_GE(wait, 333333us);
    EXPECT_LE(wait, 333334us);
    EXPECT_FALSE(bucket.take(bucket_rate, t0 + wait - 1us));
    EXPECT_TRUE(bucket.take(bucket_rate, t0 + wait));  // waking at exactly that time finds a token
}

TEST(TokenBucket, AnEarlierTimeGrantsNothing) {
    const TokenBucket::Rate bucket_rate(10, 1);
    TokenBucket bucket(t0 + 1s);
    ASSERT_TRUE(bucket.take(bucket_rate, t0 + 1s));
    EXPECT_FALSE(bucket.take(bucket_rate, t0));
    EXPECT_FALSE(bucket.take(bucket_rate, t0 + 1s));
    EXPECT_TRUE(bucket.take(bucket_rate, t0 + 1100ms));
}

TEST(TokenBucket, ConnectionsSharingARateKeepTheirOwnBudgets) {
    const TokenBucket::Rate rate(10, 2);
    TokenBucket a(t0), b(t0);
    ASSERT_TRUE(a.take(rate, t0));
    ASSERT_TRUE(a.take(rate, t0));
    EXPECT_FALSE(a.take(rate, t0));
    EXPECT_TRUE(b.take(rate, t0)) << "a's flood took b's tokens";
    EXPECT_TRUE(b.take(rate, t0));
}

TEST(TokenBucket, ZeroRateMeansUnlimited) {
    const TokenBucket::Rate bucket_rate(0, 1);
    TokenBucket bucket(t0);
    for (int i = 0; i < 10000; ++i) ASSERT_TRUE(bucket.take(bucket_rate, t0));
    EXPECT_EQ(bucket.wait_time(bucket_rate, t0), TokenBucket::Clock::duration::zero());
}

TEST(TokenBucket, SpendGoesIntoDebtAndWaitTimeSaysWhenItIsPaidOff) {
    const TokenBucket::Rate bytes_rate(1000, 500);  // 1,000 bytes a second, 500 at once
    TokenBucket bytes(t0);
    bytes.spend(bytes_rate, t0, 400);
    EXPECT_EQ(bytes.wait_time(bytes_rate, t0), TokenBucket::Clock::duration::zero()) << "400 of a 500 burst";
    bytes.spend(bytes_rate, t0, 1100);  // 1,500 spent at once: 1,000 over the burst... less the one token's slack
    const auto wait = bytes.wait_time(bytes_rate, t0);
    EXPECT_GT(wait, 990ms);
    EXPECT_LT(wait, 1010ms);
    EXPECT_EQ(bytes.wait_time(bytes_rate, t0 + wait), TokenBucket::Clock::duration::zero());
    EXPECT_TRUE(bytes.take(bytes_rate, t0 + wait));
}

TEST(TokenBucket, SpendingAtTheRateKeepsUpAndAboveItFallsBehind) {
    const TokenBucket::Rate mib_per_s(1 << 20, 1);  // charged 64 or 80 KiB at a time
    TokenBucket at_rate(t0);
    TokenBucket above(t0);
    auto now = t0;
    for (int i = 0; i < 160; ++i) {  // 10 s of 64 KiB every 62.5 ms: exactly 1 MiB/s
        at_rate.spend(mib_per_s, now, 64 * 1024);
        above.spend(mib_per_s, now, 80 * 1024);
        now += 62500us;
    }
    EXPECT_LT(at_rate.wait_time(mib_per_s, now), 1ms) << "a reader at the rate never waits";
    EXPECT_GT(above.wait_time(mib_per_s, now), 2400ms) << "25% over for 10 s: 2.5 s behind";
    EXPECT_LT(above.wait_time(mib_per_s, now), 2600ms);
}

TEST(TokenBucket, ZeroRateSpendsNothing) {
    const TokenBucket::Rate bucket_rate(0, 1);
    TokenBucket bucket(t0);
    bucket.spend(bucket_rate, t0, 1e12);
    EXPECT_EQ(bucket.wait_time(bucket_rate, t0), TokenBucket::Clock::duration::zero());
}
