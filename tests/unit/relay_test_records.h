// Real, signed epoch records for the relay's tests, built with libsodium
// directly. The sealed boxes are zero-filled: the relay cannot open them and
// does not check them, so these records are only good for relay tests.
#pragma once

#include <sodium.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "wire/frames.h"
#include "wire/labels.h"
#include "wire/record.h"

namespace parley::relay_test {

struct TestMember {
    wire::PublicKey public_key{};
    std::array<std::uint8_t, crypto_sign_SECRETKEYBYTES> secret_key{};
};

inline TestMember make_member() {
    if (sodium_init() < 0) throw std::runtime_error("sodium_init failed");
    TestMember m;
    crypto_sign_keypair(m.public_key.data(), m.secret_key.data());
    return m;
}

inline wire::RoomId make_room(std::string_view name) {
    return wire::labelled_hash(label::room_id, {as_bytes(name)});
}

inline wire::Token make_token(std::uint8_t fill) {
    wire::Token t;
    t.fill(fill);
    return t;
}

inline void sign_record(wire::EpochRecord& record, const TestMember& author) {
    auto msg = wire::record_signed_message(record);
    crypto_sign_detached(record.signature.data(), nullptr, msg.data(), msg.size(), author.secret_key.data());
}

// Epoch 0 of `room` with `members` (author included), whose access token is `token`.
inline wire::EpochRecord make_genesis(const wire::RoomId& room, const std::vector<TestMember>& members,
                                      const TestMember& author, const wire::Token& token) {
    wire::EpochRecord r;
    r.room = room;
    r.epoch = 0;
    randombytes_buf(r.salt.data(), r.salt.size());
    r.created_at_ms = 1700000000000;
    r.author = author.public_key;
    for (const auto& m : members) r.roster.push_back(m.public_key);
    std::sort(r.roster.begin(), r.roster.end());
    for (const auto& k : r.roster) r.ops.push_back({wire::RosterOpKind::add, k});
    r.token_hash = wire::token_hash(token);
    randombytes_buf(r.commitment.data(), r.commitment.size());
    r.boxes.assign(r.roster.size(), wire::SealedBox{});
    sign_record(r, author);
    return r;
}

// The next epoch after `prev`, same roster unless `ops` change it.
inline wire::EpochRecord make_successor(const wire::EpochRecord& prev, const TestMember& author,
                                        const wire::Token& token, std::vector<wire::RosterOp> ops = {}) {
    wire::EpochRecord r = prev;
    r.epoch = prev.epoch + 1;
    r.previous = wire::record_hash(prev);
    r.created_at_ms = prev.created_at_ms + 1000;
    r.author = author.public_key;
    r.ops = ops;
    for (const auto& op : ops) {
        if (op.kind == wire::RosterOpKind::add) r.roster.push_back(op.key);
        else std::erase(r.roster, op.key);
    }
    std::sort(r.roster.begin(), r.roster.end());
    r.token_hash = wire::token_hash(token);
    randombytes_buf(r.commitment.data(), r.commitment.size());
    r.boxes.assign(r.roster.size(), wire::SealedBox{});
    sign_record(r, author);
    return r;
}

}  // namespace parley::relay_test
