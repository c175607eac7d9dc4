// docs/PROTOCOL.md §4: epoch record layout and public checks.
#include "wire/record.h"

#include <sodium.h>

#include <algorithm>
#include <set>

namespace parley::wire {

const char* to_string(RecordError e) {
    switch (e) {
        case RecordError::malformed: return "malformed epoch record";
        case RecordError::bad_version: return "unsupported epoch record version";
        case RecordError::bad_signature: return "epoch record signature does not verify";
        case RecordError::not_a_successor: return "epoch record does not extend the chain";
        case RecordError::bad_roster: return "epoch record roster is inconsistent";
    }
    return "epoch record error";
}

Hash labelled_hash(std::string_view label, std::initializer_list<ByteView> parts) {
    crypto_generichash_state st;
    crypto_generichash_init(&st, nullptr, 0, hash_bytes);
    crypto_generichash_update(&st, as_bytes(label).data(), label.size());
    for (auto p : parts) crypto_generichash_update(&st, p.data(), p.size());
    Hash out{};
    crypto_generichash_final(&st, out.data(), out.size());
    return out;
}

Bytes record_body(const EpochRecord& r) {
    Writer w;
    w.u8(r.version);
    w.raw(r.room);
    w.u64(r.epoch);
    w.raw(r.previous);
    w.raw(r.salt);
    w.u32(r.kdf.ops);
    w.u32(r.kdf.mem_kib);
    w.u64(r.created_at_ms);
    w.raw(r.author);
    w.u16(static_cast<std::uint16_t>(r.roster.size()));
    for (const auto& k : r.roster) w.raw(k);
    w.u16(static_cast<std::uint16_t>(r.ops.size()));
    for (const auto& op : r.ops) {
        w.u8(static_cast<std::uint8_t>(op.kind));
        w.raw(op.key);
    }
    w.raw(r.token_hash);
    w.raw(r.commitment);
    // One box per roster member, in roster order; the count is the roster's.
    for (const auto& box : r.boxes) w.raw(box);
    return w.take();
}

Bytes encode_record(const EpochRecord& r) {
    Bytes out = record_body(r);
    out.insert(out.end(), r.signature.begin(), r.signature.end());
    return out;
}

static bool strictly_sorted(const std::vector<PublicKey>& keys) {
    return std::adjacent_find(keys.begin(), keys.end(),
                              [](const auto& a, const auto& b) { return !(a < b); }) == keys.end();
}

static bool contains(const std::vector<PublicKey>& keys, const PublicKey& k) {
    return std::binary_search(keys.begin(), keys.end(), k);
}

DecodedRecord decode_record(ByteView bytes) {
    if (bytes.size() > max_record_bytes) return {std::nullopt, RecordError::malformed};
    Reader r(bytes);
    EpochRecord rec;
    rec.version = r.u8();
    if (r.failed()) return {std::nullopt, RecordError::malformed};
    if (rec.version != protocol_version) return {std::nullopt, RecordError::bad_version};
    rec.room = r.fixed<hash_bytes>();
    rec.epoch = r.u64();
    rec.previous = r.fixed<hash_bytes>();
    rec.salt = r.fixed<salt_bytes>();
    rec.kdf.ops = r.u32();
    rec.kdf.mem_kib = r.u32();
    rec.created_at_ms = r.u64();
    rec.author = r.fixed<public_key_bytes>();
    auto n_members = r.u16();
    if (n_members == 0 || n_members > max_roster_members) return {std::nullopt, RecordError::malformed};
    for (std::uint16_t i = 0; i < n_members && !r.failed(); ++i)
        rec.roster.push_back(r.fixed<public_key_bytes>());
    auto n_ops = r.u16();
    if (n_ops > 2 * max_roster_members) return {std::nullopt, RecordError::malformed};
    for (std::uint16_t i = 0; i < n_ops && !r.failed(); ++i) {
        auto kind = r.u8();
        if (kind != 1 && kind != 2) return {std::nullopt, RecordError::malformed};
        rec.ops.push_back({static_cast<RosterOpKind>(kind), r.fixed<public_key_bytes>()});
    }
    rec.token_hash = r.fixed<hash_bytes>();
    rec.commitment = r.fixed<hash_bytes>();
    for (std::uint16_t i = 0; i < n_members && !r.failed(); ++i)
        rec.boxes.push_back(r.fixed<sealed_box_bytes>());
    rec.signature = r.fixed<signature_bytes>();
    if (!r.ok_and_done()) return {std::nullopt, RecordError::malformed};

    if (!strictly_sorted(rec.roster)) return {std::nullopt, RecordError::bad_roster};
    if (!contains(rec.roster, rec.author)) return {std::nullopt, RecordError::bad_roster};
    const Hash zero{};
    if ((rec.epoch == 0) != (rec.previous == zero)) return {std::nullopt, RecordError::malformed};
    if (rec.epoch == 0) {
        // The genesis adds exactly its roster, in roster order.
        if (rec.ops.size() != rec.roster.size()) return {std::nullopt, RecordError::bad_roster};
        for (std::size_t i = 0; i < rec.ops.size(); ++i)
            if (rec.ops[i].kind != RosterOpKind::add || rec.ops[i].key != rec.roster[i])
                return {std::nullopt, RecordError::bad_roster};
    }
    return {std::move(rec), RecordError::malformed};
}

Hash record_hash(const EpochRecord& record) {
    auto body = record_body(record);
    return labelled_hash(label::record_hash, {body});
}

Bytes record_signed_message(const EpochRecord& record) {
    Bytes msg(label::sig_record.begin(), label::sig_record.end());
    auto body = record_body(record);
    msg.insert(msg.end(), body.begin(), body.end());
    return msg;
}

bool verify_record_signature(const EpochRecord& record) {
    auto msg = record_signed_message(record);
    return crypto_sign_verify_detached(record.signature.data(), msg.data(), msg.size(),
                                       record.author.data()) == 0;
}

std::optional<RecordError> check_successor(const EpochRecord& prev, const EpochRecord& next) {
    if (next.version != prev.version || next.room != prev.room || next.epoch != prev.epoch + 1 ||
        next.previous != record_hash(prev) || next.salt != prev.salt || !(next.kdf == prev.kdf))
        return RecordError::not_a_successor;
    if (!contains(prev.roster, next.author)) return RecordError::bad_roster;
    // Apply the explicit operations to the previous roster.
    std::set<PublicKey> roster(prev.roster.begin(), prev.roster.end());
    std::set<PublicKey> touched;
    for (const auto& op : next.ops) {
        if (!touched.insert(op.key).second) return RecordError::bad_roster;
        if (op.kind == RosterOpKind::add) {
            if (!roster.insert(op.key).second) return RecordError::bad_roster;
        } else if (roster.erase(op.key) == 0) {
            return RecordError::bad_roster;
        }
    }
    if (!std::equal(roster.begin(), roster.end(), next.roster.begin(), next.roster.end()))
        return RecordError::bad_roster;
    return std::nullopt;
}

Hash token_hash(const Token& token) { return labelled_hash(label::token_hash, {token}); }

}  // namespace parley::wire
