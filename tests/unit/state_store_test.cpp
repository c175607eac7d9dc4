// store/state_store.h: the client's SQLite state, across closing and reopening.
#include <gtest/gtest.h>

#include <fstream>

#include "store/state_store.h"
#include "test_support.h"

namespace parley::store {
namespace {

using test::TempDir;

protocol::Pin pin_at(std::uint64_t epoch, std::uint8_t genesis_fill, std::uint8_t head_fill) {
    protocol::Pin p;
    p.genesis.fill(genesis_fill);
    p.head_epoch = epoch;
    p.head.fill(head_fill);
    return p;
}

void expect_pin(const std::optional<protocol::Pin>& got, const protocol::Pin& want) {
    ASSERT_TRUE(got);
    EXPECT_EQ(got->genesis, want.genesis);
    EXPECT_EQ(got->head_epoch, want.head_epoch);
    EXPECT_EQ(got->head, want.head);
}

std::string store_error(const std::filesystem::path& file) {
    try {
        StateStore s(file);
    } catch (const StoreError& e) {
        return e.what();
    }
    return "";
}

class StateStoreTest : public ::testing::Test {
protected:
    std::filesystem::path file() const { return dir_ / "state.db"; }

    TempDir dir_;
    wire::RoomId room_ = crypto::room_id("stored");
    wire::Hash record0_ = crypto::random_array<wire::hash_bytes>();
    wire::Hash record1_ = crypto::random_array<wire::hash_bytes>();
};

TEST_F(StateStoreTest, SavesAndLoadsAPin) {
    StateStore s(file());
    EXPECT_FALSE(s.load_pin(room_));
    auto pin = pin_at(3, 0x11, 0x22);
    s.save_pin(room_, pin);
    expect_pin(s.load_pin(room_), pin);
    EXPECT_FALSE(s.load_pin(crypto::room_id("other")));
}

// Local room names: one name, one room id, both unique; they survive reopening.
TEST_F(StateStoreTest, LocalRoomNamesAreUniqueAndPersist) {
    wire::RoomId other{};
    other.fill(7);
    {
        StateStore s(file());
        EXPECT_FALSE(s.find_room("friends"));
        s.add_room({"friends", room_, "wss://relay:1"});
        EXPECT_THROW(s.add_room({"friends", other, "wss://relay:1"}), StoreError) << "a name taken twice";
        EXPECT_THROW(s.add_room({"pals", room_, "wss://relay:1"}), StoreError) << "a room under two names";
        s.add_room({"pals", other, "ws://127.0.0.1:2"});
    }
    StateStore s(file());
    auto found = s.find_room("friends");
    ASSERT_TRUE(found);
    EXPECT_EQ(found->room, room_);
    EXPECT_EQ(found->server, "wss://relay:1");
    auto by_id = s.find_room(other);
    ASSERT_TRUE(by_id);
    EXPECT_EQ(by_id->name, "pals");
    EXPECT_EQ(s.rooms().size(), 2u);
}

TEST_F(StateStoreTest, PinPersistsAcrossReopening) {
    auto pin = pin_at(7, 0x33, 0x44);
    { StateStore(file()).save_pin(room_, pin); }
    StateStore s(file());
    expect_pin(s.load_pin(room_), pin);
}

TEST_F(StateStoreTest, PinOnlyMovesForward) {
    StateStore s(file());
    s.save_pin(room_, pin_at(5, 0x01, 0x05));
    s.save_pin(room_, pin_at(4, 0x01, 0x04));
    expect_pin(s.load_pin(room_), pin_at(5, 0x01, 0x05));
    s.save_pin(room_, pin_at(5, 0x01, 0x99));  // same height, other head: not a move forward
    expect_pin(s.load_pin(room_), pin_at(5, 0x01, 0x05));
    s.save_pin(room_, pin_at(6, 0x01, 0x06));
    expect_pin(s.load_pin(room_), pin_at(6, 0x01, 0x06));
}

TEST_F(StateStoreTest, PinNeverMovesToAnotherGenesis) {
    StateStore s(file());
    s.save_pin(room_, pin_at(1, 0x01, 0x01));
    s.save_pin(room_, pin_at(9, 0x02, 0x09));
    expect_pin(s.load_pin(room_), pin_at(1, 0x01, 0x01));
}

TEST_F(StateStoreTest, TwoHandlesOnOneFileSeeEachOthersWrites) {
    StateStore a(file());
    StateStore b(file());
    a.save_pin(room_, pin_at(2, 0x01, 0x02));
    expect_pin(b.load_pin(room_), pin_at(2, 0x01, 0x02));
    b.save_pin(room_, pin_at(1, 0x01, 0x01));  // the other process is behind: no rollback
    expect_pin(a.load_pin(room_), pin_at(2, 0x01, 0x02));
}

TEST_F(StateStoreTest, ReplayWindowRoundTripsEveryBit) {
    protocol::StreamKey key{};
    key.room = room_;
    key.session[0] = 7;
    const protocol::ReplayWindow w{0xfffffffffffffff0ull, 0x8000000000000001ull};
    {
        StateStore s(file());
        EXPECT_FALSE(s.load_window(key));
        s.save_window(key, w);
    }
    StateStore s(file());
    auto got = s.load_window(key);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->highest, w.highest);
    EXPECT_EQ(got->seen_below, w.seen_below);
    auto other = key;
    other.session[0] = 8;
    EXPECT_FALSE(s.load_window(other));
}

TEST_F(StateStoreTest, RejectsAReplayAfterRestart) {
    test::Trio trio;
    auto secret = test::random_epoch_secret();
    auto epoch0 = test::live_epoch(trio.genesis(secret), secret);
    const auto bob_session = crypto::random_array<wire::session_id_bytes>();
    const auto first = test::seal(epoch0.sender(trio.bob, bob_session), 0, "once");
    const auto second = test::seal(epoch0.sender(trio.bob, bob_session), 1, "twice");

    auto run = [&](const Bytes& envelope) {
        StateStore s(file());
        protocol::Receiver r(trio.room, trio.alice.public_key, crypto::random_array<wire::session_id_bytes>(), s,
                             [&s](const wire::SessionId& id, const wire::Hash& record, std::uint64_t counter) {
                                 return s.sent_by_us(id, record, counter);
                             });
        r.add_epoch(epoch0.view());
        return r.receive(envelope);
    };

    ASSERT_TRUE(run(first).accepted);
    auto again = run(first);  // a new process over the same file
    EXPECT_FALSE(again.accepted);
    EXPECT_NE(again.reason.find("replayed"), std::string::npos) << again.reason;
    auto next = run(second);
    EXPECT_TRUE(next.accepted) << next.reason;
    EXPECT_EQ(next.missing_before, 0u);
    EXPECT_FALSE(run(second).accepted);
}

TEST_F(StateStoreTest, OwnSessionsPersist) {
    const auto mine = crypto::random_array<wire::session_id_bytes>();
    const auto theirs = crypto::random_array<wire::session_id_bytes>();
    {
        StateStore s(file());
        EXPECT_FALSE(s.owns_session(mine));
        s.add_own_session(mine);
        s.add_own_session(mine);  // idempotent
        EXPECT_TRUE(s.owns_session(mine));
    }
    StateStore s(file());
    EXPECT_TRUE(s.owns_session(mine));
    EXPECT_FALSE(s.owns_session(theirs));
}

// Every process of a state folder takes the next counter of a record, so two
// at once never use one twice, and a thief reusing one of our session ids with
// a counter another of our sessions took is still not us.
TEST_F(StateStoreTest, CountersAreSharedByEveryProcessAndVouchOnlyForTheirSession) {
    const auto chat = crypto::random_array<wire::session_id_bytes>();
    const auto send = crypto::random_array<wire::session_id_bytes>();
    {
        StateStore a(file());
        StateStore b(file());  // another process on the same folder
        EXPECT_EQ(a.take_counter(chat, record0_), 0u);
        EXPECT_EQ(b.take_counter(send, record0_), 1u);
        EXPECT_EQ(a.take_counter(chat, record0_), 2u);
        EXPECT_EQ(b.take_counter(send, record1_), 0u) << "counters start again in every epoch";
        EXPECT_TRUE(a.sent_by_us(chat, record0_, 0));
        EXPECT_TRUE(b.sent_by_us(chat, record0_, 2));
        EXPECT_FALSE(a.sent_by_us(chat, record0_, 1)) << "counter 1 was the send's";
        EXPECT_FALSE(a.sent_by_us(send, record0_, 2)) << "counter 2 was the chat's";
        EXPECT_FALSE(a.sent_by_us(chat, record0_, 3)) << "never taken";
        EXPECT_FALSE(a.sent_by_us(chat, record1_, 0)) << "taken in another epoch's record";
    }
    StateStore s(file());
    EXPECT_TRUE(s.sent_by_us(send, record0_, 1));
    EXPECT_EQ(s.take_counter(send, record0_), 3u) << "after a restart the count goes on";
}

// A state file written before counters were shared: each session counted
// from 0 and kept its highest; what those sessions sent is still ours.
TEST_F(StateStoreTest, WhatAnOlderVersionsSessionSentIsStillOurs) {
    const auto old_session = crypto::random_array<wire::session_id_bytes>();
    {
        StateStore s(file());
        s.add_own_session(old_session);
    }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(file().c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "INSERT INTO own_sent (session, record, highest) VALUES (?, ?, 4)", -1, &st,
                                 nullptr),
              SQLITE_OK);
    sqlite3_bind_blob(st, 1, old_session.data(), static_cast<int>(old_session.size()), SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 2, record0_.data(), static_cast<int>(record0_.size()), SQLITE_TRANSIENT);
    ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
    StateStore s(file());
    EXPECT_TRUE(s.sent_by_us(old_session, record0_, 0));
    EXPECT_TRUE(s.sent_by_us(old_session, record0_, 4));
    EXPECT_FALSE(s.sent_by_us(old_session, record0_, 5));
    EXPECT_FALSE(s.sent_by_us(old_session, record1_, 0));
}

