// Several relay nodes on one store (issue 14), RelayState's part: what one
// node stores reaches the members on another, in the chain's order, once, and
// never as a Deliver of a member's own message. Here the nodes share one
// in-memory store, and the test decides when each node hears of the others'
// commits (the PostgreSQL store hears through LISTEN/NOTIFY:
// relay_cluster_test.cpp runs nodes on a real server), so every interleaving
// below is deterministic.
#include <gtest/gtest.h>

#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "relay/memory_relay_store.h"
#include "relay/relay_state.h"
#include "relay_state_fixture.h"

namespace parley::relay {
namespace {

using namespace parley::relay_test;
using namespace parley::relay::state_test;
using wire::RelayError;

class Cluster;

// One node's view of the shared store: every call goes to it, and each commit
// is queued for the other nodes to hear of.
class NodeStore final : public RelayStore {
public:
    NodeStore(Cluster& cluster, RelayStore& db) : cluster_(cluster), db_(db) {}

    std::vector<wire::Hash> geneses(const wire::RoomId& room) const override { return db_.geneses(room); }
    std::optional<StoredRecord> head(const wire::RoomId& room, const wire::Hash& g) const override {
        return db_.head(room, g);
    }
    std::vector<Bytes> records(const wire::RoomId& room, const wire::Hash& g) const override {
        return db_.records(room, g);
    }
    std::optional<wire::Hash> chain_containing(const wire::RoomId& room, const wire::Hash& h) const override {
        return db_.chain_containing(room, h);
    }
    std::size_t length(const wire::RoomId& room, const wire::Hash& g) const override { return db_.length(room, g); }
    std::vector<Bytes> records_after(const wire::RoomId& room, const wire::Hash& g, std::optional<std::uint64_t> after,
                                     std::size_t max_items, std::size_t max_bytes) const override {
        return db_.records_after(room, g, after, max_items, max_bytes);
    }
    std::optional<std::uint64_t> epoch_of(const wire::RoomId& room, const wire::Hash& g,
                                          const wire::Hash& h) const override {
        return db_.epoch_of(room, g, h);
    }
    std::uint64_t stored_bytes(const wire::RoomId& room, const wire::Hash& g) const override {
        return db_.stored_bytes(room, g);
    }
    std::uint64_t total_stored_bytes() const override { return db_.total_stored_bytes(); }
    std::uint64_t append(const wire::RoomId& room, const wire::Hash& g, StoredRecord record) override;
    std::vector<std::uint64_t> append(const std::vector<LogAppend>& items) override;
    std::vector<LogItem> read(const ChainKey& chain, std::uint64_t after, std::uint64_t up_to, std::size_t max_items,
                              std::size_t max_bytes) const override {
        reads_ += 1;
        return db_.read(chain, after, up_to, max_items, max_bytes);
    }
    LogRange range(const ChainKey& chain) const override { return db_.range(chain); }
    std::size_t prune(const RetentionPolicy& policy) override { return db_.prune(policy); }

