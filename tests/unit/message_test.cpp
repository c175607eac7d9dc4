// protocol/message.h: sealing and opening envelopes.
#include <gtest/gtest.h>

#include "protocol/message.h"
#include "test_support.h"

namespace parley::protocol {
namespace {

class MessageTest : public ::testing::Test {
protected:
    void SetUp() override {
        genesis_ = trio_.genesis(secret_);
        hash_ = wire::record_hash(genesis_);
        keys_.emplace(derive_epoch_keys(test::shared_room_secret(), trio_.room, 0, genesis_.previous, secret_));
    }

    SenderContext context_for(const crypto::Identity& who) const {
        SenderContext ctx;
        ctx.me = &who;
        ctx.my_id = crypto::key_id(who.public_key);
        ctx.room = trio_.room;
        ctx.epoch = 0;
        ctx.record_hash = hash_;
        ctx.session = session_;
        ctx.message_key = &keys_->message_key;
        return ctx;
    }
    Bytes seal(const crypto::Identity& who, std::string_view text, std::uint64_t counter = 0) const {
        return seal_message(context_for(who), counter, 1'700'000'000'000, crypto::random_array<wire::nonce_bytes>(),
                            text);
    }
    static wire::Envelope decoded(const Bytes& bytes) {
        auto d = wire::decode_envelope(bytes);
        if (!d.envelope) throw std::runtime_error(wire::to_string(d.error));
        return std::move(*d.envelope);
    }
    OpenedMessage open_as(const Bytes& bytes, const crypto::Identity& who) const {
        return open_message(decoded(bytes), who.public_key, keys_->message_key);
    }

    test::Trio trio_;
    crypto::EpochSecret secret_ = test::random_epoch_secret();
    wire::EpochRecord genesis_;
    wire::Hash hash_{};
    std::optional<EpochKeys> keys_;
    wire::SessionId session_ = crypto::random_array<wire::session_id_bytes>();
};

TEST_F(MessageTest, RoundTripsTextsOfEveryInterestingLength) {
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{255}, std::size_t{256}, std::size_t{257},
                          std::size_t{64 * 1024}}) {
        std::string text(n, 'x');
        for (std::size_t i = 0; i < n; ++i) text[i] = static_cast<char>('a' + i % 26);
        auto bytes = seal(trio_.alice, text);
        auto env = decoded(bytes);
        EXPECT_EQ((env.ciphertext.size() - wire::aead_tag_bytes) % wire::padding_block_bytes, 0u) << n;
        EXPECT_GT(env.ciphertext.size(), n + wire::aead_tag_bytes) << n;  // padding always adds a byte
        auto opened = open_message(env, trio_.alice.public_key, keys_->message_key);
        ASSERT_TRUE(opened.text) << n << ": " << to_string(opened.error);
        EXPECT_EQ(*opened.text, text);
    }
}

TEST_F(MessageTest, PaddingHidesLengthsWithinABlock) {
    EXPECT_EQ(decoded(seal(trio_.alice, "")).ciphertext.size(), decoded(seal(trio_.alice, std::string(255, 'a'))).ciphertext.size());
    EXPECT_LT(decoded(seal(trio_.alice, std::string(255, 'a'))).ciphertext.size(),
              decoded(seal(trio_.alice, std::string(256, 'a'))).ciphertext.size());
}

TEST_F(MessageTest, RoundTripsBinaryText) {
    std::string text("\0\x80\xff\n\x01", 5);
    auto opened = open_as(seal(trio_.alice, text), trio_.alice);
    ASSERT_TRUE(opened.text);
    EXPECT_EQ(*opened.text, text);
}

TEST_F(MessageTest, HeaderCarriesTheSendersContext) {
    auto env = decoded(seal(trio_.bob, "hi", 17));
    EXPECT_EQ(env.header.room, trio_.room);
    EXPECT_EQ(env.header.epoch, 0u);
    EXPECT_EQ(env.header.record_hash, hash_);
    EXPECT_EQ(env.header.sender, crypto::key_id(trio_.bob.public_key));
    EXPECT_EQ(env.header.session, session_);
    EXPECT_EQ(env.header.counter, 17u);
}

TEST_F(MessageTest, UsesTheGivenNonceAndADifferentNonceGivesADifferentCiphertext) {
    auto n1 = crypto::random_array<wire::nonce_bytes>();
    auto n2 = crypto::random_array<wire::nonce_bytes>();
    auto e1 = decoded(seal_message(context_for(trio_.alice), 0, 1, n1, "same"));
    auto e2 = decoded(seal_message(context_for(trio_.alice), 0, 1, n2, "same"));
    EXPECT_EQ(e1.header.nonce, n1);
    EXPECT_NE(e1.ciphertext, e2.ciphertext);
}

