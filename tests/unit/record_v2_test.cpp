// Version-2 epoch records (docs/PROTOCOL.md §10.6): the layout and public
// checks (wire/record.h) and writing and opening them (protocol/record_v2.h).
// Each attack below is a record a member, a thief or the relay could make;
// each must be refused by the check that names it.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "protocol/epoch.h"
#include "protocol/record_v2.h"
#include "relay/chain_book.h"
#include "relay/memory_relay_store.h"
#include "test_support.h"

namespace parley::protocol::v2 {
namespace {

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

Device make_device(const crypto::Identity& member, std::string name) {
    Device d;
    d.certificate = certify_device(member, d.key.public_key, std::move(name), 1'700'000'000'000);
    return d;
}

std::string hex(const SymmetricKey& k) { return to_hex(k.reveal()); }

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

// --- layout -------------------------------------------------------------------

TEST_F(RecordV2Test, ARecordRoundTripsAndPassesEveryCheck) {
    auto decoded = round_trip(genesis_);
    ASSERT_TRUE(decoded.record) << wire::to_string(decoded.error);
    EXPECT_EQ(wire::encode_record(*decoded.record), wire::encode_record(genesis_));
    EXPECT_EQ(decoded.record->version, wire::record_version_2);
    EXPECT_EQ(decoded.record->roster, test::sorted({alice_.public_key, bob_.public_key}));
    ASSERT_EQ(decoded.record->devices.size(), 3u);
    EXPECT_TRUE(wire::verify_record_signature(*decoded.record));
    EXPECT_EQ(relay_verdict(genesis_, epoch1_), std::nullopt);
    // The size §10.6 gives: 269 fixed bytes, 33 per member, 526 + name per device, 33 per operation.
    EXPECT_EQ(wire::encode_record(genesis_).size(), 269u + 2 * 33 + 3 * 526 + 6 + 5 + 4 + 2 * 33);
}

TEST_F(RecordV2Test, HashAndSignatureAreVersion2s) {
    auto body = wire::record_body(genesis_);
    EXPECT_EQ(wire::record_hash(genesis_), wire::labelled_hash("parley/v2/hash/record", {body}));
    auto as_v1_label = wire::labelled_hash("parley/v1/hash/record", {body});
    EXPECT_NE(wire::record_hash(genesis_), as_v1_label);
    Bytes signed_part(label::v2::sig_record.begin(), label::v2::sig_record.end());
    signed_part.insert(signed_part.end(), body.begin(), body.end());
    EXPECT_EQ(wire::record_signed_message(genesis_), signed_part);
}

TEST_F(RecordV2Test, EveryFlippedByteIsRefused) {
    const auto bytes = wire::encode_record(epoch1_);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        auto decoded = wire::decode_record(test::flip_bit(bytes, i));
        if (!decoded.record) continue;
        // Whatever decodes must fail the signature (or the certificate or entry inside it) or the successor rules.
        EXPECT_TRUE(!wire::verify_record_signature(*decoded.record) || wire::check_successor(genesis_, *decoded.record))
            << "byte " << i;
    }
}

TEST_F(RecordV2Test, ShortOrLongRecordsDoNotDecode) {
    auto bytes = wire::encode_record(genesis_);
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{200}, bytes.size() - 1})
        EXPECT_FALSE(wire::decode_record(ByteView(bytes.data(), n)).record) << n;
    bytes.push_back(0);
    EXPECT_FALSE(wire::decode_record(bytes).record);
}

TEST_F(RecordV2Test, MisorderedOrMislabelledDevicesAreRefused) {
    auto r = genesis_;
    std::swap(r.devices[at(r, laptop_)], r.devices[at(r, phone_)]);  // alice's two devices out of order
    EXPECT_EQ(decode_error(r), RecordError::bad_roster);

    r = genesis_;
    r.devices[at(r, laptop_)].update.device = desk_.key.public_key;  // an entry for another device
    EXPECT_EQ(decode_error(r), RecordError::bad_roster);

    // A device key that is also a member's identity key.
    auto d = draft0();
    d.devices.push_back({certify_device(alice_, alice_.public_key, "self", 1),
                         sign_update_key(alice_, room_, generate_update_key().public_key, 1), BoxKind::joiner_secret});
    EXPECT_EQ(decode_error(write(laptop_, d, secret0_, zero_)), RecordError::bad_roster);

    // More than eight devices for one member does not build.
    auto many = draft0();
    std::vector<Device> extra;
    for (int i = 0; i < 8; ++i) extra.push_back(make_device(alice_, "d" + std::to_string(i)));
    for (auto& x : extra) many.devices.push_back(x.draft(room_, 1, BoxKind::joiner_secret));
    EXPECT_FALSE(build_record(laptop_.key, many, test::shared_room_secret(), secret0_, zero_));
}

