#include "terminal.h"

#include <unistd.h>

#include <csignal>
#include <iostream>

namespace parley::client {

namespace {
constexpr const char* prompt = "> ";

// The terminal's settings before chat changed them, for a signal that ends the
// process (kill, a closed terminal): put back before the default action runs,
// so the shell gets its echo back. tcsetattr is async-signal-safe.
termios g_restore{};
volatile std::sig_atomic_t g_restore_set = 0;
constexpr int fatal_signals[] = {SIGTERM, SIGHUP, SIGINT, SIGQUIT};

void restore_and_die(int sig) {
    if (g_restore_set) ::tcsetattr(STDIN_FILENO, TCSANOW, &g_restore);
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}
}  // namespace

Terminal::Terminal(EventQueue& events) {
    input_->events = &events;
    tty_ = ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO);
    if (tty_ && ::tcgetattr(STDIN_FILENO, &saved_) == 0) {
        termios raw = saved_;
        raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | ISIG);
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        g_restore = saved_;
        g_restore_set = 1;
        for (int sig : fatal_signals) std::signal(sig, restore_and_die);
        ::tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    } else {
        tty_ = false;
    }
}

Terminal::~Terminal() {
    {
        std::lock_guard lock(input_->mutex);
        input_->events = nullptr;  // the input thread stops at its next line or key
    }
    if (tty_) {
        ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
        g_restore_set = 0;
        for (int sig : fatal_signals) std::signal(sig, SIG_DFL);
        std::cout << "\r\x1b[K" << std::flush;
    }
    // The reader blocks in read(); it is detached rather than joined, and the
    // process exits right after.
    if (reader_.joinable()) reader_.detach();
}

void Terminal::start() {
    reader_ = tty_ ? std::thread(read_tty, input_) : std::thread(read_lines, input_);
    if (tty_) {
        std::lock_guard lock(input_->mutex);
        redraw_locked(*input_);
    }
}

void Terminal::redraw_locked(const Input& in) {
    std::cout << "\r\x1b[K" << prompt << in.line << std::flush;
}

void Terminal::print(const std::string& line) {
    std::lock_guard lock(input_->mutex);
    if (tty_) {
        std::cout << "\r\x1b[K" << line << "\r\n";
        redraw_locked(*input_);
    } else {
        std::cout << line << std::endl;
    }
}

void Terminal::read_lines(const std::shared_ptr<Input>& in) {
    std::string line;
    while (std::getline(std::cin, line)) {
        std::lock_guard lock(in->mutex);
        if (!in->events) return;
        in->events->push({Event::Kind::input_line, {}, line});
    }
    std::lock_guard lock(in->mutex);
    if (in->events) in->events->push({Event::Kind::input_eof, {}, {}});
}

void Terminal::read_tty(const std::shared_ptr<Input>& in) {
    char c = 0;
    std::string& line = in->line;
    while (::read(STDIN_FILENO, &c, 1) == 1) {
        std::lock_guard lock(in->mutex);
        if (!in->events) return;
        if (c == '\r' || c == '\n') {
            in->events->push({Event::Kind::input_line, {}, line});
            line.clear();
        } else if (c == 0x7f || c == 0x08) {  // backspace: drop one UTF-8 character
            while (!line.empty() && (static_cast<unsigned char>(line.back()) & 0xc0) == 0x80) line.pop_back();
            if (!line.empty()) line.pop_back();
        } else if (c == 0x03 || (c == 0x04 && line.empty())) {  // Ctrl-C, Ctrl-D
            in->events->push({Event::Kind::input_eof, {}, {}});
            return;
        } else if (c == 0x1b) {  // escape sequence (arrow keys...): not supported, skip it
            char seq = 0;
            if (::read(STDIN_FILENO, &seq, 1) == 1 && (seq == '[' || seq == 'O')) {
                while (::read(STDIN_FILENO, &seq, 1) == 1 && !(seq >= 0x40 && seq <= 0x7e)) {
                }
            }
        } else if (c == 0x15) {  // Ctrl-U
            line.clear();
        } else if (static_cast<unsigned char>(c) >= 0x20 || c == '\t') {
            line.push_back(c);
        }
        redraw_locked(*in);
    }
    std::lock_guard lock(in->mutex);
    if (in->events) in->events->push({Event::Kind::input_eof, {}, {}});
}

}  // namespace parley::client
