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
#include "line_editor.h"

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
    // A real terminal (colours, bell and title make sense), not a pipe.
    bool tty() const { return tty_; }

    // A paste of more lines than this is not sent line by line at once: it
    // arrives as one input_paste event, and chat asks first.
    static constexpr std::size_t paste_confirm_lines = 3;

private:
    // What the input thread shares with the Terminal. The thread is detached
    // (it may block in read() until the process exits), so it never touches
    // the Terminal itself, which lives on cmd_chat's stack: it holds this,
    // and the destructor cuts it off from the event queue (which goes with
    // the client) before either is gone.
    struct Input {
        std::mutex mutex;
        EventQueue* events = nullptr;  // null once the Terminal is gone
        LineEditor editor;             // what is being typed (TTY mode)
    };
    // The bytes of one bracketed paste (TTY mode): up to paste_confirm_lines
    // lines go out as lines, more as one input_paste event.
    static void paste_locked(Input& in, const std::string& pasted);
    static void read_tty(const std::shared_ptr<Input>& in);
    static void read_lines(const std::shared_ptr<Input>& in);
    static void redraw_locked(const Input& in);

    bool tty_ = false;
    termios saved_{};
    std::shared_ptr<Input> input_ = std::make_shared<Input>();
    std::thread reader_;
};

}  // namespace parley::client
