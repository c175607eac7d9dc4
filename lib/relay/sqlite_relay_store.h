// RelayStore in SQLite: the relay's chains and message log in one database,
// DATA_DIR/relay.sqlite (WAL). Layout (docs/PROTOCOL.md §6, store and forward):
//
//   meta    (key TEXT PRIMARY KEY, value INTEGER)        'schema' = 1
//   chains  (id INTEGER PRIMARY KEY, room BLOB, genesis BLOB, last_seq INTEGER,
//            UNIQUE (room, genesis))                       oldest chain first by id
//   records (chain, epoch, hash, token_hash, encoded; PRIMARY KEY (chain, epoch))
//   log     (chain, seq, kind, stored_at_ms, payload; PRIMARY KEY (chain, seq))
//
// chains.last_seq is the last sequence number a chain used, kept apart from the
// log so numbers never repeat after retention empties it. The access verifier is
// each record's token hash; nothing else about tokens is stored.
//
// Durability: every write is one transaction, committed before the call
// returns. With Sync::normal (WAL, synchronous=NORMAL) a committed transaction
// survives a crash or kill -9 of the relay, but the last ones may be lost if the
// machine loses power; Sync::full (synchronous=FULL) syncs every commit to disk.
// The log is copied back into the database by a thread of its own, not in a
// commit (relay/wal_checkpointer.h).
#pragma once

#include <sqlite3.h>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "relay/relay_store.h"
#include "relay/wal_checkpointer.h"

namespace parley::relay {

class SqliteRelayStore final : public RelayStore {
public:
    enum class Sync { normal, full };
    static constexpr const char* file_name = "relay.sqlite";

    // Opens (or creates) DIR/relay.sqlite, checks it (application id, schema
    // version, quick_check, a write) and loads the chain index. Throws
    // StorageError naming the file when it is damaged, truncated, foreign,
    // read-only or cannot be written.
    SqliteRelayStore(const std::filesystem::path& dir, Sync sync, Clock clock = system_clock_ms());
    ~SqliteRelayStore() override;
    SqliteRelayStore(const SqliteRelayStore&) = delete;
    SqliteRelayStore& operator=(const SqliteRelayStore&) = delete;

    const std::string& path() const { return path_; }
    // The write-ahead log's checkpoints so far (relay/wal_checkpointer.h).
    WalCheckpointer::Figures checkpoints() const { return checkpointer_->figures(); }
    void wait_for_checkpoints() { checkpointer_->wait_idle(); }

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
    LogRange range(const ChainKey& chain) const override;
    std::size_t prune(const RetentionPolicy& policy) override;

private:
    struct ChainInfo {
        std::int64_t id = 0;
        std::uint64_t last_seq = 0;
        std::uint64_t bytes = 0;  // records and stored log payloads (the quotas' count)
    };
    class Transaction;

    void open_and_check(Sync sync);
    void load_chains();
    void count_bytes();  // ChainInfo::bytes and total_bytes_ from the tables
    [[noreturn]] void fail(const std::string& what) const;
    void exec(const char* sql) const;
    std::int64_t query_int(const char* sql) const;
    const ChainInfo* find(const ChainKey& chain) const;
    std::int64_t ensure_chain(const ChainKey& chain);  // inside a transaction
    void insert_log(std::int64_t chain_id, std::uint64_t seq, LogKind kind, ByteView payload,
                    std::int64_t now_ms);
    void set_last_seq(std::int64_t chain_id, std::uint64_t last_seq);

    // The group commit's statements, prepared once and reset after each use:
    // preparing one costs more than running it.
    struct StatementFree {
        void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
    };
    using Statement = std::unique_ptr<sqlite3_stmt, StatementFree>;
    sqlite3_stmt* cached(Statement& slot, const char* sql);

    std::string path_;
    Clock clock_;
    sqlite3* db_ = nullptr;
    // One connection, one lock: writes are batched by the caller (group
    // commit), so there is little to gain from more.
    mutable std::mutex mutex_;
    std::map<ChainKey, ChainInfo> chains_;                  // committed state only
    std::map<wire::RoomId, std::vector<wire::Hash>> order_;  // geneses, oldest first
    std::uint64_t total_bytes_ = 0;
    Statement insert_log_, set_last_seq_;  // under mutex_; finalized before db_ closes
    std::unique_ptr<WalCheckpointer> checkpointer_;  // stopped before db_ closes
};

}  // namespace parley::relay
