#include "screen.h"

#include <algorithm>
#include <ctime>
#include <stdexcept>

namespace parley::client {

namespace {

constexpr std::size_t time_columns = 6;  // "HH:MM "
constexpr const char* marker_text = "--- new messages ---";

std::tm local_time(std::uint64_t ms) {
    const auto t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    localtime_r(&t, &tm);
    return tm;
}

std::string clock_text(std::uint64_t ms) {
    const auto tm = local_time(ms);
    char buf[8];
    std::strftime(buf, sizeof buf, "%H:%M", &tm);
    return buf;
}

int day_of(std::uint64_t ms) {
    const auto tm = local_time(ms);
    return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

std::string day_text(std::uint64_t ms) {
    const auto tm = local_time(ms);
    char weekday[16], month[16];
    std::strftime(weekday, sizeof weekday, "%A", &tm);
    std::strftime(month, sizeof month, "%B", &tm);
    return std::string("--- ") + weekday + " " + std::to_string(tm.tm_mday) + " " + month + " " +
           std::to_string(tm.tm_year + 1900) + " ---";
}

struct Cell {
    std::string_view bytes;
    std::size_t columns;
    const Span* span;
};

// Consecutive cells of one span merged back into spans.
Row join_cells(std::vector<Cell>::const_iterator from, std::vector<Cell>::const_iterator to, std::size_t indent) {
    Row row;
    if (indent > 0) row.push_back({std::string(indent, ' '), Colour::plain, false});
    const Span* current = nullptr;
    for (auto it = from; it != to; ++it) {
        if (it->span != current) {
            row.push_back({{}, it->span->colour, it->span->bold});
            current = it->span;
        }
        row.back().text.append(it->bytes);
    }
    return row;
}

// The row cut to `width` columns.
Row fit(const Row& row, std::size_t width) {
    Row out;
    std::size_t used = 0;
    for (const auto& span : row) {
        Span cut{{}, span.colour, span.bold};
        for (std::size_t pos = 0; pos < span.text.size();) {
            const auto cw = char_width(span.text, pos);
            if (used + cw.columns > width) break;
            cut.text.append(span.text, pos, cw.bytes);
            used += cw.columns;
            pos += cw.bytes;
        }
        if (!cut.text.empty()) out.push_back(std::move(cut));
        if (used >= width) break;
    }
    return out;
}

// The row padded with blanks in `colour` to exactly `width` columns.
Row fill(Row row, std::size_t width, Colour colour) {
    row = fit(row, width);
    std::size_t used = 0;
    for (const auto& span : row) used += text_columns(span.text);
    if (used < width) row.push_back({std::string(width - used, ' '), colour, false});
    return row;
}

}  // namespace

std::optional<std::string> DayTracker::before(const ChatLine& line) {
    const bool dated = (line.kind == ChatLine::Kind::message || line.kind == ChatLine::Kind::warning) && line.time_ms != 0;
    if (!dated) return std::nullopt;
    const auto day = day_of(line.time_ms);
    if (day == last_day_) return std::nullopt;
    const bool first = last_day_ == -1;
    last_day_ = day;
    const auto now = static_cast<std::uint64_t>(std::time(nullptr)) * 1000;
    if (first && day == day_of(now)) return std::nullopt;
    return day_text(line.time_ms);
}

bool mentions(std::string_view text, std::string_view name) {
    if (name.empty() || text.size() < name.size()) return false;
    auto word_char = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
               static_cast<unsigned char>(c) >= 0x80;
    };
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    for (std::size_t at = 0; at + name.size() <= text.size(); ++at) {
        bool same = true;
        for (std::size_t i = 0; i < name.size() && same; ++i) same = lower(text[at + i]) == lower(name[i]);
        if (!same) continue;
        const bool starts = at == 0 || !word_char(text[at - 1]);
        const bool ends = at + name.size() == text.size() || !word_char(text[at + name.size()]);
        if (starts && ends) return true;
    }
    return false;
}

std::string row_text(const Row& row) {
    std::string out;
    for (const auto& span : row) out += span.text;
    return out;
}

std::size_t text_columns(std::string_view text) {
    std::size_t cols = 0;
    for (std::size_t pos = 0; pos < text.size();) {
        const auto cw = char_width(text, pos);
        cols += cw.columns;
        pos += cw.bytes;
    }
    return cols;
}

std::vector<Row> wrap(const Row& row, std::size_t width, std::size_t indent) {
    if (width == 0) return {};
    if (indent * 2 >= width) indent = 0;
    std::vector<Cell> cells;
    for (const auto& span : row) {
        for (std::size_t pos = 0; pos < span.text.size();) {
            const auto cw = char_width(span.text, pos);
            if (cw.columns > width)  // a wide character in a one-column row: shown as '?'
                cells.push_back({"?", 1, &span});
            else
                cells.push_back({std::string_view(span.text).substr(pos, cw.bytes), cw.columns, &span});
            pos += cw.bytes;
        }
    }
    std::vector<Row> rows;
    auto start = cells.cbegin();
    std::size_t lead = 0;  // the indent of the row being filled
    for (;;) {
        std::size_t used = lead;
        auto it = start;
        // As many cells as fit (at least one, so a cell wider than the row still moves on).
        while (it != cells.cend() && (used + it->columns <= width || it == start)) used += (it++)->columns;
        auto end = it;
        if (it != cells.cend() && it->bytes != " ") {
            // In a word: break after the last blank of the row when there is one past its first quarter.
            for (auto back = it; back != start; --back) {
                if ((back - 1)->bytes == " " && static_cast<std::size_t>(back - start) > (width - lead) / 4) {
                    end = back;
                    break;
                }
            }
        }
        rows.push_back(join_cells(start, end, lead));
        start = end;
        while (start != cells.cend() && start->bytes == " ") ++start;  // no blank at a row's start
        if (start == cells.cend()) break;
        lead = indent;
    }
    return rows;
}

Screen::WindowId Screen::open(std::string name) {
    Window w;
    w.id = next_id_++;
    w.name = std::move(name);
    windows_.push_back(std::move(w));
    return windows_.back().id;
}

void Screen::close(WindowId id) {
    const auto it = std::find_if(windows_.begin(), windows_.end(), [&](const Window& w) { return w.id == id; });
    if (it == windows_.end()) return;
    const auto index = static_cast<std::size_t>(it - windows_.begin());
    windows_.erase(it);
    if (active_ > index || active_ >= windows_.size()) active_ = active_ > 0 ? active_ - 1 : 0;
}

bool Screen::activate(std::size_t index) {
    if (index >= windows_.size()) return false;
    if (index == active_) return true;
    mark_read(windows_[active_].id);  // what was there is read: the marker goes below it
    active_ = index;
    windows_[active_].unread = 0;
    windows_[active_].mentioned = false;
    return true;
}

void Screen::activate_id(WindowId id) {
    for (std::size_t i = 0; i < windows_.size(); ++i)
        if (windows_[i].id == id) activate(i);
}

void Screen::next_window(int step) {
    if (windows_.empty()) return;
    const auto n = static_cast<long>(windows_.size());
    activate(static_cast<std::size_t>(((static_cast<long>(active_) + step) % n + n) % n));
}

std::optional<Screen::WindowId> Screen::find(const std::string& name) const {
    for (const auto& w : windows_)
        if (w.name == name) return w.id;
    return std::nullopt;
}

Screen::WindowId Screen::active() const { return windows_.empty() ? 0 : windows_[active_].id; }

const std::string& Screen::name(WindowId id) const { return window(id).name; }

Screen::Window& Screen::window(WindowId id) {
    for (auto& w : windows_)
        if (w.id == id) return w;
    throw std::out_of_range("no such window");
}

const Screen::Window& Screen::window(WindowId id) const { return const_cast<Screen*>(this)->window(id); }

bool Screen::add(WindowId id, ChatLine line) {
    auto it = std::find_if(windows_.begin(), windows_.end(), [&](const Window& w) { return w.id == id; });
    if (it == windows_.end()) return false;  // a window closed meanwhile
    auto& w = *it;
    const bool is_active = it - windows_.begin() == static_cast<long>(active_);
    std::vector<ChatLine> added;
    if (auto day = w.days.before(line)) {
        auto d = make_line(ChatLine::Kind::day, std::move(*day));
        d.time_ms = line.time_ms;
        added.push_back(std::move(d));
    }
    const bool from_other = line.kind == ChatLine::Kind::message && line.own == ChatLine::Own::no;
    const bool ring = from_other && line.mention;
    if (from_other && (!is_active || w.scroll > 0)) ++w.unread;
    if (ring && !is_active) w.mentioned = true;
    added.push_back(std::move(line));
    for (auto& l : added) {
        if (w.scroll > 0) {
            // The view stays where it is: it rises by the rows this line adds
            // below it, and by the marker's, which the first new line brings.
            w.scroll += line_rows(l, last_width_).size();
            if (w.lines.size() == w.marker &&
                std::any_of(w.lines.begin(), w.lines.end(), [](const ChatLine& x) { return x.kind == ChatLine::Kind::message; }))
                ++w.scroll;
        }
        w.lines.push_back(std::move(l));
    }
    while (w.lines.size() > max_lines) {
        w.lines.pop_front();
        if (w.marker > 0) --w.marker;
    }
    return ring;
}

void Screen::mark_read(WindowId id) {
    for (auto& w : windows_) {
        if (w.id != id) continue;
        w.marker = w.lines.size();
        w.unread = 0;
        w.mentioned = false;
    }
}

void Screen::set_status(WindowId id, const RoomStatus& status) {
    for (auto& w : windows_)
        if (w.id == id) w.status = status;
}

void Screen::page_up() {
    if (windows_.empty()) return;
    auto& w = windows_[active_];
    const auto total = rows_of(w, last_width_).size();
    const auto pane = pane_height();
    const auto top = total > pane ? total - pane : 0;
    w.scroll = std::min(top, w.scroll + std::max<std::size_t>(pane - 1, 1));
}

void Screen::page_down() {
    if (windows_.empty()) return;
    auto& w = windows_[active_];
    const auto step = std::max<std::size_t>(pane_height() - 1, 1);
    w.scroll = w.scroll > step ? w.scroll - step : 0;
    if (w.scroll == 0) w.unread = 0;
}

Row Screen::spans_of(const ChatLine& line) const {
    Row row;
    const bool timed = line.time_ms != 0 && line.kind != ChatLine::Kind::day && line.kind != ChatLine::Kind::info;
    if (timed) row.push_back({clock_text(line.time_ms) + " ", Colour::dim, false});
    switch (line.kind) {
        case ChatLine::Kind::message: {
            const bool pending = line.own == ChatLine::Own::pending;
            row.push_back({line.name, static_cast<Colour>(static_cast<int>(Colour::member0) + line.colour % member_colours),
                           !pending});
            if (pending) row.push_back({" (pending)", Colour::dim, false});
            row.push_back({": ", Colour::plain, false});
            row.push_back({line.text, line.mention ? Colour::mention : pending ? Colour::dim : Colour::plain,
                           line.mention});
            break;
        }
        case ChatLine::Kind::notice: row.push_back({"-- " + line.text, Colour::dim, false}); break;
        case ChatLine::Kind::warning: row.push_back({"!! " + line.text, Colour::warning, true}); break;
        case ChatLine::Kind::info: row.push_back({line.text, Colour::plain, false}); break;
        case ChatLine::Kind::day: row.push_back({line.text, Colour::marker, false}); break;
    }
    if (!line.note.empty()) row.push_back({line.note, Colour::dim, false});
    return row;
}

std::vector<Row> Screen::rows_of(const Window& w, std::size_t width) const {
    std::vector<Row> rows;
    bool read_messages = false;  // the marker only parts messages read from new ones
    for (std::size_t i = 0; i < w.lines.size(); ++i) {
        if (i == w.marker && read_messages) rows.push_back(fit({{marker_text, Colour::marker, true}}, width));
        read_messages = read_messages || w.lines[i].kind == ChatLine::Kind::message;
        for (auto& r : line_rows(w.lines[i], width)) rows.push_back(std::move(r));
    }
    return rows;
}

std::vector<Row> Screen::line_rows(const ChatLine& line, std::size_t width) const {
    const bool timed = line.time_ms != 0 && line.kind != ChatLine::Kind::day && line.kind != ChatLine::Kind::info;
    const bool prefixed = line.kind == ChatLine::Kind::notice || line.kind == ChatLine::Kind::warning;  // "-- ", "!! "
    const auto indent = (timed ? time_columns : 0) + (prefixed ? 3 : 0);
    const auto spans = spans_of(line);
    const auto text = row_text(spans);
    if (text.find('\n') == std::string::npos) return wrap(spans, width, indent);
    // A multi-line text (/help) is one row per line.
    std::vector<Row> rows;
    std::size_t from = 0;
    for (std::size_t nl = 0; nl != std::string::npos; from = nl + 1) {
        nl = text.find('\n', from);
        Row part{{text.substr(from, nl == std::string::npos ? nl : nl - from), spans.back().colour, false}};
        for (auto& r : wrap(part, width, 2)) rows.push_back(std::move(r));
    }
    return rows;
}

Row Screen::status_bar(std::size_t width, std::uint64_t now_ms) const {
    Row row{{" " + clock_text(now_ms) + " [" + user_ + "] ", Colour::status, false}};
    for (std::size_t i = 0; i < windows_.size(); ++i) {
        const auto& w = windows_[i];
        std::string tab = std::to_string(i + 1) + ":" + w.name;
        if (w.unread > 0) tab += "(" + std::to_string(w.unread) + (w.mentioned ? "!" : "") + ")";
        row.push_back({tab, Colour::status, i == active_});
        row.push_back({" ", Colour::status, false});
    }
    if (!windows_.empty()) {
        const auto& w = windows_[active_];
        std::string about = "| ";
        switch (w.status.link) {
            case RoomStatus::Link::opening: about += "opening"; break;
            case RoomStatus::Link::connected: about += "connected"; break;
            case RoomStatus::Link::connecting: about += "relay away, reconnecting"; break;
            case RoomStatus::Link::ended: about += "closed"; break;
        }
        if (w.status.members > 0)
            about += ", epoch " + std::to_string(w.status.epoch) + ", " + std::to_string(w.status.members) + " members";
        if (w.status.pending > 0) about += ", " + std::to_string(w.status.pending) + " pending";
        if (w.scroll > 0) about += " | -- more below --";
        row.push_back({about, Colour::status, w.status.link == RoomStatus::Link::connecting});
    }
    return fill(std::move(row), width, Colour::status);
}

Row Screen::input_row(std::size_t width, std::size_t& cursor_column) const {
    if (password_) {
        const auto stars = std::string(std::min<std::size_t>(password_->typed, width / 2), '*');
        Row row = fit({{password_->prompt, Colour::plain, true}, {stars, Colour::plain, false}}, width);
        cursor_column = std::min(width - 1, text_columns(row_text(row)));
        return row;
    }
    const std::string prompt = windows_.empty() ? "> " : "[" + windows_[active_].name + "] ";
    // A long room name gives way to what is typed: the prompt takes at most half the row.
    Row row = fit({{prompt, Colour::dim, false}}, width / 2);
    const auto prompt_columns = text_columns(row_text(row));
    const auto view = input_.view(width > prompt_columns + 2 ? width - prompt_columns : 2);
    cursor_column = std::min(width - 1, prompt_columns + view.column);
    row.push_back({view.text, Colour::plain, false});
    return fit(row, width);
}

Frame Screen::render(std::size_t width, std::size_t height, std::uint64_t now_ms) {
    Frame frame;
    if (width == 0 || height == 0) return frame;
    last_width_ = width;
    last_height_ = height;
    frame.rows.resize(height);
    if (height >= 3 && !windows_.empty()) {
        auto& w = windows_[active_];
        const auto pane = height - 2;
        auto rows = rows_of(w, width);
        const auto top = rows.size() > pane ? rows.size() - pane : 0;
        w.scroll = std::min(w.scroll, top);
        const auto first = top - w.scroll;
        for (std::size_t r = 0; r < pane && first + r < rows.size(); ++r) frame.rows[r] = std::move(rows[first + r]);
    }
    if (height >= 2) frame.rows[height - 2] = status_bar(width, now_ms);
    frame.cursor_row = height - 1;
    frame.rows[height - 1] = input_row(width, frame.cursor_column);
    return frame;
}

std::string Screen::title() const {
    std::string title = "parley: " + user_;
    std::string named;
    for (const auto& w : windows_)
        if (w.mentioned) named += (named.empty() ? "" : ", ") + w.name;
    if (!named.empty()) title += " - named in " + named;
    return title;
}

}  // namespace parley::client
