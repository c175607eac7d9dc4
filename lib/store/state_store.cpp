#include "store/state_store.h"

#include <algorithm>
#include <memory>

namespace parley::store {

namespace {

struct StmtFree {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFree>;

constexpr int schema_version = 1;
constexpr std::int64_t application_id = 0x50524c59;  // "PRLY"

Bytes stream_blob(const protocol::StreamKey& k) {
    Writer w;
    w.raw(k.room);
    w.raw(k.record_hash);
    w.raw(k.sender);
    w.raw(k.session);
    return w.take();
}

}  // namespace

StateStore::StateStore(const std::filesystem::path& file) : path_(file.string()) {
    if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
        std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        db_ = nullptr;
        throw StoreError("cannot open state database " + path_ + ": " + msg);
    }
    sqlite3_busy_timeout(db_, 5000);
    try {
        exec("PRAGMA journal_mode=WAL");
        // Rows sealed again under a new key (history) must not survive in free pages.
        exec("PRAGMA secure_delete=ON");
        exec("PRAGMA synchronous=NORMAL");
        // Our files carry an application id; a database of anything else is
        // refused and left as it was.
        const bool fresh = query_int("SELECT count(*) FROM sqlite_master") == 0;
        if (fresh) {
            exec(("PRAGMA application_id=" + std::to_string(application_id)).c_str());
        } else if (query_int("PRAGMA application_id") != application_id) {
            throw StoreError(path_ + " is not a Parley state file; refusing to touch it");
        }
        exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)");
        exec("CREATE TABLE IF NOT EXISTS pins (room BLOB PRIMARY KEY, genesis BLOB NOT NULL, "
             "head_epoch INTEGER NOT NULL, head BLOB NOT NULL)");
        exec("CREATE TABLE IF NOT EXISTS replay (stream BLOB PRIMARY KEY, highest INTEGER NOT NULL, "
             "seen_below INTEGER NOT NULL)");
        exec("CREATE TABLE IF NOT EXISTS own_sessions (session BLOB PRIMARY KEY, highest_sent INTEGER)");
        // Each counter this state folder took, per epoch record (counters start
        // again at 0 in every epoch), and the session that took it.
        exec("CREATE TABLE IF NOT EXISTS own_counters (record BLOB NOT NULL, counter INTEGER NOT NULL, "
             "session BLOB NOT NULL, PRIMARY KEY (record, counter))");
        // Older versions: each session's highest counter per record, counted
        // from 0 per session; still read for what they sent. (own_sessions.
        // highest_sent, over all epochs, is older still and no longer read.)
        exec("CREATE TABLE IF NOT EXISTS own_sent (session BLOB NOT NULL, record BLOB NOT NULL, "
             "highest INTEGER NOT NULL, PRIMARY KEY (session, record))");
        exec("CREATE TABLE IF NOT EXISTS sender_fronts (room BLOB NOT NULL, record BLOB NOT NULL, "
             "sender BLOB NOT NULL, highest INTEGER NOT NULL, PRIMARY KEY (room, record, sender))");
        exec("CREATE TABLE IF NOT EXISTS expired (room BLOB PRIMARY KEY, through_epoch INTEGER NOT NULL)");
        exec("CREATE TABLE IF NOT EXISTS verified (key BLOB PRIMARY KEY)");
        exec("CREATE TABLE IF NOT EXISTS rooms (room BLOB PRIMARY KEY, last_seq INTEGER NOT NULL, "
             "stream_epoch INTEGER NOT NULL)");
        exec("CREATE TABLE IF NOT EXISTS history (room BLOB NOT NULL, seq INTEGER NOT NULL, sealed BLOB NOT NULL, "
             "PRIMARY KEY (room, seq))");
        exec("CREATE TABLE IF NOT EXISTS stream_digests (room BLOB PRIMARY KEY, seq INTEGER NOT NULL, "
             "digest BLOB NOT NULL)");
        exec("CREATE TABLE IF NOT EXISTS rebases (room BLOB PRIMARY KEY, history_shift INTEGER NOT NULL, "
             "reread_until INTEGER NOT NULL)");
        exec("CREATE TABLE IF NOT EXISTS stream_gaps (room BLOB NOT NULL, first INTEGER NOT NULL, "
             "last INTEGER NOT NULL, asked INTEGER NOT NULL, PRIMARY KEY (room, first))");
        exec("CREATE TABLE IF NOT EXISTS outbox (room BLOB NOT NULL, id INTEGER NOT NULL, sealed BLOB NOT NULL, "
             "PRIMARY KEY (room, id))");
        exec("CREATE TABLE IF NOT EXISTS history_keys (room BLOB PRIMARY KEY, salt BLOB NOT NULL, "
             "ops INTEGER NOT NULL, mem_kib INTEGER NOT NULL, check_value BLOB NOT NULL)");
        exec("CREATE TABLE IF NOT EXISTS device_secrets (room BLOB NOT NULL, name BLOB NOT NULL, "
             "sealed BLOB NOT NULL, PRIMARY KEY (room, name))");
        exec("CREATE TABLE IF NOT EXISTS local_rooms (name TEXT PRIMARY KEY, room BLOB NOT NULL UNIQUE, "
             "server TEXT NOT NULL)");
        exec("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', 1)");
        Stmt st;
        sqlite3_stmt* raw = nullptr;
        sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key='schema'", -1, &raw, nullptr);
        st.reset(raw);
        if (!st || sqlite3_step(st.get()) != SQLITE_ROW || sqlite3_column_int(st.get(), 0) != schema_version)
            throw StoreError("state database " + path_ + " has an unknown schema version");
    } catch (...) {
        sqlite3_close(db_);
        db_ = nullptr;
        throw;
    }
}

