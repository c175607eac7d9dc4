// The settings files, parley.toml (the client's) and relay.toml (the relay's):
// `name = value` lines, comments and blank lines, read with toml++. Each line
// is held to that shape before toml++ sees the file (see toml_file.cpp for
// why), and every error names the file and the line.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace parley::config {

inline constexpr std::size_t max_config_bytes = 64 * 1024;

class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Setting {
    enum class Kind { string, integer, floating, boolean, strings };
    std::string key;
    Kind kind = Kind::string;
    std::string text;  // the string; the number as written; "true" or "false"
    std::vector<std::string> strings;  // Kind::strings: a one-line list of them
    std::size_t line = 0;
};

// What a file may hold: `format` names it in messages ("parley.toml"); with
// `scalars`, numbers (decimal: 8443, 0.5, 1e6) and true/false besides strings;
// with `lists`, a list of strings on one line (["a", "b"]) too.
struct Format {
    std::string_view name;
    bool scalars = false;
    bool lists = false;
};

// The settings of `text`, in file order; `name` is the file in messages
// ("FILE:LINE: ..."). A string is non-empty, at most 4 KiB and free of control
// characters; a key appears once. Throws ConfigError.
std::vector<Setting> read_settings(std::string_view text, const std::string& name, Format format);

// The text of `path` (a regular file, at most max_config_bytes); nullopt when
// there is no such file. Throws ConfigError.
std::optional<std::string> read_config_file(const std::filesystem::path& path);

// A name from the file, for a message: printable ASCII, anything else as '?'.
std::string shown(std::string_view text);

// "NAME:LINE".
std::string where(const std::string& name, std::size_t line);

}  // namespace parley::config