TEST_F(StateStoreTest, SenderFrontsAndExpiryPersistPerRoom) {
    wire::RoomId room{}, other{};
    room.fill(1);
    other.fill(2);
    protocol::SenderKey bob{room, record0_, {}};
    bob.sender.fill(7);
    {
        StateStore s(file());
        EXPECT_FALSE(s.load_front(bob));
        s.save_front(bob, 4);
        s.save_front(bob, 9);
        EXPECT_FALSE(s.expired_through_epoch(room));
        s.note_expired(room, 3);
        s.note_expired(room, 1);  // never moves back
    }
    StateStore s(file());
    EXPECT_EQ(s.load_front(bob), 9u);
    auto elsewhere = bob;
    elsewhere.room = other;
    EXPECT_FALSE(s.load_front(elsewhere));
    elsewhere = bob;
    elsewhere.record_hash = record1_;
    EXPECT_FALSE(s.load_front(elsewhere));
    EXPECT_EQ(s.expired_through_epoch(room), 3u);
    EXPECT_FALSE(s.expired_through_epoch(other));
}

TEST_F(StateStoreTest, StreamGapsPersistPerRoomAndARebaseForgetsThem) {
    wire::RoomId room{}, other{};
    room.fill(1);
    other.fill(2);
    {
        StateStore s(file());
        s.save_stream_gaps(room, {{3, 5, 1, true}, {9, 9, 0, false}});
        s.save_stream_gaps(other, {{7, 8, 0, false}});
    }
    StateStore s(file());
    const std::vector<protocol::GapRange> want{{3, 5, 1, false}, {9, 9, 0, false}};
    EXPECT_EQ(s.stream_gaps(room), want);
    s.save_stream_gaps(room, {{4, 5, 1, false}});
    EXPECT_EQ(s.stream_gaps(room), (std::vector<protocol::GapRange>{{4, 5, 1, false}}));
    s.rebase_stream(room, {0, 0, {}}, {10, 12});
    EXPECT_TRUE(s.stream_gaps(room).empty());
    EXPECT_EQ(s.stream_gaps(other), (std::vector<protocol::GapRange>{{7, 8, 0, false}}));
}

