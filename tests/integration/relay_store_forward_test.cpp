// Store and forward against the real parley-relay process: backlog on join,
// restarts, kill -9 during a stream, damaged databases, a full disk, and the
// health and metrics endpoints. Those that are not about SQLite's files run
// against both stores, SQLite and PostgreSQL (on a server the test starts,
// pg_server.h), and PostgreSQL's own: its server restarted under load.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <map>
#include <fstream>
#include <set>

#include "../unit/relay_test_records.h"
#include "pg_server.h"
#include "relay_harness.h"

namespace parley::relay_it {
namespace {

using namespace parley::relay_test;
using wire::RelayError;

PgServer& pg() {
    static PgServer server;
    return server;
}

class RelayStoreForwardTest : public ::testing::Test {
protected:
    // Starts a relay on `data` (SIGKILLs any previous one first); on store_url_
    // instead when a test of both stores set it.
    void start(const std::filesystem::path& data, std::vector<std::string> extra = {}) {
        relay_ = std::make_unique<RelayProcess>();
        std::vector<std::string> args{"--listen", "127.0.0.1:0", "--threads", "2"};
        if (store_url_.empty()) args.insert(args.end(), {"--data", data.string()});
        else args.insert(args.end(), {"--store", store_url_});
        args.insert(args.end(), extra.begin(), extra.end());
        ASSERT_TRUE(relay_->start(args));
        auto port = relay_->wait_ready();
        ASSERT_TRUE(port) << relay_->stderr_text();
        port_ = *port;
        url_ = "ws://127.0.0.1:" + port_;
    }
    std::unique_ptr<FrameClient> connect() { return std::make_unique<FrameClient>(url_); }

    wire::Hash publish_genesis(FrameClient& c) {
        genesis_ = make_genesis(room_, {alice_, bob_}, alice_, token0_);
        c.send(wire::Publish{1, room_, {}, wire::encode_record(genesis_)});
        EXPECT_TRUE(c.expect<wire::Published>());
        return wire::record_hash(genesis_);
    }

    std::optional<wire::Joined> join(FrameClient& c, const wire::Hash& g, std::uint64_t after_seq) {
        c.send(wire::Join{7, room_, g, token0_, after_seq});
        return c.expect<wire::Joined>();
    }

    std::uint64_t send(FrameClient& c, const wire::Hash& g, std::uint64_t id, const Bytes& envelope) {
        c.send(wire::Send{id, room_, g, envelope});
        auto ack = c.expect<wire::Ack>();
        EXPECT_TRUE(ack);
        EXPECT_EQ(ack ? ack->request_id : 0, id);
        return ack ? ack->seq : 0;
    }

    static Bytes numbered(std::uint64_t i) {
        Writer w;
        w.u64(i);
        w.raw(Bytes(56, 0x5e));
        return w.take();
    }

