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

TEST_F(DeviceEpochsTest, AdoptingAgainKeepsTheChainsWhereTheyStand) {
    // Two processes of a device (or a restart) adopt the same head: the second
    // must not start the chains again, or positions would be handed out twice.
    const auto hash = wire::record_hash(genesis);
    ASSERT_TRUE(laptop.chains.take_sender(hash));
    ASSERT_TRUE(laptop.chains.take_sender(hash));
    ASSERT_TRUE(std::holds_alternative<crypto::SymmetricKey>(laptop.chains.take_receiver(hash, desk.key.public_key, 0)));
    ASSERT_TRUE(adopt(laptop, genesis));
    EXPECT_EQ(laptop.chains.take_sender(hash)->position, 2u) << "adopting again restarted the sender chain";
    EXPECT_EQ(std::get<DeviceChains::Error>(laptop.chains.take_receiver(hash, desk.key.public_key, 0)),
              DeviceChains::Error::no_key)
        << "adopting again restarted a receiver chain: a replay would open";

    // Epoch 1, adopted, then again once init secret 0 is gone: the same token, nothing restarted.
    const auto epoch1 = next_epoch(genesis, laptop.epochs.new_update_key(), desk.epochs.new_update_key());
    const auto other = next_epoch(genesis, wire::find_device(epoch1, laptop.key.public_key)->update,
                                  wire::find_device(epoch1, desk.key.public_key)->update);
    auto first = laptop.epochs.adopt(epoch1, test::shared_room_secret(), laptop.chains);
    ASSERT_TRUE(std::holds_alternative<DeviceEpochs::Adopted>(first));
    ASSERT_FALSE(laptop.epochs.init_secret(0));
    ASSERT_TRUE(laptop.chains.take_sender(wire::record_hash(epoch1)));
    auto again = laptop.epochs.adopt(epoch1, test::shared_room_secret(), laptop.chains);
    ASSERT_TRUE(std::holds_alternative<DeviceEpochs::Adopted>(again));
    EXPECT_TRUE(std::get<DeviceEpochs::Adopted>(again).access_token.equals(std::get<DeviceEpochs::Adopted>(first).access_token));
    EXPECT_EQ(std::get<DeviceEpochs::Adopted>(again).update_counter, 2u);
    EXPECT_EQ(laptop.chains.take_sender(wire::record_hash(epoch1))->position, 1u);
    ASSERT_TRUE(laptop.epochs.adopted(epoch1));
    EXPECT_FALSE(desk.epochs.adopted(epoch1));

    // Another record for an adopted epoch is a fork, never adopted over the first.
    ASSERT_NE(wire::record_hash(other), wire::record_hash(epoch1));
    EXPECT_THROW((void)laptop.epochs.adopt(other, test::shared_room_secret(), laptop.chains), StoreError);
}

TEST_F(DeviceEpochsTest, AWrongPasswordAdoptsNothing) {
    crypto::SymmetricKey other_secret;
    crypto::random_bytes(other_secret.mutable_bytes());
    // Bob's new tablet, used first with a mistyped password: its update key row
    // is sealed under that, so its box opens, and only the token hash tells.
    Device tablet{bob, "tablet", room, dir / "tablet.sqlite"};
    DeviceStateCipher mistyped(tablet.key, room, other_secret);
    DeviceChains chains(*tablet.store, mistyped);
    DeviceEpochs epochs(*tablet.store, mistyped, tablet.key);
    const auto entry = epochs.new_update_key();
    const auto epoch1 = write_epoch(genesis,
                                    {laptop.draft(laptop.epochs.new_update_key(), BoxKind::epoch_secret),
                                     desk.draft(desk.epochs.new_update_key(), BoxKind::epoch_secret),
                                     tablet.draft(entry, BoxKind::joiner_secret)},
                                    {{wire::RosterOpKind::add_device, tablet.key.public_key}});
    auto result = epochs.adopt(epoch1, other_secret, chains);
    ASSERT_TRUE(std::holds_alternative<OpenError>(result));
    EXPECT_EQ(std::get<OpenError>(result), OpenError::wrong_password);
    EXPECT_FALSE(epochs.adopted(epoch1));
    EXPECT_FALSE(epochs.init_secret(1));
    EXPECT_FALSE(chains.sender_next(wire::record_hash(epoch1))) << "a wrong password started a chain";

    // Desk with the wrong password: its rows do not open at all, which
    // state_opens() tells before anything is read (a mistyped password, not damage).
    DeviceStateCipher wrong(desk.key, room, other_secret);
    DeviceChains desk_chains(*desk.store, wrong);
    DeviceEpochs desk_epochs(*desk.store, wrong, desk.key);
    EXPECT_FALSE(desk_epochs.state_opens());
    EXPECT_TRUE(desk.epochs.state_opens());
    EXPECT_TRUE(epochs.state_opens()) << "the tablet's rows open under the password they were sealed with";
    Device fresh{bob, "fresh", room, dir / "fresh.sqlite"};
    DeviceStateCipher fresh_cipher(fresh.key, room, other_secret);
    EXPECT_TRUE(DeviceEpochs(*fresh.store, fresh_cipher, fresh.key).state_opens()) << "no state: nothing to refuse";
    EXPECT_THROW((void)desk_epochs.adopt(epoch1, other_secret, desk_chains), StoreError);
    EXPECT_TRUE(adopt(desk, epoch1)) << "the failed attempts changed desk's state";
}

TEST_F(DeviceEpochsTest, ADeviceOutOfTheRoomErasesItsKeysAndOthersForgetItsKeyUpdate) {
    // Laptop notes desk's key-update, then writes epoch 1 without desk (bob removed).
    const auto d2 = desk.epochs.new_update_key();
    laptop.epochs.note_update(d2);
    ASSERT_EQ(laptop.epochs.noted_updates().count(desk.key.public_key), 1u);
    const auto epoch1 = write_epoch(genesis, {laptop.draft(laptop.epochs.new_update_key(), BoxKind::epoch_secret)},
                                    {{wire::RosterOpKind::remove, bob.public_key}});
    ASSERT_TRUE(adopt(laptop, epoch1));
    EXPECT_EQ(laptop.epochs.noted_updates().count(desk.key.public_key), 0u)
        << "a key-update of a device out of the room would seal its box, once it is back, to a key it erased";

    // Desk is out: its update keys and init secret go, whatever the password.
    ASSERT_GT(desk.rows(DeviceSecretKind::update_key), 0u);
    desk.epochs.mark_update_sent(d2.counter, wire::record_hash(genesis));
    DeviceEpochs::erase_keys(*desk.store, room, 1);
    EXPECT_EQ(desk.rows(DeviceSecretKind::update_key), 0u);
    EXPECT_EQ(desk.rows(DeviceSecretKind::init_secret), 0u);
    EXPECT_EQ(desk.rows(DeviceSecretKind::update_sent), 0u);
    EXPECT_GT(desk.rows(DeviceSecretKind::adopted_epoch), 0u) << "what it adopted stays, for the fork check";

    // A removal shown late, at an epoch the device is past (laptop adopted
    // epoch 1): old news, nothing erased.
    const auto keys = laptop.rows(DeviceSecretKind::update_key);
    ASSERT_GT(keys, 0u);
    DeviceEpochs::erase_keys(*laptop.store, room, 0);
    EXPECT_EQ(laptop.rows(DeviceSecretKind::update_key), keys);
    EXPECT_TRUE(laptop.epochs.init_secret(1));
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
