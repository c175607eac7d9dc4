// parley-relay --store postgresql://... (issue 14) as a process, on a
// PostgreSQL server the test starts itself (pg_server.h): the protocol as on
// SQLite, what it acknowledged survives a kill -9, and a second relay on the
// same database serves it, numbering on where the first stopped.
#include <gtest/gtest.h>

#include "../unit/relay_test_records.h"
#include "pg_server.h"
#include "relay_harness.h"

namespace parley::relay_it {
namespace {

using namespace parley::relay_test;
using namespace std::chrono_literals;

class RelayPostgresqlTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(pg_.started()) << "PostgreSQL did not start: " << pg_.why();
        url_ = pg_.url("relay");
    }

    // A relay on the database; returns its ws:// URL.
    std::string start(RelayProcess& relay) {
        EXPECT_TRUE(relay.start({"--listen", "127.0.0.1:0", "--store", url_}));
        auto port = relay.wait_ready();
        EXPECT_TRUE(port) << relay.stderr_text();
        return port ? "ws://127.0.0.1:" + *port : "";
    }

    void join(FrameClient& c, const wire::Hash& genesis, std::uint64_t after_seq) {
        c.send(wire::Join{7, room_, genesis, token0_, after_seq});
        auto joined = c.expect<wire::Joined>();
        ASSERT_TRUE(joined);
        EXPECT_EQ(joined->head_epoch, 0u);
    }

    PgServer pg_;  // one server per test: each test runs in a process of its own
    std::string url_;
    TestMember alice_ = make_member();
    TestMember bob_ = make_member();
    wire::RoomId room_ = make_room("postgresql");
    wire::Token token0_ = make_token(0x30);
};

TEST_F(RelayPostgresqlTest, WhatOneRelayAcknowledgedAnotherServesAfterAKill) {
    RelayProcess first;
    const std::string url = start(first);
    ASSERT_FALSE(url.empty());
    EXPECT_NE(first.stderr_text().find("in PostgreSQL postgresql:///relay"), std::string::npos) << first.stderr_text();
    auto genesis = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    const auto g = wire::record_hash(genesis);
    std::vector<Bytes> sent;
    {
        FrameClient alice(url), bob(url);
        alice.send(wire::Publish{1, room_, {}, wire::encode_record(genesis)});
        ASSERT_TRUE(alice.expect<wire::Published>());
        join(alice, g, 0);
        join(bob, g, 0);
        for (std::uint64_t i = 1; i <= 3; ++i) {
            sent.push_back(Bytes(90 + i, static_cast<std::uint8_t>(i)));
            alice.send(wire::Send{40 + i, room_, g, sent.back()});
            auto ack = alice.expect<wire::Ack>();
            ASSERT_TRUE(ack);
            EXPECT_EQ(ack->seq, i);
            auto deliver = bob.expect<wire::Deliver>();
            ASSERT_TRUE(deliver);
            EXPECT_EQ(deliver->envelope, sent.back());
        }
    }
    first.kill_now();

    RelayProcess second;
    const std::string url2 = start(second);
    ASSERT_FALSE(url2.empty());
    FrameClient alice(url2), bob(url2);
    join(bob, g, 1);  // bob had read up to 1
    for (std::uint64_t seq = 2; seq <= 3; ++seq) {
        auto deliver = bob.expect<wire::Deliver>();
        ASSERT_TRUE(deliver);
        EXPECT_EQ(deliver->seq, seq);
        EXPECT_EQ(deliver->envelope, sent[seq - 1]);
    }
    join(alice, g, 3);
    alice.send(wire::Send{50, room_, g, Bytes(40, 9)});
    auto ack = alice.expect<wire::Ack>();
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->seq, 4u) << "numbering goes on where the first relay stopped";
    EXPECT_EQ(bob.expect<wire::Deliver>()->seq, 4u);
}

TEST_F(RelayPostgresqlTest, AnUnreachableDatabaseStopsTheStartWithoutItsPassword) {
    RelayProcess relay;
    ASSERT_TRUE(relay.start({"--listen", "127.0.0.1:0", "--store",
                             "postgresql://parley:hunter2@/relay?host=/nonexistent-parley-dir&connect_timeout=2"}));
    auto code = relay.wait_exit(10000ms);
    ASSERT_TRUE(code) << "the relay started without its database";
    EXPECT_NE(*code, 0);
    EXPECT_NE(relay.stderr_text().find("cannot connect"), std::string::npos) << relay.stderr_text();
    EXPECT_EQ(relay.stderr_text().find("hunter2"), std::string::npos) << relay.stderr_text();
}

TEST(RelayStartup, RefusesAPostgresqlStoreWithADataDirectory) {
    TempDir dir;
    RelayProcess relay;
    ASSERT_TRUE(relay.start({"--listen", "127.0.0.1:0", "--store", "postgresql://parley@/relay", "--data",
                             dir.path().string()}));
    auto code = relay.wait_exit(5000ms);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 2);
    EXPECT_NE(relay.stderr_text().find("takes no --data"), std::string::npos) << relay.stderr_text();
}

}  // namespace
}  // namespace parley::relay_it
