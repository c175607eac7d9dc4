// What every RelayStore promises (relay/chain_store.h, relay/message_log.h),
// run against each: the in-memory reference, SQLite (the default), and
// PostgreSQL (issue 14) on a server the test starts itself (pg_server.h).
// PostgreSQL also: two stores on one database (two relay nodes) share every
// chain, number one log densely between them, and keep one head per epoch; a
// restarted server costs the store nothing: the next call reconnects.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <thread>

#include "pg_server.h"
#include "relay/memory_relay_store.h"
#include "relay/pg_relay_store.h"
#include "relay/sqlite_relay_store.h"
#include "relay_test_records.h"

namespace parley::relay {
namespace {

using namespace parley::relay_test;
namespace fs = std::filesystem;

// One server for the whole suite; a database per test.
PgServer& pg() {
    static PgServer server;
    return server;
}

class RelayStoreContract : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        std::string name = (fs::temp_directory_path() / "parley-store-contract-XXXXXX").string();
        ASSERT_NE(::mkdtemp(name.data()), nullptr);
        dir_ = name;
        if (GetParam() == "postgresql") {
            ASSERT_TRUE(pg().started()) << "PostgreSQL did not start: " << pg().why();
            const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
            std::string db = std::string("t_") + info->name();
            for (char& c : db)
                if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
            conninfo_ = pg().conninfo(db);
        }
        store_ = open();
    }
    void TearDown() override {
        store_.reset();
        fs::remove_all(dir_);
    }

    std::unique_ptr<RelayStore> open() {
        auto clock = [this] { return now_ms_; };
        if (GetParam() == "memory") return std::make_unique<MemoryRelayStore>(clock);
        if (GetParam() == "sqlite")
            return std::make_unique<SqliteRelayStore>(dir_, SqliteRelayStore::Sync::normal, clock);
        return std::make_unique<PgRelayStore>(conninfo_, clock);
    }

    // A chain of `n` records (genesis first) in room_, stored through `store`.
    std::vector<wire::EpochRecord> chain_of(RelayStore& store, std::size_t n) {
        std::vector<wire::EpochRecord> out{make_genesis(room_, {alice_}, alice_, make_token(1))};
        while (out.size() < n) out.push_back(make_successor(out.back(), alice_, make_token(static_cast<std::uint8_t>(out.size() + 1))));
        g_ = wire::record_hash(out.front());
        for (const auto& r : out) {
            const auto encoded = wire::encode_record(r);
            store.append(room_, g_, {encoded, wire::record_hash(r), r.epoch, r.token_hash});
        }
        return out;
    }
    ChainKey chain() const { return {room_, g_}; }

    fs::path dir_;
    std::string conninfo_;
    std::int64_t now_ms_ = 1'700'000'000'000;
    TestMember alice_ = make_member();
    wire::RoomId room_ = make_room("contract");
    wire::Hash g_{};
    std::unique_ptr<RelayStore> store_;
};

TEST_P(RelayStoreContract, ChainsAreKeptInOrderAndFoundByHash) {
    auto records = chain_of(*store_, 4);
    EXPECT_EQ(store_->geneses(room_), std::vector<wire::Hash>{g_});
    EXPECT_EQ(store_->length(room_, g_), 4u);
    auto head = store_->head(room_, g_);
    ASSERT_TRUE(head);
    EXPECT_EQ(head->epoch, 3u);
    EXPECT_EQ(head->hash, wire::record_hash(records[3]));
    EXPECT_EQ(head->token_hash, records[3].token_hash);
    EXPECT_EQ(store_->records(room_, g_).size(), 4u);
    EXPECT_EQ(store_->records(room_, g_)[2], wire::encode_record(records[2]));
    EXPECT_EQ(store_->chain_containing(room_, wire::record_hash(records[2])), g_);
    EXPECT_EQ(store_->epoch_of(room_, g_, wire::record_hash(records[2])), 2u);
    EXPECT_FALSE(store_->epoch_of(room_, g_, wire::Hash{}));
    EXPECT_FALSE(store_->head(room_, wire::Hash{}));
    EXPECT_TRUE(store_->geneses(make_room("elsewhere")).empty());

    auto page = store_->records_after(room_, g_, 0, 2, 1 << 20);
    ASSERT_EQ(page.size(), 2u);
    EXPECT_EQ(page[0], wire::encode_record(records[1]));
    EXPECT_EQ(store_->records_after(room_, g_, std::nullopt, 100, 1).size(), 1u) << "max_bytes: one record";
    EXPECT_TRUE(store_->records_after(room_, g_, 3, 100, 1 << 20).empty());
}

