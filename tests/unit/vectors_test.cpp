// Checks the committed protocol v1 test vectors (tests/vectors/v1.json, written
// by tests/vectors/make_vectors.cpp) against the code: every output is
// recomputed from the inputs. If this fails, the wire format or key schedule
// changed: that is a protocol version change, not a vector update.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "crypto/key_file.h"
#include "protocol/epoch.h"
#include "protocol/invite.h"
#include "protocol/message.h"
#include "store/history_cipher.h"

using namespace parley;

namespace {

class Vectors : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        crypto::init();
        std::ifstream in(std::string(PARLEY_VECTORS_DIR) + "/v1.json");
        ASSERT_TRUE(in) << "cannot open tests/vectors/v1.json";
        v_ = new nlohmann::json(nlohmann::json::parse(in));
    }
    static void TearDownTestSuite() { delete v_; }

    static const nlohmann::json& in() { return (*v_)["inputs"]; }
    static std::string out(const char* key) { return (*v_)["outputs"][key].get<std::string>(); }
    static Bytes hex(const nlohmann::json& j) {
        Bytes b;
        EXPECT_TRUE(from_hex(j.get<std::string>(), b));
        return b;
    }
    template <std::size_t N>
    static Array<N> arr(const nlohmann::json& j) {
        auto b = hex(j);
        Array<N> a{};
        EXPECT_EQ(b.size(), N);
        std::copy_n(b.begin(), std::min(N, b.size()), a.begin());
        return a;
    }
    static crypto::Identity identity(const char* key) {
        auto seed = hex(in()[key]);
        crypto::Identity id;
        EXPECT_EQ(crypto_sign_seed_keypair(id.public_key.data(), id.secret.data(), seed.data()), 0);
        return id;
    }
    static crypto::SymmetricKey room_secret() {
        auto pw_text = in()["password"].get<std::string>();
        crypto::SecretBuffer pw(pw_text.size());
        std::copy(pw_text.begin(), pw_text.end(), pw.data());
        wire::KdfParams params{in()["kdf_ops"].get<std::uint32_t>(), in()["kdf_mem_kib"].get<std::uint32_t>()};
        auto secret = protocol::derive_room_secret(pw, arr<wire::salt_bytes>(in()["salt"]), params);
        EXPECT_TRUE(secret.has_value());
        return std::move(*secret);
    }
    static crypto::EpochSecret epoch_secret() {
        auto b = hex(in()["epoch_secret"]);
        crypto::EpochSecret s;
        std::copy(b.begin(), b.end(), s.data());
        return s;
    }

    static nlohmann::json* v_;
};
nlohmann::json* Vectors::v_ = nullptr;

TEST_F(Vectors, IdentitiesAndNames) {
    auto alice = identity("alice_seed");
    EXPECT_EQ(to_hex(alice.public_key), out("alice_public_key"));
    EXPECT_EQ(to_hex(identity("bob_seed").public_key), out("bob_public_key"));
    EXPECT_EQ(to_hex(crypto::key_id(alice.public_key)), out("alice_key_id"));
    EXPECT_EQ(crypto::fingerprint(alice.public_key), out("alice_fingerprint"));
    EXPECT_EQ(to_hex(crypto::room_id(in()["room_name"].get<std::string>())), out("room_id"));
    std::vector<crypto::PublicKey> roster{alice.public_key, identity("bob_seed").public_key};
    std::sort(roster.begin(), roster.end());
    EXPECT_EQ(to_hex(crypto::roster_hash(roster)), out("roster_hash"));
}

TEST_F(Vectors, KeySchedule) {
    auto secret = room_secret();
    EXPECT_EQ(to_hex(ByteView(secret.data(), secret.size())), out("room_secret"));
    auto room = crypto::room_id(in()["room_name"].get<std::string>());
    auto es = epoch_secret();
    auto keys = protocol::derive_epoch_keys(secret, room, 0, wire::Hash{}, es);
    EXPECT_EQ(to_hex(ByteView(keys.message_key.data(), keys.message_key.size())), out("message_key"));
    EXPECT_EQ(to_hex(protocol::token_bytes(keys)), out("access_token"));
    EXPECT_EQ(to_hex(keys.token_hash), out("token_hash"));
    EXPECT_EQ(to_hex(protocol::epoch_commitment(room, 0, wire::Hash{}, es)), out("commitment"));
}

