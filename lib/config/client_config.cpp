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
        throw ConfigError(where(name, node.source()) + ": " + std::string(key) + " must be a string, in quotes");
    const std::string& text = value->get();
    if (text.empty()) throw ConfigError(where(name, node.source()) + ": " + std::string(key) + " is empty");
    if (text.size() > 4096) throw ConfigError(where(name, node.source()) + ": " + std::string(key) + " is too long");
    for (unsigned char c : text)
        if (c < 0x20 || c == 0x7f)
            throw ConfigError(where(name, node.source()) + ": " + std::string(key) + " contains a control character");
    return text;
}

}  // namespace

ClientConfig parse_client_config(std::string_view text, const std::string& name) {
    if (text.size() > max_config_bytes)
        throw ConfigError(name + ": larger than " + std::to_string(max_config_bytes / 1024) + " KiB");
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
