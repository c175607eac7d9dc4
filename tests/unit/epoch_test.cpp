// protocol/epoch.h: opening sealed epoch secrets, verifying chains, pins.
#include <gtest/gtest.h>

#include "protocol/epoch.h"
#include "test_support.h"

namespace parley::protocol {
namespace {

using wire::RosterOpKind;

std::string secret_hex(const EpochSecret& s) { return to_hex(s.reveal()); }

class EpochTest : public ::testing::Test {
protected:
    void SetUp() override {
        genesis_ = trio_.genesis(secret0_);
        epoch1_ = test::build(trio_.bob, test::successor_draft(genesis_), secret1_);
        epoch2_ = test::build(trio_.charlie, test::successor_draft(epoch1_), secret2_);
    }

    std::vector<Bytes> encoded(std::initializer_list<const EpochRecord*> records) const {
        std::vector<Bytes> out;
        for (const auto* r : records) out.push_back(wire::encode_record(*r));
        return out;
    }
    VerifiedChain verified(std::initializer_list<const EpochRecord*> records) const {
        auto result = verify_chain(encoded(records), trio_.room);
        if (auto* err = std::get_if<std::string>(&result)) ADD_FAILURE() << *err;
        return std::get<VerifiedChain>(std::move(result));
    }
    std::optional<std::string> chain_error(std::initializer_list<const EpochRecord*> records) const {
        auto result = verify_chain(encoded(records), trio_.room);
        if (auto* err = std::get_if<std::string>(&result)) return *err;
        return std::nullopt;
    }
    static std::optional<OpenError> open_error(const crypto::Identity& me, const EpochRecord& r) {
        auto result = open_epoch_secret(me, r);
        if (auto* err = std::get_if<OpenError>(&result)) return *err;
        return std::nullopt;
    }
    static std::size_t index_of(const EpochRecord& r, const PublicKey& k) {
        return static_cast<std::size_t>(std::find(r.roster.begin(), r.roster.end(), k) - r.roster.begin());
    }

