// The real parley-relay process over loopback WebSockets: protocol flows,
// malformed and oversized frames, start-up refusals and shutdown.
#include <gtest/gtest.h>

#include <functional>

#include "../unit/relay_test_records.h"
#include "relay_harness.h"

namespace parley::relay_it {
namespace {

using namespace parley::relay_test;
using wire::RelayError;

constexpr std::size_t small_frame_limit = 4096;

class RelayProcessTest : public ::testing::Test {
protected:
    void SetUp() override { start_relay(); }

    void start_relay(std::vector<std::string> more = {}) {
        std::vector<std::string> args{"--listen", "127.0.0.1:0", "--threads", "2", "--max-frame-bytes",
                                      std::to_string(small_frame_limit)};
        args.insert(args.end(), more.begin(), more.end());
        ASSERT_TRUE(relay_.start(args));
        auto port = relay_.wait_ready();
        ASSERT_TRUE(port) << relay_.stderr_text();
        url_ = "ws://127.0.0.1:" + *port;
        EXPECT_EQ(relay_.url(), url_);
    }

    std::unique_ptr<FrameClient> connect() { return std::make_unique<FrameClient>(url_); }

    // Publishes a genesis for alice and bob through `c`; returns its hash.
    wire::Hash publish_genesis(FrameClient& c, const wire::EpochRecord& genesis) {
        c.send(wire::Publish{1, room_, {}, wire::encode_record(genesis)});
        auto published = c.expect<wire::Published>();
        EXPECT_TRUE(published);
        EXPECT_EQ(published ? published->request_id : 0, 1u);
        return wire::record_hash(genesis);
    }

    void join(FrameClient& c, const wire::Hash& genesis, const wire::Token& token, std::uint64_t epoch,
              std::uint64_t after_seq = 0) {
        c.send(wire::Join{7, room_, genesis, token, after_seq});
        auto joined = c.expect<wire::Joined>();
        ASSERT_TRUE(joined);
        EXPECT_EQ(joined->request_id, 7u);
        EXPECT_EQ(joined->head_epoch, epoch);
    }

    // The relay still serves: a GetChain for a chain it does not hold gets
    // its Error, with the request's id.
    void expect_serving(FrameClient& c) {
        c.send(wire::GetChain{9, room_, make_room("no such chain"), {}});
        c.expect_error(9, RelayError::unknown_chain);
    }

    RelayProcess relay_;
    std::string url_;
    TestMember alice_ = make_member();
    TestMember bob_ = make_member();
    wire::RoomId room_ = make_room("friends");
    wire::Token token0_ = make_token(0x20);
    wire::Token token1_ = make_token(0x21);
};

TEST_F(RelayProcessTest, DeliversToOtherMembersAndAcksTheSender) {
    auto alice = connect();
    auto bob = connect();
    auto genesis = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    auto g = publish_genesis(*alice, genesis);
    join(*alice, g, token0_, 0);
    join(*bob, g, token0_, 0);

    // GetChain serves the genesis back.
    bob->send(wire::GetChain{3, room_, g, {}});
    auto chain = bob->expect<wire::Chain>();
    ASSERT_TRUE(chain);
    EXPECT_EQ(chain->request_id, 3u);
    EXPECT_TRUE(chain->complete);
    ASSERT_EQ(chain->records.size(), 1u);
    EXPECT_EQ(chain->records.at(0), wire::encode_record(genesis));

    for (std::uint64_t i = 1; i <= 3; ++i) {
        Bytes envelope(100 + i, static_cast<std::uint8_t>(i));
        alice->send(wire::Send{40 + i, room_, g, envelope});
        auto ack = alice->expect<wire::Ack>();
        ASSERT_TRUE(ack);
        EXPECT_EQ(ack->request_id, 40 + i);
        EXPECT_EQ(ack->seq, i);
        auto deliver = bob->expect<wire::Deliver>();
        ASSERT_TRUE(deliver);
        EXPECT_EQ(deliver->seq, i);
        EXPECT_EQ(deliver->room, room_);
        EXPECT_EQ(deliver->genesis, g);
        EXPECT_EQ(deliver->envelope, envelope);
    }
    EXPECT_TRUE(alice->nothing_within(300ms)) << "the sender got its own message back";
}

// --store memory (benchmarks and tests): the same protocol, nothing on disk,
// and nothing left once the relay stops.
class RelayMemoryStoreTest : public RelayProcessTest {
protected:
    void SetUp() override { start_relay({"--store", "memory"}); }
};

TEST_F(RelayMemoryStoreTest, DeliversAndKeepsNothingAcrossARestart) {
    EXPECT_NE(relay_.stderr_text().find("in memory"), std::string::npos) << relay_.stderr_text();
    auto alice = connect();
    auto bob = connect();
    auto genesis = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    auto g = publish_genesis(*alice, genesis);
    join(*alice, g, token0_, 0);
    Bytes envelope(120, 0x5a);
    alice->send(wire::Send{41, room_, g, envelope});
    auto ack = alice->expect<wire::Ack>();
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->seq, 1u);
    // bob joins after the Send: it comes from the store.
    join(*bob, g, token0_, 0);
    auto deliver = bob->expect<wire::Deliver>();
    ASSERT_TRUE(deliver);
    EXPECT_EQ(deliver->envelope, envelope);