TEST_P(RelayStoreContract, SuccessorsAndMessagesShareOneDenseNumbering) {
    auto records = chain_of(*store_, 2);  // the successor took number 1
    EXPECT_EQ(store_->append({{chain(), LogKind::message, Bytes{1}}, {chain(), LogKind::message, Bytes{2, 2}}}),
              (std::vector<std::uint64_t>{2, 3}));
    auto items = store_->read(chain(), 0, 100, 100, 1 << 20);
    ASSERT_EQ(items.size(), 3u);
    EXPECT_EQ(items[0].kind, LogKind::new_head);
    EXPECT_EQ(items[0].payload, wire::encode_record(records[1]));
    EXPECT_EQ(items[2].payload, (Bytes{2, 2}));
    EXPECT_EQ(store_->read(chain(), 1, 2, 100, 1 << 20).size(), 1u);
    EXPECT_EQ(store_->read(chain(), 0, 100, 100, 1).size(), 1u) << "max_bytes stops after one item";
    EXPECT_EQ(store_->range(chain()).first_seq, 1u);
    EXPECT_EQ(store_->range(chain()).last_seq, 3u);
    const std::uint64_t bytes = 2 * wire::encode_record(records[1]).size() + wire::encode_record(records[0]).size() + 3;
    EXPECT_EQ(store_->stored_bytes(room_, g_), bytes);
    EXPECT_EQ(store_->total_stored_bytes(), bytes);
}

// read_each is read() of each span, in span order (PostgreSQL: one query).
TEST_P(RelayStoreContract, ReadEachIsReadOfEachSpan) {
    chain_of(*store_, 2);
    const ChainKey other{make_room("another"), wire::Hash{}};
    store_->append({{chain(), LogKind::message, Bytes{1}}, {other, LogKind::message, Bytes{7}},
                    {chain(), LogKind::message, Bytes{2, 2}}, {other, LogKind::message, Bytes{8, 8}}});
    const ChainKey unknown{make_room("nowhere"), wire::Hash{}};
    const std::vector<LogSpan> spans{{other, 0, 2}, {chain(), 1, 3}, {unknown, 0, 5}, {chain(), 0, 3}, {other, 2, 2}};
    const auto got = store_->read_each(spans, 100, 1 << 20);
    ASSERT_EQ(got.size(), spans.size());
    for (std::size_t i = 0; i < spans.size(); ++i)
        EXPECT_EQ(got[i], store_->read(spans[i].chain, spans[i].after_seq, spans[i].up_to_seq, 100, 1 << 20)) << i;
    EXPECT_EQ(got[1].size(), 2u);
    EXPECT_TRUE(got[2].empty());
    const auto paged = store_->read_each(spans, 1, 1 << 20);
    for (std::size_t i = 0; i < spans.size(); ++i)
        EXPECT_EQ(paged[i], store_->read(spans[i].chain, spans[i].after_seq, spans[i].up_to_seq, 1, 1 << 20)) << i;
    const auto small = store_->read_each(spans, 100, 1);
    EXPECT_EQ(small[3].size(), 1u) << "max_bytes stops each span after one item";
}

