#include "relay/sqlite_relay_store.h"

#include <algorithm>
#include <memory>
#include <system_error>

namespace parley::relay {
namespace {

constexpr int schema_version = 1;
constexpr std::int64_t application_id = 0x50524c52;  // "PRLR": a Parley relay database
constexpr int busy_timeout_ms = 5000;

struct StmtFree {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFree>;

void bind_blob(sqlite3_stmt* st, int i, ByteView b) {
    sqlite3_bind_blob(st, i, b.data(), static_cast<int>(b.size()), SQLITE_TRANSIENT);
}
void bind_int(sqlite3_stmt* st, int i, std::int64_t v) { sqlite3_bind_int64(st, i, v); }

Bytes column_bytes(sqlite3_stmt* st, int col) {
    auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(st, col));
    return p ? Bytes(p, p + sqlite3_column_bytes(st, col)) : Bytes{};
}

wire::Hash column_hash(sqlite3_stmt* st, int col) {
    wire::Hash out{};
    auto b = column_bytes(st, col);
    if (b.size() == out.size()) std::copy(b.begin(), b.end(), out.begin());
    return out;
}

// Prepares `sql` on `db`; the caller checks steps.
Stmt prepare(sqlite3* db, const char* sql) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) return nullptr;
    return Stmt(raw);
}

}  // namespace

// BEGIN IMMEDIATE ... COMMIT; rolls back when left without commit().
class SqliteRelayStore::Transaction {
public:
    explicit Transaction(const SqliteRelayStore& store) : store_(store) { store_.exec("BEGIN IMMEDIATE"); }
    ~Transaction() {
        if (!done_ && !sqlite3_get_autocommit(store_.db_)) sqlite3_exec(store_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    void commit() {
        store_.exec("COMMIT");
        done_ = true;
    }

private:
    const SqliteRelayStore& store_;
    bool done_ = false;
};

SqliteRelayStore::SqliteRelayStore(const std::filesystem::path& dir, Sync sync, Clock clock)
    : path_((dir / file_name).string()), clock_(std::move(clock)) {
    try {
        open_and_check(sync);
        load_chains();
        checkpointer_ = std::make_unique<WalCheckpointer>(db_, path_);
    } catch (...) {
        sqlite3_close(db_);
        db_ = nullptr;
        throw;
    }
}

SqliteRelayStore::~SqliteRelayStore() {
    checkpointer_.reset();
    insert_log_.reset();
    set_last_seq_.reset();
    sqlite3_close(db_);
}

sqlite3_stmt* SqliteRelayStore::cached(Statement& slot, const char* sql) {
    if (!slot) {
        slot.reset(prepare(db_, sql).release());
        if (!slot) fail(sqlite3_errmsg(db_));
    }
    sqlite3_reset(slot.get());  // after a failed step, which throws before its own reset
    sqlite3_clear_bindings(slot.get());
    return slot.get();
}

void SqliteRelayStore::fail(const std::string& what) const {
    throw StorageError("relay database " + path_ + ": " + what);
}

void SqliteRelayStore::exec(const char* sql) const {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errmsg(db_);
        sqlite3_free(err);
        fail(msg);
    }
}

std::int64_t SqliteRelayStore::query_int(const char* sql) const {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &raw, nullptr) != SQLITE_OK) fail(sqlite3_errmsg(db_));
    Stmt st(raw);
    if (sqlite3_step(st.get()) != SQLITE_ROW) fail(sqlite3_errmsg(db_));
    return sqlite3_column_int64(st.get(), 0);
}

