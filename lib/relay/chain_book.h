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

#include <mutex>
#include <optional>
#include <vector>

#include "relay/admission.h"
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

// One page of a chain (GetChain): records after `after`, and whether the last is the head.
struct ChainPage {
    std::optional<wire::RelayError> error;  // unknown_chain: no such room, chain or record
    std::vector<Bytes> records;
    bool complete = false;
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
    explicit ChainBook(ChainStore& store, Quotas quotas = {}) : store_(store), quotas_(quotas) {}

    // Epoch 0 starts the room's chain: one genesis per room id (another one is
    // room_exists; the same genesis again is accepted idempotently, appended
    // false). Who may start one is the caller's check (Admission). Any other
    // epoch must extend the head whose hash is record.previous (else not_head
    // if that hash is an older record, unknown_chain if it is none), with that
    // head's access token (else forbidden) and as its valid successor (else
    // bad_record), within the quotas (else quota).
    // Throws StorageError (nothing changed) when the store cannot write.
    [[nodiscard]] PublishOutcome publish(const wire::RoomId& room, const wire::Token& token,
                                         const VerifiedRecord& verified);

    // unknown_chain if no such chain; forbidden unless token hashes to the head's token hash.
    [[nodiscard]] JoinOutcome check_join(const wire::RoomId& room, const wire::Hash& genesis,
                                         const wire::Token& token) const;

    // The records of chain (room, genesis) after the record `after` (all zero:
    // from the genesis), at most wire::max_records_per_page and stopping after
    // the one that reaches `max_bytes`.
    [[nodiscard]] ChainPage page(const wire::RoomId& room, const wire::Hash& genesis, const wire::Hash& after,
                                 std::size_t max_bytes) const;

    // Would storing `bytes` more for chain (room, genesis) stay within the quotas?
    [[nodiscard]] bool fits(const wire::RoomId& room, const wire::Hash& genesis, std::uint64_t bytes) const;

    // A reload's quotas; safe from any thread.
    void set_quotas(const Quotas& quotas) {
        std::lock_guard lock(quotas_mutex_);
        quotas_ = quotas;
    }

private:
    Quotas quotas() const {
        std::lock_guard lock(quotas_mutex_);
        return quotas_;
    }

    PublishOutcome publish_genesis(const wire::RoomId& room, const VerifiedRecord& verified);
    PublishOutcome publish_once(const wire::RoomId& room, const wire::Token& token, const VerifiedRecord& verified);

    ChainStore& store_;
    mutable std::mutex quotas_mutex_;
    Quotas quotas_;
};

}  // namespace parley::relay
