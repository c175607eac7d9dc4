#include "tui.h"

#include <fcntl.h>
#include <langinfo.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <clocale>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cwchar>

#include <sodium.h>

// ncurses' macros (erase, move, clear, ...) would clash with everything: the
// wide API is reached through its w-prefixed functions on stdscr only.
#define NCURSES_NOMACROS
#include <ncursesw/curses.h>
#include <ncursesw/term.h>
// term.h names every terminfo capability as a macro; these two are also ours.
#undef columns
#undef bell

#include "tty_restore.h"
#include "user_error.h"

namespace parley::client {

namespace {

// The UI's wake-up pipe, for the SIGWINCH handler.
volatile std::sig_atomic_t g_wake_fd = -1;
volatile std::sig_atomic_t g_resized = 0;

void on_winch(int) {
    g_resized = 1;
    if (g_wake_fd >= 0) {
        const char w = 'w';
        (void)!::write(g_wake_fd, &w, 1);
    }
}

void nonblocking_pipe(int fds[2]) {
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
        throw UserError(std::string("cannot set up the terminal: pipe: ") + std::strerror(errno));
}

// A UTF-8 string as wide characters; an invalid byte becomes U+FFFD.
std::wstring wide(const std::string& text) {
    std::wstring out;
    out.reserve(text.size());
    std::mbstate_t state{};
    for (std::size_t pos = 0; pos < text.size();) {
        wchar_t wc = 0;
        const auto n = std::mbrtowc(&wc, text.data() + pos, text.size() - pos, &state);
        if (n == static_cast<std::size_t>(-1) || n == static_cast<std::size_t>(-2) || n == 0) {
            out.push_back(L'\uFFFD');
            state = {};
            ++pos;
            continue;
        }
        out.push_back(wc);
        pos += n;
    }
    return out;
}

constexpr short member_palette[member_colours] = {COLOR_GREEN, COLOR_YELLOW, COLOR_BLUE,
                                                  COLOR_MAGENTA, COLOR_CYAN, COLOR_RED};

// Colour pairs: 1 warning, 2 status, 3 marker, 4 mention, 10 + n member n.
attr_t attributes(Colour c, bool bold) {
    attr_t a = bold ? A_BOLD : A_NORMAL;
    const bool colours = has_colors();
    switch (c) {
        case Colour::plain: break;
        case Colour::dim: a |= A_DIM; break;
        case Colour::warning: a |= colours ? COLOR_PAIR(1) : A_BOLD; break;
        case Colour::status: a |= colours ? COLOR_PAIR(2) : A_REVERSE; break;
        case Colour::marker: a |= colours ? COLOR_PAIR(3) : A_UNDERLINE; break;
        case Colour::mention: a |= colours ? COLOR_PAIR(4) : A_BOLD; break;
        default:
            if (colours) a |= COLOR_PAIR(10 + (static_cast<int>(c) - static_cast<int>(Colour::member0)));
            break;
    }
    return a;
}

}  // namespace

Tui::Tui() {
    ::tcgetattr(STDIN_FILENO, &saved_);
    // Wide characters need a UTF-8 locale: the user's, or C.UTF-8.
    std::setlocale(LC_CTYPE, "");  // only the character set: numbers and dates stay as they are
    if (std::strcmp(nl_langinfo(CODESET), "UTF-8") != 0) std::setlocale(LC_CTYPE, "C.UTF-8");
    // newterm, not initscr: it returns null for a terminal it does not know
    // (initscr would exit), and delscreen frees what it allocated.
    screen_ = newterm(nullptr, stdout, stdin);
    if (screen_ == nullptr) {
        const char* term = std::getenv("TERM");
        throw UserError(std::string("cannot use this terminal (TERM=") + (term ? term : "") + ")",
                        "set TERM to your terminal's type, or use --ui line");
    }
    set_term(screen_);
    nonblocking_pipe(wake_pipe_);
    nonblocking_pipe(stderr_pipe_);
    g_wake_fd = wake_pipe_[1];
    raw();  // Ctrl-C, Ctrl-Z and Ctrl-\ are keys here; the UI handles Ctrl-C
    noecho();
    nonl();
    typeahead(-1);  // ncurses never looks at stdin: the KeyReader reads it
    if (has_colors()) {
        start_color();
        use_default_colors();
        init_pair(1, COLOR_RED, -1);
        init_pair(2, COLOR_WHITE, COLOR_BLUE);
        init_pair(3, COLOR_YELLOW, -1);
        init_pair(4, COLOR_YELLOW, -1);
        for (std::size_t i = 0; i < member_colours; ++i) init_pair(static_cast<short>(10 + i), member_palette[i], -1);
    }
    // What a signal that ends us writes: leave the alternate screen, cursor on, no bracketed paste.
    std::string undo;
    if (const char* rmcup = tigetstr(const_cast<char*>("rmcup")); rmcup != nullptr && rmcup != reinterpret_cast<char*>(-1))
        undo += rmcup;
    undo += "\x1b[?25h\x1b[?2004l\r\n";
    arm_terminal_restore(saved_, undo);
    std::signal(SIGWINCH, on_winch);
    const char* term = std::getenv("TERM");
    const std::string t = term ? term : "";
    for (const char* known : {"xterm", "screen", "tmux", "rxvt", "alacritty", "foot", "kitty", "st-", "vte", "konsole", "gnome"})
        if (t.rfind(known, 0) == 0) titles_ = true;
    std::fflush(stdout);
    (void)!::write(STDOUT_FILENO, "\x1b[?2004h", 8);  // bracketed paste: a paste arrives marked, not as keys
    // stderr on this terminal goes into the pipe from here on (the UI shows
    // it); stderr sent elsewhere (2>file) stays there.
    if (::isatty(STDERR_FILENO)) {
        saved_stderr_ = ::dup(STDERR_FILENO);
        ::dup2(stderr_pipe_[1], STDERR_FILENO);
    }
}

Tui::~Tui() {
    if (saved_stderr_ >= 0) {
        ::dup2(saved_stderr_, STDERR_FILENO);
        ::close(saved_stderr_);
    }
    std::signal(SIGWINCH, SIG_DFL);
    g_wake_fd = -1;
    if (titles_ && !title_.empty()) (void)!::write(STDOUT_FILENO, "\x1b]2;\x07", 5);
    (void)!::write(STDOUT_FILENO, "\x1b[?2004l", 8);
    endwin();
    delscreen(screen_);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    disarm_terminal_restore();
    for (int fd : {wake_pipe_[0], wake_pipe_[1], stderr_pipe_[0], stderr_pipe_[1]})
        if (fd >= 0) ::close(fd);
}

void Tui::wake() {
    const char w = 'w';
    (void)!::write(wake_pipe_[1], &w, 1);
}

Tui::Input Tui::wait(std::chrono::milliseconds timeout) {
    Input in;
    pollfd fds[3] = {{STDIN_FILENO, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}, {stderr_pipe_[0], POLLIN, 0}};
    const int ready = ::poll(fds, 3, static_cast<int>(timeout.count()));
    if (ready > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
        char buf[4096];
        const auto n = ::read(STDIN_FILENO, buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) in.eof = true;
        for (ssize_t i = 0; i < n; ++i)
            if (auto key = keys_.feed(buf[i])) in.keys.push_back(std::move(*key));
        sodium_memzero(buf, sizeof buf);  // it may have held a room password being typed
    }
    if (ready > 0 && (fds[1].revents & POLLIN)) {
        char buf[64];
        while (::read(wake_pipe_[0], buf, sizeof buf) > 0) {
        }
    }
    read_stderr(in);
    if (g_resized) {
        g_resized = 0;
        winsize ws{};
        if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
            resizeterm(ws.ws_row, ws.ws_col);
    }
    return in;
}

void Tui::read_stderr(Input& in) {
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::read(stderr_pipe_[0], buf, sizeof buf)) > 0) stderr_partial_.append(buf, static_cast<std::size_t>(n));
    for (std::size_t nl; (nl = stderr_partial_.find('\n')) != std::string::npos;) {
        in.stderr_lines.push_back(stderr_partial_.substr(0, nl));
        stderr_partial_.erase(0, nl + 1);
    }
}

