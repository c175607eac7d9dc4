#include "relay/session.h"
#include "relay/session_start.h"

namespace parley::relay {

void start_plain_session(RelayState& state, ConnectionSet& connections, const boost::asio::ip::address& peer,
                         boost::asio::ip::tcp::socket socket) {
    std::make_shared<Session<PlainLayer>>(state, connections, peer, std::move(socket))->run();
}

}  // namespace parley::relay
