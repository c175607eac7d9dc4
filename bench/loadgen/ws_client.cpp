#include "loadgen/ws_client.h"

#include <boost/beast/core/detail/base64.hpp>
#include <chrono>
#include <netinet/in.h>
#include <sys/socket.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24  // linux/in.h, Linux 4.2
#endif

namespace parley::bench {

namespace {

constexpr std::size_t min_free_read_bytes = 4096;  // grow the buffer below this
constexpr std::size_t max_control_payload_bytes = 125;

std::mt19937_64& rng() {
    static std::mt19937_64 r{std::random_device{}()};
    return r;
}

}  // namespace

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

WsClient::WsClient(std::size_t id, ClientEvents& events, std::size_t read_buffer_bytes)
    : id_(id), events_(events), in_(read_buffer_bytes) {
    auto bits = rng()();
    std::memcpy(mask_, &bits, sizeof mask_);
    std::uint8_t nonce[16];
    for (auto& b : nonce) b = static_cast<std::uint8_t>(rng()());
    key_.resize(boost::beast::detail::base64::encoded_size(sizeof nonce));
    key_.resize(boost::beast::detail::base64::encode(key_.data(), nonce, sizeof nonce));
}

void WsClient::fail(const std::string& what) {
    if (failed_) return;
    failed_ = true;
    open_ = false;
    events_.on_failed(id_, what);
}

// -- the upgrade --------------------------------------------------------------

bool WsClient::parse_upgrade_response() {
    const char* begin = reinterpret_cast<const char*>(in_.data() + in_begin_);
    std::string_view have(begin, in_end_ - in_begin_);
    auto end = have.find("\r\n\r\n");
    if (end == std::string_view::npos) return false;
    if (!have.starts_with("HTTP/1.1 101")) {
        fail("upgrade refused: " + std::string(have.substr(0, have.find("\r\n"))));
        return false;
    }
    in_begin_ += end + 4;
    upgraded_ = true;
    open_ = true;
    events_.on_open(id_);
    return true;
}

// -- reading --------------------------------------------------------------------

void WsClient::read_more() {
    // Compact, then make sure a large stretch is free: one read takes a whole batch.
    if (in_begin_ == in_end_) {
        in_begin_ = in_end_ = 0;
    } else if (in_begin_ > 0 && in_.size() - in_end_ < min_free_read_bytes) {
        std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
        in_end_ -= in_begin_;
        in_begin_ = 0;
    }
    if (in_.size() - in_end_ < min_free_read_bytes) in_.resize(in_.size() * 2);
    async_read_some(std::span(in_.data() + in_end_, in_.size() - in_end_));
}

void WsClient::on_read(const boost::system::error_code& ec, std::size_t n) {
    if (ec) return fail("read: " + ec.message());
    ++reads_;
    in_end_ += n;
    if (!upgraded_ && !parse_upgrade_response()) {
        if (!failed_) read_more();
        return;
    }
    parse_frames(now_ns());
    if (!failed_) read_more();
}

void WsClient::parse_frames(std::int64_t now) {
    for (;;) {
        const std::uint8_t* p = in_.data() + in_begin_;
        const std::size_t avail = in_end_ - in_begin_;
        if (avail < 2) return;
        const bool fin = p[0] & 0x80;
        const auto op = static_cast<Opcode>(p[0] & 0x0f);
        const bool masked = p[1] & 0x80;
        std::uint64_t len = p[1] & 0x7f;
        std::size_t header = 2;
        if (len == 126) {
            if (avail < 4) return;
            len = (std::uint64_t{p[2]} << 8) | p[3];
            header = 4;
        } else if (len == 127) {
            if (avail < 10) return;
            len = 0;
            for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
            header = 10;
        }
        std::uint8_t key[4]{};
        if (masked) {
            if (avail < header + 4) return;
            std::memcpy(key, p + header, 4);
            header += 4;
        }
        if (avail < header + len) {
            // A frame larger than the buffer: grow so the next read can finish it.
            if (header + len > in_.size()) in_.resize(header + len + min_free_read_bytes);
            return;
        }
        std::uint8_t* payload = in_.data() + in_begin_ + header;
        if (masked)
            for (std::size_t i = 0; i < len; ++i) payload[i] ^= key[i % 4];
        in_begin_ += header + len;
        std::span<const std::uint8_t> body(payload, len);

        switch (op) {
            case Opcode::ping: send(Opcode::pong, body.first(std::min<std::size_t>(len, max_control_payload_bytes))); break;
            case Opcode::pong: break;
            case Opcode::close: fail("closed by the server"); return;
            case Opcode::continuation:
                message_.insert(message_.end(), body.begin(), body.end());
                if (fin) {
                    events_.on_message(id_, message_, now);
                    message_.clear();
                }
                break;
            default:
                if (fin) {
                    events_.on_message(id_, body, now);
                } else {
                    message_op_ = op;
                    message_.assign(body.begin(), body.end());
                }
        }
        if (failed_) return;
    }
}

// -- writing --------------------------------------------------------------------

void WsClient::send(Opcode op, std::span<const std::uint8_t> payload) {
    if (failed_) return;
    auto& out = out_pending_;
    const std::size_t len = payload.size();
    out.push_back(static_cast<std::uint8_t>(0x80 | static_cast<std::uint8_t>(op)));  // FIN
    if (len < 126) {
        out.push_back(static_cast<std::uint8_t>(0x80 | len));
    } else if (len <= 0xffff) {
        out.push_back(0x80 | 126);
        out.push_back(static_cast<std::uint8_t>(len >> 8));
        out.push_back(static_cast<std::uint8_t>(len));
    } else {
        out.push_back(0x80 | 127);
        for (int i = 7; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(std::uint64_t{len} >> (8 * i)));
    }
    out.insert(out.end(), mask_, mask_ + 4);
    const std::size_t start = out.size();
    out.resize(start + len);
    for (std::size_t i = 0; i < len; ++i) out[start + i] = payload[i] ^ mask_[i % 4];
    flush();
}

void WsClient::flush() {
    if (writing_ || out_pending_.empty() || failed_) return;
    writing_ = true;
    std::swap(out_pending_, out_writing_);
    ++writes_;
    async_write_all(out_writing_);
}

void WsClient::on_written(const boost::system::error_code& ec) {
    writing_ = false;
    if (ec) return fail("write: " + ec.message());
    out_writing_.clear();
    flush();
}

// -- the two streams --------------------------------------------------------------

template <class Stream>
class StreamClient final : public WsClient {
public:
    template <class... Args>
    StreamClient(std::size_t id, ClientEvents& events, std::size_t read_buffer_bytes, Args&&... args)
        : WsClient(id, events, read_buffer_bytes), stream_(std::forward<Args>(args)...) {}

