// relay.toml: every parley-relay option as `name = value`, its name without
// the leading `--` (`listen = "0.0.0.0:8443"`, `open-rooms = true`,
// `retain-days = 7`). Read with `parley-relay --config FILE`; an option given
// on the command line wins over the file. Paths are relative to the file's
// folder. An unknown name, a value of the wrong kind, or one the option
// refuses is an error naming the file and the line, so a misspelt setting
// never silently falls back to a default.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <set>
#include <string>

#include "config/toml_file.h"

namespace parley::config {

struct RelayConfigRules {
    std::set<std::string> paths;     // names whose value is a path
    std::set<std::string> excluded;  // names no file may set (config, backup, help...)
};

// Applies `file` to `app`, which has parsed the command line already: each
// setting the command line did not give is added to its option and checked
// and stored by it. Throws ConfigError.
void apply_relay_config(CLI::App& app, const std::filesystem::path& file, const RelayConfigRules& rules);

}  // namespace parley::config
