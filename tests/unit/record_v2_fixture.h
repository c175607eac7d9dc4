// What the version-2 record tests share (record_v2_test.cpp, upgrade_test.cpp):
// a device as its state folder holds it, and a fixture with three members'
// devices, a genesis of version 2 and its successor.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "protocol/epoch.h"
#include "protocol/record_v2.h"
#include "test_support.h"

namespace parley::protocol::v2 {


using wire::BoxKind;
using wire::EpochRecord;
using wire::RecordError;
using wire::RosterOpKind;

// A device as its state folder holds it: its key, its certificate and the
// private halves of the update keys it made, by counter.
struct Device {
    crypto::Identity key = test::new_identity();
    DeviceCertificate certificate;
    std::map<std::uint64_t, UpdateKeyPair> update_keys;

    const UpdateKeyEntry entry(const wire::RoomId& room, std::uint64_t counter) {
        if (!update_keys.count(counter)) update_keys.emplace(counter, generate_update_key());
        return sign_update_key(key, room, update_keys.at(counter).public_key, counter);
    }
    DeviceDraft draft(const wire::RoomId& room, std::uint64_t counter, BoxKind kind) {
        return {certificate, entry(room, counter), kind};
    }
    UpdateKeyLookup lookup() const {
        return [this](std::uint64_t counter, const UpdateKey& public_key) -> const crypto::Secret<update_key_bytes>* {
            auto it = update_keys.find(counter);
            if (it == update_keys.end() || it->second.public_key != public_key) return nullptr;
            return &it->second.private_key;
        };
    }
};

inline Device make_device(const crypto::Identity& member, std::string name) {
    Device d;
    d.certificate = certify_device(member, d.key.public_key, std::move(name), 1'700'000'000'000);
    return d;
}

inline std::string hex(const SymmetricKey& k) { return to_hex(k.reveal()); }

class RecordV2Test : public ::testing::Test {
protected:
    void SetUp() override {
        auto written = build_record(laptop_.key, draft0(), test::shared_room_secret(), secret0_, zero_);
        ASSERT_TRUE(written);
        genesis_ = std::move(written->record);
        joiner0_ = std::move(written->joiner);
        epoch1_ = write(desk_, successor({laptop_.draft(room_, 1, BoxKind::epoch_secret),
                                          phone_.draft(room_, 1, BoxKind::epoch_secret),
                                          desk_.draft(room_, 2, BoxKind::epoch_secret)}),
                        secret1_, init_of(genesis_, joiner0_));
    }

    RecordDraft draft0() {
        RecordDraft d;
        d.room = room_;
        d.salt = test::test_salt();
        d.kdf = wire::kdf_floor;
        d.created_at_ms = 1'700'000'000'000;
        d.devices = {laptop_.draft(room_, 1, BoxKind::joiner_secret), phone_.draft(room_, 1, BoxKind::joiner_secret),
                     desk_.draft(room_, 1, BoxKind::joiner_secret)};
        d.ops = test::adds_for({alice_.public_key, bob_.public_key});
        return d;
    }
    // The genesis's successor with these devices and operations.
    RecordDraft successor(std::vector<DeviceDraft> devices, std::vector<wire::RosterOp> ops = {},
                          const EpochRecord* prev = nullptr) {
        if (!prev) prev = &genesis_;
        RecordDraft d;
        d.room = room_;
        d.epoch = prev->epoch + 1;
        d.previous = wire::record_hash(*prev);
        d.salt = prev->salt;
        d.kdf = prev->kdf;
        d.created_at_ms = prev->created_at_ms + 1000;
        d.devices = std::move(devices);
        d.ops = std::move(ops);
        return d;
    }
    EpochRecord write(const Device& author, RecordDraft d, const EpochSecret& secret, const SymmetricKey& init) {
        auto written = build_record(author.key, std::move(d), test::shared_room_secret(), secret, init);
        if (!written) throw std::runtime_error("build_record failed");
        return std::move(written->record);
    }
    static SymmetricKey init_of(const EpochRecord& r, const SymmetricKey& joiner) {
        return derive_epoch(test::shared_room_secret(), r.room, r.epoch, r.previous, joiner).init_secret;
    }
    static std::variant<SymmetricKey, OpenError> open(const Device& d, const EpochRecord& r,
                                                      const SymmetricKey* init) {
        return open_record(d.key.public_key, d.lookup(), init, r);
    }
    static std::optional<OpenError> open_error(const Device& d, const EpochRecord& r, const SymmetricKey* init) {
        auto result = open(d, r, init);
        if (auto* e = std::get_if<OpenError>(&result)) return *e;
        return std::nullopt;
    }
    // Encodes and decodes again: what a relay or a member really receives.
    static wire::DecodedRecord round_trip(const EpochRecord& r) { return wire::decode_record(wire::encode_record(r)); }
    static std::optional<RecordError> decode_error(const EpochRecord& r) {
        auto decoded = round_trip(r);
        if (decoded.record) return std::nullopt;
        return decoded.error;
    }
    // Everything a relay checks before it stores `next` after `prev`.
    static std::optional<RecordError> relay_verdict(const EpochRecord& prev, const EpochRecord& next) {
        auto decoded = round_trip(next);
        if (!decoded.record) return decoded.error;
        if (!wire::verify_record_signature(*decoded.record)) return RecordError::bad_signature;
        return wire::check_successor(prev, *decoded.record);
    }
    static std::size_t at(const EpochRecord& r, const Device& d) {
        for (std::size_t i = 0; i < r.devices.size(); ++i)
            if (r.devices[i].key() == d.key.public_key) return i;
        throw std::runtime_error("no such device in the record");
    }

    crypto::Identity alice_ = test::new_identity();
    crypto::Identity bob_ = test::new_identity();
    crypto::Identity carol_ = test::new_identity();
    Device laptop_ = make_device(alice_, "laptop");
    Device phone_ = make_device(alice_, "phone");
    Device desk_ = make_device(bob_, "desk");
    Device tablet_ = make_device(carol_, "tablet");
    wire::RoomId room_ = crypto::room_id("v2-room");
    SymmetricKey zero_;
    EpochSecret secret0_ = test::random_epoch_secret();
    EpochSecret secret1_ = test::random_epoch_secret();
    SymmetricKey joiner0_;
    EpochRecord genesis_, epoch1_;
};

}  // namespace parley::protocol::v2
