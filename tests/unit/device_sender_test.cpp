// store/device_sender.h with store/device_receiver.h: what one device seals, the
// other opens, through real records and state files. A device's first envelope
// in an epoch is the sync that tells what it used in the epoch before, so a tail
// the relay withheld there shows; two processes of one device share the chain
// and send exactly one such sync.
#include <gtest/gtest.h>

#include "device_test_support.h"
#include "store/device_receiver.h"
#include "store/device_sender.h"

namespace parley::store {
namespace {

using namespace test_devices;

constexpr std::uint64_t at = 1'796'299'200'000;

class DeviceSenderTest : public TwoDeviceRoom {
protected:
    void SetUp() override {
        TwoDeviceRoom::SetUp();
        laptop_tx.set_epoch(genesis, std::nullopt);
        desk_rx.add_epoch(genesis);
    }
    // Each envelope through desk's receiver; all must be accepted.
    std::vector<DeviceDelivery> deliver(const std::vector<Bytes>& envelopes) {
        std::vector<DeviceDelivery> out;
        for (const auto& e : envelopes) {
            out.push_back(desk_rx.receive(e));
            EXPECT_TRUE(out.back().accepted) << out.back().reason;
        }
        return out;
    }
    const wire::SessionId session = crypto::random_array<wire::session_id_bytes>();
    DeviceSender laptop_tx{room, laptop.key, laptop.chains, session};
    DeviceReceiver desk_rx{room, desk.key.public_key, desk.chains};
};

TEST_F(DeviceSenderTest, TheFirstTextOfAnEpochGoesAfterItsSync) {
    const auto first = laptop_tx.seal("hello", at);
    ASSERT_EQ(first.size(), 2u);
    const auto got = deliver(first);
    ASSERT_TRUE(got[0].sync);
    EXPECT_EQ(got[0].sync->reason, protocol::SyncReason::first_of_epoch);
    EXPECT_EQ(got[0].sync->previous_positions, 0u) << "a genesis has no epoch before";
    EXPECT_EQ(got[1].text, "hello");
    EXPECT_EQ(got[1].header.counter, 1u);
    EXPECT_EQ(got[1].missing_before, 0u);

    const auto second = laptop_tx.seal("again", at + 1);
    ASSERT_EQ(second.size(), 1u) << "only the epoch's first gets a sync";
    EXPECT_EQ(deliver(second)[0].text, "again");
}

TEST_F(DeviceSenderTest, ATailWithheldInOneEpochShowsAtTheNextOnesFirstEnvelope) {
    // Laptop sends three texts; the relay gives desk all but the last, and
    // nothing else laptop sends in epoch 0 follows it.
    std::vector<Bytes> sent;
    for (const auto* text : {"one", "two", "three"})
        for (auto& e : laptop_tx.seal(text, at)) sent.push_back(std::move(e));
    ASSERT_EQ(sent.size(), 4u);
    sent.pop_back();
    for (const auto& d : deliver(sent)) EXPECT_EQ(d.missing_before, 0u) << "nothing shows yet";

    const auto epoch1 = next_epoch(genesis, laptop.epochs.new_update_key(), desk.epochs.new_update_key());
    ASSERT_TRUE(adopt(laptop, epoch1));
    ASSERT_TRUE(adopt(desk, epoch1));
    desk_rx.add_epoch(epoch1);
    laptop_tx.set_epoch(epoch1, wire::record_hash(genesis));
    const auto got = deliver(laptop_tx.seal("in epoch 1", at + 1000));
    ASSERT_EQ(got.size(), 2u);
    ASSERT_TRUE(got[0].sync);
    EXPECT_EQ(got[0].sync->previous_record, wire::record_hash(genesis));
    EXPECT_EQ(got[0].sync->previous_positions, 4u);
    EXPECT_EQ(got[0].missing_in_previous, 1u) << "\"three\" never came, and the sync says so";
    EXPECT_EQ(got[1].text, "in epoch 1");
}

TEST_F(DeviceSenderTest, APositionTheRelayRefusedAtTheEndOfAnEpochIsNotCountedAsWithheld) {
    // Laptop's last text of epoch 0 is refused (the epoch had moved on) and sealed
    // again in epoch 1: its position in epoch 0 was taken, never stored, and the
    // next first-of-epoch sync must not make desk warn about it.
    std::vector<Bytes> sent;
    for (const auto* text : {"one", "two"})
        for (auto& e : laptop_tx.seal(text, at)) sent.push_back(std::move(e));
    const auto refused = laptop_tx.seal("refused", at);
    ASSERT_EQ(refused.size(), 1u);
    (void)deliver(sent);
    const auto hash = wire::record_hash(genesis);
    laptop.chains.mark_unsent(hash, 3);
    EXPECT_EQ(laptop.chains.positions_sent(hash), 3u);

    const auto epoch1 = next_epoch(genesis, laptop.epochs.new_update_key(), desk.epochs.new_update_key());
    ASSERT_TRUE(adopt(laptop, epoch1));
    ASSERT_TRUE(adopt(desk, epoch1));
    desk_rx.add_epoch(epoch1);
    laptop_tx.set_epoch(epoch1, hash);
    const auto got = deliver(laptop_tx.seal("refused", at + 1000));
    ASSERT_TRUE(got[0].sync);
    EXPECT_EQ(got[0].sync->previous_positions, 3u);
    EXPECT_EQ(got[0].missing_in_previous, 0u) << "a refused position shown as withheld";
    // Marked in the middle (a later position went out), it stays counted: desk saw the hole.
    laptop.chains.mark_unsent(hash, 1);
    EXPECT_EQ(laptop.chains.positions_sent(hash), 3u);
}

TEST_F(DeviceSenderTest, TwoProcessesOfADeviceShareItsChainAndSendOneFirstSync) {
    StateStore other_store(laptop.file);
    DeviceChains other_chains(other_store, laptop.cipher);
    DeviceSender other(room, laptop.key, other_chains, crypto::random_array<wire::session_id_bytes>());
    other.set_epoch(genesis, std::nullopt);

    auto a = laptop_tx.seal("from chat", at);
    auto b = other.seal("from send", at);
    auto c = laptop_tx.seal("from chat again", at);
    ASSERT_EQ(a.size() + b.size() + c.size(), 4u) << "one first-of-epoch sync between them";
    std::vector<Bytes> all;
    for (auto* batch : {&a, &b, &c})
        for (auto& e : *batch) all.push_back(std::move(e));
    int syncs = 0;
    std::uint64_t missing = 0;
    for (const auto& d : deliver(all)) {
        syncs += d.sync.has_value();
        missing += d.missing_before;
    }
    EXPECT_EQ(syncs, 1);
    EXPECT_EQ(missing, 0u) << "positions 0 to 3, each once";
}

TEST_F(DeviceSenderTest, AKeyUpdateCarriesTheNewEntry) {
    const auto entry = laptop.epochs.new_update_key();
    const auto got = deliver(laptop_tx.seal_key_update(entry, at));
    ASSERT_EQ(got.size(), 2u);
    ASSERT_TRUE(got[1].key_update);
    EXPECT_EQ(got[1].key_update->counter, entry.counter);
    EXPECT_EQ(got[1].key_update->update_key, entry.update_key);
    const auto leaving = deliver(laptop_tx.seal_sync(protocol::SyncReason::leaving, at));
    ASSERT_EQ(leaving.size(), 1u);
    EXPECT_EQ(leaving[0].sync->reason, protocol::SyncReason::leaving);
}

TEST_F(DeviceSenderTest, WithoutAChainInTheEpochNothingIsSealed) {
    DeviceSender nowhere(room, desk.key, desk.chains, session);
    EXPECT_THROW((void)nowhere.seal("x", at), StoreError) << "no epoch set";
    const auto epoch1 = next_epoch(genesis, laptop.epochs.new_update_key(), desk.epochs.new_update_key());
    nowhere.set_epoch(epoch1, wire::record_hash(genesis));  // desk has not adopted epoch 1
    EXPECT_THROW((void)nowhere.seal("x", at), StoreError);
}

}  // namespace
}  // namespace parley::store
