// One client connection (after Beast's chat-multi `websocket_session`): a
// WebSocket over a plain or TLS tcp_stream, with a strand of its own.
//
// Reads one frame at a time and hands it to RelayState; writes every frame
// queued for it in one gather write (see write_pending). The queue is bounded: a connection that does not read
// fast enough is cut rather than allowed to grow the relay's memory. A frame
// over max_frame_bytes fails the read (Beast sends close code 1009), which ends
// this session only. Leaves every chain in its destructor.
//
// A request that is not a WebSocket upgrade is plain HTTP: GET /healthz is
// answered (then the connection closes), anything else is 404. GET /metrics
// is served on the metrics address only (metrics_listener.h): the figures
// tell traffic volumes, and the client port is open to anyone.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <type_traits>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "relay/connection_set.h"
#include "relay/log.h"
#include "relay/relay_limits.h"
#include "relay/relay_state.h"
#include "relay/serial_write_stream.h"
#include "relay/subscriber.h"
#include "relay/tls_stream.h"
#include "relay/token_bucket.h"

namespace parley::relay {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace http = beast::http;

inline constexpr std::size_t max_http_header_bytes = 8192;
// Lines a second of one kind about refused or failed connections (log.h's Throttle).
inline constexpr unsigned log_lines_per_second = 5;

// ", and 12 more like it" after a throttled line, or nothing.
inline std::string left_out_note(std::uint64_t left_out) {
    return left_out == 0 ? std::string() : " (and " + std::to_string(left_out) + " more like it, not logged)";
}

using PlainLayer = beast::tcp_stream;
using TlsLayer = TlsStream;  // not beast::ssl_stream: see tls_stream.h

template <class NextLayer>
class Session final : public Subscriber,
                      public Closable,
                      public std::enable_shared_from_this<Session<NextLayer>> {
public:
    std::array<std::uint8_t, 16> address_key() const override { return address_; }
    std::string peer_name() const override { return peer_.to_string(); }

    // `stream_args` build the next layer: (socket) or (socket, ssl::context&).
    template <class... StreamArgs>
    Session(RelayState& state, ConnectionSet& connections, const boost::asio::ip::address& peer,
            StreamArgs&&... stream_args)
        : state_(state),
          connections_(connections),
          live_limits_(state.live_limits()),
          generation_(live_limits_.generation()),  // before the snapshot: never newer than it
          in_force_(live_limits_.get()),
          peer_(peer),
          address_(parley::relay::address_key(peer)),
          ws_(std::forward<StreamArgs>(stream_args)...),
          read_budget_(TokenBucket::Clock::now()),
          byte_budget_(TokenBucket::Clock::now()),
          read_pause_(ws_.get_executor()) {}

    ~Session() override {
        state_.leave_all(*this);
        if (!registered_) return;  // refused: admit() said so
        connections_.remove(this);
        PARLEY_LOG(debug, "connection from %s closed after %lld s", peer_name().c_str(),
                   static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(
                                              std::chrono::steady_clock::now() - opened_).count()));
    }

    void run() {
        ws_.next_layer().keep_alive_during_writes(this->weak_from_this());
        boost::asio::dispatch(ws_.get_executor(), [self = this->shared_from_this()] { self->on_run(); });
    }

    // Called by the fan-out for every recipient, so it stays cheap: frames go
    // into a small locked inbox, and only the first one since the strand last
    // drained it posts a drain (no post, weak_ptr lock or handler per frame).
    // Later calls (backlog_paused, shutdown) post after that drain, in order.
    void deliver(SharedFrame frame) override {
        {
            std::lock_guard lock(inbox_mutex_);
            inbox_.push_back(std::move(frame));
            if (inbox_.size() > 1) return;  // a drain is already on its way
        }
        boost::asio::post(ws_.get_executor(), [weak = this->weak_from_this()] {
            if (auto self = weak.lock()) self->drain_inbox();
        });
    }