StateStore::~StateStore() {
    forget_pending(true);
    sqlite3_close(db_);
}

std::int64_t StateStore::query_int(const char* sql) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &raw, nullptr) != SQLITE_OK) {
        throw StoreError("state database " + path_ + ": " + sqlite3_errmsg(db_) +
                         " (if the file is damaged, move it away: pinned rooms and replay state start over)");
    }
    Stmt st(raw);
    if (sqlite3_step(st.get()) != SQLITE_ROW) throw StoreError("state database " + path_ + ": " + sqlite3_errmsg(db_));
    return sqlite3_column_int64(st.get(), 0);
}

void StateStore::exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errmsg(db_);
        sqlite3_free(err);
        throw StoreError("state database " + path_ + ": " + msg +
                         " (if the file is damaged, move it away: pinned rooms and replay state start over)");
    }
}

// Prepares `sql`, binds blobs/ints through `bind`, throws on failure.
template <class Bind>
static Stmt prepare(sqlite3* db, const std::string& path, const char* sql, Bind bind) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK)
        throw StoreError("state database " + path + ": " + sqlite3_errmsg(db));
    Stmt st(raw);
    bind(st.get());
    return st;
}

static void bind_blob(sqlite3_stmt* st, int i, ByteView b) {
    // An empty span may have no pointer, and a null pointer binds NULL, not an empty blob.
    if (b.empty()) {
        sqlite3_bind_zeroblob(st, i, 0);
        return;
    }
    sqlite3_bind_blob(st, i, b.data(), static_cast<int>(b.size()), SQLITE_TRANSIENT);
}

template <std::size_t N>
static Array<N> column_array(sqlite3_stmt* st, int col) {
    Array<N> out{};
    if (sqlite3_column_bytes(st, col) == static_cast<int>(N))
        std::copy_n(static_cast<const std::uint8_t*>(sqlite3_column_blob(st, col)), N, out.begin());
    return out;
}

// SQLITE_ROW: true; SQLITE_DONE: false (no row); anything else (busy, I/O
// error, corruption) throws: a lookup that failed must never read as "absent",
// or a pin or replay window would silently vanish.
static bool step_row(sqlite3* db, const std::string& path, sqlite3_stmt* st) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw StoreError("state database " + path + ": " + sqlite3_errmsg(db));
}

static void step_done(sqlite3* db, const std::string& path, sqlite3_stmt* st) {
    if (sqlite3_step(st) != SQLITE_DONE) throw StoreError("state database " + path + ": " + sqlite3_errmsg(db));
}

static StateStore::LocalRoom local_room_row(sqlite3_stmt* st) {
    StateStore::LocalRoom r;
    r.name = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    r.room = column_array<wire::hash_bytes>(st, 1);
    r.server = reinterpret_cast<const char*>(sqlite3_column_text(st, 2));
    return r;
}

