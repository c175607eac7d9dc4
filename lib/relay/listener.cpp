#include "relay/listener.h"

#include <boost/asio/strand.hpp>

#include "relay/log.h"
#include "relay/session_start.h"

namespace parley::relay {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Listener::Listener(asio::io_context& ioc, const tcp::endpoint& endpoint, asio::ssl::context* tls,
                   RelayState& state, ConnectionSet& connections)
    : ioc_(ioc),
      acceptor_(asio::make_strand(ioc)),
      tls_(tls),
      state_(state),
      connections_(connections) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
}

void Listener::run() { do_accept(); }

void Listener::stop() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
        boost::system::error_code ec;
        self->acceptor_.close(ec);
    });
}

void Listener::do_accept() {
    // Each connection gets its own strand.
    acceptor_.async_accept(asio::make_strand(ioc_),
                           [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
                               self->on_accept(ec, std::move(socket));
                           });
}

void Listener::on_accept(boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;  // stopping
    if (ec) {
        // E.g. out of file descriptors: keep serving the connections we have.
        static log::Throttle throttle{1};
        std::uint64_t left_out = 0;
        if (throttle.allow(left_out))
            PARLEY_LOG(error, "accept failed: %s (%llu more since the last line)", ec.message().c_str(),
                       static_cast<unsigned long long>(left_out));
    } else {
        socket.set_option(tcp::no_delay(true), ec);
        const auto peer = socket.remote_endpoint(ec);
        if (ec) return do_accept();  // already gone
        const auto address = peer.address();
        if (auto* tls = tls_.load())
            start_tls_session(state_, connections_, address, std::move(socket), *tls);
        else
            start_plain_session(state_, connections_, address, std::move(socket));
    }
    do_accept();
}

}  // namespace parley::relay
