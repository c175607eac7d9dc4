// Relay nodes sharing one PostgreSQL database (issue 14), each a RelayState
// over its own PgRelayStore, on a server the test starts (pg_server.h):
// members spread over three nodes see one order, each item once; two rekeys or
// two new rooms racing through different nodes leave one winner and a clear
// refusal; a node whose listening connection was cut catches up.
// (relay_cluster_state_test.cpp: the same rules, with the timing in the
// test's hands.)
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "pg_server.h"
#include "relay/pg_commit_listener.h"
#include "relay/pg_relay_store.h"
#include "relay/relay_state.h"
#include "relay_state_fixture.h"

namespace parley::relay {
namespace {

using namespace parley::relay_test;
using namespace parley::relay::state_test;
using wire::RelayError;

PgServer& pg() {
    static PgServer server;
    return server;
}

class RelayClusterTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(pg().started()) << "PostgreSQL did not start: " << pg().why();
        std::string db = std::string("c_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
        for (char& c : db)
            if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
        conninfo_ = pg().conninfo(db);
        for (auto& n : nodes_) n = std::make_unique<RelayState>(std::make_unique<PgRelayStore>(conninfo_), RelayLimits{});
    }

    void handle(RelayState& node, FakeConnection& c, const wire::Frame& f) {
        c.attach(node);
        node.handle(c, wire::encode_frame(f));
    }
    // A room of its own, started through node 0.
    wire::Hash start_room(const wire::RoomId& room, FakeConnection& founder) {
        genesis_ = make_genesis(room, {alice_, bob_}, alice_, token0_);
        handle(*nodes_[0], founder, wire::Publish{1, room, {}, wire::encode_record(genesis_)});
        return founder.take<wire::Published>().record_hash;
    }
    void join(RelayState& node, FakeConnection& c, const wire::RoomId& room, const wire::Hash& g) {
        handle(node, c, wire::Join{2, room, g, token0_, 0});
        c.take<wire::Joined>();
    }
    // Every frame `c` got once it has `n`: (seq, true for an Ack) in arrival order.
    static std::vector<std::pair<std::uint64_t, bool>> items(FakeConnection& c, std::size_t n) {
        for (int i = 0; i < 60 && c.size() < n; ++i) c.wait_for(n);
        std::vector<std::pair<std::uint64_t, bool>> out;
        for (std::size_t i = 0; i < c.size(); ++i) {
            auto f = wire::decode_frame(*c.at(i));
            if (!f.frame) continue;
            if (auto* d = std::get_if<wire::Deliver>(&*f.frame)) out.emplace_back(d->seq, false);
            if (auto* a = std::get_if<wire::Ack>(&*f.frame)) out.emplace_back(a->seq, true);
        }
        return out;
    }

    std::string conninfo_;
    std::unique_ptr<RelayState> nodes_[3];  // before the connections: they leave on destruction
    TestMember alice_ = make_member();
    TestMember bob_ = make_member();
    wire::Token token0_ = make_token(0x40);
    wire::EpochRecord genesis_;
};

// Alice on node 0 and Bob on node 1 each send 150 messages at once; Carol on
// node 2 only reads. Each of them gets all 300 in one order, dense, each once:
// their own as Acks in place, the others' as Delivers.
TEST_F(RelayClusterTest, MembersOnThreeNodesSeeOneOrderEachItemOnce) {
    FakeConnection alice, bob, carol;
    const auto room = make_room("three nodes");
    const auto g = start_room(room, alice);
    join(*nodes_[0], alice, room, g);
    join(*nodes_[1], bob, room, g);
    join(*nodes_[2], carol, room, g);
    constexpr std::uint64_t per_member = 150;
    std::thread a([&] {
        for (std::uint64_t i = 0; i < per_member; ++i) handle(*nodes_[0], alice, wire::Send{i, room, g, Bytes{1}});
    });
    std::thread b([&] {
        for (std::uint64_t i = 0; i < per_member; ++i) handle(*nodes_[1], bob, wire::Send{i, room, g, Bytes{2}});
    });
    a.join();
    b.join();
    for (auto* c : {&alice, &bob, &carol}) {
        const auto got = items(*c, 2 * per_member);
        ASSERT_EQ(got.size(), 2 * per_member);
        for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i].first, i + 1) << "item " << i;
        const auto acks = std::count_if(got.begin(), got.end(), [](const auto& p) { return p.second; });
        EXPECT_EQ(acks, c == &carol ? 0 : static_cast<long>(per_member));
    }
    EXPECT_GT(nodes_[2]->metrics().items_from_other_nodes.load(), 0u);
}

