// Where the relay keeps the rooms' epoch-record chains. Storage only: the rules
// for what may be appended live in ChainBook, so the SQLite store and the
// in-memory one (for tests) share them.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "relay/message_log.h"
#include "wire/bytes.h"
#include "wire/frames.h"

namespace parley::relay {

// One accepted record, with what the relay needs without decoding it again.
struct StoredRecord {
    Bytes encoded;
    wire::Hash hash{};
    std::uint64_t epoch = 0;
    wire::Hash token_hash{};
};

// A store several relay processes share: another one's commit took what this
// append needed (the head's next epoch, or the room's one genesis) between the
// caller's checks and the write. Nothing was stored; checking again against
// the store now decides the answer.
class StoreConflict : public StorageError {
public:
    using StorageError::StorageError;
};

// Chains are keyed by (room id, genesis hash). Implementations must be safe to
// call concurrently for different rooms; callers serialize calls per room.
class ChainStore {
public:
    virtual ~ChainStore() = default;

    // Genesis hashes of the room's chains, oldest first.
    virtual std::vector<wire::Hash> geneses(const wire::RoomId& room) const = 0;
    // The last record of a chain; nullopt if there is no such chain.
    virtual std::optional<StoredRecord> head(const wire::RoomId& room, const wire::Hash& genesis) const = 0;
    // Every record of a chain from the genesis to the head; empty if none.
    virtual std::vector<Bytes> records(const wire::RoomId& room, const wire::Hash& genesis) const = 0;
    // The genesis of the room's chain that holds a record with this hash, if any.
    virtual std::optional<wire::Hash> chain_containing(const wire::RoomId& room,
                                                       const wire::Hash& record_hash) const = 0;
    // A page of a chain: its records with an epoch above `after_epoch` (all of
    // them from the genesis when nullopt), oldest first, at most `max_items`,
    // stopping after the record that reaches `max_bytes` (at least one record
    // when there is one). Never reads more than the page from the store.
    virtual std::vector<Bytes> records_after(const wire::RoomId& room, const wire::Hash& genesis,
                                             std::optional<std::uint64_t> after_epoch, std::size_t max_items,
                                             std::size_t max_bytes) const = 0;
    // The epoch of the chain's record with this hash; nullopt if it has none.
    virtual std::optional<std::uint64_t> epoch_of(const wire::RoomId& room, const wire::Hash& genesis,
                                                  const wire::Hash& record_hash) const = 0;
    // Bytes a chain holds (its records and its stored log items), and all chains
    // together: what the relay's storage quotas count.
    virtual std::uint64_t stored_bytes(const wire::RoomId& room, const wire::Hash& genesis) const = 0;
    virtual std::uint64_t total_stored_bytes() const = 0;
    // Number of records in a chain (0 if none).
    virtual std::size_t length(const wire::RoomId& room, const wire::Hash& genesis) const = 0;
    // Starts a chain (an epoch-0 record, genesis == record.hash) or appends to
    // one. The caller has checked the record; the store does not. A successor
    // (epoch > 0) also takes the next place in the chain's message log as a
    // new_head item, in the same transaction; returns its sequence number (0
    // for a genesis). Durable when it returns; throws StorageError (message_log.h)
    // with nothing stored: StoreConflict if another process took the place first.
    virtual std::uint64_t append(const wire::RoomId& room, const wire::Hash& genesis,
                                 StoredRecord record) = 0;
};

}  // namespace parley::relay
