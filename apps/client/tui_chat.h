// `parley chat` in the full-screen UI: several rooms in one window, each run
// by its own thread (chat_room.h) with its own Session, the UI's thread
// owning the Screen and the terminal.
#pragma once

#include <memory>
#include <string>

#include "commands.h"
#include "session_setup.h"

namespace parley::client {

// Runs until /quit or Ctrl-C. `first` is the room named on the command line,
// opened already, with the options `o`; `server_given` is the relay the flags
// and parley.toml named (if any), the default for the rooms /join opens. Returns the exit code (that of the first room
// when it ended by itself: 1, 5, 6; 0 otherwise).
int run_tui_chat(std::unique_ptr<Session> first, const RoomOptions& o, const std::string& server_given);

}  // namespace parley::client