TEST_F(RecordV2Test, AGenesisSealsOnlyJoinerSecretsAndIsWrittenByOneOfItsDevices) {
    auto d = draft0();
    d.devices[0].box_kind = BoxKind::epoch_secret;
    EXPECT_EQ(decode_error(write(laptop_, d, secret0_, zero_)), RecordError::bad_roster);
    EXPECT_EQ(decode_error(write(tablet_, draft0(), secret0_, zero_)), RecordError::bad_roster);
}

TEST_F(RecordV2Test, ACertificateOrEntryNotSignedByItsKeyIsRefused) {
    // carol certifies a device as if it were alice's.
    auto forged = make_device(alice_, "forged");
    forged.certificate = certify_device(carol_, forged.key.public_key, "forged", 1);
    forged.certificate.identity = alice_.public_key;
    auto d = draft0();
    d.devices.push_back(forged.draft(room_, 1, BoxKind::joiner_secret));
    auto r = write(laptop_, d, secret0_, zero_);
    ASSERT_TRUE(round_trip(r).record);
    EXPECT_FALSE(wire::verify_record_signature(r));

    // desk's entry signed for another room, replayed here.
    auto other_room = crypto::room_id("elsewhere");
    auto entry = desk_.entry(other_room, 1);
    auto d2 = draft0();
    d2.devices[2].update = entry;
    auto r2 = write(laptop_, d2, secret0_, zero_);
    EXPECT_FALSE(wire::verify_record_signature(r2));
}

// --- opening ----------------------------------------------------------------------

TEST_F(RecordV2Test, EveryDeviceFindsTheSameEpoch) {
    for (const Device* d : {&laptop_, &phone_, &desk_}) {
        auto j = open(*d, genesis_, nullptr);
        ASSERT_TRUE(std::holds_alternative<SymmetricKey>(j)) << to_string(std::get<OpenError>(j));
        EXPECT_EQ(hex(std::get<SymmetricKey>(j)), hex(joiner0_));
    }
    auto schedule = derive_epoch(test::shared_room_secret(), room_, 0, {}, joiner0_);
    EXPECT_EQ(schedule.token_hash, genesis_.token_hash);

    // Epoch 1: kind 1 boxes, opened with init secret[0].
    const auto init0 = init_of(genesis_, joiner0_);
    std::optional<std::string> first;
    for (const Device* d : {&laptop_, &phone_, &desk_}) {
        auto j = open(*d, epoch1_, &init0);
        ASSERT_TRUE(std::holds_alternative<SymmetricKey>(j)) << to_string(std::get<OpenError>(j));
        if (!first) first = hex(std::get<SymmetricKey>(j));
        EXPECT_EQ(hex(std::get<SymmetricKey>(j)), *first);
    }
    EXPECT_EQ(open_error(tablet_, epoch1_, &init0), OpenError::not_a_device);
}

TEST_F(RecordV2Test, AKindOneBoxNeedsTheRightInitSecret) {
    EXPECT_EQ(open_error(desk_, epoch1_, nullptr), OpenError::no_init_secret);
    SymmetricKey wrong;
    crypto::random_bytes(wrong.mutable_bytes());
    EXPECT_EQ(open_error(desk_, epoch1_, &wrong), OpenError::bad_commitment);
}

