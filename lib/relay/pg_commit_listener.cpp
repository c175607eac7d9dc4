#include "relay/pg_commit_listener.h"

#include <endian.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include "relay/log.h"
#include "relay/pg_relay_store.h"

namespace parley::relay {
namespace {

std::string trimmed(const char* message) {
    std::string out = message ? message : "";
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
}

}  // namespace

PgCommitListener::PgCommitListener(std::string conninfo, std::string shown, std::string node, CommitWatcher watcher)
    : conninfo_(std::move(conninfo)), shown_(std::move(shown)), node_(std::move(node)), watcher_(std::move(watcher)) {
    if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("pipe2 failed");
    thread_ = std::thread([this] { run(); });
}

PgCommitListener::~PgCommitListener() {
    stop_ = true;
    const char byte = 1;
    [[maybe_unused]] auto written = ::write(wake_[1], &byte, 1);
    thread_.join();
    PQfinish(conn_);
    ::close(wake_[0]);
    ::close(wake_[1]);
}

std::string PgCommitListener::new_node_name() {
    static constexpr char digits[] = "0123456789abcdef";
    unsigned char bytes[8];
    randombytes_buf(bytes, sizeof bytes);
    std::string name;
    for (auto byte : bytes) name += {digits[byte >> 4], digits[byte & 15]};
    return name;
}

std::vector<std::string> PgCommitListener::payloads(const std::string& node, const Tips& tips) {
    std::vector<std::string> out;
    std::string current;
    for (const auto& [id, seq] : tips) {
        std::string entry = std::to_string(id) + ":" + std::to_string(seq);
        if (!current.empty() && current.size() + 1 + entry.size() > max_payload) out.push_back(std::move(current)), current.clear();
        current += current.empty() ? node + "/" : ",";
        current += entry;
    }
    if (!current.empty()) out.push_back(std::move(current));
    return out;
}

std::optional<PgCommitListener::Heard> PgCommitListener::parse(std::string_view payload) {
    const auto slash = payload.find('/');
    if (slash == std::string_view::npos || slash == 0) return std::nullopt;
    Heard heard{std::string(payload.substr(0, slash)), {}};
    payload.remove_prefix(slash + 1);
    for (;;) {
        const auto comma = payload.find(',');
        const std::string_view entry = payload.substr(0, comma);
        const auto colon = entry.find(':');
        if (colon == std::string_view::npos) return std::nullopt;
        std::int64_t id = 0;
        std::uint64_t seq = 0;
        const auto a = std::from_chars(entry.data(), entry.data() + colon, id);
        const auto b = std::from_chars(entry.data() + colon + 1, entry.data() + entry.size(), seq);
        if (a.ec != std::errc{} || a.ptr != entry.data() + colon || b.ec != std::errc{} ||
            b.ptr != entry.data() + entry.size())
            return std::nullopt;
        heard.tips.emplace_back(id, seq);
        if (comma == std::string_view::npos) return heard;
        payload.remove_prefix(comma + 1);
    }
}

bool PgCommitListener::connect() {
    PQfinish(conn_);
    // TCP keepalives (before the URL: its own settings win): a connection
    // whose server or network went away without a word is found dead within
    // about a minute, not left waiting for notifications that never come.
    // Named, so an operator tells it from the writer in pg_stat_activity.
    const char* keys[] = {"keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                          "dbname",     "application_name", nullptr};
    const char* values[] = {"1", "30", "10", "3", conninfo_.c_str(), application_name, nullptr};
    conn_ = PQconnectdbParams(keys, values, 1);
    if (conn_) PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
    std::string why;
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
        why = conn_ ? trimmed(PQerrorMessage(conn_)) : "out of memory";
    } else {
        PGresult* r = PQexec(conn_, (std::string("LISTEN ") + channel).c_str());
        if (PQresultStatus(r) != PGRES_COMMAND_OK) why = trimmed(PQerrorMessage(conn_));
        PQclear(r);
    }
    if (why.empty()) return true;
    PQfinish(conn_);
    conn_ = nullptr;
    PARLEY_LOG_THROTTLED(1, warning, "relay database %s: cannot listen for the other nodes' commits: %s",
                         shown_.c_str(), why.c_str());
    return false;
}

bool PgCommitListener::wait_readable(int timeout_ms) {
    pollfd fds[2] = {{wake_[0], POLLIN, 0}, {conn_ ? PQsocket(conn_) : -1, POLLIN, 0}};
    ::poll(fds, conn_ ? 2 : 1, timeout_ms);
    return !stop_;
}

std::vector<ChainTip> PgCommitListener::resolve(const std::map<std::int64_t, std::uint64_t>& seen) {
    std::string unknown;
    for (const auto& entry : seen)
        if (!keys_.contains(entry.first)) unknown += (unknown.empty() ? "{" : ",") + std::to_string(entry.first);
    if (!unknown.empty()) {
        unknown += '}';
        const char* values[] = {unknown.c_str()};
        PGresult* r = PQexecParams(conn_, "SELECT id, room, genesis FROM chains WHERE id = ANY($1::bigint[])", 1,
                                   nullptr, values, nullptr, nullptr, 1);
        if (PQresultStatus(r) == PGRES_TUPLES_OK) {
            for (int i = 0; i < PQntuples(r); ++i) {
                std::uint64_t be = 0;
                std::memcpy(&be, PQgetvalue(r, i, 0), std::min(8, PQgetlength(r, i, 0)));
                ChainKey key{};
                if (static_cast<std::size_t>(PQgetlength(r, i, 1)) != key.first.size() ||
                    static_cast<std::size_t>(PQgetlength(r, i, 2)) != key.second.size())
                    continue;
                std::memcpy(key.first.data(), PQgetvalue(r, i, 1), key.first.size());
                std::memcpy(key.second.data(), PQgetvalue(r, i, 2), key.second.size());
                keys_[static_cast<std::int64_t>(be64toh(be))] = key;
            }
        } else {  // not heard of, then: every chain is checked
            PARLEY_LOG_THROTTLED(5, warning, "relay database %s: cannot look up the chains of a notification: %s",
                                 shown_.c_str(), trimmed(PQerrorMessage(conn_)).c_str());
            PQclear(r);
            tell({}, true);
            return {};
        }
        PQclear(r);
    }
    std::vector<ChainTip> tips;
    for (const auto& [id, seq] : seen)
        if (auto it = keys_.find(id); it != keys_.end()) tips.push_back({it->second, seq});
    return tips;
}

void PgCommitListener::tell(const std::vector<ChainTip>& tips, bool everything) {
    try {
        watcher_(tips, everything);
    } catch (const std::exception& e) {  // the relay goes on; the next notification, or Send, catches up
        PARLEY_LOG_THROTTLED(5, error, "hearing of the other nodes' commits: %s", e.what());
    }
}

bool PgCommitListener::hear_queued() {
    std::map<std::int64_t, std::uint64_t> seen;  // id -> the highest seq heard
    bool unreadable = false, any = false;
    while (PGnotify* n = PQnotifies(conn_)) {
        any = true;
        if (auto heard = parse(n->extra)) {
            if (heard->node != node_)
                for (const auto& [id, seq] : heard->tips) seen[id] = std::max(seen[id], seq);
        } else {
            unreadable = true;
            PARLEY_LOG_THROTTLED(5, warning,
                                 "relay database %s: a notification on %s that is not a relay's (checking every room)",
                                 shown_.c_str(), channel);
        }
        PQfreemem(n);
    }
    if (unreadable) tell({}, true);
    else if (!seen.empty()) {
        auto tips = resolve(seen);  // may read more notifications into the queue
        if (!tips.empty()) tell(tips, false);
    }
    return any;
}

void PgCommitListener::run() {
    auto backoff = std::chrono::milliseconds(0);
    bool was_connected = false;
    while (!stop_) {
        if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
            if (was_connected)
                PARLEY_LOG_THROTTLED(1, warning,
                                     "relay database %s: lost the connection that hears of the other nodes' "
                                     "commits; reconnecting",
                                     shown_.c_str());
            was_connected = false;
            if (!connect()) {
                backoff = std::min<std::chrono::milliseconds>(
                    backoff.count() == 0 ? PgRelayStore::first_backoff : backoff * 2, PgRelayStore::max_backoff);
                wait_readable(static_cast<int>(backoff.count()));
                continue;
            }
            backoff = std::chrono::milliseconds(0);
            was_connected = true;
            // Whatever was committed while no one listened: every chain is checked.
            tell({}, true);
            continue;
        }
        if (!wait_readable(-1)) break;
        if (PQconsumeInput(conn_) == 0) {
            PQfinish(conn_);
            conn_ = nullptr;
            continue;
        }
        while (!stop_ && hear_queued()) {
        }
    }
}

}  // namespace parley::relay
