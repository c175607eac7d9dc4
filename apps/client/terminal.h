// A line-based terminal for `parley chat`: incoming lines print above the input
// line without garbling what is being typed. On a TTY it runs the terminal in
// non-canonical mode and edits the line itself; otherwise it reads plain lines.
#pragma once

#include <termios.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>

#include "event_queue.h"

namespace parley::client {

class Terminal {
public:
    explicit Terminal(EventQueue& events);
    ~Terminal();  // restores the terminal
    Terminal(const Terminal&) = delete;
    Terminal& operator=(const Terminal&) = delete;

    void start();
    // Prints one line above the input line.
    void print(const std::string& line);

private:
    void read_tty();
    void read_lines();
    void redraw_locked();

    EventQueue& events_;
    bool tty_ = false;
    termios saved_{};
    std::mutex mutex_;
    std::string line_;  // what is being typed (TTY mode)
    std::thread reader_;
};

}  // namespace parley::client
