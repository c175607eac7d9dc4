// RelayState's admission (lib/relay/admission.h): only listed founders create
// rooms on a closed relay, new rooms are counted per key and per address over
// an hour, a room's bytes are capped; and the founders file's parser.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

#include "relay_state_fixture.h"

namespace parley::relay {
namespace {

using namespace parley::relay_test;
using namespace parley::relay::state_test;
using wire::RelayError;

class AdmissionStateTest : public RelayStateTest {
protected:
    std::unique_ptr<RelayState> make_state(Quotas quotas, std::optional<std::set<PublicKeyBytes>> founders) {
        admission_ = std::make_shared<Admission>(quotas, std::move(founders));
        return std::make_unique<RelayState>(std::make_unique<MemoryRelayStore>(), limits(), GroupCommitOptions{},
                                            admission_);
    }
    wire::Frame genesis_of(const TestMember& author, const std::string& room) {
        return wire::Publish{5, make_room(room), {}, wire::encode_record(make_genesis(make_room(room), {author}, author, token0_))};
    }
    std::shared_ptr<Admission> admission_;
};

TEST_F(AdmissionStateTest, OnlyListedFoundersCreateRoomsUntilTheListChanges) {
    auto state = make_state({}, std::set<PublicKeyBytes>{alice_.public_key});
    FakeConnection c;
    c.attach(*state);
    state->handle(c, wire::encode_frame(genesis_of(bob_, "bob's")));
    EXPECT_EQ(c.take<wire::Error>().code, RelayError::not_founder);
    state->handle(c, wire::encode_frame(genesis_of(alice_, "alice's")));
    EXPECT_EQ(c.take<wire::Published>().request_id, 5u);
    EXPECT_EQ(state->metrics().founder_refusals.load(), 1u);
    admission_->set_founders({alice_.public_key, bob_.public_key});  // SIGHUP
    state->handle(c, wire::encode_frame(genesis_of(bob_, "bob's")));
    EXPECT_EQ(c.take<wire::Published>().request_id, 5u);
}

TEST_F(AdmissionStateTest, NewRoomsPerKeyAndPerAddressAreCountedOverAnHour) {
    Quotas quotas;
    quotas.rooms_per_founder_per_hour = 2;
    quotas.rooms_per_address_per_hour = 3;
    auto state = make_state(quotas, std::nullopt);
    FakeConnection c;
    c.attach(*state);
    for (int i = 0; i < 2; ++i) {
        state->handle(c, wire::encode_frame(genesis_of(alice_, "a" + std::to_string(i))));
        ASSERT_EQ(c.take<wire::Published>().request_id, 5u);
    }
    state->handle(c, wire::encode_frame(genesis_of(alice_, "a2")));
    EXPECT_EQ(c.take<wire::Error>().code, RelayError::quota) << "a third room by one key";
    state->handle(c, wire::encode_frame(genesis_of(bob_, "b0")));
    EXPECT_EQ(c.take<wire::Published>().request_id, 5u) << "another key, same address";
    state->handle(c, wire::encode_frame(genesis_of(bob_, "b1")));
    EXPECT_EQ(c.take<wire::Error>().code, RelayError::quota) << "a fourth room from one address";
    // An hour later both count from zero.
    const auto later = Admission::Clock::now() + std::chrono::minutes(61);
    EXPECT_FALSE(admission_->may_create(alice_.public_key, {}, later));
}

// SIGHUP's quotas hold from the next request on, for new rooms and for the
// records of a room (ChainBook's copy) alike.
TEST_F(AdmissionStateTest, ReloadedQuotasHoldFromTheNextRequest) {
    Quotas quotas;
    quotas.rooms_per_founder_per_hour = 1;
    auto state = make_state(quotas, std::nullopt);
    FakeConnection c;
    c.attach(*state);
    state->handle(c, wire::encode_frame(genesis_of(alice_, "a0")));
    ASSERT_EQ(c.take<wire::Published>().request_id, 5u);
    state->handle(c, wire::encode_frame(genesis_of(alice_, "a1")));
    EXPECT_EQ(c.take<wire::Error>().code, RelayError::quota);
    quotas.rooms_per_founder_per_hour = 2;
    state->set_quotas(quotas);
    EXPECT_EQ(admission_->quotas().rooms_per_founder_per_hour, 2u);
    state->handle(c, wire::encode_frame(genesis_of(alice_, "a1")));
    EXPECT_EQ(c.take<wire::Published>().request_id, 5u) << "the raised quota admits the second room";
    quotas.max_total_bytes = 1;  // below what is stored: nothing new fits
    state->set_quotas(quotas);
    state->handle(c, wire::encode_frame(genesis_of(bob_, "b0")));
    EXPECT_EQ(c.take<wire::Error>().code, RelayError::quota) << "the lowered total holds for the chain book too";
}

// A room's bytes are capped: its sender gets Error quota, nothing is stored,
// and another room goes on as before.
TEST_F(AdmissionStateTest, ARoomOverItsByteQuotaRefusesSendsAndOthersGoOn) {
    Quotas quotas;
    quotas.max_room_bytes = 4096;
    auto state = make_state(quotas, std::nullopt);
    FakeConnection a;
    a.attach(*state);
    std::vector<wire::Hash> geneses;
    for (const char* name : {"full", "other"}) {
        state->handle(a, wire::encode_frame(genesis_of(alice_, name)));
        geneses.push_back(a.take<wire::Published>().record_hash);
        state->handle(a, wire::encode_frame(wire::Join{2, make_room(name), geneses.back(), token0_}));
        a.take<wire::Joined>();
    }
    std::size_t accepted = 0;
    for (std::uint64_t i = 0; i < 10; ++i) {
        state->handle(a, wire::encode_frame(wire::Send{i, make_room("full"), geneses[0], Bytes(1000, 1)}));
        const auto frame = wire::decode_frame(*(a.wait_for(1), a.at(0)));
        a.clear();
        ASSERT_TRUE(frame.frame);
        if (std::holds_alternative<wire::Ack>(*frame.frame)) {
            ++accepted;
        } else {
            ASSERT_TRUE(std::holds_alternative<wire::Error>(*frame.frame));
            EXPECT_EQ(std::get<wire::Error>(*frame.frame).code, RelayError::quota);
        }
    }
    const std::size_t genesis_bytes = wire::encode_record(make_genesis(make_room("full"), {alice_}, alice_, token0_)).size();
    EXPECT_EQ(accepted, (4096 - genesis_bytes) / 1000);
    EXPECT_GE(state->metrics().quota_refusals.load(), 1u);
    state->handle(a, wire::encode_frame(wire::Send{50, make_room("other"), geneses[1], Bytes(1000, 1)}));
    EXPECT_EQ(a.take<wire::Ack>().request_id, 50u);
}

TEST(Founders, ReadsPemBlocksAndHexLinesAndNamesTheBadLine) {
    const std::string pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAfGFQnFap/swd6URvmuhD4M4ZFHTXGZB+0j5U7kSzqJE=\n-----END PUBLIC KEY-----\n";
    auto keys = parse_founders("# the group\n\n" + pem +
                                   "9f00fd979da1a13cb1c9c7fcfaf7e92f6f02d1831699d9f5fdc108546bc84825\n",
                               "founders.pem");
    ASSERT_EQ(keys.size(), 2u);
    EXPECT_EQ(to_hex(*keys.begin()).substr(0, 8), "7c61509c");  // alice's test-vector key
    try {
        (void)parse_founders("# ok\nnot a key\n", "f");
        FAIL() << "a line that is no key was accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "f:2: expected a PEM public key or 64 hex digits");
    }
    EXPECT_THROW((void)parse_founders("-----BEGIN PUBLIC KEY-----\nMCow\n", "f"), std::runtime_error);
    // An RSA key is no Ed25519 key.
    EXPECT_THROW((void)parse_founders("-----BEGIN PUBLIC KEY-----\nMFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAK8=\n-----END PUBLIC KEY-----\n", "f"),
                 std::runtime_error);
}

}  // namespace
}  // namespace parley::relay