void SqliteRelayStore::open_and_check(Sync sync) {
    // A zero-length file is what truncation leaves; SQLite would take it for a
    // new database and start over silently.
    std::error_code ec;
    const bool existed = std::filesystem::exists(path_, ec);
    if (existed && std::filesystem::file_size(path_, ec) == 0 && !ec)
        fail("the file is empty (truncated?); refusing to start over on it\n"
             "hint: move it away to start with no rooms, or restore it from a backup");

    if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK)
        fail(std::string("cannot open: ") + (db_ ? sqlite3_errmsg(db_) : "out of memory"));
    if (sqlite3_db_readonly(db_, "main") == 1) fail("the file is read-only");
    sqlite3_busy_timeout(db_, busy_timeout_ms);
    sqlite3_extended_result_codes(db_, 1);

    // Anything that is not our database is refused and left as it was.
    std::int64_t objects = 0;
    try {
        objects = query_int("SELECT count(*) FROM sqlite_master");
    } catch (const StorageError& e) {
        fail(std::string("damaged or not a database (") + sqlite3_errmsg(db_) +
             ")\nhint: move it away to start with no rooms, or restore it from a backup");
    }
    if (objects == 0) {
        exec(("PRAGMA application_id=" + std::to_string(application_id)).c_str());
    } else if (query_int("PRAGMA application_id") != application_id) {
        fail("not a Parley relay database; refusing to touch it");
    }

    // WAL: readers never block the writer; a commit is one append to the log file.
    {
        auto st = prepare(db_, "PRAGMA journal_mode=WAL");
        if (!st || sqlite3_step(st.get()) != SQLITE_ROW) fail(std::string("cannot use WAL: ") + sqlite3_errmsg(db_));
        std::string mode = reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 0));
        if (mode != "wal") fail("cannot use WAL (journal mode is " + mode + "); is the directory writable?");
    }
    // NORMAL in WAL mode: a commit survives the relay crashing or being killed
    // (it is in the OS's cache); FULL also survives power loss, at an fsync per commit.
    exec(sync == Sync::full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");

    exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)");
    exec("CREATE TABLE IF NOT EXISTS chains (id INTEGER PRIMARY KEY, room BLOB NOT NULL, "
         "genesis BLOB NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0, UNIQUE (room, genesis))");
    exec("CREATE TABLE IF NOT EXISTS records (chain INTEGER NOT NULL, epoch INTEGER NOT NULL, "
         "hash BLOB NOT NULL, token_hash BLOB NOT NULL, encoded BLOB NOT NULL, "
         "PRIMARY KEY (chain, epoch))");
    exec("CREATE TABLE IF NOT EXISTS log (chain INTEGER NOT NULL, seq INTEGER NOT NULL, "
         "kind INTEGER NOT NULL, stored_at_ms INTEGER NOT NULL, payload BLOB NOT NULL, "
         "PRIMARY KEY (chain, seq))");
    exec("CREATE INDEX IF NOT EXISTS log_by_age ON log (stored_at_ms)");
    // GetChain pages start after a record named by its hash.
    exec("CREATE INDEX IF NOT EXISTS records_by_hash ON records (chain, hash)");
    exec(("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', " + std::to_string(schema_version) + ")").c_str());
    if (query_int("SELECT value FROM meta WHERE key='schema'") != schema_version)
        fail("unknown schema version (written by a newer relay?)");

    // Damage anywhere (a truncated file, garbage pages) shows now, not at the
    // first join that reads it.
    {
        auto st = prepare(db_, "PRAGMA quick_check");
        if (!st || sqlite3_step(st.get()) != SQLITE_ROW)
            fail(std::string("damaged (") + sqlite3_errmsg(db_) + ")\nhint: restore it from a backup");
        std::string result = reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 0));
        if (result != "ok") fail("damaged (" + result + ")\nhint: restore it from a backup");
    }
    // Prove we can write (a read-only directory, a full disk) before serving.
    Transaction probe(*this);
    exec("UPDATE meta SET value = value WHERE key = 'schema'");
    probe.commit();
}

void SqliteRelayStore::load_chains() {
    auto st = prepare(db_, "SELECT id, room, genesis, last_seq FROM chains ORDER BY id");
    if (!st) fail(sqlite3_errmsg(db_));
    int rc;
    while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
        ChainKey key{column_hash(st.get(), 1), column_hash(st.get(), 2)};
        chains_[key] = {sqlite3_column_int64(st.get(), 0),
                        static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 3))};
        order_[key.first].push_back(key.second);
    }
    if (rc != SQLITE_DONE) fail(sqlite3_errmsg(db_));
    count_bytes();
}

