// lib/protocol/sender_chain.h: version 2's key schedule and sender chains
// (docs/PROTOCOL.md §10.2), against its vectors (tests/vectors/v2.json) and for
// what it promises: the same keys on both sides, out of order within bounds, no
// key twice, nothing derived for a forged far counter, and forward secrecy (a
// chain captured at position k gives no key of a position before k).
#include "protocol/sender_chain.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace parley::protocol::v2 {
namespace {

template <std::size_t N>
crypto::Secret<N> secret_of(const std::string& hex) {
    Bytes b;
    EXPECT_TRUE(from_hex(hex, b));
    crypto::Secret<N> s;
    EXPECT_EQ(b.size(), N);
    std::copy_n(b.begin(), std::min(N, b.size()), s.data());
    return s;
}

template <std::size_t N>
Array<N> array_of(const std::string& hex) {
    Bytes b;
    EXPECT_TRUE(from_hex(hex, b));
    Array<N> a{};
    std::copy_n(b.begin(), std::min(N, b.size()), a.begin());
    return a;
}

std::string hex(const SymmetricKey& k) { return to_hex(ByteView(k.data(), k.size())); }

SymmetricKey key_of(std::variant<SymmetricKey, ReceiverChain::Error> r) {
    EXPECT_TRUE(std::holds_alternative<SymmetricKey>(r));
    return std::holds_alternative<SymmetricKey>(r) ? std::move(std::get<SymmetricKey>(r)) : SymmetricKey{};
}

class SenderChainTest : public ::testing::Test {
protected:
    void SetUp() override { crypto::init(); }
    // A chain key, different per seed.
    static SymmetricKey start(std::uint8_t seed) {
        SymmetricKey k;
        for (std::size_t i = 0; i < k.size(); ++i) k.data()[i] = static_cast<std::uint8_t>(seed + i);
        return k;
    }
};

TEST_F(SenderChainTest, MatchesTheVersion2Vectors) {
    std::ifstream in(std::string(PARLEY_VECTORS_DIR) + "/v2.json");
    ASSERT_TRUE(in) << "cannot open tests/vectors/v2.json";
    const auto v = nlohmann::json::parse(in);
    const auto& i = v["inputs"];
    const auto& o = v["outputs"];
    const auto room = array_of<wire::hash_bytes>(i["room_id"]);
    const auto room_secret = secret_of<32>(i["room_secret"]);
    const SymmetricKey zero;
    const auto joiner0 = joiner_secret(zero, room, 0, secret_of<32>(i["epoch0_secret"]));
    EXPECT_EQ(hex(joiner0), o["epoch0_joiner_secret"]);
    const auto epoch0 = derive_epoch(room_secret, room, 0, wire::Hash{}, joiner0);
    EXPECT_EQ(hex(epoch0.init_secret), o["epoch0_init_secret"]);
    const auto joiner1 = joiner_secret(epoch0.init_secret, room, 1, secret_of<32>(i["epoch1_secret"]));
    EXPECT_EQ(hex(joiner1), o["epoch1_joiner_secret"]);
    const auto epoch1 =
        derive_epoch(room_secret, room, 1, array_of<wire::hash_bytes>(i["epoch1_previous_hash"]), joiner1);
    EXPECT_EQ(hex(epoch1.init_secret), o["epoch1_init_secret"]);
    EXPECT_EQ(hex(epoch1.sender_root), o["epoch1_sender_root"]);
    EXPECT_EQ(to_hex(epoch1.token_hash), o["epoch1_token_hash"]);
    auto chain0 = chain_start(epoch1.sender_root, room, 1, array_of<wire::public_key_bytes>(i["device_key"]));
    EXPECT_EQ(hex(chain0), o["epoch1_chain_key_0"]);
    SenderChain chain(std::move(chain0));
    for (std::size_t n = 0; n < 4; ++n) {
        auto step = chain.next();
        EXPECT_EQ(step.position, n);
        EXPECT_EQ(hex(step.message_key), o["epoch1_message_keys_0_to_3"][n]);
    }
    EXPECT_EQ(hex(chain.chain_key()), o["epoch1_chain_key_4"]);
}

TEST_F(SenderChainTest, TheEpochKeyNeedsThePreviousInitSecret) {
    // A thief who opens epoch 1's box (the epoch secret) but lacks epoch 0's
    // init secret (erased) gets other chains: nothing it derives opens a message.
    const wire::RoomId room{1};
    const auto room_secret = start(9);
    const auto secret1 = start(7);
    const auto real_init = start(3);
    const SymmetricKey guessed_init;  // all zero
    const auto real = derive_epoch(room_secret, room, 1, wire::Hash{}, joiner_secret(real_init, room, 1, secret1));
    const auto thief = derive_epoch(room_secret, room, 1, wire::Hash{}, joiner_secret(guessed_init, room, 1, secret1));
    EXPECT_FALSE(real.sender_root.equals(thief.sender_root));
    EXPECT_NE(real.token_hash, thief.token_hash);
}

TEST_F(SenderChainTest, EveryInputOfTheJoinerSecretCounts) {
    const wire::RoomId room{1}, other_room{2};
    const auto init = start(3), other_init = start(4);
    const auto secret = start(5), other_secret = start(6);
    const auto base = joiner_secret(init, room, 1, secret);
    EXPECT_FALSE(base.equals(joiner_secret(other_init, room, 1, secret)));
    EXPECT_FALSE(base.equals(joiner_secret(init, other_room, 1, secret)));
    EXPECT_FALSE(base.equals(joiner_secret(init, room, 2, secret)));
    EXPECT_FALSE(base.equals(joiner_secret(init, room, 1, other_secret)));
}

TEST_F(SenderChainTest, EachDeviceHasItsOwnChain) {
    const wire::RoomId room{1};
    const auto root = start(1);
    const crypto::PublicKey alice{1}, bob{2};
    EXPECT_FALSE(chain_start(root, room, 1, alice).equals(chain_start(root, room, 1, bob)));
    EXPECT_FALSE(chain_start(root, room, 1, alice).equals(chain_start(root, room, 2, alice)));
}

TEST_F(SenderChainTest, SenderAndReceiverAgreeOnEveryKeyInOrder) {
    SenderChain send(start(1));
    ReceiverChain receive(start(1));
    std::set<std::string> seen;
    for (std::uint64_t n = 0; n < 100; ++n) {
        auto step = send.next();
        ASSERT_EQ(step.position, n);
        const auto key = key_of(receive.take(n));
        EXPECT_TRUE(key.equals(step.message_key)) << "position " << n;
        EXPECT_TRUE(seen.insert(hex(key)).second) << "a message key came twice, at " << n;
    }
    EXPECT_EQ(receive.skipped(), 0u);
}

TEST_F(SenderChainTest, OutOfOrderPositionsOpenAndEachOnlyOnce) {
    SenderChain send(start(2));
    std::vector<SymmetricKey> keys;
    for (int n = 0; n < 10; ++n) keys.push_back(send.next().message_key);
    ReceiverChain receive(start(2));
    EXPECT_TRUE(key_of(receive.take(7)).equals(keys[7]));
    EXPECT_EQ(receive.skipped(), 7u);
    EXPECT_TRUE(key_of(receive.take(2)).equals(keys[2]));
    EXPECT_TRUE(key_of(receive.take(0)).equals(keys[0]));
    EXPECT_TRUE(key_of(receive.take(8)).equals(keys[8]));
    // Used: a replay finds no key.
    for (std::uint64_t n : {0u, 2u, 7u, 8u}) {
        auto again = receive.take(n);
        ASSERT_TRUE(std::holds_alternative<ReceiverChain::Error>(again)) << "position " << n << " opened twice";
        EXPECT_EQ(std::get<ReceiverChain::Error>(again), ReceiverChain::Error::no_key);
    }
    EXPECT_EQ(receive.skipped(), 5u);  // 1, 3, 4, 5, 6
}

TEST_F(SenderChainTest, SkippedKeysAreBoundedOldestFirst) {
    SenderChain send(start(3));
    std::vector<SymmetricKey> keys;
    const std::uint64_t far = ReceiverChain::max_skipped + 44;
    for (std::uint64_t n = 0; n <= far; ++n) keys.push_back(send.next().message_key);
    ReceiverChain receive(start(3));
    EXPECT_TRUE(key_of(receive.take(far)).equals(keys[far]));
    EXPECT_EQ(receive.skipped(), ReceiverChain::max_skipped);
    // The 44 oldest went; the rest still open.
    auto dropped = receive.take(43);
    ASSERT_TRUE(std::holds_alternative<ReceiverChain::Error>(dropped));
    EXPECT_EQ(std::get<ReceiverChain::Error>(dropped), ReceiverChain::Error::no_key);
    EXPECT_TRUE(key_of(receive.take(44)).equals(keys[44]));
    EXPECT_TRUE(key_of(receive.take(far - 1)).equals(keys[far - 1]));
}

TEST_F(SenderChainTest, AForgedFarPositionDerivesNothing) {
    ReceiverChain receive(start(4));
    auto far = receive.take(ReceiverChain::max_jump + 1);
    ASSERT_TRUE(std::holds_alternative<ReceiverChain::Error>(far));
    EXPECT_EQ(std::get<ReceiverChain::Error>(far), ReceiverChain::Error::too_far_ahead);
    EXPECT_EQ(receive.next(), 0u);
    EXPECT_EQ(receive.skipped(), 0u);
    auto huge = receive.take(~std::uint64_t{0});
    ASSERT_TRUE(std::holds_alternative<ReceiverChain::Error>(huge));
    // The chain is untouched: position 0 still opens with the sender's key.
    SenderChain send(start(4));
    EXPECT_TRUE(key_of(receive.take(0)).equals(send.next().message_key));
}

TEST_F(SenderChainTest, AChainCapturedAtPositionKGivesNoEarlierKey) {
    // Forward secrecy inside an epoch: what a device keeps at position k (the
    // chain key there) derives the keys of k and after, and none before.
    constexpr std::uint64_t k = 50;
    SenderChain send(start(5));
    std::set<std::string> earlier;
    for (std::uint64_t n = 0; n < k; ++n) earlier.insert(hex(send.next().message_key));
    SymmetricKey captured;
    std::copy_n(send.chain_key().data(), captured.size(), captured.data());
    ReceiverChain thief(std::move(captured), k);
    for (std::uint64_t n = 0; n < k; ++n) {
        auto r = thief.take(n);
        ASSERT_TRUE(std::holds_alternative<ReceiverChain::Error>(r)) << "the captured chain opened position " << n;
    }
    for (std::uint64_t n = k; n < k + 1000; ++n) {
        const auto key = key_of(thief.take(n));
        EXPECT_EQ(earlier.count(hex(key)), 0u) << "a key after the capture equals one before it, at " << n;
        if (n == k) {
            EXPECT_TRUE(key.equals(send.next().message_key));  // and the capture does open what follows
        }
    }
}

}  // namespace
}  // namespace parley::protocol::v2
