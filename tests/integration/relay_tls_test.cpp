// parley-relay over wss:// with a self-signed certificate made for the test,
// and net::Client's certificate and host name verification; a raw OpenSSL
// client (tls_test_support.h) for an old protocol version.
#include "tls_test_support.h"

namespace parley::relay_it {
namespace {

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

// The relay's first handshake flight, certificate chain included, goes
// through TlsStream's 64 KiB output cap: a chain of 54 KiB (here the test
// certificate and copies of it) still handshakes, and one of 60 KiB, which
// would fail every handshake, is refused when the relay starts.
TEST_F(RelayTlsTest, ALongCertificateChainHandshakesAndAnOverlongOneIsRefusedAtStart) {
    const std::string near_cap = write_chain("chain-54k.pem", 54 * 1024);
    RelayProcess relay;
    ASSERT_TRUE(relay.start({"--listen", "127.0.0.1:0", "--cert", near_cap, "--key", key_}));
    auto port = relay.wait_ready();
    ASSERT_TRUE(port) << relay.stderr_text();
    {
        FrameClient c("wss://localhost:" + *port, trusting_cert());
        c.send(wire::GetChain{1, make_room("long chain"), {}, {}});
        c.expect_error(1, wire::RelayError::unknown_chain);
    }

    const std::string over_cap = write_chain("chain-60k.pem", 60 * 1024);
    RelayProcess refused;
    ASSERT_TRUE(refused.start({"--listen", "127.0.0.1:0", "--cert", over_cap, "--key", key_}));
    auto code = refused.wait_exit(std::chrono::seconds(5));
    ASSERT_TRUE(code) << "the relay started with a chain its first flight cannot hold";
    EXPECT_EQ(*code, 1);
    EXPECT_NE(refused.stderr_text().find("certificate chain in " + over_cap), std::string::npos)
        << refused.stderr_text();
}

TEST_F(RelayTlsTest, PlainClientOnTlsPortFailsCleanly) {
    auto started = std::chrono::steady_clock::now();
    auto error = connect_error("ws://127.0.0.1:" + port_, trusting_cert());
    EXPECT_NE(error.find("WebSocket handshake"), std::string::npos) << error;
    // A failed handshake is reported at once, not after the timeout.
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
    // The relay keeps serving TLS clients afterwards.
    FrameClient c("wss://localhost:" + port_, trusting_cert());
    c.send(wire::GetChain{1, make_room("x"), {}, {}});
    c.expect_error(1, wire::RelayError::unknown_chain);
}

// Envelopes of the largest size the protocol allows (wire::max_envelope_bytes,
// 72 KiB: five TLS records each) in both directions, each member sending and
// receiving.
TEST_F(RelayTlsTest, LargestEnvelopesRoundTripBothWays) {
    FrameClient a("wss://localhost:" + port_, trusting_cert());
    FrameClient b("wss://localhost:" + port_, trusting_cert());
    const auto room = publish_and_join(a, b, "tls largest", 0x32);
    ASSERT_FALSE(HasFailure());
    std::uint64_t id = 20;
    for (auto [from, to] : {std::pair{&a, &b}, std::pair{&b, &a}, std::pair{&a, &b}}) {
        Bytes envelope(wire::max_envelope_bytes);
        for (std::size_t i = 0; i < envelope.size(); ++i) envelope[i] = static_cast<std::uint8_t>(i * 31 + id);
        from->send(wire::Send{id++, room.id, room.genesis, envelope});
        ASSERT_TRUE(from->expect<wire::Ack>());
        auto deliver = to->expect<wire::Deliver>();
        ASSERT_TRUE(deliver);
        EXPECT_EQ(deliver->envelope, envelope);
    }
}

// The relay speaks TLS 1.3 only: a client limited to TLS 1.2 fails the
// handshake (protocol_version alert) at once, and the relay serves TLS 1.3
// clients as before.
TEST_F(RelayTlsTest, Tls12OnlyClientIsRefused) {
    {
        RawTls tls12(port_, cert_, TLS1_2_VERSION, TLS1_2_VERSION);
        const auto started = std::chrono::steady_clock::now();
        const std::string error = tls12.handshake();
        EXPECT_NE(error, "") << "a TLS 1.2 client completed a handshake";
        EXPECT_NE(error.find("protocol version"), std::string::npos) << error;
        EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
    }
    RawTls tls13(port_, cert_, TLS1_2_VERSION, TLS1_3_VERSION);  // offers both, gets 1.3
    ASSERT_EQ(tls13.handshake(), "");
    EXPECT_EQ(SSL_version(tls13.ssl()), TLS1_3_VERSION);
    expect_relay_serving();
}

}  // namespace
}  // namespace parley::relay_it
