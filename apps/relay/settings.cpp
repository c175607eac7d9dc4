#include "settings.h"

#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

#include "config/relay_config.h"
#include "relay/admission.h"
#include "relay/listen_address.h"
#include "relay/metrics_listener.h"
#include "relay/relay_limits.h"

namespace parley::relay {

namespace {

constexpr std::size_t wire_max_records() { return parley::wire::max_records_per_chain; }

bool is_postgresql_url(const std::string& v) {
    return v.rfind("postgresql://", 0) == 0 || v.rfind("postgres://", 0) == 0;
}

std::string printf_string(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string printf_string(const char* format, ...) {
    char buffer[1024];
    va_list args;
    va_start(args, format);
    std::vsnprintf(buffer, sizeof buffer, format, args);
    va_end(args);
    return buffer;
}

}  // namespace

RelaySettings read_settings(CLI::App& app, int argc, const char* const* argv) {
    app.set_version_flag("--version", "parley-relay " PARLEY_VERSION);
    std::string listen;
    std::string cert_file;
    std::string key_file;
    bool insecure_plaintext = false;
    unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    RelayLimits limits;
    std::string store = "sqlite";
    std::string data_dir;
    std::string sync = "normal";
    unsigned retain_days = 30;
    std::uint64_t retain_messages = 100000;
    std::string founders_file;
    bool open_rooms = false;
    Quotas quotas;
    std::string backup_file;
    std::string config_file;
    bool check_config = false;
    std::string log_level = "info";
    std::string log_format = "auto";
    app.add_option("--config", config_file,
                   "read settings from this file (relay.toml: each option's name without --, = its value); "
                   "options on the command line win");
    app.add_flag("--check-config", check_config,
                 "check the command line and --config (the settings, the founders file, the certificate and key) "
                 "and exit: 0 if the relay would start with them");
    app.add_option("--listen", listen, "address to listen on, HOST:PORT (PORT 0 = any free port)");
    auto* cert = app.add_option("--cert", cert_file, "TLS certificate chain (PEM); serves wss://");
    auto* key = app.add_option("--key", key_file, "TLS private key (PEM)");
    cert->needs(key);
    key->needs(cert);
    app.add_flag("--insecure-plaintext", insecure_plaintext,
                 "allow plain ws:// on a non-loopback address (behind a TLS proxy)");
    app.add_option("--threads", threads, "io threads (default: hardware concurrency)")
        ->check(CLI::Range(1u, 1024u));
    std::string metrics_listen = default_metrics_listen;
    app.add_option("--metrics-listen", metrics_listen,
                   "address for GET /metrics (Prometheus) and /healthz over plain HTTP, HOST:PORT, or off")
        ->capture_default_str();
    // The limits (lib/relay/relay_limits.h has the defaults and why).
    unsigned handshake_s = static_cast<unsigned>(limits.handshake_timeout.count());
    unsigned idle_s = static_cast<unsigned>(limits.idle_timeout.count());
    app.add_option("--max-frame-bytes", limits.max_frame_bytes, "largest frame a client may send")
        ->check(CLI::Range(std::size_t{1024}, std::size_t{64} << 20))
        ->capture_default_str();
    app.add_option("--max-connections", limits.max_connections, "open connections in total")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
        ->capture_default_str();
    app.add_option("--max-connections-per-address", limits.max_connections_per_address,
                   "open connections from one IPv4 address or IPv6 /64")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
        ->capture_default_str();
    app.add_option("--max-rooms-per-connection", limits.max_chains_per_connection,
                   "rooms one connection may be joined to at once")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 16))
        ->capture_default_str();
    app.add_option("--max-send-queue-bytes", limits.max_send_queue_bytes,
                   "bytes waiting to go out to one connection before it is cut (it can resume later)")
        ->check(CLI::Range(std::size_t{4} << 10, std::size_t{1} << 30))
        ->capture_default_str();
    app.add_option("--messages-per-second", limits.messages_per_second,
                   "frames one connection may send per second (0 = no limit); over it, the relay "
                   "reads from that connection more slowly")
        ->check(CLI::Range(0.0, 1e9))
        ->capture_default_str();
    app.add_option("--message-burst", limits.message_burst,
                   "frames one connection may send at once above that rate")
        ->check(CLI::Range(1.0, 1e9))
        ->capture_default_str();
    app.add_option("--bytes-per-second", limits.bytes_per_second,
                   "bytes of frames one connection may send per second (0 = no limit); over it, "
                   "the relay reads from that connection more slowly")
        ->check(CLI::Range(0.0, 1e12))
        ->capture_default_str();
    app.add_option("--byte-burst", limits.byte_burst, "bytes one connection may send at once above that rate")
        ->check(CLI::Range(1.0, 1e12))
        ->capture_default_str();
    app.add_option("--handshake-timeout", handshake_s,
                   "seconds from connect to a complete WebSocket upgrade request, TLS included")
        ->check(CLI::Range(1u, 3600u))
        ->capture_default_str();
    app.add_option("--idle-timeout", idle_s,
                   "seconds without a frame from a client before it is closed (pinged at half)")
        ->check(CLI::Range(2u, 86400u))
        ->capture_default_str();
    app.add_option("--store", store,
                   "where rooms and messages are kept: sqlite (relay.sqlite in --data), a PostgreSQL URI "
                   "(postgresql://USER@HOST/DB, which several relays may share; the password in ~/.pgpass), "
                   "or memory (nothing is written to disk and everything is lost when the relay stops: for "
                   "benchmarks and tests, loopback only)")
        ->check([](const std::string& v) {
            return v == "sqlite" || v == "memory" || is_postgresql_url(v)
                       ? std::string()
                       : "must be sqlite, memory or postgresql://...";
        })
        ->capture_default_str();
    app.add_option("--data", data_dir,
                   "directory for relay.sqlite (default: $XDG_STATE_HOME/parley-relay or "
                   "~/.local/state/parley-relay; created 0700)");
    app.add_option("--sync", sync,
                   "normal: what is acknowledged survives a relay crash or kill -9; full: also a power "
                   "loss (an fsync per commit)")
        ->check(CLI::IsMember({"normal", "full"}));
    app.add_option("--retain-days", retain_days, "drop stored messages older than this (default 30)")
        ->check(CLI::Range(1u, 36500u));
    app.add_option("--retain-messages", retain_messages,
                   "keep at most this many stored messages per chain (default 100000)")
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40));
    // Who may create rooms, and what any room may store (lib/relay/admission.h).
    app.add_option("--founders", founders_file,
                   "only these keys may create rooms: PEM public keys (cat public_keys/*.pem) or 64-hex-digit "
                   "lines; re-read on SIGHUP");
    app.add_flag("--open-rooms", open_rooms, "anyone may create rooms, within the quotas");
    app.add_option("--rooms-per-founder-per-hour", quotas.rooms_per_founder_per_hour,
                   "new rooms one key may create in an hour")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
        ->capture_default_str();
    app.add_option("--rooms-per-address-per-hour", quotas.rooms_per_address_per_hour,
                   "new rooms one IPv4 address or IPv6 /64 may create in an hour")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
        ->capture_default_str();
    app.add_option("--max-room-bytes", quotas.max_room_bytes, "bytes one room may store (records and messages)")
        ->check(CLI::Range(std::uint64_t{1} << 20, std::uint64_t{1} << 50))
        ->capture_default_str();
    app.add_option("--max-total-bytes", quotas.max_total_bytes, "bytes all rooms together may store")
        ->check(CLI::Range(std::uint64_t{1} << 20, std::uint64_t{1} << 50))
        ->capture_default_str();
    app.add_option("--max-chain-records", quotas.max_chain_records, "epoch records one room may hold")
        ->check(CLI::Range(std::size_t{2}, wire_max_records()))
        ->capture_default_str();
    app.add_option("--chain-page-bytes", limits.chain_page_bytes,
                   "records in one page of a room's chain (at least one record)")
        ->check(CLI::Range(std::size_t{1024}, std::size_t{4} << 20))
        ->capture_default_str();
    app.add_option("--backup", backup_file,
                   "write a consistent copy of the database in --data to this new file and exit (the relay may "
                   "be running)");
    app.add_option("--log-level", log_level,
                   "the least important lines logged: error, warning, notice, info or debug (each connection)")
        ->check(CLI::IsMember({"error", "warning", "notice", "info", "debug"}))
        ->capture_default_str();
    app.add_option("--log-format", log_format,
                   "plain (a time stamp on each line), journal (a <priority> prefix, no time: journald adds it) "
                   "or auto (journal when stderr is the journal)")
        ->check(CLI::IsMember({"auto", "plain", "journal"}))
        ->capture_default_str();

    app.parse(argc, argv);
    if (!config_file.empty()) {
        parley::config::apply_relay_config(
            app, config_file,
            {{"cert", "key", "data", "founders"}, {"config", "check-config", "backup", "help", "version"}});
    }
    if (cert_file.empty() != key_file.empty())
        throw CLI::ValidationError(cert_file.empty() ? "--key" : "--cert",
                                   "needs " + std::string(cert_file.empty() ? "--cert" : "--key") + " too");
    if (backup_file.empty() && listen.empty()) throw CLI::RequiredError("--listen");
    if (!backup_file.empty() && !listen.empty())
        throw CLI::ValidationError("--backup", "copies the database and exits: it takes no --listen");

    RelaySettings s;
    s.listen = listen;
    s.config_file = config_file;
    s.backup_file = backup_file;
    s.check_config = check_config;
    s.log_level = *log::parse_level(log_level);
    s.log_format = log_format == "auto" ? log::detect_format() : log_format == "journal" ? log::Format::journal
                                                                                         : log::Format::plain;
    auto& options = s.options;
    options.store = store == "memory"             ? RelayOptions::Store::memory
                    : is_postgresql_url(store) ? RelayOptions::Store::postgresql
                                               : RelayOptions::Store::sqlite;
    if (options.store == RelayOptions::Store::memory) {
        if (!data_dir.empty() || !backup_file.empty())
            throw SettingsError(std::string("--store memory keeps nothing on disk: it takes no ") +
                                (backup_file.empty() ? "--data" : "--backup") +
                                "\nhint: drop --store memory to keep rooms and messages in --data");
    } else if (options.store == RelayOptions::Store::postgresql) {
        if (!data_dir.empty() || !backup_file.empty())
            throw SettingsError(std::string("--store postgresql://... keeps everything in the database: it takes no ") +
                                (backup_file.empty() ? "--data" : "--backup") +
                                "\nhint: back the database up with pg_dump, or drop --store to use --data");
        options.store_url = store;
    } else {
        options.data_dir = data_dir.empty() ? default_data_dir() : std::filesystem::path(data_dir);
    }
    if (!backup_file.empty()) return s;

    if (!founders_file.empty() && open_rooms)
        throw SettingsError("--founders and --open-rooms exclude each other\n"
                            "hint: pick one: only the listed keys create rooms, or anyone does");
    limits.handshake_timeout = std::chrono::seconds(handshake_s);
    limits.idle_timeout = std::chrono::seconds(idle_s);
    // A frame and a backlog page have to fit in a send queue, with room to spare.
    if (limits.max_send_queue_bytes < 4 * limits.max_frame_bytes)
        throw SettingsError(printf_string("--max-send-queue-bytes %zu is too small for --max-frame-bytes %zu\n"
                                          "hint: the send queue has to hold at least four frames (%zu bytes)",
                                          limits.max_send_queue_bytes, limits.max_frame_bytes,
                                          4 * limits.max_frame_bytes));
    limits.fit_backlog_to_send_queue();
    // While the byte limit makes a connection wait, nothing is read from it, and
    // the idle timeout counts that time: one frame's wait must stay well inside it.
    if (limits.bytes_per_second > 0 &&
        static_cast<double>(limits.max_frame_bytes) / limits.bytes_per_second * 4 >
            static_cast<double>(limits.idle_timeout.count()))
        throw SettingsError(printf_string(
            "--bytes-per-second %.0f is too low for --max-frame-bytes %zu and --idle-timeout %u\n"
            "hint: one frame's worth of bytes must take at most a quarter of the idle timeout",
            limits.bytes_per_second, limits.max_frame_bytes, idle_s));

    std::string error;
    auto address = parse_listen_address(listen, error);
    if (!address) throw SettingsError("invalid --listen '" + listen + "': " + error);
    if (metrics_listen != "off") {
        auto metrics_address = parse_listen_address(metrics_listen, error);
        if (!metrics_address)
            throw SettingsError("invalid --metrics-listen '" + metrics_listen + "': " + error +
                                "\nhint: HOST:PORT, or off");
        options.metrics_listen = resolve_listen_address(*metrics_address);
        s.metrics_beyond_loopback = !is_loopback(*options.metrics_listen);
    }
    options.listen = resolve_listen_address(*address);
    options.cert_file = cert_file;
    options.key_file = key_file;
    options.threads = threads;
    options.limits = limits;
    options.sync_full = sync == "full";
    options.retention.max_age = std::chrono::hours(24) * retain_days;
    options.retention.max_items = retain_messages;
    options.founders_file = founders_file;
    options.quotas = quotas;
    options.version = PARLEY_VERSION;
    options.log_level = s.log_level;

    // Plain WebSocket off loopback would expose every frame's metadata.
    if (cert_file.empty() && !is_loopback(options.listen) && !insecure_plaintext)
        throw SettingsError("refusing plain ws:// on non-loopback address " + address->host +
                            "\nhint: pass --cert FILE --key FILE for wss://, or --insecure-plaintext "
                            "if a TLS proxy sits in front");
    // What a memory store acknowledges is gone when the relay stops: never for real members.
    if (options.store == RelayOptions::Store::memory && !is_loopback(options.listen))
        throw SettingsError("refusing --store memory on non-loopback address " + address->host +
                            ": every acknowledged message would be lost when the relay stops\nhint: it is for "
                            "benchmarks and tests on loopback; drop it to store in --data");
    // Anyone who can reach a relay could fill it with rooms: off loopback,
    // the operator says who may create them.
    if (founders_file.empty() && !open_rooms && !is_loopback(options.listen))
        throw SettingsError("who may create rooms? refusing to listen on " + address->host +
                            " without saying\nhint: pass --founders FILE (only those keys: cat public_keys/*.pem > "
                            "FILE) or --open-rooms (anyone, within the quotas)");
    return s;
}

}  // namespace parley::relay
