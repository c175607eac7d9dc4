#include "relay/group_commit.h"

#include <cstdio>

#include "relay/log.h"

namespace parley::relay {

GroupCommit::GroupCommit(MessageLog& log, Done done, GroupCommitOptions options)
    : log_(log), recent_(log), done_(std::move(done)), options_(options), writer_([this] { run(); }) {}

GroupCommit::~GroupCommit() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    writer_.join();
}

void GroupCommit::submit(PendingSend item) {
    bool wake = false;
    {
        std::lock_guard lock(mutex_);
        if (queue_.empty()) {
            first_queued_ = std::chrono::steady_clock::now();
            wake = true;
        }
        queue_.push_back(std::move(item));
        wake = wake || queue_.size() >= options_.max_items;
    }
    if (wake) wake_.notify_one();
}

// The transaction, timed for /metrics (parley_relay_commit_seconds) whether
// it commits or throws.
std::vector<std::uint64_t> GroupCommit::timed_append(const std::vector<LogAppend>& appends) {
    if (!options_.commit_seconds) return log_.append(appends);
    struct Observe {
        LatencyHistogram& histogram;
        std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
        ~Observe() { histogram.observe(std::chrono::steady_clock::now() - start); }
    } observe{*options_.commit_seconds};
    return log_.append(appends);
}

void GroupCommit::run() {
    std::vector<PendingSend> batch;
    std::vector<LogAppend> appends;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, nothing left
            // Let the batch fill for up to max_delay after its first item, if asked to.
            if (options_.max_delay.count() > 0)
                wake_.wait_until(lock, first_queued_ + options_.max_delay,
                                 [&] { return stopping_ || queue_.size() >= options_.max_items; });
            batch.swap(queue_);
        }
        // A Resend of a message already stored is answered with that copy's
        // number (see PendingSend); the rest are stored in one transaction.
        std::vector<std::uint64_t> seqs(batch.size());
        std::vector<std::uint64_t> new_seqs;
        appends.clear();
        bool stored = false;
        try {
            for (std::size_t i = 0; i < batch.size(); ++i) {
                auto& item = batch[i];
                item.duplicate = false;
                if (!item.resend) continue;
                try {
                    const auto copy = recent_.find(item.append.chain, item.append.payload);
                    item.duplicate = copy.has_value();
                    if (copy) seqs[i] = *copy;
                } catch (const StorageError& e) {  // stored as a Send instead
                    PARLEY_LOG_THROTTLED(5, error, "storage: cannot look up a resent message, storing it again: %s", e.what());
                }
            }
            for (auto& item : batch)
                if (!item.duplicate) appends.push_back(std::move(item.append));
            if (!appends.empty()) new_seqs = timed_append(appends);  // not when all were resends
            stored = true;
        } catch (const StorageError& e) {
            PARLEY_LOG_THROTTLED(5, error, "storage: cannot store %zu message(s), refusing them: %s", batch.size(),
                                 e.what());
        }
        // Every stored item gets its number, and its append back (the fan-out
        // sends its payload).
        for (std::size_t i = 0, next = 0; i < batch.size() && next < appends.size(); ++i) {
            if (batch[i].duplicate) continue;
            if (stored) {
                seqs[i] = new_seqs[next];
                recent_.add(appends[next].chain, seqs[i], appends[next].payload);
            }
            batch[i].append = std::move(appends[next++]);
        }
        done_(batch, stored ? &seqs : nullptr);
        batch.clear();
    }
}

}  // namespace parley::relay
