#include "relay/relay_server.h"

#include <malloc.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>

#include "relay/log.h"
#include "relay/memory_relay_store.h"
#include "relay/pg_relay_store.h"
#include "relay/readiness.h"
#include "relay/sqlite_relay_store.h"
#include "relay/tls_stream.h"

namespace parley::relay {

namespace asio = boost::asio;

namespace {

constexpr std::chrono::milliseconds shutdown_poll{20};
constexpr std::chrono::minutes prune_interval{1};
constexpr std::chrono::seconds trim_interval{2};
constexpr std::uint64_t trim_after_closed = 64;

unsigned long long load(const std::atomic<std::uint64_t>& counter) {
    return static_cast<unsigned long long>(counter.load(std::memory_order_relaxed));
}

// Every setting a SIGHUP compares, by its option name (as in relay.toml):
// `live` ones are applied at once, the others wait for a restart.
struct Setting {
    const char* name;
    std::string (*show)(const RelayOptions&);
    bool live;
};

template <class T>
std::string text(const T& value) {
    if constexpr (std::is_same_v<T, double>) {
        char buffer[32];
        std::snprintf(buffer, sizeof buffer, "%g", value);
        return buffer;
    } else if constexpr (std::is_same_v<T, std::chrono::seconds>) {
        return std::to_string(value.count());
    } else if constexpr (std::is_same_v<T, bool>) {
        return value ? "true" : "false";
    } else {
        return std::to_string(value);
    }
}

std::string endpoint_text(const std::optional<asio::ip::tcp::endpoint>& e) {
    return e ? host_port(*e) : "off";
}

}  // namespace

std::string store_text(const RelayOptions& options) {
    switch (options.store) {
    case RelayOptions::Store::memory: return "memory";
    case RelayOptions::Store::postgresql: return PgRelayStore::redacted(options.store_url);
    case RelayOptions::Store::sqlite: break;
    }
    return "sqlite";
}

namespace {

const std::vector<Setting>& reloadable_settings() {
    // clang-format off
    static const std::vector<Setting> all{
        {"max-frame-bytes",             [](const RelayOptions& o) { return text(o.limits.max_frame_bytes); }, true},
        {"max-connections",             [](const RelayOptions& o) { return text(o.limits.max_connections); }, true},
        {"max-connections-per-address", [](const RelayOptions& o) { return text(o.limits.max_connections_per_address); }, true},
        {"max-rooms-per-connection",    [](const RelayOptions& o) { return text(o.limits.max_chains_per_connection); }, true},
        {"max-send-queue-bytes",        [](const RelayOptions& o) { return text(o.limits.max_send_queue_bytes); }, true},
        {"messages-per-second",         [](const RelayOptions& o) { return text(o.limits.messages_per_second); }, true},
        {"message-burst",               [](const RelayOptions& o) { return text(o.limits.message_burst); }, true},
        {"bytes-per-second",            [](const RelayOptions& o) { return text(o.limits.bytes_per_second); }, true},
        {"byte-burst",                  [](const RelayOptions& o) { return text(o.limits.byte_burst); }, true},
        {"handshake-timeout",           [](const RelayOptions& o) { return text(o.limits.handshake_timeout); }, true},
        {"idle-timeout",                [](const RelayOptions& o) { return text(o.limits.idle_timeout); }, true},
        {"chain-page-bytes",            [](const RelayOptions& o) { return text(o.limits.chain_page_bytes); }, true},
        {"rooms-per-founder-per-hour",  [](const RelayOptions& o) { return text(o.quotas.rooms_per_founder_per_hour); }, true},
        {"rooms-per-address-per-hour",  [](const RelayOptions& o) { return text(o.quotas.rooms_per_address_per_hour); }, true},
        {"max-room-bytes",              [](const RelayOptions& o) { return text(o.quotas.max_room_bytes); }, true},
        {"max-total-bytes",             [](const RelayOptions& o) { return text(o.quotas.max_total_bytes); }, true},
        {"max-chain-records",           [](const RelayOptions& o) { return text(o.quotas.max_chain_records); }, true},
        {"retain-days",                 [](const RelayOptions& o) { return text(std::chrono::duration_cast<std::chrono::hours>(o.retention.max_age).count() / 24); }, true},
        {"retain-messages",             [](const RelayOptions& o) { return text(o.retention.max_items); }, true},
        {"log-level",                   [](const RelayOptions& o) { return std::string(log::level_name(o.log_level)); }, true},
        {"founders",                    [](const RelayOptions& o) { return o.founders_file.empty() ? std::string("(none: open rooms)") : o.founders_file.string(); }, true},
        {"cert",                        [](const RelayOptions& o) { return o.cert_file.empty() ? std::string("(none: ws://)") : o.cert_file; }, true},
        {"key",                         [](const RelayOptions& o) { return o.key_file.empty() ? std::string("(none)") : o.key_file; }, true},
        {"listen",                      [](const RelayOptions& o) { return host_port(o.listen); }, false},
        {"store",                       [](const RelayOptions& o) { return store_text(o); }, false},
        {"data",                        [](const RelayOptions& o) { return o.data_dir.string(); }, false},
        {"threads",                     [](const RelayOptions& o) { return text(o.threads); }, false},
        {"sync",                        [](const RelayOptions& o) { return std::string(o.sync_full ? "full" : "normal"); }, false},
        {"metrics-listen",              [](const RelayOptions& o) { return endpoint_text(o.metrics_listen); }, false},
    };
    // clang-format on
    return all;
}

std::unique_ptr<DataDir> open_data_dir(const RelayOptions& options) {
    if (options.store != RelayOptions::Store::sqlite) return nullptr;
    return std::make_unique<DataDir>(options.data_dir);
}

// Opens the database in the data directory (made safe and locked by DataDir),
// or the memory store.
std::unique_ptr<RelayStore> open_store(const RelayOptions& options) {
    if (options.store == RelayOptions::Store::memory) return std::make_unique<MemoryRelayStore>();
    try {
        if (options.store == RelayOptions::Store::postgresql) return std::make_unique<PgRelayStore>(options.store_url);
        return std::make_unique<SqliteRelayStore>(
            options.data_dir, options.sync_full ? SqliteRelayStore::Sync::full : SqliteRelayStore::Sync::normal);
    } catch (const StorageError& e) {
        throw std::runtime_error(e.what());
    }
}

// "subject CN=relay.example, expires Mar  1 12:00:00 2027 GMT": for the log.
std::string describe_certificate(SSL_CTX* ctx) {
    X509* cert = SSL_CTX_get0_certificate(ctx);
    if (cert == nullptr) return "no certificate";
    BIO* bio = BIO_new(BIO_s_mem());
    if (bio == nullptr) return "?";
    BIO_puts(bio, "subject ");
    X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
    BIO_puts(bio, ", expires ");
    ASN1_TIME_print(bio, X509_get0_notAfter(cert));
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n > 0 ? n : 0));
    BIO_free(bio);
    return out;
}