TEST_F(RecordV2Test, ABoxMovedOrAlteredIsBlamedOnTheAuthor) {
    const auto init0 = init_of(genesis_, joiner0_);
    auto r = epoch1_;
    r.devices[at(r, desk_)].box = genesis_.devices[at(genesis_, desk_)].box;  // sealed to desk's counter 1 key
    EXPECT_EQ(open_error(desk_, r, &init0), OpenError::bad_box);
    r = genesis_;
    r.devices[at(r, laptop_)].box = genesis_.devices[at(r, phone_)].box;  // phone's box in laptop's place
    EXPECT_EQ(open_error(laptop_, r, nullptr), OpenError::bad_box);
    r = genesis_;
    r.devices[at(r, laptop_)].box[100] ^= 1;
    EXPECT_EQ(open_error(laptop_, r, nullptr), OpenError::bad_box);
    r = genesis_;
    r.commitment[0] ^= 1;
    EXPECT_EQ(open_error(laptop_, r, nullptr), OpenError::bad_commitment);
}

TEST_F(RecordV2Test, AnAuthorCannotGiveTwoDevicesTwoEpochs) {
    // Two genesis records with the same devices and different secrets; laptop's
    // box from the second put into the first opens but fails the commitment.
    auto other = write(laptop_, draft0(), test::random_epoch_secret(), zero_);
    auto r = genesis_;
    r.devices[at(r, laptop_)].box = other.devices[at(other, laptop_)].box;
    EXPECT_EQ(open_error(laptop_, r, nullptr), OpenError::bad_commitment);
}

// --- what a thief gets (§10.1) --------------------------------------------------------

TEST_F(RecordV2Test, AStolenIdentityKeyOpensNoBox) {
    // Version 1 sealed to the identity key's X25519 form; version 2 seals to
    // update keys, so the member's key file (and the password) open nothing.
    for (const auto* r : {&genesis_, &epoch1_})
        for (const auto& d : r->devices) {
            EXPECT_FALSE(crypto::open_sealed(alice_.secret, d.box));
            EXPECT_FALSE(crypto::open_sealed(laptop_.key.secret, d.box));  // nor the device key
        }
}

TEST_F(RecordV2Test, AnErasedUpdateKeyOpensNothingAndARotationHeals) {
    // desk rotated to counter 2 in epoch 1. A thief who copied desk's state
    // before that holds the counter 1 key: it opens no box of epoch 1.
    const auto& stolen = desk_.update_keys.at(1);
    UpdateKeyLookup thief = [&](std::uint64_t counter, const UpdateKey&) -> const crypto::Secret<update_key_bytes>* {
        return counter == 1 ? &stolen.private_key : nullptr;
    };
    const auto init0 = init_of(genesis_, joiner0_);
    auto opened = open_record(desk_.key.public_key, thief, &init0, epoch1_);
    ASSERT_TRUE(std::holds_alternative<OpenError>(opened));
    EXPECT_EQ(std::get<OpenError>(opened), OpenError::no_update_key);
    // Even with the stolen key tried for whatever counter the entry names, it does not open.
    UpdateKeyLookup forcing = [&](std::uint64_t, const UpdateKey&) { return &stolen.private_key; };
    opened = open_record(desk_.key.public_key, forcing, &init0, epoch1_);
    ASSERT_TRUE(std::holds_alternative<OpenError>(opened));
    EXPECT_EQ(std::get<OpenError>(opened), OpenError::bad_box);
    // And desk, having erased its counter 1 key once counter 2 was in force, cannot
    // open the genesis any more: the epoch it joined with is closed to its state.
    desk_.update_keys.erase(1);
    EXPECT_EQ(open_error(desk_, genesis_, nullptr), OpenError::no_update_key);
}

TEST_F(RecordV2Test, AnUnrotatedKeyStillNeedsAnErasedInitSecret) {
    // Epoch 2 seals laptop's box to the same counter 1 key as epoch 1. A thief of
    // laptop's state at epoch 2 holds that key and init secret[1], not init
    // secret[0]: epoch 1's box opens, but its secret leads nowhere.
    const auto init0 = init_of(genesis_, joiner0_);
    auto j1 = std::get<SymmetricKey>(open(laptop_, epoch1_, &init0));
    const auto init1 = init_of(epoch1_, j1);
    auto epoch2 = write(laptop_,
                        successor({laptop_.draft(room_, 1, BoxKind::epoch_secret),
                                   phone_.draft(room_, 1, BoxKind::epoch_secret),
                                   desk_.draft(room_, 2, BoxKind::epoch_secret)},
                                  {}, &epoch1_),
                        test::random_epoch_secret(), init1);
    EXPECT_EQ(relay_verdict(epoch1_, epoch2), std::nullopt);
    EXPECT_TRUE(std::holds_alternative<SymmetricKey>(open(laptop_, epoch2, &init1)));
    EXPECT_EQ(open_error(laptop_, epoch1_, &init1), OpenError::bad_commitment);
}