    // A committed batch's frames for this connection: one lock, at most one post.
    void deliver_all(std::span<const SharedFrame> frames) override {
        if (frames.empty()) return;
        {
            std::lock_guard lock(inbox_mutex_);
            const bool drain_posted = !inbox_.empty();
            inbox_.insert(inbox_.end(), frames.begin(), frames.end());
            if (drain_posted) return;
        }
        boost::asio::post(ws_.get_executor(), [weak = this->weak_from_this()] {
            if (auto self = weak.lock()) self->drain_inbox();
        });
    }

    void backlog_paused(const ChainKey& chain) override {
        boost::asio::post(ws_.get_executor(), [weak = this->weak_from_this(), chain] {
            if (auto self = weak.lock()) {
                self->paused_backlogs_.insert(chain);
                self->maybe_continue_backlog();
            }
        });
    }

    void shutdown() override {
        boost::asio::post(ws_.get_executor(), [weak = this->weak_from_this()] {
            if (auto self = weak.lock()) self->do_close();
        });
    }

    void abort_now() override {
        boost::asio::post(ws_.get_executor(), [weak = this->weak_from_this()] {
            if (auto self = weak.lock()) self->abort();
        });
    }

private:
    static constexpr bool is_tls = std::is_same_v<NextLayer, TlsLayer>;

    void on_run() {
        if (!admit()) return beast::get_lowest_layer(ws_).close();
        registered_ = true;
        // One deadline for the TLS handshake and the HTTP request together: a
        // client that trickles bytes (slowloris) is dropped when it runs out.
        beast::get_lowest_layer(ws_).expires_after(limits().handshake_timeout);
        if constexpr (is_tls) {
            ws_.next_layer().next_layer().async_handshake(boost::asio::ssl::stream_base::server,
                                             [self = this->shared_from_this()](beast::error_code ec) {
                                                 if (!ec) return self->start_accept();
                                                 self->log_failed_handshake(ec);
                                             });
        } else {
            start_accept();
        }
    }

    // The connection caps, in total and per address. A refusal is counted and
    // logged (throttled: a connection flood cannot fill the log). The relay's
    // own cap is the operator's to raise: a warning; one address over its
    // share is that client's doing: a notice.
    bool admit() {
        const auto admission = connections_.try_add(this, this->weak_from_this(), address_);
        if (admission == ConnectionSet::Admission::admitted) {
            PARLEY_LOG(debug, "connection from %s", peer_name().c_str());
            return true;
        }
        if (admission == ConnectionSet::Admission::closing) return false;
        state_.metrics().add(state_.metrics().refused_connections);
        static log::Throttle throttle{log_lines_per_second};
        const bool relay_full = admission == ConnectionSet::Admission::relay_full;
        std::uint64_t left_out = 0;
        if (log::enabled(relay_full ? log::Level::warning : log::Level::notice) && throttle.allow(left_out))
            log::write(relay_full ? log::Level::warning : log::Level::notice, "refusing a connection from %s: %s%s",
                       peer_name().c_str(),
                       relay_full ? "relay connection limit reached (--max-connections)"
                                  : "too many connections from one address (--max-connections-per-address)",
                       left_out_note(left_out).c_str());
        return false;
    }

    // A TLS handshake that failed: a scanner, an old client, a wrong port.
    // The connection just ends; an operator chasing "cannot connect" reads why.
    void log_failed_handshake(const beast::error_code& ec) {
        if (ec == boost::asio::error::operation_aborted || ec == beast::error::timeout) {
            if (ec == beast::error::timeout && log::enabled(log::Level::info)) log_throttled_handshake("timed out");
            return;
        }
        if (log::enabled(log::Level::info)) log_throttled_handshake(ec.message());
    }
    void log_throttled_handshake(const std::string& why) {
        static log::Throttle throttle{log_lines_per_second};
        std::uint64_t left_out = 0;
        if (throttle.allow(left_out))
            PARLEY_LOG(info, "TLS handshake from %s failed: %s%s", peer_name().c_str(), why.c_str(),
                       left_out_note(left_out).c_str());
    }

