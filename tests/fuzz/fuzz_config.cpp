// parse_client_config on anything: a config or a ConfigError, nothing else; a
// value it returns is a non-empty string without control characters; and a
// file written back from what it returned (if within the size limit) parses
// to the same config. The same
// input as a relay.toml (numbers and booleans too): settings or a ConfigError.
#include <algorithm>

#include "config/client_config.h"
#include "config/toml_file.h"
#include "fuzz_support.h"

using namespace parley;

namespace {

void check_value(const std::optional<std::string>& v) {
    if (!v) return;
    FUZZ_CHECK(!v->empty() && v->size() <= 4096);
    for (unsigned char c : *v) FUZZ_CHECK(c >= 0x20 && c != 0x7f);
}

// A TOML basic string (the values hold no control characters, so only quotes and backslashes need
// escaping).
std::string toml_string(const std::string& v) {
    std::string out = "\"";
    for (char c : v) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

}  // namespace

// read_settings as relay.toml reads a file: every setting has a name, a line
// inside the file, and a value of its kind.
void check_relay_format(std::string_view in) {
    std::vector<config::Setting> settings;
    try {
        settings = config::read_settings(in, "fuzz.toml", {"relay.toml", true});
    } catch (const config::ConfigError& e) {
        FUZZ_CHECK(std::string_view(e.what()).starts_with("fuzz.toml"));
        return;
    }
    const auto lines = static_cast<std::size_t>(std::count(in.begin(), in.end(), '\n')) + 1;
    for (const auto& s : settings) {
        FUZZ_CHECK(!s.key.empty() && s.line >= 1 && s.line <= lines);
        FUZZ_CHECK(!s.text.empty());
        if (s.kind == config::Setting::Kind::boolean) FUZZ_CHECK(s.text == "true" || s.text == "false");
        if (s.kind == config::Setting::Kind::string) check_value(s.text);
    }
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    check_relay_format(in);
    config::ClientConfig parsed;
    try {
        parsed = config::parse_client_config(in, "fuzz.toml");
    } catch (const config::ConfigError& e) {
        FUZZ_CHECK(std::string_view(e.what()).starts_with("fuzz.toml"));
        return 0;
    }
    for (const auto* v : {&parsed.room, &parsed.ca, &parsed.state, &parsed.invite}) check_value(*v);
    for (const auto& server : parsed.servers) check_value(server);
    std::string again;
    if (!parsed.servers.empty()) {
        again += "servers = [";
        for (const auto& server : parsed.servers) again += toml_string(server) + ", ";
        again += "]\n";
    }
    if (parsed.room) again += "room = " + toml_string(*parsed.room) + "\n";
    if (parsed.ca) again += "ca = " + toml_string(*parsed.ca) + "\n";
    if (parsed.state) again += "state = " + toml_string(*parsed.state) + "\n";
    if (parsed.invite) again += "invite = " + toml_string(*parsed.invite) + "\n";
    // Written back with quotes escaped and ", " between servers, a file near
    // the size limit can pass it: the reader refuses that, rightly.
    if (again.size() > config::max_config_bytes) return 0;
    const auto round = config::parse_client_config(again, "again.toml");
    FUZZ_CHECK(round.servers == parsed.servers && round.room == parsed.room && round.ca == parsed.ca &&
               round.state == parsed.state && round.invite == parsed.invite);
    return 0;
}