TEST_P(RelayStoreContract, RetentionKeepsNumbersAndRecords) {
    chain_of(*store_, 1);
    for (int i = 0; i < 5; ++i) store_->append({{chain(), LogKind::message, Bytes(10, 1)}});
    now_ms_ += 1000;
    store_->append({{chain(), LogKind::message, Bytes(10, 2)}});
    RetentionPolicy policy;
    policy.max_age = std::chrono::milliseconds(500);
    policy.max_items = 100;
    EXPECT_EQ(store_->prune(policy), 5u) << "the five older than 500 ms";
    EXPECT_EQ(store_->range(chain()).first_seq, 6u);
    policy.max_age = std::chrono::hours(1);
    policy.max_items = 0;
    EXPECT_EQ(store_->prune(policy), 1u);
    EXPECT_EQ(store_->range(chain()).first_seq, 7u);
    EXPECT_EQ(store_->range(chain()).last_seq, 6u);
    EXPECT_EQ(store_->append({{chain(), LogKind::message, Bytes{9}}}), std::vector<std::uint64_t>{7});
    EXPECT_EQ(store_->length(room_, g_), 1u) << "retention never touches records";
    EXPECT_EQ(store_->stored_bytes(room_, g_), store_->records(room_, g_)[0].size() + 1);
}

TEST_P(RelayStoreContract, WhatWasCommittedSurvivesAReopen) {
    if (GetParam() == "memory") GTEST_SKIP() << "the in-memory store keeps nothing";
    chain_of(*store_, 3);
    store_->append({{chain(), LogKind::message, Bytes{5}}});
    store_.reset();
    store_ = open();
    EXPECT_EQ(store_->length(room_, g_), 3u);
    EXPECT_EQ(store_->range(chain()).last_seq, 3u);
    EXPECT_EQ(store_->append({{chain(), LogKind::message, Bytes{6}}}), std::vector<std::uint64_t>{4});
}

INSTANTIATE_TEST_SUITE_P(Stores, RelayStoreContract, ::testing::Values("memory", "sqlite", "postgresql"),
                         [](const auto& param_info) { return param_info.param; });

// Two relay nodes on one PostgreSQL database.
class PgClusterStore : public RelayStoreContract {};

TEST_P(PgClusterStore, TwoNodesShareChainsAndNumberOneLogDensely) {
    auto other = open();
    chain_of(*store_, 1);
    EXPECT_EQ(other->geneses(room_), std::vector<wire::Hash>{g_}) << "the other node sees the chain at once";
    constexpr int per_node = 200;
    std::vector<std::uint64_t> a, b;
    std::thread t1([&] {
        for (int i = 0; i < per_node; ++i) a.push_back(store_->append({{chain(), LogKind::message, Bytes{1}}}).at(0));
    });
    std::thread t2([&] {
        for (int i = 0; i < per_node; ++i) b.push_back(other->append({{chain(), LogKind::message, Bytes{2}}}).at(0));
    });
    t1.join();
    t2.join();
    std::vector<std::uint64_t> all = a;
    all.insert(all.end(), b.begin(), b.end());
    std::sort(all.begin(), all.end());
    for (std::size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], i + 1) << "numbers are dense and unique";
    EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
    EXPECT_EQ(other->read(chain(), 0, 1000, 1000, 1 << 20), store_->read(chain(), 0, 1000, 1000, 1 << 20))
        << "one order, whichever node serves it";
    EXPECT_EQ(other->total_stored_bytes(), store_->total_stored_bytes());
}

TEST_P(PgClusterStore, TwoSuccessorsToOneHeadLeaveOne) {
    auto other = open();
    auto records = chain_of(*store_, 1);
    auto mine = make_successor(records[0], alice_, make_token(7));
    auto theirs = make_successor(records[0], alice_, make_token(8));
    store_->append(room_, g_, {wire::encode_record(mine), wire::record_hash(mine), 1, mine.token_hash});
    EXPECT_THROW(other->append(room_, g_, {wire::encode_record(theirs), wire::record_hash(theirs), 1, theirs.token_hash}),
                 StoreConflict);
    EXPECT_EQ(other->head(room_, g_)->hash, wire::record_hash(mine));
    EXPECT_EQ(other->range(chain()).last_seq, 1u) << "the refused successor used no number";
    EXPECT_EQ(other->append({{chain(), LogKind::message, Bytes{1}}}), std::vector<std::uint64_t>{2});
}

