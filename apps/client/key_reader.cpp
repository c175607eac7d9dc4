#include "key_reader.h"

namespace parley::client {

namespace {

constexpr char esc = 0x1b;
constexpr std::string_view paste_end = "\x1b[201~";
constexpr std::size_t max_sequence_bytes = 16;  // longer: not a key, dropped

KeyEvent edit(LineEditor::Key k) {
    KeyEvent e;
    e.kind = KeyEvent::Kind::edit;
    e.edit = k;
    return e;
}

KeyEvent of(KeyEvent::Kind kind) {
    KeyEvent e;
    e.kind = kind;
    return e;
}

}  // namespace

std::optional<KeyEvent> KeyReader::feed(char c) {
    switch (state_) {
        case State::ground:
            if (c == esc) {
                state_ = State::escape;
                return std::nullopt;
            }
            return plain(c);
        case State::escape:
            if (c == '[' || c == 'O') {
                state_ = State::sequence;
                sequence_.clear();
                return std::nullopt;
            }
            state_ = State::ground;
            if (c >= '0' && c <= '9') {
                KeyEvent e = of(KeyEvent::Kind::alt_digit);
                e.digit = c - '0';
                return e;
            }
            if (c == esc) {  // ESC ESC: the first one alone, the second may start a key
                state_ = State::escape;
                return std::nullopt;
            }
            return std::nullopt;  // Alt-x and a lone ESC: ignored
        case State::sequence:
            sequence_.push_back(c);
            if (c >= 0x40 && c <= 0x7e) {
                state_ = State::ground;
                return sequence_done();
            }
            if (sequence_.size() > max_sequence_bytes) state_ = State::discard;
            return std::nullopt;
        case State::discard:
            // The rest of a sequence too long to be a key (a terminal's report): up to its final byte.
            if (c == esc) state_ = State::escape;  // it never ended: a new key begins
            else if (c >= 0x40 && c <= 0x7e) state_ = State::ground;
            return std::nullopt;
        case State::paste:
            if (paste_.size() < max_paste_bytes + paste_end.size()) paste_.push_back(c);
            tail_.push_back(c);
            if (tail_.size() > paste_end.size()) tail_.erase(0, 1);
            if (tail_ == paste_end) {
                // Within the bound the mark is at the end of paste_; past it, what is over is dropped.
                if (paste_.size() >= paste_end.size() &&
                    paste_.compare(paste_.size() - paste_end.size(), paste_end.size(), paste_end) == 0)
                    paste_.resize(paste_.size() - paste_end.size());
                if (paste_.size() > max_paste_bytes) paste_.resize(max_paste_bytes);
                state_ = State::ground;
                KeyEvent e = of(KeyEvent::Kind::paste);
                e.text = std::move(paste_);
                paste_.clear();
                tail_.clear();
                return e;
            }
            return std::nullopt;
    }
    return std::nullopt;
}

std::optional<KeyEvent> KeyReader::sequence_done() {
    using K = LineEditor::Key;
    const auto& s = sequence_;
    if (s == "200~") {
        state_ = State::paste;
        paste_.clear();
        return std::nullopt;
    }
    if (s == "D") return edit(K::left);
    if (s == "C") return edit(K::right);
    if (s == "A") return edit(K::up);
    if (s == "B") return edit(K::down);
    if (s == "H" || s == "1~" || s == "7~") return edit(K::home);
    if (s == "F" || s == "4~" || s == "8~") return edit(K::end);
    if (s == "3~") return edit(K::del);
    if (s == "5~") return of(KeyEvent::Kind::page_up);
    if (s == "6~") return of(KeyEvent::Kind::page_down);
    return std::nullopt;  // function keys and the rest: ignored
}

std::optional<KeyEvent> KeyReader::plain(char c) {
    using K = LineEditor::Key;
    switch (c) {
        case '\r':
        case '\n': return of(KeyEvent::Kind::enter);
        case 0x7f:
        case 0x08: return edit(K::backspace);
        case 0x03: return of(KeyEvent::Kind::interrupt);
        case 0x04: return of(KeyEvent::Kind::ctrl_d);
        case 0x01: return edit(K::home);
        case 0x05: return edit(K::end);
        case 0x02: return edit(K::left);
        case 0x06: return edit(K::right);
        case 0x0b: return edit(K::kill_to_end);
        case 0x15: return edit(K::kill_to_start);
        case 0x17: return edit(K::kill_word);
        case 0x0e: return of(KeyEvent::Kind::next_window);
        case 0x10: return of(KeyEvent::Kind::previous_window);
        case 0x0c: return of(KeyEvent::Kind::redraw);
        default: break;
    }
    if (static_cast<unsigned char>(c) < 0x20 && c != '\t') return std::nullopt;
    KeyEvent e = of(KeyEvent::Kind::text);
    e.text.assign(1, c);
    return e;
}

}  // namespace parley::client
