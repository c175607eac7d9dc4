// RelayStore in PostgreSQL (issue 14): the same tables as SqliteRelayStore,
// in a database several relay processes can share. Nothing is cached in the
// process: every figure a node serves (heads, sequence numbers, byte counts)
// is read from the database, so another node's commits are seen at once.
//
//   meta    (key TEXT PRIMARY KEY, value BIGINT)              'schema' = 1
//   chains  (id BIGSERIAL PRIMARY KEY, room BYTEA, genesis BYTEA, last_seq BIGINT,
//            bytes BIGINT, UNIQUE (room, genesis), UNIQUE (room))  oldest chain first by id
//   records (chain, epoch, hash, token_hash, encoded; PRIMARY KEY (chain, epoch))
//   log     (chain, seq, kind, stored_at_ms, payload; PRIMARY KEY (chain, seq))
//
// Writes are one transaction each. Sequence numbers are taken with
// `UPDATE chains SET last_seq = last_seq + n ... RETURNING`, which locks the
// chain's row until the commit: two nodes appending to one chain get distinct,
// dense numbers in commit order. One record per (chain, epoch) is the primary
// key, and one chain per room a unique index: of two successors to one head,
// or two geneses of one room, committed by different nodes, the second fails
// with StoreConflict (ChainBook decides again). Acknowledged = committed
// (synchronous_commit as the server has it, on by default). Each committed
// batch notifies the other nodes (pg_commit_listener.h).
//
// One connection, one lock, as with SQLite; a broken connection is reset at
// the next call (a statement outside a transaction, BEGIN included, is tried
// once more on the new one), and a call that cannot reach the server throws
// StorageError (the relay answers Error internal and keeps serving). While the
// server is down the attempts back off (0.25 s doubling to 10 s, each at most
// connect_timeout): calls between them fail at once, saying why. One case
// breaks "nothing stored" on a throw: a COMMIT whose answer is lost with the
// connection may have committed; the sender's resend of that message is then
// recognised as any resend is (recent_messages.h reads what the log holds).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "relay/relay_store.h"

struct pg_conn;
struct pg_result;

namespace parley::relay {

class PgCommitListener;

class PgRelayStore final : public RelayStore {
public:
    // Connects (a libpq connection string or postgresql:// URI), creates the
    // tables if they are missing and checks the schema version. Throws
    // StorageError (without the password) when it cannot.
    explicit PgRelayStore(const std::string& conninfo, Clock clock = system_clock_ms());
    ~PgRelayStore() override;
    PgRelayStore(const PgRelayStore&) = delete;
    PgRelayStore& operator=(const PgRelayStore&) = delete;

    // The connection string with any password replaced by "***": for logs.
    static std::string redacted(const std::string& conninfo);
    // One connection attempt waits at most this long, unless the connection
    // string sets connect_timeout itself; the backoff between attempts.
    static constexpr int connect_timeout_s = 5;
    static constexpr std::chrono::milliseconds first_backoff{250}, max_backoff{10000};
    static std::string with_connect_timeout(const std::string& conninfo);

    // ChainStore
    std::vector<wire::Hash> geneses(const wire::RoomId& room) const override;
    std::optional<StoredRecord> head(const wire::RoomId& room, const wire::Hash& genesis) const override;
    std::vector<Bytes> records(const wire::RoomId& room, const wire::Hash& genesis) const override;
    std::optional<wire::Hash> chain_containing(const wire::RoomId& room,
                                               const wire::Hash& record_hash) const override;
    std::size_t length(const wire::RoomId& room, const wire::Hash& genesis) const override;
    std::vector<Bytes> records_after(const wire::RoomId& room, const wire::Hash& genesis,
                                     std::optional<std::uint64_t> after_epoch, std::size_t max_items,
                                     std::size_t max_bytes) const override;
    std::optional<std::uint64_t> epoch_of(const wire::RoomId& room, const wire::Hash& genesis,
                                          const wire::Hash& record_hash) const override;
    std::uint64_t stored_bytes(const wire::RoomId& room, const wire::Hash& genesis) const override;
    std::uint64_t total_stored_bytes() const override;
    std::uint64_t append(const wire::RoomId& room, const wire::Hash& genesis, StoredRecord record) override;

    // MessageLog
    std::vector<std::uint64_t> append(const std::vector<LogAppend>& items) override;
    std::vector<LogItem> read(const ChainKey& chain, std::uint64_t after_seq, std::uint64_t up_to_seq,
                              std::size_t max_items, std::size_t max_bytes) const override;
    std::vector<std::vector<LogItem>> read_each(const std::vector<LogSpan>& spans, std::size_t max_items,
                                                std::size_t max_bytes) const override;
    LogRange range(const ChainKey& chain) const override;
    std::size_t prune(const RetentionPolicy& policy) override;

    // RelayStore: the other nodes' commits, heard through LISTEN/NOTIFY
    // (pg_commit_listener.h) on a connection of its own.
    void watch_commits(CommitWatcher watcher) override;

private:
    class Result;
    class Params;
    class Transaction;

    [[noreturn]] void fail(const std::string& what) const;
    void connect() const;  // (re)connects if the connection is missing or broken
    template <typename Exec>
    pg_result* exec_once_more(Exec exec) const;
    Result run(const char* sql, const Params& params) const;
    void run(const char* sql) const;
    // Locks the chain's row, creating it if need be, and moves its counters:
    // returns its id and its last_seq after adding `items`.
    std::pair<std::int64_t, std::uint64_t> take(const ChainKey& chain, std::uint64_t items, std::uint64_t bytes);
    void notify(const std::vector<std::pair<std::int64_t, std::uint64_t>>& tips);  // (chain id, last seq)

    std::string conninfo_;
    std::string shown_;  // redacted(conninfo_)
    Clock clock_;
    mutable std::mutex mutex_;
    mutable pg_conn* conn_ = nullptr;        // under mutex_
    mutable bool in_transaction_ = false;  // under mutex_: no reconnecting now
    // Under mutex_: the connection's last failure and when to try again.
    mutable std::string last_error_;
    mutable std::chrono::milliseconds backoff_{0};
    mutable std::chrono::steady_clock::time_point retry_at_{};
    const std::string node_;  // random, in this node's notifications: its own are not news
    std::unique_ptr<PgCommitListener> listener_;
};

}  // namespace parley::relay