TEST_F(Vectors, GenesisRecord) {
    Bytes bytes;
    ASSERT_TRUE(from_hex(out("genesis_record"), bytes));
    auto decoded = wire::decode_record(bytes);
    ASSERT_TRUE(decoded.record) << wire::to_string(decoded.error);
    const auto& rec = *decoded.record;
    EXPECT_EQ(wire::encode_record(rec), bytes);
    EXPECT_EQ(to_hex(wire::record_hash(rec)), out("genesis_hash"));
    EXPECT_TRUE(wire::verify_record_signature(rec));
    // Ed25519 is deterministic: signing the same body gives the same signature.
    auto alice = identity("alice_seed");
    EXPECT_EQ(to_hex(crypto::sign(alice.secret, wire::record_signed_message(rec))), out("genesis_signature"));
    // Every field but the sealed boxes is recomputed from the inputs.
    EXPECT_EQ(to_hex(rec.salt), in()["salt"].get<std::string>());
    EXPECT_EQ(rec.created_at_ms, in()["created_at_ms"].get<std::uint64_t>());
    EXPECT_EQ(to_hex(rec.token_hash), out("token_hash"));
    EXPECT_EQ(to_hex(rec.commitment), out("commitment"));
    EXPECT_EQ(to_hex(rec.author), out("alice_public_key"));
    // Both members open their box to the vector's epoch secret.
    for (const char* who : {"alice_seed", "bob_seed"}) {
        auto opened = protocol::open_epoch_secret(identity(who), rec);
        ASSERT_TRUE(std::holds_alternative<crypto::EpochSecret>(opened)) << who;
        EXPECT_TRUE(std::get<crypto::EpochSecret>(opened).equals(epoch_secret())) << who;
    }
    auto h = wire::record_hash(rec);
    EXPECT_EQ(to_hex(crypto::room_code(h, h)), out("room_code"));
}

TEST_F(Vectors, Envelope) {
    auto alice = identity("alice_seed");
    auto room = crypto::room_id(in()["room_name"].get<std::string>());
    auto keys = protocol::derive_epoch_keys(room_secret(), room, 0, wire::Hash{}, epoch_secret());
    Bytes genesis_hash;
    ASSERT_TRUE(from_hex(out("genesis_hash"), genesis_hash));
    wire::Hash record_hash{};
    std::copy(genesis_hash.begin(), genesis_hash.end(), record_hash.begin());
    protocol::SenderContext ctx{&alice, crypto::key_id(alice.public_key), room, 0, record_hash,
                                arr<wire::session_id_bytes>(in()["session"]), &keys.message_key};
    auto envelope = protocol::seal_message(ctx, in()["counter"].get<std::uint64_t>(),
                                           in()["timestamp_ms"].get<std::uint64_t>(),
                                           arr<wire::nonce_bytes>(in()["nonce"]), in()["text"].get<std::string>());
    EXPECT_EQ(to_hex(envelope), out("envelope"));

    auto decoded = wire::decode_envelope(envelope);
    ASSERT_TRUE(decoded.envelope);
    auto opened = protocol::open_message(*decoded.envelope, alice.public_key, keys.message_key);
    ASSERT_TRUE(opened.text);
    EXPECT_EQ(*opened.text, in()["text"].get<std::string>());

    // §5.1: her closing sync, one counter on, under its own nonce.
    auto sync = protocol::seal_message(ctx, in()["counter"].get<std::uint64_t>() + 1,
                                       in()["timestamp_ms"].get<std::uint64_t>(), arr<wire::nonce_bytes>(in()["sync_nonce"]),
                                       protocol::encode_sync({protocol::SyncReason::leaving}), wire::EnvelopeType::sync);
    EXPECT_EQ(to_hex(sync), out("sync_envelope"));
    EXPECT_EQ(sync.size(), 502u) << "the cost PROTOCOL §5.1 gives: 162 header, 4 + 272 ciphertext, 64 signature";
    decoded = wire::decode_envelope(sync);
    ASSERT_TRUE(decoded.envelope);
    EXPECT_EQ(decoded.envelope->header.type, wire::EnvelopeType::sync);
    opened = protocol::open_message(*decoded.envelope, alice.public_key, keys.message_key);
    ASSERT_TRUE(opened.text);
    auto note = protocol::decode_sync(*opened.text);
    ASSERT_TRUE(note);
    EXPECT_EQ(note->reason, protocol::SyncReason::leaving);
}

}  // namespace

