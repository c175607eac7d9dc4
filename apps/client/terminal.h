// A line-based terminal for `parley chat`: incoming lines print above the input
// line without garbling what is being typed. On a TTY it runs the terminal in
// non-canonical mode and edits the line itself; otherwise it reads plain lines.
#pragma once

#include <termios.h>

#include <atomic>
#include <memory>
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
    // What the input thread shares with the Terminal. The thread is detached
    // (it may block in read() until the process exits), so it never touches
    // the Terminal itself, which lives on cmd_chat's stack: it holds this,
    // and the destructor cuts it off from the event queue (which goes with
    // the client) before either is gone.
    struct Input {
        std::mutex mutex;
        EventQueue* events = nullptr;  // null once the Terminal is gone
        std::string line;              // what is being typed (TTY mode)
    };
    static void read_tty(const std::shared_ptr<Input>& in);
    static void read_lines(const std::shared_ptr<Input>& in);
    static void redraw_locked(const Input& in);

    bool tty_ = false;
    termios saved_{};
    std::shared_ptr<Input> input_ = std::make_shared<Input>();
    std::thread reader_;
};

}  // namespace parley::client
