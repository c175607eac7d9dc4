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

    // Every record of a chain, page by page as a client fetches it.
    std::vector<Bytes> records(const wire::Hash& genesis, std::size_t page_bytes = 1u << 20) {
        std::vector<Bytes> out;
        wire::Hash after{};
        for (;;) {
            auto page = book_.page(room_, genesis, after, page_bytes);
            if (page.error) return out;
            for (auto& r : page.records) {
                after = wire::record_hash(*wire::decode_record(r).record);
                out.push_back(std::move(r));
            }
            if (page.complete) return out;
        }
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

    auto chain = records(out.genesis);
    ASSERT_EQ(chain.size(), 1u);
    EXPECT_EQ(chain[0], wire::encode_record(genesis));
    EXPECT_EQ(book_.page(room_, make_room("other"), {}, 1024).error, RelayError::unknown_chain);
    EXPECT_EQ(book_.page(room_, out.genesis, make_room("no such record"), 1024).error, RelayError::unknown_chain);
}

TEST_F(ChainBookTest, SameGenesisTwiceIsIdempotent) {
    auto genesis = make_genesis(room_, {alice_}, alice_, token0_);
    ASSERT_TRUE(publish(genesis, {}).appended);
    auto again = publish(genesis, {});
    ASSERT_FALSE(again.error);
    EXPECT_FALSE(again.appended);
    EXPECT_EQ(records(wire::record_hash(genesis)).size(), 1u);
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
    EXPECT_EQ(records(out.genesis).size(), 2u);
}

TEST_F(ChainBookTest, RejectsSuccessorWithWrongToken) {
    auto genesis = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    ASSERT_FALSE(publish(genesis, {}).error);
    auto out = publish(make_successor(genesis, bob_, token1_), make_token(0x99));
    EXPECT_EQ(out.error, RelayError::forbidden);
    EXPECT_EQ(records(wire::record_hash(genesis)).size(), 1u);
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

// Whoever knows a room id (a removed member) cannot start a second chain
// beside the members' one, whatever its hash.
TEST_F(ChainBookTest, ASecondGenesisForARoomIsRefused) {
    auto first = make_genesis(room_, {alice_, bob_, carol_}, alice_, token0_);
    ASSERT_FALSE(publish(first, {}).error);
    for (int i = 0; i < 20; ++i) {
        auto squatter = make_genesis(room_, {carol_}, carol_, make_token(static_cast<std::uint8_t>(0x40 + i)));
        EXPECT_EQ(publish(squatter, {}).error, RelayError::room_exists);
    }
    EXPECT_EQ(store_.geneses(room_).size(), 1u);
    EXPECT_FALSE(book_.check_join(room_, wire::record_hash(first), token0_).error);
    // The first one again is still a retry.
    EXPECT_FALSE(publish(first, {}).error);
}

TEST_F(ChainBookTest, PagesEndAtTheHeadWithinTheirByteBudget) {
    auto genesis = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    ASSERT_FALSE(publish(genesis, {}).error);
    std::vector<wire::EpochRecord> chain{genesis};
    std::vector<wire::Token> tokens{token0_};
    for (int e = 1; e <= 12; ++e) {
        tokens.push_back(make_token(static_cast<std::uint8_t>(0x20 + e)));
        chain.push_back(make_successor(chain.back(), e % 2 ? bob_ : alice_, tokens.back()));
        ASSERT_FALSE(publish(chain.back(), tokens[tokens.size() - 2]).error) << "epoch " << e;
    }
    const auto g = wire::record_hash(genesis);
    const std::size_t one = wire::encode_record(chain[1]).size();
    // After the genesis (larger: it adds every member), two records a page:
    // the budget is reached by the second one.
    auto first = book_.page(room_, g, g, one + 1);
    ASSERT_FALSE(first.error);
    EXPECT_EQ(first.records.size(), 2u);
    EXPECT_FALSE(first.complete);
    auto all = records(g, one + 1);
    ASSERT_EQ(all.size(), chain.size());
    for (std::size_t i = 0; i < chain.size(); ++i) EXPECT_EQ(all[i], wire::encode_record(chain[i])) << i;
    // After the head: nothing more, complete.
    auto after_head = book_.page(room_, g, wire::record_hash(chain.back()), one);
    ASSERT_FALSE(after_head.error);
    EXPECT_TRUE(after_head.records.empty());
    EXPECT_TRUE(after_head.complete);
}

TEST_F(ChainBookTest, ASuccessorOverTheRecordQuotaIsRefused) {
    Quotas quotas;
    quotas.max_chain_records = 2;
    ChainBook book{store_, quotas};
    auto genesis = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    auto verified = verify_published_record(room_, wire::encode_record(genesis));
    ASSERT_FALSE(book.publish(room_, {}, *verified).error);
    auto e1 = make_successor(genesis, bob_, token1_);
    ASSERT_FALSE(book.publish(room_, token0_, *verify_published_record(room_, wire::encode_record(e1))).error);
    auto e2 = make_successor(e1, bob_, make_token(0x33));
    EXPECT_EQ(book.publish(room_, token1_, *verify_published_record(room_, wire::encode_record(e2))).error,
              RelayError::quota);
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
