#include "relay/pg_relay_store.h"

#include "relay/pg_commit_listener.h"

#include <endian.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <regex>

namespace parley::relay {
namespace {

constexpr std::int64_t schema_version = 1;

// The schema, idempotent: every node runs it at start-up.
constexpr const char* schema_sql =
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS chains (id BIGSERIAL PRIMARY KEY, room BYTEA NOT NULL, genesis BYTEA NOT NULL, "
    "  last_seq BIGINT NOT NULL DEFAULT 0, bytes BIGINT NOT NULL DEFAULT 0, UNIQUE (room, genesis));"
    "CREATE TABLE IF NOT EXISTS records (chain BIGINT NOT NULL REFERENCES chains (id), epoch BIGINT NOT NULL, "
    "  hash BYTEA NOT NULL, token_hash BYTEA NOT NULL, encoded BYTEA NOT NULL, PRIMARY KEY (chain, epoch));"
    "CREATE INDEX IF NOT EXISTS records_by_hash ON records (chain, hash);"
    // One genesis per room, whichever node it reaches first.
    "CREATE UNIQUE INDEX IF NOT EXISTS chains_one_per_room ON chains (room);"
    "CREATE TABLE IF NOT EXISTS log (chain BIGINT NOT NULL REFERENCES chains (id), seq BIGINT NOT NULL, "
    "  kind SMALLINT NOT NULL, stored_at_ms BIGINT NOT NULL, payload BYTEA NOT NULL, PRIMARY KEY (chain, seq));"
    "CREATE INDEX IF NOT EXISTS log_by_age ON log (stored_at_ms);"
    "INSERT INTO meta (key, value) VALUES ('schema', 1) ON CONFLICT (key) DO NOTHING;";

std::string trimmed(const char* message) {
    std::string out = message ? message : "";
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
}

std::int64_t clamp64(std::uint64_t v) {
    return static_cast<std::int64_t>(std::min<std::uint64_t>(v, std::numeric_limits<std::int64_t>::max()));
}

}  // namespace

// Query parameters: integers as text, byte strings as binary (no escaping).
class PgRelayStore::Params {
public:
    Params& add(std::int64_t v) {
        text_.push_back(std::to_string(v));
        values_.push_back(nullptr);  // set in values(): text_ may still grow and move
        lengths_.push_back(0);
        formats_.push_back(0);
        return *this;
    }
    Params& text(std::string v) {
        text_.push_back(std::move(v));
        values_.push_back(nullptr);
        lengths_.push_back(0);
        formats_.push_back(0);
        return *this;
    }
    Params& add(ByteView b) {
        static const char empty = 0;  // a null pointer would be SQL NULL, not zero bytes
        text_.emplace_back();
        values_.push_back(b.empty() ? &empty : reinterpret_cast<const char*>(b.data()));
        lengths_.push_back(static_cast<int>(b.size()));
        formats_.push_back(1);
        return *this;
    }
    int size() const { return static_cast<int>(values_.size()); }
    const char* const* values() const {
        for (std::size_t i = 0; i < values_.size(); ++i)
            if (formats_[i] == 0) values_[i] = text_[i].c_str();
        return values_.data();
    }
    const int* lengths() const { return lengths_.data(); }
    const int* formats() const { return formats_.data(); }

private:
    std::vector<std::string> text_;
    mutable std::vector<const char*> values_;
    std::vector<int> lengths_, formats_;
};

// A query's rows, in binary: every integer column is selected as BIGINT.
class PgRelayStore::Result {
public:
    explicit Result(PGresult* r) : r_(r) {}
    Result(Result&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
    Result& operator=(Result&& o) noexcept {
        std::swap(r_, o.r_);
        return *this;
    }
    ~Result() { PQclear(r_); }
    PGresult* get() const { return r_; }
    int rows() const { return PQntuples(r_); }
    bool null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
    std::int64_t int64(int row, int col) const {
        std::uint64_t be = 0;
        if (PQgetlength(r_, row, col) == 8) std::memcpy(&be, PQgetvalue(r_, row, col), 8);
        return static_cast<std::int64_t>(be64toh(be));
    }
    Bytes bytes(int row, int col) const {
        auto* p = reinterpret_cast<const std::uint8_t*>(PQgetvalue(r_, row, col));
        return Bytes(p, p + PQgetlength(r_, row, col));
    }
    wire::Hash hash(int row, int col) const {
        wire::Hash out{};
        if (static_cast<std::size_t>(PQgetlength(r_, row, col)) == out.size())
            std::memcpy(out.data(), PQgetvalue(r_, row, col), out.size());
        return out;
    }

private:
    PGresult* r_;
};

// BEGIN ... COMMIT; rolls back when left without commit().
class PgRelayStore::Transaction {
public:
    explicit Transaction(const PgRelayStore& store) : store_(store) {
        store_.run("BEGIN");
        store_.in_transaction_ = true;
    }
    ~Transaction() {
        store_.in_transaction_ = false;
        if (!done_ && store_.conn_ && PQstatus(store_.conn_) == CONNECTION_OK)
            PQclear(PQexec(store_.conn_, "ROLLBACK"));
    }
    void commit() {
        store_.run("COMMIT");
        done_ = true;
    }

private:
    const PgRelayStore& store_;
    bool done_ = false;
};

std::string PgRelayStore::redacted(const std::string& conninfo) {
    // URI: postgresql://user:SECRET@host/...?password=SECRET; keyword form:
    // password=SECRET or password='SE CRET'.
    static const std::regex uri(R"(^postgres(ql)?://)");
    static const std::regex uri_password(R"(^(postgres(?:ql)?://[^:/@]*:)[^@]*@)");
    static const std::regex query_password(R"(([?&]password=)[^&]*)");
    static const std::regex keyword_password(R"((password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+))");
    if (std::regex_search(conninfo, uri))
        return std::regex_replace(std::regex_replace(conninfo, uri_password, "$1***@"), query_password, "$1***");
    return std::regex_replace(conninfo, keyword_password, "$1***");
}

PgRelayStore::PgRelayStore(const std::string& conninfo, Clock clock)
    : conninfo_(with_connect_timeout(conninfo)), shown_(redacted(conninfo)), clock_(std::move(clock)),
      node_(PgCommitListener::new_node_name()) {
    std::lock_guard lock(mutex_);
    try {
        connect();
        // Two nodes starting at once both run the schema: serialize them.
        Transaction tx(*this);
        run("SELECT pg_advisory_xact_lock(1347571794)");  // "PRLR"
        run(schema_sql);
        Result version = run("SELECT value FROM meta WHERE key = 'schema'", Params{});
        if (version.rows() != 1 || version.int64(0, 0) != schema_version)
            fail("unknown schema version (written by a newer relay?)");
        tx.commit();
    } catch (...) {
        PQfinish(conn_);
        conn_ = nullptr;
        throw;
    }
}

PgRelayStore::~PgRelayStore() {
    listener_.reset();
    PQfinish(conn_);
}

void PgRelayStore::watch_commits(CommitWatcher watcher) {
    listener_.reset();
    if (watcher)
        listener_ = std::make_unique<PgCommitListener>(conninfo_, shown_, node_, std::move(watcher));
}

// In the batch's transaction: delivered to the other nodes if and only if it commits.
void PgRelayStore::notify(const std::vector<std::pair<std::int64_t, std::uint64_t>>& tips) {
    for (auto& payload : PgCommitListener::payloads(node_, tips))
        run("SELECT pg_notify($1, $2)", Params{}.text(PgCommitListener::channel).text(std::move(payload)));
}

void PgRelayStore::fail(const std::string& what) const {
    throw StorageError("relay database " + shown_ + ": " + what);
}

std::string PgRelayStore::with_connect_timeout(const std::string& conninfo) {
    if (conninfo.find("connect_timeout") != std::string::npos) return conninfo;
    const bool uri = conninfo.rfind("postgresql://", 0) == 0 || conninfo.rfind("postgres://", 0) == 0;
    if (!uri) return conninfo + " connect_timeout=" + std::to_string(connect_timeout_s);
    return conninfo + (conninfo.find('?') == std::string::npos ? "?" : "&") +
           "connect_timeout=" + std::to_string(connect_timeout_s);
}

// Connects if there is no working connection. After a failed attempt the next
// waits out a backoff (0.25 s, doubling up to 10 s): while the server is
// down, calls fail at once with the last reason instead of each waiting on a
// connection attempt (up to connect_timeout), with the writer and the readers
// behind it.
void PgRelayStore::connect() const {
    if (conn_ && PQstatus(conn_) == CONNECTION_OK) return;
    const auto now = std::chrono::steady_clock::now();
    if (now < retry_at_) {
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now).count();
        fail("cannot connect: " + last_error_ + " (trying again in " + std::to_string(wait) + " ms)");
    }
    if (conn_) {
        PQreset(conn_);
    } else {
        conn_ = PQconnectdb(conninfo_.c_str());
        // The server's notices ("already exists, skipping") are not for the relay's stderr.
        if (conn_) PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
    }
    if (conn_ && PQstatus(conn_) == CONNECTION_OK) {
        backoff_ = std::chrono::milliseconds(0);
        retry_at_ = {};
        return;
    }
    last_error_ = conn_ ? trimmed(PQerrorMessage(conn_)) : "out of memory";
    PQfinish(conn_);
    conn_ = nullptr;
    backoff_ = std::min<std::chrono::milliseconds>(backoff_.count() == 0 ? first_backoff : backoff_ * 2, max_backoff);
    retry_at_ = std::chrono::steady_clock::now() + backoff_;
    fail("cannot connect: " + last_error_);
}

// A statement that failed because the connection broke (the server
// restarted) is run once more on a new one, unless it was inside a
// transaction: then the transaction is lost, and the caller hears of it.
template <typename Exec>
PGresult* PgRelayStore::exec_once_more(Exec exec) const {
    if (in_transaction_) {
        if (!conn_ || PQstatus(conn_) != CONNECTION_OK) fail("lost the connection in a transaction");
        return exec();
    }
    connect();
    PGresult* r = exec();
    const auto status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && PQstatus(conn_) != CONNECTION_OK) {
        PQclear(r);
        connect();
        r = exec();
    }
    return r;
}

void PgRelayStore::run(const char* sql) const {
    Result r(exec_once_more([&] { return PQexec(conn_, sql); }));
    const auto status = PQresultStatus(r.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail(trimmed(PQerrorMessage(conn_)));
}

PgRelayStore::Result PgRelayStore::run(const char* sql, const Params& params) const {
    Result r(exec_once_more([&] {
        return PQexecParams(conn_, sql, params.size(), nullptr, params.values(), params.lengths(),
                            params.formats(), 1);
    }));
    const auto status = PQresultStatus(r.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        // unique_violation: another node stored the head's successor or the room's genesis first.
        const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
        if (state && std::string_view(state) == "23505")
            throw StoreConflict("relay database " + shown_ + ": " + trimmed(PQerrorMessage(conn_)));
        fail(trimmed(PQerrorMessage(conn_)));
    }
    return r;
}

std::pair<std::int64_t, std::uint64_t> PgRelayStore::take(const ChainKey& chain, std::uint64_t items,
                                                          std::uint64_t bytes) {
    static constexpr const char* update =
        "UPDATE chains SET last_seq = last_seq + $3, bytes = bytes + $4 WHERE room = $1 AND genesis = $2 "
        "RETURNING id, last_seq";
    Params params;
    params.add(chain.first).add(chain.second).add(clamp64(items)).add(clamp64(bytes));
    Result r = run(update, params);
    if (r.rows() == 0) {
        // A new chain; another node may be creating it too: the unique key
        // keeps one row, and the UPDATE then takes its lock.
        run("INSERT INTO chains (room, genesis) VALUES ($1, $2) ON CONFLICT (room, genesis) DO NOTHING",
            Params{}.add(chain.first).add(chain.second));
        r = run(update, params);
        if (r.rows() == 0) fail("a chain row vanished");
    }
    return {r.int64(0, 0), static_cast<std::uint64_t>(r.int64(0, 1))};
}


std::vector<wire::Hash> PgRelayStore::geneses(const wire::RoomId& room) const {
    std::lock_guard lock(mutex_);
    Result r = run("SELECT genesis FROM chains WHERE room = $1 ORDER BY id", Params{}.add(room));
    std::vector<wire::Hash> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.hash(i, 0));
    return out;
}

std::optional<StoredRecord> PgRelayStore::head(const wire::RoomId& room, const wire::Hash& genesis) const {
    std::lock_guard lock(mutex_);
    Result r = run("SELECT encoded, hash, epoch, token_hash FROM records JOIN chains ON chains.id = records.chain "
                   "WHERE room = $1 AND genesis = $2 ORDER BY epoch DESC LIMIT 1",
                   Params{}.add(room).add(genesis));
    if (r.rows() == 0) return std::nullopt;
    return StoredRecord{r.bytes(0, 0), r.hash(0, 1), static_cast<std::uint64_t>(r.int64(0, 2)), r.hash(0, 3)};
}

std::vector<Bytes> PgRelayStore::records(const wire::RoomId& room, const wire::Hash& genesis) const {
    return records_after(room, genesis, std::nullopt, std::numeric_limits<std::size_t>::max(),
                         std::numeric_limits<std::size_t>::max());
}

std::optional<wire::Hash> PgRelayStore::chain_containing(const wire::RoomId& room,
                                                         const wire::Hash& record_hash) const {
    std::lock_guard lock(mutex_);
    Result r = run("SELECT chains.genesis FROM records JOIN chains ON chains.id = records.chain "
                   "WHERE chains.room = $1 AND records.hash = $2 ORDER BY chains.id LIMIT 1",
                   Params{}.add(room).add(record_hash));
    if (r.rows() == 0) return std::nullopt;
    return r.hash(0, 0);
}

std::size_t PgRelayStore::length(const wire::RoomId& room, const wire::Hash& genesis) const {
    std::lock_guard lock(mutex_);
    Result r = run("SELECT count(*) FROM records JOIN chains ON chains.id = records.chain "
                   "WHERE room = $1 AND genesis = $2",
                   Params{}.add(room).add(genesis));
    return static_cast<std::size_t>(r.int64(0, 0));
}

std::vector<Bytes> PgRelayStore::records_after(const wire::RoomId& room, const wire::Hash& genesis,
                                              std::optional<std::uint64_t> after_epoch, std::size_t max_items,
                                              std::size_t max_bytes) const {
    std::lock_guard lock(mutex_);
    std::vector<Bytes> out;
    const std::int64_t from = after_epoch ? clamp64(std::min<std::uint64_t>(*after_epoch, INT64_MAX - 1) + 1) : 0;
    // Pages of at most 64 rows: never more than a page beyond max_bytes read.
    while (out.size() < max_items) {
        const std::int64_t next = out.empty() ? from : from + static_cast<std::int64_t>(out.size());
        const std::size_t want = std::min<std::size_t>(max_items - out.size(), 64);
        Result r = run("SELECT encoded FROM records JOIN chains ON chains.id = records.chain "
                       "WHERE room = $1 AND genesis = $2 AND epoch >= $3 ORDER BY epoch LIMIT $4",
                       Params{}.add(room).add(genesis).add(next).add(static_cast<std::int64_t>(want)));
        std::size_t bytes = 0;
        for (const auto& b : out) bytes += b.size();
        for (int i = 0; i < r.rows() && bytes < max_bytes; ++i) {
            out.push_back(r.bytes(i, 0));
            bytes += out.back().size();
        }
        if (static_cast<std::size_t>(r.rows()) < want || bytes >= max_bytes) break;
    }
    return out;
}

std::optional<std::uint64_t> PgRelayStore::epoch_of(const wire::RoomId& room, const wire::Hash& genesis,
                                                    const wire::Hash& record_hash) const {
    std::lock_guard lock(mutex_);
    Result r = run("SELECT epoch FROM records JOIN chains ON chains.id = records.chain "
                   "WHERE room = $1 AND genesis = $2 AND hash = $3 LIMIT 1",
                   Params{}.add(room).add(genesis).add(record_hash));
    if (r.rows() == 0) return std::nullopt;
    return static_cast<std::uint64_t>(r.int64(0, 0));
}

std::uint64_t PgRelayStore::stored_bytes(const wire::RoomId& room, const wire::Hash& genesis) const {
    std::lock_guard lock(mutex_);
    Result r = run("SELECT bytes FROM chains WHERE room = $1 AND genesis = $2", Params{}.add(room).add(genesis));
    return r.rows() == 0 ? 0 : static_cast<std::uint64_t>(r.int64(0, 0));
}

std::uint64_t PgRelayStore::total_stored_bytes() const {
    std::lock_guard lock(mutex_);
    // The sum over the chains' own counts: no row that every write would
    // update (every node's writes would queue on its lock). Read at a relay's
    // start, after retention, and at each new room or epoch, not per message.
    Result r = run("SELECT coalesce(sum(bytes), 0)::bigint FROM chains", Params{});
    return r.rows() == 0 ? 0 : static_cast<std::uint64_t>(r.int64(0, 0));
}

std::uint64_t PgRelayStore::append(const wire::RoomId& room, const wire::Hash& genesis, StoredRecord record) {
    std::lock_guard lock(mutex_);
    const bool successor = record.epoch > 0;
    // A successor is stored twice: as a record and as its log item.
    const std::uint64_t added = record.encoded.size() * (successor ? 2 : 1);
    Transaction tx(*this);
    auto [id, last] = take({room, genesis}, successor ? 1 : 0, added);
    run("INSERT INTO records (chain, epoch, hash, token_hash, encoded) VALUES ($1, $2, $3, $4, $5)",
        Params{}.add(id).add(clamp64(record.epoch)).add(record.hash).add(record.token_hash).add(record.encoded));
    std::uint64_t seq = 0;
    if (successor) {
        seq = last;
        run("INSERT INTO log (chain, seq, kind, stored_at_ms, payload) VALUES ($1, $2, $3, $4, $5)",
            Params{}
                .add(id)
                .add(clamp64(seq))
                .add(static_cast<std::int64_t>(LogKind::new_head))
                .add(clock_())
                .add(record.encoded));
    }
    if (successor) notify({{id, seq}});
    tx.commit();
    return seq;
}

std::vector<std::uint64_t> PgRelayStore::append(const std::vector<LogAppend>& items) {
    std::lock_guard lock(mutex_);
    // Per chain: how many items and bytes, in the order chains first appear.
    std::map<ChainKey, std::pair<std::uint64_t, std::uint64_t>> per_chain;
    for (const auto& item : items) {
        auto& [count, bytes] = per_chain[item.chain];
        ++count;
        bytes += item.payload.size();
    }
    const std::int64_t now = clock_();
    Transaction tx(*this);
    // Chains locked in key order: two nodes' batches never wait on each other in a cycle.
    std::map<ChainKey, std::pair<std::int64_t, std::uint64_t>> next;  // id, the next seq to use
    for (const auto& [key, counts] : per_chain) {
        auto [id, last] = take(key, counts.first, counts.second);
        next[key] = {id, last - counts.first + 1};
    }
    std::vector<std::uint64_t> seqs;
    seqs.reserve(items.size());
    // The rows in one statement per rows_per_insert: one round trip, not one per message.
    constexpr std::size_t rows_per_insert = 500;  // 2,500 parameters, far below libpq's 65,535
    for (std::size_t first = 0; first < items.size(); first += rows_per_insert) {
        const std::size_t n = std::min(rows_per_insert, items.size() - first);
        std::string sql = "INSERT INTO log (chain, seq, kind, stored_at_ms, payload) VALUES ";
        Params params;
        for (std::size_t i = 0; i < n; ++i) {
            const auto& item = items[first + i];
            auto& [id, seq] = next[item.chain];
            const std::size_t p = 5 * i;
            sql += (i ? ",($" : "($") + std::to_string(p + 1) + ",$" + std::to_string(p + 2) + ",$" +
                   std::to_string(p + 3) + ",$" + std::to_string(p + 4) + ",$" + std::to_string(p + 5) + ")";
            params.add(id).add(clamp64(seq)).add(static_cast<std::int64_t>(item.kind)).add(now).add(item.payload);
            seqs.push_back(seq++);
        }
        run(sql.c_str(), params);
    }
    std::vector<std::pair<std::int64_t, std::uint64_t>> tips;
    for (const auto& [key, at] : next) tips.emplace_back(at.first, at.second - 1);
    notify(tips);
    tx.commit();
    return seqs;
}

std::vector<LogItem> PgRelayStore::read(const ChainKey& chain, std::uint64_t after_seq, std::uint64_t up_to_seq,
                                        std::size_t max_items, std::size_t max_bytes) const {
    std::lock_guard lock(mutex_);
    std::vector<LogItem> out;
    if (after_seq >= up_to_seq) return out;
    std::size_t bytes = 0;
    std::uint64_t after = after_seq;
    while (out.size() < max_items && bytes < max_bytes) {
        const std::size_t want = std::min<std::size_t>(max_items - out.size(), 64);
        Result r = run("SELECT seq, kind::bigint, payload FROM log JOIN chains ON chains.id = log.chain "
                       "WHERE room = $1 AND genesis = $2 AND seq > $3 AND seq <= $4 ORDER BY seq LIMIT $5",
                       Params{}
                           .add(chain.first)
                           .add(chain.second)
                           .add(clamp64(after))
                           .add(clamp64(up_to_seq))
                           .add(static_cast<std::int64_t>(want)));
        for (int i = 0; i < r.rows() && bytes < max_bytes; ++i) {
            LogItem item{static_cast<std::uint64_t>(r.int64(i, 0)), static_cast<LogKind>(r.int64(i, 1)),
                         r.bytes(i, 2)};
            bytes += item.payload.size();
            after = item.seq;
            out.push_back(std::move(item));
        }
        if (static_cast<std::size_t>(r.rows()) < want) break;
    }
    return out;
}

namespace {

// A bytea[] parameter in PostgreSQL's binary array format: dimensions 1, no
// nulls, element type bytea (OID 17), lower bound 1, then each element's
// length and bytes (all integers big-endian).
template <typename Get>
Bytes bytea_array(std::size_t n, Get get) {
    Bytes out;
    auto put32 = [&](std::uint32_t v) {
        v = htobe32(v);
        const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
        out.insert(out.end(), p, p + 4);
    };
    put32(1);
    put32(0);
    put32(17);
    put32(static_cast<std::uint32_t>(n));
    put32(1);
    for (std::size_t i = 0; i < n; ++i) {
        const ByteView b = get(i);
        put32(static_cast<std::uint32_t>(b.size()));
        out.insert(out.end(), b.begin(), b.end());
    }
    return out;
}

std::string bigint_array(const std::vector<std::int64_t>& values) {
    std::string out = "{";
    for (std::size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + std::to_string(values[i]);
    return out + "}";
}

}  // namespace

// One query for every span: a page of at most `max_items` rows per span (the
// byte budget applied here, as read() does, so at most a page per span past it).
std::vector<std::vector<LogItem>> PgRelayStore::read_each(const std::vector<LogSpan>& spans, std::size_t max_items,
                                                          std::size_t max_bytes) const {
    std::vector<std::vector<LogItem>> out(spans.size());
    if (spans.empty()) return out;
    std::vector<std::int64_t> after, up_to;
    for (const auto& s : spans) {
        after.push_back(clamp64(s.after_seq));
        up_to.push_back(clamp64(s.up_to_seq));
    }
    const Bytes rooms = bytea_array(spans.size(), [&](std::size_t i) { return ByteView(spans[i].chain.first); });
    const Bytes geneses = bytea_array(spans.size(), [&](std::size_t i) { return ByteView(spans[i].chain.second); });
    std::lock_guard lock(mutex_);
    Result r = run("SELECT t.i, l.seq, l.kind::bigint, l.payload "
                   "FROM unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::bigint[]) WITH ORDINALITY "
                   "  AS t(room, genesis, after_seq, up_to_seq, i) "
                   "JOIN chains c ON c.room = t.room AND c.genesis = t.genesis "
                   "JOIN LATERAL (SELECT seq, kind, payload FROM log WHERE log.chain = c.id AND "
                   "  log.seq > t.after_seq AND log.seq <= t.up_to_seq ORDER BY seq LIMIT $5) l ON true "
                   "ORDER BY t.i, l.seq",
                   Params{}
                       .add(rooms)
                       .add(geneses)
                       .text(bigint_array(after))
                       .text(bigint_array(up_to))
                       .add(static_cast<std::int64_t>(std::min<std::size_t>(max_items, INT64_MAX))));
    std::vector<std::size_t> bytes(spans.size(), 0);
    for (int row = 0; row < r.rows(); ++row) {
        const auto i = static_cast<std::size_t>(r.int64(row, 0) - 1);
        if (i >= spans.size() || bytes[i] >= max_bytes) continue;
        LogItem item{static_cast<std::uint64_t>(r.int64(row, 1)), static_cast<LogKind>(r.int64(row, 2)),
                     r.bytes(row, 3)};
        bytes[i] += item.payload.size();
        out[i].push_back(std::move(item));
    }
    return out;
}

LogRange PgRelayStore::range(const ChainKey& chain) const {
    std::lock_guard lock(mutex_);
    Result r = run("SELECT last_seq, (SELECT min(seq) FROM log WHERE log.chain = chains.id) FROM chains "
                   "WHERE room = $1 AND genesis = $2",
                   Params{}.add(chain.first).add(chain.second));
    if (r.rows() == 0) return {};
    const auto last = static_cast<std::uint64_t>(r.int64(0, 0));
    return {r.null(0, 1) ? last + 1 : static_cast<std::uint64_t>(r.int64(0, 1)), last};
}

std::size_t PgRelayStore::prune(const RetentionPolicy& policy) {
    std::lock_guard lock(mutex_);
    Transaction tx(*this);
    const Params limits = Params{}.add(clock_() - policy.max_age.count()).add(clamp64(policy.max_items));
    // The chains it will change, locked first and in key order, as a batch of
    // appends locks them (append): a relay's prune and another's batch never
    // wait on each other in a cycle.
    run("SELECT id FROM chains WHERE EXISTS (SELECT 1 FROM log WHERE log.chain = chains.id AND "
        "(log.stored_at_ms < $1 OR log.seq <= chains.last_seq - $2)) ORDER BY room, genesis FOR NO KEY UPDATE",
        limits);
    // Sequence numbers are dense, so "all but the newest N" is "seq <= last - N".
    Result gone = run("WITH gone AS (DELETE FROM log USING chains WHERE chains.id = log.chain AND "
                      "(log.stored_at_ms < $1 OR log.seq <= chains.last_seq - $2) "
                      "RETURNING log.chain, length(log.payload)::bigint AS size), "
                      "per_chain AS (SELECT chain, sum(size)::bigint AS size, count(*)::bigint AS n FROM gone GROUP BY chain), "
                      "fixed AS (UPDATE chains SET bytes = chains.bytes - per_chain.size FROM per_chain "
                      "WHERE chains.id = per_chain.chain RETURNING per_chain.size, per_chain.n) "
                      "SELECT coalesce(sum(size), 0)::bigint, coalesce(sum(n), 0)::bigint FROM fixed",
                      limits);
    const auto removed = static_cast<std::size_t>(gone.int64(0, 1));
    tx.commit();
    return removed;
}

}  // namespace parley::relay
