#include "terminal.h"

#include <unistd.h>

#include <iostream>

namespace parley::client {

namespace {
constexpr const char* prompt = "> ";
}

Terminal::Terminal(EventQueue& events) : events_(events) {
    tty_ = ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO);
    if (tty_ && ::tcgetattr(STDIN_FILENO, &saved_) == 0) {
        termios raw = saved_;
        raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | ISIG);
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        ::tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    } else {
        tty_ = false;
    }
}

Terminal::~Terminal() {
    if (tty_) {
        ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
        std::cout << "\r\x1b[K" << std::flush;
    }
    // The reader blocks in read(); it is detached rather than joined, and the
    // process exits right after.
    if (reader_.joinable()) reader_.detach();
}

void Terminal::start() {
    reader_ = std::thread([this] { tty_ ? read_tty() : read_lines(); });
    if (tty_) {
        std::lock_guard lock(mutex_);
        redraw_locked();
    }
}

void Terminal::redraw_locked() {
    std::cout << "\r\x1b[K" << prompt << line_ << std::flush;
}

void Terminal::print(const std::string& line) {
    std::lock_guard lock(mutex_);
    if (tty_) {
        std::cout << "\r\x1b[K" << line << "\r\n";
        redraw_locked();
    } else {
        std::cout << line << std::endl;
    }
}

void Terminal::read_lines() {
    std::string line;
    while (std::getline(std::cin, line)) events_.push({Event::Kind::input_line, {}, line});
    events_.push({Event::Kind::input_eof, {}, {}});
}

void Terminal::read_tty() {
    char c = 0;
    while (::read(STDIN_FILENO, &c, 1) == 1) {
        std::lock_guard lock(mutex_);
        if (c == '\r' || c == '\n') {
            events_.push({Event::Kind::input_line, {}, line_});
            line_.clear();
        } else if (c == 0x7f || c == 0x08) {  // backspace: drop one UTF-8 character
            while (!line_.empty() && (static_cast<unsigned char>(line_.back()) & 0xc0) == 0x80) line_.pop_back();
            if (!line_.empty()) line_.pop_back();
        } else if (c == 0x03 || (c == 0x04 && line_.empty())) {  // Ctrl-C, Ctrl-D
            events_.push({Event::Kind::input_eof, {}, {}});
            return;
        } else if (c == 0x1b) {  // escape sequence (arrow keys...): not supported, skip it
            char seq = 0;
            if (::read(STDIN_FILENO, &seq, 1) == 1 && (seq == '[' || seq == 'O')) {
                while (::read(STDIN_FILENO, &seq, 1) == 1 && !(seq >= 0x40 && seq <= 0x7e)) {
                }
            }
        } else if (c == 0x15) {  // Ctrl-U
            line_.clear();
        } else if (static_cast<unsigned char>(c) >= 0x20 || c == '\t') {
            line_.push_back(c);
        }
        redraw_locked();
    }
    events_.push({Event::Kind::input_eof, {}, {}});
}

}  // namespace parley::client
