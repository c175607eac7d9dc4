#include "config/client_config.h"

namespace parley::config {

ClientConfig parse_client_config(std::string_view text, const std::string& name) {
    ClientConfig config;
    for (auto& s : read_settings(text, name, {"parley.toml", false})) {
        if (s.key == "server") config.server = std::move(s.text);
        else if (s.key == "room") config.room = std::move(s.text);
        else if (s.key == "ca") config.ca = std::move(s.text);
        else if (s.key == "state") config.state = std::move(s.text);
        else if (s.key == "invite") config.invite = std::move(s.text);
        else
            throw ConfigError(where(name, s.line) + ": unknown setting '" + shown(s.key) +
                              "' (known: server, room, ca, state, invite)");
    }
    return config;
}

std::optional<ClientConfig> load_client_config(const std::filesystem::path& path) {
    auto text = read_config_file(path);
    if (!text) return std::nullopt;
    return parse_client_config(*text, path.string());
}

std::string resolve(const std::filesystem::path& config_file, const std::string& path) {
    const std::filesystem::path p(path);
    if (p.is_absolute()) return path;
    return (config_file.parent_path() / p).string();
}

}  // namespace parley::config
