// What every room command loads before it talks to the relay: the identity,
// public_keys/, the state database and the password, checked against each other.
#pragma once

#include <memory>

#include "commands.h"
#include "room_client.h"

namespace parley::client {

struct Session {
    crypto::Identity identity;
    protocol::Keyring keyring;
    std::unique_ptr<store::StateStore> store;
    crypto::SecretBuffer password;
    std::unique_ptr<RoomClient> client;
};

// Loads and checks the identity, public_keys/ and the state database: all a
// command needs that does not talk to the relay (history).
std::unique_ptr<Session> load_local(const RoomOptions& o);

// Loads and checks everything, then builds the RoomClient (not yet connected).
// `confirm_password` asks twice at the prompt (when creating a room).
std::unique_ptr<Session> make_session(RoomOptions& o, bool confirm_password);

std::string format_time(std::uint64_t ms);
// Replaces control characters so a message cannot drive the terminal.
std::string printable(std::string_view text);

}  // namespace parley::client
