// The bytes a terminal sends, turned into keys, apart from any terminal: the
// line UI (terminal.cpp) and the full-screen UI (tui.cpp) both feed it what
// they read, and tests feed it bytes. Keys as VT100/xterm send them: ESC [ or
// ESC O, parameters, a final byte; Alt-x as ESC x; a bracketed paste between
// ESC [ 200 ~ and ESC [ 201 ~ (its bytes are text, never keys).
#pragma once

#include <optional>
#include <string>

#include "line_editor.h"

namespace parley::client {

struct KeyEvent {
    enum class Kind {
        text,       // printable bytes (one UTF-8 byte at a time is fine: the editor joins them)
        edit,       // an editing key: `edit`
        enter,
        interrupt,  // Ctrl-C
        ctrl_d,     // leaves on an empty line, deletes otherwise (the caller decides)
        paste,      // a whole bracketed paste: `text`, line ends as typed ('\r' or '\n')
        page_up,
        page_down,
        alt_digit,  // Alt-1..Alt-9, Alt-0: `digit`
        next_window,      // Ctrl-N
        previous_window,  // Ctrl-P
        redraw,           // Ctrl-L
    };
    Kind kind = Kind::text;
    LineEditor::Key edit = LineEditor::Key::enter;
    std::string text;
    int digit = 0;
};

class KeyReader {
public:
    // One byte in; a key once a whole one has arrived.
    std::optional<KeyEvent> feed(char c);

    // The longest paste kept; what comes after it (up to the end mark) is dropped.
    static constexpr std::size_t max_paste_bytes = 1 << 20;

private:
    std::optional<KeyEvent> sequence_done();
    std::optional<KeyEvent> plain(char c);

    enum class State { ground, escape, sequence, discard, paste } state_ = State::ground;
    std::string sequence_;  // after ESC [ or ESC O
    std::string paste_;
    std::string tail_;  // the last bytes of a paste: its end mark?
};

}  // namespace parley::client