void SqliteRelayStore::count_bytes() {
    std::map<std::int64_t, std::uint64_t> by_id;
    for (const char* sql : {"SELECT chain, sum(length(encoded)) FROM records GROUP BY chain",
                            "SELECT chain, sum(length(payload)) FROM log GROUP BY chain"}) {
        auto st = prepare(db_, sql);
        if (!st) fail(sqlite3_errmsg(db_));
        int rc;
        while ((rc = sqlite3_step(st.get())) == SQLITE_ROW)
            by_id[sqlite3_column_int64(st.get(), 0)] += static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 1));
        if (rc != SQLITE_DONE) fail(sqlite3_errmsg(db_));
    }
    total_bytes_ = 0;
    for (auto& [key, info] : chains_) {
        info.bytes = by_id[info.id];
        total_bytes_ += info.bytes;
    }
}

const SqliteRelayStore::ChainInfo* SqliteRelayStore::find(const ChainKey& chain) const {
    auto it = chains_.find(chain);
    return it == chains_.end() ? nullptr : &it->second;
}

std::vector<wire::Hash> SqliteRelayStore::geneses(const wire::RoomId& room) const {
    std::lock_guard lock(mutex_);
    auto it = order_.find(room);
    return it == order_.end() ? std::vector<wire::Hash>{} : it->second;
}

std::optional<StoredRecord> SqliteRelayStore::head(const wire::RoomId& room, const wire::Hash& genesis) const {
    std::lock_guard lock(mutex_);
    const ChainInfo* info = find({room, genesis});
    if (!info) return std::nullopt;
    auto st = prepare(db_, "SELECT encoded, hash, epoch, token_hash FROM records WHERE chain = ? "
                           "ORDER BY epoch DESC LIMIT 1");
    if (!st) fail(sqlite3_errmsg(db_));
    bind_int(st.get(), 1, info->id);
    int rc = sqlite3_step(st.get());
    if (rc == SQLITE_DONE) return std::nullopt;
    if (rc != SQLITE_ROW) fail(sqlite3_errmsg(db_));
    return StoredRecord{column_bytes(st.get(), 0), column_hash(st.get(), 1),
                        static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 2)), column_hash(st.get(), 3)};
}

std::vector<Bytes> SqliteRelayStore::records(const wire::RoomId& room, const wire::Hash& genesis) const {
    std::lock_guard lock(mutex_);
    std::vector<Bytes> out;
    const ChainInfo* info = find({room, genesis});
    if (!info) return out;
    auto st = prepare(db_, "SELECT encoded FROM records WHERE chain = ? ORDER BY epoch");
    if (!st) fail(sqlite3_errmsg(db_));
    bind_int(st.get(), 1, info->id);
    int rc;
    while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) out.push_back(column_bytes(st.get(), 0));
    if (rc != SQLITE_DONE) fail(sqlite3_errmsg(db_));
    return out;
}

std::optional<wire::Hash> SqliteRelayStore::chain_containing(const wire::RoomId& room,
                                                             const wire::Hash& record_hash) const {
    std::lock_guard lock(mutex_);
    auto st = prepare(db_, "SELECT chains.genesis FROM records JOIN chains ON chains.id = records.chain "
                           "WHERE chains.room = ? AND records.hash = ? LIMIT 1");
    if (!st) fail(sqlite3_errmsg(db_));
    bind_blob(st.get(), 1, room);
    bind_blob(st.get(), 2, record_hash);
    int rc = sqlite3_step(st.get());
    if (rc == SQLITE_DONE) return std::nullopt;
    if (rc != SQLITE_ROW) fail(sqlite3_errmsg(db_));
    return column_hash(st.get(), 0);
}