std::optional<StateStore::LocalRoom> StateStore::find_room(const std::string& name) {
    auto st = prepare(db_, path_, "SELECT name, room, server FROM local_rooms WHERE name=?", [&](sqlite3_stmt* s) {
        sqlite3_bind_text(s, 1, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
    });
    if (!step_row(db_, path_, st.get())) return std::nullopt;
    return local_room_row(st.get());
}

std::optional<StateStore::LocalRoom> StateStore::find_room(const wire::RoomId& room) {
    auto st = prepare(db_, path_, "SELECT name, room, server FROM local_rooms WHERE room=?",
                      [&](sqlite3_stmt* s) { bind_blob(s, 1, room); });
    if (!step_row(db_, path_, st.get())) return std::nullopt;
    return local_room_row(st.get());
}

void StateStore::add_room(const LocalRoom& r) {
    if (find_room(r.name)) throw StoreError("a room named " + r.name + " exists on this device already");
    if (find_room(r.room)) throw StoreError("this device knows that room already, by another name");
    auto st = prepare(db_, path_, "INSERT INTO local_rooms (name, room, server) VALUES (?, ?, ?)",
                      [&](sqlite3_stmt* s) {
                          sqlite3_bind_text(s, 1, r.name.data(), static_cast<int>(r.name.size()), SQLITE_TRANSIENT);
                          bind_blob(s, 2, r.room);
                          sqlite3_bind_text(s, 3, r.server.data(), static_cast<int>(r.server.size()), SQLITE_TRANSIENT);
                      });
    step_done(db_, path_, st.get());
}

std::vector<StateStore::LocalRoom> StateStore::rooms() {
    auto st = prepare(db_, path_, "SELECT name, room, server FROM local_rooms ORDER BY name", [](sqlite3_stmt*) {});
    std::vector<LocalRoom> out;
    while (step_row(db_, path_, st.get())) out.push_back(local_room_row(st.get()));
    return out;
}

std::optional<protocol::Pin> StateStore::load_pin(const wire::RoomId& room) {
    auto st = prepare(db_, path_, "SELECT genesis, head_epoch, head FROM pins WHERE room=?",
                      [&](sqlite3_stmt* s) { bind_blob(s, 1, room); });
    if (!step_row(db_, path_, st.get())) return std::nullopt;
    protocol::Pin pin;
    pin.genesis = column_array<wire::hash_bytes>(st.get(), 0);
    pin.head_epoch = static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 1));
    pin.head = column_array<wire::hash_bytes>(st.get(), 2);
    return pin;
}

void StateStore::save_pin(const wire::RoomId& room, const protocol::Pin& pin) {
    // Only ever move a pin forward: another process may have pinned further.
    auto st = prepare(db_, path_,
                      "INSERT INTO pins (room, genesis, head_epoch, head) VALUES (?,?,?,?) "
                      "ON CONFLICT(room) DO UPDATE SET head_epoch=excluded.head_epoch, head=excluded.head "
                      "WHERE excluded.head_epoch > pins.head_epoch AND pins.genesis = excluded.genesis",
                      [&](sqlite3_stmt* s) {
                          bind_blob(s, 1, room);
                          bind_blob(s, 2, pin.genesis);
                          sqlite3_bind_int64(s, 3, static_cast<sqlite3_int64>(pin.head_epoch));
                          bind_blob(s, 4, pin.head);
                      });
    step_done(db_, path_, st.get());
}

void StateStore::add_own_session(const wire::SessionId& session) {
    auto st = prepare(db_, path_, "INSERT OR IGNORE INTO own_sessions (session) VALUES (?)",
                      [&](sqlite3_stmt* s) { bind_blob(s, 1, session); });
    step_done(db_, path_, st.get());
}

bool StateStore::owns_session(const wire::SessionId& session) {
    auto st = prepare(db_, path_, "SELECT 1 FROM own_sessions WHERE session=?",
                      [&](sqlite3_stmt* s) { bind_blob(s, 1, session); });
    return step_row(db_, path_, st.get());
}

