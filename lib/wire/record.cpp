// docs/PROTOCOL.md §4: epoch record layout and public checks.
#include "wire/record.h"

#include <sodium.h>

#include <algorithm>
#include <map>
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

namespace {

void write_ops(Writer& w, const std::vector<RosterOp>& ops) {
    w.u16(static_cast<std::uint16_t>(ops.size()));
    for (const auto& op : ops) {
        w.u8(static_cast<std::uint8_t>(op.kind));
        w.raw(op.key);
    }
}

// §10.6: the members, each with its devices (certificate, entry, box kind, box).
void write_devices(Writer& w, const EpochRecord& r) {
    w.u16(static_cast<std::uint16_t>(r.roster.size()));
    auto device = r.devices.begin();
    for (const auto& member : r.roster) {
        auto end = std::find_if(device, r.devices.end(), [&](const RecordDevice& d) { return d.member() != member; });
        w.raw(member);
        w.u8(static_cast<std::uint8_t>(end - device));
        for (; device != end; ++device) {
            write_device_certificate(w, device->certificate);
            write_update_key_entry(w, device->update);
            w.u8(static_cast<std::uint8_t>(device->box_kind));
            w.raw(device->box);
        }
    }
}

}  // namespace

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
    if (r.version == record_version_2) {
        write_devices(w, r);
        write_ops(w, r.ops);
        w.raw(r.token_hash);
        w.raw(r.commitment);
        return w.take();
    }
    w.u16(static_cast<std::uint16_t>(r.roster.size()));
    for (const auto& k : r.roster) w.raw(k);
    write_ops(w, r.ops);
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

const RecordDevice* find_device(const EpochRecord& record, const PublicKey& device) {
    for (const auto& d : record.devices)
        if (d.key() == device) return &d;
    return nullptr;
}

namespace {

// The genesis adds exactly its roster, in roster order.
bool genesis_ops_match(const EpochRecord& rec) {
    if (rec.ops.size() != rec.roster.size()) return false;
    for (std::size_t i = 0; i < rec.ops.size(); ++i)
        if (rec.ops[i].kind != RosterOpKind::add || rec.ops[i].key != rec.roster[i]) return false;
    return true;
}

std::optional<RecordError> read_ops(Reader& r, EpochRecord& rec, std::uint8_t max_kind) {
    auto n_ops = r.u16();
    if (n_ops > max_kind * max_roster_members) return RecordError::malformed;
    for (std::uint16_t i = 0; i < n_ops && !r.failed(); ++i) {
        auto kind = r.u8();
        if (kind < 1 || kind > max_kind) return RecordError::malformed;
        rec.ops.push_back({static_cast<RosterOpKind>(kind), r.fixed<public_key_bytes>()});
    }
    return std::nullopt;
}

// §10.6's members and devices, then the checks that need nothing but the record.
std::optional<RecordError> read_devices(Reader& r, EpochRecord& rec) {
    auto n_members = r.u16();
    if (n_members == 0 || n_members > max_roster_members) return RecordError::malformed;
    for (std::uint16_t i = 0; i < n_members && !r.failed(); ++i) {
        rec.roster.push_back(r.fixed<public_key_bytes>());
        auto n_devices = r.u8();
        if (n_devices == 0 || n_devices > max_devices_per_member) return RecordError::malformed;
        for (std::uint8_t j = 0; j < n_devices && !r.failed(); ++j) {
            RecordDevice d;
            d.certificate = read_device_certificate(r);
            d.update = read_update_key_entry(r);
            auto kind = r.u8();
            if (kind != 1 && kind != 2) return RecordError::malformed;
            d.box_kind = static_cast<BoxKind>(kind);
            d.box = r.fixed<device_box_bytes>();
            if (d.member() != rec.roster.back() || d.update.device != d.key()) return RecordError::bad_roster;
            if (j > 0 && !(rec.devices.back().key() < d.key())) return RecordError::bad_roster;
            rec.devices.push_back(std::move(d));
        }
    }
    return std::nullopt;
}

std::optional<RecordError> check_devices(const EpochRecord& rec) {
    std::set<PublicKey> keys(rec.roster.begin(), rec.roster.end());
    for (const auto& d : rec.devices)
        if (!keys.insert(d.key()).second) return RecordError::bad_roster;  // a device key twice, or a member's key
    if (!find_device(rec, rec.author)) return RecordError::bad_roster;
    if (rec.epoch == 0)
        for (const auto& d : rec.devices)
            if (d.box_kind != BoxKind::joiner_secret) return RecordError::bad_roster;
    return std::nullopt;
}

}  // namespace

