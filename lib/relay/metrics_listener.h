// The metrics address (--metrics-listen, default 127.0.0.1:9464): plain
// HTTP/1.1, no TLS and no WebSocket, one request per connection. GET /metrics
// is answered with the page `render` makes (Prometheus text 0.0.4), GET
// /healthz with "ok", anything else with 404; then the connection closes.
//
// Kept apart from the client port because the figures tell traffic volumes:
// only who can reach this address reads them. Small and bounded, as anything
// on a network must be: a request of at most max_metrics_request_bytes, one
// deadline (metrics_timeout) for reading the request and writing the answer,
// and at most max_metrics_connections at once (one more is closed as soon as
// it is accepted), so a scraper or an attacker cannot pile connections up.
//
// Runs on the relay's io_context, each connection on a strand of its own;
// `render` is called there, on any of the io threads.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace parley::relay {

// --metrics-listen's default: loopback only, for a scraper (or an agent that
// forwards) on the relay's own machine.
inline constexpr const char* default_metrics_listen = "127.0.0.1:9464";
inline constexpr std::size_t max_metrics_request_bytes = 4096;
inline constexpr std::chrono::seconds metrics_timeout{5};
inline constexpr std::size_t max_metrics_connections = 8;

class MetricsListener : public std::enable_shared_from_this<MetricsListener> {
public:
    using Render = std::function<std::string()>;

    // Opens and binds; throws boost::system::system_error at start-up (port in
    // use, address not available).
    MetricsListener(boost::asio::io_context& ioc, const boost::asio::ip::tcp::endpoint& endpoint, Render render);

    boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
    void run();
    void stop();  // stops accepting; safe from any thread

    // For MetricsSession only.
    const Render& render() const { return render_; }
    void connection_closed() { open_.fetch_sub(1, std::memory_order_relaxed); }

private:
    void do_accept();
    void on_accept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);

    boost::asio::io_context& ioc_;
    boost::asio::ip::tcp::acceptor acceptor_;
    Render render_;
    std::atomic<std::size_t> open_{0};  // connections being served
};

}  // namespace parley::relay