    TempDir data_;
    std::string store_url_;  // postgresql://...: the relay keeps its data there
    std::unique_ptr<RelayProcess> relay_;
    std::string port_;
    std::string url_;
    TestMember alice_ = make_member();
    TestMember bob_ = make_member();
    wire::RoomId room_ = make_room("store-forward");
    wire::Token token0_ = make_token(0x30);
    wire::EpochRecord genesis_;
};

// The same tests on the relay's SQLite store and on PostgreSQL.
class RelayStoreForwardBoth : public RelayStoreForwardTest, public ::testing::WithParamInterface<std::string> {
protected:
    void SetUp() override {
        if (GetParam() != "postgresql") return;
        ASSERT_TRUE(pg().started()) << "PostgreSQL did not start: " << pg().why();
        std::string db = std::string("sf_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
        for (char& c : db)
            if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
        store_url_ = pg().url(db);
    }
};

INSTANTIATE_TEST_SUITE_P(Stores, RelayStoreForwardBoth, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& param_info) { return param_info.param; });

TEST_P(RelayStoreForwardBoth, OfflineMemberGetsWhatItMissedInOrderOnce) {
    start(data_.path());
    auto alice = connect();
    auto g = publish_genesis(*alice);
    ASSERT_TRUE(join(*alice, g, 0));
    for (std::uint64_t i = 1; i <= 5; ++i) EXPECT_EQ(send(*alice, g, i, numbered(i)), i);

    auto bob = connect();
    auto joined = join(*bob, g, 2);
    ASSERT_TRUE(joined);
    EXPECT_EQ(joined->last_seq, 5u);
    EXPECT_EQ(joined->first_seq, 1u);
    for (std::uint64_t i = 3; i <= 5; ++i) {
        auto d = bob->expect<wire::Deliver>();
        ASSERT_TRUE(d);
        EXPECT_EQ(d->seq, i);
        EXPECT_EQ(d->envelope, numbered(i));
    }
    EXPECT_TRUE(bob->nothing_within(200ms));
    EXPECT_EQ(send(*alice, g, 6, numbered(6)), 6u);
    auto live = bob->expect<wire::Deliver>();
    ASSERT_TRUE(live);
    EXPECT_EQ(live->seq, 6u);
    EXPECT_TRUE(bob->nothing_within(200ms));
}

TEST_P(RelayStoreForwardBoth, RestartKeepsChainsAndBacklog) {
    start(data_.path());
    wire::Hash g;
    {
        auto alice = connect();
        g = publish_genesis(*alice);
        ASSERT_TRUE(join(*alice, g, 0));
        for (std::uint64_t i = 1; i <= 3; ++i) send(*alice, g, i, numbered(i));
    }
    relay_->signal(SIGTERM);
    ASSERT_EQ(relay_->wait_exit(5000ms), 0) << relay_->stderr_text();
    start(data_.path());

    auto bob = connect();
    bob->send(wire::GetChain{2, room_, g, {}});
    auto chain = bob->expect<wire::Chain>();
    ASSERT_TRUE(chain);
    ASSERT_EQ(chain->records.size(), 1u);
    EXPECT_EQ(chain->records.at(0), wire::encode_record(genesis_));
    auto joined = join(*bob, g, 1);
    ASSERT_TRUE(joined);
    EXPECT_EQ(joined->last_seq, 3u);
    for (std::uint64_t i = 2; i <= 3; ++i) {
        auto d = bob->expect<wire::Deliver>();
        ASSERT_TRUE(d);
        EXPECT_EQ(d->seq, i);
        EXPECT_EQ(d->envelope, numbered(i));
    }
    auto alice = connect();
    ASSERT_TRUE(join(*alice, g, 3));
    EXPECT_EQ(send(*alice, g, 4, numbered(4)), 4u) << "numbering continues after a restart";
}

TEST_P(RelayStoreForwardBoth, KillNineDuringAStreamLosesNoAcknowledgedMessage) {
    start(data_.path());
    auto alice = connect();
    auto g = publish_genesis(*alice);
    ASSERT_TRUE(join(*alice, g, 0));

    // One sender as fast as acks come back; the relay dies mid-stream.
    std::map<std::uint64_t, std::uint64_t> acked;  // seq -> message number
    std::atomic<bool> killed{false};
    std::thread killer([&] {
        std::this_thread::sleep_for(300ms);
        relay_->kill_now();
        killed = true;
    });
    for (std::uint64_t i = 1; !killed && i < 1000000; ++i) {
        alice->send(wire::Send{i, room_, g, numbered(i)});
        auto raw = alice->next_raw(2000ms);
        if (!raw) break;
        auto decoded = wire::decode_frame(*raw);
        if (!decoded.frame || !std::holds_alternative<wire::Ack>(*decoded.frame)) break;
        auto ack = std::get<wire::Ack>(*decoded.frame);
        ASSERT_EQ(ack.request_id, i);
        acked[ack.seq] = i;
    }
    killer.join();
    alice.reset();
    std::printf("acknowledged before kill -9: %zu\n", acked.size());
    ASSERT_GT(acked.size(), 10u) << "too few messages acknowledged before the kill to mean anything";

    start(data_.path());
    auto bob = connect();
    auto joined = join(*bob, g, 0);
    ASSERT_TRUE(joined);
    EXPECT_GE(joined->last_seq, acked.rbegin()->first);
    std::set<std::uint64_t> seen;
    std::uint64_t previous = 0;
    while (seen.size() < joined->last_seq) {
        auto d = bob->expect<wire::Deliver>();
        ASSERT_TRUE(d) << "after " << seen.size() << " of " << joined->last_seq;
        ASSERT_GT(d->seq, previous) << "out of order or repeated";
        previous = d->seq;
        seen.insert(d->seq);
        if (auto it = acked.find(d->seq); it != acked.end()) {
            EXPECT_EQ(d->envelope, numbered(it->second));
        }
    }
    for (const auto& [seq, i] : acked) EXPECT_TRUE(seen.contains(seq)) << "acknowledged message " << i << " lost";
    EXPECT_TRUE(bob->nothing_within(200ms));
}

TEST_F(RelayStoreForwardTest, CorruptDatabaseExitsOneNamingTheFile) {
    const auto file = data_.path() / "relay.sqlite";
    std::ofstream(file, std::ios::binary) << std::string(4096, '\x13');
    RelayProcess relay;
    ASSERT_TRUE(relay.start({"--listen", "127.0.0.1:0", "--data", data_.path().string()}));
    auto code = relay.wait_exit(5000ms);
    ASSERT_TRUE(code) << "relay started on a corrupt database";
    EXPECT_EQ(*code, 1);
    EXPECT_NE(relay.stderr_text().find(file.string()), std::string::npos) << relay.stderr_text();
}

TEST_F(RelayStoreForwardTest, FullDiskRefusesSendsAndKeepsServing) {
    TempDir mount_point;
    if (::mount("tmpfs", mount_point.path().c_str(), "tmpfs", 0, "size=1m") != 0)
        GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno) << ")";
    struct Unmount {
        std::string at;
        ~Unmount() { ::umount2(at.c_str(), MNT_DETACH); }
    } unmount{mount_point.path().string()};

