// The relay's TLS layer: OpenSSL over a beast::tcp_stream, in place of
// beast::ssl_stream (asio::ssl::stream), so that an idle TLS connection costs
// little more than its SSL object.
//
// Why: asio::ssl::stream keeps four 17 KiB buffers for a connection's whole
// life: two zero-filled std::vectors in its stream_core and the two ring
// buffers of its OpenSSL BIO pair, about 68 KiB of the 72 KiB an idle TLS
// connection cost. Here ciphertext is buffered only while it is in flight:
// - a read waits for the next record with a 1-byte read on the tcp_stream,
//   then takes what else the socket already holds, at most one record, into
//   in_, which is freed once OpenSSL has consumed it;
// - whatever OpenSSL writes (records, alerts, KeyUpdate replies, close_notify)
//   is appended to out_ and sent; the buffers are freed once sent.
// OpenSSL's own record buffers are freed when idle (SSL_MODE_RELEASE_BUFFERS,
// set on the context in relay_server.cpp).
//
// Contract, the same as asio::ssl::stream's: at most one read (or the
// handshake) and one write (or the shutdown) in flight, all on the
// connection's strand; completion handlers run through the handler's
// executor, never inline from the initiating function. Every socket
// operation goes through the tcp_stream, so its timeouts (expires_after)
// bound the TLS handshake and everything above, as before.
//
// Who writes to the socket. TLS output does not only come from writes: a read
// can produce some (an alert, the reply to a TLS 1.3 KeyUpdate request), and
// all of it must reach the peer, in the order OpenSSL produced it, with never
// two socket writes in flight (their bytes could interleave). So:
// - every OpenSSL call appends to the one queue out_, in order;
// - at most one operation is "the writer" (writing_), sending what out_ held;
//   when its write completes it sends whatever has been appended meanwhile;
// - a read that produced output while another operation is writing leaves it
//   to that writer; when nobody is writing, it sends the output itself before
//   it completes or reads on (so no output is ever left behind);
// - a write, handshake or shutdown completes only once nothing it or anyone
//   else produced is still unsent; while another operation's socket write is
//   in flight it waits (is "parked") and is resumed when that write ends. So a
//   close_notify follows everything written before it and never lands in the
//   middle of another write's bytes.
// - out_ has a hard cap (max_pending_output_bytes): a peer that makes the
//   relay produce output (KeyUpdate requests) faster than it reads fails the
//   connection instead of growing the relay's memory.
#pragma once

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/async_base.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>

namespace parley::relay {

class TlsStream {
public:
    using next_layer_type = boost::beast::tcp_stream;
    using executor_type = next_layer_type::executor_type;

    // TLS output waiting to be sent is capped at this (see the top of the
    // file). In normal use it holds at most one record (a write encrypts one
    // at a time, and only once the previous one is sent) plus the odd alert or
    // KeyUpdate reply; the server's first handshake flight (certificate chain
    // included) must fit too, which the relay checks when it loads its
    // certificate (relay_server.cpp).
    static constexpr std::size_t max_pending_output_bytes = 64 * 1024;

    TlsStream(boost::asio::ip::tcp::socket&& socket, boost::asio::ssl::context& context)
        : next_(std::move(socket)), ssl_(SSL_new(context.native_handle())) {
        BIO* bio = BIO_new(bio_method());
        if (!ssl_ || !bio) {
            BIO_free(bio);
            throw std::bad_alloc();
        }
        BIO_set_data(bio, this);  // so the stream must not move (copy and move are deleted)
        BIO_set_init(bio, 1);
        SSL_set_bio(ssl_.get(), bio, bio);  // one reference, for both directions
    }
    TlsStream(const TlsStream&) = delete;
    TlsStream& operator=(const TlsStream&) = delete;
    // The SSL object's BIO points into this stream (in_, out_): free it first,
    // whatever the member order (ssl_ is also declared last).
    ~TlsStream() { ssl_.reset(); }

    executor_type get_executor() noexcept { return next_.get_executor(); }
    next_layer_type& next_layer() noexcept { return next_; }
    const next_layer_type& next_layer() const noexcept { return next_; }
    SSL* native_handle() noexcept { return ssl_.get(); }