std::size_t Tui::columns() const { return static_cast<std::size_t>(COLS > 0 ? COLS : 0); }
std::size_t Tui::rows() const { return static_cast<std::size_t>(LINES > 0 ? LINES : 0); }

void Tui::draw(const Frame& frame) {
    werase(stdscr);
    for (std::size_t r = 0; r < frame.rows.size(); ++r) {
        wmove(stdscr, static_cast<int>(r), 0);
        for (const auto& span : frame.rows[r]) {
            wattrset(stdscr, static_cast<int>(attributes(span.colour, span.bold)));
            const auto text = wide(span.text);
            waddnwstr(stdscr, text.c_str(), static_cast<int>(text.size()));
        }
    }
    wattrset(stdscr, A_NORMAL);
    wmove(stdscr, static_cast<int>(frame.cursor_row), static_cast<int>(frame.cursor_column));
    wrefresh(stdscr);
}

void Tui::bell() { beep(); }

void Tui::title(const std::string& text) {
    if (!titles_ || text == title_) return;
    title_ = text;
    std::string osc = "\x1b]2;";
    for (char c : text)
        if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) osc.push_back(c);  // nothing that ends the sequence early
    osc += "\x07";
    std::fflush(stdout);
    (void)!::write(STDOUT_FILENO, osc.data(), osc.size());
}

void Tui::repaint() { clearok(curscr, TRUE); }

}  // namespace parley::client