TEST_F(StateStoreTest, NestedTransactionsCommitOnceAndRollBackTogether) {
    wire::RoomId room{};
    room.fill(3);
    StateStore s(file());
    {
        StateStore::Transaction outer(s);
        s.save_stream_gaps(room, {{1, 2, 0, false}});  // opens and commits an inner one
        EXPECT_EQ(s.stream_gaps(room).size(), 1u);
    }  // the outer one ends without commit(): rolled back, the inner write with it
    EXPECT_TRUE(s.stream_gaps(room).empty());
    {
        StateStore::Transaction outer(s);
        s.save_stream_gaps(room, {{1, 2, 0, false}});
        outer.commit();
    }
    StateStore peek(file());
    EXPECT_EQ(peek.stream_gaps(room), (std::vector<protocol::GapRange>{{1, 2, 0, false}}));
}

TEST_F(StateStoreTest, OutboxKeepsPendingLinesInOrderUntilRemoved) {
    wire::RoomId room{}, other{};
    room.fill(4);
    other.fill(5);
    std::vector<std::uint64_t> ids_seen;
    auto seal_with = [&](std::uint8_t tag) {
        return [&ids_seen, tag](std::uint64_t id) {
            ids_seen.push_back(id);
            return Bytes{tag, static_cast<std::uint8_t>(id)};
        };
    };
    {
        StateStore s(file());
        EXPECT_EQ(s.add_outbox(room, seal_with(0xa1)), 1u);
        EXPECT_EQ(s.add_outbox(room, seal_with(0xa2)), 2u);
        EXPECT_EQ(s.add_outbox(other, seal_with(0xb1)), 1u);
    }
    EXPECT_EQ(ids_seen, (std::vector<std::uint64_t>{1, 2, 1}));  // the seal is given the row's id
    StateStore s(file());
    auto rows = s.load_outbox(room);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0], (std::pair<std::uint64_t, Bytes>{1, Bytes{0xa1, 1}}));
    EXPECT_EQ(rows[1], (std::pair<std::uint64_t, Bytes>{2, Bytes{0xa2, 2}}));
    s.remove_outbox(room, 1);
    EXPECT_EQ(s.load_outbox(room).size(), 1u);
    EXPECT_EQ(s.add_outbox(room, seal_with(0xa3)), 3u);  // numbers keep growing past what is queued
    EXPECT_EQ(s.load_outbox(other).size(), 1u);
}

