// protocol/receiver.h: every check an incoming envelope goes through, in
// alice's receiver, with bob and charlie (and outsiders) sending.
#include <gtest/gtest.h>

#include <map>

#include <set>

#include "protocol/receiver.h"
#include "test_support.h"

namespace parley::protocol {
namespace {

using test::LiveEpoch;
using wire::RosterOpKind;

wire::SessionId new_session() { return crypto::random_array<wire::session_id_bytes>(); }

class ReceiverTest : public ::testing::Test {
protected:
    void SetUp() override {
        epoch0_ = test::live_epoch(trio_.genesis(secret0_), secret0_);
        receiver_.add_epoch(epoch0_.view());
    }

    // Epoch 1 without charlie, epoch 2 after it; both written by alice.
    void remove_charlie_at_epoch_1() {
        auto record = test::build(trio_.alice,
                                  test::successor_draft(epoch0_.record, {{RosterOpKind::remove, trio_.charlie.public_key}}),
                                  secret1_);
        epoch1_ = test::live_epoch(std::move(record), secret1_);
        receiver_.add_epoch(epoch1_.view());
    }
    void add_epoch_2() {
        auto record = test::build(trio_.bob, test::successor_draft(epoch1_.record), secret2_);
        epoch2_ = test::live_epoch(std::move(record), secret2_);
        receiver_.add_epoch(epoch2_.view());
    }

    Bytes from(const crypto::Identity& who, std::uint64_t counter, std::string_view text = "hi") {
        return test::seal(epoch0_.sender(who, session_of(who)), counter, text);
    }
    const wire::SessionId& session_of(const crypto::Identity& who) {
        if (&who == &trio_.alice) return alice_other_session_;
        if (&who == &trio_.bob) return bob_session_;
        return charlie_session_;
    }
    static void expect_rejected(const Delivery& d, std::string_view why) {
        EXPECT_FALSE(d.accepted);
        EXPECT_NE(d.reason.find(why), std::string::npos) << "reason: " << d.reason;
        EXPECT_TRUE(d.text.empty()) << "no text from a rejected message";
        EXPECT_FALSE(d.sender) << "no sender for a rejected message";
    }

