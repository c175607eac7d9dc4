#include "relay/chain_book.h"

#include <sodium.h>

namespace parley::relay {
namespace {

using wire::RelayError;

PublishOutcome failed(RelayError error) {
    PublishOutcome out;
    out.error = error;
    return out;
}

// Token hashes are compared in constant time: they gate relay access.
bool same_hash(const wire::Hash& a, const wire::Hash& b) {
    return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::optional<VerifiedRecord> verify_published_record(const wire::RoomId& room, ByteView encoded) {
    auto decoded = wire::decode_record(encoded);
    if (!decoded.record) return std::nullopt;
    if (decoded.record->room != room) return std::nullopt;
    if (!wire::verify_record_signature(*decoded.record)) return std::nullopt;
    VerifiedRecord out;
    out.hash = wire::record_hash(*decoded.record);
    out.record = std::move(*decoded.record);
    out.encoded.assign(encoded.begin(), encoded.end());
    return out;
}

PublishOutcome ChainBook::publish_genesis(const wire::RoomId& room, const VerifiedRecord& verified) {
    // One genesis per room id: whoever knows a room id cannot start a second
    // chain beside the one its members follow. (A relay database from before
    // this rule may hold several; they are kept and served by genesis.)
    auto geneses = store_.geneses(room);
    for (const auto& g : geneses) {
        if (g == verified.hash) {  // the same genesis again: a retry, not a new chain
            PublishOutcome out;
            out.record_hash = out.genesis = verified.hash;
            return out;
        }
    }
    if (!geneses.empty()) return failed(RelayError::room_exists);
    if (store_.total_stored_bytes() + verified.encoded.size() > quotas().max_total_bytes)
        return failed(RelayError::quota);
    store_.append(room, verified.hash,
                  {verified.encoded, verified.hash, 0, verified.record.token_hash});
    PublishOutcome out;
    out.record_hash = out.genesis = verified.hash;
    out.appended = true;
    return out;
}

// Another relay node sharing the store may commit between this node's checks
// and its write (the store refuses the second of two successors to one head,
// or a second genesis for a room: StoreConflict). Deciding once more on what
// the store now holds gives the answer one node would have given: the same
// record again, not_head, or room_exists.
PublishOutcome ChainBook::publish(const wire::RoomId& room, const wire::Token& token,
                                  const VerifiedRecord& verified) {
    try {
        return publish_once(room, token, verified);
    } catch (const StoreConflict&) {
        return publish_once(room, token, verified);
    }
}

PublishOutcome ChainBook::publish_once(const wire::RoomId& room, const wire::Token& token,
                                       const VerifiedRecord& verified) {
    const auto& record = verified.record;
    if (record.epoch == 0) return publish_genesis(room, verified);

    // Find the chain whose head this record extends.
    std::optional<wire::Hash> genesis;
    std::optional<StoredRecord> head;
    for (const auto& g : store_.geneses(room)) {
        auto h = store_.head(room, g);
        if (h && h->hash == record.previous) {
            genesis = g;
            head = std::move(h);
            break;
        }
    }
    if (!head) {
        if (auto holder = store_.chain_containing(room, verified.hash)) {
            // Already accepted: a retry of the head is fine, anything older is stale.
            auto h = store_.head(room, *holder);
            if (h && h->hash == verified.hash) {
                PublishOutcome out;
                out.record_hash = verified.hash;
                out.genesis = *holder;
                return out;
            }
            return failed(RelayError::not_head);
        }
        bool older = store_.chain_containing(room, record.previous).has_value();
        return failed(older ? RelayError::not_head : RelayError::unknown_chain);
    }

    // Only holders of the head epoch's token may extend it.
    if (!same_hash(wire::token_hash(token), head->token_hash)) return failed(RelayError::forbidden);

    auto prev = wire::decode_record(head->encoded);
    if (!prev.record) return failed(RelayError::internal);  // the store holds only checked records
    if (wire::check_successor(*prev.record, record)) return failed(RelayError::bad_record);
    if (store_.length(room, *genesis) >= quotas().max_chain_records) return failed(RelayError::quota);
    // A successor is stored twice: as a record and as its log item.
    if (!fits(room, *genesis, 2 * verified.encoded.size())) return failed(RelayError::quota);

    PublishOutcome out;
    out.seq = store_.append(room, *genesis, {verified.encoded, verified.hash, record.epoch, record.token_hash});
    out.record_hash = verified.hash;
    out.genesis = *genesis;
    out.appended = true;
    return out;
}

JoinOutcome ChainBook::check_join(const wire::RoomId& room, const wire::Hash& genesis,
                                  const wire::Token& token) const {
    JoinOutcome out;
    auto head = store_.head(room, genesis);
    if (!head) {
        out.error = RelayError::unknown_chain;
        return out;
    }
    if (!same_hash(wire::token_hash(token), head->token_hash)) {
        out.error = RelayError::forbidden;
        return out;
    }
    out.head_epoch = head->epoch;
    out.head_hash = head->hash;
    return out;
}

ChainPage ChainBook::page(const wire::RoomId& room, const wire::Hash& genesis, const wire::Hash& after,
                          std::size_t max_bytes) const {
    ChainPage out;
    std::optional<std::uint64_t> after_epoch;
    if (after != wire::Hash{}) {
        after_epoch = store_.epoch_of(room, genesis, after);
        if (!after_epoch) {
            out.error = RelayError::unknown_chain;
            return out;
        }
    }
    out.records = store_.records_after(room, genesis, after_epoch, wire::max_records_per_page, max_bytes);
    auto head = store_.head(room, genesis);
    if (!head) {
        out.error = RelayError::unknown_chain;
        return out;
    }
    // Records are unique in a chain: the page is complete when it ends at the
    // head (or is empty: `after` was the head).
    out.complete = out.records.empty() || out.records.back() == head->encoded;
    return out;
}

bool ChainBook::fits(const wire::RoomId& room, const wire::Hash& genesis, std::uint64_t bytes) const {
    const auto q = quotas();
    return store_.stored_bytes(room, genesis) + bytes <= q.max_room_bytes &&
           store_.total_stored_bytes() + bytes <= q.max_total_bytes;
}

}  // namespace parley::relay
