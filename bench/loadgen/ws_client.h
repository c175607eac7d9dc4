// A minimal WebSocket client for the load generator (RFC 6455), plain or TLS.
//
// Why not beast::websocket::stream: it reads through a fixed 1,536-byte buffer
// (websocket::stream::tcp_frame_size), so a client receiving 800-byte frames
// makes a system call for every one or two of them and the load generator, not
// the relay, becomes the bottleneck. Here the upgrade request is written by
// hand, and every read_some fills a large buffer that is then cut into as many
// frames as it holds: one system call per batch. Writes are batched the same
// way: frames queued while a write is in flight go out together in the next one.
//
// Client-to-server frames are masked, as the RFC requires, with one random key
// per connection; server frames are not masked. Pings are answered; fragmented
// messages are reassembled.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace parley::bench {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

enum class Opcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

// What a client reports to its owner. `now_ns` is taken once per read batch.
struct ClientEvents {
    virtual ~ClientEvents() = default;
    virtual void on_open(std::size_t client) = 0;
    virtual void on_message(std::size_t client, std::span<const std::uint8_t> payload, std::int64_t now_ns) = 0;
    virtual void on_failed(std::size_t client, const std::string& what) = 0;
};

std::int64_t now_ns();

class WsClient {
public:
    virtual ~WsClient() = default;
    // TCP connect (from `source` when given: the socket is bound to that local
    // address first, its port chosen at connect), TLS handshake when TLS, HTTP
    // upgrade; then on_open.
    virtual void start(const tcp::endpoint& to, const std::string& host, const std::string& target,
                       const std::optional<asio::ip::address>& source = std::nullopt) = 0;
    // Queues one frame; it goes out with any others queued before the next write.
    void send(Opcode op, std::span<const std::uint8_t> payload);
    bool open() const { return open_; }
    std::size_t reads() const { return reads_; }
    std::size_t writes() const { return writes_; }

    static std::unique_ptr<WsClient> make(asio::io_context& ioc, asio::ssl::context* tls,
                                          std::size_t id, ClientEvents& events, std::size_t read_buffer_bytes);

protected:
    WsClient(std::size_t id, ClientEvents& events, std::size_t read_buffer_bytes);

    // Stream-specific I/O, implemented by the template below.
    virtual void async_read_some(std::span<std::uint8_t> into) = 0;
    virtual void async_write_all(std::span<const std::uint8_t> from) = 0;

    const std::string& key() const { return key_; }
    void start_reading() { read_more(); }  // after the upgrade request went out
    void on_read(const boost::system::error_code& ec, std::size_t n);
    void on_written(const boost::system::error_code& ec);
    void fail(const std::string& what);

private:
    bool parse_upgrade_response();
    void parse_frames(std::int64_t now);
    void read_more();
    void flush();

    std::size_t id_;
    ClientEvents& events_;
    std::vector<std::uint8_t> in_;     // bytes read, not yet consumed
    std::size_t in_begin_ = 0, in_end_ = 0;
    std::vector<std::uint8_t> message_;  // a fragmented message being reassembled
    Opcode message_op_ = Opcode::binary;
    std::vector<std::uint8_t> out_pending_, out_writing_;
    std::uint8_t mask_[4]{};
    std::string key_;
    bool upgraded_ = false;
    bool open_ = false;
    bool writing_ = false;
    bool failed_ = false;
    std::size_t reads_ = 0, writes_ = 0;
};

template <class Stream>
class StreamClient;

}  // namespace parley::bench