    start(mount_point.path());
    auto alice = connect();
    auto g = publish_genesis(*alice);
    ASSERT_TRUE(join(*alice, g, 0));
    bool refused = false;
    std::uint64_t last_acked = 0;
    for (std::uint64_t i = 1; i <= 200 && !refused; ++i) {
        alice->send(wire::Send{i, room_, g, Bytes(60000, 0x42)});
        auto raw = alice->next_raw();
        ASSERT_TRUE(raw) << "no answer to a Send";
        auto decoded = wire::decode_frame(*raw);
        ASSERT_TRUE(decoded.frame);
        if (auto* e = std::get_if<wire::Error>(&*decoded.frame)) {
            EXPECT_EQ(e->request_id, i);
            EXPECT_EQ(e->code, RelayError::internal);
            refused = true;
        } else {
            ASSERT_TRUE(std::holds_alternative<wire::Ack>(*decoded.frame));
            last_acked = std::get<wire::Ack>(*decoded.frame).seq;
        }
    }
    ASSERT_TRUE(refused) << "a 1 MiB disk never filled";
    EXPECT_FALSE(relay_->wait_exit(100ms)) << "relay died on a full disk: " << relay_->stderr_text();
    alice->send(wire::GetChain{5, room_, g, {}});
    EXPECT_TRUE(alice->expect<wire::Chain>()) << "relay stopped serving";
    EXPECT_NE(relay_->stderr_text().find("cannot store"), std::string::npos) << relay_->stderr_text();
    auto bob = connect();
    auto joined = join(*bob, g, 0);
    ASSERT_TRUE(joined);
    EXPECT_EQ(joined->last_seq, last_acked) << "the log holds something that was refused";
    relay_->kill_now();
}

// GET on a port of 127.0.0.1, read to EOF; "" on failure.
std::string http_get(const std::string& port, const std::string& target) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(port)));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return "";
    }
    std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
        ::close(fd);
        return "";
    }
    std::string out;
    char buf[4096];
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 5000) == 1) {
        auto n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

// /healthz on the client port (load balancers); /metrics on the metrics address only.
TEST_P(RelayStoreForwardBoth, HealthAndMetricsOverHttp) {
    start(data_.path(), {"--metrics-listen", "127.0.0.1:0"});
    const auto metrics_port = relay_->metrics_port();
    ASSERT_TRUE(metrics_port) << relay_->stderr_text();
    ASSERT_NE(*metrics_port, port_);
    auto alice = connect();
    auto g = publish_genesis(*alice);
    ASSERT_TRUE(join(*alice, g, 0));
    send(*alice, g, 1, numbered(1));
    auto health = http_get(port_, "/healthz");
    EXPECT_EQ(health.rfind("HTTP/1.1 200", 0), 0u) << health;
    EXPECT_NE(health.find("\r\n\r\nok"), std::string::npos) << health;
    EXPECT_EQ(http_get(port_, "/metrics").rfind("HTTP/1.1 404", 0), 0u) << "the client port serves /metrics";
    auto metrics = http_get(*metrics_port, "/metrics");
    EXPECT_EQ(metrics.rfind("HTTP/1.1 200", 0), 0u) << metrics;
    EXPECT_NE(metrics.find("parley_relay_messages_stored_total 1"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("parley_relay_connections "), std::string::npos) << metrics;
    EXPECT_EQ(http_get(*metrics_port, "/healthz").rfind("HTTP/1.1 200", 0), 0u);
    EXPECT_EQ(http_get(*metrics_port, "/nope").rfind("HTTP/1.1 404", 0), 0u);
    EXPECT_EQ(http_get(port_, "/nope").rfind("HTTP/1.1 404", 0), 0u);
    // WebSockets still work after plain HTTP requests.
    alice->send(wire::GetChain{6, room_, g, {}});
    EXPECT_TRUE(alice->expect<wire::Chain>());
}

// PostgreSQL restarted while a member sends as fast as the Acks come back:
// sends made while it is away are refused (Error internal, no number used);
// everything acknowledged, before and after, is delivered to a member who
// joins later, once, in order, and the numbers have no hole.
TEST_F(RelayStoreForwardTest, PostgresqlRestartedUnderLoadLosesNothingAcknowledged) {
    ASSERT_TRUE(pg().started()) << "PostgreSQL did not start: " << pg().why();
    store_url_ = pg().url("sf_restart_under_load");
    start(data_.path());
    auto alice = connect();
    auto g = publish_genesis(*alice);
    ASSERT_TRUE(join(*alice, g, 0));

    std::map<std::uint64_t, std::uint64_t> acked;  // seq -> message number
    std::size_t refused = 0;
    std::atomic<bool> restarted{false};
    std::thread restarter([&] {
        std::this_thread::sleep_for(300ms);
        EXPECT_TRUE(pg().restart());
        restarted = true;
    });
    std::size_t acked_after = 0;
    for (std::uint64_t i = 1; i < 1000000 && acked_after < 50; ++i) {
        alice->send(wire::Send{i, room_, g, numbered(i)});
        auto raw = alice->next_raw(10000ms);
        ASSERT_TRUE(raw) << "no answer to send " << i;
        auto decoded = wire::decode_frame(*raw);
        ASSERT_TRUE(decoded.frame);
        if (auto* error = std::get_if<wire::Error>(&*decoded.frame)) {
            EXPECT_EQ(error->code, RelayError::internal);
            ++refused;
            std::this_thread::sleep_for(20ms);
            continue;
        }
        ASSERT_TRUE(std::holds_alternative<wire::Ack>(*decoded.frame));
        acked[std::get<wire::Ack>(*decoded.frame).seq] = i;
        if (restarted) ++acked_after;
    }
    restarter.join();
    std::printf("acknowledged: %zu, refused while the database was away: %zu\n", acked.size(), refused);
    ASSERT_GT(acked.size(), 60u);

    auto bob = connect();
    auto joined = join(*bob, g, 0);
    ASSERT_TRUE(joined);
    EXPECT_EQ(joined->last_seq, acked.rbegin()->first);
    for (std::uint64_t seq = 1; seq <= joined->last_seq; ++seq) {
        auto d = bob->expect<wire::Deliver>();
        ASSERT_TRUE(d) << "after " << seq - 1 << " of " << joined->last_seq;
        ASSERT_EQ(d->seq, seq) << "a hole, a repeat or out of order";
        if (auto it = acked.find(seq); it != acked.end()) {
            EXPECT_EQ(d->envelope, numbered(it->second));
        }
    }
    EXPECT_TRUE(bob->nothing_within(200ms));
}

}  // namespace
}  // namespace parley::relay_it
