// parley.toml: the settings a member keeps beside their key on the flash drive,
// so that `parley chat --user alice` is the whole command line.
//
//   server = "wss://relay.example:8443"   # relay URL, or several relays serving
//   servers = ["wss://a:8443", "wss://b:8443"]  # the same rooms (one of the two)
//   room   = "friends"                    # room name (never sent to the relay)
//   ca     = "relay.crt"                  # optional: trust this certificate (relative
//                                         # paths are from the file's folder)
//   state  = "state"                      # optional: local state folder (same)
//   invite = "parley-invite:1:..."        # optional: join this room on first use
//
// Flags on the command line win over the file. Anything else in the file (an
// unknown key, a table, a value of the wrong type) is an error naming the line,
// so a misspelt key never silently falls back to a default.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/toml_file.h"

namespace parley::config {

struct ClientConfig {
    // `server`, or `servers`: tried in this order, the next when one cannot be reached.
    std::vector<std::string> servers;
    std::optional<std::string> room;
    std::optional<std::string> ca;     // as written; see resolve()
    std::optional<std::string> state;  // as written; see resolve()
    std::optional<std::string> invite;
};

// Parses the text of a parley.toml; `name` is used in messages ("FILE:LINE: ...").
// Throws ConfigError.
ClientConfig parse_client_config(std::string_view text, const std::string& name);

// Reads and parses `path`; nullopt when there is no such file. Throws
// ConfigError (unreadable, not a regular file, over max_config_bytes, bad content).
std::optional<ClientConfig> load_client_config(const std::filesystem::path& path);

// A path from the file, relative to the file's folder unless absolute.
std::string resolve(const std::filesystem::path& config_file, const std::string& path);

}  // namespace parley::config
