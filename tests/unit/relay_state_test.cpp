// RelayState with fake connections: replies, fan-out, NewHead and limits.
#include <gtest/gtest.h>

#include "relay/memory_chain_store.h"
#include "relay/relay_state.h"
#include "relay_test_records.h"

namespace parley::relay {
namespace {

using namespace parley::relay_test;
using wire::RelayError;

class FakeConnection : public Subscriber {
public:
    ~FakeConnection() override = default;
    void deliver(SharedFrame frame) override { frames.push_back(std::move(frame)); }

    // Takes the oldest frame, which must be a T.
    template <class T>
    T take() {
        EXPECT_FALSE(frames.empty());
        if (frames.empty()) return T{};
        auto decoded = wire::decode_frame(*frames.front());
        frames.erase(frames.begin());
        EXPECT_TRUE(decoded.frame && std::holds_alternative<T>(*decoded.frame));
        if (!decoded.frame || !std::holds_alternative<T>(*decoded.frame)) return T{};
        return std::get<T>(*decoded.frame);
    }

    std::vector<SharedFrame> frames;
};

class RelayStateTest : public ::testing::Test {
protected:
    RelayStateTest() : state_(std::make_unique<MemoryChainStore>(), limits()) {}

    static RelayLimits limits() {
        RelayLimits l;
        l.max_chains_per_connection = 2;
        return l;
    }

    void handle(FakeConnection& c, const wire::Frame& f) { state_.handle(c, wire::encode_frame(f)); }

    wire::Hash publish(FakeConnection& c, const wire::EpochRecord& r, const wire::Token& token = {}) {
        handle(c, wire::Publish{1, room_, token, wire::encode_record(r)});
        return c.take<wire::Published>().record_hash;
    }

    void join(FakeConnection& c, const wire::Hash& genesis, const wire::Token& token) {
        handle(c, wire::Join{2, room_, genesis, token});
        c.take<wire::Joined>();
    }

    RelayState state_;
    TestMember alice_ = make_member();
    TestMember bob_ = make_member();
    wire::RoomId room_ = make_room("state");
    wire::Token token0_ = make_token(0x40);
    wire::Token token1_ = make_token(0x41);
};

TEST_F(RelayStateTest, SendAcksSenderAndSharesOneFrameWithEveryOtherMember) {
    FakeConnection a, b, c;
    auto genesis = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    auto g = publish(a, genesis);
    for (auto* conn : {&a, &b, &c}) join(*conn, g, token0_);

    handle(a, wire::Send{5, room_, g, Bytes{1, 2, 3}});
    EXPECT_EQ(a.take<wire::Ack>().seq, 1u);
    EXPECT_TRUE(a.frames.empty());
    ASSERT_EQ(b.frames.size(), 1u);
    ASSERT_EQ(c.frames.size(), 1u);
    EXPECT_EQ(b.frames[0], c.frames[0]) << "recipients should share one encoded frame";
    EXPECT_EQ(b.take<wire::Deliver>().envelope, (Bytes{1, 2, 3}));

    handle(b, wire::Send{6, room_, g, Bytes{4}});
    EXPECT_EQ(b.take<wire::Ack>().seq, 2u);
    EXPECT_EQ(a.take<wire::Deliver>().seq, 2u);
    state_.leave_all(c);
    c.frames.clear();
    handle(a, wire::Send{7, room_, g, Bytes{5}});
    EXPECT_TRUE(c.frames.empty()) << "a connection that left still gets messages";
}

TEST_F(RelayStateTest, PublisherGetsPublishedBeforeNewHead) {
    FakeConnection a, b;
    auto genesis = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    auto g = publish(a, genesis);
    join(a, g, token0_);
    join(b, g, token0_);
    handle(a, wire::Publish{9, room_, token0_, wire::encode_record(make_successor(genesis, alice_, token1_))});
    EXPECT_EQ(a.take<wire::Published>().request_id, 9u);
    EXPECT_EQ(a.take<wire::NewHead>().genesis, g);
    EXPECT_EQ(b.take<wire::NewHead>().genesis, g);
    handle(b, wire::Send{10, room_, g, Bytes{1}});
    EXPECT_EQ(b.take<wire::Error>().code, RelayError::not_joined);
}

TEST_F(RelayStateTest, CapsChainsPerConnection) {
    FakeConnection a;
    std::vector<wire::Hash> geneses;
    for (int i = 0; i < 3; ++i) geneses.push_back(publish(a, make_genesis(room_, {alice_}, alice_, token0_)));
    join(a, geneses[0], token0_);
    join(a, geneses[1], token0_);
    join(a, geneses[1], token0_);  // rejoining is idempotent, not a third chain
    handle(a, wire::Join{3, room_, geneses[2], token0_});
    auto error = a.take<wire::Error>();
    EXPECT_EQ(error.request_id, 3u);
    EXPECT_EQ(error.code, RelayError::limit);
}

TEST_F(RelayStateTest, UndecodableAndReversedFramesGetErrors) {
    FakeConnection a;
    state_.handle(a, Bytes{0x01});
    EXPECT_EQ(a.take<wire::Error>().code, RelayError::malformed);
    state_.handle(a, Bytes{0x09, 0x01});
    EXPECT_EQ(a.take<wire::Error>().code, RelayError::bad_version);
    handle(a, wire::Deliver{room_, {}, 1, Bytes{1}});
    EXPECT_EQ(a.take<wire::Error>().code, RelayError::malformed);
    handle(a, wire::Publish{4, room_, {}, Bytes{1, 2, 3}});
    auto error = a.take<wire::Error>();
    EXPECT_EQ(error.request_id, 4u);
    EXPECT_EQ(error.code, RelayError::bad_record);
}

}  // namespace
}  // namespace parley::relay