    template <class HandshakeToken>
    auto async_handshake(boost::asio::ssl::stream_base::handshake_type type, HandshakeToken&& token) {
        if (type == boost::asio::ssl::stream_base::server)
            SSL_set_accept_state(ssl_.get());
        else
            SSL_set_connect_state(ssl_.get());
        return start<void(boost::beast::error_code)>(HandshakeStep{}, std::forward<HandshakeToken>(token));
    }

    template <class MutableBufferSequence, class ReadToken>
    auto async_read_some(const MutableBufferSequence& buffers, ReadToken&& token) {
        return start<void(boost::beast::error_code, std::size_t)>(ReadStep<MutableBufferSequence>{buffers},
                                                                   std::forward<ReadToken>(token));
    }

    template <class ConstBufferSequence, class WriteToken>
    auto async_write_some(const ConstBufferSequence& buffers, WriteToken&& token) {
        return start<void(boost::beast::error_code, std::size_t)>(WriteStep<ConstBufferSequence>{buffers},
                                                                  std::forward<WriteToken>(token));
    }

    // Sends close_notify, after everything written before it, and completes
    // once it is on the wire. Unlike asio::ssl::stream, does not then wait
    // for the peer's close_notify: the TCP teardown that follows (shut down
    // sending, read until EOF) does the waiting, without decrypting.
    template <class ShutdownToken>
    auto async_shutdown(ShutdownToken&& token) {
        return start<void(boost::beast::error_code)>(ShutdownStep{}, std::forward<ShutdownToken>(token));
    }

private:
    // The largest TLS 1.3 record on the wire: a 5-byte header and at most
    // 2^14 + 256 bytes of ciphertext (RFC 8446 §5.2). One input read takes at
    // most this much.
    static constexpr std::size_t max_record_bytes = 5 + (1 << 14) + 256;
    // A write encrypts at most this much plaintext (one TLS record).
    static constexpr std::size_t max_write_bytes = 16 * 1024;

