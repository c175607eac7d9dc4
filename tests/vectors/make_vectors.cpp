// Writes tests/vectors/v1.json: protocol v1 test vectors (docs/PROTOCOL.md §9).
//
// Every input comes from randombytes_buf_deterministic under a fixed seed, so
// running this again gives the same inputs; the outputs are what the library
// computes from them. vectors_test.cpp recomputes every output and compares.
// Sealed boxes are the one randomised part (crypto_box_seal's ephemeral key):
// the record is stored whole, and the test checks it decodes, hashes, verifies
// and opens to the vector's epoch secret.
//
//   usage: parley_make_vectors > tests/vectors/v1.json
#include <sodium.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "crypto/key_file.h"
#include "protocol/epoch.h"
#include "protocol/message.h"

using namespace parley;
using nlohmann::json;

namespace {

Bytes stream_bytes(std::string_view what, std::size_t n) {
    // one deterministic stream per input, named
    Array<randombytes_SEEDBYTES> seed{};
    auto label = as_bytes(std::string("parley/v1/test-vectors/") + std::string(what));
    crypto_generichash(seed.data(), seed.size(), label.data(), label.size(), nullptr, 0);
    Bytes out(n);
    randombytes_buf_deterministic(out.data(), n, seed.data());
    return out;
}

template <std::size_t N>
Array<N> stream_array(std::string_view what) {
    auto b = stream_bytes(what, N);
    Array<N> out{};
    std::copy(b.begin(), b.end(), out.begin());
    return out;
}

crypto::Identity identity_from_seed(const Bytes& seed) {
    crypto::Identity id;
    crypto_sign_seed_keypair(id.public_key.data(), id.secret.data(), seed.data());
    return id;
}

}  // namespace

int main() {
    crypto::init();
    json v;
    auto alice_seed = stream_bytes("alice-seed", 32);
    auto bob_seed = stream_bytes("bob-seed", 32);
    auto alice = identity_from_seed(alice_seed);
    auto bob = identity_from_seed(bob_seed);
    const std::string room_name = "flash-drive club";
    const std::string password = "correct horse battery staple";
    auto salt = stream_array<wire::salt_bytes>("salt");
    auto epoch_secret_bytes = stream_bytes("epoch-secret", 32);
    auto session = stream_array<wire::session_id_bytes>("session");
    auto nonce = stream_array<wire::nonce_bytes>("nonce");
    const std::uint64_t created_at = 1795000000000;
    const std::uint64_t timestamp = 1795000001234;
    const std::uint64_t counter = 7;
    const std::string text = "hi bob, it's alice";

    v["inputs"] = {{"alice_seed", to_hex(alice_seed)},
                   {"bob_seed", to_hex(bob_seed)},
                   {"room_name", room_name},
                   {"password", password},
                   {"salt", to_hex(salt)},
                   {"kdf_ops", wire::kdf_floor.ops},
                   {"kdf_mem_kib", wire::kdf_floor.mem_kib},
                   {"epoch_secret", to_hex(epoch_secret_bytes)},
                   {"created_at_ms", created_at},
                   {"session", to_hex(session)},
                   {"nonce", to_hex(nonce)},
                   {"timestamp_ms", timestamp},
                   {"counter", counter},
                   {"text", text}};

    auto room = crypto::room_id(room_name);
    std::vector<crypto::PublicKey> roster{alice.public_key, bob.public_key};
    std::sort(roster.begin(), roster.end());

    crypto::SecretBuffer pw(password.size());
    std::copy(password.begin(), password.end(), pw.data());
    auto room_secret = protocol::derive_room_secret(pw, salt, wire::kdf_floor);
    crypto::EpochSecret epoch_secret;
    std::copy(epoch_secret_bytes.begin(), epoch_secret_bytes.end(), epoch_secret.data());
    auto keys = protocol::derive_epoch_keys(*room_secret, room, 0, wire::Hash{}, epoch_secret);

    protocol::RecordDraft draft;
    draft.room = room;
    draft.salt = salt;
    draft.kdf = wire::kdf_floor;
    draft.created_at_ms = created_at;
    draft.roster = roster;
    for (const auto& k : roster) draft.ops.push_back({wire::RosterOpKind::add, k});
    auto record = protocol::build_record(alice, draft, *room_secret, epoch_secret);
    auto record_hash = wire::record_hash(*record);

    protocol::SenderContext ctx{&alice, crypto::key_id(alice.public_key), room, 0, record_hash, session,
                                &keys.message_key};
    auto envelope = protocol::seal_message(ctx, counter, timestamp, nonce, text);

    v["outputs"] = {
        {"alice_public_key", to_hex(alice.public_key)},
        {"bob_public_key", to_hex(bob.public_key)},
        {"alice_key_id", to_hex(crypto::key_id(alice.public_key))},
        {"alice_fingerprint", crypto::fingerprint(alice.public_key)},
        {"roster_hash", to_hex(crypto::roster_hash(roster))},
        {"room_id", to_hex(room)},
        {"room_secret", to_hex(ByteView(room_secret->data(), room_secret->size()))},
        {"message_key", to_hex(ByteView(keys.message_key.data(), keys.message_key.size()))},
        {"access_token", to_hex(protocol::token_bytes(keys))},
        {"token_hash", to_hex(keys.token_hash)},
        {"commitment", to_hex(protocol::epoch_commitment(room, 0, wire::Hash{}, epoch_secret))},
        {"genesis_record", to_hex(wire::encode_record(*record))},
        {"genesis_hash", to_hex(record_hash)},
        {"genesis_signature", to_hex(record->signature)},
        {"room_code", to_hex(crypto::room_code(record_hash, record_hash))},
        {"envelope", to_hex(envelope)},
    };
    std::cout << v.dump(2) << "\n";
    return 0;
}
