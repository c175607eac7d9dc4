// parley-relay over wss:// with a self-signed certificate made for the test,
// and net::Client's certificate and host name verification. The relay's TLS
// layer (lib/relay/tls_stream.h) is also driven by a raw OpenSSL client
// (RawTls below) that misbehaves the ways net::Client never would: an old
// protocol version, floods of KeyUpdate requests, not reading.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../unit/relay_test_records.h"
#include "relay_harness.h"

namespace parley::relay_it {
namespace {

namespace fs = std::filesystem;
using namespace parley::relay_test;

// Under AddressSanitizer the relay's freed memory sits in ASan's quarantine
// (up to 256 MB) instead of being reused, so its resident size says nothing
// about what it holds: the memory checks below are skipped there (the test
// binary is built with the same sanitizers as the relay).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool rss_is_meaningful = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool rss_is_meaningful = false;
#else
constexpr bool rss_is_meaningful = true;
#endif
#else
constexpr bool rss_is_meaningful = true;
#endif

// The relay's resident memory (VmRSS), in KiB; 0 if it cannot be read.
std::size_t rss_kib(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
    return 0;
}

// A TLS client straight on OpenSSL and a blocking socket. Socket waits are
// bounded by SO_RCVTIMEO / SO_SNDTIMEO (io_timeout), so a relay that stops
// reading or answering shows up as SSL_ERROR_WANT_READ/WRITE, not a hang.
class RawTls {
public:
    static constexpr auto io_timeout = std::chrono::seconds(2);

    // `rcvbuf` > 0: a small receive buffer, so that a client that does not
    // read stalls the relay's writes early.
    RawTls(const std::string& port, const std::string& ca, int min_version, int max_version, int rcvbuf = 0) {
        ctx_ = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_min_proto_version(ctx_, min_version);
        SSL_CTX_set_max_proto_version(ctx_, max_version);
        SSL_CTX_load_verify_locations(ctx_, ca.c_str(), nullptr);
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        timeval tv{static_cast<time_t>(io_timeout.count()), 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(port)));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ssl_ = SSL_new(ctx_);
        SSL_set_fd(ssl_, fd_);
        SSL_set_tlsext_host_name(ssl_, "localhost");
        SSL_set1_host(ssl_, "localhost");
    }
    ~RawTls() {
        SSL_free(ssl_);
        SSL_CTX_free(ctx_);
        if (fd_ >= 0) ::close(fd_);
    }
    RawTls(const RawTls&) = delete;
    RawTls& operator=(const RawTls&) = delete;

    SSL* ssl() { return ssl_; }

    // "" on success, else OpenSSL's reason.
    std::string handshake() {
        if (!connected_) return "connect failed";
        ERR_clear_error();
        if (SSL_connect(ssl_) == 1) return "";
        char buf[256];
        ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
        return buf;
    }

    bool write_all(const void* data, std::size_t size) {
        std::size_t written = 0;
        return SSL_write_ex(ssl_, data, size, &written) == 1 && written == size;
    }

    // TLS, then the WebSocket upgrade (RFC 6455 §4.1).
    bool open_websocket() {
        if (!handshake().empty()) return false;
        const std::string request =
            "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        if (!write_all(request.data(), request.size())) return false;
        std::string response;
        char c;
        while (response.find("\r\n\r\n") == std::string::npos) {
            std::size_t n = 0;
            if (SSL_read_ex(ssl_, &c, 1, &n) != 1) return false;
            response.push_back(c);
        }
        return response.rfind("HTTP/1.1 101", 0) == 0;
    }