DecodedRecord decode_record(ByteView bytes) {
    if (bytes.size() > max_record_bytes) return {std::nullopt, RecordError::malformed};
    Reader r(bytes);
    EpochRecord rec;
    rec.version = r.u8();
    if (r.failed()) return {std::nullopt, RecordError::malformed};
    if (rec.version != record_version_1 && rec.version != record_version_2)
        return {std::nullopt, RecordError::bad_version};
    const bool v2 = rec.version == record_version_2;
    rec.room = r.fixed<hash_bytes>();
    rec.epoch = r.u64();
    rec.previous = r.fixed<hash_bytes>();
    rec.salt = r.fixed<salt_bytes>();
    rec.kdf.ops = r.u32();
    rec.kdf.mem_kib = r.u32();
    rec.created_at_ms = r.u64();
    rec.author = r.fixed<public_key_bytes>();
    std::optional<RecordError> error;
    std::uint16_t n_members = 0;
    if (v2) {
        error = read_devices(r, rec);
    } else {
        n_members = r.u16();
        if (n_members == 0 || n_members > max_roster_members) return {std::nullopt, RecordError::malformed};
        for (std::uint16_t i = 0; i < n_members && !r.failed(); ++i)
            rec.roster.push_back(r.fixed<public_key_bytes>());
    }
    if (!error) error = read_ops(r, rec, v2 ? 4 : 2);
    if (error) return {std::nullopt, r.failed() ? RecordError::malformed : *error};
    rec.token_hash = r.fixed<hash_bytes>();
    rec.commitment = r.fixed<hash_bytes>();
    for (std::uint16_t i = 0; i < n_members && !r.failed(); ++i)
        rec.boxes.push_back(r.fixed<sealed_box_bytes>());
    rec.signature = r.fixed<signature_bytes>();
    if (!r.ok_and_done()) return {std::nullopt, RecordError::malformed};

    if (!strictly_sorted(rec.roster)) return {std::nullopt, RecordError::bad_roster};
    const Hash zero{};
    if ((rec.epoch == 0) != (rec.previous == zero)) return {std::nullopt, RecordError::malformed};
    if (rec.epoch == 0 && !genesis_ops_match(rec)) return {std::nullopt, RecordError::bad_roster};
    if (v2) {
        if (auto e = check_devices(rec)) return {std::nullopt, *e};
    } else if (!contains(rec.roster, rec.author)) {
        return {std::nullopt, RecordError::bad_roster};
    }
    return {std::move(rec), RecordError::malformed};
}

Hash record_hash(const EpochRecord& record) {
    auto body = record_body(record);
    return labelled_hash(record.version == record_version_2 ? label::v2::record_hash : label::record_hash, {body});
}

Bytes record_signed_message(const EpochRecord& record) {
    const auto label = record.version == record_version_2 ? label::v2::sig_record : label::sig_record;
    Bytes msg(label.begin(), label.end());
    auto body = record_body(record);
    msg.insert(msg.end(), body.begin(), body.end());
    return msg;
}

bool verify_record_signature(const EpochRecord& record, const EpochRecord* previous) {
    auto msg = record_signed_message(record);
    if (crypto_sign_verify_detached(record.signature.data(), msg.data(), msg.size(), record.author.data()) != 0)
        return false;
    for (const auto& d : record.devices) {
        const RecordDevice* before = previous ? find_device(*previous, d.key()) : nullptr;
        if (!(before && before->certificate == d.certificate) && !verify_device_certificate(d.certificate))
            return false;
        if (!(before && before->update == d.update) && !verify_update_key_entry(record.room, d.update)) return false;
    }
    return true;
}

