#include "terminal.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <iostream>
#include <vector>

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
    if (g_restore_set) {
        ::tcsetattr(STDIN_FILENO, TCSANOW, &g_restore);
        constexpr char no_bracketed_paste[] = "\x1b[?2004l";
        (void)!::write(STDOUT_FILENO, no_bracketed_paste, sizeof no_bracketed_paste - 1);
    }
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
    std::string text = pasted;
    for (auto& c : text)
        if (c == '\r') c = '\n';
    std::vector<std::string> lines;
    std::size_t from = 0;
    for (std::size_t nl; (nl = text.find('\n', from)) != std::string::npos; from = nl + 1) {
        if (nl > from) lines.push_back(text.substr(from, nl - from));
    }
    const std::string tail = text.substr(from);  // no newline after it: stays in the line being typed
    if (lines.empty()) {
        in.editor.insert(tail);
        return;
    }
    // The first pasted line completes what was being typed.
    in.editor.insert(lines.front());
    lines.front() = *in.editor.key(LineEditor::Key::enter);
    if (lines.size() > paste_confirm_lines) {
        std::string joined;
        for (const auto& l : lines) joined += (joined.empty() ? "" : "\n") + l;
        in.events->push({Event::Kind::input_paste, {}, joined});
    } else {
        for (auto& l : lines) in.events->push({Event::Kind::input_line, {}, l});
    }
    in.editor.insert(tail);
}

void Terminal::read_tty(const std::shared_ptr<Input>& in) {
    // Keys as terminals send them: ESC [ (or ESC O) then parameters and a final
    // byte; a bracketed paste between ESC [ 200 ~ and ESC [ 201 ~.
    auto read_byte = [](char& c) {
        for (;;) {
            const auto n = ::read(STDIN_FILENO, &c, 1);
            if (n == 1) return true;
            if (n < 0 && errno == EINTR) continue;
            return false;
        }
    };
    char c = 0;
    while (read_byte(c)) {
        std::string sequence;
        if (c == 0x1b) {
            char next = 0;
            if (!read_byte(next)) break;
            if (next == '[' || next == 'O') {
                char b = 0;
                while (read_byte(b)) {
                    sequence.push_back(b);
                    if (b >= 0x40 && b <= 0x7e) break;
                }
            }
            if (sequence == "200~") {
                // Everything up to ESC [ 201 ~ is pasted text, not keys.
                std::string pasted;
                const std::string end = "\x1b[201~";
                char p = 0;
                while (read_byte(p)) {
                    pasted.push_back(p);
                    if (pasted.size() >= end.size() && pasted.compare(pasted.size() - end.size(), end.size(), end) == 0) {
                        pasted.resize(pasted.size() - end.size());
                        break;
                    }
                }
                std::lock_guard lock(in->mutex);
                if (!in->events) return;
                paste_locked(*in, pasted);
                redraw_locked(*in);
                continue;
            }
        }
        std::lock_guard lock(in->mutex);
        if (!in->events) return;
        auto& ed = in->editor;
        using K = LineEditor::Key;
        if (c == 0x1b) {
            if (sequence == "D") ed.key(K::left);
            else if (sequence == "C") ed.key(K::right);
            else if (sequence == "A") ed.key(K::up);
            else if (sequence == "B") ed.key(K::down);
            else if (sequence == "H" || sequence == "1~" || sequence == "7~") ed.key(K::home);
            else if (sequence == "F" || sequence == "4~" || sequence == "8~") ed.key(K::end);
            else if (sequence == "3~") ed.key(K::del);
            // anything else (function keys, Alt-x): ignored
        } else if (c == '\r' || c == '\n') {
            in->events->push({Event::Kind::input_line, {}, *ed.key(K::enter)});
        } else if (c == 0x7f || c == 0x08) {
            ed.key(K::backspace);
        } else if (c == 0x03 || (c == 0x04 && ed.text().empty())) {  // Ctrl-C, Ctrl-D
            in->events->push({Event::Kind::input_eof, {}, {}});
            return;
        } else if (c == 0x04) {
            ed.key(K::del);
        } else if (c == 0x01) {
            ed.key(K::home);
        } else if (c == 0x05) {
            ed.key(K::end);
        } else if (c == 0x02) {
            ed.key(K::left);
        } else if (c == 0x06) {
            ed.key(K::right);
        } else if (c == 0x0b) {
            ed.key(K::kill_to_end);
        } else if (c == 0x15) {
            ed.key(K::kill_to_start);
        } else if (c == 0x17) {
            ed.key(K::kill_word);
        } else if (static_cast<unsigned char>(c) >= 0x20 || c == '\t') {
            ed.insert(std::string_view(&c, 1));
        }
        redraw_locked(*in);
    }
    std::lock_guard lock(in->mutex);
    if (in->events) in->events->push({Event::Kind::input_eof, {}, {}});
}

}  // namespace parley::client
