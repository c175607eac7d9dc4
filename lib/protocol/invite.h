// The invite (docs/PROTOCOL.md §4.1): one line that names the relay, the room
// and its genesis record, handed to members with the public keys. A first
// join pins that genesis; a client never picks among chains by itself.
//
//   parley-invite:1:NAME:ROOMHEX:GENESISHEX:SERVER
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "wire/frames.h"

namespace parley::protocol {

struct Invite {
    std::string name;  // the suggested local name
    wire::RoomId room{};
    wire::Hash genesis{};
    std::string server;  // ws://host:port or wss://host:port
};

inline constexpr std::string_view invite_prefix = "parley-invite:";
inline constexpr std::size_t max_room_name_bytes = 64;

// A local room name: 1..64 of [A-Za-z0-9._-], not starting with '.' or '-'.
bool valid_room_name(std::string_view name);

std::string format_invite(const Invite& invite);
// The invite, or a message for the user saying what is wrong with it.
std::variant<Invite, std::string> parse_invite(std::string_view text);

}  // namespace parley::protocol
