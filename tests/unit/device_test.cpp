// lib/protocol/device.h: version 2's device certificates (docs/PROTOCOL.md
// §10.5) and update key entries (§10.3), against their vectors
// (tests/vectors/v2.json) and for what they promise: only the identity key
// certifies a device, only the device key signs its update key, for one room;
// any changed byte is refused; the decoders take exactly one well-formed item.
#include "protocol/device.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace parley::protocol::v2 {
namespace {

template <std::size_t N>
Array<N> array_of(const std::string& hex) {
    Bytes b;
    EXPECT_TRUE(from_hex(hex, b));
    Array<N> a{};
    EXPECT_EQ(b.size(), N);
    std::copy_n(b.begin(), std::min(N, b.size()), a.begin());
    return a;
}

Bytes bytes_of(const std::string& hex) {
    Bytes b;
    EXPECT_TRUE(from_hex(hex, b));
    return b;
}

class DeviceTest : public ::testing::Test {
protected:
    void SetUp() override { crypto::init(); }
    crypto::Identity alice_ = crypto::generate_identity();
    crypto::Identity laptop_ = crypto::generate_identity();
    wire::RoomId room_ = crypto::room_id("devices");
};

// The vectors' certificate and entry decode, verify and say what their inputs
// say; made again from the inputs' public parts they are the same bytes
// (Ed25519 is deterministic, so the C++ signature must be the vector's).
TEST_F(DeviceTest, MatchesTheVersion2Vectors) {
    std::ifstream in(std::string(PARLEY_VECTORS_DIR) + "/v2.json");
    ASSERT_TRUE(in) << "cannot open tests/vectors/v2.json";
    const auto v = nlohmann::json::parse(in);
    const auto& i = v["inputs"];
    const auto& o = v["outputs"];
    const auto certificate = decode_device_certificate(bytes_of(o["device_certificate"]));
    ASSERT_TRUE(certificate);
    EXPECT_TRUE(verify_device_certificate(*certificate));
    EXPECT_EQ(to_hex(certificate->identity), i["identity_key"]);
    EXPECT_EQ(to_hex(certificate->device), i["device_key"]);
    EXPECT_EQ(certificate->name, i["device_name"]);
    EXPECT_EQ(certificate->created_at_ms, i["device_created_at_ms"].get<std::uint64_t>());
    EXPECT_EQ(to_hex(device_certificate_signed_part(*certificate)), o["device_certificate_signed_part"]);
    EXPECT_EQ(to_hex(encode_device_certificate(*certificate)), o["device_certificate"]);

    const auto room = array_of<wire::hash_bytes>(i["room_id"]);
    const auto entry = decode_update_key_entry(bytes_of(o["update_key_entry"]));
    ASSERT_TRUE(entry);
    EXPECT_TRUE(verify_update_key_entry(room, *entry));
    EXPECT_EQ(to_hex(entry->device), i["device_key"]);
    EXPECT_EQ(to_hex(entry->update_key), i["update_key"]);
    EXPECT_EQ(entry->counter, i["update_key_counter"].get<std::uint64_t>());
    EXPECT_EQ(to_hex(update_key_signed_part(room, *entry)), o["update_key_entry_signed_part"]);
}

TEST_F(DeviceTest, ACertificateRoundTripsAndVerifies) {
    const auto c = certify_device(alice_, laptop_.public_key, "laptop", 1796299200000);
    EXPECT_TRUE(verify_device_certificate(c));
    const auto bytes = encode_device_certificate(c);
    EXPECT_EQ(bytes.size(), 32u + 32 + 1 + 6 + 8 + 64);
    const auto back = decode_device_certificate(bytes);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, c);
}

// Every byte of a certificate is covered: a change anywhere but the name's
// length (which the decoder refuses first) fails the signature or the decode.
TEST_F(DeviceTest, AnyChangedByteOfACertificateIsRefused) {
    const auto bytes = encode_device_certificate(certify_device(alice_, laptop_.public_key, "phone", 42));
    for (std::size_t at = 0; at < bytes.size(); ++at) {
        auto changed = bytes;
        changed[at] ^= 0x01;
        const auto c = decode_device_certificate(changed);
        EXPECT_FALSE(c && verify_device_certificate(*c)) << "byte " << at << " changed and still accepted";
    }
}