    // One step of an operation: calls OpenSSL once and returns SSL_ERROR_NONE
    // when done (bytes in n), or SSL_get_error's reason why not.
    // - reads: may wait for the peer's bytes (WANT_READ) and call again;
    // - hands_off: may leave its output to another operation's write in
    //   flight instead of waiting for it (only a read: see the top of the file);
    // - sized: completes with (error_code, bytes), not (error_code).
    struct HandshakeStep {
        static constexpr bool reads = true;
        static constexpr bool hands_off = false;
        static constexpr bool sized = false;
        int operator()(SSL* ssl, std::size_t&) const {
            const int r = SSL_do_handshake(ssl);
            return r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, r);
        }
    };
    template <class MutableBufferSequence>
    struct ReadStep {
        static constexpr bool reads = true;
        // A read must not wait for a write: the peer's next bytes could be
        // what lets that write finish (or be needed to notice it went away).
        static constexpr bool hands_off = true;
        static constexpr bool sized = true;
        MutableBufferSequence buffers;
        int operator()(SSL* ssl, std::size_t& n) const {
            for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
                const boost::asio::mutable_buffer b = *it;
                if (b.size() == 0) continue;
                const int r = SSL_read_ex(ssl, b.data(), b.size(), &n);
                return r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, r);
            }
            n = 0;
            return SSL_ERROR_NONE;
        }
    };
    template <class ConstBufferSequence>
    struct WriteStep {
        // The relay speaks TLS 1.3 only (relay_server.cpp), which never reads
        // in SSL_write (no renegotiation; post-handshake messages are read by
        // SSL_read): a write that wants to read is an error rather than a
        // second read on the socket.
        static constexpr bool reads = false;
        static constexpr bool hands_off = false;
        static constexpr bool sized = true;
        ConstBufferSequence buffers;
        int operator()(SSL* ssl, std::size_t& n) const {
            std::array<std::uint8_t, max_write_bytes> plain;  // gathers small buffers into one record
            const std::size_t size = boost::asio::buffer_copy(boost::asio::buffer(plain), buffers);
            n = 0;
            if (size == 0) return SSL_ERROR_NONE;
            const int r = SSL_write_ex(ssl, plain.data(), size, &n);
            return r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, r);
        }
    };
    struct ShutdownStep {
        static constexpr bool reads = false;
        static constexpr bool hands_off = false;
        static constexpr bool sized = false;
        int operator()(SSL* ssl, std::size_t&) const {
            const int r = SSL_shutdown(ssl);  // 0: close_notify queued; 1: both sent
            return r >= 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, r);
        }
    };

    // Runs a step until it is done: sends (or hands off) what OpenSSL wrote,
    // waits for and feeds it the peer's bytes when it wants them.
    template <class Handler, class Step>
    class Op : public boost::beast::async_base<Handler, executor_type> {
    public:
        Op(Handler&& handler, TlsStream& stream, Step step)
            : boost::beast::async_base<Handler, executor_type>(std::move(handler), stream.get_executor()),
              stream_(&stream),
              step_(std::move(step)) {}
        Op(Op&&) = default;

        void start() { run(false); }

        // Woken from park() (the wait was cancelled): the socket's write side
        // was free then; someone may have taken it since, run() checks again.
        void operator()(boost::beast::error_code) { run(true); }

        // A socket operation of ours completed.
        void operator()(boost::beast::error_code ec, std::size_t) {
            TlsStream& s = *stream_;
            if (wait_ == Wait::read) {
                wait_ = Wait::none;
                if (ec) {
                    // The error beast::ssl_stream gives: EOF without the
                    // peer's close_notify is a truncation; every other socket
                    // error (connection_reset, broken_pipe, timeout,
                    // operation_aborted) is passed through as the socket gave
                    // it, so Beast treats them the same way.
                    if (ec == boost::asio::error::eof && (SSL_get_shutdown(s.ssl_.get()) & SSL_RECEIVED_SHUTDOWN) == 0)
                        ec = boost::asio::ssl::error::stream_truncated;
                    if (s.failed_) ec = s.failed_;
                    return finish(true, ec);
                }
                s.take_input();
            } else if (wait_ == Wait::write) {
                wait_ = Wait::none;
                s.writing_ = false;
                release(s.sending_);
                if (ec) {
                    // The socket cannot be written: nothing queued will ever go.
                    // Later operations fail with the same error.
                    if (!s.failed_) s.failed_ = ec;
                    release(s.out_);
                    s.wake_all();
                    return finish(true, s.failed_);
                }
                // If output was appended meanwhile, run() sends it (we stay the
                // writer); otherwise parked operations may have the socket.
                if (s.out_.empty()) s.wake_all();
            }
            run(true);
        }

    private:
        enum class Wait { none, read, write };

        void run(bool cont) {
            TlsStream& s = *stream_;
            if (!done_ && s.failed_) {
                done_ = true;
                result_ = s.failed_;
            }
            if (!done_ && !want_input_) {
                ERR_clear_error();
                const int reason = step_(s.ssl_.get(), n_);
                if (reason == SSL_ERROR_WANT_READ && Step::reads) {
                    want_input_ = true;  // after sending what the step produced
                } else {
                    done_ = true;
                    result_ = error_for(reason);
                    // A write or shutdown that wants the peer's bytes, or any
                    // step that wants to write (our BIO never asks it to), is
                    // not something this stream can continue: fail it for good
                    // rather than leave OpenSSL mid-step.
                    if (reason == SSL_ERROR_WANT_READ || reason == SSL_ERROR_WANT_WRITE) s.fail(result_);
                }
                // In flight plus queued: the bound on what one peer makes us hold.
                if (s.out_.size() + s.sending_.size() > max_pending_output_bytes) {
                    s.fail(boost::asio::error::no_buffer_space);
                    result_ = s.failed_;
                    done_ = true;
                }
            }
            if (s.failed_) release(s.out_);  // nothing more will be sent
            // Send what is queued, or wait for the writer that will.
            if (!s.out_.empty() && !s.writing_) {
                s.writing_ = true;
                wait_ = Wait::write;
                s.sending_.swap(s.out_);  // out_ takes sending_'s empty, unallocated vector
                return boost::asio::async_write(s.next_, boost::asio::buffer(s.sending_), std::move(*this));
            }
            if (s.writing_ && !Step::hands_off && !s.failed_) {
                // Another operation's write is in flight: ours would interleave
                // with it, and completing now would let a shutdown or the TCP
                // teardown cut it. Wait for it (our output, if any, stays
                // queued behind its bytes, in order).
                return s.park(std::move(*this));
            }
            if (done_) return finish(cont, result_);
            // The first byte of the peer's next record; take_input gets the rest.
            want_input_ = false;
            wait_ = Wait::read;
            s.next_.async_read_some(boost::asio::buffer(&s.first_byte_, 1), std::move(*this));
        }

        void finish(bool cont, boost::beast::error_code ec) {
            if constexpr (Step::sized)
                this->complete(cont, ec, ec ? std::size_t{0} : n_);
            else
                this->complete(cont, ec);
        }

        // What asio::ssl::stream reports for the same outcome (its engine::perform).
        static boost::beast::error_code error_for(int reason) {
            switch (reason) {
                case SSL_ERROR_NONE:
                    return {};
                case SSL_ERROR_ZERO_RETURN:  // the peer's close_notify
                    return boost::asio::error::eof;
                case SSL_ERROR_SSL:
                case SSL_ERROR_SYSCALL:
                    if (const unsigned long e = ERR_get_error(); e != 0)
                        return {static_cast<int>(e), boost::asio::error::get_ssl_category()};
                    return boost::asio::ssl::error::unspecified_system_error;
                default:  // WANT_WRITE cannot happen (the BIO takes everything); WANT_READ in a write
                    return boost::asio::ssl::error::unexpected_result;
            }
        }

        // A pointer, not a reference: the operation is moved into each of its
        // waits, so it must be movable.
        TlsStream* stream_;
        Step step_;
        std::size_t n_ = 0;
        Wait wait_ = Wait::none;
        bool want_input_ = false;  // the step wants the peer's bytes before it is called again
        bool done_ = false;
        boost::beast::error_code result_;
    };

    template <class Signature, class Step, class Token>
    auto start(Step step, Token&& token) {
        return boost::asio::async_initiate<Token, Signature>(
            [this](auto handler, Step s) { Op<decltype(handler), Step>(std::move(handler), *this, std::move(s)).start(); },
            token, std::move(step));
    }

    // An operation waits for another's socket write to end as a wait on a
    // timer that never expires, cancelled by wake_all. Not a handler stored
    // in the stream: the operation's handler owns the session that owns this
    // stream, and a pending wait belongs to the io_context (destroyed with
    // it), so there is no cycle to leak. The cancelled wait's completion is
    // posted, so a woken operation never runs inside its waker's step. The
    // timer exists only while someone waits.
    template <class O>
    void park(O&& op) {
        if (!park_timer_)
            park_timer_ = std::make_unique<boost::asio::steady_timer>(next_.get_executor(),
                                                                      boost::asio::steady_timer::time_point::max());
        park_timer_->async_wait(std::move(op));
    }

    // The socket's write side is free (or the stream failed): every parked
    // operation is resumed; the first to run takes the socket if it has
    // something to send, the others park again behind it. At most two wait
    // (a write and a shutdown), so waking them all costs nothing. The timer
    // can go at once: cancel() has already queued the waits' completions.
    void wake_all() {
        if (!park_timer_) return;
        park_timer_->cancel();
        park_timer_.reset();
    }

    // Over the output cap: the connection is failed for good. Closing the
    // socket ends the operations in flight (a write stuck on a peer that does
    // not read, the read feeding us its requests); every later one fails.
    void fail(boost::beast::error_code ec) {
        if (!failed_) failed_ = ec;
        release(out_);
        next_.close();  // noexcept; also cancels the tcp_stream's timer
        wake_all();
    }

    // Frees the vector's memory (`v = {}` would keep its capacity).
    static void release(std::vector<std::uint8_t>& v) { std::vector<std::uint8_t>().swap(v); }

    // The byte the wait read, then exactly what else the socket holds now
    // (FIONREAD, without waiting), at most the rest of one record: the
    // buffer is sized to what is there, never to a worst case, and one read
    // never takes more than one record's worth. OpenSSL asks for more (the
    // next wait) only once it has consumed all of in_. An error or EOF seen
    // here shows up on that next wait.
    void take_input() {
        boost::beast::error_code ec;
        std::size_t available = next_.socket().available(ec);
        if (ec) available = 0;
        const std::size_t want = std::min(available, max_record_bytes - 1);
        in_ = std::make_unique_for_overwrite<std::uint8_t[]>(1 + want);
        in_[0] = first_byte_;
        in_size_ = 1;
        in_read_ = 0;
        if (want > 0) {
            // MSG_DONTWAIT: never block the thread, even if the bytes FIONREAD
            // counted were somehow gone (asio's synchronous receive would wait).
            const ssize_t got = ::recv(next_.socket().native_handle(), in_.get() + 1, want, MSG_DONTWAIT);
            if (got > 0) in_size_ += static_cast<std::size_t>(got);
        }
    }

    // The BIO between OpenSSL and the buffers above: reads come from in_,
    // writes are appended to out_. A write never fails (the cap is checked
    // after the OpenSSL call, so OpenSSL's state stays consistent), so
    // OpenSSL never sees a retry on write; a read with nothing buffered asks
    // for a retry.
    static int bio_read(BIO* bio, char* data, std::size_t size, std::size_t* read) {
        auto& self = *static_cast<TlsStream*>(BIO_get_data(bio));
        BIO_clear_retry_flags(bio);
        const std::size_t available = self.in_size_ - self.in_read_;
        if (available == 0) {
            BIO_set_retry_read(bio);
            return 0;
        }
        const std::size_t n = std::min(size, available);
        std::memcpy(data, self.in_.get() + self.in_read_, n);
        self.in_read_ += n;
        if (self.in_read_ == self.in_size_) {  // all consumed: free it
            self.in_.reset();
            self.in_size_ = self.in_read_ = 0;
        }
        *read = n;
        return 1;
    }
    static int bio_write(BIO* bio, const char* data, std::size_t size, std::size_t* written) {
        auto& self = *static_cast<TlsStream*>(BIO_get_data(bio));
        BIO_clear_retry_flags(bio);
        try {
            self.out_.insert(self.out_.end(), data, data + size);
        } catch (const std::bad_alloc&) {
            // OpenSSL may now hold half a record: nothing more may be sent.
            if (!self.failed_) self.failed_ = boost::asio::error::no_buffer_space;
            return 0;
        }
        *written = size;
        return 1;
    }
    static long bio_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }
    static BIO_METHOD* bio_method() {
        static BIO_METHOD* const method = [] {
            BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "parley-tls");
            if (!m || BIO_meth_set_read_ex(m, &bio_read) != 1 || BIO_meth_set_write_ex(m, &bio_write) != 1 ||
                BIO_meth_set_ctrl(m, &bio_ctrl) != 1)
                throw std::bad_alloc();
            return m;
        }();
        return method;
    }

    struct SslFree {
        void operator()(SSL* ssl) const { SSL_free(ssl); }  // frees the BIO too
    };

    next_layer_type next_;
    std::unique_ptr<std::uint8_t[]> in_;  // received ciphertext, from in_read_ to in_size_
    std::size_t in_size_ = 0;
    std::size_t in_read_ = 0;
    std::vector<std::uint8_t> out_;      // ciphertext OpenSSL wrote, not yet being sent
    std::vector<std::uint8_t> sending_;  // the socket write in flight
    bool writing_ = false;               // an operation's socket write is in flight
    std::unique_ptr<boost::asio::steady_timer> park_timer_;  // operations waiting for it to end (see park)
    boost::beast::error_code failed_;    // set once the stream can no longer write
    std::uint8_t first_byte_ = 0;
    // Last, so that it is destroyed first (its BIO points at the members above).
    std::unique_ptr<SSL, SslFree> ssl_;
};

