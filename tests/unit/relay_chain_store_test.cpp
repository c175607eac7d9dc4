// ChainBook's rules over the in-memory ChainStore, without sockets.
#include <gtest/gtest.h>

#include "relay/chain_book.h"
#include "relay/memory_relay_store.h"
#include "relay_test_records.h"

namespace parley::relay {
namespace {

using namespace parley::relay_test;
using wire::RelayError;

class ChainBookTest : public ::testing::Test {
protected:
    PublishOutcome publish(const wire::EpochRecord& record, const wire::Token& token,
                           const wire::RoomId* room_override = nullptr) {
        const auto& to = room_override ? *room_override : room_;
        auto verified = verify_published_record(to, wire::encode_record(record));
        if (!verified) {
            PublishOutcome out;
            out.error = RelayError::bad_record;
            return out;
        }
        return book_.publish(to, token, *verified);
    }

    MemoryRelayStore store_;
    ChainBook book_{store_};
    TestMember alice_ = make_member();
    TestMember bob_ = make_member();
    TestMember carol_ = make_member();
    wire::RoomId room_ = make_room("friends");
    wire::Token token0_ = make_token(0x10);
    wire::Token token1_ = make_token(0x11);
};

TEST_F(ChainBookTest, AcceptsGenesisAndServesIt) {
    auto genesis = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    auto out = publish(genesis, wire::Token{});
    ASSERT_FALSE(out.error);
    EXPECT_TRUE(out.appended);
    EXPECT_EQ(out.record_hash, wire::record_hash(genesis));
    EXPECT_EQ(out.genesis, out.record_hash);

    auto chains = book_.chains(room_, wire::Hash{});
    ASSERT_EQ(chains.size(), 1u);
    ASSERT_EQ(chains[0].size(), 1u);
    EXPECT_EQ(chains[0][0], wire::encode_record(genesis));
    EXPECT_EQ(book_.chains(room_, out.genesis).size(), 1u);
    EXPECT_TRUE(book_.chains(room_, make_room("other")).empty());
}

TEST_F(ChainBookTest, SameGenesisTwiceIsIdempotent) {
    auto genesis = make_genesis(room_, {alice_}, alice_, token0_);
    ASSERT_TRUE(publish(genesis, {}).appended);
    auto again = publish(genesis, {});
    ASSERT_FALSE(again.error);
    EXPECT_FALSE(again.appended);
    EXPECT_EQ(book_.chains(room_, wire::Hash{}).size(), 1u);
}

TEST_F(ChainBookTest, AcceptsSuccessorWithTheHeadToken) {
    auto genesis = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    ASSERT_FALSE(publish(genesis, {}).error);
    auto next = make_successor(genesis, bob_, token1_);
    auto out = publish(next, token0_);
    ASSERT_FALSE(out.error) << static_cast<int>(*out.error);
    EXPECT_TRUE(out.appended);
    EXPECT_EQ(out.genesis, wire::record_hash(genesis));

    auto join_old = book_.check_join(room_, out.genesis, token0_);
    EXPECT_EQ(join_old.error, RelayError::forbidden);
    auto join_new = book_.check_join(room_, out.genesis, token1_);
    ASSERT_FALSE(join_new.error);
    EXPECT_EQ(join_new.head_epoch, 1u);
    EXPECT_EQ(join_new.head_hash, wire::record_hash(next));
    EXPECT_EQ(book_.chains(room_, out.genesis)[0].size(), 2u);
}

TEST_F(ChainBookTest, RejectsSuccessorWithWrongToken) {
    auto genesis = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    ASSERT_FALSE(publish(genesis, {}).error);
    auto out = publish(make_successor(genesis, bob_, token1_), make_token(0x99));
    EXPECT_EQ(out.error, RelayError::forbidden);
    EXPECT_EQ(book_.chains(room_, wire::Hash{})[0].size(), 1u);
}

TEST_F(ChainBookTest, StalePreviousIsNotHead) {
    auto genesis = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    ASSERT_FALSE(publish(genesis, {}).error);
    ASSERT_FALSE(publish(make_successor(genesis, alice_, token1_), token0_).error);
    // Bob raced Alice and lost: his record also extends the genesis.
    auto late = make_successor(genesis, bob_, make_token(0x12));
    EXPECT_EQ(publish(late, token0_).error, RelayError::not_head);
}

TEST_F(ChainBookTest, UnknownPreviousIsUnknownChain) {
    auto genesis = make_genesis(room_, {alice_}, alice_, token0_);
    auto orphan = make_successor(genesis, alice_, token1_);  // genesis never published
    EXPECT_EQ(publish(orphan, token0_).error, RelayError::unknown_chain);
}

TEST_F(ChainBookTest, SecondGenesisMakesSecondChain) {
    auto first = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    auto squatter = make_genesis(room_, {carol_}, carol_, token1_);
    ASSERT_FALSE(publish(first, {}).error);
    ASSERT_FALSE(publish(squatter, {}).error);
    auto all = book_.chains(room_, wire::Hash{});
    ASSERT_EQ(all.size(), 2u);
    // Joining one chain is independent of the other.
    EXPECT_FALSE(book_.check_join(room_, wire::record_hash(first), token0_).error);
    EXPECT_EQ(book_.check_join(room_, wire::record_hash(first), token1_).error, RelayError::forbidden);
    auto only = book_.chains(room_, wire::record_hash(squatter));
    ASSERT_EQ(only.size(), 1u);
    EXPECT_EQ(only[0][0], wire::encode_record(squatter));
}

TEST_F(ChainBookTest, CapsChainsPerRoom) {
    for (std::size_t i = 0; i < wire::max_chains_per_room; ++i)
        ASSERT_FALSE(publish(make_genesis(room_, {alice_}, alice_, token0_), {}).error);
    EXPECT_EQ(publish(make_genesis(room_, {alice_}, alice_, token0_), {}).error, RelayError::limit);
}

TEST_F(ChainBookTest, RejectsForgedSignature) {
    auto genesis = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    genesis.created_at_ms += 1;  // body changed after signing
    EXPECT_FALSE(verify_published_record(room_, wire::encode_record(genesis)));
    auto signed_by_other = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    sign_record(signed_by_other, bob_);  // author says alice, bob signed
    EXPECT_FALSE(verify_published_record(room_, wire::encode_record(signed_by_other)));
}

TEST_F(ChainBookTest, RejectsRecordForAnotherRoom) {
    auto genesis = make_genesis(make_room("elsewhere"), {alice_}, alice_, token0_);
    EXPECT_FALSE(verify_published_record(room_, wire::encode_record(genesis)));
    EXPECT_TRUE(verify_published_record(make_room("elsewhere"), wire::encode_record(genesis)));
}

TEST_F(ChainBookTest, RejectsSuccessorByNonMember) {
    auto genesis = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    ASSERT_FALSE(publish(genesis, {}).error);
    // Carol holds a leaked token but is not in the roster.
    auto next = make_successor(genesis, carol_, token1_);
    next.roster = genesis.roster;
    next.boxes.assign(next.roster.size(), wire::SealedBox{});
    sign_record(next, carol_);
    EXPECT_EQ(publish(next, token0_).error, RelayError::bad_record);
}

TEST_F(ChainBookTest, JoinUnknownChain) {
    EXPECT_EQ(book_.check_join(room_, wire::Hash{}, token0_).error, RelayError::unknown_chain);
}

}  // namespace
}  // namespace parley::relay
