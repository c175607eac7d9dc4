// Everything the relay keeps: the chains (ChainStore) and the per-chain log
// (MessageLog), in one place so an accepted successor record and its new_head
// log item are stored together.
#pragma once

#include "relay/chain_store.h"
#include "relay/message_log.h"

namespace parley::relay {

class RelayStore : public ChainStore, public MessageLog {
public:
    using ChainStore::append;
    using MessageLog::append;
};

}  // namespace parley::relay
