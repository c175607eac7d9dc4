// The whole relay: TLS context, listener, sessions and a pool of io threads,
// stopped cleanly by SIGINT or SIGTERM. Under systemd it says when it reloads
// (SIGHUP) and stops (relay/readiness.h).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "relay/connection_set.h"
#include "relay/data_dir.h"
#include "relay/listen_address.h"
#include "relay/listener.h"
#include "relay/log.h"
#include "relay/metrics_listener.h"
#include "relay/relay_limits.h"
#include "relay/relay_state.h"

namespace parley::relay {

struct RelayOptions {
    boost::asio::ip::tcp::endpoint listen;
    std::string cert_file;  // PEM chain; both set = wss://
    std::string key_file;   // PEM private key
    unsigned threads = 1;
    RelayLimits limits;
    // Where rooms and messages are kept: relay.sqlite in data_dir, a
    // PostgreSQL database several relays may share (store_url, issue 14), or
    // the process's memory (MemoryRelayStore: lost when it stops; benchmarks
    // and tests only, the settings allow it on loopback only).
    enum class Store { sqlite, memory, postgresql };
    Store store = Store::sqlite;
    std::string store_url;  // postgresql: a libpq URI (its password best in ~/.pgpass, not here)
    std::filesystem::path data_dir;  // sqlite: holds relay.sqlite; created 0700 if missing, tightened, locked (data_dir.h)
    bool sync_full = false;          // synchronous=FULL: survive power loss, not only a crash
    RetentionPolicy retention;
    // Who may create rooms: the keys in this file (re-read on SIGHUP), or
    // anyone when empty. Both within `quotas`.
    std::filesystem::path founders_file;
    Quotas quotas;
    // Where GET /metrics is served (relay/metrics_listener.h); none: nowhere.
    std::optional<boost::asio::ip::tcp::endpoint> metrics_listen;
    std::string version;  // the project version, for parley_relay_build_info
    log::Level log_level = log::Level::info;
    // SIGHUP: the settings as they read now (the command line and --config
    // again); throws what is wrong with them. None: SIGHUP re-reads only the
    // founders file and the certificate.
    std::function<RelayOptions()> reread;
};

// The store as settings and logs show it: sqlite, memory, or the PostgreSQL
// URI without its password.
std::string store_text(const RelayOptions& options);

// $XDG_STATE_HOME/parley-relay, else $HOME/.local/state/parley-relay; empty if
// neither variable is set.
std::filesystem::path default_data_dir();

// Loads the certificate chain and key as a start (and a SIGHUP) would, and
// throws what they would say (--check-config).
void check_tls_files(const std::string& cert_file, const std::string& key_file);

class RelayServer {
public:
    // Opens the database (creating the data directory), prunes it, loads the
    // certificate and binds. Throws std::runtime_error with a user-facing
    // message on any start-up failure.
    explicit RelayServer(RelayOptions options);
    ~RelayServer();

    // ws://HOST:PORT or wss://HOST:PORT with the port actually bound.
    std::string url() const;
    // http://HOST:PORT of the metrics address as bound; "" when it is off.
    std::string metrics_url() const;

    // Serves until SIGINT or SIGTERM, then stops accepting, closes every
    // session (waiting up to shutdown_grace) and joins the io threads.
    void run();

private:
    void on_signal();
    void wait_for_reload();
    void reload_settings();
    void reload_founders();
    void reload_tls();
    void schedule_prune();
    void prune();
    void schedule_trim();
    void wait_for_sessions(std::chrono::steady_clock::time_point deadline, bool aborted = false);

    RelayOptions options_;
    std::unique_ptr<DataDir> data_dir_;  // sqlite: 0700, locked, before the store opens in it
    // Declared before ioc_: sessions destroyed with the io_context use them.
    RelayState state_;
    ConnectionSet connections_;
    std::unique_ptr<boost::asio::ssl::context> tls_;
    std::vector<std::unique_ptr<boost::asio::ssl::context>> retired_tls_;  // before SIGHUPs (reload_tls)
    boost::asio::io_context ioc_;
    // SIGHUP's reload, retention's prune and the stop run here, one at a
    // time: they read options_ (a reload replaces it) and share the timers.
    boost::asio::strand<boost::asio::io_context::executor_type> strand_;
    boost::asio::signal_set signals_;  // on strand_ too: a stop never runs beside a reload
    boost::asio::signal_set reload_signals_;  // SIGHUP: the settings, --founders, --cert and --key again
    boost::asio::steady_timer shutdown_timer_;
    boost::asio::steady_timer prune_timer_;
    boost::asio::steady_timer trim_timer_;
    std::uint64_t closed_at_last_trim_ = 0;
    std::uint64_t cuts_at_last_trim_ = 0;
    int trims_left_ = 0;  // ticks that still trim after an event
    std::shared_ptr<Listener> listener_;
    std::shared_ptr<MetricsListener> metrics_listener_;  // null: --metrics-listen off
    const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace parley::relay
