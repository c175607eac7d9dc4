// protocol/key_schedule.h: Argon2id bounds and the epoch key schedule.
#include <gtest/gtest.h>

#include <optional>

#include "protocol/key_schedule.h"
#include "test_support.h"

namespace parley::protocol {
namespace {

// Argon2id is slow on purpose: every derivation this suite needs runs once.
class KeyScheduleTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        test::init_crypto();
        auto salt = test::test_salt();
        again_ = derive_room_secret(test::make_password(test::test_password), salt, wire::kdf_floor);
        other_password_ = derive_room_secret(test::make_password("correct horse battery stapler"), salt,
                                             wire::kdf_floor);
        salt[0] ^= 0x01;
        other_salt_ = derive_room_secret(test::make_password(test::test_password), salt, wire::kdf_floor);
    }
    static void TearDownTestSuite() {
        again_.reset();
        other_password_.reset();
        other_salt_.reset();
    }

    static EpochKeys keys_with(const SymmetricKey& room_secret) {
        return derive_epoch_keys(room_secret, room_, 3, previous_, epoch_secret_);
    }
    static bool same_keys(const EpochKeys& a, const EpochKeys& b) {
        return a.message_key.equals(b.message_key) && a.access_token.equals(b.access_token) &&
               a.token_hash == b.token_hash;
    }
    // Both the message key and the token differ (each input must move both).
    static void expect_all_differ(const EpochKeys& a, const EpochKeys& b, const char* what) {
        EXPECT_FALSE(a.message_key.equals(b.message_key)) << what;
        EXPECT_FALSE(a.access_token.equals(b.access_token)) << what;
        EXPECT_NE(a.token_hash, b.token_hash) << what;
    }

    static inline std::optional<SymmetricKey> again_, other_password_, other_salt_;
    static inline const wire::RoomId room_ = crypto::room_id("schedule");
    static inline const wire::Hash previous_ = wire::labelled_hash("test/previous", {});
    static inline const EpochSecret epoch_secret_ = test::random_epoch_secret();
};

TEST_F(KeyScheduleTest, RefusesKdfParametersBelowTheFloor) {
    auto pw = test::make_password(test::test_password);
    EXPECT_FALSE(derive_room_secret(pw, test::test_salt(), {2, 64 * 1024}));
    EXPECT_FALSE(derive_room_secret(pw, test::test_salt(), {3, 32 * 1024}));
    EXPECT_FALSE(derive_room_secret(pw, test::test_salt(), {3, 64 * 1024 - 1}));
    EXPECT_FALSE(derive_room_secret(pw, test::test_salt(), {0, 0}));
}

TEST_F(KeyScheduleTest, RefusesKdfParametersAboveTheCeiling) {
    auto pw = test::make_password(test::test_password);
    EXPECT_FALSE(derive_room_secret(pw, test::test_salt(), {11, 64 * 1024}));
    EXPECT_FALSE(derive_room_secret(pw, test::test_salt(), {3, 1024 * 1024 + 1}));
    EXPECT_FALSE(derive_room_secret(pw, test::test_salt(), {0xffffffffu, 0xffffffffu}));
}

TEST_F(KeyScheduleTest, AllowsExactlyTheRangeFromFloorToCeiling) {
    EXPECT_TRUE(kdf_params_allowed(wire::kdf_floor));
    EXPECT_TRUE(kdf_params_allowed(wire::kdf_ceiling));
    EXPECT_TRUE(kdf_params_allowed({10, 64 * 1024}));
    EXPECT_TRUE(kdf_params_allowed({3, 1024 * 1024}));
    EXPECT_FALSE(kdf_params_allowed({2, 64 * 1024}));
    EXPECT_FALSE(kdf_params_allowed({11, 64 * 1024}));
    EXPECT_FALSE(kdf_params_allowed({3, 64 * 1024 - 1}));
    EXPECT_FALSE(kdf_params_allowed({3, 1024 * 1024 + 1}));
}

TEST_F(KeyScheduleTest, SameInputsGiveTheSameKeys) {
    ASSERT_TRUE(again_);
    EXPECT_TRUE(again_->equals(test::shared_room_secret()));
    EXPECT_TRUE(same_keys(keys_with(*again_), keys_with(test::shared_room_secret())));
}

