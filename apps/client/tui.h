// The terminal side of the full-screen chat: ncurses (the wide-character
// build) paints the Frames a Screen renders; keys are read raw from stdin and
// turned into KeyEvents by a KeyReader (ncurses never reads input). One
// thread, the UI's, uses it; other threads only call wake().
//
// While it lives, stderr on the terminal goes into a pipe the UI reads (wait()
// returns it), so a note written by a room's thread shows in a window instead
// of tearing the screen; stderr sent elsewhere (2>file) is left alone. The terminal is restored by the destructor, and by a signal that
// ends the process (tty_restore.h).
#pragma once

#include <termios.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "key_reader.h"
#include "screen.h"

struct screen;  // ncurses' SCREEN, kept out of this header

namespace parley::client {

class Tui {
public:
    // Throws UserError when the terminal cannot be used (TERM unknown).
    Tui();
    ~Tui();
    Tui(const Tui&) = delete;
    Tui& operator=(const Tui&) = delete;

    struct Input {
        std::vector<KeyEvent> keys;
        std::vector<std::string> stderr_lines;  // what was written to stderr
        bool eof = false;                       // stdin closed (the terminal is gone)
    };
    // Waits up to `timeout` for keys, a resize, stderr output or a wake().
    Input wait(std::chrono::milliseconds timeout);
    // Any thread: makes wait() return now.
    void wake();

    std::size_t columns() const;
    std::size_t rows() const;
    void draw(const Frame& frame);
    void bell();
    void title(const std::string& text);
    // Ctrl-L: paint every cell again at the next draw.
    void repaint();

private:
    void read_stderr(Input& in);

    termios saved_{};
    ::screen* screen_ = nullptr;  // ncurses' SCREEN
    int wake_pipe_[2] = {-1, -1};
    int stderr_pipe_[2] = {-1, -1};
    int saved_stderr_ = -1;
    std::string stderr_partial_;
    KeyReader keys_;
    bool titles_ = false;  // the terminal shows OSC 2 titles
    std::string title_;
};

}  // namespace parley::client