// --- successors ------------------------------------------------------------------

TEST_F(RecordV2Test, DevicesComeAndGoOnlyByOperations) {
    const auto init0 = init_of(genesis_, joiner0_);
    auto tablet_of_alice = make_device(alice_, "tablet");
    // Epoch 1 with alice's new tablet, written by `author`.
    auto with_tablet = [&](const Device& author, BoxKind kind, bool with_operation) {
        std::vector<wire::RosterOp> ops;
        if (with_operation) ops.push_back({RosterOpKind::add_device, tablet_of_alice.key.public_key});
        return write(author,
                     successor({laptop_.draft(room_, 1, BoxKind::epoch_secret),
                                phone_.draft(room_, 1, BoxKind::epoch_secret), tablet_of_alice.draft(room_, 1, kind),
                                desk_.draft(room_, 1, BoxKind::epoch_secret)},
                               std::move(ops)),
                     secret1_, init0);
    };
    // Added with operation 3 by a device of epoch 0: fine, with a kind 2 box.
    auto added = with_tablet(laptop_, BoxKind::joiner_secret, true);
    EXPECT_EQ(relay_verdict(genesis_, added), std::nullopt);
    EXPECT_TRUE(std::holds_alternative<SymmetricKey>(open(tablet_of_alice, added, nullptr)));
    // Without the operation, with a kind 1 box, or written by the new device itself.
    EXPECT_EQ(relay_verdict(genesis_, with_tablet(laptop_, BoxKind::joiner_secret, false)), RecordError::bad_roster);
    EXPECT_EQ(relay_verdict(genesis_, with_tablet(laptop_, BoxKind::epoch_secret, true)), RecordError::bad_roster);
    EXPECT_EQ(relay_verdict(genesis_, with_tablet(tablet_of_alice, BoxKind::joiner_secret, true)),
              RecordError::bad_roster);

    // Revoking phone: with operation 4, fine; dropped without it, refused.
    auto revoked = write(laptop_,
                         successor({laptop_.draft(room_, 1, BoxKind::epoch_secret),
                                    desk_.draft(room_, 1, BoxKind::epoch_secret)},
                                   {{RosterOpKind::revoke_device, phone_.key.public_key}}),
                         secret1_, init0);
    EXPECT_EQ(relay_verdict(genesis_, revoked), std::nullopt);
    EXPECT_EQ(open_error(phone_, revoked, &init0), OpenError::not_a_device);
    auto dropped = write(laptop_,
                         successor({laptop_.draft(room_, 1, BoxKind::epoch_secret),
                                    desk_.draft(room_, 1, BoxKind::epoch_secret)}),
                         secret1_, init0);
    EXPECT_EQ(relay_verdict(genesis_, dropped), RecordError::bad_roster);
    // A device may not revoke itself (the author must stay), nor be a device of another member.
    auto self_revoked = write(phone_,
                              successor({laptop_.draft(room_, 1, BoxKind::epoch_secret),
                                         desk_.draft(room_, 1, BoxKind::epoch_secret)},
                                        {{RosterOpKind::revoke_device, phone_.key.public_key}}),
                              secret1_, init0);
    EXPECT_EQ(relay_verdict(genesis_, self_revoked), RecordError::bad_roster);
}