std::uint64_t StateStore::take_counter(const wire::SessionId& session, const wire::Hash& record) {
    Transaction tx(*this);
    auto next = prepare(db_, path_, "SELECT coalesce(max(counter) + 1, 0) FROM own_counters WHERE record=?",
                        [&](sqlite3_stmt* s) { bind_blob(s, 1, record); });
    if (!step_row(db_, path_, next.get())) throw StoreError("state database " + path_ + ": no counter");
    const auto counter = static_cast<std::uint64_t>(sqlite3_column_int64(next.get(), 0));
    auto st = prepare(db_, path_, "INSERT INTO own_counters (record, counter, session) VALUES (?, ?, ?)",
                      [&](sqlite3_stmt* s) {
                          bind_blob(s, 1, record);
                          sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(counter));
                          bind_blob(s, 3, session);
                      });
    step_done(db_, path_, st.get());
    tx.commit();
    return counter;
}

bool StateStore::sent_by_us(const wire::SessionId& session, const wire::Hash& record, std::uint64_t counter) {
    auto taken = prepare(db_, path_, "SELECT 1 FROM own_counters WHERE record=? AND counter=? AND session=?",
                         [&](sqlite3_stmt* s) {
                             bind_blob(s, 1, record);
                             sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(counter));
                             bind_blob(s, 3, session);
                         });
    if (step_row(db_, path_, taken.get())) return true;
    auto legacy = prepare(db_, path_, "SELECT highest FROM own_sent WHERE session=? AND record=?", [&](sqlite3_stmt* s) {
        bind_blob(s, 1, session);
        bind_blob(s, 2, record);
    });
    return step_row(db_, path_, legacy.get()) && counter <= static_cast<std::uint64_t>(sqlite3_column_int64(legacy.get(), 0));
}

void StateStore::note_expired(const wire::RoomId& room, std::uint64_t head_epoch) {
    auto st = prepare(db_, path_,
                      "INSERT INTO expired (room, through_epoch) VALUES (?, ?) "
                      "ON CONFLICT(room) DO UPDATE SET through_epoch = max(through_epoch, excluded.through_epoch)",
                      [&](sqlite3_stmt* s) {
                          bind_blob(s, 1, room);
                          sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(head_epoch));
                      });
    step_done(db_, path_, st.get());
}

std::optional<std::uint64_t> StateStore::expired_through_epoch(const wire::RoomId& room) {
    auto st = prepare(db_, path_, "SELECT through_epoch FROM expired WHERE room=?",
                      [&](sqlite3_stmt* s) { bind_blob(s, 1, room); });
    if (!step_row(db_, path_, st.get())) return std::nullopt;
    return static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 0));
}

void StateStore::mark_verified(const crypto::PublicKey& key) {
    auto st = prepare(db_, path_, "INSERT OR IGNORE INTO verified (key) VALUES (?)",
                      [&](sqlite3_stmt* s) { bind_blob(s, 1, key); });
    step_done(db_, path_, st.get());
}

bool StateStore::is_verified(const crypto::PublicKey& key) {
    auto st = prepare(db_, path_, "SELECT 1 FROM verified WHERE key=?",
                      [&](sqlite3_stmt* s) { bind_blob(s, 1, key); });
    return step_row(db_, path_, st.get());
}

std::optional<protocol::ReplayWindow> StateStore::load_window(const protocol::StreamKey& key) {
    auto blob = stream_blob(key);
    auto st = prepare(db_, path_, "SELECT highest, seen_below FROM replay WHERE stream=?",
                      [&](sqlite3_stmt* s) { bind_blob(s, 1, blob); });
    if (!step_row(db_, path_, st.get())) return std::nullopt;
    return protocol::ReplayWindow{static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 0)),
                                  static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 1))};
}

void StateStore::save_window(const protocol::StreamKey& key, const protocol::ReplayWindow& w) {
    auto blob = stream_blob(key);
    auto st = prepare(db_, path_, "INSERT OR REPLACE INTO replay (stream, highest, seen_below) VALUES (?,?,?)",
                      [&](sqlite3_stmt* s) {
                          bind_blob(s, 1, blob);
                          sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(w.highest));
                          sqlite3_bind_int64(s, 3, static_cast<sqlite3_int64>(w.seen_below));
                      });
    step_done(db_, path_, st.get());
}