    alice.reset();
    bob.reset();
    relay_.kill_now();
    RelayProcess again;
    ASSERT_TRUE(again.start({"--listen", "127.0.0.1:0", "--store", "memory"}));
    auto port = again.wait_ready();
    ASSERT_TRUE(port) << again.stderr_text();
    FrameClient carol("ws://127.0.0.1:" + *port);
    carol.send(wire::GetChain{3, room_, g, {}});
    carol.expect_error(3, RelayError::unknown_chain);
}

TEST_F(RelayProcessTest, GarbageGetsMalformedAndRelayKeepsServing) {
    auto bad = connect();
    auto good = connect();
    bad->send_raw({0x01, 0x77, 0x00, 0x01});
    bad->expect_error(0, RelayError::malformed);
    bad->send_raw({});
    bad->expect_error(0, RelayError::malformed);
    expect_serving(*bad);
    expect_serving(*good);
}

TEST_F(RelayProcessTest, RelayToClientFrameFromClientIsMalformed) {
    auto c = connect();
    c->send(wire::Ack{5, 1});
    c->expect_error(0, RelayError::malformed);
}

TEST_F(RelayProcessTest, UnknownVersionGetsBadVersion) {
    auto c = connect();
    auto frame = wire::encode_frame(wire::GetChain{0, room_, {}, {}});
    frame[0] = 0x7f;
    c->send_raw(frame);
    c->expect_error(0, RelayError::bad_version);
}

TEST_F(RelayProcessTest, OversizedFrameClosesOnlyThatConnection) {
    auto big = connect();
    auto other = connect();
    big->send_raw(Bytes(small_frame_limit + 1, 0xab));
    EXPECT_TRUE(big->wait_closed());
    expect_serving(*other);
    auto fresh = connect();
    expect_serving(*fresh);
}

TEST_F(RelayProcessTest, JoinWithWrongTokenIsForbidden) {
    auto c = connect();
    auto g = publish_genesis(*c, make_genesis(room_, {alice_, bob_}, alice_, token0_));
    c->send(wire::Join{9, room_, g, token1_});
    c->expect_error(9, RelayError::forbidden);
    c->send(wire::Join{10, room_, wire::Hash{}, token0_});
    c->expect_error(10, RelayError::unknown_chain);
}

TEST_F(RelayProcessTest, SendWithoutJoinIsNotJoined) {
    auto c = connect();
    auto g = publish_genesis(*c, make_genesis(room_, {alice_, bob_}, alice_, token0_));
    c->send(wire::Send{11, room_, g, Bytes(32, 1)});
    c->expect_error(11, RelayError::not_joined);
}

TEST_F(RelayProcessTest, NewHeadUnsubscribesUntilRejoin) {
    auto alice = connect();
    auto bob = connect();
    auto genesis = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    auto g = publish_genesis(*alice, genesis);
    join(*alice, g, token0_, 0);
    join(*bob, g, token0_, 0);

    auto next = make_successor(genesis, alice_, token1_);
    alice->send(wire::Publish{12, room_, token0_, wire::encode_record(next)});
    auto published = alice->expect<wire::Published>();
    ASSERT_TRUE(published);
    EXPECT_EQ(published->request_id, 12u);
    EXPECT_EQ(published->record_hash, wire::record_hash(next));
    for (auto* c : {alice.get(), bob.get()}) {
        auto head = c->expect<wire::NewHead>();
        ASSERT_TRUE(head);
        EXPECT_EQ(head->genesis, g);
        EXPECT_EQ(head->record, wire::encode_record(next));
    }

    bob->send(wire::Send{13, room_, g, Bytes(32, 2)});
    bob->expect_error(13, RelayError::not_joined);
    bob->send(wire::Join{14, room_, g, token0_});  // the old epoch's token no longer works
    bob->expect_error(14, RelayError::forbidden);
    join(*bob, g, token1_, 1, 1);  // after the NewHead it already has
    bob->send(wire::Send{15, room_, g, Bytes(32, 3)});
    auto ack = bob->expect<wire::Ack>();
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->request_id, 15u);
    EXPECT_TRUE(alice->nothing_within(200ms)) << "alice is not joined to the new epoch";

