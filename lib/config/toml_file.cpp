#include "config/toml_file.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <system_error>

// toml++ header-only in this one translation unit (so fuzz builds instrument it).
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

namespace parley::config {

std::string shown(std::string_view text) {
    std::string out;
    for (unsigned char c : text) out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
    return out;
}

std::string where(const std::string& name, std::size_t line) { return name + ":" + std::to_string(line); }

namespace {

std::string where(const std::string& name, const toml::source_region& source) {
    return config::where(name, static_cast<std::size_t>(source.begin.line));
}

// A string value no longer than 4 KiB and free of control characters.
std::string string_value(const std::string& name, std::string_view key, const toml::node& node) {
    const std::string& text = node.as_string()->get();
    if (text.empty())
        throw ConfigError(where(name, node.source()) + ": " + std::string(key) + " is empty");
    if (text.size() > 4096)
        throw ConfigError(where(name, node.source()) + ": " + std::string(key) + " is too long");
    for (unsigned char c : text)
        if (c < 0x20 || c == 0x7f)
            throw ConfigError(where(name, node.source()) + ": " + std::string(key) +
                              " contains a control character");
    return text;
}

// A settings file is `name = value` lines, comments and blank lines: no
// tables, arrays, dates or multi-line strings; numbers and booleans only where
// the format has them (relay.toml), and then only plain decimal numbers and
// `true`/`false`. Every line is held to that shape here before toml++ sees the
// file, for two reasons. The errors are clearer than the parser's ("room must
// be a string, in quotes"). And toml++ 3.3.0 then only ever parses keys,
// one-line strings, plain numbers, booleans and comments: on other malformed
// input fuzz_config found it failing its own assertions ("[,", "s=8080-08-)=")
// and reaching __builtin_unreachable() (U+00A1 outside a string), which in a
// release build are undefined behaviour, not errors. What passes here
// (escapes, UTF-8 inside strings, duplicate or dotted keys, a number too large)
// is still the parser's to judge.
class ShapeCheck {
public:
    ShapeCheck(std::string_view line, std::size_t number, const std::string& name, Format format)
        : line_(line), number_(number), name_(name), format_(format) {}

    void run() {
        skip_blanks();
        if (at_end() || peek() == '#') return;
        if (peek() == '[' || peek() == '{')
            throw error("tables and arrays are not used in " + std::string(format_.name));
        const std::size_t key_begin = pos_;
        key();
        const std::string_view key_text = line_.substr(key_begin, pos_ - key_begin);
        skip_blanks();
        if (at_end() || peek() != '=') throw unexpected("'=' after the setting's name");
        ++pos_;
        skip_blanks();
        value(key_text);
        skip_blanks();
        if (!at_end() && peek() != '#')
            throw unexpected("a comment or the end of the line after the value");
    }

private:
    bool at_end() const { return pos_ >= line_.size(); }
    char peek() const { return line_[pos_]; }
    void skip_blanks() {
        while (!at_end() && (peek() == ' ' || peek() == '\t')) ++pos_;
    }
    static bool is_bare(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_';
    }

    ConfigError error(std::string_view what) const {
        return ConfigError(name_ + ":" + std::to_string(number_) + ": " + std::string(what));
    }
    // What is at pos_ instead of `expected`.
    ConfigError unexpected(std::string_view expected) const {
        if (at_end()) return error("the line ends where it needs " + std::string(expected));
        const auto c = static_cast<unsigned char>(peek());
        if (c >= 0x80) return error("a non-ASCII character outside a quoted string");
        if (c < 0x20 || c == 0x7f) return error("a control character outside a quoted string");
        return error("found '" + std::string(1, peek()) + "' where it needs " +
                     std::string(expected));
    }

    // A name, or a dotted name whose parts are bare or quoted.
    void key() {
        for (;;) {
            skip_blanks();
            if (!at_end() && (peek() == '"' || peek() == '\'')) {
                one_line_string();
            } else {
                const std::size_t begin = pos_;
                while (!at_end() && is_bare(peek())) ++pos_;
                if (pos_ == begin) throw unexpected("a setting's name");
            }
            const std::size_t after = pos_;
            skip_blanks();
            if (at_end() || peek() != '.') {
                pos_ = after;
                return;
            }
            ++pos_;
        }
    }

