// store/device_epochs.h: update keys and epochs on a device, through real
// version-2 records (protocol/record_v2.h) and real state files. Healing is
// played out: a thief copies a device's state folder and has the device key and
// the password; after the device's next rotation the thief cannot enter the
// next epoch, and the device keeps nothing that opens an earlier one.
#include <gtest/gtest.h>

#include <memory>

#include "store/device_epochs.h"
#include "test_support.h"

namespace parley::store {
namespace {

namespace fs = std::filesystem;
using protocol::v2::OpenError;
using test::TempDir;
using wire::BoxKind;

// One device: its key, certificate and state file, as its folder holds them.
struct Device {
    Device(const crypto::Identity& member, const std::string& name, const wire::RoomId& room, const fs::path& path)
        : certificate(protocol::v2::certify_device(member, key.public_key, name, 1'700'000'000'000)),
          cipher(key, room, test::shared_room_secret()),
          store(std::make_unique<StateStore>(path)),
          chains(*store, cipher),
          epochs(*store, cipher, key),
          file(path) {}
    crypto::Identity key = test::new_identity();
    protocol::v2::DeviceCertificate certificate;
    DeviceStateCipher cipher;
    std::unique_ptr<StateStore> store;
    DeviceChains chains;
    DeviceEpochs epochs;
    fs::path file;

    protocol::v2::DeviceDraft draft(const protocol::v2::UpdateKeyEntry& entry, BoxKind kind) const {
        return {certificate, entry, kind};
    }
    std::size_t rows(DeviceSecretKind kind) {
        return store->device_secrets_named(cipher.room(), Bytes{static_cast<std::uint8_t>(kind)}).size();
    }
};

// What a thief who copied the device's folder now has: the same key, the
// password, and the state file as it was.
struct Thief {
    Thief(const Device& d, const fs::path& copy)
        : cipher(d.key, d.cipher.room(), test::shared_room_secret()), store(copy), chains(store, cipher),
          epochs(store, cipher, d.key) {}
    DeviceStateCipher cipher;
    StateStore store;
    DeviceChains chains;
    DeviceEpochs epochs;
};

crypto::EpochSecret fresh_secret() {
    crypto::EpochSecret s;
    crypto::random_bytes({s.data(), s.size()});
    return s;
}

class DeviceEpochsTest : public ::testing::Test {
protected:
    void SetUp() override {
        const auto l1 = laptop.epochs.new_update_key();
        const auto d1 = desk.epochs.new_update_key();
        EXPECT_EQ(l1.counter, 1u);
        protocol::v2::RecordDraft draft;
        draft.room = room;
        draft.salt = test::test_salt();
        draft.kdf = wire::kdf_floor;
        draft.created_at_ms = 1'700'000'000'000;
        draft.devices = {laptop.draft(l1, BoxKind::joiner_secret), desk.draft(d1, BoxKind::joiner_secret)};
        draft.ops = test::adds_for({alice.public_key, bob.public_key});
        const crypto::SymmetricKey zero;
        auto written = protocol::v2::build_record(laptop.key, draft, test::shared_room_secret(), fresh_secret(), zero);
        ASSERT_TRUE(written);
        genesis = std::move(written->record);
        ASSERT_TRUE(adopt(laptop, genesis));
        ASSERT_TRUE(adopt(desk, genesis));
    }

    // The successor of `prev`, written by laptop, sealing to these entries.
    wire::EpochRecord next_epoch(const wire::EpochRecord& prev, const protocol::v2::UpdateKeyEntry& laptop_entry,
                                 const protocol::v2::UpdateKeyEntry& desk_entry) {
        protocol::v2::RecordDraft draft;
        draft.room = room;
        draft.epoch = prev.epoch + 1;
        draft.previous = wire::record_hash(prev);
        draft.salt = prev.salt;
        draft.kdf = prev.kdf;
        draft.created_at_ms = prev.created_at_ms + 1000;
        draft.devices = {laptop.draft(laptop_entry, BoxKind::epoch_secret), desk.draft(desk_entry, BoxKind::epoch_secret)};
        const auto init = laptop.epochs.init_secret(prev.epoch);
        if (!init) throw std::runtime_error("laptop holds no init secret of the previous epoch");
        auto written = protocol::v2::build_record(laptop.key, draft, test::shared_room_secret(), fresh_secret(), *init);
        if (!written) throw std::runtime_error("build_record failed");
        return std::move(written->record);
    }

    static bool adopt(Device& d, const wire::EpochRecord& r) {
        auto result = d.epochs.adopt(r, test::shared_room_secret(), d.chains);
        if (auto* e = std::get_if<OpenError>(&result)) ADD_FAILURE() << "adopt: " << protocol::v2::to_string(*e);
        return std::holds_alternative<DeviceEpochs::Adopted>(result);
    }

    fs::path steal(const Device& d) {
        const fs::path copy = dir / ("stolen-" + std::to_string(++copies) + ".sqlite");
        fs::copy_file(d.file, copy);
        if (fs::exists(d.file.string() + "-wal")) fs::copy_file(d.file.string() + "-wal", copy.string() + "-wal");
        return copy;
    }

