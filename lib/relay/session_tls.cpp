#include "relay/session.h"
#include "relay/session_start.h"

namespace parley::relay {

void start_tls_session(RelayState& state, ConnectionSet& connections, const boost::asio::ip::address& peer,
                       boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& tls) {
    std::make_shared<Session<TlsLayer>>(state, connections, peer, std::move(socket), tls)->run();
}

}  // namespace parley::relay