    // Re-publishing the stale successor loses the compare-and-set.
    auto late = make_successor(genesis, bob_, make_token(0x22));
    bob->send(wire::Publish{16, room_, token0_, wire::encode_record(late)});
    bob->expect_error(16, RelayError::not_head);
}

TEST_F(RelayProcessTest, ForgedRecordIsBadRecord) {
    auto c = connect();
    auto genesis = make_genesis(room_, {alice_, bob_}, alice_, token0_);
    genesis.created_at_ms += 1;  // after signing
    c->send(wire::Publish{17, room_, {}, wire::encode_record(genesis)});
    c->expect_error(17, RelayError::bad_record);
}

TEST_F(RelayProcessTest, SigtermExitsZeroAndClosesClients) {
    auto c = connect();
    expect_serving(*c);
    relay_.signal(SIGTERM);
    auto code = relay_.wait_exit(5000ms);
    ASSERT_TRUE(code) << "relay still running 5 s after SIGTERM";
    EXPECT_EQ(*code, 0) << relay_.stderr_text();
    EXPECT_TRUE(c->wait_closed());
}

// What an outsider can make the relay hold (issue 9, point 3): 100,000
// rejected Publishes (geneses over the hourly room quota, successors of rooms
// that do not exist, a second genesis for a taken room id) and 1,000 requests
// for a whole chain leave its resident memory within a fixed bound, and the
// rooms that exist keep working. Read limits are off so the flood is fast.
TEST(RelayMemory, RejectedPublishesAndChainRequestsLeaveMemoryBounded) {
    RelayProcess relay;
    ASSERT_TRUE(relay.start({"--listen", "127.0.0.1:0", "--messages-per-second", "0", "--bytes-per-second", "0"}));
    auto port = relay.wait_ready();
    ASSERT_TRUE(port) << relay.stderr_text();
    FrameClient c("ws://127.0.0.1:" + *port);
    const auto alice = make_member(), mallory = make_member();
    // A real room with a 200-record chain, the target of the chain requests.
    const auto room = make_room("the real one");
    std::vector<wire::EpochRecord> chain{make_genesis(room, {alice}, alice, make_token(0))};
    c.send(wire::Publish{1, room, {}, wire::encode_record(chain[0])});
    ASSERT_TRUE(c.expect<wire::Published>());
    for (int e = 1; e < 200; ++e) {
        chain.push_back(make_successor(chain.back(), alice, make_token(static_cast<std::uint8_t>(e))));
        c.send(wire::Publish{2, room, make_token(static_cast<std::uint8_t>(e - 1)), wire::encode_record(chain.back())});
        ASSERT_TRUE(c.expect<wire::Published>()) << "epoch " << e;
    }
    const auto g = wire::record_hash(chain[0]);
    // Requests go in windows, each answered before the next window: a window's
    // answers must fit the relay's send queue (8 MiB), or it rightly cuts us
    // as a slow reader.
    auto flood = [&](std::size_t total, const std::function<wire::Frame(std::size_t)>& make,
                     const std::function<bool(const wire::Frame&)>& expected, std::size_t window = 500) {
        for (std::size_t done = 0; done < total; done += window) {
            const std::size_t n = std::min(window, total - done);
            for (std::size_t i = 0; i < n; ++i) c.send(make(done + i));
            for (std::size_t i = 0; i < n; ++i) {
                auto raw = c.next_raw();
                ASSERT_TRUE(raw) << "no answer to request " << done + i;
                auto decoded = wire::decode_frame(*raw);
                ASSERT_TRUE(decoded.frame && expected(*decoded.frame)) << "request " << done + i;
            }
        }
    };
    auto is_error = [](wire::RelayError code) {
        return [code](const wire::Frame& f) {
            return std::holds_alternative<wire::Error>(f) && std::get<wire::Error>(f).code == code;
        };
    };
    // Mallory uses up the hourly quota of the address (10 rooms, the real one included) first.
    for (int i = 0; i < 9; ++i) {
        const auto r = make_room("mallory " + std::to_string(i));
        c.send(wire::Publish{3, r, {}, wire::encode_record(make_genesis(r, {mallory}, mallory, make_token(1)))});
        ASSERT_TRUE(c.expect<wire::Published>());
    }
    const std::size_t before = rss_kib(relay.pid());
    const std::size_t geneses = rss_is_meaningful ? 40000 : 4000;  // ASan: fewer, and RSS is not checked
    const std::size_t successors = rss_is_meaningful ? 50000 : 5000;
    const std::size_t squats = rss_is_meaningful ? 10000 : 1000;
    const auto genesis_of = [&](std::size_t i) {
        const auto r = make_room("random " + std::to_string(i));
        return wire::Frame{wire::Publish{4, r, {}, wire::encode_record(make_genesis(r, {mallory}, mallory, make_token(2)))}};
    };
    flood(geneses, genesis_of, is_error(wire::RelayError::quota));
    const auto successor_of = [&](std::size_t i) {
        const auto r = make_room("nowhere " + std::to_string(i));
        auto fake = make_genesis(r, {mallory}, mallory, make_token(3));
        return wire::Frame{wire::Publish{5, r, make_token(3), wire::encode_record(make_successor(fake, mallory, make_token(4)))}};
    };
    flood(successors, successor_of, is_error(wire::RelayError::unknown_chain));
    const auto squat_of = [&](std::size_t i) {
        return wire::Frame{wire::Publish{6, room, {}, wire::encode_record(make_genesis(room, {mallory}, mallory,
                                                                                       make_token(static_cast<std::uint8_t>(i))))}};
    };
    flood(squats, squat_of, is_error(wire::RelayError::room_exists));
    const std::size_t after_publishes = rss_kib(relay.pid());
    flood(
        1000, [&](std::size_t i) { return wire::Frame{wire::GetChain{i, room, g, {}}}; },
        [&](const wire::Frame& f) {
            return std::holds_alternative<wire::Chain>(f) && std::get<wire::Chain>(f).records.size() == chain.size();
        },
        10);  // 10 answers of 200 records: about 1.6 MiB
    const std::size_t after = rss_kib(relay.pid());
    std::printf("  measure: relay RSS %zu KiB, after %zu rejected Publishes %zu KiB, after 1,000 chain requests "
                "(%zu records each) %zu KiB\n",
                before, geneses + successors + squats, after_publishes, chain.size(), after);
    if (rss_is_meaningful) {
        EXPECT_LT(after_publishes, before + 8 * 1024) << "rejected Publishes grew the relay's memory";
        EXPECT_LT(after, before + 16 * 1024) << "chain requests grew the relay's memory";
    }
    // The real room still serves, and no outsider's room was made.
    c.send(wire::GetChain{7, room, g, wire::record_hash(chain[198])});
    auto last = c.expect<wire::Chain>();
    ASSERT_TRUE(last);
    EXPECT_TRUE(last->complete);
    ASSERT_EQ(last->records.size(), 1u);
    EXPECT_EQ(last->records[0], wire::encode_record(chain.back()));
}