TEST_F(StateStoreTest, VerifiedMarksPersist) {
    auto bob = test::new_identity().public_key;
    auto charlie = test::new_identity().public_key;
    {
        StateStore s(file());
        EXPECT_FALSE(s.is_verified(bob));
        s.mark_verified(bob);
        s.mark_verified(bob);
    }
    StateStore s(file());
    EXPECT_TRUE(s.is_verified(bob));
    EXPECT_FALSE(s.is_verified(charlie));
}

TEST_F(StateStoreTest, GarbageFileIsAClearStoreError) {
    {
        std::ofstream out(file(), std::ios::binary);
        for (int i = 0; i < 8192; ++i) out.put(static_cast<char>((i * 131 + 7) & 0xff));
    }
    auto msg = store_error(file());
    ASSERT_FALSE(msg.empty()) << "opening a non-SQLite file must throw StoreError";
    EXPECT_NE(msg.find(file().string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("not a database"), std::string::npos) << msg;
}

TEST_F(StateStoreTest, UnopenablePathIsAStoreError) {
    auto msg = store_error(dir_ / "no" / "such" / "dir" / "state.db");
    EXPECT_FALSE(msg.empty());
}

TEST_F(StateStoreTest, ForeignSqliteDatabaseWithAnotherSchemaVersionIsRefused) {
    {
        StateStore s(file());
    }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(file().c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "UPDATE meta SET value=99 WHERE key='schema'", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
    auto msg = store_error(file());
    EXPECT_NE(msg.find("schema"), std::string::npos) << msg;
}

// state_store.h promises StoreError for a file that is "not a Parley state file".
TEST_F(StateStoreTest, AnotherApplicationsSqliteDatabaseIsRefusedAndLeftAlone) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(file().c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)", nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);

    EXPECT_FALSE(store_error(file()).empty()) << "a foreign database must not be adopted as Parley state";

    ASSERT_EQ(sqlite3_open(file().c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type='table'", -1, &st, nullptr),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int(st, 0), 1) << "Parley tables were added to someone else's database";
    sqlite3_finalize(st);
    sqlite3_close(db);
}

}  // namespace
}  // namespace parley::store
