// What the relay's TLS tests share: a relay started with a self-signed
// certificate made for the test (RelayTlsTest), and a raw OpenSSL client
// (RawTls) with a WebSocket frame parser, for what net::Client never does.
// relay_tls_test.cpp: the handshake, verification and round trips;
// relay_tls_abuse_test.cpp: peers that flood, stall and close mid-write.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
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

namespace fs = std::filesystem;
using namespace parley::relay_test;

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

    // A chain file of at least `bytes` (DER): the test certificate, then copies of it.
    std::string write_chain(const std::string& name, std::size_t bytes) const {
        std::ifstream in(cert_);
        std::stringstream text;
        text << in.rdbuf();
        const std::string pem = text.str();
        BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
        X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
        const int der = cert ? i2d_X509(cert, nullptr) : 0;
        X509_free(cert);
        BIO_free(bio);
        EXPECT_GT(der, 0) << "cannot read the test certificate";
        const std::string path = (dir_ / name).string();
        std::ofstream out(path);
        for (std::size_t total = 0; der > 0 && total < bytes;
             total += static_cast<std::size_t>(der))
            out << pem;
        return path;
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

    // The relay still serves a new TLS client.
    void expect_relay_serving() {
        ASSERT_FALSE(relay_.wait_exit(std::chrono::milliseconds(0))) << relay_.stderr_text();
        FrameClient c("wss://localhost:" + port_, trusting_cert());
        c.send(wire::GetChain{1, make_room("still serving"), {}, {}});
        c.expect_error(1, wire::RelayError::unknown_chain);
    }

    fs::path dir_;
    std::string cert_;
    std::string key_;
    std::string port_;
    RelayProcess relay_;
};

}  // namespace parley::relay_it