    void start_accept() {
        if (closing_) return beast::get_lowest_layer(ws_).close();
        // From accept until the WebSocket upgrade, the handshake deadline set in
        // on_run; the WebSocket layer's own timeouts (close handshake, idle with
        // pings) from the upgrade on.
        websocket::stream_base::timeout timeouts{};
        timeouts.handshake_timeout = limits().handshake_timeout;
        timeouts.idle_timeout = limits().idle_timeout;
        timeouts.keep_alive_pings = true;
        ws_.set_option(timeouts);
        ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
            res.set(beast::http::field::server, "parley-relay");
        }));
        ws_.read_message_max(limits().max_frame_bytes);
        ws_.binary(true);
        // Read the HTTP request ourselves: a WebSocket upgrade or a health check.
        parser_ = std::make_unique<http::request_parser<http::empty_body>>();
        parser_->header_limit(max_http_header_bytes);
        parser_->body_limit(0);
        http::async_read(ws_.next_layer(), buffer_, *parser_,
                         [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                             if (!ec) self->on_request();
                         });
    }

    void on_request() {
        beast::get_lowest_layer(ws_).expires_never();
        if (closing_) return beast::get_lowest_layer(ws_).close();
        auto request = parser_->release();
        parser_.reset();
        if (!websocket::is_upgrade(request)) return answer_http(request);
        ws_.async_accept(request, [self = this->shared_from_this()](beast::error_code ec) {
            if (ec) return;
            self->accepted_ = true;
            if (self->closing_) {
                self->closing_ = false;
                return self->do_close();
            }
            self->do_read();
        });
    }

    // GET /healthz (for load balancers); the connection closes after the answer.
    void answer_http(const http::request<http::empty_body>& request) {
        auto response = std::make_shared<http::response<http::string_body>>();
        response->version(request.version());
        response->set(http::field::server, "parley-relay");
        response->keep_alive(false);
        response->set(http::field::content_type, "text/plain; charset=utf-8");
        const bool get = request.method() == http::verb::get;
        if (get && request.target() == "/healthz") {
            response->result(http::status::ok);
            response->body() = "ok\n";
        } else {
            response->result(http::status::not_found);
            response->body() = "not found\n";
        }
        response->prepare_payload();
        beast::get_lowest_layer(ws_).expires_after(limits().handshake_timeout);
        http::async_write(ws_.next_layer(), *response,
                          [self = this->shared_from_this(), response](beast::error_code, std::size_t) {
                              beast::error_code ignored;
                              beast::get_lowest_layer(self->ws_).socket().shutdown(
                                  boost::asio::ip::tcp::socket::shutdown_send, ignored);
                              beast::get_lowest_layer(self->ws_).close();
                          });
    }

    const RelayLimits& limits() const { return in_force_->limits; }

    // After a reload, an open connection reads, queues and times out under
    // the new limits from its next frame on.
    // On the strand, between reads (on_read) or on delivery (drain_inbox, so a
    // connection that only receives follows the send-queue cap too); the
    // stream's own options only between reads.
    void refresh_limits(bool between_reads) {
        const auto now = live_limits_.generation();
        if (now != generation_) {
            generation_ = now;
            in_force_ = live_limits_.get();
            stream_options_stale_ = true;
        }
        if (!between_reads || !stream_options_stale_) return;
        stream_options_stale_ = false;
        ws_.read_message_max(limits().max_frame_bytes);
        websocket::stream_base::timeout timeouts{};
        timeouts.handshake_timeout = limits().handshake_timeout;
        timeouts.idle_timeout = limits().idle_timeout;
        timeouts.keep_alive_pings = true;
        ws_.set_option(timeouts);
    }

    // Backlog pages go out one at a time, each once the queue has drained.
    void maybe_continue_backlog() {
        if (closing_ || paused_backlogs_.empty() || queued_bytes_ > limits().backlog_resume_bytes) return;
        auto chains = std::move(paused_backlogs_);
        paused_backlogs_.clear();
        for (const auto& chain : chains) state_.continue_backlog(*this, chain);
    }

    // A message is read in two steps so that an idle connection holds no
    // read buffer: Beast wants the caller's buffer before any byte arrives
    // (ws_.async_read prepares 1,536 bytes, kept for the connection's life,
    // or as much as its largest message). The first read of a message goes
    // into first_read_, the rest into buffer_, which is freed between
    // messages. The first read only copies from Beast's own read buffer: no
    // system call is added.
    void do_read() {
        auto self = this->shared_from_this();
        if (buffer_.size() > 0) {
            return ws_.async_read_some(buffer_, 0, [self](beast::error_code ec, std::size_t) {
                self->on_read_some(ec);
            });
        }
        buffer_.shrink_to_fit();  // empty: frees it
        ws_.async_read_some(boost::asio::buffer(first_read_), [self](beast::error_code ec, std::size_t n) {
            if (!ec) {
                auto first = boost::asio::buffer(self->first_read_.data(), n);
                self->buffer_.commit(boost::asio::buffer_copy(self->buffer_.prepare(n), first));
            }
            self->on_read_some(ec);
        });
    }

    void on_read_some(beast::error_code ec) {
        if (!ec && !ws_.is_message_done()) return do_read();
        on_read(ec);
    }

    void on_read(beast::error_code ec) {
        if (ec) {
            if (ec == websocket::error::message_too_big)
                PARLEY_LOG_THROTTLED(log_lines_per_second, notice,
                                     "closing the connection from %s: it sent a frame over the size limit (%zu bytes, "
                                   "--max-frame-bytes)", peer_name().c_str(), limits().max_frame_bytes);
            // TlsStream's cap on TLS output waiting to be sent (tls_stream.h):
            // the peer asks for replies (KeyUpdate requests) and does not read.
            if (is_tls && ec == boost::asio::error::no_buffer_space)
                PARLEY_LOG_THROTTLED(log_lines_per_second, notice,
                                     "closing the TLS connection from %s: its unsent TLS output is over its limit",
                                     peer_name().c_str());
            // Nothing more can be read: close the socket, so that a write stuck
            // on a peer that reads nothing (it holds the session, see
            // SerialWriteStream::keep_alive_during_writes) ends now, not never.
            // Beast has finished its own close handshake or teardown by now.
            beast::error_code ignored;
            beast::get_lowest_layer(ws_).socket().close(ignored);
            return;  // the session ends when its last pending operation does
        }
        auto data = buffer_.cdata();
        state_.metrics().add(state_.metrics().frames_in);
        refresh_limits(true);
        byte_budget_.spend(in_force_->rates.bytes, TokenBucket::Clock::now(), static_cast<double>(data.size()));
        state_.handle(*this, ByteView(static_cast<const std::uint8_t*>(data.data()), data.size()));
        buffer_.consume(buffer_.size());
        read_when_allowed();
    }

    // The rate limits: each frame read takes a token, and its bytes are
    // charged to the byte budget once read; with no frame token left, or the
    // byte budget in debt, the next read waits until both allow it. The
    // flooder's frames wait in its own TCP buffers, then its kernel's, so it
    // slows down and loses nothing, and the relay holds no more of its data
    // than one frame.
    void read_when_allowed() {
        const auto now = TokenBucket::Clock::now();
        const auto bytes_wait = byte_budget_.wait_time(in_force_->rates.bytes, now);
        if (bytes_wait == TokenBucket::Clock::duration::zero() && read_budget_.take(in_force_->rates.frames, now))
            return do_read();
        state_.metrics().add(state_.metrics().throttled_reads);
        read_pause_.expires_after(std::max(bytes_wait, read_budget_.wait_time(in_force_->rates.frames, now)));
        read_pause_.async_wait([self = this->shared_from_this()](beast::error_code wait_error) {
            if (!wait_error && !self->closing_) self->read_when_allowed();
        });
    }

    void drain_inbox() {
        refresh_limits(false);
        {
            std::lock_guard lock(inbox_mutex_);
            draining_.swap(inbox_);
        }
        for (auto& frame : draining_) enqueue(std::move(frame));
        draining_.clear();
        // Everything drained goes out together: one write, not one per frame.
        if (writing_ == 0 && queue_ && !queue_->empty()) write_pending();
    }

    void enqueue(SharedFrame frame) {
        if (closing_ || !accepted_) return;
        queued_bytes_ += frame->size();
        if (queued_bytes_ > limits().max_send_queue_bytes) {
            PARLEY_LOG_THROTTLED(log_lines_per_second, notice,
                                 "closing the connection from %s: its send queue is over its limit (%zu bytes, "
                               "--max-send-queue-bytes); it reads too slowly", peer_name().c_str(),
                       limits().max_send_queue_bytes);
            state_.metrics().add(state_.metrics().slow_consumers_cut);
            return abort();
        }
        if (!queue_) queue_.emplace();
        queue_->push_back(OutFrame::binary(std::move(frame)));
    }

    // The fan-out trick: Beast's websocket::stream writes one message per call,
    // a system call each. Server-to-client frames are not masked (RFC 6455
    // §5.1), so a frame is just a 2-10 byte header before the shared payload:
    // we encode the header here and write everything queued, headers and
    // payloads as one buffer sequence, in one async_write on the layer under
    // Beast. SerialWriteStream keeps Beast's own writes (pong, close) whole
    // and in order with ours. Over TLS, TlsStream encrypts the sequence
    // into 16 KiB records.
    //
    // Most of the time the socket's send buffer has room for all of it: then
    // the write is done at once (try_write_now, plain TCP only), and no
    // asynchronous operation, completion handler or strand hop is paid per
    // write. Only what the socket does not take goes the asynchronous way.
    void write_pending() {
        gather_.clear();
        std::size_t bytes = 0;
        for (const auto& out : *queue_) {
            gather_.emplace_back(out.header.data(), out.header_bytes);
            gather_.emplace_back(out.frame->data(), out.frame->size());
            bytes += out.header_bytes + out.frame->size();
        }
        writing_ = queue_->size();
        const std::size_t written = ws_.next_layer().try_write_now(gather_);
        if (written == bytes) return wrote();
        skip_written(written);
        ws_.next_layer().write_whole(gather_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
            self->on_write(ec);
        });
    }

    // Drops the first `n` bytes of gather_ (what try_write_now wrote).
    void skip_written(std::size_t n) {
        std::size_t whole = 0;
        while (n > 0 && n >= gather_[whole].size()) n -= gather_[whole++].size();
        gather_.erase(gather_.begin(), gather_.begin() + static_cast<std::ptrdiff_t>(whole));
        if (n > 0) gather_.front() += n;
    }

    void on_write(beast::error_code ec) {
        // Failed, aborted, or closing: the close frame is the last thing we send.
        if (ec || closing_) return;
        wrote();
    }

    // The first writing_ frames are written.
    void wrote() {
        state_.metrics().add(state_.metrics().frames_out, writing_);
        for (; writing_ > 0; --writing_) {
            queued_bytes_ -= queue_->front().frame->size();
            queue_->pop_front();
        }
        if (!queue_->empty())
            write_pending();
        else
            queue_.reset();  // an idle connection holds no queue (see queue_)
        maybe_continue_backlog();
    }

    // Graceful close (shutdown); before the WebSocket handshake, just drop the socket.
    void do_close() {
        if (closing_) return;
        closing_ = true;
        read_pause_.cancel();
        if (!accepted_) return;  // start_accept or its handler sees closing_
        ws_.async_close(websocket::close_code::going_away,
                        [self = this->shared_from_this()](beast::error_code) {});
    }

    // A slow consumer: its TCP window is full, so a close handshake would stall too.
    void abort() {
        closing_ = true;
        read_pause_.cancel();
        // The write in flight still points at its frames: they go when it fails.
        if (queue_) queue_->erase(queue_->begin() + static_cast<std::ptrdiff_t>(writing_), queue_->end());
        queued_bytes_ = 0;
        beast::get_lowest_layer(ws_).close();
    }

    RelayState& state_;
    ConnectionSet& connections_;
    // The limits in force (a reload replaces them): this connection's copy,
    // taken again when the generation moves (refresh_limits).
    LiveLimits& live_limits_;
    std::uint64_t generation_;
    std::shared_ptr<const LiveLimits::Snapshot> in_force_;
    bool stream_options_stale_ = false;  // in_force_ is newer than the stream's frame limit and timeouts
    const boost::asio::ip::address peer_;
    const AddressKey address_;
    const std::chrono::steady_clock::time_point opened_ = std::chrono::steady_clock::now();
    // One queued frame: its WebSocket header (FIN, binary, unmasked length)
    // and the payload every recipient shares.
    struct OutFrame {
        static constexpr std::size_t max_header_bytes = 10;
        SharedFrame frame;
        std::array<std::uint8_t, max_header_bytes> header{};
        std::uint8_t header_bytes = 0;

        static OutFrame binary(SharedFrame frame) {
            OutFrame out{std::move(frame)};
            const std::uint64_t n = out.frame->size();
            out.header[0] = 0x82;  // FIN, opcode 2 (binary)
            if (n < 126) {
                out.header[1] = static_cast<std::uint8_t>(n);
                out.header_bytes = 2;
            } else if (n <= 0xffff) {
                out.header[1] = 126;  // 16-bit length follows
                out.header[2] = static_cast<std::uint8_t>(n >> 8);
                out.header[3] = static_cast<std::uint8_t>(n);
                out.header_bytes = 4;
            } else {
                out.header[1] = 127;  // 64-bit length follows
                for (int i = 0; i < 8; ++i) out.header[2 + i] = static_cast<std::uint8_t>(n >> (56 - 8 * i));
                out.header_bytes = 10;
            }
            return out;
        }
    };

    // Without permessage-deflate (never offered: end-to-end-encrypted payloads
    // do not compress), Beast keeps no compression state in each stream.
    websocket::stream<SerialWriteStream<NextLayer>, false> ws_;
    TokenBucket read_budget_;                // frames this connection may still send
    TokenBucket byte_budget_;                // bytes of frames, charged once read
    boost::asio::steady_timer read_pause_;   // waits for the next token
    std::array<std::uint8_t, 64> first_read_;  // see do_read
    beast::flat_buffer buffer_;
    std::unique_ptr<http::request_parser<http::empty_body>> parser_;  // while reading the request
    std::set<ChainKey> paused_backlogs_;
    std::mutex inbox_mutex_;
    std::vector<SharedFrame> inbox_;     // delivered, not yet on the strand
    std::vector<SharedFrame> draining_;  // the strand's; kept for its capacity
    // The first writing_ are in flight. A deque keeps their addresses (gather_
    // points at their headers) while more are queued; it exists only while
    // there is something to send, since even an empty one holds 576 bytes.
    std::optional<std::deque<OutFrame>> queue_;
    std::vector<boost::asio::const_buffer> gather_;  // the write in flight's buffers
    std::size_t writing_ = 0;
    std::size_t queued_bytes_ = 0;
    bool registered_ = false;
    bool accepted_ = false;
    bool closing_ = false;
};

}  // namespace parley::relay
