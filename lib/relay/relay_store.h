// Everything the relay keeps: the chains (ChainStore) and the per-chain log
// (MessageLog), in one place so an accepted successor record and its new_head
// log item are stored together.
#pragma once

#include <functional>
#include <vector>

#include "relay/chain_store.h"
#include "relay/message_log.h"

namespace parley::relay {

// A chain's log now ends at `last_seq`: another relay process sharing the
// store committed to it.
struct ChainTip {
    ChainKey chain;
    std::uint64_t last_seq = 0;
};

// Told of other processes' commits, from a thread of the store's own that
// holds none of the store's locks. `everything`: the store may have missed
// some (its notification connection was lost and is back), so every chain the
// caller serves may have grown; `tips` is then empty.
using CommitWatcher = std::function<void(const std::vector<ChainTip>& tips, bool everything)>;

class RelayStore : public ChainStore, public MessageLog {
public:
    using ChainStore::append;
    using MessageLog::append;

    // A store several relay processes share (PostgreSQL) reports the others'
    // commits to `watcher`, once per committed batch; an empty watcher stops
    // the reports and returns once none is running. A store only this process
    // writes has nothing to report and never calls it.
    virtual void watch_commits(CommitWatcher watcher) { (void)watcher; }
};

}  // namespace parley::relay