TEST_F(MessageTest, EveryFlippedBitFailsDecodeOrOpen) {
    const std::string text = "attack at dawn";
    const auto bytes = seal(trio_.alice, text);
    std::size_t decoded_count = 0;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        for (int bit = 0; bit < 8; ++bit) {
            auto d = wire::decode_envelope(test::flip_bit(bytes, i, bit));
            if (!d.envelope) continue;
            ++decoded_count;
            auto opened = open_message(*d.envelope, trio_.alice.public_key, keys_->message_key);
            EXPECT_FALSE(opened.text) << "byte " << i << " bit " << bit << " opened as '" << *opened.text << "'";
        }
    }
    EXPECT_GT(decoded_count, bytes.size());  // most flips decode: the crypto must catch them
}

TEST_F(MessageTest, RejectsFlippedSignatureBit) {
    auto env = decoded(seal(trio_.alice, "hello"));
    env.signature[10] ^= 0x04;
    auto opened = open_message(env, trio_.alice.public_key, keys_->message_key);
    EXPECT_FALSE(opened.text);
    EXPECT_EQ(opened.error, OpenMessageError::bad_signature);
}

TEST_F(MessageTest, DoesNotOpenUnderAnotherMembersKey) {
    auto opened = open_as(seal(trio_.alice, "from alice"), trio_.bob);
    EXPECT_FALSE(opened.text);
    EXPECT_EQ(opened.error, OpenMessageError::bad_signature);
}

TEST_F(MessageTest, ReSignedEnvelopeNeverOpensAsTheOriginalSender) {
    // bob takes alice's envelope, puts his own key id in the header and re-signs it
    auto env = decoded(seal(trio_.alice, "from alice"));
    env.header.sender = crypto::key_id(trio_.bob.public_key);
    env.signature = crypto::sign(trio_.bob.secret, wire::envelope_signed_message(env));

    auto as_alice = open_message(env, trio_.alice.public_key, keys_->message_key);
    EXPECT_FALSE(as_alice.text);
    EXPECT_EQ(as_alice.error, OpenMessageError::bad_signature);
    // the header is the AEAD's associated data: changing the sender breaks the tag too
    auto as_bob = open_message(env, trio_.bob.public_key, keys_->message_key);
    EXPECT_FALSE(as_bob.text);
    EXPECT_EQ(as_bob.error, OpenMessageError::bad_ciphertext);
}

TEST_F(MessageTest, ReSignedButUnchangedHeaderDoesNotOpenAsTheOriginalSender) {
    // bob re-signs alice's envelope as is (header still names alice)
    auto env = decoded(seal(trio_.alice, "from alice"));
    env.signature = crypto::sign(trio_.bob.secret, wire::envelope_signed_message(env));
    EXPECT_FALSE(open_message(env, trio_.alice.public_key, keys_->message_key).text);
}

TEST_F(MessageTest, ReEncryptedCopyOpensOnlyAsTheReSigner) {
    // a member can repeat what alice said, but only under his own name
    auto original = open_as(seal(trio_.alice, "from alice"), trio_.alice);
    ASSERT_TRUE(original.text);
    auto copy = seal(trio_.bob, *original.text);
    auto as_bob = open_as(copy, trio_.bob);
    ASSERT_TRUE(as_bob.text);
    EXPECT_EQ(*as_bob.text, "from alice");
    EXPECT_FALSE(open_as(copy, trio_.alice).text);
    EXPECT_EQ(decoded(copy).header.sender, crypto::key_id(trio_.bob.public_key));
}

TEST_F(MessageTest, WrongMessageKeyIsBadCiphertext) {
    auto other = derive_epoch_keys(test::shared_room_secret(), trio_.room, 0, genesis_.previous,
                                   test::random_epoch_secret());
    auto opened = open_message(decoded(seal(trio_.alice, "hello")), trio_.alice.public_key, other.message_key);
    EXPECT_FALSE(opened.text);
    EXPECT_EQ(opened.error, OpenMessageError::bad_ciphertext);
}

TEST_F(MessageTest, ValidCiphertextWithoutPaddingIsBadPadding) {
    // a member (who holds the key) encrypts an all-zero block: it authenticates but does not unpad
    auto env = decoded(seal(trio_.alice, "x"));
    Bytes unpadded(wire::padding_block_bytes, 0);
    env.ciphertext = crypto::aead_seal(keys_->message_key, env.header.nonce, wire::encode_header(env.header), unpadded);
    env.signature = crypto::sign(trio_.alice.secret, wire::envelope_signed_message(env));
    auto opened = open_message(env, trio_.alice.public_key, keys_->message_key);
    EXPECT_FALSE(opened.text);
    EXPECT_EQ(opened.error, OpenMessageError::bad_padding);
}

}  // namespace
}  // namespace parley::protocol
