// Group commit's writer thread (relay/group_commit.h).
#include "relay/group_commit.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "relay/memory_relay_store.h"

namespace parley::relay {
namespace {

using namespace std::chrono_literals;

class DeferredWake : public ::testing::Test {
protected:
    DeferredWake() {
        options_.max_items = 4;
        options_.defer_wake = [this](std::function<void()> wake) {
            std::lock_guard lock(mutex_);
            wakes_.push_back(std::move(wake));
        };
        commit_ = std::make_unique<GroupCommit>(
            store_,
            [this](std::vector<PendingSend>& batch, const std::vector<std::uint64_t>* seqs) {
                std::lock_guard lock(mutex_);
                sizes_.push_back(seqs ? batch.size() : 0);
                cv_.notify_all();
            },
            options_);
    }

    void submit(std::uint64_t request_id) {
        commit_->submit({{{wire::RoomId{}, wire::Hash{}}, LogKind::message, Bytes{1, 2, 3}}, 1, request_id, false});
    }
    std::size_t deferred() {
        std::lock_guard lock(mutex_);
        return wakes_.size();
    }
    void run_deferred() {
        std::vector<std::function<void()>> wakes;
        {
            std::lock_guard lock(mutex_);
            wakes.swap(wakes_);
        }
        for (auto& wake : wakes) wake();
    }
    // The batches committed so far, waiting up to 5 s for `count` of them.
    std::vector<std::size_t> batches(std::size_t count) {
        std::unique_lock lock(mutex_);
        cv_.wait_for(lock, 5s, [&] { return sizes_.size() >= count; });
        return sizes_;
    }

    MemoryRelayStore store_;
    GroupCommitOptions options_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<std::function<void()>> wakes_;
    std::vector<std::size_t> sizes_;
    std::unique_ptr<GroupCommit> commit_;  // last: its writer uses the rest
};

// The first Send of a batch hands its wake-up to defer_wake (the relay posts
// it behind the io thread's round of reads); the writer commits nothing until
// it runs, then everything queued by then in one batch.
TEST_F(DeferredWake, TheWriterWaitsForTheDeferredWakeUpThenCommitsTheWholeRound) {
    submit(1);
    submit(2);
    submit(3);
    EXPECT_EQ(deferred(), 1u) << "one wake-up per batch, not one per Send";
    std::this_thread::sleep_for(100ms);
    EXPECT_TRUE(batches(0).empty()) << "the writer committed before its wake-up ran";
    run_deferred();
    EXPECT_EQ(batches(1), std::vector<std::size_t>{3});
    // The next Send begins a new batch, with its own wake-up.
    submit(4);
    EXPECT_EQ(deferred(), 1u);
    run_deferred();
    EXPECT_EQ(batches(2), (std::vector<std::size_t>{3, 1}));
}

// A full batch (max_items) does not wait for the round to end.
TEST_F(DeferredWake, AFullBatchWakesTheWriterAtOnce) {
    for (std::uint64_t i = 1; i <= 4; ++i) submit(i);
    EXPECT_EQ(batches(1), std::vector<std::size_t>{4});
    EXPECT_EQ(deferred(), 1u);
    run_deferred();  // late: finds nothing queued, commits nothing
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(batches(1).size(), 1u);
}

}  // namespace
}  // namespace parley::relay
