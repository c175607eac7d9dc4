// Client: Boost.Beast WebSocket over a plain or TLS tcp_stream.
//
// connect() runs the handshakes on the caller's thread (io_context::run until
// they finish, with tcp_stream and WebSocket timeouts bounding each step), then
// hands the io_context to an internal thread for reading and writing. Every
// handler runs on that one thread, so the connection's state needs no lock.
#include "net/client.h"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <variant>

namespace parley::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

constexpr std::chrono::seconds close_grace{2};

using PlainWs = websocket::stream<beast::tcp_stream>;
using TlsWs = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

bool is_ip_literal(const std::string& host) {
    error_code ec;
    (void)asio::ip::make_address(host, ec);
    return !ec;
}

}  // namespace

class Client::Connection {
public:
    Connection(Endpoint endpoint, Options options)
        : endpoint_(std::move(endpoint)), options_(std::move(options)) {}

    ~Connection() {
        if (!thread_.joinable()) return;  // never connected: nothing runs
        close();
        {
            // Give the close handshake a moment, then stop regardless.
            std::unique_lock lock(mutex_);
            finished_cv_.wait_for(lock, close_grace, [this] { return finished_; });
        }
        ioc_.stop();
        thread_.join();
    }

    void connect(FrameHandler on_frame, CloseHandler on_close) {
        on_frame_ = std::move(on_frame);
        on_close_ = std::move(on_close);
        if (endpoint_.tls) {
            make_tls_stream();
        } else {
            ws_.emplace<PlainWs>(ioc_);
        }
        // Step through resolve -> TCP -> TLS -> WebSocket on this thread.
        // Run until the last step reports, not until the io_context runs dry:
        // a failed handshake can leave Beast's timeout timer pending.
        start_resolve();
        while (!handshake_done_ && ioc_.run_one() > 0) {
        }
        if (!handshake_done_) handshake_error_ = "cannot connect to " + where() + ": internal error";
        if (!handshake_error_.empty()) throw ConnectError(handshake_error_, handshake_permanent_);
        if (ioc_.stopped()) ioc_.restart();
        connected_ = true;
        do_read();
        thread_ = std::thread([this] { ioc_.run(); });
    }

    void send(std::vector<std::uint8_t> frame) {
        asio::post(ioc_, [this, frame = std::move(frame)]() mutable {
            if (!connected_ || closing_ || finished_flag_) return;
            queue_.push_back(std::move(frame));
            if (queue_.size() == 1) do_write();
        });
    }

