#include "config/relay_config.h"

#include "config/client_config.h"

namespace parley::config {

void apply_relay_config(CLI::App& app, const std::filesystem::path& file, const RelayConfigRules& rules) {
    const std::string name = file.string();
    const auto text = read_config_file(file);
    if (!text) throw ConfigError(name + ": no such file");
    for (const auto& s : read_settings(*text, name, {"relay.toml", true})) {
        const std::string at = where(name, s.line) + ": ";
        CLI::Option* option = rules.excluded.count(s.key) ? nullptr : app.get_option_no_throw("--" + s.key);
        if (option == nullptr)
            throw ConfigError(at + "unknown setting '" + shown(s.key) + "' (a name is an option without its --)");
        if (option->count() > 0) continue;  // given on the command line: that wins
        // A flag takes true or false; anything else, a number or a string.
        const bool flag = option->get_expected_min() == 0;
        if (flag != (s.kind == Setting::Kind::boolean))
            throw ConfigError(at + s.key + (flag ? " takes true or false" : " takes a number or a string, not " + s.text));
        const std::string value = rules.paths.count(s.key) ? resolve(file, s.text) : s.text;
        try {
            option->add_result(value);
            option->run_callback();
        } catch (const CLI::Error& e) {
            throw ConfigError(at + s.key + ": " + e.what());
        }
    }
}

}  // namespace parley::config
