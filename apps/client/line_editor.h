// The chat's input line as a model, apart from any terminal: what is typed
// (UTF-8), the cursor, the editing keys (readline's: arrows, Home/End,
// Ctrl-A/E/K/U/W, Backspace, Delete), the input history (Up/Down), and the
// part a terminal N columns wide shows, scrolled sideways so the cursor stays
// in view (wide characters and emoji take two columns). terminal.cpp feeds it
// keys and draws view(); tests drive it directly.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parley::client {

class LineEditor {
public:
    enum class Key { left, right, home, end, up, down, backspace, del, kill_to_end, kill_to_start, kill_word, enter };

    // Typed or pasted text; control characters (below U+0020, but tab) are
    // dropped, invalid UTF-8 is kept byte for byte (the receiver cleans it).
    void insert(std::string_view text);
    // A paste: its first line completes what is being typed; every line that
    // ends in '\r' or '\n' is returned (empty ones dropped), and the rest stays
    // in the line being typed. The caller decides how to send them.
    std::vector<std::string> paste(std::string_view text);
    // Enter returns the line (and keeps it in the input history); others nullopt.
    std::optional<std::string> key(Key k);

    const std::string& text() const { return line_; }
    std::size_t cursor() const { return cursor_; }  // a byte offset, on a character boundary

    struct View {
        std::string text;        // what fits in the width, from `first` on
        std::size_t column = 0;  // where the cursor is, in columns from the left of `text`
    };
    // What a field `width` columns wide shows (at least 2).
    View view(std::size_t width) const;

    static constexpr std::size_t max_history = 200;

private:
    std::size_t previous_boundary(std::size_t pos) const;
    std::size_t next_boundary(std::size_t pos) const;
    void recall(std::size_t index);

    std::string line_;
    std::size_t cursor_ = 0;
    std::vector<std::string> history_;
    std::size_t history_pos_ = 0;  // == history_.size(): the line being written
    std::string draft_;            // that line, while Up shows older ones
};

// Columns a UTF-8 character starting at text[pos] takes (0 for combining
// marks, 2 for wide ones), and its length in bytes.
struct CharWidth {
    std::size_t bytes = 1;
    std::size_t columns = 1;
};
CharWidth char_width(std::string_view text, std::size_t pos);

}  // namespace parley::client