// The relay's first handshake flight (ServerHello to Finished, the certificate
// chain included) goes out through TlsStream's output, which is capped at
// TlsStream::max_pending_output_bytes (tls_stream.h). A chain that cannot fit
// would fail every handshake, so it is refused here, at start. 8 KiB of the
// cap is left for the rest of the flight: a few hundred bytes of hellos and
// extensions, a signature of at most 512 bytes (RSA-4096), record headers.
void check_chain_fits_first_flight(SSL_CTX* ctx, const std::string& cert_file) {
    constexpr std::size_t budget = TlsStream::max_pending_output_bytes - 8 * 1024;
    std::size_t bytes = 0;
    const auto add = [&](X509* cert) {
        const int n = i2d_X509(cert, nullptr);
        if (n > 0) bytes += static_cast<std::size_t>(n) + 5;  // + its length and extensions fields
    };
    add(SSL_CTX_get0_certificate(ctx));
    STACK_OF(X509)* chain = nullptr;
    SSL_CTX_get_extra_chain_certs(ctx, &chain);  // or the chain the file loaded
    for (int i = 0; chain && i < sk_X509_num(chain); ++i) add(sk_X509_value(chain, i));
    if (bytes > budget)
        throw std::runtime_error(
            "certificate chain in " + cert_file + " is " + std::to_string(bytes) +
            " bytes; the relay sends it in a first handshake flight of at most " +
            std::to_string(TlsStream::max_pending_output_bytes / 1024) + " KiB, which leaves " +
            std::to_string(budget) +
            " bytes for the chain (leave out the root and any certificate the " +
            "clients do not need)");
}

