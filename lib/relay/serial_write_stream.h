// A stream layer between Beast's websocket::stream and the socket (or TLS
// stream) that lets the session write pre-encoded WebSocket frames itself
// without ever interleaving its bytes with Beast's own writes.
//
// Why: websocket::stream writes one message per async_write, so a relay that
// fans a message out to a connection with many frames pending pays a system
// call per frame. Session instead encodes the (unmasked, server-to-client)
// frame headers itself and writes every pending frame in one gather write
// (write_whole) on this layer. Beast still reads, answers pings, and sends
// the close frame; those writes come through async_write_some below.
//
// How writes stay whole: every write on this layer, Beast's or the session's,
// is written completely (asio::async_write) before the next one starts; one
// arriving while another is in flight waits its turn in order. All of it runs
// on the connection's strand, so a plain flag and queue suffice.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>

namespace parley::relay {

template <class NextLayer>
class SerialWriteStream {
public:
    using executor_type = typename NextLayer::executor_type;

    template <class... Args>
    explicit SerialWriteStream(Args&&... args) : next_(std::forward<Args>(args)...) {}

    executor_type get_executor() noexcept { return next_.get_executor(); }
    NextLayer& next_layer() noexcept { return next_; }
    const NextLayer& next_layer() const noexcept { return next_; }

    template <class MutableBufferSequence, class ReadToken>
    auto async_read_some(const MutableBufferSequence& buffers, ReadToken&& token) {
        return next_.async_read_some(buffers, std::forward<ReadToken>(token));
    }

    // Beast's writes: completes only once all of `buffers` is written (a
    // valid write_some), so no other write can land in the middle of a frame.
    template <class ConstBufferSequence, class WriteToken>
    auto async_write_some(const ConstBufferSequence& buffers, WriteToken&& token) {
        return write_whole(buffers, std::forward<WriteToken>(token));
    }

    // Writes all of `buffers` after any write already in flight or waiting.
    // The buffers' memory must outlive the completion.
    template <class ConstBufferSequence, class WriteToken>
    auto write_whole(const ConstBufferSequence& buffers, WriteToken&& token) {
        return boost::asio::async_initiate<WriteToken, void(boost::beast::error_code, std::size_t)>(
            [this](auto handler, const ConstBufferSequence& b) { start_or_wait(b, std::move(handler)); },
            token, buffers);
    }

    // The owner of this stream (the Session) is kept alive by every write in
    // flight. Without it a write that Beast started on its own, such as an
    // idle ping holding only a weak reference to the WebSocket state, could
    // complete after the session, and this stream with it, was destroyed: the
    // completion would then run on freed memory. With it, such a write ends
    // when the socket takes it or is closed (the session's read failed, idle
    // timeout, slow-consumer cut, shutdown), and only then can the session go.
    void keep_alive_during_writes(std::weak_ptr<void> owner) { owner_ = std::move(owner); }

    // Writes as much of `buffers` as the socket takes right now, without
    // blocking, if no other write is in flight or waiting (so nothing can land
    // in the middle of a frame); returns the bytes written. The caller writes
    // the rest with write_whole. Always 0 over TLS, whose writes must go
    // through the TLS stream.
    std::size_t try_write_now(const std::vector<boost::asio::const_buffer>& buffers) {
        // Only a plain TCP stream: bytes written here bypass the layer above the
        // socket, which for TLS would put plaintext on the wire.
        if constexpr (std::is_same_v<NextLayer, boost::beast::tcp_stream>) {
            if (busy_) return 0;
            return send_now(next_.socket().native_handle(), buffers);
        } else {
            return 0;
        }
    }

private:
    // sendmsg(MSG_DONTWAIT) in slices of up to max_iov buffers, until the
    // socket would block or fails (the asynchronous write that follows then
    // reports the error).
    static std::size_t send_now(int fd, const std::vector<boost::asio::const_buffer>& buffers) {
        constexpr std::size_t max_iov = 256;
        std::array<iovec, max_iov> iov{};
        std::size_t total = 0;
        for (std::size_t at = 0; at < buffers.size();) {
            std::size_t count = 0, slice_bytes = 0;
            for (; count < max_iov && at + count < buffers.size(); ++count) {
                iov[count].iov_base = const_cast<void*>(buffers[at + count].data());
                iov[count].iov_len = buffers[at + count].size();
                slice_bytes += iov[count].iov_len;
            }
            msghdr msg{};
            msg.msg_iov = iov.data();
            msg.msg_iovlen = count;
            ssize_t n;
            do n = ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
            while (n < 0 && errno == EINTR);
            if (n <= 0) break;
            total += static_cast<std::size_t>(n);
            if (static_cast<std::size_t>(n) < slice_bytes) break;  // the socket is full
            at += count;
        }
        return total;
    }

    template <class ConstBufferSequence, class Handler>
    void start_or_wait(const ConstBufferSequence& buffers, Handler handler) {
        if (busy_) {
            auto held = std::make_shared<Handler>(std::move(handler));  // std::function needs a copy
            waiting_.push_back([this, buffers, held] { start_or_wait(buffers, std::move(*held)); });
            return;
        }
        busy_ = true;
        boost::asio::async_write(
            next_, buffers,
            [this, keep = owner_.lock(), handler = std::move(handler)](boost::beast::error_code ec,
                                                                        std::size_t n) mutable {
                busy_ = false;
                if (!waiting_.empty()) {
                    auto next = std::move(waiting_.front());
                    waiting_.erase(waiting_.begin());
                    next();
                }
                // On the handler's own executor (the same strand), as its initiator expects.
                boost::asio::dispatch(boost::beast::bind_front_handler(std::move(handler), ec, n));
                keep.reset();  // last: this may destroy the session, and this stream with it
            });
    }

    NextLayer next_;
    std::weak_ptr<void> owner_;
    bool busy_ = false;
    // A vector, not a deque: libstdc++'s empty deque already holds 576 bytes,
    // and rarely more than one write waits (a pong or close behind a batch).
    std::vector<std::function<void()>> waiting_;
};

// The close handshake's teardown goes to the layer below (TCP or TLS).
template <class NextLayer, class TeardownHandler>
void async_teardown(boost::beast::role_type role, SerialWriteStream<NextLayer>& stream, TeardownHandler&& handler) {
    using boost::beast::websocket::async_teardown;
    async_teardown(role, stream.next_layer(), std::forward<TeardownHandler>(handler));
}

template <class NextLayer>
void teardown(boost::beast::role_type role, SerialWriteStream<NextLayer>& stream, boost::beast::error_code& ec) {
    using boost::beast::websocket::teardown;
    teardown(role, stream.next_layer(), ec);
}

}  // namespace parley::relay
