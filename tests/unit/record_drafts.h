// Record drafts and sender contexts, built the same way by the unit tests
// (test_support.h) and the fuzz targets (tests/fuzz/fuzz_support.h). No gtest
// here: the fuzz targets include it too.
#pragma once

#include <algorithm>
#include <vector>

#include "crypto/primitives.h"
#include "protocol/epoch.h"
#include "protocol/message.h"
#include "wire/record.h"

namespace parley::test {

inline std::vector<wire::PublicKey> sorted(std::vector<wire::PublicKey> keys) {
    std::sort(keys.begin(), keys.end());
    return keys;
}

// One add op per key of `roster`, in key order (the order a genesis lists them).
inline std::vector<wire::RosterOp> adds_for(const std::vector<wire::PublicKey>& roster) {
    std::vector<wire::RosterOp> ops;
    for (const auto& k : sorted(roster)) ops.push_back({wire::RosterOpKind::add, k});
    return ops;
}

// A successor draft: `prev`'s roster with `ops` applied, one second later.
inline protocol::RecordDraft successor_draft(const wire::EpochRecord& prev,
                                             std::vector<wire::RosterOp> ops = {}) {
    protocol::RecordDraft d;
    d.room = prev.room;
    d.epoch = prev.epoch + 1;
    d.previous = wire::record_hash(prev);
    d.salt = prev.salt;
    d.kdf = prev.kdf;
    d.created_at_ms = prev.created_at_ms + 1000;
    d.roster = prev.roster;
    for (const auto& op : ops) {
        if (op.kind == wire::RosterOpKind::add)
            d.roster.push_back(op.key);
        else
            std::erase(d.roster, op.key);
    }
    d.ops = std::move(ops);
    return d;
}

// What `who` needs to send from `session` in the epoch `epoch` (record hash
// `record_hash`) of `room`.
inline protocol::SenderContext sender_context(const crypto::Identity& who, const wire::RoomId& room,
                                              std::uint64_t epoch, const wire::Hash& record_hash,
                                              const wire::SessionId& session,
                                              const crypto::SymmetricKey* message_key) {
    protocol::SenderContext ctx;
    ctx.me = &who;
    ctx.my_id = crypto::key_id(who.public_key);
    ctx.room = room;
    ctx.epoch = epoch;
    ctx.record_hash = record_hash;
    ctx.session = session;
    ctx.message_key = message_key;
    return ctx;
}

}  // namespace parley::test
