// protocol/keyring.h: the public_keys/ folder.
#include <gtest/gtest.h>

#include <fstream>

#include "protocol/keyring.h"
#include "test_support.h"

namespace parley::protocol {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

void write_public(const fs::path& p, const PublicKey& key) {
    std::ofstream out(p, std::ios::binary);
    out << crypto::public_key_pem(key);
}

std::string load_error(const fs::path& dir) {
    try {
        (void)Keyring::load(dir);
    } catch (const crypto::KeyFileError& e) {
        return e.what();
    }
    return "";
}

class KeyringTest : public ::testing::Test {
protected:
    void SetUp() override {
        write_public(dir_ / "alice.pem", trio_.alice.public_key);
        write_public(dir_ / "bob.pem", trio_.bob.public_key);
        write_public(dir_ / "charlie.pem", trio_.charlie.public_key);
    }

    TempDir dir_;
    test::Trio trio_;
};

TEST_F(KeyringTest, LoadsEveryPemInTheFolder) {
    auto ring = Keyring::load(dir_.path());
    ASSERT_EQ(ring.members().size(), 3u);
    EXPECT_EQ(ring.members()[0].name, "alice");
    EXPECT_EQ(ring.members()[1].name, "bob");
    EXPECT_EQ(ring.members()[2].name, "charlie");
}

TEST_F(KeyringTest, IgnoresFilesThatAreNotPem) {
    std::ofstream(dir_ / "README.txt") << "not a key";
    EXPECT_EQ(Keyring::load(dir_.path()).members().size(), 3u);
}

TEST_F(KeyringTest, FindsMembersByNameKeyAndId) {
    auto ring = Keyring::load(dir_.path());
    const auto* bob = ring.by_name("bob");
    ASSERT_NE(bob, nullptr);
    EXPECT_EQ(bob->key, trio_.bob.public_key);
    EXPECT_EQ(bob->id, crypto::key_id(trio_.bob.public_key));
    EXPECT_EQ(ring.by_key(trio_.charlie.public_key), ring.by_name("charlie"));
    EXPECT_EQ(ring.by_id(crypto::key_id(trio_.alice.public_key)), ring.by_name("alice"));

    auto dave = test::new_identity();
    EXPECT_EQ(ring.by_name("dave"), nullptr);
    EXPECT_EQ(ring.by_key(dave.public_key), nullptr);
    EXPECT_EQ(ring.by_id(crypto::key_id(dave.public_key)), nullptr);
}

TEST_F(KeyringTest, DisplayNameIsTheFileNameOrAFingerprint) {
    auto ring = Keyring::load(dir_.path());
    EXPECT_EQ(ring.display_name(trio_.bob.public_key), "bob");
    auto dave = test::new_identity();
    auto name = ring.display_name(dave.public_key);
    EXPECT_NE(name.find(crypto::fingerprint(dave.public_key)), std::string::npos) << name;
}

TEST_F(KeyringTest, SortedKeysAreSortedAscending) {
    auto ring = Keyring::load(dir_.path());
    auto keys = ring.sorted_keys();
    EXPECT_EQ(keys, trio_.roster());
    EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
}

TEST_F(KeyringTest, RefusesOneKeyUnderTwoNames) {
    write_public(dir_ / "bobby.pem", trio_.bob.public_key);
    auto msg = load_error(dir_.path());
    EXPECT_NE(msg.find("duplicate"), std::string::npos) << msg;
    EXPECT_NE(msg.find("bob"), std::string::npos) << msg;
}

TEST_F(KeyringTest, RefusesABadKeyInTheFolder) {
    std::ofstream(dir_ / "mallory.pem") << "garbage";
    EXPECT_NE(load_error(dir_.path()).find("mallory"), std::string::npos);
}

TEST(Keyring, MissingFolderIsAnErrorThatSaysSo) {
    TempDir dir;
    auto msg = load_error(dir / "public_keys");
    EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
}

TEST(Keyring, EmptyFolderIsAnError) {
    TempDir dir;
    auto msg = load_error(dir.path());
    EXPECT_FALSE(msg.empty());
    EXPECT_NE(msg.find(dir.path().string()), std::string::npos) << msg;
}

TEST(Keyring, FromMembersRefusesDuplicates) {
    auto a = test::new_identity();
    std::vector<Member> members{{"a", a.public_key, crypto::key_id(a.public_key)},
                                {"b", a.public_key, crypto::key_id(a.public_key)}};
    EXPECT_THROW((void)Keyring::from_members(members), crypto::KeyFileError);
}

}  // namespace
}  // namespace parley::protocol