// Two members rekey through different nodes at the same moment, ten times:
// each time one record becomes the head and the other is refused as not_head
// (never internal); every node's members get the winner's NewHead.
TEST_F(RelayClusterTest, TwoRekeysThroughDifferentNodesLeaveOneHead) {
    for (int round = 0; round < 10; ++round) {
        FakeConnection alice, bob;
        const auto room = make_room("rekey race " + std::to_string(round));
        const auto g = start_room(room, alice);
        join(*nodes_[0], alice, room, g);
        join(*nodes_[1], bob, room, g);
        const auto mine = make_successor(genesis_, alice_, make_token(7));
        const auto theirs = make_successor(genesis_, bob_, make_token(8));
        std::thread t1([&] { handle(*nodes_[0], alice, wire::Publish{9, room, token0_, wire::encode_record(mine)}); });
        std::thread t2([&] { handle(*nodes_[1], bob, wire::Publish{9, room, token0_, wire::encode_record(theirs)}); });
        t1.join();
        t2.join();
        std::vector<wire::Hash> heads;
        int published = 0, not_head = 0;
        for (auto* c : {&alice, &bob}) {
            for (int i = 0; i < 50 && c->size() < 2; ++i) c->wait_for(2);
            for (std::size_t i = 0; i < c->size(); ++i) {
                auto f = wire::decode_frame(*c->at(i));
                ASSERT_TRUE(f.frame);
                if (std::holds_alternative<wire::Published>(*f.frame)) ++published;
                if (auto* e = std::get_if<wire::Error>(&*f.frame)) {
                    EXPECT_EQ(e->code, RelayError::not_head) << "round " << round;
                    ++not_head;
                }
                if (auto* h = std::get_if<wire::NewHead>(&*f.frame)) {
                    auto decoded = wire::decode_record(h->record);
                    ASSERT_TRUE(decoded.record);
                    heads.push_back(wire::record_hash(*decoded.record));
                }
            }
        }
        EXPECT_EQ(published, 1) << "round " << round;
        EXPECT_EQ(not_head, 1) << "round " << round;
        ASSERT_EQ(heads.size(), 2u) << "round " << round << ": both members hear of the new head";
        EXPECT_EQ(heads[0], heads[1]);
    }
}

// Two founders start the same room id through different nodes at once: one
// room, the other refused as room_exists (never internal, never two chains).
TEST_F(RelayClusterTest, TwoGenesesOfOneRoomThroughDifferentNodesLeaveOne) {
    for (int round = 0; round < 10; ++round) {
        const auto room = make_room("genesis race " + std::to_string(round));
        FakeConnection alice, bob;
        const auto first = make_genesis(room, {alice_, bob_}, alice_, token0_);
        const auto second = make_genesis(room, {alice_, bob_}, bob_, token0_);
        std::thread t1([&] { handle(*nodes_[0], alice, wire::Publish{1, room, {}, wire::encode_record(first)}); });
        std::thread t2([&] { handle(*nodes_[1], bob, wire::Publish{1, room, {}, wire::encode_record(second)}); });
        t1.join();
        t2.join();
        int published = 0, exists = 0;
        for (auto* c : {&alice, &bob}) {
            ASSERT_TRUE(c->wait_for(1));
            auto f = wire::decode_frame(*c->at(0));
            ASSERT_TRUE(f.frame);
            if (std::holds_alternative<wire::Published>(*f.frame)) ++published;
            if (auto* e = std::get_if<wire::Error>(&*f.frame)) {
                EXPECT_EQ(e->code, RelayError::room_exists) << "round " << round;
                ++exists;
            }
        }
        EXPECT_EQ(published, 1);
        EXPECT_EQ(exists, 1);
        PgRelayStore check(conninfo_);
        EXPECT_EQ(check.geneses(room).size(), 1u);
    }
}

// The connection a node listens on is cut (as when the server drops it): the
// node connects again, and its members still get what other nodes stored,
// however much of it came while no one listened.
TEST_F(RelayClusterTest, ANodeWhoseListeningConnectionWasCutCatchesUp) {
    FakeConnection alice, bob;
    const auto room = make_room("listener cut");
    const auto g = start_room(room, alice);
    join(*nodes_[0], alice, room, g);
    join(*nodes_[1], bob, room, g);
    handle(*nodes_[0], alice, wire::Send{1, room, g, Bytes{1}});
    ASSERT_EQ(items(bob, 1).size(), 1u);

    PGconn* admin = PQconnectdb(conninfo_.c_str());
    PGresult* r = PQexec(admin, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                "WHERE application_name = 'parley-relay listener'");
    ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(admin);
    EXPECT_EQ(std::string(PQgetvalue(r, 0, 0)), "3") << "one listener per node";
    PQclear(r);
    PQfinish(admin);
    for (std::uint64_t i = 2; i <= 20; ++i) handle(*nodes_[0], alice, wire::Send{i, room, g, Bytes{1}});
    const auto got = items(bob, 20);
    ASSERT_EQ(got.size(), 20u);
    for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].first, i + 1);
}

