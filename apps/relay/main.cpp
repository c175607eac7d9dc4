// parley-relay: routes encrypted frames between the members of a room.
//
// Messages: lowercase, no final period, a "hint:" line where one helps.
// Exit codes: 0 clean shutdown (SIGINT/SIGTERM), 1 start-up failure,
// 2 bad command line or a refused configuration.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <string>
#include <thread>

#include "relay/listen_address.h"
#include "relay/relay_limits.h"
#include "relay/relay_server.h"

namespace {

constexpr int exit_startup_failure = 1;
constexpr int exit_usage = 2;

}  // namespace

int main(int argc, char** argv) {
    using namespace parley::relay;

    CLI::App app{"parley-relay: the relay for Parley end-to-end-encrypted group chat"};
    std::string listen;
    std::string cert_file;
    std::string key_file;
    bool insecure_plaintext = false;
    unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    RelayLimits limits;
    std::string data_dir;
    std::string sync = "normal";
    unsigned retain_days = 30;
    std::uint64_t retain_messages = 100000;
    app.add_option("--listen", listen, "address to listen on, HOST:PORT (PORT 0 = any free port)")->required();
    auto* cert = app.add_option("--cert", cert_file, "TLS certificate chain (PEM); serves wss://");
    auto* key = app.add_option("--key", key_file, "TLS private key (PEM)");
    cert->needs(key);
    key->needs(cert);
    app.add_flag("--insecure-plaintext", insecure_plaintext,
                 "allow plain ws:// on a non-loopback address (behind a TLS proxy)");
    app.add_option("--threads", threads, "io threads (default: hardware concurrency)")
        ->check(CLI::Range(1u, 1024u));
    app.add_option("--max-frame-bytes", limits.max_frame_bytes, "largest frame a client may send")
        ->check(CLI::Range(std::size_t{1024}, std::size_t{64} << 20));
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
    CLI11_PARSE(app, argc, argv);

    std::string error;
    auto address = parse_listen_address(listen, error);
    if (!address) {
        std::fprintf(stderr, "parley-relay: invalid --listen '%s': %s\n", listen.c_str(), error.c_str());
        return exit_usage;
    }

    try {
        RelayOptions options;
        options.listen = resolve_listen_address(*address);
        options.cert_file = cert_file;
        options.key_file = key_file;
        options.threads = threads;
        options.limits = limits;
        options.data_dir = data_dir.empty() ? default_data_dir() : std::filesystem::path(data_dir);
        options.sync_full = sync == "full";
        options.retention.max_age = std::chrono::hours(24) * retain_days;
        options.retention.max_items = retain_messages;

        // Plain WebSocket off loopback would expose every frame's metadata.
        const bool tls = !cert_file.empty();
        if (!tls && !is_loopback(options.listen) && !insecure_plaintext) {
            std::fprintf(stderr,
                         "parley-relay: refusing plain ws:// on non-loopback address %s\n"
                         "hint: pass --cert FILE --key FILE for wss://, or --insecure-plaintext "
                         "if a TLS proxy sits in front\n",
                         address->host.c_str());
            return exit_usage;
        }

        const std::string data_path = options.data_dir.string();
        RelayServer server(std::move(options));
        std::fprintf(stderr, "parley-relay: data in %s\n", data_path.c_str());
        std::fprintf(stderr, "parley-relay: listening on %s\n", server.url().c_str());
        std::fflush(stderr);
        server.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "parley-relay: %s\n", e.what());
        return exit_startup_failure;
    }
    return 0;
}