std::optional<std::uint64_t> StateStore::load_front(const protocol::SenderKey& key) {
    auto st = prepare(db_, path_, "SELECT highest FROM sender_fronts WHERE room=? AND record=? AND sender=?",
                      [&](sqlite3_stmt* s) {
                          bind_blob(s, 1, key.room);
                          bind_blob(s, 2, key.record_hash);
                          bind_blob(s, 3, key.sender);
                      });
    if (!step_row(db_, path_, st.get())) return std::nullopt;
    return static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 0));
}

void StateStore::save_front(const protocol::SenderKey& key, std::uint64_t highest) {
    auto st = prepare(db_, path_, "INSERT OR REPLACE INTO sender_fronts (room, record, sender, highest) VALUES (?,?,?,?)",
                      [&](sqlite3_stmt* s) {
                          bind_blob(s, 1, key.room);
                          bind_blob(s, 2, key.record_hash);
                          bind_blob(s, 3, key.sender);
                          sqlite3_bind_int64(s, 4, static_cast<sqlite3_int64>(highest));
                      });
    step_done(db_, path_, st.get());
}

StateStore::StreamPosition StateStore::stream_position(const wire::RoomId& room) {
    auto st = prepare(db_, path_, "SELECT last_seq, stream_epoch FROM rooms WHERE room=?",
                      [&](sqlite3_stmt* s) { bind_blob(s, 1, room); });
    if (!step_row(db_, path_, st.get())) return {};
    StreamPosition p{static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 0)),
                     static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 1)), {}};
    auto digest = prepare(db_, path_, "SELECT digest FROM stream_digests WHERE room=? AND seq=?", [&](sqlite3_stmt* s) {
        bind_blob(s, 1, room);
        sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(p.seq));
    });
    if (step_row(db_, path_, digest.get())) p.digest = column_array<wire::hash_bytes>(digest.get(), 0);
    return p;
}

void StateStore::rebase_stream(const wire::RoomId& room, const StreamPosition& p, const Rebase& rebase) {
    Transaction tx(*this);
    // A process that only sends may be first to see it: then there is no
    // reading position yet to move back, only the history's numbers.
    auto st = prepare(db_, path_, "UPDATE rooms SET last_seq = ?, stream_epoch = ? WHERE room = ?", [&](sqlite3_stmt* s) {
        sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(p.seq));
        sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(p.epoch));
        bind_blob(s, 3, room);
    });
    step_done(db_, path_, st.get());
    auto shift = prepare(db_, path_,
                         "INSERT INTO rebases (room, history_shift, reread_until) VALUES (?, ?, ?) "
                         "ON CONFLICT(room) DO UPDATE SET history_shift = excluded.history_shift, "
                         "reread_until = excluded.reread_until",
                         [&](sqlite3_stmt* s) {
                             bind_blob(s, 1, room);
                             sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(rebase.history_shift));
                             sqlite3_bind_int64(s, 3, static_cast<sqlite3_int64>(rebase.reread_until));
                         });
    step_done(db_, path_, shift.get());
    auto forget = prepare(db_, path_, "DELETE FROM stream_digests WHERE room=?", [&](sqlite3_stmt* s) { bind_blob(s, 1, room); });
    step_done(db_, path_, forget.get());
    save_stream_gaps(room, {});  // everything is read again
    tx.commit();
}

std::vector<protocol::GapRange> StateStore::stream_gaps(const wire::RoomId& room) {
    std::vector<protocol::GapRange> gaps;
    auto st = prepare(db_, path_, "SELECT first, last, asked FROM stream_gaps WHERE room=? ORDER BY first",
                      [&](sqlite3_stmt* s) { bind_blob(s, 1, room); });
    while (step_row(db_, path_, st.get())) {
        gaps.push_back({static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 0)),
                        static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 1)),
                        static_cast<std::uint32_t>(sqlite3_column_int64(st.get(), 2)), false});
    }
    return gaps;
}