std::size_t SqliteRelayStore::length(const wire::RoomId& room, const wire::Hash& genesis) const {
    std::lock_guard lock(mutex_);
    const ChainInfo* info = find({room, genesis});
    if (!info) return 0;
    auto st = prepare(db_, "SELECT count(*) FROM records WHERE chain = ?");
    if (!st) fail(sqlite3_errmsg(db_));
    bind_int(st.get(), 1, info->id);
    if (sqlite3_step(st.get()) != SQLITE_ROW) fail(sqlite3_errmsg(db_));
    return static_cast<std::size_t>(sqlite3_column_int64(st.get(), 0));
}

std::vector<Bytes> SqliteRelayStore::records_after(const wire::RoomId& room, const wire::Hash& genesis,
                                                  std::optional<std::uint64_t> after_epoch,
                                                  std::size_t max_items, std::size_t max_bytes) const {
    std::lock_guard lock(mutex_);
    std::vector<Bytes> out;
    const ChainInfo* info = find({room, genesis});
    if (!info) return out;
    auto st = prepare(db_, "SELECT encoded FROM records WHERE chain = ? AND epoch >= ? ORDER BY epoch LIMIT ?");
    if (!st) fail(sqlite3_errmsg(db_));
    bind_int(st.get(), 1, info->id);
    bind_int(st.get(), 2, after_epoch ? static_cast<std::int64_t>(std::min<std::uint64_t>(*after_epoch, INT64_MAX - 1)) + 1 : 0);
    bind_int(st.get(), 3, static_cast<std::int64_t>(std::min<std::size_t>(max_items, INT64_MAX)));
    std::size_t bytes = 0;
    int rc = SQLITE_DONE;
    while (bytes < max_bytes && (rc = sqlite3_step(st.get())) == SQLITE_ROW) {
        out.push_back(column_bytes(st.get(), 0));
        bytes += out.back().size();
    }
    if (bytes < max_bytes && rc != SQLITE_DONE) fail(sqlite3_errmsg(db_));
    return out;
}

std::optional<std::uint64_t> SqliteRelayStore::epoch_of(const wire::RoomId& room, const wire::Hash& genesis,
                                                        const wire::Hash& record_hash) const {
    std::lock_guard lock(mutex_);
    const ChainInfo* info = find({room, genesis});
    if (!info) return std::nullopt;
    auto st = prepare(db_, "SELECT epoch FROM records WHERE chain = ? AND hash = ? LIMIT 1");
    if (!st) fail(sqlite3_errmsg(db_));
    bind_int(st.get(), 1, info->id);
    bind_blob(st.get(), 2, record_hash);
    int rc = sqlite3_step(st.get());
    if (rc == SQLITE_DONE) return std::nullopt;
    if (rc != SQLITE_ROW) fail(sqlite3_errmsg(db_));
    return static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 0));
}

std::uint64_t SqliteRelayStore::stored_bytes(const wire::RoomId& room, const wire::Hash& genesis) const {
    std::lock_guard lock(mutex_);
    const ChainInfo* info = find({room, genesis});
    return info ? info->bytes : 0;
}

std::uint64_t SqliteRelayStore::total_stored_bytes() const {
    std::lock_guard lock(mutex_);
    return total_bytes_;
}

std::int64_t SqliteRelayStore::ensure_chain(const ChainKey& chain) {
    if (const ChainInfo* info = find(chain)) return info->id;
    auto st = prepare(db_, "INSERT INTO chains (room, genesis, last_seq) VALUES (?, ?, 0)");
    if (!st) fail(sqlite3_errmsg(db_));
    bind_blob(st.get(), 1, chain.first);
    bind_blob(st.get(), 2, chain.second);
    if (sqlite3_step(st.get()) != SQLITE_DONE) fail(sqlite3_errmsg(db_));
    return sqlite3_last_insert_rowid(db_);
}

