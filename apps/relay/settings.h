// parley-relay's settings: the command line and --config FILE, checked and
// made into the RelayOptions a RelayServer runs with. Read at start, and again
// on SIGHUP (the server applies what may change while it runs).
#pragma once

#include <CLI/CLI.hpp>
#include <stdexcept>
#include <string>

#include "relay/log.h"
#include "relay/relay_server.h"

namespace parley::relay {

struct RelaySettings {
    RelayOptions options;     // for RelayServer (listen empty with --backup)
    std::string listen;       // --listen as given
    std::string config_file;  // --config, or empty
    std::string backup_file;  // --backup FILE: copy the database and exit
    bool check_config = false;
    bool metrics_beyond_loopback = false;
    log::Level log_level = log::Level::info;
    log::Format log_format = log::Format::plain;
};

// A value refused (exit 2): the message, with a "hint:" line where one helps.
struct SettingsError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Defines every option on `app` (a fresh one each time), parses argv, then
// --config. Throws CLI::ParseError for the command line itself (print it with
// config::usage_error), config::ConfigError for the file, SettingsError for a
// value or a combination refused.
RelaySettings read_settings(CLI::App& app, int argc, const char* const* argv);

}  // namespace parley::relay
