#include "config/client_config.h"

namespace parley::config {

ClientConfig parse_client_config(std::string_view text, const std::string& name) {
    ClientConfig config;
    bool server_set = false;
    for (auto& s : read_settings(text, name, {"parley.toml", false, true})) {
        if (s.kind == Setting::Kind::strings && s.key != "servers")
            throw ConfigError(where(name, s.line) + ": " + shown(s.key) + " must be a string, in quotes");
        if (s.key == "server" || s.key == "servers") {
            if (server_set)
                throw ConfigError(where(name, s.line) + ": server and servers both set: use one of them");
            server_set = true;
            if (s.key == "server") config.servers = {std::move(s.text)};
            else if (s.kind == Setting::Kind::strings) config.servers = std::move(s.strings);
            else throw ConfigError(where(name, s.line) + ": servers must be a list of strings, in quotes");
        }
        else if (s.key == "room") config.room = std::move(s.text);
        else if (s.key == "ca") config.ca = std::move(s.text);
        else if (s.key == "state") config.state = std::move(s.text);
        else if (s.key == "invite") config.invite = std::move(s.text);
        else
            throw ConfigError(where(name, s.line) + ": unknown setting '" + shown(s.key) +
                              "' (known: server, servers, room, ca, state, invite)");
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