    // One masked client frame (RFC 6455 §5.2): opcode 2 binary, 8 close.
    bool send_frame(std::uint8_t opcode, const Bytes& payload) {
        Bytes frame{static_cast<std::uint8_t>(0x80 | opcode)};
        const std::uint64_t n = payload.size();
        if (n < 126) {
            frame.push_back(static_cast<std::uint8_t>(0x80 | n));
        } else if (n <= 0xffff) {
            frame.insert(frame.end(), {0x80 | 126, static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)});
        } else {
            frame.push_back(0x80 | 127);
            for (int i = 0; i < 8; ++i) frame.push_back(static_cast<std::uint8_t>(n >> (56 - 8 * i)));
        }
        std::array<std::uint8_t, 4> mask{};
        RAND_bytes(mask.data(), 4);
        frame.insert(frame.end(), mask.begin(), mask.end());
        for (std::size_t i = 0; i < n; ++i) frame.push_back(payload[i] ^ mask[i % 4]);
        return write_all(frame.data(), frame.size());
    }
    bool send(const wire::Frame& f) { return send_frame(2, wire::encode_frame(f)); }

    // How a read of the relay's bytes ended.
    enum class End { data, close_notify, reset_or_eof, timeout, tls_error };
    struct Read {
        End end;
        std::size_t n = 0;
    };
    Read read_some(std::uint8_t* data, std::size_t size) {
        ERR_clear_error();
        std::size_t n = 0;
        if (SSL_read_ex(ssl_, data, size, &n) == 1) return {End::data, n};
        switch (SSL_get_error(ssl_, 0)) {
            case SSL_ERROR_ZERO_RETURN:
                return {End::close_notify};
            case SSL_ERROR_WANT_READ:
                return {End::timeout};
            case SSL_ERROR_SYSCALL:
                return {End::reset_or_eof};
            default:
                // OpenSSL 3 reports EOF without close_notify as an SSL error too.
                if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) return {End::reset_or_eof};
                return {End::tls_error};
        }
    }

private:
    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
    int fd_ = -1;
    bool connected_ = false;
};

// Server-to-client WebSocket frames (unmasked) parsed from a byte stream.
struct WsFrame {
    std::uint8_t opcode;
    Bytes payload;
};
class WsParser {
public:
    void feed(const std::uint8_t* data, std::size_t n) { buf_.insert(buf_.end(), data, data + n); }
    // The next whole frame; nullopt if more bytes are needed. `bad` is set on
    // a header no relay would send (masked, reserved bits, not final).
    std::optional<WsFrame> next(bool& bad) {
        if (buf_.size() < 2) return std::nullopt;
        if ((buf_[0] & 0xf0) != 0x80 || (buf_[1] & 0x80) != 0) {
            bad = true;
            return std::nullopt;
        }
        std::size_t header = 2;
        std::uint64_t len = buf_[1] & 0x7f;
        if (len == 126) {
            if (buf_.size() < 4) return std::nullopt;
            len = (std::uint64_t{buf_[2]} << 8) | buf_[3];
            header = 4;
        } else if (len == 127) {
            if (buf_.size() < 10) return std::nullopt;
            len = 0;
            for (int i = 0; i < 8; ++i) len = (len << 8) | buf_[2 + i];
            header = 10;
        }
        if (buf_.size() < header + len) return std::nullopt;
        WsFrame f{static_cast<std::uint8_t>(buf_[0] & 0x0f),
                  Bytes(buf_.begin() + static_cast<std::ptrdiff_t>(header),
                        buf_.begin() + static_cast<std::ptrdiff_t>(header + len))};
        buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(header + len));
        return f;
    }
    std::size_t buffered() const { return buf_.size(); }

