// store/device_epochs.h: update keys and epochs on a device, through real
// version-2 records (protocol/record_v2.h) and real state files. Healing is
// played out: a thief copies a device's state folder and has the device key and
// the password; after the device's next rotation the thief cannot enter the
// next epoch, and the device keeps nothing that opens an earlier one.
#include <gtest/gtest.h>

#include <memory>

#include "device_test_support.h"

namespace parley::store {
namespace {

using namespace test_devices;
using protocol::v2::OpenError;
using DeviceEpochsTest = TwoDeviceRoom;

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

namespace parley::store {
namespace {

using namespace test_devices;
using protocol::v2::OpenError;

// §10.5: carol's tablet enters the room by its card; once it rotated, the room's
// state holds nothing its joining key opened.
class DeviceCardEntryTest : public TwoDeviceRoom {
protected:
    const crypto::Identity carol = parley::test::new_identity();
    Device tablet{carol, "tablet", room, dir / "tablet.sqlite"};
};

TEST_F(DeviceCardEntryTest, ADeviceEntersByItsCardAndItsRoomStateForgetsTheJoiningKey) {
    const auto joining = protocol::v2::generate_update_key();
    const auto card_entry = protocol::v2::sign_joining_key(tablet.key, joining.public_key);
    tablet.epochs.take_joining_key(joining.private_key);
    EXPECT_EQ(tablet.epochs.newest_update_counter(), 0u);
    EXPECT_EQ(tablet.rows(DeviceSecretKind::update_key), 1u);

    const auto epoch1 = write_epoch(genesis,
                              {laptop.draft(laptop.epochs.new_update_key(), wire::BoxKind::epoch_secret),
                               desk.draft(desk.epochs.new_update_key(), wire::BoxKind::epoch_secret),
                               tablet.draft(card_entry, wire::BoxKind::joiner_secret)},
                              {{wire::RosterOpKind::add, carol.public_key}});
    ASSERT_TRUE(adopt(laptop, epoch1));
    ASSERT_TRUE(adopt(tablet, epoch1)) << "the tablet could not open its box with the joining key";
    const auto stolen_in_epoch1 = steal(tablet);

    // The tablet rotates at once; the next record puts counter 1 in force.
    const auto rotated = tablet.epochs.new_update_key();
    EXPECT_EQ(rotated.counter, 1u);
    EXPECT_THROW(tablet.epochs.take_joining_key(joining.private_key), StoreError);
    const auto epoch2 = write_epoch(epoch1, {laptop.draft(wire::find_device(epoch1, laptop.key.public_key)->update,
                                                    wire::BoxKind::epoch_secret),
                                       desk.draft(wire::find_device(epoch1, desk.key.public_key)->update,
                                                  wire::BoxKind::epoch_secret),
                                       tablet.draft(rotated, wire::BoxKind::epoch_secret)});
    ASSERT_TRUE(adopt(tablet, epoch2));
    EXPECT_EQ(tablet.rows(DeviceSecretKind::update_key), 1u) << "the joining key's copy stayed in the room state";
    EXPECT_EQ(tablet.epochs.newest_update_counter(), 1u);

    // A thief of the room state now opens neither epoch 1's box (update key 0 is
    // gone) nor, from a copy taken in epoch 1, epoch 2's (sealed to counter 1).
    Thief now(tablet, steal(tablet));
    auto result = now.epochs.adopt(epoch1, parley::test::shared_room_secret(), now.chains);
    ASSERT_TRUE(std::holds_alternative<OpenError>(result));
    EXPECT_EQ(std::get<OpenError>(result), OpenError::no_update_key);
    Thief before(tablet, stolen_in_epoch1);
    result = before.epochs.adopt(epoch2, parley::test::shared_room_secret(), before.chains);
    ASSERT_TRUE(std::holds_alternative<OpenError>(result));
    EXPECT_EQ(std::get<OpenError>(result), OpenError::no_update_key);
}

}  // namespace
}  // namespace parley::store