    TempDir dir;
    int copies = 0;
    const crypto::Identity alice = test::new_identity(), bob = test::new_identity();
    const wire::RoomId room = crypto::random_array<wire::hash_bytes>();
    Device laptop{alice, "laptop", room, dir / "laptop.sqlite"};
    Device desk{bob, "desk", room, dir / "desk.sqlite"};
    wire::EpochRecord genesis;
};

TEST_F(DeviceEpochsTest, TwoDevicesAdoptingTheGenesisShareEveryChain) {
    const auto hash = wire::record_hash(genesis);
    auto sent = laptop.chains.take_sender(hash);
    ASSERT_TRUE(sent);
    auto got = desk.chains.take_receiver(hash, laptop.key.public_key, sent->position);
    ASSERT_TRUE(std::holds_alternative<crypto::SymmetricKey>(got));
    EXPECT_TRUE(std::get<crypto::SymmetricKey>(got).equals(sent->message_key));
    // Each holds its own init secret of epoch 0 (the same one), and the token matches the record.
    EXPECT_TRUE(laptop.epochs.init_secret(0)->equals(*desk.epochs.init_secret(0)));
    auto again = laptop.epochs.adopt(genesis, test::shared_room_secret(), laptop.chains);
    ASSERT_TRUE(std::holds_alternative<DeviceEpochs::Adopted>(again));
    EXPECT_EQ(std::get<DeviceEpochs::Adopted>(again).token_hash, genesis.token_hash);
}

TEST_F(DeviceEpochsTest, AfterTheDevicesRotationAThiefOfItsOldStateIsLockedOut) {
    const auto stolen = steal(desk);  // at epoch 0: update key 1, init secret 0, the chains
    const auto d2 = desk.epochs.new_update_key();
    EXPECT_EQ(d2.counter, 2u);
    const auto l1 = laptop.epochs.new_update_key();  // laptop rotates too (counter 2)
    const auto epoch1 = next_epoch(genesis, l1, d2);
    ASSERT_TRUE(adopt(laptop, epoch1));
    ASSERT_TRUE(adopt(desk, epoch1));

    // Desk forgot what the thief holds: update key 1 and init secret 0.
    EXPECT_EQ(desk.rows(DeviceSecretKind::update_key), 1u);
    EXPECT_EQ(desk.epochs.newest_update_counter(), 2u);
    EXPECT_FALSE(desk.epochs.init_secret(0));
    EXPECT_TRUE(desk.epochs.init_secret(1));

    Thief thief(desk, stolen);
    auto result = thief.epochs.adopt(epoch1, test::shared_room_secret(), thief.chains);
    ASSERT_TRUE(std::holds_alternative<OpenError>(result)) << "the thief entered the epoch after the rotation";
    EXPECT_EQ(std::get<OpenError>(result), OpenError::no_update_key);
    EXPECT_TRUE(thief.epochs.init_secret(0)) << "a failed adopt changed the state";
    EXPECT_EQ(std::get<DeviceChains::Error>(thief.chains.take_receiver(wire::record_hash(epoch1),
                                                                        laptop.key.public_key, 0)),
              DeviceChains::Error::no_chain);
}

TEST_F(DeviceEpochsTest, WithoutARotationTheThiefFollowsAsSection10_1Says) {
    // The limit, shown so it stays written down: desk did not rotate, so epoch 1
    // is sealed to the update key the thief copied, and the thief holds init secret 0.
    const auto stolen = steal(desk);
    const auto epoch1 = next_epoch(genesis, laptop.epochs.new_update_key(),
                                   protocol::v2::sign_update_key(desk.key, room, [&] {
                                       // desk's entry in force, as the genesis holds it
                                       return wire::find_device(genesis, desk.key.public_key)->update.update_key;
                                   }(), 1));
    ASSERT_TRUE(adopt(desk, epoch1));
    Thief thief(desk, stolen);
    EXPECT_TRUE(std::holds_alternative<DeviceEpochs::Adopted>(
        thief.epochs.adopt(epoch1, test::shared_room_secret(), thief.chains)));
}

TEST_F(DeviceEpochsTest, AStateStolenAfterAnEpochOpensNoEarlierBox) {
    const auto epoch1 = next_epoch(genesis, laptop.epochs.new_update_key(), desk.epochs.new_update_key());
    ASSERT_TRUE(adopt(desk, epoch1));
    Thief thief(desk, steal(desk));
    // The genesis box was sealed to update key 1, erased; and init secret 0, which
    // a kind-1 box of epoch 1 would need, is gone too.
    auto result = thief.epochs.adopt(genesis, test::shared_room_secret(), thief.chains);
    ASSERT_TRUE(std::holds_alternative<OpenError>(result));
    EXPECT_EQ(std::get<OpenError>(result), OpenError::no_update_key);
    EXPECT_FALSE(thief.epochs.init_secret(0));
}

}  // namespace
}  // namespace parley::store
