// How a relay node hears of the other nodes' commits (issue 14): PostgreSQL's
// LISTEN/NOTIFY. Every committed batch (PgRelayStore::append) sends one
// notification on `channel`, in its transaction, so it is delivered if and
// only if the batch committed, and after it: "NODE/ID:SEQ,ID:SEQ,...", the
// sending node's random name, then each chain's row id and the last sequence
// number the batch gave it (a batch touching more chains than one
// notification holds sends several).
//
// This listener has a connection of its own that only listens (with TCP
// keepalives, so a connection that died silently is noticed), and a thread
// that waits on its socket. It leaves out the notifications of its own node
// (by name: a backend's process id can be another's later), looks up the chain
// keys of ids it has not seen (one query per batch of new ids, kept: ids are
// never reused), and hands the tips to the watcher. A notification it cannot
// read makes it check every chain. When the connection breaks, notifications
// sent meanwhile are lost: once it is back (retried with the store's backoff)
// the watcher is called with `everything`, and catches up from sequence numbers.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
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

    // `node` is this node's name in its notifications (new_node_name()).
    // Starts the thread, which connects on its own (failures are logged).
    PgCommitListener(std::string conninfo, std::string shown, std::string node, CommitWatcher watcher);
    ~PgCommitListener();  // stops the thread; no call to the watcher after it returns
    PgCommitListener(const PgCommitListener&) = delete;
    PgCommitListener& operator=(const PgCommitListener&) = delete;

    using Tips = std::vector<std::pair<std::int64_t, std::uint64_t>>;  // (chain id, last seq)
    static std::string new_node_name();  // 16 random hex digits
    // Each element: one notification's payload, "NODE/" and "ID:SEQ" entries joined with ','.
    static std::vector<std::string> payloads(const std::string& node, const Tips& tips);
    struct Heard {
        std::string node;
        Tips tips;
    };
    // nullopt if the payload is not one of payloads()'s.
    static std::optional<Heard> parse(std::string_view payload);

private:
    void run();
    bool connect();                    // connects and LISTENs; false (logged) if it cannot
    bool wait_readable(int timeout_ms);  // false once stop_ is set
    // Chain keys of these ids, from the cache or the database; unknown ones left out.
    std::vector<ChainTip> resolve(const std::map<std::int64_t, std::uint64_t>& seen);
    // What the connection holds; false if nothing (the last call may have
    // read notifications from the socket into libpq's queue: none is left there).
    bool hear_queued();
    void tell(const std::vector<ChainTip>& tips, bool everything);  // the watcher, exceptions logged

    const std::string conninfo_, shown_, node_;
    const CommitWatcher watcher_;
    pg_conn* conn_ = nullptr;  // the thread's only
    std::map<std::int64_t, ChainKey> keys_;
    int wake_[2] = {-1, -1};  // a pipe: written to stop the thread
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace parley::relay