TEST_F(RecordV2Test, MembersComeWithTheirDevicesAndGoWithThem) {
    const auto init0 = init_of(genesis_, joiner0_);
    auto with_carol = write(desk_,
                            successor({laptop_.draft(room_, 1, BoxKind::epoch_secret),
                                       phone_.draft(room_, 1, BoxKind::epoch_secret),
                                       desk_.draft(room_, 1, BoxKind::epoch_secret),
                                       tablet_.draft(room_, 1, BoxKind::joiner_secret)},
                                      {{RosterOpKind::add, carol_.public_key}}),
                            secret1_, init0);
    EXPECT_EQ(relay_verdict(genesis_, with_carol), std::nullopt);
    auto without_bob = write(laptop_,
                             successor({laptop_.draft(room_, 1, BoxKind::epoch_secret),
                                        phone_.draft(room_, 1, BoxKind::epoch_secret)},
                                       {{RosterOpKind::remove, bob_.public_key}}),
                             secret1_, init0);
    EXPECT_EQ(relay_verdict(genesis_, without_bob), std::nullopt);
    // Removing bob but keeping his device is refused (the device has no member);
    // so is revoking desk and removing bob in one record (a key of his touched twice over).
    auto revoke_and_remove = write(laptop_,
                                   successor({laptop_.draft(room_, 1, BoxKind::epoch_secret),
                                              phone_.draft(room_, 1, BoxKind::epoch_secret)},
                                             {{RosterOpKind::revoke_device, desk_.key.public_key},
                                              {RosterOpKind::remove, bob_.public_key}}),
                                   secret1_, init0);
    EXPECT_EQ(relay_verdict(genesis_, revoke_and_remove), RecordError::bad_roster);
}

TEST_F(RecordV2Test, AKeptDeviceKeepsItsCertificateAndItsCounterOnlyGrows) {
    const auto init0 = init_of(genesis_, joiner0_);
    auto epoch2_draft = [&](DeviceDraft desk) {
        return successor({laptop_.draft(room_, 1, BoxKind::epoch_secret),
                          phone_.draft(room_, 1, BoxKind::epoch_secret), std::move(desk)},
                         {}, &epoch1_);
    };
    auto j1 = std::get<SymmetricKey>(open(laptop_, epoch1_, &init0));
    const auto init1 = init_of(epoch1_, j1);
    // Counter 1 again, after 2 was in force: a rollback of desk's update key.
    auto back = write(laptop_, epoch2_draft(desk_.draft(room_, 1, BoxKind::epoch_secret)), secret1_, init1);
    EXPECT_EQ(relay_verdict(epoch1_, back), RecordError::bad_roster);
    // Counter 2 with another key.
    auto other = desk_.draft(room_, 2, BoxKind::epoch_secret);
    auto swapped = generate_update_key();
    other.update = sign_update_key(desk_.key, room_, swapped.public_key, 2);
    EXPECT_EQ(relay_verdict(epoch1_, write(laptop_, epoch2_draft(other), secret1_, init1)), RecordError::bad_roster);
    // A new certificate for the same device key (another name).
    auto renamed = desk_.draft(room_, 2, BoxKind::epoch_secret);
    renamed.certificate = certify_device(bob_, desk_.key.public_key, "renamed", 2);
    EXPECT_EQ(relay_verdict(epoch1_, write(laptop_, epoch2_draft(renamed), secret1_, init1)), RecordError::bad_roster);
    // Counter 3: a rotation, fine.
    EXPECT_EQ(relay_verdict(epoch1_, write(laptop_, epoch2_draft(desk_.draft(room_, 3, BoxKind::epoch_secret)),
                                           secret1_, init1)),
              std::nullopt);
}

