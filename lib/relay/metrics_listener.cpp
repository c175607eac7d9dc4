#include "relay/metrics_listener.h"

#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>

#include "relay/log.h"

namespace parley::relay {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// One scrape: read the request, answer, close. Holds its listener (and so
// `render`) until it ends, and gives its slot back then.
class MetricsSession : public std::enable_shared_from_this<MetricsSession> {
public:
    MetricsSession(std::shared_ptr<MetricsListener> listener, tcp::socket socket)
        : listener_(std::move(listener)), stream_(std::move(socket)), buffer_(max_metrics_request_bytes) {}
    ~MetricsSession() { listener_->connection_closed(); }

    void run() {
        // One deadline for the request and the answer together: a client
        // that trickles bytes, or reads nothing, is dropped when it runs out.
        stream_.expires_after(metrics_timeout);
        parser_.header_limit(static_cast<std::uint32_t>(max_metrics_request_bytes));
        parser_.body_limit(0);
        http::async_read(stream_, buffer_, parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (!ec) self->answer(self->parser_.get());
        });
        // On an error (too large, timeout, a body) the session just ends: the socket closes.
    }

private:
    void answer(const http::request<http::empty_body>& request) {
        response_.version(11);
        response_.set(http::field::server, "parley-relay");
        response_.keep_alive(false);
        response_.set(http::field::content_type, "text/plain; charset=utf-8");
        const bool get = request.method() == http::verb::get;
        if (get && request.target() == "/metrics") {
            response_.result(http::status::ok);
            response_.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
            response_.body() = listener_->render()();
        } else if (get && request.target() == "/healthz") {
            response_.result(http::status::ok);
            response_.body() = "ok\n";
        } else {
            response_.result(http::status::not_found);
            response_.body() = "not found\n";
        }
        response_.prepare_payload();
        http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code, std::size_t) {
            beast::error_code ignored;
            self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
            self->stream_.close();
        });
    }

    std::shared_ptr<MetricsListener> listener_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;  // at most max_metrics_request_bytes
    http::request_parser<http::empty_body> parser_;
    http::response<http::string_body> response_;
};

}  // namespace

MetricsListener::MetricsListener(asio::io_context& ioc, const tcp::endpoint& endpoint, Render render)
    : ioc_(ioc), acceptor_(asio::make_strand(ioc)), render_(std::move(render)) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
}

void MetricsListener::run() { do_accept(); }

void MetricsListener::stop() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
        boost::system::error_code ec;
        self->acceptor_.close(ec);
    });
}

void MetricsListener::do_accept() {
    acceptor_.async_accept(asio::make_strand(ioc_),
                           [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
                               self->on_accept(ec, std::move(socket));
                           });
}

void MetricsListener::on_accept(boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;  // stopping
    if (ec) {
        static log::Throttle throttle{1};
        std::uint64_t left_out = 0;
        if (throttle.allow(left_out))
            PARLEY_LOG(error, "metrics: accept failed: %s (%llu more since the last line)", ec.message().c_str(),
                       static_cast<unsigned long long>(left_out));
    } else if (open_.load(std::memory_order_relaxed) >= max_metrics_connections) {
        socket.close(ec);  // at the cap: no slot, no log line (a flood would fill the log)
    } else {
        open_.fetch_add(1, std::memory_order_relaxed);
        std::make_shared<MetricsSession>(shared_from_this(), std::move(socket))->run();
    }
    do_accept();
}

}  // namespace parley::relay
