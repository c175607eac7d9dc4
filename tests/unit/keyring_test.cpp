// protocol/keyring.h: the public_keys/ folder.
#include <gtest/gtest.h>

#include <fstream>

#include "protocol/device_files.h"
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
    std::vector<Member> members{{"a", a.public_key, crypto::key_id(a.public_key), {}},
                                {"b", a.public_key, crypto::key_id(a.public_key), {}}};
    EXPECT_THROW((void)Keyring::from_members(members), crypto::KeyFileError);
}

}  // namespace
}  // namespace parley::protocol

namespace parley::protocol {
namespace {

// NAME.DEVICE.card files (docs/PROTOCOL.md §10.5) beside the keys.
class KeyringCards : public KeyringTest {
protected:
    v2::DeviceCard card_of(const crypto::Identity& member, const std::string& device_name) {
        devices_.push_back(test::new_identity());
        return {v2::certify_device(member, devices_.back().public_key, device_name, 1'796'299'200'000),
                v2::sign_joining_key(devices_.back(), v2::generate_update_key().public_key)};
    }
    void put(const std::string& file, const v2::DeviceCard& card) {
        std::ofstream(dir_ / file, std::ios::binary) << v2::card_file_text(card);
    }
    std::vector<crypto::Identity> devices_;
};

TEST_F(KeyringCards, CardsLoadAsTheirMembersDevices) {
    const auto laptop = card_of(trio_.alice, "laptop"), phone = card_of(trio_.alice, "phone.2");
    const auto desk = card_of(trio_.bob, "desk");
    put("alice.laptop.card", laptop);
    put("alice.phone.2.card", phone);
    put("bob.desk.card", desk);
    const auto ring = Keyring::load(dir_.path());
    EXPECT_EQ(ring.by_name("alice")->cards, (std::vector<v2::DeviceCard>{laptop, phone}));
    EXPECT_EQ(ring.by_name("bob")->cards, std::vector<v2::DeviceCard>{desk});
    EXPECT_TRUE(ring.by_name("charlie")->cards.empty());
}

TEST_F(KeyringCards, ABadOrMisnamedOrOrphanCardIsAnErrorNamingTheFile) {
    // Mallory's card dressed as alice's.
    const auto mallory = test::new_identity();
    put("alice.laptop.card", card_of(mallory, "laptop"));
    auto said = load_error(dir_.path());
    EXPECT_NE(said.find("alice.laptop.card is certified by a key no NAME.pem"), std::string::npos) << said;
    // Bob's card under alice's name, or another device's name.
    put("alice.laptop.card", card_of(trio_.bob, "laptop"));
    said = load_error(dir_.path());
    EXPECT_NE(said.find("is bob's device laptop"), std::string::npos) << said;
    EXPECT_NE(said.find("bob.laptop.card"), std::string::npos) << said;
    put("alice.laptop.card", card_of(trio_.alice, "phone"));
    EXPECT_NE(load_error(dir_.path()).find("alice.phone.card"), std::string::npos);
    // A card whose joining entry was swapped for another device's.
    auto swapped = card_of(trio_.alice, "laptop");
    swapped.joining = card_of(trio_.alice, "other").joining;
    put("alice.laptop.card", swapped);
    EXPECT_NE(load_error(dir_.path()).find("bad signature"), std::string::npos);
    // One device's card twice under two names is impossible (the name is in the
    // certificate), but one device certified twice is not.
    const auto one = card_of(trio_.alice, "laptop");
    put("alice.laptop.card", one);
    auto again = one;
    again.certificate = v2::certify_device(trio_.alice, one.certificate.device, "desk", 1);
    again.joining = v2::sign_joining_key(devices_.back(), v2::generate_update_key().public_key);
    put("alice.desk.card", again);
    EXPECT_NE(load_error(dir_.path()).find("repeats a device"), std::string::npos) << load_error(dir_.path());
    std::ofstream(dir_ / "alice.desk.card") << "not a card";
    EXPECT_NE(load_error(dir_.path()).find("alice.desk.card"), std::string::npos);
}

}  // namespace
}  // namespace parley::protocol