void SqliteRelayStore::insert_log(std::int64_t chain_id, std::uint64_t seq, LogKind kind, ByteView payload,
                                  std::int64_t now_ms) {
    sqlite3_stmt* st = cached(insert_log_, "INSERT INTO log (chain, seq, kind, stored_at_ms, payload) VALUES (?, ?, ?, ?, ?)");
    bind_int(st, 1, chain_id);
    bind_int(st, 2, static_cast<std::int64_t>(seq));
    bind_int(st, 3, static_cast<std::int64_t>(kind));
    bind_int(st, 4, now_ms);
    // SQLITE_STATIC: no copy of every envelope; the payload outlives the
    // step, and the binding is cleared before the statement's next use.
    sqlite3_bind_blob(st, 5, payload.data(), static_cast<int>(payload.size()), SQLITE_STATIC);
    const int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) fail(sqlite3_errmsg(db_));  // before the reset: it keeps the message
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

void SqliteRelayStore::set_last_seq(std::int64_t chain_id, std::uint64_t last_seq) {
    sqlite3_stmt* st = cached(set_last_seq_, "UPDATE chains SET last_seq = ? WHERE id = ?");
    bind_int(st, 1, static_cast<std::int64_t>(last_seq));
    bind_int(st, 2, chain_id);
    if (sqlite3_step(st) != SQLITE_DONE) fail(sqlite3_errmsg(db_));
    sqlite3_reset(st);
}

std::uint64_t SqliteRelayStore::append(const wire::RoomId& room, const wire::Hash& genesis, StoredRecord record) {
    std::lock_guard lock(mutex_);
    const ChainKey key{room, genesis};
    const bool is_new = find(key) == nullptr;
    Transaction tx(*this);
    const std::int64_t id = ensure_chain(key);
    auto st = prepare(db_, "INSERT INTO records (chain, epoch, hash, token_hash, encoded) VALUES (?, ?, ?, ?, ?)");
    if (!st) fail(sqlite3_errmsg(db_));
    bind_int(st.get(), 1, id);
    bind_int(st.get(), 2, static_cast<std::int64_t>(record.epoch));
    bind_blob(st.get(), 3, record.hash);
    bind_blob(st.get(), 4, record.token_hash);
    bind_blob(st.get(), 5, record.encoded);
    if (sqlite3_step(st.get()) != SQLITE_DONE) fail(sqlite3_errmsg(db_));
    std::uint64_t seq = 0;
    const std::uint64_t last = is_new ? 0 : chains_[key].last_seq;
    if (record.epoch > 0) {  // a successor takes its place among the messages
        seq = last + 1;
        insert_log(id, seq, LogKind::new_head, record.encoded, clock_());
        set_last_seq(id, seq);
    }
    tx.commit();
    // A successor is stored twice: as a record and as its log item.
    const std::uint64_t added = record.encoded.size() * (record.epoch > 0 ? 2 : 1);
    const std::uint64_t bytes = (is_new ? 0 : chains_[key].bytes) + added;
    chains_[key] = {id, record.epoch > 0 ? seq : last, bytes};
    total_bytes_ += added;
    if (is_new) order_[room].push_back(genesis);
    return seq;
}

std::vector<std::uint64_t> SqliteRelayStore::append(const std::vector<LogAppend>& items) {
    std::lock_guard lock(mutex_);
    std::vector<std::uint64_t> seqs;
    std::map<ChainKey, ChainInfo> touched;  // applied to chains_ only after the commit
    const std::int64_t now = clock_();
    Transaction tx(*this);
    for (const auto& item : items) {
        auto [it, first] = touched.try_emplace(item.chain);
        if (first) {
            const ChainInfo* info = find(item.chain);
            it->second = info ? *info : ChainInfo{ensure_chain(item.chain), 0, 0};
        }
        const std::uint64_t seq = ++it->second.last_seq;
        it->second.bytes += item.payload.size();
        insert_log(it->second.id, seq, item.kind, item.payload, now);
        seqs.push_back(seq);
    }
    for (const auto& [key, info] : touched) set_last_seq(info.id, info.last_seq);
    tx.commit();
    for (const auto& [key, info] : touched) {
        const ChainInfo* before = find(key);
        if (!before) order_[key.first].push_back(key.second);
        total_bytes_ += info.bytes - (before ? before->bytes : 0);
        chains_[key] = info;
    }
    return seqs;
}