TEST(RelayStartup, RefusesPlaintextOffLoopback) {
    RelayProcess relay;
    ASSERT_TRUE(relay.start({"--listen", "0.0.0.0:0"}));
    auto code = relay.wait_exit(5000ms);
    ASSERT_TRUE(code) << "relay accepted a non-loopback plain listen";
    EXPECT_NE(*code, 0);
    EXPECT_NE(relay.stderr_text().find("--insecure-plaintext"), std::string::npos) << relay.stderr_text();
}

// Off loopback the operator says who may create rooms: listed founders or
// anyone (within quotas); the relay does not guess. Both at once is refused.
TEST(RelayStartup, RefusesToListenOffLoopbackWithoutSayingWhoCreatesRooms) {
    RelayProcess relay;
    ASSERT_TRUE(relay.start({"--listen", "0.0.0.0:0", "--insecure-plaintext"}));
    auto code = relay.wait_exit(5000ms);
    ASSERT_TRUE(code) << "relay listened off loopback without founders or --open-rooms";
    EXPECT_EQ(*code, 2);
    EXPECT_NE(relay.stderr_text().find("--founders FILE"), std::string::npos) << relay.stderr_text();
    EXPECT_NE(relay.stderr_text().find("--open-rooms"), std::string::npos) << relay.stderr_text();

    RelayProcess both;
    ASSERT_TRUE(both.start({"--listen", "127.0.0.1:0", "--open-rooms", "--founders", "/dev/null"}));
    code = both.wait_exit(5000ms);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 2);

    RelayProcess open;
    ASSERT_TRUE(open.start({"--listen", "0.0.0.0:0", "--insecure-plaintext", "--open-rooms"}));
    EXPECT_TRUE(open.wait_ready()) << open.stderr_text();
}