// Someone else's identity key cannot certify a device as alice's: the
// signature is checked against the identity key the certificate names.
TEST_F(DeviceTest, OnlyTheNamedIdentityKeyCertifies) {
    const auto mallory = crypto::generate_identity();
    auto c = certify_device(mallory, laptop_.public_key, "laptop", 1);
    c.identity = alice_.public_key;
    EXPECT_FALSE(verify_device_certificate(c));
}

TEST_F(DeviceTest, DeviceNamesAreShortAndPlain) {
    EXPECT_TRUE(valid_device_name("a"));
    EXPECT_TRUE(valid_device_name("work-laptop_2.old"));
    EXPECT_TRUE(valid_device_name(std::string(32, 'x')));
    EXPECT_FALSE(valid_device_name(""));
    EXPECT_FALSE(valid_device_name(std::string(33, 'x')));
    EXPECT_FALSE(valid_device_name("my laptop"));
    EXPECT_FALSE(valid_device_name("laptop\n"));
    EXPECT_FALSE(valid_device_name("t\xc3\xa9l\xc3\xa9phone"));
    EXPECT_FALSE(valid_device_name("a/b"));
    EXPECT_THROW((void)certify_device(alice_, laptop_.public_key, "my laptop", 1), std::invalid_argument);
}

TEST_F(DeviceTest, TheCertificateDecoderTakesExactlyOneWellFormedCertificate) {
    const auto bytes = encode_device_certificate(certify_device(alice_, laptop_.public_key, "laptop", 7));
    auto longer = bytes;
    longer.push_back(0);
    EXPECT_FALSE(decode_device_certificate(longer)) << "a trailing byte";
    EXPECT_FALSE(decode_device_certificate(ByteView(bytes.data(), bytes.size() - 1))) << "a byte short";
    EXPECT_FALSE(decode_device_certificate({})) << "nothing";
    auto empty_name = bytes;
    empty_name[64] = 0;  // the name's length
    EXPECT_FALSE(decode_device_certificate(empty_name));
    auto bad_name = bytes;
    bad_name[65] = ' ';
    EXPECT_FALSE(decode_device_certificate(bad_name)) << "a space in the name";
}

// The update key pair is X25519 made on its own: its public half is the
// base-point multiple of its private half, and two pairs differ.
TEST_F(DeviceTest, AnUpdateKeyIsAnX25519PairOfItsOwn) {
    const auto a = generate_update_key();
    const auto b = generate_update_key();
    UpdateKey derived{};
    ASSERT_EQ(crypto_scalarmult_base(derived.data(), a.private_key.data()), 0);
    EXPECT_EQ(derived, a.public_key);
    EXPECT_NE(a.public_key, b.public_key);
    UpdateKey from_identity{};
    ASSERT_EQ(crypto_sign_ed25519_pk_to_curve25519(from_identity.data(), laptop_.public_key.data()), 0);
    EXPECT_NE(a.public_key, from_identity);
}

TEST_F(DeviceTest, AnUpdateKeyEntryIsBoundToItsDeviceRoomAndCounter) {
    const auto key = generate_update_key();
    const auto entry = sign_update_key(laptop_, room_, key.public_key, 3);
    EXPECT_TRUE(verify_update_key_entry(room_, entry));
    const auto bytes = encode_update_key_entry(entry);
    EXPECT_EQ(bytes.size(), update_key_entry_bytes);
    const auto back = decode_update_key_entry(bytes);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, entry);
    EXPECT_FALSE(verify_update_key_entry(crypto::room_id("another room"), entry)) << "replayed into another room";
    auto older = entry;
    older.counter = 2;
    EXPECT_FALSE(verify_update_key_entry(room_, older)) << "its counter changed";
    auto swapped = entry;
    swapped.update_key = generate_update_key().public_key;
    EXPECT_FALSE(verify_update_key_entry(room_, swapped)) << "another update key under its signature";
    auto other_device = entry;
    other_device.device = alice_.public_key;
    EXPECT_FALSE(verify_update_key_entry(room_, other_device)) << "claimed by another device";
    auto longer = bytes;
    longer.push_back(0);
    EXPECT_FALSE(decode_update_key_entry(longer));
    EXPECT_FALSE(decode_update_key_entry(ByteView(bytes.data(), bytes.size() - 1)));
}

}  // namespace
}  // namespace parley::protocol::v2
