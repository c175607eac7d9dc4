// The terminal given back when a signal ends `parley chat` (kill, a closed
// terminal, Ctrl-\): the settings it had before chat changed them, and an
// escape sequence that undoes what chat turned on (bracketed paste, the
// full-screen UI's alternate screen), written before the default action runs
// so the shell gets its echo and its screen back. The handler only calls
// async-signal-safe functions (tcsetattr, write, signal, raise).
#pragma once

#include <termios.h>

#include <string_view>

namespace parley::client {

// From now on SIGTERM, SIGHUP, SIGINT and SIGQUIT restore `saved` on stdin and
// write `sequence` (at most 255 bytes) to stdout, then end the process as
// they would have.
void arm_terminal_restore(const termios& saved, std::string_view sequence);
// Back to the default actions (the terminal was restored the normal way).
void disarm_terminal_restore();

}  // namespace parley::client
