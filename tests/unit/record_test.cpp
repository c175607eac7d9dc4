// wire/record.h: epoch record layout, decode-time checks, hash, signature and
// successor rules, over real records from protocol::build_record.
#include <gtest/gtest.h>

#include "test_support.h"
#include "wire/record.h"

namespace parley::wire {
namespace {

using test::Trio;

class RecordTest : public ::testing::Test {
protected:
    void SetUp() override { genesis_ = trio_.genesis(secret_); }

    static DecodedRecord reencode_and_decode(const EpochRecord& r) { return decode_record(encode_record(r)); }

    Trio trio_;
    crypto::EpochSecret secret_ = test::random_epoch_secret();
    crypto::Identity dave_ = test::new_identity();
    EpochRecord genesis_;
};

TEST_F(RecordTest, GenesisRoundTripsThroughEncodeAndDecode) {
    auto bytes = encode_record(genesis_);
    auto decoded = decode_record(bytes);
    ASSERT_TRUE(decoded.record) << to_string(decoded.error);
    const auto& r = *decoded.record;
    EXPECT_EQ(r.room, trio_.room);
    EXPECT_EQ(r.epoch, 0u);
    EXPECT_EQ(r.previous, Hash{});
    EXPECT_EQ(r.salt, test::test_salt());
    EXPECT_EQ(r.kdf, kdf_floor);
    EXPECT_EQ(r.author, trio_.alice.public_key);
    EXPECT_EQ(r.roster, trio_.roster());
    EXPECT_EQ(r.ops, test::adds_for(trio_.roster()));
    EXPECT_EQ(r.boxes.size(), 3u);
    EXPECT_EQ(r.signature, genesis_.signature);
    EXPECT_EQ(encode_record(r), bytes);
    EXPECT_EQ(record_hash(r), record_hash(genesis_));
}

TEST_F(RecordTest, EncodingIsBodyThenSignature) {
    auto body = record_body(genesis_);
    auto bytes = encode_record(genesis_);
    ASSERT_EQ(bytes.size(), body.size() + signature_bytes);
    EXPECT_TRUE(std::equal(body.begin(), body.end(), bytes.begin()));
}

TEST_F(RecordTest, SignatureVerifies) { EXPECT_TRUE(verify_record_signature(genesis_)); }

TEST_F(RecordTest, SignatureFailsAfterAFlippedSignatureBit) {
    for (std::size_t i = 0; i < signature_bytes; ++i) {
        auto r = genesis_;
        r.signature[i] ^= 0x01;
        EXPECT_FALSE(verify_record_signature(r)) << "signature byte " << i;
    }
}

TEST_F(RecordTest, SignatureFailsAfterAChangedField) {
    auto r = genesis_;
    r.created_at_ms += 1;
    EXPECT_FALSE(verify_record_signature(r));
    r = genesis_;
    r.boxes[1][10] ^= 0x01;
    EXPECT_FALSE(verify_record_signature(r));
}

TEST_F(RecordTest, SignatureIsOverTheSignatureLabel) {
    auto msg = record_signed_message(genesis_);
    ASSERT_GT(msg.size(), label::sig_record.size());
    EXPECT_EQ(std::string(msg.begin(), msg.begin() + static_cast<std::ptrdiff_t>(label::sig_record.size())),
              label::sig_record);
    // a signature over the bare body must not verify
    auto r = genesis_;
    r.signature = crypto::sign(trio_.alice.secret, record_body(r));
    EXPECT_FALSE(verify_record_signature(r));
}

TEST_F(RecordTest, EveryFlippedByteFailsDecodeOrChangesHashOrSignature) {
    const auto bytes = encode_record(genesis_);
    const auto body_size = record_body(genesis_).size();
    const auto hash = record_hash(genesis_);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        for (int bit : {0, 7}) {
            auto decoded = decode_record(test::flip_bit(bytes, i, bit));
            if (!decoded.record) continue;
            if (i < body_size) {
                EXPECT_NE(record_hash(*decoded.record), hash) << "byte " << i << " bit " << bit;
            }
            EXPECT_FALSE(verify_record_signature(*decoded.record)) << "byte " << i << " bit " << bit;
        }
    }
}

TEST_F(RecordTest, HashDependsOnlyOnTheBody) {
    auto r = genesis_;
    r.signature[0] ^= 0xff;
    EXPECT_EQ(record_hash(r), record_hash(genesis_));
    r.created_at_ms += 1;
    EXPECT_NE(record_hash(r), record_hash(genesis_));
}

TEST_F(RecordTest, RejectsAnUnsortedRoster) {
    auto r = genesis_;
    std::swap(r.roster[0], r.roster[2]);
    auto decoded = reencode_and_decode(r);
    EXPECT_FALSE(decoded.record);
    EXPECT_EQ(decoded.error, RecordError::bad_roster);
}

TEST_F(RecordTest, RejectsADuplicateRosterKey) {
    auto r = genesis_;
    r.roster[1] = r.roster[0];
    r.ops[1] = r.ops[0];
    auto decoded = reencode_and_decode(r);
    EXPECT_FALSE(decoded.record);
    EXPECT_EQ(decoded.error, RecordError::bad_roster);
}

TEST_F(RecordTest, RejectsAGenesisWithAMissingAdd) {
    auto r = genesis_;
    r.ops.pop_back();
    auto decoded = reencode_and_decode(r);
    EXPECT_FALSE(decoded.record);
    EXPECT_EQ(decoded.error, RecordError::bad_roster);
}

TEST_F(RecordTest, RejectsAGenesisWithAnExtraAdd) {
    auto r = genesis_;
    r.ops.push_back({RosterOpKind::add, dave_.public_key});
    auto decoded = reencode_and_decode(r);
    EXPECT_FALSE(decoded.record);
    EXPECT_EQ(decoded.error, RecordError::bad_roster);
}

TEST_F(RecordTest, RejectsAGenesisThatAddsSomeoneElse) {
    auto r = genesis_;
    r.ops[2].key = dave_.public_key;
    auto decoded = reencode_and_decode(r);
    EXPECT_FALSE(decoded.record);
    EXPECT_EQ(decoded.error, RecordError::bad_roster);
}

TEST_F(RecordTest, RejectsAGenesisWithARemove) {
    auto r = genesis_;
    r.ops[1].kind = RosterOpKind::remove;
    auto decoded = reencode_and_decode(r);
    EXPECT_FALSE(decoded.record);
    EXPECT_EQ(decoded.error, RecordError::bad_roster);
}

TEST_F(RecordTest, RejectsAnAuthorOutsideTheRoster) {
    auto r = genesis_;
    r.author = dave_.public_key;
    test::resign(r, dave_);
    auto decoded = reencode_and_decode(r);
    EXPECT_FALSE(decoded.record);
    EXPECT_EQ(decoded.error, RecordError::bad_roster);
}

TEST_F(RecordTest, RejectsAnUnknownVersion) {
    auto r = genesis_;
    r.version = 3;  // 1 and 2 are known (docs/PROTOCOL.md §4, §10.6)
    auto decoded = reencode_and_decode(r);
    EXPECT_FALSE(decoded.record);
    EXPECT_EQ(decoded.error, RecordError::bad_version);
}

TEST_F(RecordTest, RejectsAnUnknownRosterOpKind) {
    auto bytes = encode_record(genesis_);
    // first op kind byte follows the header fields and the roster
    const std::size_t at = 1 + 32 + 8 + 32 + 16 + 4 + 4 + 8 + 32 + 2 + 3 * 32 + 2;
    ASSERT_EQ(bytes[at], static_cast<std::uint8_t>(RosterOpKind::add));
    bytes[at] = 3;
    auto decoded = decode_record(bytes);
    EXPECT_FALSE(decoded.record);
    EXPECT_EQ(decoded.error, RecordError::malformed);
}

TEST_F(RecordTest, RejectsAGenesisWithAPreviousHash) {
    auto r = genesis_;
    r.previous[0] = 1;
    auto decoded = reencode_and_decode(r);
    EXPECT_FALSE(decoded.record);
}

TEST_F(RecordTest, RejectsALaterEpochWithoutAPreviousHash) {
    auto next = test::build(trio_.bob, test::successor_draft(genesis_), secret_);
    next.previous = Hash{};
    auto decoded = reencode_and_decode(next);
    EXPECT_FALSE(decoded.record);
}

TEST_F(RecordTest, RejectsAnEmptyRoster) {
    auto r = genesis_;
    r.roster.clear();
    r.ops.clear();
    r.boxes.clear();
    auto decoded = reencode_and_decode(r);
    EXPECT_FALSE(decoded.record);
    EXPECT_EQ(decoded.error, RecordError::malformed);
}

TEST_F(RecordTest, RejectsTruncationAndTrailingBytes) {
    auto bytes = encode_record(genesis_);
    for (std::size_t n = 0; n < bytes.size(); n += 7)
        EXPECT_FALSE(decode_record(ByteView(bytes).first(n)).record) << "prefix " << n;
    EXPECT_FALSE(decode_record(ByteView(bytes).first(bytes.size() - 1)).record);
    bytes.push_back(0);
    auto decoded = decode_record(bytes);
    EXPECT_FALSE(decoded.record);
    EXPECT_EQ(decoded.error, RecordError::malformed);
}

TEST_F(RecordTest, RejectsABoxCountOtherThanTheRoster) {
    auto r = genesis_;
    r.boxes.pop_back();
    EXPECT_FALSE(reencode_and_decode(r).record);
    r = genesis_;
    r.boxes.push_back(r.boxes.back());
    EXPECT_FALSE(reencode_and_decode(r).record);
}

// --- check_successor ---------------------------------------------------------

TEST_F(RecordTest, AcceptsAGoodSuccessor) {
    auto next = test::build(trio_.bob, test::successor_draft(genesis_), test::random_epoch_secret());
    EXPECT_EQ(check_successor(genesis_, next), std::nullopt);
    EXPECT_TRUE(decode_record(encode_record(next)).record);
}

TEST_F(RecordTest, AcceptsASuccessorThatAddsAndRemoves) {
    auto next = test::build(trio_.alice,
                            test::successor_draft(genesis_, {{RosterOpKind::remove, trio_.charlie.public_key},
                                                             {RosterOpKind::add, dave_.public_key}}),
                            test::random_epoch_secret());
    EXPECT_EQ(check_successor(genesis_, next), std::nullopt);
    EXPECT_EQ(next.roster, test::sorted({trio_.alice.public_key, trio_.bob.public_key, dave_.public_key}));
}

TEST_F(RecordTest, RejectsASuccessorWithTheWrongEpoch) {
    auto draft = test::successor_draft(genesis_);
    draft.epoch = 2;
    auto next = test::build(trio_.bob, std::move(draft), secret_);
    EXPECT_EQ(check_successor(genesis_, next), RecordError::not_a_successor);
    EXPECT_EQ(check_successor(genesis_, genesis_), RecordError::not_a_successor);
}

TEST_F(RecordTest, RejectsASuccessorWithTheWrongPreviousHash) {
    auto draft = test::successor_draft(genesis_);
    draft.previous[5] ^= 0x01;
    auto next = test::build(trio_.bob, std::move(draft), secret_);
    EXPECT_EQ(check_successor(genesis_, next), RecordError::not_a_successor);
}

TEST_F(RecordTest, RejectsASuccessorThatChangesTheSalt) {
    auto draft = test::successor_draft(genesis_);
    draft.salt[0] ^= 0x01;
    auto next = test::build(trio_.bob, std::move(draft), secret_);
    EXPECT_EQ(check_successor(genesis_, next), RecordError::not_a_successor);
}

TEST_F(RecordTest, RejectsASuccessorThatChangesKdfParameters) {
    for (auto kdf : {KdfParams{4, kdf_floor.mem_kib}, KdfParams{kdf_floor.ops, 128 * 1024},
                     KdfParams{2, kdf_floor.mem_kib}}) {
        auto draft = test::successor_draft(genesis_);
        draft.kdf = kdf;
        auto next = test::build(trio_.bob, std::move(draft), secret_);
        EXPECT_EQ(check_successor(genesis_, next), RecordError::not_a_successor)
            << "ops " << kdf.ops << " mem " << kdf.mem_kib;
    }
}

TEST_F(RecordTest, RejectsASuccessorForAnotherRoom) {
    auto draft = test::successor_draft(genesis_);
    draft.room = crypto::room_id("elsewhere");
    auto next = test::build(trio_.bob, std::move(draft), secret_);
    EXPECT_EQ(check_successor(genesis_, next), RecordError::not_a_successor);
}

TEST_F(RecordTest, RejectsASuccessorBySomeoneOutsideThePreviousRoster) {
    auto next = test::build(dave_, test::successor_draft(genesis_, {{RosterOpKind::add, dave_.public_key}}),
                            secret_);
    EXPECT_EQ(check_successor(genesis_, next), RecordError::bad_roster);
}

TEST_F(RecordTest, RejectsAddingAnExistingMember) {
    auto draft = test::successor_draft(genesis_);
    draft.ops = {{RosterOpKind::add, trio_.bob.public_key}};
    auto next = test::build(trio_.alice, std::move(draft), secret_);
    EXPECT_EQ(check_successor(genesis_, next), RecordError::bad_roster);
}

TEST_F(RecordTest, RejectsRemovingANonMember) {
    auto draft = test::successor_draft(genesis_);
    draft.ops = {{RosterOpKind::remove, dave_.public_key}};
    auto next = test::build(trio_.alice, std::move(draft), secret_);
    EXPECT_EQ(check_successor(genesis_, next), RecordError::bad_roster);
}

TEST_F(RecordTest, RejectsARosterThatDoesNotMatchTheOps) {
    // dave in the roster without an add: a stale key file must not re-add anyone
    auto draft = test::successor_draft(genesis_);
    draft.roster.push_back(dave_.public_key);
    auto next = test::build(trio_.alice, std::move(draft), secret_);
    EXPECT_EQ(check_successor(genesis_, next), RecordError::bad_roster);

    // charlie dropped from the roster without a remove
    draft = test::successor_draft(genesis_);
    std::erase(draft.roster, trio_.charlie.public_key);
    next = test::build(trio_.alice, std::move(draft), secret_);
    EXPECT_EQ(check_successor(genesis_, next), RecordError::bad_roster);
}

TEST_F(RecordTest, RejectsTheSameKeyTwiceInOps) {
    auto draft = test::successor_draft(genesis_);
    draft.ops = {{RosterOpKind::remove, trio_.charlie.public_key}, {RosterOpKind::add, trio_.charlie.public_key}};
    auto next = test::build(trio_.alice, std::move(draft), secret_);
    EXPECT_EQ(check_successor(genesis_, next), RecordError::bad_roster);
}

TEST_F(RecordTest, TokenHashIsLabelledAndDistinct) {
    Token a{}, b{};
    b[0] = 1;
    EXPECT_NE(token_hash(a), token_hash(b));
    EXPECT_NE(token_hash(a), labelled_hash(label::record_hash, {a}));
    EXPECT_EQ(token_hash(a), labelled_hash(label::token_hash, {a}));
}

}  // namespace
}  // namespace parley::wire