void StateStore::save_stream_gaps(const wire::RoomId& room, const std::vector<protocol::GapRange>& gaps) {
    Transaction tx(*this);
    auto forget = prepare(db_, path_, "DELETE FROM stream_gaps WHERE room=?", [&](sqlite3_stmt* s) { bind_blob(s, 1, room); });
    step_done(db_, path_, forget.get());
    for (const auto& g : gaps) {
        auto st = prepare(db_, path_, "INSERT INTO stream_gaps (room, first, last, asked) VALUES (?, ?, ?, ?)",
                          [&](sqlite3_stmt* s) {
                              bind_blob(s, 1, room);
                              sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(g.first));
                              sqlite3_bind_int64(s, 3, static_cast<sqlite3_int64>(g.last));
                              sqlite3_bind_int64(s, 4, static_cast<sqlite3_int64>(g.asked));
                          });
        step_done(db_, path_, st.get());
    }
    tx.commit();
}

StateStore::Rebase StateStore::rebase(const wire::RoomId& room) {
    auto st = prepare(db_, path_, "SELECT history_shift, reread_until FROM rebases WHERE room=?",
                      [&](sqlite3_stmt* s) { bind_blob(s, 1, room); });
    if (!step_row(db_, path_, st.get())) return {};
    return {static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 0)),
            static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 1))};
}

void StateStore::save_stream_position(const wire::RoomId& room, const StreamPosition& p) {
    auto st = prepare(db_, path_,
                      "INSERT INTO rooms (room, last_seq, stream_epoch) VALUES (?, ?, ?) "
                      "ON CONFLICT(room) DO UPDATE SET last_seq = excluded.last_seq, stream_epoch = excluded.stream_epoch "
                      "WHERE excluded.last_seq > rooms.last_seq",
                      [&](sqlite3_stmt* s) {
                          bind_blob(s, 1, room);
                          sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(p.seq));
                          sqlite3_bind_int64(s, 3, static_cast<sqlite3_int64>(p.epoch));
                      });
    step_done(db_, path_, st.get());
    if (p.digest == wire::Hash{}) return;
    auto digest = prepare(db_, path_,
                          "INSERT INTO stream_digests (room, seq, digest) VALUES (?, ?, ?) "
                          "ON CONFLICT(room) DO UPDATE SET seq = excluded.seq, digest = excluded.digest "
                          "WHERE excluded.seq >= stream_digests.seq",
                          [&](sqlite3_stmt* s) {
                              bind_blob(s, 1, room);
                              sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(p.seq));
                              bind_blob(s, 3, p.digest);
                          });
    step_done(db_, path_, digest.get());
}

void StateStore::add_history(const wire::RoomId& room, std::uint64_t seq, ByteView sealed) {
    auto st = prepare(db_, path_, "INSERT OR IGNORE INTO history (room, seq, sealed) VALUES (?, ?, ?)",
                      [&](sqlite3_stmt* s) {
                          bind_blob(s, 1, room);
                          sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(seq));
                          bind_blob(s, 3, sealed);
                      });
    step_done(db_, path_, st.get());
}

std::optional<StateStore::HistoryKeyInfo> StateStore::load_history_key_info(const wire::RoomId& room) {
    auto st = prepare(db_, path_, "SELECT salt, ops, mem_kib, check_value FROM history_keys WHERE room=?",
                      [&](sqlite3_stmt* s) { bind_blob(s, 1, room); });
    if (!step_row(db_, path_, st.get())) return std::nullopt;
    HistoryKeyInfo info;
    info.salt = column_array<wire::salt_bytes>(st.get(), 0);
    info.kdf.ops = static_cast<std::uint32_t>(sqlite3_column_int64(st.get(), 1));
    info.kdf.mem_kib = static_cast<std::uint32_t>(sqlite3_column_int64(st.get(), 2));
    info.check = column_array<wire::hash_bytes>(st.get(), 3);
    return info;
}

void StateStore::save_history_key_info(const wire::RoomId& room, const HistoryKeyInfo& info) {
    auto st = prepare(db_, path_,
                      "INSERT OR REPLACE INTO history_keys (room, salt, ops, mem_kib, check_value) VALUES (?, ?, ?, ?, ?)",
                      [&](sqlite3_stmt* s) {
                          bind_blob(s, 1, room);
                          bind_blob(s, 2, info.salt);
                          sqlite3_bind_int64(s, 3, info.kdf.ops);
                          sqlite3_bind_int64(s, 4, info.kdf.mem_kib);
                          bind_blob(s, 5, info.check);
                      });
    step_done(db_, path_, st.get());
}

