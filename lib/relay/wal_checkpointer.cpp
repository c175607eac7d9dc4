#include "relay/wal_checkpointer.h"

#include <string_view>

#include "relay/message_log.h"

namespace parley::relay {

WalCheckpointer::WalCheckpointer(sqlite3* writer, const std::string& path) : writer_(writer) {
    if (sqlite3_open_v2(path.c_str(), &own_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
        std::string why = own_ ? sqlite3_errmsg(own_) : "out of memory";
        sqlite3_close(own_);
        throw StorageError("relay database " + path +
                           ": cannot open a second connection for checkpoints: " + why);
    }
    // A connection that has not read the file does not know it is in WAL
    // mode, and its checkpoints would do nothing (and report success).
    sqlite3_stmt* st = nullptr;
    const bool wal =
        sqlite3_prepare_v2(own_, "PRAGMA journal_mode", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW &&
        std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "wal";
    sqlite3_finalize(st);
    if (!wal) {
        sqlite3_close(own_);
        throw StorageError("relay database " + path +
                           ": the checkpoint connection does not see WAL mode");
    }
    thread_ = std::thread([this] { run(); });
    sqlite3_wal_hook(writer_, &WalCheckpointer::on_commit, this);
}

WalCheckpointer::~WalCheckpointer() {
    sqlite3_wal_hook(writer_, nullptr, nullptr);
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
    sqlite3_close(own_);
}

WalCheckpointer::Figures WalCheckpointer::figures() const {
    return {background_.load(std::memory_order_relaxed), finished_.load(std::memory_order_relaxed),
            forced_.load(std::memory_order_relaxed), failed_.load(std::memory_order_relaxed),
            log_pages_.load(std::memory_order_relaxed)};
}

void WalCheckpointer::wait_idle() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [this] { return !due_ && !running_; });
}

// Called by SQLite in the writer's thread after each commit, with the log's
// size in frames (pages). The commit has happened whatever this returns: an
// error here would only make a committed write report failure, so it returns
// SQLITE_OK.
int WalCheckpointer::on_commit(void* self_ptr, sqlite3* db, const char* schema, int log_pages) {
    auto* self = static_cast<WalCheckpointer*>(self_ptr);
    const auto pages = static_cast<std::uint64_t>(log_pages);
    self->log_pages_.store(pages, std::memory_order_relaxed);
    enum { none, wake, finish, force } action = none;
    {
        std::lock_guard lock(self->mutex_);
        if (pages < self->copied_ || pages < self->started_at_) {  // the log started over
            self->copied_ = self->started_at_ = 0;
            self->chasing_ = false;
        }
        const std::uint64_t left = pages - self->copied_;
        if (pages >= hard_limit_pages)
            action = force;
        else if (self->due_ || self->running_)
            action = none;
        else if (self->copied_ > 0 && left <= finish_pages)
            action = finish;
        else if (pages >= self->started_at_ + due_pages || (self->chasing_ && left > finish_pages))
            action = wake;
        if (action == wake) {
            self->due_ = true;
            self->started_at_ = pages;
        }
    }
    if (action == wake) self->wake_.notify_one();
    if (action == finish || action == force) {
        // Refused as busy (the thread is copying) or held back by a reader
        // (force): the next commit tries again.
        int copied = 0;
        const int rc =
            sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, &copied);
        (action == finish ? self->finished_ : self->forced_)
            .fetch_add(1, std::memory_order_relaxed);
        std::lock_guard lock(self->mutex_);
        if (rc == SQLITE_OK && copied > 0) self->copied_ = static_cast<std::uint64_t>(copied);
    }
    return SQLITE_OK;
}

void WalCheckpointer::run() {
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return due_ || stop_; });
        if (stop_) return;
        due_ = false;
        running_ = true;
        lock.unlock();
        int copied = 0;
        const int rc =
            sqlite3_wal_checkpoint_v2(own_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, &copied);
        if (rc == SQLITE_OK)
            background_.fetch_add(1, std::memory_order_relaxed);
        else if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
            failed_.fetch_add(1, std::memory_order_relaxed);
        lock.lock();
        running_ = false;
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
            // A PASSIVE checkpoint never waits: it was refused because the
            // writer was copying its last frames, or was mid-commit on the
            // log's index. Nothing was learnt, so the next commit wakes the
            // thread again (were it to wait for due_pages more frames, a
            // quiet room would leave the log uncopied until then).
            chasing_ = true;
        } else {
            // Chase what the writer added meanwhile only while passes gain on
            // it: behind a reader's snapshot they copy nothing more, and the
            // thread waits for due_pages more frames instead of copying
            // nothing at every commit.
            const auto now =
                rc == SQLITE_OK && copied > 0 ? static_cast<std::uint64_t>(copied) : copied_;
            chasing_ = now > copied_;
            copied_ = now;
        }
        idle_.notify_all();
    }
}

}  // namespace parley::relay