TEST_F(KeyScheduleTest, PasswordChangesTheKeys) {
    ASSERT_TRUE(other_password_);
    EXPECT_FALSE(other_password_->equals(test::shared_room_secret()));
    expect_all_differ(keys_with(*other_password_), keys_with(test::shared_room_secret()), "password");
}

TEST_F(KeyScheduleTest, SaltChangesTheKeys) {
    ASSERT_TRUE(other_salt_);
    EXPECT_FALSE(other_salt_->equals(test::shared_room_secret()));
    expect_all_differ(keys_with(*other_salt_), keys_with(test::shared_room_secret()), "salt");
}

TEST_F(KeyScheduleTest, RoomEpochPreviousAndEpochSecretEachChangeTheKeys) {
    const auto& rs = test::shared_room_secret();
    const auto base = derive_epoch_keys(rs, room_, 3, previous_, epoch_secret_);

    expect_all_differ(base, derive_epoch_keys(rs, crypto::room_id("other"), 3, previous_, epoch_secret_), "room");
    expect_all_differ(base, derive_epoch_keys(rs, room_, 4, previous_, epoch_secret_), "epoch");
    expect_all_differ(base, derive_epoch_keys(rs, room_, 3 + (std::uint64_t{1} << 32), previous_, epoch_secret_),
                      "epoch high bits");
    auto previous = previous_;
    previous[31] ^= 0x80;
    expect_all_differ(base, derive_epoch_keys(rs, room_, 3, previous, epoch_secret_), "previous");
    auto secret = test::random_epoch_secret();
    expect_all_differ(base, derive_epoch_keys(rs, room_, 3, previous_, secret), "epoch secret");
    EpochSecret one_bit;
    std::copy(epoch_secret_.data(), epoch_secret_.data() + one_bit.size(), one_bit.data());
    one_bit.data()[0] ^= 0x01;
    expect_all_differ(base, derive_epoch_keys(rs, room_, 3, previous_, one_bit), "one epoch secret bit");
}

TEST_F(KeyScheduleTest, MessageKeyDiffersFromTheToken) {
    auto keys = keys_with(test::shared_room_secret());
    auto token = token_bytes(keys);
    EXPECT_FALSE(std::equal(token.begin(), token.end(), keys.message_key.data()));
}

TEST_F(KeyScheduleTest, TokenHashIsTheHashOfTheToken) {
    auto keys = keys_with(test::shared_room_secret());
    EXPECT_EQ(keys.token_hash, wire::token_hash(token_bytes(keys)));
    auto token = token_bytes(keys);
    EXPECT_TRUE(std::equal(token.begin(), token.end(), keys.access_token.data()));
}

TEST_F(KeyScheduleTest, CommitmentChangesWithTheSecretAndItsContext) {
    const auto base = epoch_commitment(room_, 3, previous_, epoch_secret_);
    EXPECT_EQ(base, epoch_commitment(room_, 3, previous_, epoch_secret_));
    EXPECT_NE(base, epoch_commitment(room_, 3, previous_, test::random_epoch_secret()));
    EXPECT_NE(base, epoch_commitment(crypto::room_id("other"), 3, previous_, epoch_secret_));
    EXPECT_NE(base, epoch_commitment(room_, 4, previous_, epoch_secret_));
    EXPECT_NE(base, epoch_commitment(room_, 3, wire::Hash{}, epoch_secret_));
}

TEST_F(KeyScheduleTest, NothingPublicEqualsASecret) {
    auto keys = keys_with(test::shared_room_secret());
    auto commitment = epoch_commitment(room_, 3, previous_, epoch_secret_);
    auto token = token_bytes(keys);
    EXPECT_NE(commitment, keys.token_hash);
    EXPECT_FALSE(std::equal(commitment.begin(), commitment.end(), epoch_secret_.data()));
    EXPECT_FALSE(std::equal(commitment.begin(), commitment.end(), keys.message_key.data()));
    EXPECT_NE(wire::Hash(token), keys.token_hash);
}

}  // namespace
}  // namespace parley::protocol
