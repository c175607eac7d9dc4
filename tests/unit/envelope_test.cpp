// wire/envelope.h: envelope layout and exact decoding.
#include <gtest/gtest.h>

#include "test_support.h"
#include "wire/envelope.h"

namespace parley::wire {
namespace {

template <std::size_t N>
Array<N> filled(std::uint8_t start) {
    Array<N> a{};
    for (std::size_t i = 0; i < N; ++i) a[i] = static_cast<std::uint8_t>(start + i);
    return a;
}

Envelope sample(std::size_t ciphertext_bytes = padding_block_bytes + aead_tag_bytes) {
    Envelope e;
    e.header.room = filled<32>(1);
    e.header.epoch = 0x0102030405060708ull;
    e.header.record_hash = filled<32>(2);
    e.header.sender = filled<32>(3);
    e.header.session = filled<16>(4);
    e.header.counter = 99;
    e.header.timestamp_ms = 1'700'000'000'123;
    e.header.nonce = filled<24>(5);
    e.ciphertext.assign(ciphertext_bytes, 0x6c);
    e.signature = filled<64>(6);
    return e;
}

TEST(Envelope, RoundTrips) {
    auto e = sample(2 * padding_block_bytes + aead_tag_bytes);
    auto bytes = encode_envelope(e);
    auto decoded = decode_envelope(bytes);
    ASSERT_TRUE(decoded.envelope) << to_string(decoded.error);
    const auto& h = decoded.envelope->header;
    EXPECT_EQ(h.version, protocol_version);
    EXPECT_EQ(h.type, EnvelopeType::text);
    EXPECT_EQ(h.room, e.header.room);
    EXPECT_EQ(h.epoch, e.header.epoch);
    EXPECT_EQ(h.record_hash, e.header.record_hash);
    EXPECT_EQ(h.sender, e.header.sender);
    EXPECT_EQ(h.session, e.header.session);
    EXPECT_EQ(h.counter, e.header.counter);
    EXPECT_EQ(h.timestamp_ms, e.header.timestamp_ms);
    EXPECT_EQ(h.nonce, e.header.nonce);
    EXPECT_EQ(decoded.envelope->ciphertext, e.ciphertext);
    EXPECT_EQ(decoded.envelope->signature, e.signature);
    EXPECT_EQ(encode_envelope(*decoded.envelope), bytes);
}

TEST(Envelope, HeaderHasItsDocumentedSize) {
    auto e = sample();
    EXPECT_EQ(encode_header(e.header).size(), envelope_header_bytes);
    EXPECT_EQ(encode_envelope(e).size(), envelope_header_bytes + 4 + e.ciphertext.size() + signature_bytes);
}

TEST(Envelope, RejectsAnUnknownVersion) {
    auto bytes = encode_envelope(sample());
    for (int v : {0, 3, 0xff}) {  // 1 and 2 are known (docs/PROTOCOL.md §5, §10.4)
        bytes[0] = static_cast<std::uint8_t>(v);
        auto decoded = decode_envelope(bytes);
        EXPECT_FALSE(decoded.envelope);
        EXPECT_EQ(decoded.error, EnvelopeError::bad_version);
    }
}

TEST(Envelope, RejectsAnUnknownType) {
    auto bytes = encode_envelope(sample());
    for (int t : {0, 3, 0xff}) {
        bytes[1] = static_cast<std::uint8_t>(t);
        auto decoded = decode_envelope(bytes);
        EXPECT_FALSE(decoded.envelope);
        EXPECT_EQ(decoded.error, EnvelopeError::bad_type);
    }
}

// Type 3 (key-update) exists in version 2 only; version 2 knows no type 4.
TEST(Envelope, TypesAreVersionTheirs) {
    auto bytes = encode_envelope(sample());
    bytes[1] = 3;
    EXPECT_EQ(decode_envelope(bytes).error, EnvelopeError::bad_type);
    bytes[0] = 2;
    auto decoded = decode_envelope(bytes);
    ASSERT_TRUE(decoded.envelope);
    EXPECT_EQ(decoded.envelope->header.version, 2);
    EXPECT_EQ(decoded.envelope->header.type, EnvelopeType::key_update);
    EXPECT_EQ(encode_envelope(*decoded.envelope), bytes);
    bytes[1] = 4;
    EXPECT_EQ(decode_envelope(bytes).error, EnvelopeError::bad_type);
}

// The two versions sign under different labels: an envelope cannot be moved
// from one to the other by changing its version byte.
TEST(Envelope, EachVersionSignsUnderItsOwnLabel) {
    auto e = sample();
    const auto v1 = envelope_signed_message(e);
    e.header.version = 2;
    const auto v2 = envelope_signed_message(e);
    const std::string_view l1 = "parley/v1/sig/envelope", l2 = "parley/v2/sig/envelope";
    EXPECT_TRUE(std::equal(l1.begin(), l1.end(), v1.begin()));
    EXPECT_TRUE(std::equal(l2.begin(), l2.end(), v2.begin()));
}

TEST(Envelope, DecodesASync) {
    auto env = sample();
    env.header.type = EnvelopeType::sync;
    auto decoded = decode_envelope(encode_envelope(env));
    ASSERT_TRUE(decoded.envelope);
    EXPECT_EQ(decoded.envelope->header.type, EnvelopeType::sync);
}

TEST(Envelope, RejectsCiphertextThatIsNotWholePaddingBlocksPlusTag) {
    for (std::size_t n : {std::size_t{0}, aead_tag_bytes, padding_block_bytes, padding_block_bytes + aead_tag_bytes - 1,
                          padding_block_bytes + aead_tag_bytes + 1, 2 * padding_block_bytes}) {
        auto decoded = decode_envelope(encode_envelope(sample(n)));
        EXPECT_FALSE(decoded.envelope) << "ciphertext bytes " << n;
        EXPECT_EQ(decoded.error, EnvelopeError::malformed);
    }
}

TEST(Envelope, RejectsEveryTruncationAndATrailingByte) {
    auto bytes = encode_envelope(sample());
    for (std::size_t n = 0; n < bytes.size(); ++n)
        EXPECT_FALSE(decode_envelope(ByteView(bytes).first(n)).envelope) << "prefix " << n;
    bytes.push_back(0);
    auto decoded = decode_envelope(bytes);
    EXPECT_FALSE(decoded.envelope);
    EXPECT_EQ(decoded.error, EnvelopeError::malformed);
}

TEST(Envelope, RejectsAnOversizedEnvelope) {
    const std::size_t blocks = max_envelope_bytes / padding_block_bytes + 1;
    auto decoded = decode_envelope(encode_envelope(sample(blocks * padding_block_bytes + aead_tag_bytes)));
    EXPECT_FALSE(decoded.envelope);
    EXPECT_EQ(decoded.error, EnvelopeError::malformed);
}

TEST(Envelope, SignedMessageStartsWithItsLabelAndCoversEveryHeaderField) {
    const auto base = sample();
    const auto msg = envelope_signed_message(base);
    ASSERT_GT(msg.size(), label::sig_envelope.size());
    EXPECT_EQ(std::string(msg.begin(), msg.begin() + static_cast<std::ptrdiff_t>(label::sig_envelope.size())),
              label::sig_envelope);

    std::vector<Envelope> changed(9, base);
    changed[0].header.room[0] ^= 1;
    changed[1].header.epoch ^= 1;
    changed[2].header.record_hash[0] ^= 1;
    changed[3].header.sender[0] ^= 1;
    changed[4].header.session[0] ^= 1;
    changed[5].header.counter ^= 1;
    changed[6].header.timestamp_ms ^= 1;
    changed[7].header.nonce[0] ^= 1;
    changed[8].ciphertext.back() ^= 1;  // the tag is part of the ciphertext
    for (std::size_t i = 0; i < changed.size(); ++i)
        EXPECT_NE(envelope_signed_message(changed[i]), msg) << "field " << i;
}

TEST(Envelope, RejectsFlippedSignatureBit) {
    auto alice = test::new_identity();
    auto e = sample();
    e.signature = crypto::sign(alice.secret, envelope_signed_message(e));
    ASSERT_TRUE(crypto::verify(alice.public_key, e.signature, envelope_signed_message(e)));
    for (std::size_t i = 0; i < signature_bytes; ++i) {
        for (int bit = 0; bit < 8; ++bit) {
            auto decoded = decode_envelope(test::flip_bit(encode_envelope(e), envelope_header_bytes + 4 +
                                                                                  e.ciphertext.size() + i,
                                                          bit));
            ASSERT_TRUE(decoded.envelope);
            EXPECT_FALSE(crypto::verify(alice.public_key, decoded.envelope->signature,
                                        envelope_signed_message(*decoded.envelope)))
                << "signature byte " << i << " bit " << bit;
        }
    }
}

}  // namespace
}  // namespace parley::wire