    void watch_commits(CommitWatcher watcher) override {
        std::lock_guard lock(mutex_);
        watcher_ = std::move(watcher);
    }
    void tell(const std::vector<ChainTip>& tips, bool everything) {
        CommitWatcher watcher;
        {
            std::lock_guard lock(mutex_);
            watcher = watcher_;
        }
        if (watcher) watcher(tips, everything);
    }
    std::size_t reads() const { return reads_; }
    // Called by the writer thread before each batch is stored (a test holds a batch in flight).
    void before_append(std::function<void()> hook) { before_append_ = std::move(hook); }

private:
    Cluster& cluster_;
    RelayStore& db_;
    std::mutex mutex_;
    CommitWatcher watcher_;
    mutable std::atomic<std::size_t> reads_{0};
    std::function<void()> before_append_;
};

class Cluster {
public:
    std::unique_ptr<NodeStore> node() {
        auto store = std::make_unique<NodeStore>(*this, db_);
        std::lock_guard lock(mutex_);
        nodes_.push_back(store.get());
        return store;
    }
    // Called by a node after each commit: every other node will hear of it.
    void committed(NodeStore* from, const std::vector<ChainTip>& tips) {
        std::lock_guard lock(mutex_);
        for (auto* n : nodes_)
            if (n != from)
                for (const auto& tip : tips) {
                    auto& seq = heard_[n][tip.chain];
                    seq = std::max(seq, tip.last_seq);
                }
    }
    // Every node hears what it has not heard yet, in one notification each.
    void hear() {
        std::map<NodeStore*, std::map<ChainKey, std::uint64_t>> due;
        {
            std::lock_guard lock(mutex_);
            due.swap(heard_);
        }
        for (auto& [node, tips] : due) {
            std::vector<ChainTip> list;
            for (const auto& [key, seq] : tips) list.push_back({key, seq});
            node->tell(list, false);
        }
    }
    // Notifications lost (a node's listening connection broke).
    void drop() {
        std::lock_guard lock(mutex_);
        heard_.clear();
    }
    MemoryRelayStore& db() { return db_; }

private:
    MemoryRelayStore db_;
    std::mutex mutex_;
    std::vector<NodeStore*> nodes_;
    std::map<NodeStore*, std::map<ChainKey, std::uint64_t>> heard_;
};

std::uint64_t NodeStore::append(const wire::RoomId& room, const wire::Hash& g, StoredRecord record) {
    const std::uint64_t seq = db_.append(room, g, std::move(record));
    if (seq > 0) cluster_.committed(this, {{{room, g}, seq}});
    return seq;
}

std::vector<std::uint64_t> NodeStore::append(const std::vector<LogAppend>& items) {
    if (before_append_) before_append_();
    auto seqs = db_.append(items);
    std::vector<ChainTip> tips;
    for (std::size_t i = 0; i < items.size(); ++i) tips.push_back({items[i].chain, seqs[i]});
    cluster_.committed(this, tips);
    return seqs;
}

class RelayClusterStateTest : public ::testing::Test {
protected:
    RelayClusterStateTest() {
        auto a = cluster_.node();
        auto b = cluster_.node();
        store_a_ = a.get();
        store_b_ = b.get();
        RelayLimits limits;
        limits.backlog_page_items = 2;
        a_ = std::make_unique<RelayState>(std::move(a), limits);
        b_ = std::make_unique<RelayState>(std::move(b), limits);
    }

    void handle(RelayState& node, FakeConnection& c, const wire::Frame& f) {
        c.attach(node);
        node.handle(c, wire::encode_frame(f));
    }
    wire::Hash start_room(FakeConnection& founder) {
        genesis_ = make_genesis(room_, {alice_, bob_}, alice_, token0_);
        handle(*a_, founder, wire::Publish{1, room_, {}, wire::encode_record(genesis_)});
        g_ = founder.take<wire::Published>().record_hash;
        return g_;
    }
    void join(RelayState& node, FakeConnection& c, std::uint64_t after = 0) {
        handle(node, c, wire::Join{2, room_, g_, token0_, after});
        c.take<wire::Joined>();
    }
    std::uint64_t send(RelayState& node, FakeConnection& c, std::uint8_t fill) {
        handle(node, c, wire::Send{fill, room_, g_, Bytes(4, fill)});
        return c.take<wire::Ack>().seq;
    }
    // The seqs of the next `n` Delivers `c` gets, checking each envelope is the sender's fill.
    std::vector<std::uint64_t> delivered(FakeConnection& c, std::size_t n) {
        std::vector<std::uint64_t> out;
        for (std::size_t i = 0; i < n; ++i) out.push_back(c.take<wire::Deliver>().seq);
        return out;
    }