TEST(RelayStartup, RefusesAMemoryStoreOffLoopbackOrWithADataDirectory) {
    RelayProcess off_loopback;
    ASSERT_TRUE(off_loopback.start({"--listen", "0.0.0.0:0", "--insecure-plaintext", "--open-rooms", "--store",
                                    "memory"}));
    auto code = off_loopback.wait_exit(5000ms);
    ASSERT_TRUE(code) << "a memory store listened off loopback";
    EXPECT_EQ(*code, 2);
    EXPECT_NE(off_loopback.stderr_text().find("refusing --store memory"), std::string::npos)
        << off_loopback.stderr_text();

    TempDir dir;
    RelayProcess with_data;
    ASSERT_TRUE(with_data.start({"--listen", "127.0.0.1:0", "--store", "memory", "--data", dir.path().string()}));
    code = with_data.wait_exit(5000ms);
    ASSERT_TRUE(code) << "a memory store took --data";
    EXPECT_EQ(*code, 2);
    EXPECT_NE(with_data.stderr_text().find("takes no --data"), std::string::npos) << with_data.stderr_text();
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "relay.sqlite"));
}

TEST(RelayStartup, PortInUseFailsWithExitOne) {
    RelayProcess first;
    ASSERT_TRUE(first.start({"--listen", "127.0.0.1:0"}));
    auto port = first.wait_ready();
    ASSERT_TRUE(port);
    RelayProcess second;
    ASSERT_TRUE(second.start({"--listen", "127.0.0.1:" + *port}));
    auto code = second.wait_exit(5000ms);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 1);
    EXPECT_NE(second.stderr_text().find("cannot listen"), std::string::npos) << second.stderr_text();
}

TEST(RelayStartup, RefusesASendQueueThatCannotHoldFourFrames) {
    RelayProcess relay;
    ASSERT_TRUE(relay.start({"--listen", "127.0.0.1:0", "--max-frame-bytes", "262144",
                             "--max-send-queue-bytes", "524288"}));
    auto code = relay.wait_exit(5000ms);
    ASSERT_TRUE(code) << "relay started with a send queue of two frames";
    EXPECT_EQ(*code, 2);
    EXPECT_NE(relay.stderr_text().find("--max-send-queue-bytes"), std::string::npos) << relay.stderr_text();
}

TEST(RelayStartup, RefusesAByteRateThatWouldOutwaitTheIdleTimeout) {
    // A 256 KiB frame at 4 KiB/s: a 64 s wait without a read, past a quarter of 120 s.
    RelayProcess relay;
    ASSERT_TRUE(relay.start({"--listen", "127.0.0.1:0", "--max-frame-bytes", "262144",
                             "--bytes-per-second", "4096", "--idle-timeout", "120"}));
    auto code = relay.wait_exit(5000ms);
    ASSERT_TRUE(code) << "relay started with a byte rate that makes the idle timeout cut a throttled connection";
    EXPECT_EQ(*code, 2);
    EXPECT_NE(relay.stderr_text().find("--bytes-per-second"), std::string::npos) << relay.stderr_text();
}

}  // namespace
}  // namespace parley::relay_it