    void value(std::string_view key_text) {
        const std::string key = shown(key_text);
        if (at_end() || peek() == '#') throw error(key + " has no value");
        const std::string_view rest = line_.substr(pos_);
        const std::string format(format_.name);
        if (rest.starts_with(R"(""")") || rest.starts_with("'''"))
            throw error("multi-line strings are not used in " + format);
        if (peek() == '"' || peek() == '\'') return one_line_string();
        if (peek() == '[' && format_.lists) return one_line_list(key);
        if (peek() == '[' || peek() == '{') throw error("tables and arrays are not used in " + format);
        if (format_.scalars && (word("true") || word("false") || number())) return;
        throw error(key + (format_.scalars ? " must be a number, true, false or a string in quotes"
                                           : " must be a string, in quotes"));
    }

    // `w` as a whole word at pos_ (taken if so).
    bool word(std::string_view w) {
        if (!line_.substr(pos_).starts_with(w)) return false;
        const std::size_t after = pos_ + w.size();
        if (after < line_.size() && is_bare(line_[after])) return false;
        pos_ = after;
        return true;
    }

    // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? and nothing bare after it.
    bool number() {
        std::size_t p = pos_;
        auto digits = [&] {
            const std::size_t from = p;
            while (p < line_.size() && line_[p] >= '0' && line_[p] <= '9') ++p;
            return p - from;
        };
        if (p < line_.size() && line_[p] == '-') ++p;
        const std::size_t int_begin = p;
        const std::size_t int_digits = digits();
        if (int_digits == 0 || (int_digits > 1 && line_[int_begin] == '0')) return false;
        if (p < line_.size() && line_[p] == '.') {
            ++p;
            if (digits() == 0) return false;
        }
        if (p < line_.size() && (line_[p] == 'e' || line_[p] == 'E')) {
            ++p;
            if (p < line_.size() && (line_[p] == '+' || line_[p] == '-')) ++p;
            if (digits() == 0) return false;
        }
        if (p < line_.size() && (is_bare(line_[p]) || line_[p] == '.' || line_[p] == ':')) return false;
        pos_ = p;
        return true;
    }

    // [ "a", 'b' ] on one line: strings only, a comma between them, one after the last allowed.
    void one_line_list(const std::string& key) {
        ++pos_;
        bool need_item = true;
        for (;;) {
            skip_blanks();
            if (at_end()) throw error("a list is not closed on its line (" + key + ")");
            if (peek() == ']') {
                ++pos_;
                return;
            }
            if (!need_item) {
                if (peek() != ',') throw unexpected("',' or ']' in the list");
                ++pos_;
                need_item = true;
                continue;
            }
            if (peek() != '"' && peek() != '\'') throw error(key + " must be a list of strings, in quotes");
            one_line_string();
            need_item = false;
        }
    }

    // "basic" (a backslash escapes the next character) or 'literal'; closed on its line.
    void one_line_string() {
        const char quote = peek();
        for (++pos_; !at_end(); ++pos_) {
            if (peek() == quote) {
                ++pos_;
                return;
            }
            if (quote == '"' && peek() == '\\') ++pos_;
        }
        throw error("a quoted string is not closed on its line");
    }

    std::string_view line_;
    std::size_t number_;
    const std::string& name_;
    Format format_;
    std::size_t pos_ = 0;
};

void check_shape(std::string_view text, const std::string& name, Format format) {
    std::size_t number = 1;
    for (std::size_t begin = 0; begin <= text.size(); ++number) {
        std::size_t end = text.find('\n', begin);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(begin, end - begin);
        if (line.ends_with('\r')) line.remove_suffix(1);  // CRLF line ends
        ShapeCheck(line, number, name, format).run();
        begin = end + 1;
    }
}

}  // namespace

std::vector<Setting> read_settings(std::string_view text, const std::string& name, Format format) {
    if (text.size() > max_config_bytes)
        throw ConfigError(name + ": larger than " + std::to_string(max_config_bytes / 1024) + " KiB");
    check_shape(text, name, format);
    toml::parse_result parsed = toml::parse(text, name);
    if (!parsed) {
        const auto& error = parsed.error();
        throw ConfigError(where(name, error.source()) + ": " + std::string(error.description()));
    }
    std::vector<Setting> settings;
    for (const auto& [key, node] : parsed.table()) {
        Setting s;
        s.key = std::string(key.str());
        s.line = static_cast<std::size_t>(key.source().begin.line);
        if (s.key.empty()) throw ConfigError(where(name, s.line) + ": a setting's name is empty ('' or \"\")");
        if (node.is_string()) {
            s.text = string_value(name, shown(s.key), node);
        } else if (format.scalars && node.is_integer()) {
            s.kind = Setting::Kind::integer;
            s.text = std::to_string(node.as_integer()->get());
        } else if (format.scalars && node.is_floating_point()) {
            s.kind = Setting::Kind::floating;
            std::ostringstream out;
            out.precision(17);
            out << node.as_floating_point()->get();
            s.text = out.str();
        } else if (format.lists && node.is_array()) {
            s.kind = Setting::Kind::strings;
            for (const auto& item : *node.as_array()) {
                if (!item.is_string())
                    throw ConfigError(where(name, s.line) + ": " + shown(s.key) + " must be a list of strings, in quotes");
                s.strings.push_back(string_value(name, shown(s.key), item));
            }
            if (s.strings.empty()) throw ConfigError(where(name, s.line) + ": " + shown(s.key) + " is an empty list");
        } else if (format.scalars && node.is_boolean()) {
            s.kind = Setting::Kind::boolean;
            s.text = node.as_boolean()->get() ? "true" : "false";
        } else {
            // A dotted key makes a table: "server.url = ..." sets no server.
            throw ConfigError(where(name, s.line) + ": " + shown(s.key) +
                              (format.scalars ? " must be a number, true, false or a string in quotes"
                                              : " must be a string, in quotes"));
        }
        settings.push_back(std::move(s));
    }
    // toml++ keeps a table's keys in order of their names, not of the file.
    std::sort(settings.begin(), settings.end(), [](const Setting& a, const Setting& b) { return a.line < b.line; });
    return settings;
}

std::optional<std::string> read_config_file(const std::filesystem::path& path) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec || status.type() == std::filesystem::file_type::not_found) return std::nullopt;
    if (status.type() != std::filesystem::file_type::regular)
        throw ConfigError(path.string() + ": not a regular file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError(path.string() + ": cannot be read");
    std::string text;
    text.resize(max_config_bytes + 1);
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (in.bad()) throw ConfigError(path.string() + ": cannot be read");
    return text;
}

}  // namespace parley::config