    Cluster cluster_;
    NodeStore* store_a_ = nullptr;
    NodeStore* store_b_ = nullptr;
    std::unique_ptr<RelayState> a_, b_;  // before the connections: they leave on destruction
    TestMember alice_ = make_member();
    TestMember bob_ = make_member();
    wire::RoomId room_ = make_room("cluster");
    wire::Token token0_ = make_token(0x40);
    wire::Token token1_ = make_token(0x41);
    wire::EpochRecord genesis_;
    wire::Hash g_{};
};

TEST_F(RelayClusterStateTest, AMessageStoredThroughOneNodeReachesTheMembersOnAnotherOnce) {
    FakeConnection alice, bob;
    start_room(alice);
    join(*a_, alice);
    join(*b_, bob);

    EXPECT_EQ(send(*a_, alice, 1), 1u);
    EXPECT_TRUE(bob.quiet_for(std::chrono::milliseconds(50))) << "delivered before node B heard of it";
    cluster_.hear();
    auto d = bob.take<wire::Deliver>();
    EXPECT_EQ(d.seq, 1u);
    EXPECT_EQ(d.envelope, Bytes(4, 1));
    EXPECT_EQ(b_->metrics().items_from_other_nodes.load(), 1u);

    EXPECT_EQ(send(*b_, bob, 2), 2u);
    cluster_.hear();
    EXPECT_EQ(alice.take<wire::Deliver>().seq, 2u);
    cluster_.hear();  // nothing new: nobody gets anything twice
    EXPECT_TRUE(alice.quiet_for(std::chrono::milliseconds(50)));
    EXPECT_TRUE(bob.quiet_for(std::chrono::milliseconds(50))) << "a member got its own message as a Deliver";
}

// Node B has not heard of A's two messages when its own member sends: the
// fan-out of B's message sees the gap in the numbers and sends A's first.
TEST_F(RelayClusterStateTest, WhatAnotherNodeStoredBeforeThisNodesMessageGoesOutFirst) {
    FakeConnection alice, bob, carol;
    start_room(alice);
    join(*a_, alice);
    join(*b_, bob);
    join(*b_, carol);
    EXPECT_EQ(send(*a_, alice, 1), 1u);
    EXPECT_EQ(send(*a_, alice, 2), 2u);

    handle(*b_, bob, wire::Send{3, room_, g_, Bytes(4, 3)});
    EXPECT_EQ(delivered(bob, 2), (std::vector<std::uint64_t>{1, 2}));
    EXPECT_EQ(bob.take<wire::Ack>().seq, 3u);
    EXPECT_EQ(delivered(carol, 3), (std::vector<std::uint64_t>{1, 2, 3}));
    cluster_.hear();  // late news of 1 and 2: already out
    EXPECT_TRUE(bob.quiet_for(std::chrono::milliseconds(50)));
    EXPECT_TRUE(carol.quiet_for(std::chrono::milliseconds(50)));
    EXPECT_EQ(delivered(alice, 1), (std::vector<std::uint64_t>{3}));
}

// The notifications were lost (the listening connection broke): once it is
// back the node is told to check everything, and catches up from the numbers.
TEST_F(RelayClusterStateTest, ANodeThatMissedNotificationsCatchesUpFromTheNumbers) {
    FakeConnection alice, bob;
    start_room(alice);
    join(*a_, alice);
    join(*b_, bob);
    for (std::uint8_t i = 1; i <= 5; ++i) send(*a_, alice, i);
    cluster_.drop();
    EXPECT_TRUE(bob.quiet_for(std::chrono::milliseconds(50)));
    store_b_->tell({}, true);
    EXPECT_EQ(delivered(bob, 5), (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
    store_b_->tell({}, true);
    EXPECT_TRUE(bob.quiet_for(std::chrono::milliseconds(50)));
}

// A new head published through node A ends node B's members' membership as it
// would on A: NewHead in its place in the sequence, then they must join again.
TEST_F(RelayClusterStateTest, ANewHeadPublishedThroughAnotherNodeSendsTheMembersHereToJoinAgain) {
    FakeConnection alice, bob;
    start_room(alice);
    join(*a_, alice);
    join(*b_, bob);
    send(*a_, alice, 1);
    handle(*a_, alice, wire::Publish{9, room_, token0_, wire::encode_record(make_successor(genesis_, alice_, token1_))});
    EXPECT_EQ(alice.take<wire::Published>().request_id, 9u);
    EXPECT_EQ(alice.take<wire::NewHead>().seq, 2u);
    cluster_.hear();
    EXPECT_EQ(bob.take<wire::Deliver>().seq, 1u);
    EXPECT_EQ(bob.take<wire::NewHead>().seq, 2u);
    handle(*b_, bob, wire::Send{10, room_, g_, Bytes{1}});
    EXPECT_EQ(bob.take<wire::Error>().code, RelayError::not_joined);
    handle(*b_, bob, wire::Join{11, room_, g_, token1_, 2});
    EXPECT_EQ(bob.take<wire::Joined>().head_epoch, 1u);
}

// A node nobody has joined a chain on reads nothing when it hears of it.
TEST_F(RelayClusterStateTest, ANodeWithNoMemberOfTheChainReadsNothing) {
    FakeConnection alice;
    start_room(alice);
    join(*a_, alice);
    const auto before = store_b_->reads();
    for (std::uint8_t i = 1; i <= 3; ++i) send(*a_, alice, i);
    cluster_.hear();
    store_b_->tell({}, true);
    EXPECT_EQ(store_b_->reads(), before);
    EXPECT_EQ(b_->rooms_in_memory(), 0u);
}

// A member who joins on node B after A stored messages gets them as its
// backlog, and the late notification sends none of them again.
TEST_F(RelayClusterStateTest, AJoinAfterAnotherNodesMessagesGetsThemOnceAsBacklog) {
    FakeConnection alice, bob, carol;
    start_room(alice);
    join(*a_, alice);
    join(*b_, carol);  // node B has the channel, and has not heard of what follows
    send(*a_, alice, 1);
    send(*a_, alice, 2);
    handle(*b_, bob, wire::Join{2, room_, g_, token0_, 0});
    const auto joined = bob.take<wire::Joined>();
    cluster_.hear();
    std::vector<std::uint64_t> seqs;
    while (bob.wait_for(1)) {
        seqs.push_back(bob.take<wire::Deliver>().seq);
        if (bob.quiet_for(std::chrono::milliseconds(50))) {
            for (const auto& key : bob.take_paused()) b_->continue_backlog(bob, key);
            if (bob.quiet_for(std::chrono::milliseconds(50))) break;
        }
    }
    EXPECT_EQ(seqs, (std::vector<std::uint64_t>{1, 2})) << "published_seq at the join was " << joined.last_seq;
    EXPECT_EQ(delivered(carol, 2), (std::vector<std::uint64_t>{1, 2}));
}

// Node B has not heard of A's new head when Bob sends through B: his message
// is stored after it. He gets the NewHead, then his Ack (not a wait for an Ack
// that never comes); Carol gets the NewHead, and Bob's message in the new
// epoch's backlog once she joins again.
TEST_F(RelayClusterStateTest, ASendStoredAfterAnotherNodesNewHeadIsAcknowledged) {
    FakeConnection alice, bob, carol;
    start_room(alice);
    join(*a_, alice);
    join(*b_, bob);
    join(*b_, carol);
    handle(*a_, alice, wire::Publish{9, room_, token0_, wire::encode_record(make_successor(genesis_, alice_, token1_))});
    alice.take<wire::Published>();
    EXPECT_EQ(alice.take<wire::NewHead>().seq, 1u);

    handle(*b_, bob, wire::Send{5, room_, g_, Bytes(4, 5)});
    EXPECT_EQ(bob.take<wire::NewHead>().seq, 1u);
    const auto ack = bob.take<wire::Ack>();
    EXPECT_EQ(ack.request_id, 5u);
    EXPECT_EQ(ack.seq, 2u);
    EXPECT_EQ(carol.take<wire::NewHead>().seq, 1u);
    EXPECT_TRUE(carol.quiet_for(std::chrono::milliseconds(50))) << "a Deliver after the NewHead ended her membership";
    EXPECT_EQ(b_->rooms_in_memory(), 0u) << "kept for members the NewHead sent off";
    handle(*b_, bob, wire::Send{6, room_, g_, Bytes(4, 6)});
    EXPECT_EQ(bob.take<wire::Error>().code, RelayError::not_joined) << "still a member after the NewHead";
    handle(*b_, carol, wire::Join{7, room_, g_, token1_, 1});
    EXPECT_EQ(carol.take<wire::Joined>().last_seq, 2u);
    const auto d = carol.take<wire::Deliver>();
    EXPECT_EQ(d.seq, 2u);
    EXPECT_EQ(d.envelope, Bytes(4, 5));
}

// A member that had everything from another node (it was on node A, which
// died) joins node B, which has not heard of the last messages yet: B sends
// them out first and answers with the store's end, so the member neither
// takes B's log for one that went back nor gets them again.
TEST_F(RelayClusterStateTest, AJoinOnANodeThatHasNotHeardYetIsAnsweredWithTheStoresEnd) {
    FakeConnection alice, bob, carol;
    start_room(alice);
    join(*a_, alice);
    join(*b_, carol);  // node B has the channel, and has not heard of what follows
    for (std::uint8_t i = 1; i <= 3; ++i) send(*a_, alice, i);
    handle(*b_, bob, wire::Join{2, room_, g_, token0_, 3});
    const auto joined = bob.take<wire::Joined>();
    EXPECT_EQ(joined.last_seq, 3u);
    EXPECT_EQ(delivered(carol, 3), (std::vector<std::uint64_t>{1, 2, 3}));
    cluster_.hear();
    EXPECT_TRUE(bob.quiet_for(std::chrono::milliseconds(50))) << "got what it had again";
    EXPECT_TRUE(carol.quiet_for(std::chrono::milliseconds(50)));
}

// The same while a Send of node B is between its commit and its fan-out (its
// number not known to B yet): the Join waits until it is out, then is
// answered with the store's end.
TEST_F(RelayClusterStateTest, AJoinWhileThisNodesSendIsInFlightWaitsForItThenAnswersTheStoresEnd) {
    FakeConnection alice, bob, dave;
    start_room(alice);
    join(*a_, alice);
    join(*b_, bob);
    send(*a_, alice, 1);
    send(*a_, alice, 2);
    std::promise<void> entered, release;
    auto released = release.get_future().share();
    std::atomic<bool> first{true};
    store_b_->before_append([&] {
        if (!first.exchange(false)) return;
        entered.set_value();
        released.wait();
    });
    handle(*b_, bob, wire::Send{3, room_, g_, Bytes(4, 3)});
    entered.get_future().wait();  // B's writer holds Bob's message
    std::thread joiner([&] { handle(*b_, dave, wire::Join{4, room_, g_, token0_, 2}); });
    EXPECT_TRUE(dave.quiet_for(std::chrono::milliseconds(100))) << "answered before B's own Send was out";
    release.set_value();
    joiner.join();
    EXPECT_EQ(dave.take<wire::Joined>().last_seq, 3u);
    const auto d = dave.take<wire::Deliver>();
    EXPECT_EQ(d.seq, 3u);
    EXPECT_EQ(d.envelope, Bytes(4, 3));
    EXPECT_EQ(delivered(bob, 2), (std::vector<std::uint64_t>{1, 2}));
    EXPECT_EQ(bob.take<wire::Ack>().seq, 3u);
    EXPECT_TRUE(dave.quiet_for(std::chrono::milliseconds(50)));
    store_b_->before_append({});  // it refers to this test's locals
}

}  // namespace
}  // namespace parley::relay
