// Envelopes of version 2 (docs/PROTOCOL.md §10.4): sealed by a device with the
// key of its sender chain's position, signed by the device key under version
// 2's label; syncs with reasons 3 and 4; a key-update carrying an update key
// entry. What a captured chain key opens, and what it does not.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "protocol/device.h"
#include "protocol/message.h"
#include "protocol/sender_chain.h"
#include "test_support.h"

namespace parley::protocol::v2 {
namespace {

class EnvelopeV2Test : public ::testing::Test {
protected:
    // What laptop seals at its chain's next position.
    Bytes seal(SenderChain& chain, std::string_view plaintext, wire::EnvelopeType type = wire::EnvelopeType::text) {
        auto step = chain.next();
        SenderContext ctx{&laptop_, crypto::key_id(laptop_.public_key), room_, 1, record_hash_, session_, &step.message_key,
                          2};
        return seal_message(ctx, step.position, 1'796'299'200'000, crypto::random_array<wire::nonce_bytes>(), plaintext,
                            type);
    }
    static wire::Envelope decode(const Bytes& bytes) {
        auto decoded = wire::decode_envelope(bytes);
        if (!decoded.envelope) throw std::runtime_error(wire::to_string(decoded.error));
        return *decoded.envelope;
    }
    // Opens with the receiver chain's key for the envelope's position.
    std::optional<std::string> open(ReceiverChain& chain, const Bytes& bytes) {
        const auto env = decode(bytes);
        auto key = chain.take(env.header.counter);
        if (!std::holds_alternative<SymmetricKey>(key)) return std::nullopt;
        return open_message(env, laptop_.public_key, std::get<SymmetricKey>(key)).text;
    }

