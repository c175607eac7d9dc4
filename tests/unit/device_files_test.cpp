// protocol/device_files.h: a device's key and certificate files in the state
// folder (docs/PROTOCOL.md §10.2, §10.5). Each test is an attack or a mistake a
// user can make with the files, refused with a message naming the file.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <functional>
#include <iterator>

#include "protocol/device_files.h"
#include "test_support.h"

namespace parley::protocol::v2 {
namespace {

namespace fs = std::filesystem;
using crypto::KeyFileError;
using test::TempDir;

constexpr std::uint64_t created = 1796299200000;

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void overwrite(const fs::path& p, std::string_view text) {
    fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
}

mode_t mode_of(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return 0;
    return st.st_mode & 0777;
}

std::string message_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const KeyFileError& e) {
        return e.what();
    }
    return "";
}

TEST(DeviceFiles, AddWritesAKeyAndACertificateThatLoadBack) {
    TempDir dir;
    const auto alice = test::new_identity();
    const auto made = add_device(dir.path(), alice, "laptop", created);
    const auto files = device_files(dir.path(), alice.public_key);
    EXPECT_EQ(mode_of(files.key), 0600u);
    EXPECT_EQ(mode_of(files.certificate), 0600u);
    EXPECT_NE(made.key.public_key, alice.public_key);
    EXPECT_EQ(made.certificate.identity, alice.public_key);
    EXPECT_EQ(made.certificate.device, made.key.public_key);
    EXPECT_EQ(made.certificate.name, "laptop");
    EXPECT_EQ(made.certificate.created_at_ms, created);
    EXPECT_TRUE(verify_device_certificate(made.certificate));

    const auto loaded = load_device(dir.path(), alice.public_key);
    ASSERT_TRUE(loaded);
    EXPECT_EQ(loaded->certificate, made.certificate);
    EXPECT_EQ(loaded->key.public_key, made.key.public_key);
    EXPECT_TRUE(loaded->key.secret.equals(made.key.secret));
    EXPECT_NE(slurp(files.certificate).find("-----BEGIN PARLEY DEVICE CERTIFICATE-----\n"), std::string::npos);
}

TEST(DeviceFiles, NoFilesIsNoDevice) {
    TempDir dir;
    EXPECT_FALSE(load_device(dir.path(), test::new_identity().public_key));
}

TEST(DeviceFiles, MembersSharingAStateFolderKeepTheirDevicesApart) {
    TempDir dir;
    const auto alice = test::new_identity(), bob = test::new_identity();
    const auto a = add_device(dir.path(), alice, "laptop", created);
    const auto b = add_device(dir.path(), bob, "laptop", created);
    EXPECT_NE(device_files(dir.path(), alice.public_key).key, device_files(dir.path(), bob.public_key).key);
    EXPECT_EQ(load_device(dir.path(), alice.public_key)->key.public_key, a.key.public_key);
    EXPECT_EQ(load_device(dir.path(), bob.public_key)->key.public_key, b.key.public_key);
}

TEST(DeviceFiles, ASecondAddIsRefusedAndTheFirstDeviceStays) {
    TempDir dir;
    const auto alice = test::new_identity();
    const auto first = add_device(dir.path(), alice, "laptop", created);
    const auto said = message_of([&] { (void)add_device(dir.path(), alice, "phone", created); });
    EXPECT_NE(said.find("holds a device of this member already"), std::string::npos) << said;
    const auto loaded = load_device(dir.path(), alice.public_key);
    ASSERT_TRUE(loaded);
    EXPECT_EQ(loaded->certificate, first.certificate);
}

TEST(DeviceFiles, HalfADeviceIsRefusedOnLoadAndOnAdd) {
    TempDir dir;
    const auto alice = test::new_identity();
    (void)add_device(dir.path(), alice, "laptop", created);
    const auto files = device_files(dir.path(), alice.public_key);
    const auto certificate = slurp(files.certificate);
    fs::remove(files.certificate);
    auto said = message_of([&] { (void)load_device(dir.path(), alice.public_key); });
    EXPECT_NE(said.find("has no certificate beside it"), std::string::npos) << said;
    said = message_of([&] { (void)add_device(dir.path(), alice, "laptop", created); });
    EXPECT_NE(said.find("already"), std::string::npos) << said;

    fs::remove(files.key);
    std::ofstream(files.certificate) << certificate;
    said = message_of([&] { (void)load_device(dir.path(), alice.public_key); });
    EXPECT_NE(said.find("has no key beside it"), std::string::npos) << said;
}

TEST(DeviceFiles, AKeyFileOthersCanReadIsRefused) {
    TempDir dir;
    const auto alice = test::new_identity();
    (void)add_device(dir.path(), alice, "laptop", created);
    fs::permissions(device_files(dir.path(), alice.public_key).key, fs::perms::group_read, fs::perm_options::add);
    const auto said = message_of([&] { (void)load_device(dir.path(), alice.public_key); });
    EXPECT_NE(said.find("readable by other users"), std::string::npos) << said;
}

