// The upgrade of a room from version 1 to version 2 (docs/PROTOCOL.md §10.7):
// the first version-2 record after a version-1 chain, as members write it and
// as the relay takes it.
#include <gtest/gtest.h>

#include "record_v2_fixture.h"
#include "relay/chain_book.h"
#include "relay/memory_relay_store.h"

namespace parley::protocol::v2 {
namespace {

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