std::uint64_t StateStore::last_history_seq(const wire::RoomId& room) {
    auto st = prepare(db_, path_, "SELECT max(seq) FROM history WHERE room=?",
                      [&](sqlite3_stmt* s) { bind_blob(s, 1, room); });
    if (!step_row(db_, path_, st.get())) return 0;
    return static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 0));  // NULL reads as 0
}

void StateStore::replace_history(const wire::RoomId& room, std::uint64_t seq, ByteView sealed) {
    auto st = prepare(db_, path_, "UPDATE history SET sealed=? WHERE room=? AND seq=?", [&](sqlite3_stmt* s) {
        bind_blob(s, 1, sealed);
        bind_blob(s, 2, room);
        sqlite3_bind_int64(s, 3, static_cast<sqlite3_int64>(seq));
    });
    step_done(db_, path_, st.get());
}

std::vector<std::pair<std::uint64_t, Bytes>> StateStore::load_history(const wire::RoomId& room, std::size_t limit) {
    auto st = prepare(db_, path_,
                      "SELECT seq, sealed FROM (SELECT seq, sealed FROM history WHERE room=? ORDER BY seq DESC LIMIT ?) "
                      "ORDER BY seq ASC",
                      [&](sqlite3_stmt* s) {
                          bind_blob(s, 1, room);
                          sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(limit));
                      });
    std::vector<std::pair<std::uint64_t, Bytes>> rows;
    while (step_row(db_, path_, st.get())) {
        auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(st.get(), 1));
        Bytes sealed(data, data + sqlite3_column_bytes(st.get(), 1));
        rows.emplace_back(static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 0)), std::move(sealed));
    }
    return rows;
}

std::uint64_t StateStore::add_outbox(const wire::RoomId& room, const std::function<Bytes(std::uint64_t)>& seal) {
    Transaction tx(*this);
    auto next = prepare(db_, path_, "SELECT coalesce(max(id), 0) + 1 FROM outbox WHERE room=?",
                        [&](sqlite3_stmt* s) { bind_blob(s, 1, room); });
    if (!step_row(db_, path_, next.get())) throw StoreError("cannot number a pending message in " + path_);
    const auto id = static_cast<std::uint64_t>(sqlite3_column_int64(next.get(), 0));
    const Bytes sealed = seal(id);
    auto st = prepare(db_, path_, "INSERT INTO outbox (room, id, sealed) VALUES (?, ?, ?)", [&](sqlite3_stmt* s) {
        bind_blob(s, 1, room);
        sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(id));
        bind_blob(s, 3, sealed);
    });
    step_done(db_, path_, st.get());
    tx.commit();
    return id;
}

std::vector<std::pair<std::uint64_t, Bytes>> StateStore::load_outbox(const wire::RoomId& room) {
    auto st = prepare(db_, path_, "SELECT id, sealed FROM outbox WHERE room=? ORDER BY id",
                      [&](sqlite3_stmt* s) { bind_blob(s, 1, room); });
    std::vector<std::pair<std::uint64_t, Bytes>> rows;
    while (step_row(db_, path_, st.get())) {
        auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(st.get(), 1));
        rows.emplace_back(static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 0)),
                          Bytes(data, data + sqlite3_column_bytes(st.get(), 1)));
    }
    return rows;
}

void StateStore::remove_outbox(const wire::RoomId& room, std::uint64_t id) {
    auto st = prepare(db_, path_, "DELETE FROM outbox WHERE room=? AND id=?", [&](sqlite3_stmt* s) {
        bind_blob(s, 1, room);
        sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(id));
    });
    step_done(db_, path_, st.get());
}

// Nested: only the outermost begins and commits (an inner one that ends
// without commit() leaves the outer to roll back, as its exception passes).
void StateStore::put_device_secret(const wire::RoomId& room, ByteView name, ByteView sealed) {
    Transaction tx(*this);
    // A replaced row's old bytes stay in the log until a checkpoint: that is an erase too.
    if (load_device_secret(room, name)) tx_erased_ = true;
    auto st = prepare(db_, path_, "INSERT OR REPLACE INTO device_secrets (room, name, sealed) VALUES (?, ?, ?)",
                      [&](sqlite3_stmt* s) {
                          bind_blob(s, 1, room);
                          bind_blob(s, 2, name);
                          bind_blob(s, 3, sealed);
                      });
    step_done(db_, path_, st.get());
    tx.commit();
}

