// parley-relay over wss:// with a self-signed certificate made for the test,
// and net::Client's certificate and host name verification.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "../unit/relay_test_records.h"
#include "relay_harness.h"

namespace parley::relay_it {
namespace {

namespace fs = std::filesystem;
using namespace parley::relay_test;

class RelayTlsTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("parley-relay-tls-" + std::to_string(::getpid()));
        fs::create_directories(dir_);
        cert_ = (dir_ / "cert.pem").string();
        key_ = (dir_ / "key.pem").string();
        ASSERT_EQ(make_certificate(cert_, key_, "DNS:localhost,IP:127.0.0.1"), 0)
            << "openssl could not make a test certificate";
        ASSERT_TRUE(relay_.start({"--listen", "127.0.0.1:0", "--cert", cert_, "--key", key_}));
        auto port = relay_.wait_ready();
        ASSERT_TRUE(port) << relay_.stderr_text();
        port_ = *port;
        EXPECT_EQ(relay_.url(), "wss://127.0.0.1:" + port_);
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    // A self-signed Ed25519 certificate; returns system()'s status.
    static int make_certificate(const std::string& cert, const std::string& key, const std::string& san) {
        std::string cmd = "openssl req -x509 -newkey ed25519 -nodes -days 2 -keyout '" + key + "' -out '" +
                          cert + "' -subj /CN=localhost -addext subjectAltName=" + san + " >/dev/null 2>&1";
        return std::system(cmd.c_str());
    }

    net::Client::Options trusting_cert() const {
        net::Client::Options o;
        o.ca_file = cert_;
        o.timeout = std::chrono::seconds(5);
        return o;
    }

    // `a` publishes the genesis of a two-member room and both join it.
    struct Room {
        wire::RoomId id;
        wire::Hash genesis;
    };
    static Room publish_and_join(FrameClient& a, FrameClient& b, const char* name, std::uint8_t token_fill) {
        TestMember alice = make_member();
        TestMember bob = make_member();
        auto room = make_room(name);
        auto token = make_token(token_fill);
        auto genesis = make_genesis(room, {alice, bob}, alice, token);
        a.send(wire::Publish{1, room, {}, wire::encode_record(genesis)});
        EXPECT_TRUE(a.expect<wire::Published>());
        for (auto* c : {&a, &b}) {
            c->send(wire::Join{2, room, wire::record_hash(genesis), token});
            EXPECT_TRUE(c->expect<wire::Joined>());
        }
        return {room, wire::record_hash(genesis)};
    }

    // What connect() throws, or "" if it connected.
    std::string connect_error(const std::string& url, net::Client::Options options) {
        try {
            FrameClient c(url, options);
        } catch (const std::runtime_error& e) {
            return e.what();
        }
        return "";
    }

    fs::path dir_;
    std::string cert_;
    std::string key_;
    std::string port_;
    RelayProcess relay_;
};

TEST_F(RelayTlsTest, JoinAndSendRoundTripOverWss) {
    FrameClient a("wss://localhost:" + port_, trusting_cert());
    FrameClient b("wss://127.0.0.1:" + port_, trusting_cert());  // the IP SAN verifies too
    const auto room = publish_and_join(a, b, "tls room", 0x30);
    ASSERT_FALSE(HasFailure());
    Bytes envelope(64, 0x5a);
    b.send(wire::Send{3, room.id, room.genesis, envelope});
    auto ack = b.expect<wire::Ack>();
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->seq, 1u);
    auto deliver = a.expect<wire::Deliver>();
    ASSERT_TRUE(deliver);
    EXPECT_EQ(deliver->envelope, envelope);
}

// Frames larger than one TLS record (16 KiB), several in a row, arrive byte
// for byte (the relay's gather writes go through the TLS layer in pieces).
TEST_F(RelayTlsTest, EnvelopesLargerThanATlsRecordRoundTrip) {
    FrameClient a("wss://localhost:" + port_, trusting_cert());
    FrameClient b("wss://localhost:" + port_, trusting_cert());
    const auto room = publish_and_join(a, b, "tls records", 0x31);
    ASSERT_FALSE(HasFailure());
    std::vector<Bytes> envelopes;
    for (std::size_t size : {std::size_t{100}, std::size_t{20'000}, std::size_t{70'000}}) {
        Bytes envelope(size);
        for (std::size_t i = 0; i < size; ++i) envelope[i] = static_cast<std::uint8_t>(i * 7 + size);
        envelopes.push_back(envelope);
    }
    std::uint64_t id = 10;
    for (const auto& envelope : envelopes) b.send(wire::Send{id++, room.id, room.genesis, envelope});
    for (const auto& envelope : envelopes) {
        ASSERT_TRUE(b.expect<wire::Ack>());
        auto deliver = a.expect<wire::Deliver>();
        ASSERT_TRUE(deliver);
        EXPECT_EQ(deliver->envelope, envelope);
    }
}

TEST_F(RelayTlsTest, UntrustedCertificateFailsVerification) {
    net::Client::Options system_trust;  // the system store does not know our self-signed cert
    system_trust.timeout = std::chrono::seconds(5);
    auto error = connect_error("wss://localhost:" + port_, system_trust);
    EXPECT_NE(error.find("certificate verification failed"), std::string::npos) << error;
}

TEST_F(RelayTlsTest, HostNameMismatchFailsVerification) {
    // A relay whose (trusted) certificate names another host only.
    auto other_cert = (dir_ / "other-cert.pem").string();
    auto other_key = (dir_ / "other-key.pem").string();
    ASSERT_EQ(make_certificate(other_cert, other_key, "DNS:relay.example"), 0);
    RelayProcess other;
    ASSERT_TRUE(other.start({"--listen", "127.0.0.1:0", "--cert", other_cert, "--key", other_key}));
    auto port = other.wait_ready();
    ASSERT_TRUE(port) << other.stderr_text();
    net::Client::Options trust_other;
    trust_other.ca_file = other_cert;
    for (const std::string host : {"localhost", "127.0.0.1"}) {
        auto error = connect_error("wss://" + host + ":" + *port, trust_other);
        EXPECT_NE(error.find("certificate verification failed"), std::string::npos) << error;
    }
}

TEST_F(RelayTlsTest, PlainClientOnTlsPortFailsCleanly) {
    auto started = std::chrono::steady_clock::now();
    auto error = connect_error("ws://127.0.0.1:" + port_, trusting_cert());
    EXPECT_NE(error.find("WebSocket handshake"), std::string::npos) << error;
    // A failed handshake is reported at once, not after the timeout.
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
    // The relay keeps serving TLS clients afterwards.
    FrameClient c("wss://localhost:" + port_, trusting_cert());
    c.send(wire::GetChain{make_room("x"), {}});
    EXPECT_TRUE(c.expect<wire::Chain>());
}

}  // namespace
}  // namespace parley::relay_it
