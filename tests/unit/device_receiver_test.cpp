// store/device_receiver.h: version 2's receiver on a device's stored chains,
// through real records, envelopes and state files. Every check is played as an
// attack that succeeds without it: a forged signature that would burn a
// position, an uncertified key, the device's own key used from another folder,
// a replay, a withheld message in the middle and at the end of an epoch.
#include <gtest/gtest.h>

#include "device_test_support.h"
#include "protocol/message.h"
#include "store/device_receiver.h"

namespace parley::store {
namespace {

using namespace test_devices;

std::string text_of(const Bytes& b) { return {b.begin(), b.end()}; }

class DeviceReceiverTest : public TwoDeviceRoom {
protected:
    void SetUp() override {
        TwoDeviceRoom::SetUp();
        laptop_rx.add_epoch(genesis);
        desk_rx.add_epoch(genesis);
    }

    // What a holder of `key` and `chains` seals at the chain's next position of `record`'s epoch.
    Bytes seal(const crypto::Identity& key, DeviceChains& chains, const wire::EpochRecord& record,
               std::string_view plaintext, wire::EnvelopeType type = wire::EnvelopeType::text) {
        const auto hash = wire::record_hash(record);
        auto step = chains.take_sender(hash);
        if (!step) throw std::runtime_error("no sender chain");
        auto envelope = seal_at(key, record, step->position, step->message_key, plaintext, type);
        chains.note_sealed(hash, step->position, envelope);  // as DeviceSender does
        return envelope;
    }
    Bytes seal_at(const crypto::Identity& key, const wire::EpochRecord& record, std::uint64_t position,
                  const crypto::SymmetricKey& message_key, std::string_view plaintext,
                  wire::EnvelopeType type = wire::EnvelopeType::text) {
        protocol::SenderContext ctx{&key,    crypto::key_id(key.public_key), room, record.epoch, wire::record_hash(record),
                                    session, &message_key,                   2};
        return protocol::seal_message(ctx, position, 1'796'299'200'000, crypto::random_array<wire::nonce_bytes>(),
                                      plaintext, type);
    }
    Bytes from_laptop(std::string_view text, const wire::EpochRecord* record = nullptr) {
        return seal(laptop.key, laptop.chains, record ? *record : genesis, text);
    }