std::optional<Bytes> StateStore::load_device_secret(const wire::RoomId& room, ByteView name) {
    auto st = prepare(db_, path_, "SELECT sealed FROM device_secrets WHERE room=? AND name=?", [&](sqlite3_stmt* s) {
        bind_blob(s, 1, room);
        bind_blob(s, 2, name);
    });
    if (!step_row(db_, path_, st.get())) return std::nullopt;
    auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(st.get(), 0));
    return Bytes(data, data + sqlite3_column_bytes(st.get(), 0));
}

bool StateStore::erase_device_secret(const wire::RoomId& room, ByteView name) {
    Transaction tx(*this);
    auto st = prepare(db_, path_, "DELETE FROM device_secrets WHERE room=? AND name=?", [&](sqlite3_stmt* s) {
        bind_blob(s, 1, room);
        bind_blob(s, 2, name);
    });
    step_done(db_, path_, st.get());
    const bool erased = sqlite3_changes(db_) > 0;
    if (erased) tx_erased_ = true;
    tx.commit();
    return erased;
}

std::vector<std::pair<Bytes, Bytes>> StateStore::device_secrets_named(const wire::RoomId& room, ByteView prefix) {
    // A range on the primary key, not a scan: names from `prefix` up to the
    // first name past every one that starts with it (the prefix with its last
    // byte below 0xff raised by one; none if it is all 0xff).
    Bytes upper(prefix.begin(), prefix.end());
    while (!upper.empty() && upper.back() == 0xff) upper.pop_back();
    if (!upper.empty()) ++upper.back();
    const char* sql = upper.empty()
                          ? "SELECT name, sealed FROM device_secrets WHERE room=? AND name>=? ORDER BY name"
                          : "SELECT name, sealed FROM device_secrets WHERE room=? AND name>=? AND name<? ORDER BY name";
    auto st = prepare(db_, path_, sql, [&](sqlite3_stmt* s) {
        bind_blob(s, 1, room);
        bind_blob(s, 2, prefix);
        if (!upper.empty()) bind_blob(s, 3, upper);
    });
    std::vector<std::pair<Bytes, Bytes>> rows;
    while (step_row(db_, path_, st.get())) {
        auto* name = static_cast<const std::uint8_t*>(sqlite3_column_blob(st.get(), 0));
        auto* sealed = static_cast<const std::uint8_t*>(sqlite3_column_blob(st.get(), 1));
        rows.emplace_back(Bytes(name, name + sqlite3_column_bytes(st.get(), 0)),
                          Bytes(sealed, sealed + sqlite3_column_bytes(st.get(), 1)));
    }
    return rows;
}

void StateStore::forget_pending(bool now) noexcept {
    if (!forget_due_ || tx_depth_ != 0) return;
    const auto t = std::chrono::steady_clock::now();
    if (!now && t - last_forget_ < forget_interval_) return;
    // Runs after a COMMIT: it never throws (the transaction is done and
    // durable). A checkpoint that did not reach every frame (another process
    // reading an older snapshot, or an I/O error) stays due.
    int log_frames = 0, checkpointed = 0;
    const int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, &log_frames, &checkpointed);
    checkpoint_complete_ = rc == SQLITE_OK;
    forget_due_ = !checkpoint_complete_;
    last_forget_ = t;
}

StateStore::Transaction::Transaction(StateStore& store) : store_(store) {
    if (store_.tx_depth_ == 0) store_.exec("BEGIN IMMEDIATE");
    ++store_.tx_depth_;
}

StateStore::Transaction::~Transaction() {
    if (!done_) {
        --store_.tx_depth_;
        if (store_.tx_depth_ == 0) {
            sqlite3_exec(store_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
            store_.tx_erased_ = false;  // this transaction erased nothing after all
        }
    }
}

void StateStore::Transaction::commit() {
    if (store_.tx_depth_ == 1) store_.exec("COMMIT");
    --store_.tx_depth_;
    done_ = true;
    if (store_.tx_depth_ == 0) {
        store_.forget_due_ = store_.forget_due_ || store_.tx_erased_;
        store_.tx_erased_ = false;
        store_.forget_pending();
    }
}

}  // namespace parley::store
