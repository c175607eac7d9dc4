// The relay's rules for epoch-record chains (DESIGN.md "Epoch records"): what
// may start a chain, what may extend one, and who may join one.
//
// The relay checks what it can without a secret: structure, the author's
// signature, succession (epoch + 1, previous hash, roster ops) and the head
// epoch's access token. It cannot open the sealed boxes; clients check those.
//
// Not thread-safe: the caller serializes calls per room (RelayState holds the
// room's mutex), which is what makes publish a compare-and-set on the head.
#pragma once

#include <optional>
#include <vector>

#include "relay/chain_store.h"
#include "wire/frames.h"
#include "wire/record.h"

namespace parley::relay {

// A record that decoded, names the room it is published to, and carries a
// valid author signature. Cheap to make before taking any lock.
struct VerifiedRecord {
    wire::EpochRecord record;
    Bytes encoded;
    wire::Hash hash{};
};

struct PublishOutcome {
    std::optional<wire::RelayError> error;  // set => nothing changed
    wire::Hash record_hash{};
    wire::Hash genesis{};
    bool appended = false;  // false for an idempotent re-publish of the current head
    std::uint64_t seq = 0;  // an appended successor's place in the chain's message log
};

struct JoinOutcome {
    std::optional<wire::RelayError> error;
    std::uint64_t head_epoch = 0;
    wire::Hash head_hash{};
};

// decode_record + room match + signature; bad_record on any failure.
[[nodiscard]] std::optional<VerifiedRecord> verify_published_record(const wire::RoomId& room,
                                                                    ByteView encoded);

class ChainBook {
public:
    explicit ChainBook(ChainStore& store) : store_(store) {}

    // Epoch 0 starts a chain (at most wire::max_chains_per_room per room; the
    // same genesis again is accepted idempotently). Any other epoch must extend
    // the head whose hash is record.previous (else not_head if that hash is an
    // older record, unknown_chain if it is none), with that head's access token
    // (else forbidden) and as its valid successor (else bad_record).
    // Throws StorageError (nothing changed) when the store cannot write.
    [[nodiscard]] PublishOutcome publish(const wire::RoomId& room, const wire::Token& token,
                                         const VerifiedRecord& verified);

    // unknown_chain if no such chain; forbidden unless token hashes to the head's token hash.
    [[nodiscard]] JoinOutcome check_join(const wire::RoomId& room, const wire::Hash& genesis,
                                         const wire::Token& token) const;

    // Every chain of the room (all-zero genesis) or only the one starting at `genesis`.
    [[nodiscard]] std::vector<std::vector<Bytes>> chains(const wire::RoomId& room,
                                                         const wire::Hash& genesis) const;

private:
    PublishOutcome publish_genesis(const wire::RoomId& room, const VerifiedRecord& verified);

    ChainStore& store_;
};

}  // namespace parley::relay
