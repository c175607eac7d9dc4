#include "config/client_config.h"

#include <fstream>
#include <iterator>
#include <sstream>
#include <system_error>

// toml++ header-only in this one translation unit (so fuzz builds instrument it).
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

namespace parley::config {
namespace {

// A name from the file, for an error message: printable ASCII, anything else
// as '?' (a quoted name may hold terminal escapes).
std::string shown(std::string_view text) {
    std::string out;
    for (unsigned char c : text) out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
    return out;
}

std::string where(const std::string& name, const toml::source_region& source) {
    return name + ":" + std::to_string(source.begin.line);
}

// A string value no longer than 4 KiB and free of control characters.
std::string string_value(const std::string& name, std::string_view key, const toml::node& node) {
    const auto* value = node.as_string();
    if (!value)
        throw ConfigError(where(name, node.source()) + ": " + std::string(key) +
                          " must be a string, in quotes");
    const std::string& text = value->get();
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

// parley.toml is `name = "value"` lines, comments and blank lines: no tables,
// arrays, numbers, booleans, dates or multi-line strings. Every line is held to
// that shape here before toml++ sees the file, for two reasons. The errors are
// clearer than the parser's ("room must be a string, in quotes"). And toml++
// 3.3.0 then only ever parses keys, one-line strings and comments: on other
// malformed input fuzz_config found it failing its own assertions ("[,",
// "s=8080-08-)=") and reaching __builtin_unreachable() (U+00A1 outside a
// string), which in a release build are undefined behaviour, not errors.
// What passes here (escapes, UTF-8 inside strings, duplicate or dotted keys) is
// still the parser's to judge.
class ShapeCheck {
public:
    ShapeCheck(std::string_view line, std::size_t number, const std::string& name)
        : line_(line), number_(number), name_(name) {}

    void run() {
        skip_blanks();
        if (at_end() || peek() == '#') return;
        if (peek() == '[' || peek() == '{')
            throw error("tables and arrays are not used in parley.toml");
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
        if (rest.starts_with(R"(""")") || rest.starts_with("'''"))
            throw error("multi-line strings are not used in parley.toml");
        if (peek() == '"' || peek() == '\'') return one_line_string();
        if (peek() == '[' || peek() == '{')
            throw error("tables and arrays are not used in parley.toml");
        throw error(key + " must be a string, in quotes");
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
    std::size_t pos_ = 0;
};

void check_shape(std::string_view text, const std::string& name) {
    std::size_t number = 1;
    for (std::size_t begin = 0; begin <= text.size(); ++number) {
        std::size_t end = text.find('\n', begin);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(begin, end - begin);
        if (line.ends_with('\r')) line.remove_suffix(1);  // CRLF line ends
        ShapeCheck(line, number, name).run();
        begin = end + 1;
    }
}

}  // namespace

ClientConfig parse_client_config(std::string_view text, const std::string& name) {
    if (text.size() > max_config_bytes)
        throw ConfigError(name + ": larger than " + std::to_string(max_config_bytes / 1024) +
                          " KiB");
    check_shape(text, name);
    toml::parse_result parsed = toml::parse(text, name);
    if (!parsed) {
        const auto& error = parsed.error();
        throw ConfigError(where(name, error.source()) + ": " + std::string(error.description()));
    }
    const toml::table& table = parsed.table();
    ClientConfig config;
    for (const auto& [key, node] : table) {
        const std::string_view k = key.str();
        if (k == "server") {
            config.server = string_value(name, k, node);
        } else if (k == "room") {
            config.room = string_value(name, k, node);
        } else if (k == "ca") {
            config.ca = string_value(name, k, node);
        } else if (k == "state") {
            config.state = string_value(name, k, node);
        } else if (k == "invite") {
            config.invite = string_value(name, k, node);
        } else {
            throw ConfigError(where(name, key.source()) + ": unknown setting '" + shown(k) +
                              "' (known: server, room, ca, state, invite)");
        }
    }
    return config;
}

std::optional<ClientConfig> load_client_config(const std::filesystem::path& path) {
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
    return parse_client_config(text, path.string());
}

std::string resolve(const std::filesystem::path& config_file, const std::string& path) {
    const std::filesystem::path p(path);
    if (p.is_absolute()) return path;
    return (config_file.parent_path() / p).string();
}

}  // namespace parley::config