    void close() {
        asio::post(ioc_, [this] {
            if (!connected_ || closing_ || finished_flag_) return;
            closing_ = true;
            // Queued messages go out first; the close follows the last write.
            if (queue_.empty()) do_close();
        });
    }

private:
    void make_tls_stream() {
        tls_ctx_.set_verify_mode(asio::ssl::verify_peer);
        // TLS 1.3 only, as the relay: no renegotiation, no RSA key exchange, and
        // the certificate is encrypted in the handshake.
        SSL_CTX_set_min_proto_version(tls_ctx_.native_handle(), TLS1_3_VERSION);
        error_code ec;
        if (options_.ca_file.empty()) {
            tls_ctx_.set_default_verify_paths(ec);
            if (ec) throw ConnectError("cannot load the system's trusted certificates: " + ec.message(), true);
        } else {
            tls_ctx_.load_verify_file(options_.ca_file, ec);
            if (ec) throw ConnectError("cannot read CA file " + options_.ca_file + ": " + ec.message(), true);
        }
        auto& ws = ws_.emplace<TlsWs>(ioc_, tls_ctx_);
        SSL* ssl = ws.next_layer().native_handle();
        // OpenSSL checks the name itself, so a mismatch shows in the verify result.
        if (is_ip_literal(endpoint_.host)) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), endpoint_.host.c_str());
        } else {
            SSL_set_tlsext_host_name(ssl, endpoint_.host.c_str());
            SSL_set1_host(ssl, endpoint_.host.c_str());
        }
    }

    // Runs f on whichever stream connect() made.
    template <class F>
    void with_ws(F&& f) {
        if (auto* plain = std::get_if<PlainWs>(&ws_)) f(*plain);
        else if (auto* tls = std::get_if<TlsWs>(&ws_)) f(*tls);
    }

    beast::tcp_stream& tcp_layer() {
        if (auto* tls = std::get_if<TlsWs>(&ws_)) return beast::get_lowest_layer(*tls);
        return beast::get_lowest_layer(std::get<PlainWs>(ws_));
    }

    std::string where() const { return endpoint_.host + ":" + endpoint_.port; }

    void fail_handshake(std::string message, bool permanent = false) {
        handshake_error_ = std::move(message);
        handshake_permanent_ = permanent;
        handshake_done_ = true;
    }

    void start_resolve() {
        resolver_.async_resolve(endpoint_.host, endpoint_.port,
                                [this](error_code ec, tcp::resolver::results_type results) {
                                    if (ec)
                                        return fail_handshake("cannot resolve " + endpoint_.host + ": " +
                                                              lower(ec.message()));
                                    start_connect(results);
                                });
    }

    void start_connect(const tcp::resolver::results_type& results) {
        tcp_layer().expires_after(options_.timeout);
        tcp_layer().async_connect(results, [this](error_code ec, const tcp::endpoint&) {
            if (ec == beast::error::timeout)
                return fail_handshake("cannot connect to " + where() + ": timed out");
            if (ec) return fail_handshake("cannot connect to " + where() + ": " + lower(ec.message()));
            tcp_layer().socket().set_option(tcp::no_delay(true), ec);
            if (auto* tls = std::get_if<TlsWs>(&ws_)) {
                start_tls(*tls);
            } else {
                start_websocket(std::get<PlainWs>(ws_));
            }
        });
    }

    void start_tls(TlsWs& ws) {
        tcp_layer().expires_after(options_.timeout);
        ws.next_layer().async_handshake(asio::ssl::stream_base::client, [this, &ws](error_code ec) {
            if (ec) {
                long verify = SSL_get_verify_result(ws.next_layer().native_handle());
                if (verify != X509_V_OK)
                    return fail_handshake("TLS certificate verification failed for " + to_url(endpoint_) +
                                              ": " + X509_verify_cert_error_string(verify),
                                          true);
                if (ec == beast::error::timeout)
                    return fail_handshake("TLS handshake with " + where() + " timed out");
                return fail_handshake("TLS handshake with " + where() + " failed: " + lower(ec.message()));
            }
            start_websocket(ws);
        });
    }

    template <class Ws>
    void start_websocket(Ws& ws) {
        // The WebSocket layer has its own timeouts from here on.
        beast::get_lowest_layer(ws).expires_never();
        websocket::stream_base::timeout timeouts{};
        timeouts.handshake_timeout = options_.timeout;
        timeouts.idle_timeout = websocket::stream_base::none();
        timeouts.keep_alive_pings = false;
        ws.set_option(timeouts);
        ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
            req.set(beast::http::field::user_agent, "parley");
        }));
        ws.read_message_max(options_.max_frame_bytes);
        ws.binary(true);
        std::string host = endpoint_.host.find(':') != std::string::npos ? "[" + endpoint_.host + "]"
                                                                          : endpoint_.host;
        ws.async_handshake(host + ":" + endpoint_.port, endpoint_.target, [this](error_code ec) {
            if (ec)
                return fail_handshake("WebSocket handshake with " + to_url(endpoint_) + " failed: " +
                                      lower(ec.message()));
            handshake_done_ = true;
        });
    }

    void do_read() {
        with_ws([this](auto& ws) {
            ws.async_read(buffer_, [this](error_code ec, std::size_t) { on_read(ec); });
        });
    }

    void on_read(error_code ec) {
        if (ec) {
            if (ec == websocket::error::closed) return finish("closed by the relay");
            if (ec == asio::error::operation_aborted && closing_) return finish("closed");
            return finish(lower(ec.message()));
        }
        auto data = buffer_.cdata();
        std::vector<std::uint8_t> frame(static_cast<const std::uint8_t*>(data.data()),
                                        static_cast<const std::uint8_t*>(data.data()) + data.size());
        buffer_.consume(buffer_.size());
        if (on_frame_) on_frame_(std::move(frame));
        if (!finished_flag_) do_read();
    }

    void do_write() {
        with_ws([this](auto& ws) {
            ws.async_write(asio::buffer(queue_.front()), [this](error_code ec, std::size_t) {
                if (ec) return finish(lower(ec.message()));
                queue_.pop_front();
                if (!queue_.empty()) return do_write();
                if (closing_) do_close();
            });
        });
    }

    void do_close() {
        with_ws([this](auto& ws) {
            // The pending read completes with `closed` once the relay answers.
            ws.async_close(websocket::close_code::normal, [this](error_code ec) {
                if (ec) finish(lower(ec.message()));
            });
        });
    }

    void finish(const std::string& reason) {
        if (finished_flag_) return;
        finished_flag_ = true;
        queue_.clear();
        if (on_close_) on_close_(reason);
        std::lock_guard lock(mutex_);
        finished_ = true;
        finished_cv_.notify_all();
    }

    Endpoint endpoint_;
    Options options_;
    asio::io_context ioc_;  // first, so it is destroyed last
    asio::ssl::context tls_ctx_{asio::ssl::context::tls_client};
    tcp::resolver resolver_{ioc_};
    std::variant<std::monostate, PlainWs, TlsWs> ws_;
    beast::flat_buffer buffer_;
    std::deque<std::vector<std::uint8_t>> queue_;
    FrameHandler on_frame_;
    CloseHandler on_close_;
    std::string handshake_error_;
    bool handshake_permanent_ = false;  // trying again cannot help (net::ConnectError)
    bool handshake_done_ = false;  // connect()'s steps finished, well or not
    std::thread thread_;

    // io-thread state
    bool connected_ = false;
    bool closing_ = false;
    bool finished_flag_ = false;

    // finished_, for the destructor's wait
    std::mutex mutex_;
    std::condition_variable finished_cv_;
    bool finished_ = false;
};

Client::Client(Endpoint endpoint, Options options)
    : connection_(std::make_unique<Connection>(std::move(endpoint), std::move(options))) {}

Client::~Client() = default;

void Client::connect(FrameHandler on_frame, CloseHandler on_close) {
    connection_->connect(std::move(on_frame), std::move(on_close));
}

void Client::send(std::vector<std::uint8_t> frame) { connection_->send(std::move(frame)); }

void Client::close() { connection_->close(); }

}  // namespace parley::net
