// Checks the committed protocol v1 test vectors (tests/vectors/v1.json, written
// by tests/vectors/make_vectors.cpp) against the code: every output is
// recomputed from the inputs. If this fails, the wire format or key schedule
// changed: that is a protocol version change, not a vector update.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "crypto/key_file.h"
#include "protocol/epoch.h"
#include "protocol/message.h"

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
}

}  // namespace
