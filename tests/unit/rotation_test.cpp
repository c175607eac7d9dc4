// protocol/rotation.h (docs/PROTOCOL.md §10.3 "When"): every member computes the
// same rotator from the record hash and the roster, the order is spread over
// members, the next in line takes over after each patience period, and an epoch
// and an update key fall due on the counts and ages the text gives.
#include "protocol/rotation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "crypto/primitives.h"
#include "test_support.h"

namespace parley::protocol::v2 {
namespace {

constexpr std::uint64_t t0 = 1'796'299'200'000;
constexpr std::uint64_t minute = 60'000;

std::vector<wire::PublicKey> members(std::size_t n) {
    std::vector<wire::PublicKey> out;
    for (std::size_t i = 0; i < n; ++i) out.push_back(test::new_identity().public_key);
    return out;
}

TEST(Rotation, EveryMemberComputesTheSameOrderFromAnyListing) {
    const auto roster = members(5);
    const auto record = crypto::random_array<wire::hash_bytes>();
    const auto order = rotator_order(record, roster);
    ASSERT_EQ(order.size(), 5u);
    auto shuffled = roster;
    std::mt19937 rng(7);
    for (int i = 0; i < 10; ++i) {
        std::shuffle(shuffled.begin(), shuffled.end(), rng);
        EXPECT_EQ(rotator_order(record, shuffled), order);
    }
    auto doubled = roster;
    doubled.insert(doubled.end(), roster.begin(), roster.end());
    EXPECT_EQ(rotator_order(record, doubled), order) << "a key listed twice is one member";
    auto sorted_order = order;
    std::sort(sorted_order.begin(), sorted_order.end());
    auto sorted_roster = roster;
    std::sort(sorted_roster.begin(), sorted_roster.end());
    EXPECT_EQ(sorted_order, sorted_roster) << "the order is of exactly the roster";
}

TEST(Rotation, MatchesTheVersion2Vectors) {
    // tests/vectors/v2.json; check_v2.py computes the same order from the text.
    std::ifstream in(std::string(PARLEY_VECTORS_DIR) + "/v2.json");
    ASSERT_TRUE(in) << "cannot open tests/vectors/v2.json";
    const auto v = nlohmann::json::parse(in);
    auto key_of = [](const std::string& hex) {
        Bytes b;
        EXPECT_TRUE(from_hex(hex, b));
        wire::PublicKey k{};
        EXPECT_EQ(b.size(), k.size());
        std::copy_n(b.begin(), std::min(b.size(), k.size()), k.begin());
        return k;
    };
    std::vector<wire::PublicKey> keys;
    for (const auto& hex : v["inputs"]["rotator_keys"]) keys.push_back(key_of(hex));
    ASSERT_EQ(keys.size(), 4u);
    std::vector<std::string> order;
    for (const auto& k : rotator_order(key_of(v["outputs"]["record_genesis_hash"]), keys)) order.push_back(to_hex(k));
    EXPECT_EQ(order, v["outputs"]["rotator_order_after_genesis"].get<std::vector<std::string>>());
}

TEST(Rotation, TheRotatorChangesWithTheRecordAndIsSpreadOverMembers) {
    // Not always the lowest key: 5 members over 2,000 record hashes, each
    // first about 400 times (a fixed key order would give one member 2,000).
    // Fixed keys and hashes, so every run counts the same.
    auto fixed = [](const std::string& what) { return crypto::blake2b(as_bytes(what)); };
    std::vector<wire::PublicKey> roster;
    for (int m = 0; m < 5; ++m) roster.push_back(fixed("member " + std::to_string(m)));
    std::map<wire::PublicKey, int> first;
    for (int i = 0; i < 2000; ++i) ++first[rotator_order(fixed("record " + std::to_string(i)), roster)[0]];
    ASSERT_EQ(first.size(), 5u);
    for (const auto& [key, n] : first) {
        EXPECT_GT(n, 300) << "a member is rotator far less than its share";
        EXPECT_LT(n, 500) << "a member is rotator far more than its share";
    }
}

TEST(Rotation, TheNextInLineWritesAfterEachPatiencePeriod) {
    const auto roster = members(4);
    const auto record = crypto::random_array<wire::hash_bytes>();
    const auto order = rotator_order(record, roster);
    EpochActivity a;
    a.started_ms = t0;
    a.change_waiting_since = t0 + 5 * minute;  // someone ran /remove
    EXPECT_EQ(epoch_due_at(a), t0 + 5 * minute);
    auto writers = [&](std::uint64_t now) {
        int n = 0;
        for (const auto& key : roster) n += should_write_epoch(record, roster, key, a, now);
        return n;
    };
    EXPECT_EQ(writers(t0 + 5 * minute - 1), 0) << "nobody before it falls due";
    EXPECT_TRUE(should_write_epoch(record, roster, order[0], a, t0 + 5 * minute));
    EXPECT_EQ(writers(t0 + 5 * minute), 1) << "the rotator alone, at once";
    EXPECT_EQ(writers(t0 + 15 * minute - 1), 1);
    EXPECT_TRUE(should_write_epoch(record, roster, order[1], a, t0 + 15 * minute));
    EXPECT_EQ(writers(t0 + 15 * minute), 2) << "the second in line after 10 minutes";
    EXPECT_EQ(writers(t0 + 35 * minute), 4);
    EXPECT_EQ(writers(t0 + 24 * 60 * minute), 4);
    EXPECT_FALSE(should_write_epoch(record, roster, test::new_identity().public_key, a, t0 + 60 * minute))
        << "a key outside the roster never writes";
}

TEST(Rotation, AnEpochFallsDueAfter1000MessagesOr24HoursOrAtOnceOnAChange) {
    EpochActivity a;
    a.started_ms = t0;
    EXPECT_EQ(epoch_due_at(a), t0 + 24 * 60 * minute);
    for (std::uint64_t i = 1; i < epoch_max_messages; ++i) a.note_message(t0 + i);
    EXPECT_FALSE(a.max_messages_at);
    EXPECT_EQ(epoch_due_at(a), t0 + 24 * 60 * minute) << "999 messages: not yet";
    a.note_message(t0 + 2 * minute);
    a.note_message(t0 + 3 * minute);
    EXPECT_EQ(epoch_due_at(a), t0 + 2 * minute) << "due with the 1,000th message";
    a.change_waiting_since = t0 + minute;
    EXPECT_EQ(epoch_due_at(a), t0 + minute) << "a waiting change comes first";
    a.change_waiting_since = t0 - minute;  // asked for before the epoch began (a clock behind)
    EXPECT_EQ(epoch_due_at(a), t0);

    EpochActivity fast;  // members who chose faster rotation (--rotate-after 10)
    fast.started_ms = t0;
    fast.max_messages = 10;
    for (std::uint64_t i = 1; i < 10; ++i) fast.note_message(t0 + i);
    EXPECT_EQ(epoch_due_at(fast), t0 + 24 * 60 * minute);
    fast.note_message(t0 + minute);
    EXPECT_EQ(epoch_due_at(fast), t0 + minute) << "due with the 10th";
}

TEST(Rotation, AnUpdateKeyFallsDueAfter1000OwnMessagesOr24Hours) {
    EXPECT_FALSE(update_key_due(999, t0, t0 + 60 * minute));
    EXPECT_TRUE(update_key_due(1000, t0, t0 + 1));
    EXPECT_FALSE(update_key_due(0, t0, t0 + 24 * 60 * minute - 1));
    EXPECT_TRUE(update_key_due(0, t0, t0 + 24 * 60 * minute));
    EXPECT_FALSE(update_key_due(0, t0, t0 - minute)) << "a clock that went back is not 24 hours on";
}

}  // namespace
}  // namespace parley::protocol::v2