std::unique_ptr<asio::ssl::context> make_tls_context(const std::string& cert_file,
                                                     const std::string& key_file) {
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    // TLS 1.3 only. Parley's own client is the only client and speaks it, and
    // it leaves out what TlsStream (tls_stream.h) would otherwise have to
    // handle: renegotiation (a write that must read) and the TLS 1.2 cipher
    // suites and key exchanges without forward secrecy. A TLS 1.2 client gets
    // a protocol_version alert and the handshake fails.
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_3_VERSION);
    // Kept should the minimum ever be lowered again: TlsStream relies on a
    // write never having to read.
    SSL_CTX_set_options(ctx->native_handle(), SSL_OP_NO_RENEGOTIATION);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3);
    // An idle TLS connection gives its ~34 KiB of read and write record
    // buffers back to the allocator; they are taken again when data flows.
    SSL_CTX_set_mode(ctx->native_handle(), SSL_MODE_RELEASE_BUFFERS);
    // No session resumption: no tickets and no cache. With TLS 1.3 only a
    // stolen ticket key no longer decrypts recorded sessions (resumption keeps
    // an ephemeral key exchange), but a cache or tickets still cost memory per
    // session, and a member keeps one long-lived connection, so a full
    // handshake per connect costs nothing worth it. SSL_OP_NO_TICKET also
    // matters should the minimum ever be lowered to TLS 1.2 again.
    SSL_CTX_set_options(ctx->native_handle(), SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx->native_handle(), 0);
    SSL_CTX_set_session_cache_mode(ctx->native_handle(), SSL_SESS_CACHE_OFF);
    boost::system::error_code ec;
    ctx->use_certificate_chain_file(cert_file, ec);
    if (ec) throw std::runtime_error("cannot load certificate " + cert_file + ": " + ec.message());
    ctx->use_private_key_file(key_file, asio::ssl::context::pem, ec);
    if (ec) throw std::runtime_error("cannot load private key " + key_file + ": " + ec.message());
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
        throw std::runtime_error("private key " + key_file + " does not match certificate " +
                                 cert_file);
    check_chain_fits_first_flight(ctx->native_handle(), cert_file);
    return ctx;
}

}  // namespace

void check_tls_files(const std::string& cert_file, const std::string& key_file) {
    (void)make_tls_context(cert_file, key_file);
}

static std::shared_ptr<Admission> make_admission(const RelayOptions& options) {
    std::optional<std::set<PublicKeyBytes>> founders;
    if (!options.founders_file.empty()) founders = load_founders(options.founders_file);
    return std::make_shared<Admission>(options.quotas, std::move(founders));
}

std::filesystem::path default_data_dir() {
    if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg)
        return std::filesystem::path(xdg) / "parley-relay";
    if (const char* home = std::getenv("HOME"); home && *home)
        return std::filesystem::path(home) / ".local" / "state" / "parley-relay";
    return {};
}

RelayServer::RelayServer(RelayOptions options)
    : options_(std::move(options)),
      data_dir_(open_data_dir(options_)),
      state_(open_store(options_), options_.limits, {}, make_admission(options_)),
      connections_(options_.limits.max_connections, options_.limits.max_connections_per_address),
      ioc_(static_cast<int>(std::max(1u, options_.threads))),
      strand_(boost::asio::make_strand(ioc_)),
      signals_(strand_, SIGINT, SIGTERM),
      reload_signals_(strand_, SIGHUP),
      shutdown_timer_(ioc_),
      prune_timer_(strand_),
      trim_timer_(strand_) {
    prune();
    if (!options_.cert_file.empty() || !options_.key_file.empty())
        tls_ = make_tls_context(options_.cert_file, options_.key_file);
    try {
        listener_ = std::make_shared<Listener>(ioc_, options_.listen, tls_.get(), state_, connections_);
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error("cannot listen on " + listen_url(options_.listen, tls_ != nullptr) +
                                 ": " + e.code().message());
    }
    if (options_.metrics_listen) {
        try {
            metrics_listener_ = std::make_shared<MetricsListener>(ioc_, *options_.metrics_listen, [this, version = options_.version] {
                // Its own copy of the version: a reload replaces options_ on another thread.
                return state_.metrics().render({connections_.size(), state_.rooms_in_memory(), version});
            });
        } catch (const boost::system::system_error& e) {
            throw std::runtime_error("cannot listen for metrics on " + host_port(*options_.metrics_listen) + ": " +
                                     e.code().message() +
                                     "\nhint: pick another --metrics-listen address, or --metrics-listen off");
        }
    }
}

RelayServer::~RelayServer() = default;

std::string RelayServer::url() const { return listen_url(listener_->local_endpoint(), tls_ != nullptr); }