std::vector<LogItem> SqliteRelayStore::read(const ChainKey& chain, std::uint64_t after_seq,
                                            std::uint64_t up_to_seq, std::size_t max_items,
                                            std::size_t max_bytes) const {
    std::lock_guard lock(mutex_);
    std::vector<LogItem> out;
    const ChainInfo* info = find(chain);
    if (!info || after_seq >= up_to_seq) return out;
    auto st = prepare(db_, "SELECT seq, kind, payload FROM log WHERE chain = ? AND seq > ? AND seq <= ? "
                           "ORDER BY seq LIMIT ?");
    if (!st) fail(sqlite3_errmsg(db_));
    bind_int(st.get(), 1, info->id);
    bind_int(st.get(), 2, static_cast<std::int64_t>(after_seq));
    bind_int(st.get(), 3, static_cast<std::int64_t>(std::min<std::uint64_t>(up_to_seq, INT64_MAX)));
    bind_int(st.get(), 4, static_cast<std::int64_t>(std::min<std::size_t>(max_items, INT64_MAX)));
    std::size_t bytes = 0;
    int rc = SQLITE_DONE;
    while (bytes < max_bytes && (rc = sqlite3_step(st.get())) == SQLITE_ROW) {
        LogItem item{static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 0)),
                     static_cast<LogKind>(sqlite3_column_int(st.get(), 1)), column_bytes(st.get(), 2)};
        bytes += item.payload.size();
        out.push_back(std::move(item));
    }
    if (bytes < max_bytes && rc != SQLITE_DONE) fail(sqlite3_errmsg(db_));
    return out;
}

LogRange SqliteRelayStore::range(const ChainKey& chain) const {
    std::lock_guard lock(mutex_);
    const ChainInfo* info = find(chain);
    if (!info) return {};
    auto st = prepare(db_, "SELECT min(seq) FROM log WHERE chain = ?");
    if (!st) fail(sqlite3_errmsg(db_));
    bind_int(st.get(), 1, info->id);
    if (sqlite3_step(st.get()) != SQLITE_ROW) fail(sqlite3_errmsg(db_));
    const bool empty = sqlite3_column_type(st.get(), 0) == SQLITE_NULL;
    return {empty ? info->last_seq + 1 : static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 0)),
            info->last_seq};
}

std::size_t SqliteRelayStore::prune(const RetentionPolicy& policy) {
    std::lock_guard lock(mutex_);
    Transaction tx(*this);
    auto by_age = prepare(db_, "DELETE FROM log WHERE stored_at_ms < ?");
    if (!by_age) fail(sqlite3_errmsg(db_));
    bind_int(by_age.get(), 1, clock_() - policy.max_age.count());
    if (sqlite3_step(by_age.get()) != SQLITE_DONE) fail(sqlite3_errmsg(db_));
    std::size_t removed = static_cast<std::size_t>(sqlite3_changes(db_));
    // Sequence numbers are dense, so "all but the newest N" is "seq <= last - N".
    auto by_count = prepare(db_, "DELETE FROM log WHERE chain = ? AND seq <= ?");
    if (!by_count) fail(sqlite3_errmsg(db_));
    for (const auto& [key, info] : chains_) {
        if (info.last_seq <= policy.max_items) continue;
        sqlite3_reset(by_count.get());
        bind_int(by_count.get(), 1, info.id);
        bind_int(by_count.get(), 2, static_cast<std::int64_t>(info.last_seq - policy.max_items));
        if (sqlite3_step(by_count.get()) != SQLITE_DONE) fail(sqlite3_errmsg(db_));
        removed += static_cast<std::size_t>(sqlite3_changes(db_));
    }
    tx.commit();
    if (removed > 0) count_bytes();
    return removed;
}

}  // namespace parley::relay