    void start(const tcp::endpoint& to, const std::string& host, const std::string& target,
               const std::optional<asio::ip::address>& source) override {
        request_ = "GET " + target + " HTTP/1.1\r\nHost: " + host +
                   "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key() +
                   "\r\nSec-WebSocket-Version: 13\r\n\r\n";
        if (source) {
            // One loopback address has ~28,000 ephemeral ports; scenario 7's ~70,000
            // connections come from several (127.0.0.1, .2, ...). The port is left
            // to connect(), which picks one free for this address and destination.
            boost::system::error_code ec;
            socket().open(to.protocol(), ec);
            if (!ec) {
                const int one = 1;
                ::setsockopt(socket().native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
                socket().bind(tcp::endpoint(*source, 0), ec);
            }
            if (ec) return fail("bind to " + source->to_string() + ": " + ec.message());
        }
        socket().async_connect(to, [this](const boost::system::error_code& ec) {
            if (ec) return fail("connect: " + ec.message());
            socket().set_option(tcp::no_delay(true));
            if constexpr (is_tls) {
                stream_.async_handshake(asio::ssl::stream_base::client, [this](const boost::system::error_code& e) {
                    if (e) return fail("tls handshake: " + e.message());
                    write_upgrade();
                });
            } else {
                write_upgrade();
            }
        });
    }

private:
    static constexpr bool is_tls = !std::is_same_v<Stream, tcp::socket>;

    tcp::socket& socket() {
        if constexpr (is_tls) return stream_.next_layer();
        else return stream_;
    }

    void write_upgrade() {
        asio::async_write(stream_, asio::buffer(request_), [this](const boost::system::error_code& ec, std::size_t) {
            if (ec) return fail("upgrade: " + ec.message());
            request_.clear();
            start_reading();
        });
    }

    void async_read_some(std::span<std::uint8_t> into) override {
        stream_.async_read_some(asio::buffer(into.data(), into.size()),
                                [this](const boost::system::error_code& ec, std::size_t n) { on_read(ec, n); });
    }
    void async_write_all(std::span<const std::uint8_t> from) override {
        asio::async_write(stream_, asio::buffer(from.data(), from.size()),
                          [this](const boost::system::error_code& ec, std::size_t) { on_written(ec); });
    }

    Stream stream_;
    std::string request_;
};

std::unique_ptr<WsClient> WsClient::make(asio::io_context& ioc, asio::ssl::context* tls, std::size_t id,
                                         ClientEvents& events, std::size_t read_buffer_bytes) {
    if (tls)
        return std::make_unique<StreamClient<asio::ssl::stream<tcp::socket>>>(id, events, read_buffer_bytes, ioc,
                                                                                 *tls);
    return std::make_unique<StreamClient<tcp::socket>>(id, events, read_buffer_bytes, ioc);
}

}  // namespace parley::bench
