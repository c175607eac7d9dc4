// parley-relay: routes encrypted frames between the members of a room.
//
// Messages: lowercase, no final period, a "hint:" line where one helps.
// Exit codes: 0 clean shutdown (SIGINT/SIGTERM), 1 start-up failure,
// 2 bad command line or a refused configuration.
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>

#include "config/cli_errors.h"
#include "config/relay_config.h"
#include "relay/admission.h"
#include "relay/backup.h"
#include "relay/log.h"
#include "relay/readiness.h"
#include "relay/relay_server.h"
#include "settings.h"

namespace {

constexpr int exit_startup_failure = 1;
constexpr int exit_usage = 2;
constexpr const char* about = "parley-relay: the relay for Parley end-to-end-encrypted group chat";

// A start that fails: under systemd each line gets the error priority, so
// the journal shows it in red with the unit's failure.
int fail(const std::string& message, int code) {
    if (parley::relay::log::detect_format() == parley::relay::log::Format::journal) {
        std::size_t start = 0;
        while (start <= message.size()) {
            const auto end = message.find('\n', start);
            std::fprintf(stderr, "<3>%s\n", message.substr(start, end - start).c_str());
            if (end == std::string::npos) break;
            start = end + 1;
        }
    } else {
        std::fprintf(stderr, "parley-relay: %s\n", message.c_str());
    }
    return code;
}

// The first line: the version and the settings that shape the relay (the
// limits are in --help and the config; a reload logs each one it changes).
void log_start(const parley::relay::RelaySettings& settings) {
    using namespace parley::relay;
    const auto& o = settings.options;
    const std::string rooms = !o.founders_file.empty() ? "founders in " + o.founders_file.string()
                                                       : "anyone may create them, within the quotas";
    const std::string tls = o.cert_file.empty() ? "off" : "certificate " + o.cert_file;
    const std::string data = o.store == RelayOptions::Store::memory       ? "in memory (lost when the relay stops)"
                             : o.store == RelayOptions::Store::postgresql ? "in PostgreSQL " + store_text(o)
                                                                          : o.data_dir.string();
    PARLEY_LOG(notice,
               "starting version %s: listen %s, TLS %s, data %s, sync %s, %u io thread(s), rooms: %s, "
               "retention %lld day(s) or %llu message(s) per room, log level %s%s%s",
               o.version.c_str(), settings.listen.c_str(), tls.c_str(), data.c_str(),
               o.sync_full ? "full" : "normal", o.threads, rooms.c_str(),
               static_cast<long long>(std::chrono::duration_cast<std::chrono::hours>(o.retention.max_age).count() / 24),
               static_cast<unsigned long long>(o.retention.max_items), log::level_name(settings.log_level),
               settings.config_file.empty() ? "" : ", config ", settings.config_file.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    using namespace parley::relay;
    // What the relay creates (the database, its WAL) is the relay's alone: it
    // holds every room's metadata.
    ::umask(077);

    CLI::App app{about};
    RelaySettings settings;
    try {
        settings = read_settings(app, argc, argv);
    } catch (const CLI::ParseError& e) {
        return parley::config::usage_error(app, e, "parley-relay");
    } catch (const parley::config::ConfigError& e) {
        return fail(std::string(e.what()) + "\nhint: parley-relay --help lists the settings", exit_usage);
    } catch (const SettingsError& e) {
        return fail(e.what(), exit_usage);
    } catch (const std::exception& e) {
        return fail(e.what(), exit_startup_failure);
    }
    log::configure(settings.log_level, settings.log_format);
    auto& options = settings.options;

    if (!settings.backup_file.empty()) {
        try {
            const auto s = backup_database(options.data_dir, settings.backup_file);
            std::fprintf(stderr,
                         "parley-relay: backed up %s to %s: %llu bytes, %llu room chain(s), %llu record(s), "
                         "%llu stored message(s)\n",
                         (options.data_dir / "relay.sqlite").c_str(), settings.backup_file.c_str(),
                         static_cast<unsigned long long>(s.bytes), static_cast<unsigned long long>(s.chains),
                         static_cast<unsigned long long>(s.records), static_cast<unsigned long long>(s.messages));
            return 0;
        } catch (const std::exception& e) {
            return fail(e.what(), exit_startup_failure);
        }
    }

    try {
        if (settings.check_config) {
            // What the start would read: the founders file and the TLS files.
            if (!options.founders_file.empty()) (void)load_founders(options.founders_file);
            if (!options.cert_file.empty()) check_tls_files(options.cert_file, options.key_file);
            std::fprintf(stderr, "parley-relay: configuration OK (listen %s%s)\n", settings.listen.c_str(),
                         settings.config_file.empty() ? "" : (", " + settings.config_file).c_str());
            return 0;
        }
        // SIGHUP reads the command line and the file again: the server applies
        // what may change while it runs and says what has to wait for a restart.
        options.reread = [argc, argv] {
            CLI::App again{about};
            try {
                return read_settings(again, argc, argv).options;
            } catch (const CLI::ParseError& e) {
                throw std::runtime_error(e.what());
            }
        };
        const std::string data_path = options.data_dir.string();
        RelayServer server(options);
        log_start(settings);
        if (options.store == RelayOptions::Store::memory)
            PARLEY_LOG(warning, "--store memory: nothing is written to disk, every room and message is lost when "
                                "the relay stops (for benchmarks and tests)");
        else if (options.store == RelayOptions::Store::sqlite)
            PARLEY_LOG(info, "data in %s", data_path.c_str());
        // Before "listening on", at its level: whoever waits for that line finds this one too.
        if (const auto metrics = server.metrics_url(); !metrics.empty()) {
            PARLEY_LOG(notice, "metrics on %s/metrics", metrics.c_str());
            if (settings.metrics_beyond_loopback)
                PARLEY_LOG(warning, "metrics on %s are open beyond loopback: they show traffic volumes to anyone "
                                    "who can reach them", metrics.c_str());
        }
        PARLEY_LOG(notice, "listening on %s", server.url().c_str());
        notify_ready(server.url());
        server.run();
    } catch (const std::exception& e) {
        return fail(e.what(), exit_startup_failure);
    }
    return 0;
}