TEST_F(RecordV2Test, ADeviceEntersByItsCardsJoiningKeyInAnyRoomAndOnlyThatWay) {
    // §10.5: carol's tablet is brought in with its card: the joining key entry,
    // counter 0, signed for the all-zero room id, with a kind 2 box.
    const auto init0 = init_of(genesis_, joiner0_);
    auto tablet_joining = [&](const wire::RoomId& signed_for) {
        DeviceDraft d = tablet_.draft(room_, 0, BoxKind::joiner_secret);
        d.update = sign_update_key(tablet_.key, signed_for, tablet_.update_keys.at(0).public_key, 0);
        return d;
    };
    auto with_tablet = [&](DeviceDraft tablet) {
        return successor({laptop_.draft(room_, 1, BoxKind::epoch_secret), phone_.draft(room_, 1, BoxKind::epoch_secret),
                          desk_.draft(room_, 1, BoxKind::epoch_secret), std::move(tablet)},
                         {{RosterOpKind::add, carol_.public_key}});
    };
    const auto card = with_tablet(tablet_joining(wire::RoomId{}));
    EXPECT_TRUE(verify_device_card({tablet_.certificate, card.devices.back().update}));
    const auto epoch1 = write(laptop_, card, secret1_, init0);
    EXPECT_EQ(relay_verdict(genesis_, epoch1), std::nullopt);
    EXPECT_TRUE(std::holds_alternative<SymmetricKey>(open(tablet_, epoch1, nullptr)))
        << "the tablet opens its box with the joining key";

    // Counter 0 signed for this room is no joining key: its signature does not verify.
    EXPECT_EQ(relay_verdict(genesis_, write(laptop_, with_tablet(tablet_joining(room_)), secret1_, init0)),
              RecordError::bad_signature);

    // Once it rotated, the tablet's counter cannot go back to 0.
    auto j1 = std::get<SymmetricKey>(open(laptop_, epoch1, &init0));
    const auto init1 = init_of(epoch1, j1);
    auto next = [&](DeviceDraft tablet, const EpochRecord& prev) {
        return successor({laptop_.draft(room_, 1, BoxKind::epoch_secret), phone_.draft(room_, 1, BoxKind::epoch_secret),
                          desk_.draft(room_, 1, BoxKind::epoch_secret), std::move(tablet)},
                         {}, &prev);
    };
    const auto rotated = write(laptop_, next(tablet_.draft(room_, 1, BoxKind::epoch_secret), epoch1), secret1_, init1);
    EXPECT_EQ(relay_verdict(epoch1, rotated), std::nullopt);
    auto j2 = std::get<SymmetricKey>(open(laptop_, rotated, &init1));
    auto joining_again = tablet_joining(wire::RoomId{});
    joining_again.box_kind = BoxKind::epoch_secret;
    EXPECT_EQ(relay_verdict(rotated, write(laptop_, next(joining_again, rotated), secret1_, init_of(rotated, j2))),
              RecordError::bad_roster);
}

TEST_F(RecordV2Test, AChainNeverGoesBackToVersion1) {
    test::Trio trio;
    auto v1_after_v2 = test::build(trio.alice, test::genesis_draft(room_, trio.roster()), secret1_);
    v1_after_v2.epoch = 1;
    v1_after_v2.previous = wire::record_hash(genesis_);
    v1_after_v2.salt = genesis_.salt;
    v1_after_v2.ops.clear();
    EXPECT_EQ(wire::check_successor(genesis_, v1_after_v2), RecordError::not_a_successor);
}

// --- the vectors (tests/vectors/v2.json) ---------------------------------------------