    test::Trio trio_;
    crypto::Identity dave_ = test::new_identity();
    EpochSecret secret0_ = test::random_epoch_secret();
    EpochSecret secret1_ = test::random_epoch_secret();
    EpochSecret secret2_ = test::random_epoch_secret();
    EpochRecord genesis_, epoch1_, epoch2_;
};

// --- open_epoch_secret -----------------------------------------------------

TEST_F(EpochTest, EveryMemberOpensTheSameSecret) {
    for (const auto* me : {&trio_.alice, &trio_.bob, &trio_.charlie}) {
        auto result = open_epoch_secret(*me, genesis_);
        ASSERT_TRUE(std::holds_alternative<EpochSecret>(result)) << to_string(std::get<OpenError>(result));
        const auto& secret = std::get<EpochSecret>(result);
        EXPECT_EQ(secret_hex(secret), secret_hex(secret0_));
        EXPECT_EQ(epoch_commitment(genesis_.room, genesis_.epoch, genesis_.previous, secret), genesis_.commitment);
    }
}

TEST_F(EpochTest, NonMemberGetsNotMember) { EXPECT_EQ(open_error(dave_, genesis_), OpenError::not_member); }

TEST_F(EpochTest, RemovedMemberCannotOpenTheNextEpoch) {
    auto next = test::build(trio_.alice,
                            test::successor_draft(genesis_, {{RosterOpKind::remove, trio_.charlie.public_key}}),
                            test::random_epoch_secret());
    EXPECT_EQ(open_error(trio_.charlie, next), OpenError::not_member);
    EXPECT_EQ(open_error(trio_.bob, next), std::nullopt);
}

TEST_F(EpochTest, BoxMovedFromAnotherRecordIsABadBox) {
    // bob's box from epoch 1 put in bob's place in the genesis
    auto r = genesis_;
    r.boxes[index_of(r, trio_.bob.public_key)] = epoch1_.boxes[index_of(epoch1_, trio_.bob.public_key)];
    test::resign(r, trio_.alice);
    EXPECT_EQ(open_error(trio_.bob, r), OpenError::bad_box);
    EXPECT_EQ(open_error(trio_.alice, r), std::nullopt);
}

TEST_F(EpochTest, BoxFromAnotherRoomIsABadBox) {
    auto r = genesis_;
    auto foreign = test::build(trio_.alice, test::genesis_draft(crypto::room_id("other room"), trio_.roster()),
                               test::random_epoch_secret());
    r.boxes[index_of(r, trio_.bob.public_key)] = foreign.boxes[index_of(foreign, trio_.bob.public_key)];
    test::resign(r, trio_.alice);
    EXPECT_EQ(open_error(trio_.bob, r), OpenError::bad_box);
}

TEST_F(EpochTest, AnotherMembersBoxIsABadBox) {
    auto r = genesis_;
    std::swap(r.boxes[index_of(r, trio_.bob.public_key)], r.boxes[index_of(r, trio_.charlie.public_key)]);
    EXPECT_EQ(open_error(trio_.bob, r), OpenError::bad_box);
    EXPECT_EQ(open_error(trio_.charlie, r), OpenError::bad_box);
}

TEST_F(EpochTest, GarbledBoxIsABadBox) {
    auto r = genesis_;
    r.boxes[index_of(r, trio_.bob.public_key)][60] ^= 0x01;
    EXPECT_EQ(open_error(trio_.bob, r), OpenError::bad_box);
}

TEST_F(EpochTest, BoxNamingTheWrongRecipientIsABadBox) {
    // An author seals bob's context (recipient = bob) to charlie: the context must name the reader.
    Writer w;
    w.raw(as_bytes(label::seal_epoch));
    w.raw(genesis_.room);
    w.u64(genesis_.epoch);
    w.raw(genesis_.previous);
    w.raw(genesis_.author);
    w.raw(trio_.bob.public_key);
    w.raw(secret0_.reveal());
    auto plaintext = w.take();
    ASSERT_EQ(plaintext.size(), wire::sealed_plaintext_bytes);
    auto box = crypto::seal_to(trio_.charlie.public_key, plaintext);
    ASSERT_TRUE(box);
    auto r = genesis_;
    std::copy(box->begin(), box->end(), r.boxes[index_of(r, trio_.charlie.public_key)].begin());
    test::resign(r, trio_.alice);
    EXPECT_EQ(open_error(trio_.charlie, r), OpenError::bad_box);
}

TEST_F(EpochTest, DifferentSecretsForDifferentMembersFailTheCommitment) {
    // alice forks her own genesis: same context, another secret, and gives bob that box
    auto sibling = trio_.genesis(test::random_epoch_secret());
    auto r = genesis_;
    r.boxes[index_of(r, trio_.bob.public_key)] = sibling.boxes[index_of(sibling, trio_.bob.public_key)];
    test::resign(r, trio_.alice);
    EXPECT_EQ(open_error(trio_.bob, r), OpenError::bad_commitment);
    EXPECT_EQ(open_error(trio_.charlie, r), std::nullopt);
}

TEST_F(EpochTest, TamperedCommitmentIsBadCommitment) {
    auto r = genesis_;
    r.commitment[0] ^= 0x01;
    for (const auto* me : {&trio_.alice, &trio_.bob, &trio_.charlie})
        EXPECT_EQ(open_error(*me, r), OpenError::bad_commitment);
}

// --- verify_chain ------------------------------------------------------------

TEST_F(EpochTest, VerifiesAThreeRecordChain) {
    auto chain = verified({&genesis_, &epoch1_, &epoch2_});
    ASSERT_EQ(chain.records.size(), 3u);
    EXPECT_EQ(chain.head().epoch, 2u);
    EXPECT_EQ(chain.genesis_hash(), wire::record_hash(genesis_));
    EXPECT_EQ(chain.hashes[1], wire::record_hash(epoch1_));
    EXPECT_EQ(chain.head_hash(), wire::record_hash(epoch2_));
}

TEST_F(EpochTest, VerifiesAChainThatRemovesAndAdds) {
    auto e1 = test::build(trio_.alice, test::successor_draft(genesis_, {{RosterOpKind::remove, trio_.charlie.public_key}}),
                          secret1_);
    auto e2 = test::build(trio_.bob, test::successor_draft(e1, {{RosterOpKind::add, dave_.public_key}}), secret2_);
    auto chain = verified({&genesis_, &e1, &e2});
    EXPECT_EQ(chain.head().roster, test::sorted({trio_.alice.public_key, trio_.bob.public_key, dave_.public_key}));
}

TEST_F(EpochTest, RejectsAnEmptyChain) { EXPECT_TRUE(chain_error({})); }

TEST_F(EpochTest, RejectsAChainWithoutItsGenesis) { EXPECT_TRUE(chain_error({&epoch1_, &epoch2_})); }

TEST_F(EpochTest, RejectsABrokenLink) {
    auto draft = test::successor_draft(epoch1_);
    draft.previous = wire::record_hash(genesis_);  // skips epoch 1
    auto bad = test::build(trio_.charlie, std::move(draft), secret2_);
    EXPECT_TRUE(chain_error({&genesis_, &epoch1_, &bad}));
    EXPECT_TRUE(chain_error({&genesis_, &epoch2_}));  // a missing record
}

TEST_F(EpochTest, RejectsAForgedSignatureAnywhereInTheChain) {
    for (auto* target : {&genesis_, &epoch1_, &epoch2_}) {
        auto saved = *target;
        target->signature[3] ^= 0x10;
        EXPECT_TRUE(chain_error({&genesis_, &epoch1_, &epoch2_})) << "epoch " << target->epoch;
        *target = saved;
    }
}

TEST_F(EpochTest, RejectsARecordSignedByAnotherMember) {
    // bob's name as author, charlie's signature
    auto forged = epoch1_;
    forged.signature = crypto::sign(trio_.charlie.secret, wire::record_signed_message(forged));
    EXPECT_TRUE(chain_error({&genesis_, &forged}));
}

TEST_F(EpochTest, RejectsAGenesisWithKdfParametersBelowTheFloor) {
    auto weak = genesis_;
    weak.kdf = {2, wire::kdf_floor.mem_kib};
    weak.signature = crypto::sign(trio_.alice.secret, wire::record_signed_message(weak));
    ASSERT_TRUE(wire::verify_record_signature(weak));
    auto err = chain_error({&weak});
    ASSERT_TRUE(err);
    EXPECT_NE(err->find("KDF"), std::string::npos) << *err;

    weak = genesis_;
    weak.kdf = {3, 32 * 1024};
    test::resign(weak, trio_.alice);
    EXPECT_TRUE(chain_error({&weak}));
}

TEST_F(EpochTest, RejectsAGenesisWithKdfParametersAboveTheCeiling) {
    auto heavy = genesis_;
    heavy.kdf = {11, wire::kdf_floor.mem_kib};
    test::resign(heavy, trio_.alice);
    EXPECT_TRUE(chain_error({&heavy}));
    heavy.kdf = {3, 2 * 1024 * 1024};
    test::resign(heavy, trio_.alice);
    EXPECT_TRUE(chain_error({&heavy}));
}

TEST_F(EpochTest, RejectsASuccessorThatLowersKdfParameters) {
    auto draft = test::successor_draft(genesis_);
    draft.kdf = {2, 32 * 1024};
    auto weak = test::build(trio_.bob, std::move(draft), secret1_);
    EXPECT_TRUE(chain_error({&genesis_, &weak}));
}

TEST_F(EpochTest, RejectsAnotherRoomsChain) {
    auto result = verify_chain(encoded({&genesis_, &epoch1_}), crypto::room_id("not trio"));
    ASSERT_TRUE(std::holds_alternative<std::string>(result));
    EXPECT_NE(std::get<std::string>(result).find("another room"), std::string::npos);
}

TEST_F(EpochTest, RejectsARecordByARemovedMember) {
    auto e1 = test::build(trio_.alice, test::successor_draft(genesis_, {{RosterOpKind::remove, trio_.charlie.public_key}}),
                          secret1_);
    // charlie, no longer a member, writes epoch 2 and re-adds himself
    auto e2 = test::build(trio_.charlie, test::successor_draft(e1, {{RosterOpKind::add, trio_.charlie.public_key}}),
                          secret2_);
    EXPECT_TRUE(chain_error({&genesis_, &e1, &e2}));
}

TEST_F(EpochTest, RejectsUndecodableBytes) {
    auto chain = encoded({&genesis_, &epoch1_});
    chain[1].push_back(0);
    auto result = verify_chain(chain, trio_.room);
    EXPECT_TRUE(std::holds_alternative<std::string>(result));
}

TEST_F(EpochTest, ExtendChainAcceptsTheNextRecordAndRejectsAForgery) {
    auto chain = verified({&genesis_});
    auto forged = epoch1_;
    forged.signature[0] ^= 0x01;
    EXPECT_TRUE(extend_chain(chain, forged));
    EXPECT_EQ(chain.records.size(), 1u);
    EXPECT_FALSE(extend_chain(chain, epoch1_));
    EXPECT_EQ(chain.head_hash(), wire::record_hash(epoch1_));
    EXPECT_TRUE(extend_chain(chain, epoch1_));  // not again
}

// --- check_pin -------------------------------------------------------------

TEST_F(EpochTest, PinMatchesTheSameChain) {
    auto chain = verified({&genesis_, &epoch1_});
    Pin pin{chain.genesis_hash(), 1, chain.head_hash()};
    EXPECT_EQ(check_pin(chain, pin), PinVerdict::matches);
}

TEST_F(EpochTest, PinIsExtendedByALongerChain) {
    auto chain = verified({&genesis_, &epoch1_, &epoch2_});
    Pin pin{chain.genesis_hash(), 1, wire::record_hash(epoch1_)};
    EXPECT_EQ(check_pin(chain, pin), PinVerdict::extends);
    Pin at_genesis{chain.genesis_hash(), 0, chain.genesis_hash()};
    EXPECT_EQ(check_pin(chain, at_genesis), PinVerdict::extends);
}

TEST_F(EpochTest, ShorterChainIsARollback) {
    auto chain = verified({&genesis_, &epoch1_});
    Pin pin{chain.genesis_hash(), 2, wire::record_hash(epoch2_)};
    EXPECT_EQ(check_pin(chain, pin), PinVerdict::rollback);
}

TEST_F(EpochTest, DifferentRecordAtThePinnedEpochIsAFork) {
    auto rival = test::build(trio_.charlie, test::successor_draft(genesis_), test::random_epoch_secret());
    auto rival_chain = verified({&genesis_, &rival});
    Pin pin{wire::record_hash(genesis_), 1, wire::record_hash(epoch1_)};
    EXPECT_EQ(check_pin(rival_chain, pin), PinVerdict::fork);

    auto rival2 = test::build(trio_.alice, test::successor_draft(rival), test::random_epoch_secret());
    auto longer = verified({&genesis_, &rival, &rival2});
    EXPECT_EQ(check_pin(longer, pin), PinVerdict::fork);
}

TEST_F(EpochTest, DifferentGenesisIsAnotherChain) {
    auto other_genesis = trio_.genesis(test::random_epoch_secret());
    auto chain = verified({&other_genesis});
    Pin pin{wire::record_hash(genesis_), 0, wire::record_hash(genesis_)};
    EXPECT_EQ(check_pin(chain, pin), PinVerdict::other_chain);
}

}  // namespace
}  // namespace parley::protocol