// tests/vectors/v1-rooms.json (make_vectors --rooms): epoch 1 on top of v1.json's
// genesis, the invite, the frames of a first join, and a history row.
namespace parley {
namespace {

class RoomVectors : public Vectors {
protected:
    static void SetUpTestSuite() {
        Vectors::SetUpTestSuite();
        std::ifstream in(std::string(PARLEY_VECTORS_DIR) + "/v1-rooms.json");
        ASSERT_TRUE(in) << "cannot open tests/vectors/v1-rooms.json";
        r_ = new nlohmann::json(nlohmann::json::parse(in));
    }
    static void TearDownTestSuite() {
        delete r_;
        Vectors::TearDownTestSuite();
    }
    static const nlohmann::json& rin() { return (*r_)["inputs"]; }
    static std::string rout(const char* key) { return (*r_)["outputs"][key].get<std::string>(); }
    static wire::Hash hash_of(const std::string& hex_text) {
        Bytes b;
        EXPECT_TRUE(from_hex(hex_text, b));
        wire::Hash h{};
        std::copy_n(b.begin(), std::min(b.size(), h.size()), h.begin());
        return h;
    }
    static wire::RoomId room() { return crypto::room_id(in()["room_name"].get<std::string>()); }
    static crypto::EpochSecret epoch1_secret() {
        auto b = hex(rin()["epoch1_secret"]);
        crypto::EpochSecret s;
        std::copy(b.begin(), b.end(), s.data());
        return s;
    }
    static Bytes bytes_of(const char* key) {
        Bytes b;
        EXPECT_TRUE(from_hex(rout(key), b));
        return b;
    }