    test::Trio trio_;
    crypto::EpochSecret secret0_ = test::random_epoch_secret();
    crypto::EpochSecret secret1_ = test::random_epoch_secret();
    crypto::EpochSecret secret2_ = test::random_epoch_secret();
    LiveEpoch epoch0_, epoch1_, epoch2_;
    wire::SessionId my_session_ = new_session();
    wire::SessionId alice_other_session_ = new_session();
    wire::SessionId bob_session_ = new_session();
    wire::SessionId charlie_session_ = new_session();
    std::map<wire::SessionId, std::uint64_t> owned_;  // our sessions -> they sent counters up to this in owned_record()
    std::optional<wire::Hash> owned_record_;           // epoch 0's unless set
    wire::Hash owned_record() const { return owned_record_ ? *owned_record_ : epoch0_.hash; }
    MemoryReplayStore store_;
    Receiver receiver_{trio_.room, trio_.alice.public_key, my_session_, store_,
                       [this](const wire::SessionId& s, const wire::Hash& r, std::uint64_t counter) {
                           auto it = owned_.find(s);
                           return it != owned_.end() && r == owned_record() && counter <= it->second;
                       }};
};

// A version-2 envelope (docs/PROTOCOL.md §10.4) names a version-2 epoch; this
// receiver's epochs are version 1's, so one is rejected by name, before any key is tried.
TEST_F(ReceiverTest, AVersion2EnvelopeInAVersion1EpochIsRejected) {
    auto ctx = epoch0_.sender(trio_.bob, bob_session_);
    ctx.version = 2;
    expect_rejected(receiver_.receive(test::seal(ctx, 0, "hi")), "a version 2 envelope in a version 1 epoch");
}

TEST_F(ReceiverTest, AcceptsAGoodEnvelope) {
    auto d = receiver_.receive(from(trio_.bob, 0, "hello alice"));
    ASSERT_TRUE(d.accepted) << d.reason;
    ASSERT_TRUE(d.sender);
    EXPECT_EQ(*d.sender, trio_.bob.public_key);
    EXPECT_EQ(d.text, "hello alice");
    EXPECT_EQ(d.header.counter, 0u);
    EXPECT_EQ(d.missing_before, 0u);
    EXPECT_FALSE(d.own);
}

TEST_F(ReceiverTest, RejectsTheSameEnvelopeAgain) {
    auto bytes = from(trio_.bob, 0);
    ASSERT_TRUE(receiver_.receive(bytes).accepted);
    expect_rejected(receiver_.receive(bytes), "replayed");
}

TEST_F(ReceiverTest, RejectsAReplayedCounterUnderANewNonce) {
    ASSERT_TRUE(receiver_.receive(from(trio_.bob, 5, "one")).accepted);
    expect_rejected(receiver_.receive(from(trio_.bob, 5, "two")), "replayed");
}

TEST_F(ReceiverTest, ReportsAGapInTheSendersCounters) {
    ASSERT_TRUE(receiver_.receive(from(trio_.bob, 0)).accepted);
    auto d = receiver_.receive(from(trio_.bob, 4));
    ASSERT_TRUE(d.accepted) << d.reason;
    EXPECT_EQ(d.missing_before, 3u);
    d = receiver_.receive(from(trio_.bob, 2));
    ASSERT_TRUE(d.accepted) << "late but inside the window: " << d.reason;
    EXPECT_EQ(d.missing_before, 0u);
}

// Every process of a state folder takes the next counter (§5): a counter
// skipped between two sessions of one sender is a message that did not come.
TEST_F(ReceiverTest, ReportsAGapAcrossTheSendersSessions) {
    ASSERT_TRUE(receiver_.receive(from(trio_.bob, 0)).accepted);
    auto next_send = test::seal(epoch0_.sender(trio_.bob, new_session()), 2, "the next send");
    auto d = receiver_.receive(next_send);
    ASSERT_TRUE(d.accepted) << d.reason;
    EXPECT_EQ(d.missing_before, 1u);
    auto late = test::seal(epoch0_.sender(trio_.bob, new_session()), 1, "late");
    d = receiver_.receive(late);
    ASSERT_TRUE(d.accepted) << d.reason;
    EXPECT_EQ(d.missing_before, 0u) << "a late counter is no new gap";
    EXPECT_EQ(receiver_.receive(from(trio_.charlie, 0)).missing_before, 0u) << "charlie's counters are his own";
}

// The only message of a sender in an epoch, withheld: its next one (or a sync)
// is the first the reader sees, and counts everything below it.
TEST_F(ReceiverTest, ReportsTheCountersBelowASendersFirstMessage) {
    auto d = receiver_.receive(from(trio_.bob, 2, "third"));
    ASSERT_TRUE(d.accepted) << d.reason;
    EXPECT_EQ(d.missing_before, 2u);
}

// Unless the relay said items expired before this device read them: then a
// sender's first counters may simply be gone, in those epochs only.
TEST_F(ReceiverTest, ExpiredItemsMakeNoGapOfASendersFirstCounter) {
    receiver_.set_expired_through(0);
    auto d = receiver_.receive(from(trio_.bob, 2, "third"));
    ASSERT_TRUE(d.accepted) << d.reason;
    EXPECT_EQ(d.missing_before, 0u);
    EXPECT_EQ(receiver_.receive(from(trio_.bob, 4)).missing_before, 1u) << "past the first, a gap is a gap";
    remove_charlie_at_epoch_1();
    d = receiver_.receive(test::seal(epoch1_.sender(trio_.bob, bob_session_), 1, "epoch 1"));
    ASSERT_TRUE(d.accepted) << d.reason;
    EXPECT_EQ(d.missing_before, 1u) << "epoch 1 began after what expired";
}

TEST_F(ReceiverTest, AcceptsASyncWithNoTextAndReportsWhatCameBeforeItMissing) {
    ASSERT_TRUE(receiver_.receive(from(trio_.bob, 0)).accepted);
    auto sync = test::seal(epoch0_.sender(trio_.bob, bob_session_), 2, encode_sync({SyncReason::leaving}),
                           wire::EnvelopeType::sync);
    auto d = receiver_.receive(sync);
    ASSERT_TRUE(d.accepted) << d.reason;
    ASSERT_TRUE(d.sync);
    EXPECT_EQ(d.sync->reason, SyncReason::leaving);
    EXPECT_TRUE(d.text.empty());
    EXPECT_EQ(d.missing_before, 1u);
    expect_rejected(receiver_.receive(sync), "replayed");
}

TEST_F(ReceiverTest, RejectsASyncThatDoesNotDecode) {
    for (std::string bad : {std::string("hello"), std::string(sync_note_bytes, '\0'),
                            encode_sync({SyncReason::still_here}) + "x"}) {
        auto d = receiver_.receive(
            test::seal(epoch0_.sender(trio_.bob, new_session()), 0, bad, wire::EnvelopeType::sync));
        expect_rejected(d, "malformed sync");
        EXPECT_FALSE(d.sync);
    }
    std::string nonzero = encode_sync({SyncReason::still_here});
    nonzero[5] = 1;  // version 1 leaves the previous record hash zero
    expect_rejected(receiver_.receive(test::seal(epoch0_.sender(trio_.bob, new_session()), 0, nonzero,
                                                 wire::EnvelopeType::sync)),
                    "malformed sync");
}

TEST_F(ReceiverTest, KeepsSeparateStreamsPerSenderAndSession) {
    ASSERT_TRUE(receiver_.receive(from(trio_.bob, 0)).accepted);
    ASSERT_TRUE(receiver_.receive(from(trio_.charlie, 0)).accepted);
    auto other_session = test::seal(epoch0_.sender(trio_.bob, new_session()), 0, "restarted");
    EXPECT_TRUE(receiver_.receive(other_session).accepted);
}

TEST_F(ReceiverTest, RejectsAnEnvelopeForAnotherRoom) {
    auto ctx = epoch0_.sender(trio_.bob, bob_session_);
    ctx.room = crypto::room_id("elsewhere");
    expect_rejected(receiver_.receive(test::seal(ctx, 0, "hi")), "another room");
}

TEST_F(ReceiverTest, RejectsAnEnvelopeForAnotherEpoch) {
    auto ctx = epoch0_.sender(trio_.bob, bob_session_);
    ctx.epoch = 1;
    expect_rejected(receiver_.receive(test::seal(ctx, 0, "hi")), "epoch");
}

TEST_F(ReceiverTest, RejectsAnEnvelopeForAnUnknownRecordHash) {
    // the relay rewrites the record hash of a genuine envelope
    auto env = wire::decode_envelope(from(trio_.bob, 0)).envelope;
    ASSERT_TRUE(env);
    env->header.record_hash[0] ^= 0x01;
    expect_rejected(receiver_.receive(wire::encode_envelope(*env)), "epoch record we do not hold");
}

TEST_F(ReceiverTest, ReportsAForkWhenAMemberSignsUnderAnotherRecordAtOurEpoch) {
    // a second, valid genesis: same epoch number, other record, bob really signed
    auto fork = test::live_epoch(trio_.genesis(secret1_), secret1_);
    expect_rejected(receiver_.receive(test::seal(fork.sender(trio_.bob, bob_session_), 0, "hi")), "fork");
}

TEST_F(ReceiverTest, RejectsASenderOutsideTheRoster) {
    // dave somehow holds the message key and signs a well-formed envelope with his own key
    auto dave = test::new_identity();
    expect_rejected(receiver_.receive(test::seal(epoch0_.sender(dave, new_session()), 0, "let me in")),
                    "not in the roster");
}

TEST_F(ReceiverTest, RejectsAMemberSigningInAnotherMembersName) {
    auto env = wire::decode_envelope(from(trio_.bob, 0)).envelope;
    ASSERT_TRUE(env);
    env->signature = crypto::sign(trio_.charlie.secret, wire::envelope_signed_message(*env));
    expect_rejected(receiver_.receive(wire::encode_envelope(*env)), "signature");
}

TEST_F(ReceiverTest, ReSignedEnvelopeIsNeverShownAsTheOriginalSender) {
    // charlie takes bob's envelope, names himself and re-signs: it must not open as bob,
    // and since the header is the AEAD's associated data, not as charlie either
    auto env = wire::decode_envelope(from(trio_.bob, 0, "bob's words")).envelope;
    ASSERT_TRUE(env);
    env->header.sender = crypto::key_id(trio_.charlie.public_key);
    env->header.session = charlie_session_;
    env->signature = crypto::sign(trio_.charlie.secret, wire::envelope_signed_message(*env));
    auto d = receiver_.receive(wire::encode_envelope(*env));
    EXPECT_FALSE(d.accepted);
    EXPECT_FALSE(d.sender && *d.sender == trio_.bob.public_key);
}

TEST_F(ReceiverTest, RejectsATamperedEnvelopeWithoutBurningItsCounter) {
    auto good = from(trio_.bob, 0, "genuine");
    auto tampered = test::flip_bit(good, good.size() - wire::signature_bytes - 1);  // last tag byte
    expect_rejected(receiver_.receive(tampered), "signature");
    auto d = receiver_.receive(good);
    EXPECT_TRUE(d.accepted) << d.reason;
    EXPECT_EQ(d.text, "genuine");
}

TEST_F(ReceiverTest, RejectsGarbageAndUnknownVersions) {
    expect_rejected(receiver_.receive(Bytes{1}), "malformed");
    expect_rejected(receiver_.receive(Bytes{1, 3, 3}), "type");
    auto bytes = from(trio_.bob, 0);
    bytes[0] = 2;
    expect_rejected(receiver_.receive(bytes), "version");
}

TEST_F(ReceiverTest, RejectsOurOwnSessionReflectedBack) {
    owned_[my_session_] = 0;  // we sent counter 0
    auto mine = test::seal(epoch0_.sender(trio_.alice, my_session_), 0, "me");
    expect_rejected(receiver_.receive(mine), "reflected");
}

// Session ids travel in clear: someone holding our key who reuses one of our
// session ids must still raise the alarm for counters we never sent.
TEST_F(ReceiverTest, WarnsWhenOurKeySignsBeyondWhatOurSessionSent) {
    owned_[my_session_] = 2;
    expect_rejected(receiver_.receive(test::seal(epoch0_.sender(trio_.alice, my_session_), 3, "not me")),
                    "elsewhere");
    owned_[alice_other_session_] = 0;
    expect_rejected(receiver_.receive(from(trio_.alice, 1, "not me either")), "elsewhere");
}

// Counters start again at 0 in every epoch: what a session sent in one epoch
// vouches for nothing in the next, or a thief with our key could take an old
// session id and a low counter into a new epoch and hide behind it.
TEST_F(ReceiverTest, WarnsWhenOurSessionSignsInAnEpochItDidNotSendIn) {
    owned_[alice_other_session_] = 5;  // sent counters 0..5 in epoch 0
    auto record = test::build(trio_.alice, test::successor_draft(epoch0_.record), secret1_);  // same roster
    epoch1_ = test::live_epoch(std::move(record), secret1_);
    receiver_.add_epoch(epoch1_.view());
    auto d = receiver_.receive(test::seal(epoch1_.sender(trio_.alice, alice_other_session_), 2, "not me"));
    expect_rejected(d, "elsewhere");
    EXPECT_FALSE(d.own);
    owned_record_ = epoch1_.hash;  // now it did send up to 5 there: ours
    owned_[alice_other_session_] = 5;
    auto ours = receiver_.receive(test::seal(epoch1_.sender(trio_.alice, alice_other_session_), 3, "me"));
    ASSERT_TRUE(ours.accepted) << ours.reason;
    EXPECT_TRUE(ours.own);
}

TEST_F(ReceiverTest, WarnsWhenOurKeySignsFromASessionWeDoNotOwn) {
    auto d = receiver_.receive(from(trio_.alice, 0, "who wrote this?"));
    expect_rejected(d, "elsewhere");
    EXPECT_FALSE(d.own);
}

TEST_F(ReceiverTest, AcceptsOurOwnOtherSession) {
    owned_[alice_other_session_] = 3;
    auto d = receiver_.receive(from(trio_.alice, 3, "from my other terminal"));
    ASSERT_TRUE(d.accepted) << d.reason;
    EXPECT_TRUE(d.own);
    EXPECT_EQ(d.missing_before, 0u) << "this process sent 0..2: no gap of our own";
    EXPECT_EQ(d.text, "from my other terminal");
    ASSERT_TRUE(d.sender);
    EXPECT_EQ(*d.sender, trio_.alice.public_key);
}

// The "elsewhere" alarm is for a message *signed* by our key (DESIGN.md, Receivers).
// Key ids travel in clear, so anyone (the relay first) can put ours in a header.
TEST_F(ReceiverTest, DoesNotRaiseTheKeyInUseAlarmForAnUnsignedForgery) {
    auto env = wire::decode_envelope(from(trio_.bob, 0)).envelope;
    ASSERT_TRUE(env);
    env->header.sender = crypto::key_id(trio_.alice.public_key);
    env->header.session = new_session();
    env->signature = {};  // no key needed to write this
    auto d = receiver_.receive(wire::encode_envelope(*env));
    EXPECT_FALSE(d.accepted);
    EXPECT_EQ(d.reason.find("elsewhere"), std::string::npos)
        << "a forgery without our key must not claim our key is in use elsewhere: " << d.reason;
}

TEST_F(ReceiverTest, RejectsARemovedMembersOldEpochMessage) {
    auto charlie_old = from(trio_.charlie, 0, "still here?");
    remove_charlie_at_epoch_1();
    EXPECT_EQ(receiver_.head_epoch(), 1u);
    expect_rejected(receiver_.receive(charlie_old), "removed");
}

TEST_F(ReceiverTest, AcceptsARemainingMembersOldEpochMessageDuringGrace) {
    auto bob_old = from(trio_.bob, 0, "sent before the rekey");
    remove_charlie_at_epoch_1();
    auto d = receiver_.receive(bob_old);
    EXPECT_TRUE(d.accepted) << d.reason;
}

TEST_F(ReceiverTest, AcceptsTheNewEpoch) {
    remove_charlie_at_epoch_1();
    auto d = receiver_.receive(test::seal(epoch1_.sender(trio_.bob, bob_session_), 0, "epoch one"));
    EXPECT_TRUE(d.accepted) << d.reason;
    EXPECT_EQ(d.header.epoch, 1u);
    // charlie cannot write in epoch 1 even if he had its key
    expect_rejected(receiver_.receive(test::seal(epoch1_.sender(trio_.charlie, charlie_session_), 0, "x")),
                    "not in the roster");
}

TEST_F(ReceiverTest, RejectsEpochZeroOnceEpochTwoExists) {
    auto bob_old = from(trio_.bob, 0);
    remove_charlie_at_epoch_1();
    add_epoch_2();
    EXPECT_EQ(receiver_.head_epoch(), 2u);
    expect_rejected(receiver_.receive(bob_old), "stale");
    EXPECT_TRUE(receiver_.receive(test::seal(epoch1_.sender(trio_.bob, bob_session_), 0, "grace")).accepted);
    EXPECT_TRUE(receiver_.receive(test::seal(epoch2_.sender(trio_.bob, bob_session_), 0, "head")).accepted);
}

TEST_F(ReceiverTest, RejectsAMessageForAnEpochNewerThanOurs) {
    remove_charlie_at_epoch_1();
    Receiver behind{trio_.room, trio_.alice.public_key, my_session_, store_,
                    [](const auto&, const auto&, std::uint64_t) { return false; }};
    behind.add_epoch(epoch0_.view());
    auto d = behind.receive(test::seal(epoch1_.sender(trio_.bob, bob_session_), 0, "from the future"));
    expect_rejected(d, "newer");
}

TEST_F(ReceiverTest, RejectsAnEnvelopeUnderTheWrongEpochKey) {
    // right header for epoch 0, but encrypted with another key by a member
    auto other = test::live_epoch(trio_.genesis(secret1_), secret1_);
    auto ctx = epoch0_.sender(trio_.bob, bob_session_);
    ctx.message_key = other.message_key.get();
    expect_rejected(receiver_.receive(test::seal(ctx, 0, "hi")), "ciphertext");
}

}  // namespace
}  // namespace parley::protocol