TEST_P(PgClusterStore, ARestartedServerCostsTheStoreNothing) {
    chain_of(*store_, 1);
    store_->append({{chain(), LogKind::message, Bytes{1}}});
    ASSERT_TRUE(pg().restart());
    // The connection broke: the append's BEGIN fails on it, and is run again
    // on a new one.
    EXPECT_EQ(store_->append({{chain(), LogKind::message, Bytes{2}}}), std::vector<std::uint64_t>{2});
    EXPECT_EQ(store_->read(chain(), 0, 10, 10, 1 << 20).size(), 2u);
}

// While the server is down every call fails with StorageError, and the
// attempts back off: a call made soon after a failed one fails at once,
// saying when the next attempt is. Once it is back, the store serves again
// and the failed appends used no number.
TEST_P(PgClusterStore, AStoppedServerIsRefusedQuicklyAndUsedAgainWhenBack) {
    chain_of(*store_, 1);
    ASSERT_TRUE(pg().stop());
    EXPECT_THROW(store_->append({{chain(), LogKind::message, Bytes{1}}}), StorageError);
    try {
        store_->append({{chain(), LogKind::message, Bytes{1}}});
        ADD_FAILURE() << "appended with the server down";
    } catch (const StorageError& e) {
        EXPECT_NE(std::string(e.what()).find("trying again in"), std::string::npos) << e.what();
    }
    ASSERT_TRUE(pg().start());
    std::vector<std::uint64_t> seqs;
    for (int i = 0; i < 200 && seqs.empty(); ++i) {  // the backoff is at most 10 s
        try {
            seqs = store_->append({{chain(), LogKind::message, Bytes{2}}});
        } catch (const StorageError&) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    EXPECT_EQ(seqs, std::vector<std::uint64_t>{1}) << "a refused append used a number";
}

TEST(PgRelayStore, PasswordsNeverReachALogLine) {
    EXPECT_EQ(PgRelayStore::redacted("postgresql://parley:s3cret@db.example/relay"),
              "postgresql://parley:***@db.example/relay");
    EXPECT_EQ(PgRelayStore::redacted("host=db user=parley password='a b\\'c' dbname=relay"),
              "host=db user=parley password=*** dbname=relay");
    EXPECT_EQ(PgRelayStore::redacted("postgres://db/relay?user=p&password=x1&sslmode=require"),
              "postgres://db/relay?user=p&password=***&sslmode=require");
    EXPECT_EQ(PgRelayStore::redacted("host=/tmp/x user=parley"), "host=/tmp/x user=parley");
    // Each connection attempt is bounded unless the operator bounded it already.
    EXPECT_EQ(PgRelayStore::with_connect_timeout("postgresql://db/relay"), "postgresql://db/relay?connect_timeout=5");
    EXPECT_EQ(PgRelayStore::with_connect_timeout("postgresql://db/relay?sslmode=require"),
              "postgresql://db/relay?sslmode=require&connect_timeout=5");
    EXPECT_EQ(PgRelayStore::with_connect_timeout("host=db connect_timeout=9"), "host=db connect_timeout=9");
    EXPECT_EQ(PgRelayStore::with_connect_timeout("host=db"), "host=db connect_timeout=5");
    try {
        PgRelayStore store("host=/nonexistent-parley-socket-dir user=parley password=hunter2 connect_timeout=2");
        ADD_FAILURE() << "connected to nothing";
    } catch (const StorageError& e) {
        EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("cannot connect"), std::string::npos) << e.what();
    }
}

INSTANTIATE_TEST_SUITE_P(Postgresql, PgClusterStore, ::testing::Values("postgresql"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace parley::relay
