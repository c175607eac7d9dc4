// Group commit (DESIGN.md "The relay": acknowledged only when durable): Sends
// from every connection queue here, and one writer thread stores them in one
// transaction per batch. An idle writer commits what is queued at once (the
// default max_delay is zero: a lone Send is not held back); while one batch
// commits the next one fills, so batches grow with the load by themselves and
// throughput does not wait on the disk. A non-zero max_delay lets a batch
// fill for that long after its first item (or until max_items).
//
// After each commit (or failure) the writer hands the batch, in queue order,
// to the `done` callback, which acknowledges and fans out (a resent message
// the log already holds is only acknowledged, see PendingSend). Only then does the
// next batch commit, so items leave in the order they were stored.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "relay/message_log.h"
#include "relay/recent_messages.h"
#include "relay/relay_metrics.h"

namespace parley::relay {

struct PendingSend {
    LogAppend append;
    std::uint64_t sender_id = 0;  // Subscriber::id() of the connection to acknowledge
    std::uint64_t request_id = 0;
    // A Resend (wire::Send::resend): the writer first looks for an earlier
    // copy among the chain's last messages (recent_messages.h). If there is one,
    // `duplicate` is set, nothing is stored, and the item's sequence number is
    // that copy's: its sender gets that Ack and no one gets a Deliver.
    bool resend = false;
    bool duplicate = false;
};

struct GroupCommitOptions {
    std::chrono::microseconds max_delay{0};
    std::size_t max_items = 512;
    // Observes how long each batch's transaction (MessageLog::append) took,
    // failed ones included; null: not measured. Outlives the GroupCommit.
    LatencyHistogram* commit_seconds = nullptr;
};

class GroupCommit {
public:
    // `seqs` is the stored items' sequence numbers in batch order, or null when
    // the commit failed and nothing of the batch was stored.
    using Done = std::function<void(std::vector<PendingSend>& batch, const std::vector<std::uint64_t>* seqs)>;

    GroupCommit(MessageLog& log, Done done, GroupCommitOptions options = {});
    // Commits what is queued, then stops the writer.
    ~GroupCommit();
    GroupCommit(const GroupCommit&) = delete;
    GroupCommit& operator=(const GroupCommit&) = delete;

    // Queues one item; never blocks on the disk.
    void submit(PendingSend item);

private:
    void run();
    std::vector<std::uint64_t> timed_append(const std::vector<LogAppend>& appends);

    MessageLog& log_;
    RecentMessages recent_;  // the writer thread's only
    Done done_;
    GroupCommitOptions options_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<PendingSend> queue_;
    std::chrono::steady_clock::time_point first_queued_{};
    bool stopping_ = false;
    std::thread writer_;  // last: starts after everything it uses
};

}  // namespace parley::relay
