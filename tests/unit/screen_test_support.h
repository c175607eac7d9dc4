// Helpers of the screen model's tests (screen_test.cpp, screen_text_test.cpp):
// fixed times, lines to add, and ways to read a Frame as text.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "client/screen.h"

namespace parley::client::screen_testing {

constexpr std::uint64_t monday = 1718000000000;         // Monday 10 June 2024, 06:13:20 UTC
constexpr std::uint64_t monday_evening = 1718053199000;  // Monday 10 June 2024, 20:59:59 UTC
constexpr std::uint64_t day_ms = 24ull * 3600 * 1000;
constexpr const char* marker = "--- new messages ---";

inline ChatLine message(std::string name, std::string text, std::uint64_t time_ms = monday,
                 ChatLine::Own own = ChatLine::Own::no, bool mention = false) {
    ChatLine l = make_line(ChatLine::Kind::message, std::move(text), time_ms);
    l.name = std::move(name);
    l.own = own;
    l.mention = mention;
    return l;
}


inline std::vector<std::string> texts(const Frame& f) {
    std::vector<std::string> out;
    for (const auto& r : f.rows) out.push_back(row_text(r));
    return out;
}

// The pane's rows (all but the status bar and the input line), empty ones at the end dropped.
inline std::vector<std::string> pane(const Frame& f) {
    auto out = texts(f);
    out.resize(out.size() >= 2 ? out.size() - 2 : 0);
    while (!out.empty() && out.back().empty()) out.pop_back();
    return out;
}

inline std::optional<std::size_t> index_of(const std::vector<std::string>& rows, const std::string& text) {
    const auto it = std::find(rows.begin(), rows.end(), text);
    if (it == rows.end()) return std::nullopt;
    return static_cast<std::size_t>(it - rows.begin());
}

inline std::size_t count_containing(const std::vector<std::string>& rows, const std::string& part) {
    return static_cast<std::size_t>(
        std::count_if(rows.begin(), rows.end(), [&](const std::string& r) { return r.find(part) != std::string::npos; }));
}

// Whole UTF-8 characters only: no lead byte without its continuation bytes, no stray continuation byte.
inline bool valid_utf8(const std::string& s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
        if (len == 0 || i + len > s.size()) return false;
        for (std::size_t k = 1; k < len; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
        i += len;
    }
    return true;
}

}  // namespace parley::client::screen_testing