TEST(DeviceFiles, ACertificateOfAnotherMembersDeviceIsRefused) {
    // Mallory copies her own device's certificate (and key) into alice's files:
    // alice's client must not act with a device her key never certified.
    TempDir dir, other;
    const auto alice = test::new_identity(), mallory = test::new_identity();
    (void)add_device(dir.path(), alice, "laptop", created);
    (void)add_device(other.path(), mallory, "laptop", created);
    const auto mine = device_files(dir.path(), alice.public_key);
    const auto hers = device_files(other.path(), mallory.public_key);
    overwrite(mine.certificate, slurp(hers.certificate));
    overwrite(mine.key, slurp(hers.key));
    const auto said = message_of([&] { (void)load_device(dir.path(), alice.public_key); });
    EXPECT_NE(said.find("certifies a device of another member"), std::string::npos) << said;
}

TEST(DeviceFiles, ACertificateForAnotherKeyIsRefused) {
    TempDir dir, other;
    const auto alice = test::new_identity();
    (void)add_device(dir.path(), alice, "laptop", created);
    (void)add_device(other.path(), alice, "phone", created);
    const auto files = device_files(dir.path(), alice.public_key);
    overwrite(files.certificate, slurp(device_files(other.path(), alice.public_key).certificate));
    const auto said = message_of([&] { (void)load_device(dir.path(), alice.public_key); });
    EXPECT_NE(said.find("certifies another key than"), std::string::npos) << said;
}

TEST(DeviceFiles, ACertificateChangedAfterSigningIsRefused) {
    TempDir dir;
    const auto alice = test::new_identity();
    const auto made = add_device(dir.path(), alice, "laptop", created);
    auto renamed = made.certificate;
    renamed.name = "desk";  // the signature is still the one for "laptop"
    overwrite(device_files(dir.path(), alice.public_key).certificate, certificate_file_text(renamed));
    const auto said = message_of([&] { (void)load_device(dir.path(), alice.public_key); });
    EXPECT_NE(said.find("bad signature"), std::string::npos) << said;
}

TEST(DeviceFiles, BadNamesAreRefusedBeforeAnythingIsWritten) {
    TempDir dir;
    const auto alice = test::new_identity();
    for (const std::string& name : std::vector<std::string>{"", "two words", std::string(33, 'n'), "caf\xc3\xa9", "../up"}) {
        EXPECT_THROW((void)add_device(dir.path(), alice, name, created), std::invalid_argument) << name;
    }
    EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(DeviceFiles, CertificateFileTextIsExactlyOneBlockOfItsType) {
    const auto alice = test::new_identity();
    const auto certificate = certify_device(alice, test::new_identity().public_key, "laptop", created);
    const auto text = certificate_file_text(certificate);
    EXPECT_EQ(parse_certificate_file(text, "f"), certificate);
    EXPECT_EQ(parse_certificate_file("\n" + text + "\n\n", "f"), certificate);  // blank lines around it

    auto refused = [](const std::string& input, const std::string& why) {
        const auto said = message_of([&] { (void)parse_certificate_file(input, "f"); });
        EXPECT_NE(said.find(why), std::string::npos) << "said: '" << said << "' for:\n" << input;
    };
    refused("", "is not a PEM file");
    refused("laptop\n", "is not a PEM file");
    refused(crypto::public_key_pem(alice.public_key), "holds a PUBLIC KEY, not a PARLEY DEVICE CERTIFICATE");
    refused("note\n" + text, "has text before");
    // A BEGIN line PEM_read_bio cannot read is skipped by it, so it hid text before the block.
    refused("-----BEGIN NOTE----- not a block\n" + text, "has text before");
    refused("  -----BEGIN X-----\n" + text, "has text before");
    refused("-----BEGIN \x1b[31mRED\x1b[0m-----\nAAAA\n-----END \x1b[31mRED\x1b[0m-----\n", "holds a ?[31mRED?[0m");
    refused(text + text, "has more after");
    refused(text + "trailing\n", "has more after");
    auto with_header = text;
    with_header.insert(with_header.find('\n') + 1, "Proc-Type: 4,ENCRYPTED\n\n");
    refused(with_header, "PEM headers");
    const Bytes short_bytes{1, 2, 3};
    refused(crypto::pem_block_encode(device_certificate_pem_type, short_bytes), "does not hold a device certificate");
    auto longer = encode_device_certificate(certificate);
    longer.push_back(0);
    refused(crypto::pem_block_encode(device_certificate_pem_type, longer), "does not hold a device certificate");
    refused(std::string(70000, '\n') + text, "too large");
}

}  // namespace
}  // namespace parley::protocol::v2