    const wire::SessionId session = crypto::random_array<wire::session_id_bytes>();
    DeviceReceiver laptop_rx{room, laptop.key.public_key, laptop.chains};
    DeviceReceiver desk_rx{room, desk.key.public_key, desk.chains};
};

TEST_F(DeviceReceiverTest, MessagesOpenInAnyOrderOnceAndAGapIsCounted) {
    std::vector<Bytes> sent;
    for (int i = 0; i < 3; ++i) sent.push_back(from_laptop("message " + std::to_string(i)));

    auto third = desk_rx.receive(sent[2]);
    ASSERT_TRUE(third.accepted) << third.reason;
    EXPECT_EQ(third.text, "message 2");
    EXPECT_EQ(third.missing_before, 2u) << "positions 0 and 1 had not come";
    EXPECT_EQ(third.sender, alice.public_key) << "the member, not the device";
    EXPECT_EQ(third.device, laptop.key.public_key);
    EXPECT_FALSE(third.own);

    for (int i : {0, 1}) {
        auto late = desk_rx.receive(sent[i]);
        ASSERT_TRUE(late.accepted) << late.reason;
        EXPECT_EQ(late.text, "message " + std::to_string(i));
        EXPECT_EQ(late.missing_before, 0u);
    }
    auto again = desk_rx.receive(sent[1]);
    EXPECT_FALSE(again.accepted);
    EXPECT_TRUE(again.replay) << again.reason;
    EXPECT_EQ(desk.chains.skipped_count(wire::record_hash(genesis), laptop.key.public_key), 0u);
}

TEST_F(DeviceReceiverTest, AForgedSignatureIsRefusedBeforeAnyKeyIsTaken) {
    // Mallory signs an envelope in laptop's name at position 100 with a key of her
    // own: were the chain moved before the signature, 100 keys would be derived
    // and stored, and the real 0..99 could push out skipped keys.
    const auto mallory = test::new_identity();
    crypto::SymmetricKey any;
    auto forged = seal_at(mallory, genesis, 100, any, "trust me");
    auto env = wire::decode_envelope(forged).envelope;
    ASSERT_TRUE(env);
    env->header.sender = crypto::key_id(laptop.key.public_key);
    env->signature = crypto::sign(mallory.secret, wire::envelope_signed_message(*env));
    const auto hash = wire::record_hash(genesis);

    auto d = desk_rx.receive(wire::encode_envelope(*env));
    EXPECT_FALSE(d.accepted);
    EXPECT_NE(d.reason.find("bad signature"), std::string::npos) << d.reason;
    EXPECT_EQ(desk.chains.receiver_next(hash, laptop.key.public_key), 0u);
    EXPECT_EQ(desk.chains.skipped_count(hash, laptop.key.public_key), 0u);
    auto genuine = desk_rx.receive(from_laptop("the real first"));
    EXPECT_TRUE(genuine.accepted) << genuine.reason;
}

TEST_F(DeviceReceiverTest, AKeyNoRecordCertifiesIsRefusedEvenWhenItIsAMembers) {
    // Alice's own identity key, and a device key she never put in a record.
    crypto::SymmetricKey any;
    const auto stray = test::new_identity();
    for (const auto* key : {&alice, &stray}) {
        auto d = desk_rx.receive(seal_at(*key, genesis, 0, any, "hello"));
        EXPECT_FALSE(d.accepted);
        EXPECT_NE(d.reason.find("no record of this epoch certifies"), std::string::npos) << d.reason;
        EXPECT_FALSE(d.sender) << "nobody is named for an uncertified key";
    }
}

TEST_F(DeviceReceiverTest, ThisDevicesKeyFromAnotherFolderRaisesTheAlarm) {
    // A thief copied laptop's folder before laptop sent anything and sends from it.
    Thief thief(laptop, steal(laptop));
    auto d = laptop_rx.receive(seal(laptop.key, thief.chains, genesis, "it's me, honest"));
    EXPECT_FALSE(d.accepted);
    EXPECT_NE(d.reason.find("in use elsewhere"), std::string::npos) << d.reason;

    // Another process of laptop itself (a `send` beside the chat) shares the state
    // file: what it took is laptop's own and comes back as such, unopened and
    // not shown: laptop keeps no key of its own positions.
    StateStore other_process(laptop.file);
    DeviceChains other_chains(other_process, laptop.cipher);
    auto mine = laptop_rx.receive(seal(laptop.key, other_chains, genesis, "from my send"));
    ASSERT_TRUE(mine.accepted) << mine.reason;
    EXPECT_TRUE(mine.own);
    EXPECT_TRUE(mine.ignored);
    EXPECT_TRUE(mine.text.empty());
    EXPECT_EQ(std::get<DeviceChains::Error>(laptop.chains.take_receiver(wire::record_hash(genesis),
                                                                         laptop.key.public_key, 0)),
              DeviceChains::Error::no_chain)
        << "a device keeps a receiver chain of its own positions: a thief of its state reads what it sent";

    // A copy taken now takes the same next position as laptop: laptop sends
    // there, then the copy does. Only laptop's own envelope is its own.
    Thief copy(laptop, steal(laptop));
    const auto own = seal(laptop.key, other_chains, genesis, "laptop at position 1");
    const auto copied = seal(laptop.key, copy.chains, genesis, "the copy at position 1");
    ASSERT_EQ(wire::decode_envelope(own).envelope->header.counter, wire::decode_envelope(copied).envelope->header.counter);
    EXPECT_TRUE(laptop_rx.receive(own).own);
    d = laptop_rx.receive(copied);
    EXPECT_FALSE(d.accepted);
    EXPECT_NE(d.reason.find("in use elsewhere"), std::string::npos) << d.reason;
}

TEST_F(DeviceReceiverTest, EnvelopesOfAnotherRoomOrEpochOrVersionAreRefusedByName) {
    const auto epoch1 = next_epoch(genesis, laptop.epochs.new_update_key(), desk.epochs.new_update_key());
    ASSERT_TRUE(adopt(laptop, epoch1));
    // desk has not adopted epoch 1: the envelope is of an epoch it does not hold.
    auto d = desk_rx.receive(from_laptop("in epoch 1", &epoch1));
    EXPECT_FALSE(d.accepted);
    EXPECT_NE(d.reason.find("epoch this device does not hold"), std::string::npos) << d.reason;

    auto bytes = from_laptop("elsewhere");
    auto env = *wire::decode_envelope(bytes).envelope;
    env.header.room = crypto::room_id("another room");
    env.signature = crypto::sign(laptop.key.secret, wire::envelope_signed_message(env));
    d = desk_rx.receive(wire::encode_envelope(env));
    EXPECT_FALSE(d.accepted);
    EXPECT_NE(d.reason.find("another room"), std::string::npos) << d.reason;

    d = desk_rx.receive(Bytes{2, 1, 2, 3});
    EXPECT_FALSE(d.accepted);
    EXPECT_NE(d.reason.find("malformed"), std::string::npos) << d.reason;
}

TEST_F(DeviceReceiverTest, ATamperedCiphertextIsRefused) {
    auto bytes = from_laptop("pay bob 10");
    bytes[bytes.size() - 70] ^= 1;  // inside the ciphertext, before the 64-byte signature
    auto d = desk_rx.receive(bytes);
    EXPECT_FALSE(d.accepted);
    EXPECT_FALSE(d.text.size()) << "nothing shown";
}

TEST_F(DeviceReceiverTest, AFirstOfEpochSyncTellsWhatNeverCameAtTheEndOfTheEpochBefore) {
    // Laptop sends 4 in the genesis; the relay gives desk 0 and 2 and withholds
    // 1 and the tail, 3: nothing in epoch 0 tells desk about 3.
    std::vector<Bytes> sent;
    for (int i = 0; i < 4; ++i) sent.push_back(from_laptop("m" + std::to_string(i)));
    ASSERT_TRUE(desk_rx.receive(sent[0]).accepted);
    auto two = desk_rx.receive(sent[2]);
    ASSERT_TRUE(two.accepted);
    EXPECT_EQ(two.missing_before, 1u);

    const auto epoch1 = next_epoch(genesis, laptop.epochs.new_update_key(), desk.epochs.new_update_key());
    ASSERT_TRUE(adopt(laptop, epoch1));
    ASSERT_TRUE(adopt(desk, epoch1));
    desk_rx.add_epoch(epoch1);
    protocol::SyncNote note{protocol::SyncReason::first_of_epoch, wire::record_hash(genesis), 4};
    auto sync = desk_rx.receive(seal(laptop.key, laptop.chains, epoch1, protocol::encode_sync(note),
                                     wire::EnvelopeType::sync));
    ASSERT_TRUE(sync.accepted) << sync.reason;
    ASSERT_TRUE(sync.sync);
    EXPECT_EQ(sync.sync->reason, protocol::SyncReason::first_of_epoch);
    EXPECT_EQ(sync.missing_in_previous, 1u) << "the tail, position 3 (position 2 reported 1 already)";
    EXPECT_EQ(sync.previous_front, 3u);
    EXPECT_TRUE(sync.text.empty());

    // Position 1 comes late after all: still opens (its key was kept), and is one fewer.
    ASSERT_TRUE(desk_rx.receive(sent[1]).accepted);
    EXPECT_EQ(desk.chains.skipped_count(wire::record_hash(genesis), laptop.key.public_key), 0u);
}

TEST_F(DeviceReceiverTest, AnEpochLeftBehindIsForgottenAndItsEnvelopesAreStale) {
    // Laptop sends three in the genesis; desk reads one, and the relay still holds
    // two that desk never read: their keys wait in desk's state (the front, a skipped key).
    std::vector<Bytes> sent;
    for (int i = 0; i < 3; ++i) sent.push_back(from_laptop("m" + std::to_string(i)));
    ASSERT_TRUE(desk_rx.receive(sent[1]).accepted);
    const auto hash = wire::record_hash(genesis);
    ASSERT_EQ(desk.chains.skipped_count(hash, laptop.key.public_key), 1u);

    // The stream moved two epochs on: everything of the genesis goes.
    EXPECT_EQ(desk.chains.forget(hash), 3u) << "desk's sender chain, laptop's receiver chain, one skipped key";
    desk_rx.forget_epoch(hash);
    for (auto kind : {DeviceSecretKind::sender_chain, DeviceSecretKind::receiver_chain, DeviceSecretKind::skipped_key})
        EXPECT_TRUE(desk.store->device_secrets_named(room, device_secret_name(kind, hash)).empty());
    auto late = desk_rx.receive(sent[2]);
    EXPECT_FALSE(late.accepted) << "a key of an epoch left behind stayed";
    EXPECT_TRUE(late.stale);
    EXPECT_NE(late.reason.find("stale epoch 0"), std::string::npos) << late.reason;
    EXPECT_FALSE(desk.chains.sender_next(hash));
}

TEST_F(DeviceReceiverTest, AKeyUpdateCarriesTheSendingDevicesEntryOnly) {
    const auto entry = laptop.epochs.new_update_key();
    auto d = desk_rx.receive(seal(laptop.key, laptop.chains, genesis,
                                  text_of(wire::encode_update_key_entry(entry)), wire::EnvelopeType::key_update));
    ASSERT_TRUE(d.accepted) << d.reason;
    ASSERT_TRUE(d.key_update);
    EXPECT_EQ(d.key_update->counter, entry.counter);
    EXPECT_EQ(d.key_update->update_key, entry.update_key);

    // Laptop passing off desk's entry as its own.
    const auto desks = desk.epochs.new_update_key();
    d = desk_rx.receive(seal(laptop.key, laptop.chains, genesis, text_of(wire::encode_update_key_entry(desks)),
                             wire::EnvelopeType::key_update));
    EXPECT_FALSE(d.accepted);
    EXPECT_FALSE(d.key_update);

    // A joining key entry (counter 0, valid in any room) sent as a key-update.
    const auto joining = protocol::v2::sign_joining_key(laptop.key, protocol::v2::generate_update_key().public_key);
    d = desk_rx.receive(seal(laptop.key, laptop.chains, genesis, text_of(wire::encode_update_key_entry(joining)),
                             wire::EnvelopeType::key_update));
    EXPECT_FALSE(d.accepted) << "a card's joining key came in as a rotation";
}

}  // namespace
}  // namespace parley::store
