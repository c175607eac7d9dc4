#include "line_editor.h"

#include <cwchar>

namespace parley::client {

namespace {

bool continuation(unsigned char c) { return (c & 0xc0) == 0x80; }

}  // namespace

CharWidth char_width(std::string_view text, std::size_t pos) {
    const auto c = static_cast<unsigned char>(text[pos]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 1;
    if (pos + len > text.size()) len = 1;
    char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    for (std::size_t i = 1; i < len; ++i) {
        const auto b = static_cast<unsigned char>(text[pos + i]);
        if (!continuation(b)) return {1, 1};  // invalid: one byte, one column (shown as U+FFFD)
        cp = (cp << 6) | (b & 0x3f);
    }
    const int w = ::wcwidth(static_cast<wchar_t>(cp));
    return {len, w < 0 ? std::size_t{1} : static_cast<std::size_t>(w)};
}

void LineEditor::insert(std::string_view text) {
    std::string clean;
    clean.reserve(text.size());
    for (char c : text) {
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t') clean.push_back(c == '\t' ? ' ' : c);
    }
    line_.insert(cursor_, clean);
    cursor_ += clean.size();
}

std::vector<std::string> LineEditor::paste(std::string_view text) {
    std::vector<std::string> lines;
    std::size_t from = 0;
    for (std::size_t nl; (nl = text.find_first_of("\r\n", from)) != std::string_view::npos; from = nl + 1) {
        insert(text.substr(from, nl - from));
        if (!line_.empty()) lines.push_back(*key(Key::enter));
    }
    insert(text.substr(from));  // no line end after it: stays in the line being typed
    return lines;
}

std::size_t LineEditor::previous_boundary(std::size_t pos) const {
    if (pos == 0) return 0;
    --pos;
    while (pos > 0 && continuation(static_cast<unsigned char>(line_[pos]))) --pos;
    return pos;
}

std::size_t LineEditor::next_boundary(std::size_t pos) const {
    if (pos >= line_.size()) return line_.size();
    return pos + char_width(line_, pos).bytes;
}

void LineEditor::recall(std::size_t index) {
    if (history_pos_ == history_.size()) draft_ = line_;
    history_pos_ = index;
    line_ = index == history_.size() ? draft_ : history_[index];
    cursor_ = line_.size();
}

std::optional<std::string> LineEditor::key(Key k) {
    switch (k) {
        case Key::left: cursor_ = previous_boundary(cursor_); break;
        case Key::right: cursor_ = next_boundary(cursor_); break;
        case Key::home: cursor_ = 0; break;
        case Key::end: cursor_ = line_.size(); break;
        case Key::up:
            if (history_pos_ > 0) recall(history_pos_ - 1);
            break;
        case Key::down:
            if (history_pos_ < history_.size()) recall(history_pos_ + 1);
            break;
        case Key::backspace: {
            const auto from = previous_boundary(cursor_);
            line_.erase(from, cursor_ - from);
            cursor_ = from;
            break;
        }
        case Key::del: line_.erase(cursor_, next_boundary(cursor_) - cursor_); break;
        case Key::kill_to_end: line_.erase(cursor_); break;
        case Key::kill_to_start:
            line_.erase(0, cursor_);
            cursor_ = 0;
            break;
        case Key::kill_word: {
            // The word before the cursor and the spaces after it, as readline's Ctrl-W.
            auto from = cursor_;
            while (from > 0 && line_[from - 1] == ' ') --from;
            while (from > 0 && line_[from - 1] != ' ') --from;
            line_.erase(from, cursor_ - from);
            cursor_ = from;
            break;
        }
        case Key::enter: {
            std::string done = std::move(line_);
            line_.clear();
            cursor_ = 0;
            draft_.clear();
            if (!done.empty() && (history_.empty() || history_.back() != done)) {
                history_.push_back(done);
                if (history_.size() > max_history) history_.erase(history_.begin());
            }
            history_pos_ = history_.size();
            return done;
        }
    }
    return std::nullopt;
}

LineEditor::View LineEditor::view(std::size_t width) const {
    if (width < 2) width = 2;
    const std::size_t room = width - 1;  // the last column stays free for the cursor
    // Characters from the cursor back, as many as fit: the window ends at the
    // cursor when the line is longer than the field; otherwise it starts at 0.
    std::size_t start = 0, cols_before = 0;
    for (std::size_t pos = 0; pos < cursor_; pos = next_boundary(pos)) cols_before += char_width(line_, pos).columns;
    if (cols_before > room) {
        std::size_t cols = 0;
        start = cursor_;
        while (start > 0) {
            const auto prev = previous_boundary(start);
            const auto w = char_width(line_, prev).columns;
            if (cols + w > room) break;
            cols += w;
            start = prev;
        }
        cols_before = cols;
    }
    View v;
    v.column = cols_before;
    std::size_t cols = 0;
    for (std::size_t pos = start; pos < line_.size();) {
        const auto cw = char_width(line_, pos);
        if (cols + cw.columns > room) break;
        v.text.append(line_, pos, cw.bytes);
        cols += cw.columns;
        pos += cw.bytes;
    }
    return v;
}

}  // namespace parley::client
