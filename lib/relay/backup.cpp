#include "relay/backup.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "relay/sqlite_relay_store.h"

namespace parley::relay {

namespace {

constexpr int pages_per_step = 256;  // the relay's writers get the database between steps

struct Db {
    sqlite3* db = nullptr;
    ~Db() {
        if (db) sqlite3_close(db);
    }
};

std::uint64_t count(sqlite3* db, const char* table) {
    const std::string sql = std::string("SELECT count(*) FROM ") + table;
    sqlite3_stmt* st = nullptr;
    std::uint64_t n = 0;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = static_cast<std::uint64_t>(sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    return n;
}

std::string quick_check(sqlite3* db) {
    sqlite3_stmt* st = nullptr;
    std::string result = "cannot run quick_check";
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        result = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return result;
}

BackupSummary copy_database(const std::filesystem::path& from, const std::filesystem::path& to) {
    Db src, dst;
    if (sqlite3_open_v2(from.c_str(), &src.db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
        throw std::runtime_error("cannot read " + from.string() + ": " + sqlite3_errmsg(src.db));
    sqlite3_busy_timeout(src.db, 5000);
    if (sqlite3_open_v2(to.c_str(), &dst.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK)
        throw std::runtime_error("cannot create " + to.string() + ": " + sqlite3_errmsg(dst.db));
    ::chmod(to.c_str(), 0600);  // the relay's metadata, as the database itself
    sqlite3_backup* backup = sqlite3_backup_init(dst.db, "main", src.db, "main");
    if (backup == nullptr) throw std::runtime_error("cannot start the backup: " + std::string(sqlite3_errmsg(dst.db)));
    int rc = SQLITE_OK;
    while ((rc = sqlite3_backup_step(backup, pages_per_step)) == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        if (rc != SQLITE_OK) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE) throw std::runtime_error("the backup failed: " + std::string(sqlite3_errstr(rc)));
    // A copy that stands alone: no -wal file beside it to go missing.
    sqlite3_exec(dst.db, "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr);
    if (const auto check = quick_check(dst.db); check != "ok")
        throw std::runtime_error("the copy does not check out (quick_check: " + check + ")");
    BackupSummary s;
    s.chains = count(dst.db, "chains");
    s.records = count(dst.db, "records");
    s.messages = count(dst.db, "log");
    return s;
}

}  // namespace

BackupSummary backup_database(const std::filesystem::path& data_dir, const std::filesystem::path& to) {
    const auto from = data_dir / SqliteRelayStore::file_name;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(from, ec))
        throw std::runtime_error("no relay database in " + data_dir.string() +
                                 "\nhint: --data names the folder the relay runs with");
    if (std::filesystem::exists(to, ec))
        throw std::runtime_error(to.string() + " exists already\nhint: name a new file; nothing was overwritten");
    try {
        auto summary = copy_database(from, to);
        summary.bytes = std::filesystem::file_size(to, ec);
        return summary;
    } catch (...) {
        std::filesystem::remove(to, ec);  // no partial copy that looks like a backup
        throw;
    }
}

}  // namespace parley::relay
