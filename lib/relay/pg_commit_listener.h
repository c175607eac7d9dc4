// How a relay node hears of the other nodes' commits (issue 14): PostgreSQL's
// LISTEN/NOTIFY. Every committed batch (PgRelayStore::append) sends one
// notification on `channel`, in its transaction, so it is delivered if and
// only if the batch committed, and after it: "ID:SEQ,ID:SEQ,...", each chain's
// row id and the last sequence number the batch gave it (a batch touching more
// chains than one notification holds sends several).
//
// This listener has a connection of its own that only listens, and a thread
// that waits on its socket. It leaves out the notifications of this node's own
// writer (their backend process id), looks up the chain keys of ids it has not
// seen (one query per batch of new ids, kept: ids are never reused), and hands
// the tips to the watcher. When the connection breaks, notifications sent
// meanwhile are lost: once it is back (retried with the store's backoff) the
// watcher is called with `everything`, and catches up from sequence numbers.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "relay/relay_store.h"

struct pg_conn;

namespace parley::relay {

class PgCommitListener {
public:
    static constexpr const char* channel = "parley_commits";
    static constexpr const char* application_name = "parley-relay listener";
    // Below PostgreSQL's limit of 8000 bytes per notification payload.
    static constexpr std::size_t max_payload = 7900;

    // `own_pid` names this node's writer connection's backend (0: none now).
    // Starts the thread, which connects on its own (failures are logged).
    PgCommitListener(std::string conninfo, std::string shown, std::function<int()> own_pid, CommitWatcher watcher);
    ~PgCommitListener();  // stops the thread; no call to the watcher after it returns
    PgCommitListener(const PgCommitListener&) = delete;
    PgCommitListener& operator=(const PgCommitListener&) = delete;

    // Each element: "ID:SEQ" entries of one notification, joined with ','.
    static std::vector<std::string> payloads(const std::vector<std::pair<std::int64_t, std::uint64_t>>& tips);
    // The entries of one payload; entries that do not parse are left out.
    static std::vector<std::pair<std::int64_t, std::uint64_t>> parse(std::string_view payload);

private:
    void run();
    bool connect();                    // connects and LISTENs; false (logged) if it cannot
    bool wait_readable(int timeout_ms);  // false once stop_ is set
    // Chain keys of these ids, from the cache or the database; unknown ones left out.
    std::vector<ChainTip> resolve(const std::map<std::int64_t, std::uint64_t>& seen);

    const std::string conninfo_, shown_;
    const std::function<int()> own_pid_;
    const CommitWatcher watcher_;
    pg_conn* conn_ = nullptr;  // the thread's only
    std::map<std::int64_t, ChainKey> keys_;
    int wake_[2] = {-1, -1};  // a pipe: written to stop the thread
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace parley::relay
