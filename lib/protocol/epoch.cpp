#include "protocol/epoch.h"

#include <algorithm>

namespace parley::protocol {

namespace {

Bytes sealed_plaintext(const EpochRecord& r, const PublicKey& recipient, const EpochSecret& secret) {
    Writer w;
    w.raw(as_bytes(label::seal_epoch));
    w.raw(r.room);
    w.u64(r.epoch);
    w.raw(r.previous);
    w.raw(r.author);
    w.raw(recipient);
    w.raw(ByteView(secret.data(), secret.size()));
    return w.take();
}

}  // namespace

const char* to_string(OpenError e) {
    switch (e) {
        case OpenError::not_member: return "you are not in this epoch's roster";
        case OpenError::bad_box: return "your sealed epoch secret does not open or names the wrong context";
        case OpenError::bad_commitment: return "your epoch secret does not match the record's commitment";
        case OpenError::other_version: return "the epoch record is of protocol version 2";
    }
    return "cannot open epoch secret";
}

std::optional<EpochRecord> build_record(const crypto::Identity& author, RecordDraft d,
                                        const SymmetricKey& room_secret, const EpochSecret& epoch_secret) {
    EpochRecord r;
    r.room = d.room;
    r.epoch = d.epoch;
    r.previous = d.previous;
    r.salt = d.salt;
    r.kdf = d.kdf;
    r.created_at_ms = d.created_at_ms;
    r.author = author.public_key;
    r.roster = std::move(d.roster);
    std::sort(r.roster.begin(), r.roster.end());
    r.ops = std::move(d.ops);
    auto keys = derive_epoch_keys(room_secret, r.room, r.epoch, r.previous, epoch_secret);
    r.token_hash = keys.token_hash;
    r.commitment = epoch_commitment(r.room, r.epoch, r.previous, epoch_secret);
    for (const auto& member : r.roster) {
        auto plaintext = sealed_plaintext(r, member, epoch_secret);
        auto box = crypto::seal_to(member, plaintext);
        sodium_memzero(plaintext.data(), plaintext.size());
        if (!box || box->size() != wire::sealed_box_bytes) return std::nullopt;
        wire::SealedBox sb{};
        std::copy(box->begin(), box->end(), sb.begin());
        r.boxes.push_back(sb);
    }
    r.signature = crypto::sign(author.secret, wire::record_signed_message(r));
    return r;
}

std::variant<EpochSecret, OpenError> open_epoch_secret(const crypto::Identity& me, const EpochRecord& r) {
    if (r.version != wire::record_version_1) return OpenError::other_version;
    auto it = std::lower_bound(r.roster.begin(), r.roster.end(), me.public_key);
    if (it == r.roster.end() || *it != me.public_key) return OpenError::not_member;
    const auto& box = r.boxes[static_cast<std::size_t>(it - r.roster.begin())];
    auto opened = crypto::open_sealed(me.secret, box);
    if (!opened || opened->size() != wire::sealed_plaintext_bytes) return OpenError::bad_box;

    // The context before the secret must be exactly what we expect.
    EpochSecret placeholder;
    auto expected = sealed_plaintext(r, me.public_key, placeholder);
    const std::size_t context_bytes = expected.size() - wire::secret_bytes;
    bool context_ok = sodium_memcmp(opened->data(), expected.data(), context_bytes) == 0;
    if (!context_ok) return OpenError::bad_box;
    EpochSecret secret;
    std::copy(opened->data() + context_bytes, opened->data() + opened->size(), secret.data());
    if (epoch_commitment(r.room, r.epoch, r.previous, secret) != r.commitment)
        return OpenError::bad_commitment;
    return secret;
}

std::optional<std::string> extend_chain(VerifiedChain& chain, EpochRecord next) {
    if (auto err = wire::check_successor(chain.head(), next)) {
        return std::string(wire::to_string(*err)) + " at epoch " + std::to_string(next.epoch);
    }
    // Certificates and entries the verified head holds byte for byte are not verified again.
    if (!wire::verify_record_signature(next, &chain.head()))
        return "epoch " + std::to_string(next.epoch) + " record has a bad signature";
    chain.hashes.push_back(wire::record_hash(next));
    chain.records.push_back(std::move(next));
    return std::nullopt;
}

std::variant<VerifiedChain, std::string> verify_chain(const std::vector<Bytes>& encoded,
                                                      const wire::RoomId& room) {
    if (encoded.empty()) return std::string("empty chain");
    VerifiedChain chain;
    for (std::size_t i = 0; i < encoded.size(); ++i) {
        auto decoded = wire::decode_record(encoded[i]);
        if (!decoded.record) {
            return std::string(wire::to_string(decoded.error)) + " at position " + std::to_string(i);
        }
        auto& rec = *decoded.record;
        if (i == 0) {
            if (rec.epoch != 0) return std::string("chain does not start with a genesis record");
            if (rec.room != room) return std::string("genesis record is for another room");
            if (!kdf_params_allowed(rec.kdf))
                return std::string("genesis KDF parameters are outside the allowed range (ops 3..10, memory 64 MiB..1 GiB)");
            if (!wire::verify_record_signature(rec)) return std::string("genesis record has a bad signature");
            chain.hashes.push_back(wire::record_hash(rec));
            chain.records.push_back(std::move(rec));
        } else if (auto err = extend_chain(chain, std::move(rec))) {
            return *err;
        }
    }
    return chain;
}

PinVerdict check_pin(const VerifiedChain& chain, const Pin& pin) {
    if (chain.genesis_hash() != pin.genesis) return PinVerdict::other_chain;
    if (chain.head().epoch < pin.head_epoch) return PinVerdict::rollback;
    if (chain.hashes[pin.head_epoch] != pin.head) return PinVerdict::fork;
    return chain.head().epoch == pin.head_epoch ? PinVerdict::matches : PinVerdict::extends;
}

}  // namespace parley::protocol
