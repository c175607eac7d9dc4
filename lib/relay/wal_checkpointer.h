// Checkpoints of the relay database's write-ahead log, off the commit path.
//
// SQLite's default copies the log back into the database inside the commit
// that takes it past 1,000 pages: that commit copies a thousand pages and
// syncs both files, so every few hundred messages one waits milliseconds, and
// every message queued behind it with it (bench/: scenario 2's p99 halves
// without it). Here the writer's connection only reports the log's size after
// each commit (its WAL hook, which replaces the automatic checkpoint), and a
// thread of our own, on a connection of its own, runs PASSIVE checkpoints: they
// copy what is committed while the writer goes on appending, and never block
// it. The first starts when due_pages frames are waiting; while passes gain on
// the writer, each commit after one wakes the thread again, each pass copying
// what the writer added during the last, until at most finish_pages are left: those few the writer
// copies itself after its next commit (a short wait, where it was a thousand pages), and the commit
// after that starts the log over. So the log stays near due_pages, as with SQLite's own
// checkpoints.
//
// A checkpoint cannot copy past a reader's snapshot (then the thread tries
// again each due_pages frames), and a writer faster than the copying would
// never be caught: past hard_limit_pages the writer
// checkpoints itself after each commit, as SQLite would have, so the log stays
// bounded whatever happens.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace parley::relay {

class WalCheckpointer {
public:
    static constexpr std::uint64_t due_pages = 1000;   // SQLite's own autocheckpoint threshold
    static constexpr std::uint64_t finish_pages = 64;  // left for the writer to copy
    static constexpr std::uint64_t hard_limit_pages = 16000;  // ~64 MiB of log at 4 KiB pages

    struct Figures {
        std::uint64_t background = 0;  // checkpoints the thread ran
        std::uint64_t finished = 0;    // the writer's, of the few frames committed during one
        std::uint64_t forced = 0;      // the writer's, past the hard limit
        std::uint64_t failed = 0;      // the thread's that returned an error (not busy)
        std::uint64_t log_pages = 0;   // the log's size after the last commit
    };

    // Opens its own connection to `path` (an existing WAL database) and
    // starts the thread; installs itself as `writer`'s WAL hook. Throws
    // StorageError naming the file if the connection cannot be opened.
    WalCheckpointer(sqlite3* writer, const std::string& path);
    // Stops the thread and closes its connection; removes the hook.
    ~WalCheckpointer();
    WalCheckpointer(const WalCheckpointer&) = delete;
    WalCheckpointer& operator=(const WalCheckpointer&) = delete;

    Figures figures() const;
    // Returns once the thread has nothing to do (tests: a pass with no commit
    // beside it copies every frame).
    void wait_idle();

private:
    static int on_commit(void* self, sqlite3* db, const char* schema, int log_pages);
    void run();

    sqlite3* writer_;
    sqlite3* own_ = nullptr;
    std::mutex mutex_;
    std::condition_variable wake_, idle_;
    // Under mutex_:
    bool due_ = false;      // the thread should checkpoint
    bool running_ = false;  // it is checkpointing
    bool stop_ = false;
    std::uint64_t copied_ = 0;      // frames of the current log the last checkpoint copied
    std::uint64_t started_at_ = 0;  // the log's size when the thread was last woken
    bool chasing_ = false;          // the last pass copied more than the one before, or was refused
    std::atomic<std::uint64_t> background_{0}, finished_{0}, forced_{0}, failed_{0}, log_pages_{0};
    std::thread thread_;
};

}  // namespace parley::relay
