// RelayState with fake connections: replies, fan-out, NewHead, backlog and
// limits (who may create rooms and the quotas: relay_admission_test.cpp).
#include "relay/relay_state.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <set>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>

#include "relay/memory_relay_store.h"
#include "relay/sqlite_relay_store.h"
#include "relay_state_fixture.h"

namespace parley::relay {
namespace {

using namespace parley::relay_test;
using namespace parley::relay::state_test;
using wire::RelayError;

TEST_F(RelayStateTest, SendAcksSenderAndSharesOneFrameWithEveryOtherMember) {
    FakeConnection a, b, c;
    auto genesis = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    auto g = publish(a, genesis);
    for (auto* conn : {&a, &b, &c}) join(*conn, g, token0_);

    handle(a, wire::Send{5, room_, g, Bytes{1, 2, 3}});
    EXPECT_EQ(a.take<wire::Ack>().seq, 1u);
    EXPECT_EQ(a.size(), 0u);
    ASSERT_TRUE(b.wait_for(1));
    ASSERT_TRUE(c.wait_for(1));
    EXPECT_EQ(b.at(0), c.at(0)) << "recipients should share one encoded frame";
    EXPECT_EQ(b.take<wire::Deliver>().envelope, (Bytes{1, 2, 3}));

    handle(b, wire::Send{6, room_, g, Bytes{4}});
    EXPECT_EQ(b.take<wire::Ack>().seq, 2u);
    EXPECT_EQ(a.take<wire::Deliver>().seq, 2u);
    state_.leave_all(c);
    c.clear();
    handle(a, wire::Send{7, room_, g, Bytes{5}});
    EXPECT_EQ(a.take<wire::Ack>().seq, 3u);
    EXPECT_EQ(b.take<wire::Deliver>().seq, 3u);
    EXPECT_TRUE(c.quiet_for(std::chrono::milliseconds(50)))
        << "a connection that left still gets messages";
}

// A Resend (the client lost the connection before the Ack) of a stored
// message: Ack with the stored copy's number, no second Deliver, counted in
// /metrics. A Resend of bytes the relay never stored is an ordinary Send; a
// plain Send is never looked up.
TEST_F(RelayStateTest, AResendOfAStoredMessageGetsItsAckAndNoSecondDeliver) {
    FakeConnection a, b;
    const auto genesis = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    auto g = publish(a, genesis);
    join(a, g, token0_);
    join(b, g, token0_);
    handle(a, wire::Send{5, room_, g, Bytes{1, 2, 3}});
    EXPECT_EQ(a.take<wire::Ack>().seq, 1u);
    EXPECT_EQ(b.take<wire::Deliver>().seq, 1u);

    handle(a, wire::Send{6, room_, g, Bytes{1, 2, 3}, true});
    const auto ack = a.take<wire::Ack>();
    EXPECT_EQ(ack.request_id, 6u);
    EXPECT_EQ(ack.seq, 1u) << "the stored copy's number";
    EXPECT_TRUE(b.quiet_for(std::chrono::milliseconds(50)))
        << "the resent message was delivered again";
    EXPECT_EQ(state_.metrics().resends_already_stored.load(), 1u);
    EXPECT_EQ(store_->range({room_, g}).last_seq, 1u) << "a second copy was stored";

    handle(a, wire::Send{7, room_, g, Bytes{9}, true});
    EXPECT_EQ(a.take<wire::Ack>().seq, 2u);
    EXPECT_EQ(b.take<wire::Deliver>().envelope, Bytes{9});
    handle(a, wire::Send{8, room_, g, Bytes{1, 2, 3}});
    EXPECT_EQ(a.take<wire::Ack>().seq, 3u);
    EXPECT_EQ(b.take<wire::Deliver>().seq, 3u);
    EXPECT_EQ(state_.metrics().resends_already_stored.load(), 1u);

    // The room counts no Send in flight any more (a Publish waits for that):
    // a resend that was only acknowledged left it balanced.
    handle(a, wire::Send{9, room_, g, Bytes{4}, true});
    handle(a, wire::Send{10, room_, g, Bytes{4}, true});  // maybe in one batch with the first
    EXPECT_EQ(a.take<wire::Ack>().seq, 4u);
    EXPECT_GE(a.take<wire::Ack>().seq, 4u);
    const auto next = make_successor(genesis, alice_, token1_);
    handle(a, wire::Publish{11, room_, token0_, wire::encode_record(next)});
    EXPECT_EQ(a.take<wire::Published>().record_hash, wire::record_hash(next));
}

// The relay crashed after storing a message and before its Ack left: a relay
// started again over the same database answers the Resend with the stored
// copy's number, and the other member gets no second Deliver.
TEST_F(RelayStateTest, AResendAfterARestartGetsTheStoredCopysAck) {
    std::string dir =
        (std::filesystem::temp_directory_path() / "parley-relay-resend-XXXXXX").string();
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    const auto open = [&] {
        return std::make_unique<RelayState>(
            std::make_unique<SqliteRelayStore>(dir, SqliteRelayStore::Sync::normal), limits());
    };
    wire::Hash g{};
    {
        auto before = open();
        FakeConnection a;
        a.attach(*before);
        before->handle(
            a, wire::encode_frame(wire::Publish{
                   1,
                   room_,
                   {},
                   wire::encode_record(make_genesis(room_, {alice_, bob_}, alice_, token0_))}));
        g = a.take<wire::Published>().record_hash;
        before->handle(a, wire::encode_frame(wire::Join{2, room_, g, token0_}));
        a.take<wire::Joined>();
        before->handle(a, wire::encode_frame(wire::Send{3, room_, g, Bytes(300, 0x5e)}));
        EXPECT_EQ(a.take<wire::Ack>().seq, 1u);  // the Ack the crash lost
        before->leave_all(a);
    }
    auto after = open();
    FakeConnection a, b;
    for (auto* c : {&a, &b}) {
        c->attach(*after);
        after->handle(*c, wire::encode_frame(wire::Join{
                              2, room_, g, token0_, std::numeric_limits<std::uint64_t>::max()}));
        c->take<wire::Joined>();
    }
    after->handle(a, wire::encode_frame(wire::Send{4, room_, g, Bytes(300, 0x5e), true}));
    EXPECT_EQ(a.take<wire::Ack>().seq, 1u);
    EXPECT_TRUE(b.quiet_for(std::chrono::milliseconds(50)))
        << "the resent message was delivered again";
    after->handle(a, wire::encode_frame(wire::Send{5, room_, g, Bytes(300, 0x61), true}));
    EXPECT_EQ(a.take<wire::Ack>().seq, 2u) << "a Resend of something never stored is stored";
    EXPECT_EQ(b.take<wire::Deliver>().seq, 2u);
    for (auto* c : {&a, &b}) after->leave_all(*c);
    after.reset();
    std::filesystem::remove_all(dir);
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
    std::vector<std::pair<wire::RoomId, wire::Hash>> rooms;
    for (int i = 0; i < 3; ++i) {
        const auto room = make_room("cap " + std::to_string(i));
        handle(a, wire::Publish{1, room, {}, wire::encode_record(make_genesis(room, {alice_}, alice_, token0_))});
        rooms.emplace_back(room, a.take<wire::Published>().record_hash);
    }
    auto join_room = [&](std::size_t i, std::uint64_t id) { handle(a, wire::Join{id, rooms[i].first, rooms[i].second, token0_}); };
    join_room(0, 2);
    EXPECT_EQ(a.take<wire::Joined>().request_id, 2u);
    join_room(1, 2);
    EXPECT_EQ(a.take<wire::Joined>().request_id, 2u);
    join_room(1, 2);  // rejoining is idempotent, not a third chain
    EXPECT_EQ(a.take<wire::Joined>().request_id, 2u);
    join_room(2, 3);
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

TEST_F(RelayStateTest, JoinAfterSeqGetsTheBacklogThenLiveWithoutGapOrDuplicate) {
    FakeConnection a, b;
    auto g = publish(a, make_genesis(room_, {alice_, bob_}, alice_, token0_));
    join(a, g, token0_);
    for (std::uint8_t i = 1; i <= 5; ++i) EXPECT_EQ(send(a, g, i), i);

    handle(b, wire::Join{2, room_, g, token0_, 2});
    auto joined = b.take<wire::Joined>();
    EXPECT_EQ(joined.last_seq, 5u);
    EXPECT_EQ(joined.first_seq, 1u);
    // A page of two, then the rest when the connection asks for more.
    EXPECT_EQ(b.take<wire::Deliver>().seq, 3u);
    EXPECT_EQ(b.take<wire::Deliver>().seq, 4u);
    ASSERT_EQ(b.take_paused().size(), 1u);
    EXPECT_EQ(send(a, g, 6), 6u);  // live while b catches up: b reads it from the log
    EXPECT_TRUE(b.quiet_for(std::chrono::milliseconds(30)));
    state_.continue_backlog(b, {room_, g});
    auto five = b.take<wire::Deliver>();
    EXPECT_EQ(five.seq, 5u);
    EXPECT_EQ(five.envelope, Bytes(8, 5));
    EXPECT_EQ(b.take<wire::Deliver>().seq, 6u);
    EXPECT_TRUE(b.take_paused().empty()) << "caught up, yet paused";
    EXPECT_EQ(send(a, g, 7), 7u);
    EXPECT_EQ(b.take<wire::Deliver>().seq, 7u);
    EXPECT_TRUE(b.quiet_for(std::chrono::milliseconds(30))) << "a duplicate after the switch-over";
}

TEST_F(RelayStateTest, JoinedReportsWhatRetentionRemoved) {
    FakeConnection a, b;
    auto g = publish(a, make_genesis(room_, {alice_, bob_}, alice_, token0_));
    join(a, g, token0_);
    for (std::uint8_t i = 1; i <= 5; ++i) send(a, g, i);
    RetentionPolicy keep_two;
    keep_two.max_items = 2;
    EXPECT_EQ(state_.prune(keep_two), 3u);
    handle(b, wire::Join{2, room_, g, token0_, 0});
    auto joined = b.take<wire::Joined>();
    EXPECT_EQ(joined.first_seq, 4u);
    EXPECT_EQ(joined.last_seq, 5u);
    EXPECT_EQ(b.take<wire::Deliver>().seq, 4u);
    EXPECT_EQ(b.take<wire::Deliver>().seq, 5u);

    now_ms_ += 31LL * 24 * 3600 * 1000;  // past the default 30 days
    EXPECT_EQ(state_.prune(RetentionPolicy{}), 2u);
    FakeConnection c;
    handle(c, wire::Join{3, room_, g, token0_, 0});
    joined = c.take<wire::Joined>();
    EXPECT_EQ(joined.first_seq, 6u) << "nothing stored: first_seq is last_seq + 1";
    EXPECT_EQ(joined.last_seq, 5u);
    EXPECT_TRUE(c.quiet_for(std::chrono::milliseconds(30)));
    EXPECT_EQ(send(a, g, 6), 6u) << "numbers go on after retention emptied the log";
}

TEST_F(RelayStateTest, NewHeadTakesItsPlaceInTheSequence) {
    FakeConnection a, c;
    auto genesis = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    auto g = publish(a, genesis);
    join(a, g, token0_);
    send(a, g, 1);
    send(a, g, 2);
    auto next = make_successor(genesis, alice_, token1_);
    handle(a, wire::Publish{9, room_, token0_, wire::encode_record(next)});
    EXPECT_EQ(a.take<wire::Published>().request_id, 9u);
    EXPECT_EQ(a.take<wire::NewHead>().seq, 3u);

    handle(c, wire::Join{4, room_, g, token1_, 0});
    auto joined = c.take<wire::Joined>();
    EXPECT_EQ(joined.head_epoch, 1u);
    EXPECT_EQ(joined.last_seq, 3u);
    EXPECT_EQ(c.take<wire::Deliver>().seq, 1u);
    EXPECT_EQ(c.take<wire::Deliver>().seq, 2u);
    ASSERT_EQ(c.take_paused().size(), 1u);
    state_.continue_backlog(c, {room_, g});
    auto head = c.take<wire::NewHead>();
    EXPECT_EQ(head.seq, 3u);
    EXPECT_EQ(head.record, wire::encode_record(next));
}

TEST_F(RelayStateTest, FailedStoreRefusesTheSendAndUsesNoNumber) {
    FakeConnection a, b;
    auto g = publish(a, make_genesis(room_, {alice_, bob_}, alice_, token0_));
    join(a, g, token0_);
    join(b, g, token0_);
    store_->fail_next_append();
    handle(a, wire::Send{5, room_, g, Bytes{1}});
    auto error = a.take<wire::Error>();
    EXPECT_EQ(error.request_id, 5u);
    EXPECT_EQ(error.code, RelayError::internal);
    EXPECT_TRUE(b.quiet_for(std::chrono::milliseconds(30))) << "an unstored message went out";
    EXPECT_EQ(send(a, g, 6), 1u);
    EXPECT_EQ(b.take<wire::Deliver>().seq, 1u);
}

TEST_F(RelayStateTest, JoinDuringASteadyStreamSeesEverySeqOnce) {
    FakeConnection a, b;
    auto g = publish(a, make_genesis(room_, {alice_, bob_}, alice_, token0_));
    join(a, g, token0_);
    constexpr std::uint64_t total = 300;
    std::thread sender([&] {
        for (std::uint64_t i = 1; i <= total; ++i) handle(a, wire::Send{i, room_, g, Bytes{1}});
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    handle(b, wire::Join{2, room_, g, token0_, 0});
    sender.join();
    ASSERT_TRUE(a.wait_for(total));  // every Ack
    std::vector<std::uint64_t> seen;
    auto joined = b.take<wire::Joined>();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (seen.size() < total && std::chrono::steady_clock::now() < deadline) {
        for (const auto& chain : b.take_paused()) state_.continue_backlog(b, chain);
        while (b.size() > 0) seen.push_back(b.take<wire::Deliver>().seq);
        if (seen.size() < total) b.quiet_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(seen.size(), total) << "joined at last_seq " << joined.last_seq;
    for (std::uint64_t i = 0; i < total; ++i) ASSERT_EQ(seen[i], i + 1) << "gap or duplicate";
    EXPECT_TRUE(b.quiet_for(std::chrono::milliseconds(30)));
}

// A room id has one genesis: whoever learns it (a removed member) cannot
// start a second chain for the members' new devices to follow.
TEST_F(RelayStateTest, ASecondGenesisForARoomIsRefused) {
    FakeConnection a, charlie;
    const auto genesis = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    const auto g = publish(a, genesis);
    for (std::uint8_t i = 0; i < 10; ++i) {
        handle(charlie, wire::Publish{7, room_, {}, wire::encode_record(make_genesis(room_, {bob_}, bob_, make_token(i)))});
        const auto error = charlie.take<wire::Error>();
        EXPECT_EQ(error.request_id, 7u);
        EXPECT_EQ(error.code, RelayError::room_exists);
    }
    EXPECT_EQ(store_->geneses(room_), std::vector<wire::Hash>{g});
    EXPECT_EQ(publish(a, genesis), g) << "the same genesis again is a retry";
}

// Nothing a peer without a room sends makes the relay keep memory for one:
// rejected Publishes, GetChains and Joins for rooms that do not exist.
TEST_F(RelayStateTest, RequestsForRoomsThatDoNotExistAllocateNoRoomAndIdleRoomsGo) {
    FakeConnection x;
    const auto genesis = make_genesis(room_, {alice_}, alice_, token0_);
    for (int i = 0; i < 1000; ++i) {
        const auto room = make_room("random " + std::to_string(i));
        handle(x, wire::Publish{1, room, token0_, wire::encode_record(make_successor(genesis, alice_, token1_))});
        handle(x, wire::GetChain{2, room, make_room("g"), {}});
        handle(x, wire::Join{3, room, make_room("g"), token0_});
        handle(x, wire::Send{4, room, make_room("g"), Bytes(8, 1)});
    }
    ASSERT_TRUE(x.wait_for(4000));
    EXPECT_EQ(state_.rooms_in_memory(), 0u);
    // A genesis makes no Room either: the first Join does.
    FakeConnection a;
    const auto g = publish(a, genesis);
    EXPECT_EQ(state_.rooms_in_memory(), 0u);
    join(a, g, token0_);
    EXPECT_EQ(state_.rooms_in_memory(), 1u);
    // The last member leaves with nothing in flight: the room goes too, and
    // comes back on the next Join where its numbering left off.
    EXPECT_EQ(send(a, g, 1), 1u);
    state_.leave_all(a);
    EXPECT_EQ(state_.rooms_in_memory(), 0u);
    FakeConnection b;
    join(b, g, token0_);
    EXPECT_EQ(state_.rooms_in_memory(), 1u);
    EXPECT_EQ(b.take<wire::Deliver>().seq, 1u);  // the backlog is the store's
    EXPECT_EQ(send(b, g, 2), 2u);
    // A Join with a wrong token leaves nothing behind.
    state_.leave_all(b);
    handle(b, wire::Join{9, room_, g, token1_});
    EXPECT_EQ(b.take<wire::Error>().code, RelayError::forbidden);
    EXPECT_EQ(state_.rooms_in_memory(), 0u);
}

TEST_F(RelayStateTest, AChainIsServedInPagesOfTheConfiguredSize) {
    RelayLimits paged = limits();
    paged.chain_page_bytes = 1;  // one record a page
    RelayState state(std::make_unique<MemoryRelayStore>(), paged);
    FakeConnection a;
    a.attach(state);
    std::vector<wire::EpochRecord> chain{make_genesis(room_, {alice_, bob_}, alice_, make_token(0))};
    state.handle(a, wire::encode_frame(wire::Publish{1, room_, {}, wire::encode_record(chain[0])}));
    const auto g = a.take<wire::Published>().record_hash;
    for (std::uint8_t e = 1; e <= 5; ++e) {
        chain.push_back(make_successor(chain.back(), bob_, make_token(e)));
        state.handle(a, wire::encode_frame(wire::Publish{1, room_, make_token(static_cast<std::uint8_t>(e - 1)),
                                                         wire::encode_record(chain.back())}));
        ASSERT_EQ(a.take<wire::Published>().record_hash, wire::record_hash(chain.back()));
    }
    wire::Hash after{};
    for (std::size_t i = 0; i < chain.size(); ++i) {
        state.handle(a, wire::encode_frame(wire::GetChain{10 + i, room_, g, after}));
        auto page = a.take<wire::Chain>();
        EXPECT_EQ(page.request_id, 10 + i);
        ASSERT_EQ(page.records.size(), 1u);
        EXPECT_EQ(page.records[0], wire::encode_record(chain[i]));
        EXPECT_EQ(page.complete, i + 1 == chain.size()) << "page " << i;
        after = wire::record_hash(chain[i]);
    }
    state.handle(a, wire::encode_frame(wire::GetChain{99, room_, g, make_room("not a record")}));
    const auto error = a.take<wire::Error>();
    EXPECT_EQ(error.request_id, 99u);
    EXPECT_EQ(error.code, RelayError::unknown_chain);
}

}  // namespace
}  // namespace parley::relay