namespace parley::protocol::v2 {
namespace {

// §10.5's cards: what a member hands out so a record can bring the device into a room.
class DeviceCards : public ::testing::Test {
protected:
    TempDir dir;
    const crypto::Identity alice = test::new_identity();
    Device laptop = add_device(dir.path(), alice, "laptop", created);
    DeviceFiles files = device_files(dir.path(), alice.public_key);
};

TEST_F(DeviceCards, AddMakesAJoiningKeyAndACardNamingIt) {
    EXPECT_EQ(mode_of(files.joining), 0600u);
    EXPECT_EQ(mode_of(files.card), 0644u) << "a card is public, as NAME.pem is";
    const auto card = load_card_file(files.card);
    EXPECT_EQ(card.certificate, laptop.certificate);
    EXPECT_EQ(card.joining.device, laptop.key.public_key);
    EXPECT_EQ(card.joining.counter, 0u);
    EXPECT_TRUE(verify_update_key_entry(crypto::random_array<wire::hash_bytes>(), card.joining))
        << "a joining key verifies in any room";
    const auto joining = load_joining_key(dir.path(), laptop);
    UpdateKey public_key{};
    crypto_scalarmult_base(public_key.data(), joining.data());
    EXPECT_EQ(public_key, card.joining.update_key);
    EXPECT_EQ(make_card(dir.path(), laptop, false), card) << "asking again gives the same card";
}

TEST_F(DeviceCards, ANewCardReplacesTheJoiningKeyAndForgetsTheOld) {
    const auto old_card = load_card_file(files.card);
    const auto old_private = slurp(files.joining);
    const auto fresh = make_card(dir.path(), laptop, true);
    EXPECT_NE(fresh.joining.update_key, old_card.joining.update_key);
    EXPECT_EQ(load_card_file(files.card), fresh);
    EXPECT_NE(slurp(files.joining), old_private);
    (void)load_joining_key(dir.path(), laptop);  // the new pair matches
}

TEST_F(DeviceCards, ADeviceMadeBeforeCardsGetsOneOnAsking) {
    fs::remove(files.card);
    fs::remove(files.joining);
    const auto card = make_card(dir.path(), laptop, false);
    EXPECT_TRUE(verify_device_card(card));
    EXPECT_TRUE(fs::exists(files.joining));
    // Half of one (a card without its key, or the other way) is an error naming
    // the missing file: members may hold the card, and a new joining key behind
    // their backs would seal their records to nothing. --new makes it anew.
    fs::remove(files.joining);
    try {
        (void)make_card(dir.path(), laptop, false);
        ADD_FAILURE() << "half a card was made anew without asking";
    } catch (const crypto::KeyFileError& e) {
        EXPECT_NE(std::string(e.what()).find(files.joining.string()), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(files.joining));
    EXPECT_NE(make_card(dir.path(), laptop, true).joining.update_key, card.joining.update_key);
}

TEST_F(DeviceCards, ForgedOrSwappedCardsAreRefusedByName) {
    const auto card = load_card_file(files.card);
    // Another device's joining entry on laptop's certificate: its signature is by the other device.
    const auto mallory_device = test::new_identity();
    DeviceCard swapped = card;
    swapped.joining = sign_joining_key(mallory_device, generate_update_key().public_key);
    EXPECT_FALSE(verify_device_card(swapped));
    // An entry bound to a room (counter 1) is no joining key.
    DeviceCard bound = card;
    bound.joining = sign_update_key(laptop.key, crypto::random_array<wire::hash_bytes>(), card.joining.update_key, 1);
    EXPECT_FALSE(verify_device_card(bound));
    // Counter 0 signed for a room rather than for any room.
    DeviceCard room_zero = card;
    room_zero.joining =
        sign_update_key(laptop.key, crypto::random_array<wire::hash_bytes>(), card.joining.update_key, 0);
    EXPECT_FALSE(verify_device_card(room_zero));
    for (const auto* bad : {&swapped, &bound, &room_zero}) {
        const auto said = message_of([&] { (void)parse_card_file(card_file_text(*bad), "card f"); });
        EXPECT_NE(said.find("card f has a bad signature"), std::string::npos) << said;
    }
    auto bytes = encode_device_card(card);
    bytes.pop_back();
    EXPECT_FALSE(decode_device_card(bytes));
    EXPECT_FALSE(decode_device_card(ByteView(bytes).first(update_key_entry_bytes)));
    const auto said = message_of([&] { (void)parse_card_file(certificate_file_text(card.certificate), "card f"); });
    EXPECT_NE(said.find("not a PARLEY DEVICE CARD"), std::string::npos) << said;
}

TEST_F(DeviceCards, AJoiningKeyOthersCanReadOrThatTheCardDoesNotNameIsRefused) {
    fs::permissions(files.joining, fs::perms::group_read, fs::perm_options::add);
    auto said = message_of([&] { (void)load_joining_key(dir.path(), laptop); });
    EXPECT_NE(said.find("readable by other users"), std::string::npos) << said;
    fs::permissions(files.joining, fs::perms::group_read, fs::perm_options::remove);
    // The card replaced by another of laptop's cards (an older one, say): the key no longer matches.
    const auto other = DeviceCard{laptop.certificate, sign_joining_key(laptop.key, generate_update_key().public_key)};
    overwrite(files.card, card_file_text(other));
    said = message_of([&] { (void)load_joining_key(dir.path(), laptop); });
    EXPECT_NE(said.find("is not the key"), std::string::npos) << said;
}

}  // namespace
}  // namespace parley::protocol::v2
