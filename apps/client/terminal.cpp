#include "terminal.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <vector>

#include "key_reader.h"
#include "tty_restore.h"

namespace parley::client {

namespace {
constexpr const char* prompt = "> ";
}  // namespace

Terminal::Terminal(EventQueue& events) {
    input_->events = &events;
    tty_ = ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO);
    if (tty_ && ::tcgetattr(STDIN_FILENO, &saved_) == 0) {
        termios raw = saved_;
        raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | ISIG);
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        arm_terminal_restore(saved_, "\x1b[?2004l");
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
        disarm_terminal_restore();
        std::cout << "\x1b[?2004l\r\x1b[K" << std::flush;
    }
    // The reader blocks in read(); it is detached rather than joined, and the
    // process exits right after.
    if (reader_.joinable()) reader_.detach();
}

void Terminal::start() {
    reader_ = tty_ ? std::thread(read_tty, input_) : std::thread(read_lines, input_);
    if (tty_) {
        std::cout << "\x1b[?2004h";  // bracketed paste: a paste arrives marked, not as typed keys
        std::lock_guard lock(input_->mutex);
        redraw_locked(*input_);
    }
}

// The input line on one row, however long it is: what fits in the terminal's
// width (read again each time, so a resize shows at the next redraw), the
// cursor placed where it is in the text.
void Terminal::redraw_locked(const Input& in) {
    winsize ws{};
    const std::size_t columns = ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
    const std::size_t prompt_width = std::char_traits<char>::length(prompt);
    const auto view = in.editor.view(columns > prompt_width + 2 ? columns - prompt_width : 2);
    std::cout << "\r\x1b[K" << prompt << view.text << "\r";
    const auto to = prompt_width + view.column;
    if (to > 0) std::cout << "\x1b[" << to << "C";
    std::cout << std::flush;
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

void Terminal::paste_locked(Input& in, const std::string& pasted) {
    auto lines = in.editor.paste(pasted);
    if (lines.size() > paste_confirm_lines) {
        std::string joined;
        for (const auto& l : lines) joined += (joined.empty() ? "" : "\n") + l;
        in.events->push({Event::Kind::input_paste, {}, joined});
    } else {
        for (auto& l : lines) in.events->push({Event::Kind::input_line, {}, l});
    }
}

void Terminal::read_tty(const std::shared_ptr<Input>& in) {
    KeyReader keys;
    char c = 0;
    for (;;) {
        const auto n = ::read(STDIN_FILENO, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n != 1) break;
        const auto key = keys.feed(c);
        if (!key) continue;
        std::lock_guard lock(in->mutex);
        if (!in->events) return;
        auto& ed = in->editor;
        using K = KeyEvent::Kind;
        switch (key->kind) {
            case K::text: ed.insert(key->text); break;
            case K::edit: ed.key(key->edit); break;
            case K::enter: in->events->push({Event::Kind::input_line, {}, *ed.key(LineEditor::Key::enter)}); break;
            case K::paste: paste_locked(*in, key->text); break;
            case K::ctrl_d:
                if (!ed.text().empty()) {
                    ed.key(LineEditor::Key::del);
                    break;
                }
                [[fallthrough]];
            case K::interrupt: in->events->push({Event::Kind::input_eof, {}, {}}); return;
            default: break;  // window keys: the line UI has one room
        }
        redraw_locked(*in);
    }
    std::lock_guard lock(in->mutex);
    if (in->events) in->events->push({Event::Kind::input_eof, {}, {}});
}

}  // namespace parley::client
