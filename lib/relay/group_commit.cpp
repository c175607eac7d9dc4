#include "relay/group_commit.h"

#include <cstdio>

namespace parley::relay {

GroupCommit::GroupCommit(MessageLog& log, Done done, GroupCommitOptions options)
    : log_(log), done_(std::move(done)), options_(options), writer_([this] { run(); }) {}

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
        appends.clear();
        for (auto& item : batch) appends.push_back(std::move(item.append));
        std::vector<std::uint64_t> seqs;
        bool stored = false;
        try {
            seqs = log_.append(appends);
            stored = true;
        } catch (const StorageError& e) {
            std::fprintf(stderr, "parley-relay: cannot store %zu message(s), refusing them: %s\n",
                         batch.size(), e.what());
        }
        for (std::size_t i = 0; i < batch.size(); ++i) batch[i].append = std::move(appends[i]);
        done_(batch, stored ? &seqs : nullptr);
        batch.clear();
    }
}

}  // namespace parley::relay
