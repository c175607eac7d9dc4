// Group commit's writer thread (relay/group_commit.h).
#include "relay/group_commit.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "relay/memory_relay_store.h"

namespace parley::relay {
namespace {

using namespace std::chrono_literals;

// The writer runs as SCHED_BATCH, so a Send's wake-up does not preempt the io
// thread that queued it on a shared core (its batches then hold a whole round
// of reads; bench/RESULTS.md measures what that buys). The done callback runs
// on the writer: its policy is the writer's.
TEST(GroupCommitWriter, RunsAsABatchThreadThatDoesNotPreemptTheIoThread) {
    MemoryRelayStore store;
    std::mutex mutex;
    std::condition_variable cv;
    int policy = -1;
    std::uint64_t seq = 0;
    GroupCommit commit(store, [&](std::vector<PendingSend>&, const std::vector<std::uint64_t>* seqs) {
        std::lock_guard lock(mutex);
        policy = sched_getscheduler(0);
        seq = seqs && !seqs->empty() ? seqs->front() : 0;
        cv.notify_all();
    });
    commit.submit({{{wire::RoomId{}, wire::Hash{}}, LogKind::message, Bytes{1, 2, 3}}, 1, 1, false});
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return policy != -1; }));
    EXPECT_EQ(policy, SCHED_BATCH);
    EXPECT_EQ(seq, 1u) << "the Send was not stored";
    EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER) << "the thread that made the GroupCommit changed policy";
}

}  // namespace
}  // namespace parley::relay