std::string RelayServer::metrics_url() const {
    return metrics_listener_ ? "http://" + host_port(metrics_listener_->local_endpoint()) : "";
}

void RelayServer::run() {
    const unsigned io_threads = std::max(1u, options_.threads);  // before a SIGHUP can touch options_
    signals_.async_wait([this](boost::system::error_code ec, int) {
        if (!ec) on_signal();
    });
    wait_for_reload();
    listener_->run();
    if (metrics_listener_) metrics_listener_->run();
    schedule_prune();
    schedule_trim();
    std::vector<std::thread> threads;
    for (unsigned i = 1; i < io_threads; ++i) threads.emplace_back([this] { ioc_.run(); });
    ioc_.run();
    for (auto& t : threads) t.join();
}

void RelayServer::wait_for_reload() {
    reload_signals_.async_wait([this](boost::system::error_code ec, int) {
        if (ec) return;
        notify_reloading();
        PARLEY_LOG(notice, "SIGHUP: reloading the settings, the founders file and the certificate");
        reload_settings();
        reload_founders();
        reload_tls();
        notify_ready(url());
        wait_for_reload();
    });
}

// SIGHUP: the founders file again. A file that does not parse keeps the list
// in force, and says why.
void RelayServer::reload_founders() {
    if (options_.founders_file.empty()) {
        PARLEY_LOG(info, "SIGHUP: no --founders file to reload (an open relay)");
        return;
    }
    try {
        auto founders = load_founders(options_.founders_file);
        const auto count = founders.size();
        state_.admission().set_founders(std::move(founders));
        PARLEY_LOG(notice, "reloaded %s: %zu founder key(s)", options_.founders_file.c_str(), count);
    } catch (const std::exception& e) {
        PARLEY_LOG(error, "SIGHUP: %s; the founder list in force is unchanged", e.what());
    }
}

// SIGHUP: the certificate and key again (a renewal). New handshakes use the
// new pair; open connections keep theirs. A pair that does not load (or does
// not match) keeps the one in force, and says why. The contexts before stay
// alive (a few KiB each) until the relay stops: an accept on another thread
// may be making a session with one at this moment.
void RelayServer::reload_tls() {
    if (!tls_) return;
    try {
        auto fresh = make_tls_context(options_.cert_file, options_.key_file);
        const auto about = describe_certificate(fresh->native_handle());
        listener_->set_tls(fresh.get());
        retired_tls_.push_back(std::move(tls_));
        tls_ = std::move(fresh);
        PARLEY_LOG(notice, "reloaded certificate %s (%s); new connections use it", options_.cert_file.c_str(),
                   about.c_str());
    } catch (const std::exception& e) {
        PARLEY_LOG(error, "SIGHUP: %s; the certificate in force is unchanged", e.what());
    }
}

// SIGHUP: the command line and --config again. What may change while the
// relay runs (limits, quotas, retention, the founders file's and the
// certificate's paths, the log level) is applied, each change logged as
// "NAME: BEFORE -> AFTER"; the rest (where it listens, its data, its
// threads) is logged as waiting for a restart. Settings that do not read
// leave everything in force as it was.
void RelayServer::reload_settings() {
    if (!options_.reread) return;
    RelayOptions fresh;
    try {
        fresh = options_.reread();
    } catch (const std::exception& e) {
        PARLEY_LOG(error, "SIGHUP: %s; the settings in force are unchanged", e.what());
        return;
    }
    // Turning TLS or the founder list on or off changes what the relay is:
    // that takes a restart, whatever the table says of the paths.
    const bool tls_flips = fresh.cert_file.empty() != options_.cert_file.empty();
    const bool founders_flip = fresh.founders_file.empty() != options_.founders_file.empty();
    std::size_t changed = 0;
    for (const auto& setting : reloadable_settings()) {
        const auto before = setting.show(options_);
        const auto after = setting.show(fresh);
        if (before == after) continue;
        ++changed;
        const std::string_view name = setting.name;
        const bool flips = (tls_flips && (name == "cert" || name == "key")) || (founders_flip && name == "founders");
        if (setting.live && !flips)
            PARLEY_LOG(notice, "%s: %s -> %s", setting.name, before.c_str(), after.c_str());
        else
            PARLEY_LOG(warning, "%s: %s -> %s takes a restart; still %s", setting.name, before.c_str(),
                       after.c_str(), before.c_str());
    }
    if (changed == 0) PARLEY_LOG(info, "SIGHUP: no setting changed");
    // What a restart needs stays as it is; the rest is the fresh settings.
    fresh.listen = options_.listen;
    fresh.store = options_.store;
    fresh.data_dir = options_.data_dir;
    fresh.threads = options_.threads;
    fresh.sync_full = options_.sync_full;
    fresh.metrics_listen = options_.metrics_listen;
    if (fresh.cert_file.empty() != options_.cert_file.empty()) {
        fresh.cert_file = options_.cert_file;
        fresh.key_file = options_.key_file;
    }
    if (fresh.founders_file.empty() != options_.founders_file.empty()) fresh.founders_file = options_.founders_file;
    fresh.reread = std::move(options_.reread);
    options_ = std::move(fresh);
    state_.live_limits().set(options_.limits);
    connections_.set_caps(options_.limits.max_connections, options_.limits.max_connections_per_address);
    state_.set_quotas(options_.quotas);
    log::set_level(options_.log_level);
}