// The records check_v2.py reads from the text decode, verify and follow one
// another here, and every device opens its box with the update key its seed
// gives, to the joiner secret the vectors name.
TEST(RecordV2Vectors, TheRecordsOfTheVectorsOpenForEveryDevice) {
    crypto::init();
    std::ifstream in(std::string(PARLEY_VECTORS_DIR) + "/v2.json");
    ASSERT_TRUE(in) << "cannot open tests/vectors/v2.json";
    const auto v = nlohmann::json::parse(in);
    const auto& i = v["inputs"];
    const auto& o = v["outputs"];
    auto bytes = [](const nlohmann::json& j) {
        Bytes b;
        EXPECT_TRUE(from_hex(j.get<std::string>(), b));
        return b;
    };
    auto genesis = wire::decode_record(bytes(o["record_genesis"]));
    auto epoch1 = wire::decode_record(bytes(o["record_epoch1"]));
    ASSERT_TRUE(genesis.record && epoch1.record);
    EXPECT_TRUE(wire::verify_record_signature(*genesis.record));
    EXPECT_TRUE(wire::verify_record_signature(*epoch1.record, &*genesis.record));
    EXPECT_EQ(wire::check_successor(*genesis.record, *epoch1.record), std::nullopt);
    EXPECT_EQ(to_hex(wire::record_hash(*genesis.record)), o["record_genesis_hash"]);
    EXPECT_EQ(to_hex(wire::record_hash(*epoch1.record)), o["record_epoch1_hash"]);

    // Each device's update keys, from the seeds.
    std::map<std::pair<std::string, std::uint64_t>, UpdateKeyPair> keys;
    for (const auto& [name, seed_hex] : i["update_key_seeds"].items()) {
        auto seed = bytes(seed_hex);
        UpdateKeyPair pair;
        crypto_box_seed_keypair(pair.public_key.data(), pair.private_key.data(), seed.data());
        keys.emplace(std::pair{name.substr(0, name.find('-')), std::stoull(name.substr(name.find('-') + 1))},
                     std::move(pair));
    }
    const std::map<std::string, std::string> device_keys = {
        {"laptop", i["device_key"]}, {"phone", i["phone_device_key"]}, {"desk", i["desk_device_key"]}};
    const auto room_secret_bytes = bytes(i["room_secret"]);
    SymmetricKey room_secret;
    std::copy(room_secret_bytes.begin(), room_secret_bytes.end(), room_secret.data());
    const SymmetricKey* init = nullptr;
    SymmetricKey init0;
    for (const auto* r : {&*genesis.record, &*epoch1.record}) {
        const std::string want = o[r->epoch == 0 ? "record_genesis_joiner_secret" : "record_epoch1_joiner_secret"];
        for (const auto& [name, key_hex] : device_keys) {
            auto device = bytes(key_hex);
            wire::PublicKey key{};
            std::copy(device.begin(), device.end(), key.begin());
            UpdateKeyLookup lookup = [&, name = name](std::uint64_t counter, const UpdateKey& pk)
                -> const crypto::Secret<update_key_bytes>* {
                auto it = keys.find({name, counter});
                return it != keys.end() && it->second.public_key == pk ? &it->second.private_key : nullptr;
            };
            auto opened = open_record(key, lookup, init, *r);
            ASSERT_TRUE(std::holds_alternative<SymmetricKey>(opened))
                << name << " in epoch " << r->epoch << ": " << to_string(std::get<OpenError>(opened));
            EXPECT_EQ(hex(std::get<SymmetricKey>(opened)), want) << name;
        }
        SymmetricKey joiner;
        auto joiner_bytes = bytes(want);
        std::copy(joiner_bytes.begin(), joiner_bytes.end(), joiner.data());
        auto schedule = derive_epoch(room_secret, r->room, r->epoch, r->previous, joiner);
        EXPECT_EQ(schedule.token_hash, r->token_hash);
        init0 = std::move(schedule.init_secret);
        init = &init0;
    }
    // desk's box of epoch 1, opened by hand: the plaintext the text spells out.
    const auto* desk = wire::find_device(*epoch1.record, epoch1.record->author);  // desk wrote epoch 1
    const auto& pair = keys.at({"desk", 2});
    auto plaintext = crypto::open_sealed_x25519(pair.public_key, pair.private_key, desk->box);
    ASSERT_TRUE(plaintext);
    EXPECT_EQ(to_hex(ByteView(plaintext->data(), plaintext->size())), o["record_epoch1_desk_box_plaintext"]);
}

// --- the upgrade from version 1 (§10.7) -----------------------------------------------

class UpgradeTest : public RecordV2Test {
protected:
    void SetUp() override {
        RecordV2Test::SetUp();
        auto d = test::genesis_draft(room_, test::sorted({alice_.public_key, bob_.public_key}));
        v1_ = test::build(alice_, std::move(d), v1_secret_);
    }
    wire::Token v1_token() const {
        return token_bytes(derive_epoch_keys(test::shared_room_secret(), room_, 0, {}, v1_secret_));
    }
    EpochSecret v1_secret_ = test::random_epoch_secret();
    RecordDraft upgrade(std::vector<DeviceDraft> devices, std::vector<wire::RosterOp> ops = {}) {
        return successor(std::move(devices), std::move(ops), &v1_);
    }
    EpochRecord v1_;
};

