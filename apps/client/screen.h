// The full-screen chat as a model, apart from ncurses: windows (one per
// room), each with its lines, scrollback, unread count and new-message
// marker; a status bar; the input line. render() lays it all out for a
// terminal W columns by H rows (wrapping, day-change lines, colours as
// names), and tui.cpp only paints what it returns. Tests drive it directly.
//
//   rows 0 .. H-3   the active window's lines, newest at the bottom
//   row  H-2        the status bar
//   row  H-1        the input line (or a password prompt)
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "chat_view.h"
#include "line_editor.h"

namespace parley::client {

enum class Colour : std::uint8_t {
    plain,
    dim,      // times, notices
    warning,  // "!!" lines
    status,   // the status bar
    marker,   // the new-message marker, day-change lines
    mention,  // a line that names us
    member0,  // member0 + member_colour(key): a member's name
};

struct Span {
    std::string text;
    Colour colour = Colour::plain;
    bool bold = false;
    bool operator==(const Span&) const = default;
};
using Row = std::vector<Span>;

struct Frame {
    std::vector<Row> rows;  // exactly the height asked for
    std::size_t cursor_row = 0;
    std::size_t cursor_column = 0;
};

// Where the day changes between dated lines (messages, warnings with a time):
// the "--- Wednesday 2 December 2026 ---" line to put before `line`, if any.
// The first dated line gets one unless it is of today.
class DayTracker {
public:
    std::optional<std::string> before(const ChatLine& line);

private:
    int last_day_ = -1;  // yyyymmdd, local time
};

// Whether `text` names `name` as a word (any case, "@name" too): a mention.
bool mentions(std::string_view text, std::string_view name);
// A row's text without its colours (tests, and the README's capture).
std::string row_text(const Row& row);
// Columns a UTF-8 string takes on a terminal.
std::size_t text_columns(std::string_view text);

class Screen {
public:
    using WindowId = std::uint64_t;

    explicit Screen(std::string user) : user_(std::move(user)) {}

    // A new window at the end; the first one opened is the active one.
    WindowId open(std::string name);
    void close(WindowId id);
    std::size_t count() const { return windows_.size(); }
    // The window at a place in the bar (0-based); false when there is none.
    bool activate(std::size_t index);
    void activate_id(WindowId id);
    void next_window(int step);  // +1 / -1, wrapping
    std::optional<WindowId> find(const std::string& name) const;
    WindowId active() const;
    const std::string& name(WindowId id) const;

    // One line into a window (a day-change line first when its date differs).
    // True when it names us and is someone else's message: ring the bell.
    bool add(WindowId id, ChatLine line);
    // The new-message marker goes below what the window holds now.
    void mark_read(WindowId id);
    void set_status(WindowId id, const RoomStatus& status);

    // Scrollback of the active window, by a page (the pane's height less one row).
    void page_up();
    void page_down();

    LineEditor& input() { return input_; }
    // Instead of the input line: "PROMPT ****" (n stars) while a password is typed.
    void password_prompt(std::string prompt, std::size_t typed) { password_ = Password{std::move(prompt), typed}; }
    void end_password_prompt() { password_.reset(); }

    // The whole screen, `width` x `height`; `now_ms` for the clock in the bar.
    Frame render(std::size_t width, std::size_t height, std::uint64_t now_ms);
    // The terminal title: who we are, and where someone named us.
    std::string title() const;

    // Lines kept per window; older ones are dropped.
    static constexpr std::size_t max_lines = 5000;

private:
    struct Window {
        WindowId id = 0;
        std::string name;
        std::deque<ChatLine> lines;
        std::size_t marker = 0;  // lines[marker..] are new since the window was last left
        std::size_t unread = 0;  // messages from others since then
        bool mentioned = false;
        DayTracker days;
        std::size_t scroll = 0;  // rows the view is above the bottom
        RoomStatus status;
    };
    struct Password {
        std::string prompt;
        std::size_t typed = 0;
    };

    Window& window(WindowId id);
    const Window& window(WindowId id) const;
    std::size_t pane_height() const { return last_height_ > 2 ? last_height_ - 2 : 1; }
    // Every row the active window's lines take at `width` (marker included).
    std::vector<Row> rows_of(const Window& w, std::size_t width) const;
    // The rows one line takes at `width` (wrapped, continuation rows indented).
    std::vector<Row> line_rows(const ChatLine& line, std::size_t width) const;
    Row status_bar(std::size_t width, std::uint64_t now_ms) const;
    Row input_row(std::size_t width, std::size_t& cursor_column) const;
    Row spans_of(const ChatLine& line) const;

    std::string user_;
    std::vector<Window> windows_;
    std::size_t active_ = 0;
    WindowId next_id_ = 1;
    LineEditor input_;
    std::optional<Password> password_;
    std::size_t last_width_ = 80;
    std::size_t last_height_ = 24;
};

// `row` cut into rows of at most `width` columns, at a space where one is
// near; rows after the first start with `indent` blanks.
std::vector<Row> wrap(const Row& row, std::size_t width, std::size_t indent);

}  // namespace parley::client
