// Command-line mistakes, said the way every other parley message is: "PROG:
// error: ...", a hint, and exit code 2 (usage). --help and --version print
// and exit 0 as CLI11 does. Header-only: both programs link CLI11.
#pragma once

#include <CLI/CLI.hpp>
#include <cctype>
#include <iostream>
#include <string>

namespace parley::config {

inline int usage_error(CLI::App& app, const CLI::ParseError& e, const std::string& program) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::string message = e.what();
    if (!message.empty()) message[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(message[0])));
    std::string command = program;
    for (const auto* sub : app.get_subcommands()) command += " " + sub->get_name();
    std::cerr << program << ": error: " << message << "\nhint: " << command << " --help\n";
    return 2;
}

}  // namespace parley::config
