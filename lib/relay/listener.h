// Accepts TCP connections and starts a Session for each, on a strand of its own
// (after Beast's chat-multi `listener`).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <atomic>
#include <memory>

#include "relay/connection_set.h"
#include "relay/relay_state.h"

namespace parley::relay {

class Listener : public std::enable_shared_from_this<Listener> {
public:
    // Opens and binds; throws boost::system::system_error at start-up (port in
    // use, address not available). `tls` null = plain ws://.
    Listener(boost::asio::io_context& ioc, const boost::asio::ip::tcp::endpoint& endpoint,
             boost::asio::ssl::context* tls, RelayState& state, ConnectionSet& connections);

    boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
    void run();
    void stop();  // stops accepting; safe from any thread
    // New connections use `tls` from now on (SIGHUP's new certificate); open
    // ones keep theirs. The caller keeps every context it ever set alive until
    // the listener is gone: an accept may still be using the one before.
    void set_tls(boost::asio::ssl::context* tls) { tls_.store(tls); }

private:
    void do_accept();
    void on_accept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);

    boost::asio::io_context& ioc_;
    boost::asio::ip::tcp::acceptor acceptor_;
    std::atomic<boost::asio::ssl::context*> tls_;
    RelayState& state_;
    ConnectionSet& connections_;
};

}  // namespace parley::relay