// WebSocket close: close_notify (after any write in flight), then Beast's TCP
// teardown (shut down sending, read until EOF, close). Composed with
// async_compose, as Beast does for beast::ssl_stream, so that the handler
// runs on its own executor (the connection's strand) with the work tracked,
// and never inline.
namespace detail {
struct TlsTeardownOp {
    TlsStream& stream;
    boost::beast::role_type role;
    int state = 0;
    boost::beast::error_code shutdown_error;

    template <class Self>
    void operator()(Self& self, boost::beast::error_code ec = {}) {
        switch (state) {
            case 0:
                state = 1;
                return stream.async_shutdown(std::move(self));
            case 1: {
                state = 2;
                shutdown_error = ec;
                using boost::beast::websocket::async_teardown;  // and, by ADL, tcp_stream's
                return async_teardown(role, stream.next_layer(), std::move(self));
            }
            default:
                return self.complete(shutdown_error ? shutdown_error : ec);
        }
    }
};
}  // namespace detail

template <class TeardownHandler>
void async_teardown(boost::beast::role_type role, TlsStream& stream, TeardownHandler&& handler) {
    boost::asio::async_compose<TeardownHandler, void(boost::beast::error_code)>(
        detail::TlsTeardownOp{stream, role, 0, {}}, handler, stream);
}

}  // namespace parley::relay