    crypto::Identity alice_ = test::new_identity();
    crypto::Identity laptop_ = test::new_identity();
    wire::RoomId room_ = crypto::room_id("v2-envelopes");
    wire::Hash record_hash_ = crypto::random_array<wire::hash_bytes>();
    wire::SessionId session_ = crypto::random_array<wire::session_id_bytes>();
    SymmetricKey root_ = [] {
        SymmetricKey k;
        crypto::random_bytes(k.mutable_bytes());
        return k;
    }();
    SymmetricKey start() const { return chain_start(root_, room_, 1, laptop_.public_key); }
};

TEST_F(EnvelopeV2Test, ADeviceSealsAlongItsChainAndAReaderOpensInAnyOrder) {
    SenderChain sender(start());
    std::vector<Bytes> sent;
    for (int i = 0; i < 4; ++i) sent.push_back(seal(sender, "message " + std::to_string(i)));
    for (int i = 0; i < 4; ++i) {
        const auto h = decode(sent[i]).header;
        EXPECT_EQ(h.version, 2);
        EXPECT_EQ(h.counter, static_cast<std::uint64_t>(i));
        EXPECT_EQ(h.sender, crypto::key_id(laptop_.public_key));  // the device's key id, not the member's
    }
    ReceiverChain reader(start());
    EXPECT_EQ(open(reader, sent[2]), "message 2");
    EXPECT_EQ(open(reader, sent[0]), "message 0");
    EXPECT_EQ(open(reader, sent[3]), "message 3");
    EXPECT_EQ(open(reader, sent[1]), "message 1");
    EXPECT_EQ(open(reader, sent[1]), std::nullopt) << "a used key is gone: the replay finds none";
}

TEST_F(EnvelopeV2Test, OnlyTheDeviceKeyUnderVersion2sLabelVerifies) {
    SenderChain sender(start());
    const auto bytes = seal(sender, "signed by laptop");
    const auto env = decode(bytes);
    ReceiverChain reader(start());
    auto message_key = std::get<SymmetricKey>(reader.take(0));
    EXPECT_TRUE(open_message(env, laptop_.public_key, message_key).text);
    auto by_member = open_message(env, alice_.public_key, message_key);
    EXPECT_FALSE(by_member.text);
    EXPECT_EQ(by_member.error, OpenMessageError::bad_signature);
    // The same bytes called version 1: the signature was made under version 2's label.
    auto as_v1 = bytes;
    as_v1[0] = 1;
    auto relabelled = wire::decode_envelope(as_v1);
    ASSERT_TRUE(relabelled.envelope);
    EXPECT_EQ(open_message(*relabelled.envelope, laptop_.public_key, message_key).error,
              OpenMessageError::bad_signature);
}

// §10.2: a thief of the state after message k holds chain key k + 1: it opens
// what comes later (until the next epoch or rotation), not messages 0..k.
TEST_F(EnvelopeV2Test, AChainKeyCapturedAfterAMessageDoesNotOpenIt) {
    SenderChain sender(start());
    const auto first = seal(sender, "before the theft");
    SymmetricKey stolen;
    std::copy_n(sender.chain_key().data(), stolen.size(), stolen.data());  // what the state file keeps now
    const auto second = seal(sender, "after the theft");
    ReceiverChain thief(std::move(stolen), sender.position() - 1);
    EXPECT_EQ(open(thief, first), std::nullopt);
    EXPECT_EQ(open(thief, second), "after the theft");
}

TEST_F(EnvelopeV2Test, SyncsOfVersion2NameTheEpochBefore) {
    SyncNote first{SyncReason::first_of_epoch, crypto::random_array<wire::hash_bytes>(), 17};
    const auto plaintext = encode_sync(first);
    ASSERT_EQ(plaintext.size(), sync_note_bytes);
    EXPECT_EQ(decode_sync(plaintext, 2), first);
    EXPECT_EQ(decode_sync(plaintext, 1), std::nullopt) << "reason 3 is version 2's";
    EXPECT_EQ(decode_sync(encode_sync({SyncReason::locked_out}), 2), SyncNote{SyncReason::locked_out});
    EXPECT_EQ(decode_sync(encode_sync({SyncReason::locked_out}), 1), std::nullopt);
    // Only reason 3 carries the epoch before.
    SyncNote leaving_with_fields{SyncReason::leaving, first.previous_record, 0};
    EXPECT_EQ(decode_sync(encode_sync(leaving_with_fields), 2), std::nullopt);
    EXPECT_EQ(decode_sync(encode_sync({SyncReason::leaving}), 2), SyncNote{SyncReason::leaving});
    EXPECT_EQ(decode_sync(std::string(sync_note_bytes, '\0'), 2), std::nullopt) << "no reason 0";
    EXPECT_EQ(decode_sync(plaintext.substr(1), 2), std::nullopt);

    SenderChain sender(start());
    ReceiverChain reader(start());
    auto opened = open(reader, seal(sender, plaintext, wire::EnvelopeType::sync));
    ASSERT_TRUE(opened);
    EXPECT_EQ(decode_sync(*opened, 2), first);
}

TEST_F(EnvelopeV2Test, AKeyUpdateCarriesTheDevicesSignedEntry) {
    const auto pair = generate_update_key();
    const auto entry = sign_update_key(laptop_, room_, pair.public_key, 2);
    const auto bytes = encode_update_key_entry(entry);
    SenderChain sender(start());
    ReceiverChain reader(start());
    const auto sealed = seal(sender, std::string(bytes.begin(), bytes.end()), wire::EnvelopeType::key_update);
    EXPECT_EQ(decode(sealed).header.type, wire::EnvelopeType::key_update);
    auto opened = open(reader, sealed);
    ASSERT_TRUE(opened);
    auto back = decode_update_key_entry(as_bytes(*opened));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, entry);
    EXPECT_TRUE(verify_update_key_entry(room_, *back));
    EXPECT_EQ(back->device, laptop_.public_key);
}

// tests/vectors/v2.json: laptop's envelope at position 0 of epoch 1 verifies
// with laptop's device key and opens with message key 0 of the vectors' chain
// (check_v2.py rebuilds its header from the text); the sync names the genesis.
TEST(EnvelopeV2Vectors, TheVectorsEnvelopeOpensAndSealsAgain) {
    crypto::init();
    std::ifstream in(std::string(PARLEY_VECTORS_DIR) + "/v2.json");
    ASSERT_TRUE(in) << "cannot open tests/vectors/v2.json";
    const auto v = nlohmann::json::parse(in);
    const auto& i = v["inputs"];
    const auto& o = v["outputs"];
    auto bytes = [](const nlohmann::json& j) {
        Bytes b;
        EXPECT_TRUE(from_hex(j.get<std::string>(), b));
        return b;
    };
    auto array = [&]<std::size_t N>(const nlohmann::json& j, std::integral_constant<std::size_t, N>) {
        auto b = bytes(j);
        Array<N> a{};
        EXPECT_EQ(b.size(), N);
        std::copy_n(b.begin(), std::min(N, b.size()), a.begin());
        return a;
    };
    const auto envelope_bytes = bytes(o["envelope_epoch1_laptop_0"]);
    const auto decoded = wire::decode_envelope(envelope_bytes);
    ASSERT_TRUE(decoded.envelope);
    const auto device = array(i["device_key"], std::integral_constant<std::size_t, 32>{});
    SymmetricKey key0;
    const auto key0_bytes = bytes(o["epoch1_message_keys_0_to_3"][0]);
    std::copy(key0_bytes.begin(), key0_bytes.end(), key0.data());
    auto opened = open_message(*decoded.envelope, device, key0);
    ASSERT_TRUE(opened.text) << to_string(opened.error);
    EXPECT_EQ(*opened.text, i["envelope_text"].get<std::string>());
    EXPECT_EQ(decoded.envelope->header.version, 2);
    EXPECT_EQ(decoded.envelope->header.sender, crypto::key_id(device));

    const auto sync = bytes(o["sync_first_of_epoch_plaintext"]);
    auto note = decode_sync(std::string(sync.begin(), sync.end()), 2);
    ASSERT_TRUE(note);
    EXPECT_EQ(note->reason, SyncReason::first_of_epoch);
    EXPECT_EQ(to_hex(note->previous_record), o["record_genesis_hash"]);
    EXPECT_EQ(note->previous_positions, i["sync_positions"].get<std::uint64_t>());
}

}  // namespace
}  // namespace parley::protocol::v2