    static nlohmann::json* r_;
};
nlohmann::json* RoomVectors::r_ = nullptr;

TEST_F(RoomVectors, EpochOneKeysAndRecord) {
    const auto genesis_hash = hash_of(out("genesis_hash"));
    auto keys = protocol::derive_epoch_keys(room_secret(), room(), 1, genesis_hash, epoch1_secret());
    EXPECT_EQ(to_hex(ByteView(keys.message_key.data(), keys.message_key.size())), rout("epoch1_message_key"));
    EXPECT_EQ(to_hex(protocol::token_bytes(keys)), rout("epoch1_access_token"));
    EXPECT_EQ(to_hex(keys.token_hash), rout("epoch1_token_hash"));
    EXPECT_EQ(to_hex(protocol::epoch_commitment(room(), 1, genesis_hash, epoch1_secret())), rout("epoch1_commitment"));

    const auto bytes = bytes_of("epoch1_record");
    auto decoded = wire::decode_record(bytes);
    ASSERT_TRUE(decoded.record) << wire::to_string(decoded.error);
    const auto& rec = *decoded.record;
    EXPECT_EQ(wire::encode_record(rec), bytes);
    EXPECT_EQ(to_hex(wire::record_hash(rec)), rout("epoch1_hash"));
    EXPECT_TRUE(wire::verify_record_signature(rec));
    EXPECT_EQ(to_hex(crypto::sign(identity("bob_seed").secret, wire::record_signed_message(rec))),
              rout("epoch1_signature"));
    EXPECT_EQ(rec.created_at_ms, rin()["epoch1_created_at_ms"].get<std::uint64_t>());
    EXPECT_EQ(to_hex(rec.token_hash), rout("epoch1_token_hash"));
    EXPECT_EQ(to_hex(rec.commitment), rout("epoch1_commitment"));
    auto genesis = wire::decode_record(hex(Vectors::v_->at("outputs")["genesis_record"])).record;
    ASSERT_TRUE(genesis);
    EXPECT_FALSE(wire::check_successor(*genesis, rec)) << "epoch 1 does not follow the genesis";
    for (const char* who : {"alice_seed", "bob_seed"}) {
        auto opened = protocol::open_epoch_secret(identity(who), rec);
        ASSERT_TRUE(std::holds_alternative<crypto::EpochSecret>(opened)) << who;
        EXPECT_TRUE(std::get<crypto::EpochSecret>(opened).equals(epoch1_secret())) << who;
    }
    EXPECT_EQ(to_hex(crypto::room_code(genesis_hash, wire::record_hash(rec))), rout("room_code_epoch1"));
}

TEST_F(RoomVectors, InviteAndFrames) {
    const auto genesis_hash = hash_of(out("genesis_hash"));
    const std::string server = rin()["invite_server"].get<std::string>();
    const std::string name = rin()["invite_name"].get<std::string>();
    EXPECT_EQ(protocol::format_invite({name, room(), genesis_hash, server}), rout("invite"));
    auto parsed = protocol::parse_invite(rout("invite"));
    ASSERT_TRUE(std::holds_alternative<protocol::Invite>(parsed));
    EXPECT_EQ(std::get<protocol::Invite>(parsed).genesis, genesis_hash);

    const auto genesis_bytes = hex(Vectors::v_->at("outputs")["genesis_record"]);
    const auto epoch1_bytes = bytes_of("epoch1_record");
    const auto envelope = hex(Vectors::v_->at("outputs")["envelope"]);
    auto keys0 = protocol::derive_epoch_keys(room_secret(), room(), 0, wire::Hash{}, epoch_secret());
    auto keys1 = protocol::derive_epoch_keys(room_secret(), room(), 1, genesis_hash, epoch1_secret());
    const auto epoch1_hash = hash_of(rout("epoch1_hash"));
    const std::vector<std::pair<const char*, wire::Frame>> frames{
        {"frame_get_chain", wire::GetChain{1, room(), genesis_hash, {}}},
        {"frame_get_chain_after_genesis", wire::GetChain{2, room(), genesis_hash, genesis_hash}},
        {"frame_chain", wire::Chain{1, room(), genesis_hash, true, {genesis_bytes, epoch1_bytes}}},
        {"frame_publish_epoch1", wire::Publish{3, room(), protocol::token_bytes(keys0), epoch1_bytes}},
        {"frame_join", wire::Join{4, room(), genesis_hash, protocol::token_bytes(keys1), 0}},
        {"frame_joined", wire::Joined{4, 1, epoch1_hash, 2, 1}},
        {"frame_send", wire::Send{5, room(), genesis_hash, envelope}},
        {"frame_resend", wire::Send{5, room(), genesis_hash, envelope, true}},
        {"frame_deliver", wire::Deliver{room(), genesis_hash, 1, envelope}},
        {"frame_new_head", wire::NewHead{room(), genesis_hash, 2, epoch1_bytes}},
        {"frame_error_quota", wire::Error{3, wire::RelayError::quota}},
    };
    for (const auto& [key, frame] : frames) {
        EXPECT_EQ(to_hex(wire::encode_frame(frame)), rout(key)) << key;
        auto decoded = wire::decode_frame(bytes_of(key));
        ASSERT_TRUE(decoded.frame) << key;
        EXPECT_EQ(wire::encode_frame(*decoded.frame), bytes_of(key)) << key;
    }
}

// The history key as PROTOCOL.md §8 writes it, its check value, and a row.
TEST_F(RoomVectors, HistoryRow) {
    auto alice = identity("alice_seed");
    const auto secret = room_secret();
    crypto::SymmetricKey key;
    const std::string label = "parley/v1/local/room-history-key";
    crypto_generichash_state st;
    crypto_generichash_init(&st, alice.secret.data(), crypto_sign_SEEDBYTES, key.size());
    crypto_generichash_update(&st, as_bytes(label).data(), label.size());
    const auto r = room();
    crypto_generichash_update(&st, r.data(), r.size());
    crypto_generichash_update(&st, secret.data(), secret.size());
    crypto_generichash_final(&st, key.data(), key.size());
    EXPECT_EQ(to_hex(ByteView(key.data(), key.size())), rout("history_key"));
    wire::Hash check{};
    const std::string check_label = "parley/v1/local/history-check";
    crypto_generichash(check.data(), check.size(), as_bytes(check_label).data(), check_label.size(), key.data(),
                       key.size());
    const store::HistoryCipher cipher(alice, r, secret);
    EXPECT_EQ(to_hex(cipher.check_value()), rout("history_check"));
    EXPECT_EQ(to_hex(check), rout("history_check"));

    const store::HistoryEntry entry{rin()["history_seq"].get<std::uint64_t>(), identity("bob_seed").public_key,
                                    rin()["history_epoch"].get<std::uint64_t>(),
                                    rin()["history_counter"].get<std::uint64_t>(),
                                    rin()["history_timestamp_ms"].get<std::uint64_t>(), false,
                                    rin()["history_text"].get<std::string>()};
    EXPECT_EQ(to_hex(cipher.seal(r, entry, arr<wire::nonce_bytes>(rin()["history_nonce"]))), rout("history_row"));
    auto opened = cipher.open(r, entry.seq, bytes_of("history_row"));
    ASSERT_TRUE(opened);
    EXPECT_EQ(opened->text, entry.text);
    EXPECT_EQ(opened->sender, entry.sender);
    EXPECT_FALSE(cipher.open(r, entry.seq + 1, bytes_of("history_row"))) << "a row moved to another number opened";
}

}  // namespace
}  // namespace parley