private:
    Bytes buf_;
};


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

    // Envelopes of the largest size for a raw client that does not read: 5.9
    // MB, more than the relay's socket send buffer holds (4 MB at most), less
    // than its send queue limit (8 MiB).
    static constexpr std::size_t envelope_count = 80;

    // The next WebSocket frame the raw client reads, skipping none.
    static std::optional<WsFrame> read_frame(RawTls& raw, WsParser& parser) {
        std::array<std::uint8_t, 16384> buf;
        for (;;) {
            bool bad = false;
            if (auto f = parser.next(bad)) return f;
            if (bad) return std::nullopt;
            auto r = raw.read_some(buf.data(), buf.size());
            if (r.end != RawTls::End::data) return std::nullopt;
            parser.feed(buf.data(), r.n);
        }
    }

    // A raw client on the relay, joined to `room` (made by publish_and_join
    // with the same token fill).
    bool raw_join(RawTls& raw, WsParser& parser, const Room& room, std::uint8_t token_fill) {
        if (!raw.open_websocket()) return false;
        if (!raw.send(wire::Join{7, room.id, room.genesis, make_token(token_fill)})) return false;
        auto f = read_frame(raw, parser);
        if (!f) return false;
        auto decoded = wire::decode_frame(f->payload);
        return decoded.frame && std::holds_alternative<wire::Joined>(*decoded.frame);
    }

    // `b` sends `count` envelopes of `size` bytes into the room, each acked.
    static std::vector<Bytes> send_envelopes(FrameClient& b, const Room& room, std::size_t count, std::size_t size) {
        std::vector<Bytes> sent;
        for (std::size_t i = 0; i < count; ++i) {
            Bytes envelope(size);
            for (std::size_t j = 0; j < size; ++j) envelope[j] = static_cast<std::uint8_t>(j * 13 + i);
            b.send(wire::Send{100 + i, room.id, room.genesis, envelope});
            sent.push_back(std::move(envelope));
        }
        for (std::size_t i = 0; i < count; ++i) EXPECT_TRUE(b.expect<wire::Ack>(std::chrono::seconds(20)));
        return sent;
    }

    // Sends TLS 1.3 KeyUpdate requests (each asks the relay to answer with a
    // KeyUpdate of its own) without reading anything, until `max` are sent,
    // `max_time` has passed, the relay stops taking them (a send blocks for
    // RawTls::io_timeout) or the connection fails.
    struct Flood {
        std::size_t sent = 0;
        bool blocked = false;
        bool closed = false;
    };
    static Flood flood_key_updates(RawTls& raw, std::size_t max, std::chrono::seconds max_time) {
        Flood flood;
        const auto deadline = std::chrono::steady_clock::now() + max_time;
        while (flood.sent < max && std::chrono::steady_clock::now() < deadline) {
            ERR_clear_error();
            if (SSL_key_update(raw.ssl(), SSL_KEY_UPDATE_REQUESTED) != 1) {
                flood.closed = true;
                break;
            }
            const int r = SSL_do_handshake(raw.ssl());  // sends it now
            if (r != 1) {
                const int e = SSL_get_error(raw.ssl(), r);
                (e == SSL_ERROR_WANT_WRITE ? flood.blocked : flood.closed) = true;
                break;
            }
            ++flood.sent;
        }
        return flood;
    }

    // Floods (1.5 million requests and replies are about 40 MB of records),
    // says what happened, and checks that the relay stopped taking requests
    // (or closed the connection) with its memory bounded.
    Flood flood_expecting_a_bound(RawTls& raw) {
        const std::size_t rss_before = rss_kib(relay_.pid());
        const auto flood = flood_key_updates(raw, 1'500'000, std::chrono::seconds(40));
        const std::size_t rss_after = rss_kib(relay_.pid());
        std::printf("  measure: %zu KeyUpdate requests sent, then %s; relay RSS %zu -> %zu KiB\n", flood.sent,
                    flood.blocked  ? "the relay stopped reading"
                    : flood.closed ? "the connection closed"
                                   : "the limit",
                    rss_before, rss_after);
        EXPECT_TRUE(flood.blocked || flood.closed) << "the relay took every request: its replies went nowhere";
        if (rss_is_meaningful) {
            EXPECT_LT(rss_after, rss_before + 16 * 1024) << "the relay's memory grew with the flood";
        }
        return flood;
    }

    // SIGTERM: the relay closes every connection and exits 0 (under the
    // sanitizers, also with nothing leaked: no operation left holding its
    // session, e.g. a write parked behind another).
    void expect_clean_exit() {
        relay_.signal(SIGTERM);
        auto code = relay_.wait_exit(std::chrono::seconds(20));
        ASSERT_TRUE(code) << "still running after SIGTERM";
        EXPECT_EQ(*code, 0) << relay_.stderr_text();
    }

    // The relay still serves a new TLS client.
    void expect_relay_serving() {
        ASSERT_FALSE(relay_.wait_exit(std::chrono::milliseconds(0))) << relay_.stderr_text();
        FrameClient c("wss://localhost:" + port_, trusting_cert());
        c.send(wire::GetChain{make_room("still serving"), {}});
        EXPECT_TRUE(c.expect<wire::Chain>());
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

// A peer that floods KeyUpdate requests and reads nothing. Each request makes
// the relay's read produce a KeyUpdate reply: the relay must send these (not
// queue them without end) and so, once the peer's socket is full, stop
// reading; its memory stays bounded and it keeps serving everyone else.
//
// Then a message for the flooder: the relay's write to it must wait behind
// the read's stuck reply (one writer on the socket), and the others get it.
// When the flooder goes, the operations it held end: the relay exits cleanly
// and (under the sanitizers) leaks nothing.
TEST_F(RelayTlsTest, KeyUpdateFloodWithoutReadingStaysBounded) {
    FrameClient a("wss://localhost:" + port_, trusting_cert());
    FrameClient b("wss://localhost:" + port_, trusting_cert());
    const auto room = publish_and_join(a, b, "tls flood", 0x35);
    ASSERT_FALSE(HasFailure());
    auto raw = std::make_unique<RawTls>(port_, cert_, TLS1_3_VERSION, TLS1_3_VERSION, 8192);
    WsParser parser;
    ASSERT_TRUE(raw_join(*raw, parser, room, 0x35));
    flood_expecting_a_bound(*raw);
    send_envelopes(b, room, 1, 1000);
    EXPECT_TRUE(a.expect<wire::Deliver>());
    raw.reset();
    expect_relay_serving();
    expect_clean_exit();
}

// SIGTERM while the flooder is still connected and stuck: its session's close
// frame waits behind the stuck write, so the graceful close cannot finish. At
// the end of the grace the relay closes the socket, every operation ends, and
// it exits 0 with nothing leaked (under ASan, LeakSanitizer makes a leaked
// session fail the exit code).
TEST_F(RelayTlsTest, StopWhileAFlooderIsStuckExitsCleanly) {
    FrameClient a("wss://localhost:" + port_, trusting_cert());
    FrameClient b("wss://localhost:" + port_, trusting_cert());
    const auto room = publish_and_join(a, b, "tls stop", 0x36);
    ASSERT_FALSE(HasFailure());
    RawTls raw(port_, cert_, TLS1_3_VERSION, TLS1_3_VERSION, 8192);
    WsParser parser;
    ASSERT_TRUE(raw_join(raw, parser, room, 0x36));
    const auto flood = flood_expecting_a_bound(raw);
    ASSERT_TRUE(flood.blocked) << "the flood did not get the relay stuck";
    expect_clean_exit();
    EXPECT_NE(relay_.stderr_text().find("did not finish closing"), std::string::npos) << relay_.stderr_text();
}

// The same flood while the relay's write to the peer is stuck (the peer reads
// nothing and a large backlog is on its way): the read must not write then
// (one writer on the socket), so its replies wait for the writer, and their
// queue is capped: over it, the relay fails the connection.
TEST_F(RelayTlsTest, KeyUpdateFloodBehindAStuckWriteClosesTheConnection) {
    FrameClient a("wss://localhost:" + port_, trusting_cert());
    FrameClient b("wss://localhost:" + port_, trusting_cert());
    const auto room = publish_and_join(a, b, "tls stuck", 0x33);
    ASSERT_FALSE(HasFailure());
    RawTls raw(port_, cert_, TLS1_3_VERSION, TLS1_3_VERSION, 8192);
    WsParser parser;
    ASSERT_TRUE(raw_join(raw, parser, room, 0x33));
    send_envelopes(b, room, envelope_count, wire::max_envelope_bytes);
    ASSERT_FALSE(HasFailure());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto flood = flood_expecting_a_bound(raw);
    expect_relay_serving();
    // Closed by the cap, not by chance: the relay says so (its stderr arrives
    // through a pipe, so allow it a moment).
    EXPECT_TRUE(flood.closed);
    const char* const cap_line = "unsent TLS output is over its limit";
    for (int i = 0; i < 100 && relay_.stderr_text().find(cap_line) == std::string::npos; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_NE(relay_.stderr_text().find(cap_line), std::string::npos) << relay_.stderr_text();
    // The members who behave still get their messages.
    for (std::size_t i = 0; i < envelope_count; ++i) ASSERT_TRUE(a.expect<wire::Deliver>(std::chrono::seconds(20)));
    expect_clean_exit();
}

// The peer closes (WebSocket close frame) while the relay is in the middle of
// writing it megabytes of frames it is not reading. The relay's close reply
// and TLS close_notify go after the write in flight, never into it: the peer
// reads whole frames, the close frame, and close_notify, never a record that
// fails to decrypt.
TEST_F(RelayTlsTest, PeerCloseDuringALargeWriteKeepsTheTlsStreamIntact) {
    FrameClient a("wss://localhost:" + port_, trusting_cert());
    FrameClient b("wss://localhost:" + port_, trusting_cert());
    const auto room = publish_and_join(a, b, "tls close", 0x34);
    ASSERT_FALSE(HasFailure());
    RawTls raw(port_, cert_, TLS1_3_VERSION, TLS1_3_VERSION, 8192);
    WsParser parser;
    ASSERT_TRUE(raw_join(raw, parser, room, 0x34));
    const auto sent = send_envelopes(b, room, envelope_count, wire::max_envelope_bytes);
    ASSERT_FALSE(HasFailure());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_TRUE(raw.send_frame(8, Bytes{0x03, 0xe8}));  // close, 1000 (normal)

    std::size_t delivered = 0;
    bool close_seen = false;
    bool bad_frame = false;
    RawTls::End end = RawTls::End::data;
    std::array<std::uint8_t, 16384> buf;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (end == RawTls::End::data && std::chrono::steady_clock::now() < deadline) {
        auto r = raw.read_some(buf.data(), buf.size());
        end = r.end;
        if (end != RawTls::End::data || close_seen) continue;  // after the close frame: TLS only
        parser.feed(buf.data(), r.n);
        bool bad = false;
        while (auto f = parser.next(bad)) {
            if (f->opcode == 8) {
                close_seen = true;
                break;
            }
            auto decoded = wire::decode_frame(f->payload);
            auto* deliver = decoded.frame ? std::get_if<wire::Deliver>(&*decoded.frame) : nullptr;
            if (f->opcode != 2 || !deliver || delivered >= sent.size() || deliver->envelope != sent[delivered]) {
                bad_frame = true;
                break;
            }
            ++delivered;
        }
        if (bad || bad_frame) break;
    }
    std::printf("  measure: %zu whole frames, close frame %s, then %s\n", delivered, close_seen ? "seen" : "not seen",
                end == RawTls::End::close_notify   ? "close_notify"
                : end == RawTls::End::reset_or_eof ? "reset or EOF"
                : end == RawTls::End::timeout      ? "nothing (timeout)"
                : end == RawTls::End::tls_error    ? "a TLS error"
                                                   : "more data");
    EXPECT_FALSE(bad_frame) << "a frame that is not the next envelope, after " << delivered;
    EXPECT_NE(end, RawTls::End::tls_error) << "a record did not decrypt: bytes interleaved on the socket";
    // Stricter than "close_notify or a reset": the peer closed cleanly, so the
    // relay owes it a clean end. A TLS layer that dropped the close_notify
    // because a write was in flight (rather than sending it after) fails here.
    EXPECT_EQ(end, RawTls::End::close_notify);
    EXPECT_TRUE(close_seen) << "the stream ended before the close frame";
    expect_relay_serving();
    expect_clean_exit();
}

}  // namespace
}  // namespace parley::relay_it
