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

// What parley.toml needs of TOML is `key = "string"` lines. Outside a string and a
// comment only ASCII means anything, so anything else there is refused here,
// with a clearer message than the parser's; so are multi-line strings. This
// also keeps toml++ 3.3.0 away from a bug: its Unicode-whitespace test reaches
// __builtin_unreachable() for most code points from U+00A1 to U+0499 and from
// U+FC7C (found by fuzz_config), and it runs only outside strings and in
// multi-line ones.
void check_characters(std::string_view text, const std::string& name) {
    enum class In { normal, comment, basic, literal } in = In::normal;
    std::size_t line = 1;
    // A quote opens a string only where one can start: a key at the start of
    // the line or after a dot, before any '='; a value right after the line's
    // one '='. Anywhere else the parser reads it as part of a bad bare key or
    // value and keeps scanning past it, so we do too. `before` is the last
    // character of the line outside a string that is not a blank.
    char before = '\n';
    int equals = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\n') {
            ++line;
            in = In::normal;  // a one-line string cannot go on (the parser says so)
            before = '\n';
            equals = 0;
            continue;
        }
        const auto at = [&](std::string_view what) {
            return ConfigError(name + ":" + std::to_string(line) + ": " + std::string(what));
        };
        switch (in) {
            case In::normal: {
                if (static_cast<unsigned char>(c) >= 0x80)
                    throw at("a non-ASCII character outside a quoted string");
                if (text.substr(i, 3) == R"(""")" || text.substr(i, 3) == "'''")
                    throw at("multi-line strings are not used in parley.toml");
                // Nor are tables, arrays or inline tables; refusing them here also
                // keeps toml++ 3.3.0 off an assertion it fails on "[," (an
                // __builtin_assume in a release build), found by fuzz_config.
                if (c == '[' || c == '{') throw at("tables and arrays are not used in parley.toml");
                if (c == '=') ++equals;
                const bool string_may_start = equals == 0 ? (before == '\n' || before == '.')
                                                          : (equals == 1 && before == '=');
                if (c == '#') in = In::comment;
                if (c == '"' && string_may_start) in = In::basic;
                if (c == '\'' && string_may_start) in = In::literal;
                if (c != ' ' && c != '\t') before = c;
                break;
            }
            case In::comment: break;
            case In::basic:
                if (c == '\\') {
                    if (i + 1 < text.size() && text[i + 1] == '\n')
                        break;  // the newline ends it above
                    ++i;        // the escaped character
                } else if (c == '"') {
                    in = In::normal;
                }
                break;
            case In::literal:
                if (c == '\'') in = In::normal;
                break;
        }
    }
}

}  // namespace

ClientConfig parse_client_config(std::string_view text, const std::string& name) {
    if (text.size() > max_config_bytes)
        throw ConfigError(name + ": larger than " + std::to_string(max_config_bytes / 1024) +
                          " KiB");
    check_characters(text, name);
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
        } else {
            // Printed escaped: the key comes from a file we were handed.
            std::string shown;
            for (unsigned char c : k) shown += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
            throw ConfigError(where(name, key.source()) + ": unknown setting '" + shown +
                              "' (known: server, room, ca, state)");
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