TEST_F(UpgradeTest, EveryMemberGetsItsDevicesWithJoinerSecrets) {
    auto up = write(laptop_,
                    upgrade({laptop_.draft(room_, 1, BoxKind::joiner_secret),
                             desk_.draft(room_, 1, BoxKind::joiner_secret)}),
                    secret1_, zero_);
    EXPECT_EQ(relay_verdict(v1_, up), std::nullopt);
    EXPECT_TRUE(std::holds_alternative<SymmetricKey>(open(desk_, up, nullptr)));
    // A version-1 client reading it: not a box it can open, and it says why.
    auto v1_open = open_epoch_secret(alice_, up);
    ASSERT_TRUE(std::holds_alternative<protocol::OpenError>(v1_open));
    EXPECT_EQ(std::get<protocol::OpenError>(v1_open), protocol::OpenError::other_version);
}

TEST_F(UpgradeTest, KindOneBoxesDeviceOperationsAndOutsidersAreRefused) {
    auto kind1 = write(laptop_,
                       upgrade({laptop_.draft(room_, 1, BoxKind::epoch_secret),
                                desk_.draft(room_, 1, BoxKind::joiner_secret)}),
                       secret1_, zero_);
    EXPECT_EQ(relay_verdict(v1_, kind1), RecordError::bad_roster);
    auto op3 = write(laptop_,
                     upgrade({laptop_.draft(room_, 1, BoxKind::joiner_secret),
                              desk_.draft(room_, 1, BoxKind::joiner_secret)},
                             {{RosterOpKind::add_device, laptop_.key.public_key}}),
                     secret1_, zero_);
    EXPECT_EQ(relay_verdict(v1_, op3), RecordError::bad_roster);
    // carol (not in the version-1 roster) cannot write the upgrade, even adding herself.
    auto by_carol = write(tablet_,
                          upgrade({laptop_.draft(room_, 1, BoxKind::joiner_secret),
                                   desk_.draft(room_, 1, BoxKind::joiner_secret),
                                   tablet_.draft(room_, 1, BoxKind::joiner_secret)},
                                  {{RosterOpKind::add, carol_.public_key}}),
                          secret1_, zero_);
    EXPECT_EQ(relay_verdict(v1_, by_carol), RecordError::bad_roster);
    // A member left without devices is a member removed without an operation.
    auto bob_missing = write(laptop_, upgrade({laptop_.draft(room_, 1, BoxKind::joiner_secret)}), secret1_, zero_);
    EXPECT_EQ(relay_verdict(v1_, bob_missing), RecordError::bad_roster);
}

TEST_F(UpgradeTest, TheRelayTakesTheUpgradeAndRefusesADowngrade) {
    relay::MemoryRelayStore store;
    relay::ChainBook book(store);
    auto publish = [&](const EpochRecord& r, const wire::Token& token) {
        auto verified = relay::verify_published_record(room_, wire::encode_record(r));
        if (!verified) return std::optional<wire::RelayError>(wire::RelayError::bad_record);
        return book.publish(room_, token, *verified).error;
    };
    ASSERT_EQ(publish(v1_, {}), std::nullopt);
    auto written = build_record(laptop_.key,
                                upgrade({laptop_.draft(room_, 1, BoxKind::joiner_secret),
                                         desk_.draft(room_, 1, BoxKind::joiner_secret)}),
                                test::shared_room_secret(), secret1_, zero_);
    ASSERT_TRUE(written);
    const auto& up = written->record;
    ASSERT_EQ(publish(up, v1_token()), std::nullopt);
    const auto up_token = derive_epoch(test::shared_room_secret(), room_, 1, up.previous, written->joiner).access_token;
    wire::Token token{};
    std::copy_n(up_token.data(), token.size(), token.begin());

    // A version-1 record after it, signed by a member, with the right token: refused.
    auto down = test::build(alice_, test::successor_draft(v1_), test::random_epoch_secret());
    down.epoch = 2;
    down.previous = wire::record_hash(up);
    test::resign(down, alice_);
    EXPECT_EQ(publish(down, token), wire::RelayError::bad_record);
    // A rotation by bob's desk: taken.
    const auto init1 = init_of(up, written->joiner);
    auto rotation = write(desk_,
                          successor({laptop_.draft(room_, 1, BoxKind::epoch_secret),
                                     desk_.draft(room_, 2, BoxKind::epoch_secret)},
                                    {}, &up),
                          secret0_, init1);
    EXPECT_EQ(publish(rotation, token), std::nullopt);
}

}  // namespace
}  // namespace parley::protocol::v2