namespace {

// What both versions share: same room, salt and KDF parameters, the next
// epoch, the previous record's hash.
bool follows(const EpochRecord& prev, const EpochRecord& next) {
    return next.room == prev.room && next.epoch == prev.epoch + 1 && next.previous == record_hash(prev) &&
           next.salt == prev.salt && next.kdf == prev.kdf;
}

std::optional<RecordError> check_successor_v1(const EpochRecord& prev, const EpochRecord& next) {
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

// §10.6: `next` is version 2; `prev` is version 2, or version 1 for the upgrade.
std::optional<RecordError> check_successor_v2(const EpochRecord& prev, const EpochRecord& next) {
    const bool upgrade = prev.version == record_version_1;
    // The author acts for a member of prev: as one of prev's devices, or, in the
    // upgrade, as a new device of one of prev's members.
    if (upgrade) {
        const auto* author = find_device(next, next.author);
        if (!author || !contains(prev.roster, author->member())) return RecordError::bad_roster;
    } else if (!find_device(prev, next.author)) {
        return RecordError::bad_roster;
    }

    std::set<PublicKey> members(prev.roster.begin(), prev.roster.end());
    std::map<PublicKey, PublicKey> devices;  // device key -> member, as operations leave it
    for (const auto& d : prev.devices) devices.emplace(d.key(), d.member());
    std::set<PublicKey> touched;
    std::set<PublicKey> added_members;
    std::vector<PublicKey> revoked_for;  // members of revoked devices: they stay
    for (const auto& op : next.ops) {
        if (!touched.insert(op.key).second) return RecordError::bad_roster;
        switch (op.kind) {
            case RosterOpKind::add:
                if (!members.insert(op.key).second) return RecordError::bad_roster;
                added_members.insert(op.key);
                break;
            case RosterOpKind::remove:
                if (members.erase(op.key) == 0) return RecordError::bad_roster;
                std::erase_if(devices, [&](const auto& kv) { return kv.second == op.key; });
                break;
            case RosterOpKind::add_device: {
                // Of a member of prev that stays (checked against the roster below).
                const auto* d = find_device(next, op.key);
                if (upgrade || !d || !contains(prev.roster, d->member()) || devices.count(op.key))
                    return RecordError::bad_roster;
                devices.emplace(op.key, d->member());
                break;
            }
            case RosterOpKind::revoke_device: {
                auto it = devices.find(op.key);
                if (upgrade || it == devices.end()) return RecordError::bad_roster;
                revoked_for.push_back(it->second);
                devices.erase(it);
                break;
            }
        }
    }
    if (!std::equal(members.begin(), members.end(), next.roster.begin(), next.roster.end()))
        return RecordError::bad_roster;
    for (const auto& member : revoked_for)
        if (!members.count(member)) return RecordError::bad_roster;
    // Every device of an added member (or, in the upgrade, of anyone) comes with it.
    for (const auto& d : next.devices)
        if (upgrade || added_members.count(d.member())) devices.emplace(d.key(), d.member());
    // An operation 3 or 4 on a member that was removed in the same record is refused:
    // its device would be in `devices` for a member no longer in the roster.
    if (devices.size() != next.devices.size()) return RecordError::bad_roster;
    for (const auto& d : next.devices) {
        auto it = devices.find(d.key());
        if (it == devices.end() || it->second != d.member()) return RecordError::bad_roster;
        const RecordDevice* before = find_device(prev, d.key());
        if (!before) {
            if (d.box_kind != BoxKind::joiner_secret) return RecordError::bad_roster;
            continue;
        }
        if (before->certificate != d.certificate) return RecordError::bad_roster;
        if (d.update.counter < before->update.counter ||
            (d.update.counter == before->update.counter && d.update != before->update))
            return RecordError::bad_roster;
    }
    return std::nullopt;
}

}  // namespace

std::optional<RecordError> check_successor(const EpochRecord& prev, const EpochRecord& next) {
    // A chain goes from version 1 to 2, never back.
    if (next.version < prev.version || !follows(prev, next)) return RecordError::not_a_successor;
    if (next.version == record_version_2) return check_successor_v2(prev, next);
    return check_successor_v1(prev, next);
}

Hash token_hash(const Token& token) { return labelled_hash(label::token_hash, {token}); }

}  // namespace parley::wire