void RelayServer::on_signal() {
    reload_signals_.cancel();
    notify_stopping();
    const auto& m = state_.metrics();
    const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_);
    PARLEY_LOG(notice,
               "shutting down: %zu connection(s) open; since the start %lld s ago: %llu connection(s) closed, "
               "%llu refused, %llu message(s) stored, %llu frame(s) in, %llu out, %llu storage error(s)",
               connections_.size(), static_cast<long long>(uptime.count()),
               static_cast<unsigned long long>(connections_.closed_total()), load(m.refused_connections),
               load(m.messages_stored), load(m.frames_in), load(m.frames_out), load(m.storage_errors));
    listener_->stop();
    if (metrics_listener_) metrics_listener_->stop();
    prune_timer_.cancel();
    trim_timer_.cancel();
    connections_.close_all();
    wait_for_sessions(std::chrono::steady_clock::now() + shutdown_grace);
}

// Retention (--retain-days, --retain-messages): at start-up, then every minute.
void RelayServer::prune() {
    try {
        if (auto removed = state_.prune(options_.retention); removed > 0)
            PARLEY_LOG(info, "retention removed %zu stored item(s)", removed);
    } catch (const StorageError& e) {
        PARLEY_LOG(error, "storage: retention failed, will retry: %s", e.what());
    }
}

void RelayServer::schedule_prune() {
    prune_timer_.expires_after(prune_interval);
    prune_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        prune();
        schedule_prune();
    });
}

// After many connections have gone, or a slow consumer's queue was dropped,
// give the freed memory back: glibc keeps freed chunks in each thread's arena
// and only returns the top of the heap on its own, so after a burst of
// connections the relay's resident size would stay at its peak. malloc_trim
// walks the arenas (about a millisecond for a busy relay): it runs at most
// every few seconds, only after such an event, and on the two ticks after it
// too: a cut connection's queue is freed when its session ends, which on a
// busy machine can be after the tick that saw the cut.
void RelayServer::schedule_trim() {
    trim_timer_.expires_after(trim_interval);
    trim_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        const auto closed = connections_.closed_total();
        const auto cuts = state_.metrics().slow_consumers_cut.load(std::memory_order_relaxed);
        if (closed - closed_at_last_trim_ >= trim_after_closed || cuts != cuts_at_last_trim_) {
            trims_left_ = 3;
            closed_at_last_trim_ = closed;
            cuts_at_last_trim_ = cuts;
        }
        if (trims_left_ > 0) {
            --trims_left_;
            ::malloc_trim(0);
        }
        schedule_trim();
    });
}

// Stops the io_context once every session has closed. At the deadline, the
// sessions still open (a peer that reads nothing holds their close frame's
// write) get their sockets closed, which ends every operation they have in
// flight, so they finish too; only if even that takes over a second is the
// io_context stopped with them still there.
void RelayServer::wait_for_sessions(std::chrono::steady_clock::time_point deadline, bool aborted) {
    if (connections_.size() == 0) return ioc_.stop();
    if (std::chrono::steady_clock::now() >= deadline) {
        if (aborted) return ioc_.stop();
        PARLEY_LOG(warning, "closing %zu connection(s) that did not finish closing", connections_.size());
        connections_.abort_all();
        deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        aborted = true;
    }
    shutdown_timer_.expires_after(shutdown_poll);
    shutdown_timer_.async_wait([this, deadline, aborted](boost::system::error_code ec) {
        if (!ec) wait_for_sessions(deadline, aborted);
    });
}

}  // namespace parley::relay
