// Starts a Session (session.h) on an accepted socket. Each kind is compiled in
// a file of its own (session_plain.cpp, session_tls.cpp): a Session instantiates
// Beast's whole WebSocket stream, the slowest code in the project to compile
// (minutes under the sanitizers), and two files build in parallel.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "relay/connection_set.h"
#include "relay/relay_state.h"

namespace parley::relay {

void start_plain_session(RelayState& state, ConnectionSet& connections, const boost::asio::ip::address& peer,
                         boost::asio::ip::tcp::socket socket);
void start_tls_session(RelayState& state, ConnectionSet& connections, const boost::asio::ip::address& peer,
                       boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& tls);

}  // namespace parley::relay
