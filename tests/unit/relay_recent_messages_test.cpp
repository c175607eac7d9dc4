// RecentMessages: which stored message a Resend is a copy of. Filled from the
// log on a chain's first Resend (a relay restarted after storing a message
// whose Ack never left), then kept up by add(); a fingerprint only counts once
// the stored bytes match.
#include <gtest/gtest.h>

#include "relay/memory_relay_store.h"
#include "relay/recent_messages.h"
#include "relay_test_records.h"

namespace parley::relay {
namespace {

using namespace parley::relay_test;

class RecentMessagesTest : public ::testing::Test {
protected:
    // Appends one item to `chain`'s log; returns its number.
    std::uint64_t store(const ChainKey& chain, Bytes payload, LogKind kind = LogKind::message) {
        return store_.append({{chain, kind, std::move(payload)}}).at(0);
    }
    static Bytes numbered(std::uint32_t n) {
        return Bytes{static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16),
                     static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)};
    }

    MemoryRelayStore store_{[] { return std::int64_t{1'700'000'000'000}; }};
    ChainKey a_{make_room("a"), wire::Hash{}};
    ChainKey b_{make_room("b"), wire::Hash{}};
};

TEST_F(RecentMessagesTest, FindsAMessageStoredBeforeItExistedByItsExactBytes) {
    store(a_, Bytes{1});
    store(a_, Bytes{2, 2});
    store(a_, Bytes{3}, LogKind::new_head);
    store(b_, Bytes{7});
    RecentMessages recent(store_);  // as after a restart
    EXPECT_EQ(recent.find(a_, Bytes{2, 2}), 2u);
    EXPECT_EQ(recent.find(a_, Bytes{1}), 1u);
    EXPECT_EQ(recent.find(a_, Bytes{2}), std::nullopt) << "a prefix matched";
    EXPECT_EQ(recent.find(a_, Bytes{2, 2, 0}), std::nullopt) << "an extension matched";
    EXPECT_EQ(recent.find(a_, Bytes{3}), std::nullopt) << "a NewHead is not a message";
    EXPECT_EQ(recent.find(a_, Bytes{7}), std::nullopt) << "another chain's message matched";
    EXPECT_EQ(recent.find(b_, Bytes{7}), 1u);
}

TEST_F(RecentMessagesTest, KeepsUpWithWhatIsStoredAfterwards) {
    store(a_, Bytes{1});
    RecentMessages recent(store_);
    EXPECT_EQ(recent.find(a_, Bytes{5}), std::nullopt);
    const auto seq = store(a_, Bytes{5});
    recent.add(a_, seq, Bytes{5});
    EXPECT_EQ(recent.find(a_, Bytes{5}), seq);
    const auto again = store(a_, Bytes{5});  // the same bytes sent as a new Send
    recent.add(a_, again, Bytes{5});
    const auto found = recent.find(a_, Bytes{5});
    EXPECT_TRUE(found == seq || found == again);
}

// Relay nodes sharing one store: a message another node stored (the client
// lost that node before its Ack, and resends through this one) never went
// through this node's add(), and is found all the same; so is this node's own
// after it, past the gap.
TEST_F(RecentMessagesTest, FindsWhatAnotherNodeStoredAfterTheRingWasMade) {
    store(a_, Bytes{1});
    RecentMessages recent(store_);
    EXPECT_EQ(recent.find(a_, Bytes{9}), std::nullopt);  // the ring is made here
    const auto elsewhere = store(a_, Bytes{2, 2});          // through another node: no add()
    const auto mine = store(a_, Bytes{3});
    recent.add(a_, mine, Bytes{3});
    EXPECT_EQ(recent.find(a_, Bytes{2, 2}), elsewhere);
    EXPECT_EQ(recent.find(a_, Bytes{3}), mine);
    const auto later = store(a_, Bytes{4});
    EXPECT_EQ(recent.find(a_, Bytes{4}), later);
}

// The log fills a chain's ring with its last primed_from_log messages; from
// then on it keeps the last per_chain, each new one pushing out the oldest.
TEST_F(RecentMessagesTest, LooksOnlyAmongTheLastMessagesOfAChain) {
    const std::uint32_t before = RecentMessages::primed_from_log + 10;
    for (std::uint32_t n = 1; n <= before; ++n) store(a_, numbered(n));
    RecentMessages recent(store_);
    EXPECT_EQ(recent.find(a_, numbered(10)), std::nullopt)
        << "older than what is read from the log";
    EXPECT_EQ(recent.find(a_, numbered(11)), 11u);
    const std::uint32_t last = before + RecentMessages::per_chain;  // the ring fills, then wraps
    for (std::uint32_t n = before + 1; n <= last; ++n)
        recent.add(a_, store(a_, numbered(n)), numbered(n));
    const std::uint32_t oldest_kept = last - RecentMessages::per_chain + 1;
    EXPECT_EQ(recent.find(a_, numbered(oldest_kept - 1)), std::nullopt) << "pushed out";
    EXPECT_EQ(recent.find(a_, numbered(oldest_kept)), oldest_kept);
    EXPECT_EQ(recent.find(a_, numbered(last)), last);
}

TEST_F(RecentMessagesTest, AMessageRetentionRemovedIsNotFound) {
    store(a_, Bytes{1});
    store(a_, Bytes{2});
    RecentMessages recent(store_);
    EXPECT_EQ(recent.find(a_, Bytes{1}), 1u);
    RetentionPolicy keep_one;
    keep_one.max_items = 1;
    store_.prune(keep_one);
    EXPECT_EQ(recent.find(a_, Bytes{1}), std::nullopt);
    EXPECT_EQ(recent.find(a_, Bytes{2}), 2u);
}

}  // namespace
}  // namespace parley::relay