// Notifications that reach a listener while it runs a query of its own (the
// look-up of chain ids it has not seen) wait in libpq's queue, not on the
// socket: they are heard at once, not at some later commit. Here the look-up
// is held up by a lock on the chains table while a commit is announced;
// that commit is made by hand, so no other notification would bring it.
TEST_F(RelayClusterTest, ANotificationThatCameDuringALookUpIsHeard) {
    FakeConnection alice, bob;
    const auto room = make_room("heard during a look-up");
    const auto g = start_room(room, alice);
    join(*nodes_[0], alice, room, g);
    join(*nodes_[1], bob, room, g);
    handle(*nodes_[0], alice, wire::Send{1, room, g, Bytes{1}});
    ASSERT_EQ(items(bob, 1).size(), 1u);  // node 1 knows the chain's id now

    PGconn* db = PQconnectdb(conninfo_.c_str());
    PGconn* locker = PQconnectdb(conninfo_.c_str());
    const auto exec = [](PGconn* c, const std::string& sql) {
        PGresult* r = PQexec(c, sql.c_str());
        const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
        EXPECT_TRUE(ok) << sql << ": " << PQerrorMessage(c);
        std::string first = ok && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
        PQclear(r);
        return first;
    };
    // Message 2, stored as a node would, without its notification.
    const std::string id = exec(db, "UPDATE chains SET last_seq = 2, bytes = bytes + 1 WHERE last_seq = 1 RETURNING id");
    ASSERT_FALSE(id.empty());
    exec(db, "INSERT INTO log (chain, seq, kind, stored_at_ms, payload) VALUES (" + id + ", 2, " +
                 std::to_string(static_cast<int>(LogKind::message)) + ", 0, '\\x07')");
    exec(locker, "BEGIN");
    exec(locker, "LOCK TABLE chains IN ACCESS EXCLUSIVE MODE");
    exec(db, "SELECT pg_notify('parley_commits', 'test/999999999:1')");  // an id no node knows: a look-up
    bool waiting = false;
    for (int i = 0; i < 100 && !waiting; ++i) {
        waiting = exec(db, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'parley-relay listener' "
                           "AND wait_event_type = 'Lock'") == "3";
        if (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(waiting) << "the listeners' look-ups are not waiting on the lock";
    exec(db, "SELECT pg_notify('parley_commits', 'test/" + id + ":2')");
    exec(locker, "COMMIT");
    const auto got = items(bob, 2);
    ASSERT_EQ(got.size(), 2u) << "message 2 not heard of";
    EXPECT_EQ(got[1].first, 2u);
    PQfinish(locker);
    PQfinish(db);
}

// The payload of a notification: the node's name, then the chains' tips; one
// that is not a relay's is refused whole (the listener then checks every chain).
TEST(PgCommitListenerTest, PayloadsNameTheNodeAndParseBack) {
    const auto node = PgCommitListener::new_node_name();
    EXPECT_EQ(node.size(), 16u);
    EXPECT_NE(node, PgCommitListener::new_node_name());
    PgCommitListener::Tips tips;
    for (std::int64_t id = 1; id <= 2000; ++id) tips.emplace_back(id * 1000003, static_cast<std::uint64_t>(id) << 33);
    const auto payloads = PgCommitListener::payloads(node, tips);
    ASSERT_GT(payloads.size(), 1u);
    PgCommitListener::Tips back;
    for (const auto& p : payloads) {
        EXPECT_LE(p.size(), PgCommitListener::max_payload);
        auto heard = PgCommitListener::parse(p);
        ASSERT_TRUE(heard) << p.substr(0, 40);
        EXPECT_EQ(heard->node, node);
        back.insert(back.end(), heard->tips.begin(), heard->tips.end());
    }
    EXPECT_EQ(back, tips);
    for (const char* bad : {"", "1:2", "n/", "/1:2", "n/1:2,", "n/1:2,x", "n/1:-2", "n/1:2:3", "n/12", "n/1:2 "})
        EXPECT_FALSE(PgCommitListener::parse(bad)) << '"' << bad << '"';
}

}  // namespace
}  // namespace parley::relay
