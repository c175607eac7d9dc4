// One room's chat, whatever shows it: the commands (/who, /verify, /rekey...),
// the lines typed offline (queued, sealed like history, sent on reconnect),
// what arrives, and the event loop until the user leaves or the room ends.
// The line UI runs one of these on the main thread; the full-screen UI runs
// one per room, each on its own thread with its own Session.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "chat_view.h"
#include "session_setup.h"

namespace parley::client {

// The room commands, for /help.
extern const char* const room_help_text;

struct RoomEnd {
    int code = 0;             // 0 left; 1 the relay closed; 5 removed; 6 blocked (as `parley chat` exits)
    std::size_t pending = 0;  // lines typed offline still not sent (the next chat sends them)
};

// Runs the chat in s.client's room, opened already: shows the last
// `history_lines` of this device's history, joins, and handles frames and
// input (pushed into s.client->events()) until /quit, the end of input, or
// the room ends. `joined` runs once the relay took us in. `user` is the name
// a mention is looked for. Throws UserError when the room cannot go on.
RoomEnd run_room_chat(Session& s, ChatView& view, const std::string& user, std::size_t history_lines,
                      const std::function<void()>& joined);

// "HH:MM:SS", local time.
std::string clock_time(std::uint64_t ms);
std::uint64_t now_ms();

}  // namespace parley::client
