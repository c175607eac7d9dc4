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
//          parley_make_vectors --rooms tests/vectors/v1.json > tests/vectors/v1-rooms.json
//          parley_make_vectors --v2 > tests/vectors/v2.json
//
// The third writes version 2's key schedule and a sender chain (docs/PROTOCOL.md
// §10.2, being built): two epochs in a row, so epoch 1's joiner secret takes
// epoch 0's init secret, and the first message keys of one device's chain; and
// that device's certificate and first update key entry (§10.5, §10.3).
//
// --v2 also writes laptop's first envelope of epoch 1 (§10.4, chain position 0,
// a text) and a reason 3 sync's plaintext, and two version-2 records (§10.6): a genesis of alice (devices
// laptop and phone) and bob (device desk), and epoch 1, written by desk after
// it rotated its update key. crypto_box_seal takes its ephemeral key from
// libsodium's randombytes, which --v2 replaces with a deterministic stream
// before sodium_init, so the boxes and every record byte come out the same on
// every run.
//
// The second form builds on v1.json's genesis (its sealed boxes are random, so
// it is read back, not made again): epoch 1's keys and record, the invite, the
// frames of a first join, and a history row (docs/PROTOCOL.md §9).
#include <sodium.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "crypto/key_file.h"
#include "protocol/device.h"
#include "protocol/epoch.h"
#include "protocol/invite.h"
#include "protocol/message.h"
#include "protocol/record_v2.h"
#include "protocol/rotation.h"
#include "protocol/sender_chain.h"
#include "store/history_cipher.h"

using namespace parley;
using nlohmann::json;

namespace {

Bytes stream_bytes(std::string_view what, std::size_t n) {
    // one deterministic stream per input, named
    Array<randombytes_SEEDBYTES> seed{};
    // The name is kept in a variable: as_bytes views it, and a view of a
    // temporary string dangled here once, so inputs came out different on
    // every run and v1.json's could not be made again.
    const std::string name = std::string("parley/v1/test-vectors/") + std::string(what);
    const auto label = as_bytes(name);
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

Bytes unhex(const json& j) {
    Bytes b;
    if (!from_hex(j.get<std::string>(), b)) throw std::runtime_error("bad hex in v1.json");
    return b;
}

template <std::size_t N>
Array<N> unhex_array(const json& j) {
    auto b = unhex(j);
    Array<N> out{};
    std::copy_n(b.begin(), std::min(N, b.size()), out.begin());
    return out;
}

// Epoch 1 (bob rekeys, same roster), the invite, a first join's frames and a
// history row, on top of v1.json.
int rooms(const std::string& v1_path) {
    std::ifstream in(v1_path);
    if (!in) throw std::runtime_error("cannot read " + v1_path);
    const json v1 = json::parse(in);
    const auto& i1 = v1["inputs"];
    const auto& o1 = v1["outputs"];
    auto alice = identity_from_seed(unhex(i1["alice_seed"]));
    auto bob = identity_from_seed(unhex(i1["bob_seed"]));
    const auto room = unhex_array<wire::hash_bytes>(o1["room_id"]);
    const auto genesis_bytes = unhex(o1["genesis_record"]);
    const auto genesis = *wire::decode_record(genesis_bytes).record;
    const auto genesis_hash = wire::record_hash(genesis);
    const std::string password = i1["password"].get<std::string>();
    crypto::SecretBuffer pw(password.size());
    std::copy(password.begin(), password.end(), pw.data());
    auto room_secret = protocol::derive_room_secret(pw, genesis.salt, genesis.kdf);

    auto epoch1_secret_bytes = stream_bytes("epoch1-secret", 32);
    crypto::EpochSecret epoch1_secret;
    std::copy(epoch1_secret_bytes.begin(), epoch1_secret_bytes.end(), epoch1_secret.data());
    const std::uint64_t created_at = 1795000100000;
    const std::string server = "wss://relay.example:8443";
    const std::string room_name = "flash-drive-club";
    auto history_nonce = stream_array<wire::nonce_bytes>("history-nonce");
    const store::HistoryEntry entry{5, bob.public_key, 1, 0, 1795000200000, false, "stored on the drive"};

    json v;
    v["inputs"] = {{"v1", "v1.json: seeds, password, genesis record and envelope"},
                   {"epoch1_secret", to_hex(epoch1_secret_bytes)},
                   {"epoch1_created_at_ms", created_at},
                   {"invite_name", room_name},
                   {"invite_server", server},
                   {"history_nonce", to_hex(history_nonce)},
                   {"history_seq", entry.seq},
                   {"history_epoch", entry.epoch},
                   {"history_counter", entry.counter},
                   {"history_timestamp_ms", entry.timestamp_ms},
                   {"history_text", entry.text}};

    auto keys1 = protocol::derive_epoch_keys(*room_secret, room, 1, genesis_hash, epoch1_secret);
    protocol::RecordDraft draft;
    draft.room = room;
    draft.epoch = 1;
    draft.previous = genesis_hash;
    draft.salt = genesis.salt;
    draft.kdf = genesis.kdf;
    draft.created_at_ms = created_at;
    draft.roster = genesis.roster;
    auto epoch1 = protocol::build_record(bob, draft, *room_secret, epoch1_secret);
    const auto epoch1_bytes = wire::encode_record(*epoch1);
    const auto epoch1_hash = wire::record_hash(*epoch1);
    auto keys0 = protocol::derive_epoch_keys(*room_secret, room, 0, wire::Hash{}, [&] {
        crypto::EpochSecret s0;
        auto b = unhex(i1["epoch_secret"]);
        std::copy(b.begin(), b.end(), s0.data());
        return s0;
    }());

    // The history key, as PROTOCOL.md §8 writes it (the code's is checked against it).
    crypto::SymmetricKey history_key;
    {
        const std::string label = "parley/v1/local/room-history-key";
        crypto_generichash_state st;
        crypto_generichash_init(&st, alice.secret.data(), crypto_sign_SEEDBYTES, history_key.size());
        crypto_generichash_update(&st, as_bytes(label).data(), label.size());
        crypto_generichash_update(&st, room.data(), room.size());
        crypto_generichash_update(&st, room_secret->data(), room_secret->size());
        crypto_generichash_final(&st, history_key.data(), history_key.size());
    }
    const store::HistoryCipher cipher(alice, room, *room_secret);
    const Bytes envelope = unhex(o1["envelope"]);

    auto frame = [](const wire::Frame& f) { return to_hex(wire::encode_frame(f)); };
    v["outputs"] = {
        {"epoch1_message_key", to_hex(ByteView(keys1.message_key.data(), keys1.message_key.size()))},
        {"epoch1_access_token", to_hex(protocol::token_bytes(keys1))},
        {"epoch1_token_hash", to_hex(keys1.token_hash)},
        {"epoch1_commitment", to_hex(protocol::epoch_commitment(room, 1, genesis_hash, epoch1_secret))},
        {"epoch1_record", to_hex(epoch1_bytes)},
        {"epoch1_hash", to_hex(epoch1_hash)},
        {"epoch1_signature", to_hex(epoch1->signature)},
        {"room_code_epoch1", to_hex(crypto::room_code(genesis_hash, epoch1_hash))},
        {"invite", protocol::format_invite({room_name, room, genesis_hash, server})},
        {"frame_get_chain", frame(wire::GetChain{1, room, genesis_hash, {}})},
        {"frame_get_chain_after_genesis", frame(wire::GetChain{2, room, genesis_hash, genesis_hash})},
        {"frame_chain", frame(wire::Chain{1, room, genesis_hash, true, {genesis_bytes, epoch1_bytes}})},
        {"frame_publish_epoch1", frame(wire::Publish{3, room, protocol::token_bytes(keys0), epoch1_bytes})},
        {"frame_join", frame(wire::Join{4, room, genesis_hash, protocol::token_bytes(keys1), 0})},
        {"frame_joined", frame(wire::Joined{4, 1, epoch1_hash, 2, 1})},
        {"frame_send", frame(wire::Send{5, room, genesis_hash, envelope})},
        {"frame_resend", frame(wire::Send{5, room, genesis_hash, envelope, true})},
        {"frame_deliver", frame(wire::Deliver{room, genesis_hash, 1, envelope})},
        {"frame_new_head", frame(wire::NewHead{room, genesis_hash, 2, epoch1_bytes})},
        {"frame_error_quota", frame(wire::Error{3, wire::RelayError::quota})},
        {"history_key", to_hex(ByteView(history_key.data(), history_key.size()))},
        {"history_check", to_hex(cipher.check_value())},
        {"history_row", to_hex(cipher.seal(room, entry, history_nonce))},
    };
    std::cout << v.dump(2) << "\n";
    return 0;
}

}  // namespace

template <std::size_t N>
crypto::Secret<N> secret_from(const Bytes& b) {
    crypto::Secret<N> out;
    std::copy_n(b.begin(), N, out.data());
    return out;
}

// For --v2 only: randombytes as a fixed stream (block n is ChaCha20 under the
// BLAKE2b of "parley/v2/test-vectors/randombytes" and n), so sealed boxes are
// the same on every run. Test vectors only: nothing else may ever do this.
std::uint64_t random_block = 0;
void deterministic_buf(void* const buf, const size_t size) {
    Array<randombytes_SEEDBYTES> seed{};
    const std::string name = "parley/v2/test-vectors/randombytes/" + std::to_string(random_block++);
    crypto_generichash(seed.data(), seed.size(), reinterpret_cast<const unsigned char*>(name.data()), name.size(),
                       nullptr, 0);
    randombytes_buf_deterministic(buf, size, seed.data());
}
uint32_t deterministic_random() {
    std::uint32_t v = 0;
    deterministic_buf(&v, sizeof v);
    return v;
}
const char* deterministic_name() { return "parley-test-vectors"; }
randombytes_implementation deterministic_randombytes = {deterministic_name, deterministic_random, nullptr, nullptr,
                                                        deterministic_buf, nullptr};

template <class T>
std::string hex_of(const T& secret) {
    return to_hex(ByteView(secret.data(), secret.size()));
}

int v2() {
    namespace v2 = protocol::v2;
    const auto room = stream_array<wire::hash_bytes>("v2-room-id");
    const auto room_secret_bytes = stream_bytes("v2-room-secret", 32);
    const auto secret0_bytes = stream_bytes("v2-epoch0-secret", 32);
    const auto secret1_bytes = stream_bytes("v2-epoch1-secret", 32);
    const auto previous1 = stream_array<wire::hash_bytes>("v2-epoch1-previous");
    const auto device = identity_from_seed(stream_bytes("v2-device-seed", 32));
    const auto room_secret = secret_from<32>(room_secret_bytes);

    const crypto::SymmetricKey zero;
    const auto joiner0 = v2::joiner_secret(zero, room, 0, secret_from<32>(secret0_bytes));
    const auto epoch0 = v2::derive_epoch(room_secret, room, 0, wire::Hash{}, joiner0);
    const auto joiner1 = v2::joiner_secret(epoch0.init_secret, room, 1, secret_from<32>(secret1_bytes));
    const auto epoch1 = v2::derive_epoch(room_secret, room, 1, previous1, joiner1);
    auto chain0 = v2::chain_start(epoch1.sender_root, room, 1, device.public_key);
    v2::SenderChain chain(v2::chain_start(epoch1.sender_root, room, 1, device.public_key));
    json keys = json::array();
    for (int i = 0; i < 4; ++i) keys.push_back(hex_of(chain.next().message_key));

    // §10.5 and §10.3: the member's identity key certifies the device key, and
    // the device signs its first update key for the room (Ed25519 signatures
    // are deterministic; the X25519 pair comes from a seed here).
    const auto identity = identity_from_seed(stream_bytes("v2-identity-seed", 32));
    const std::string device_name = "laptop";
    const std::uint64_t created_at_ms = 1796299200000;  // 2026-12-03
    const auto certificate = v2::certify_device(identity, device.public_key, device_name, created_at_ms);
    const auto update_seed = stream_bytes("v2-update-key-seed", crypto_box_SEEDBYTES);
    v2::UpdateKey update_key{};
    crypto::Secret<32> update_private;
    crypto_box_seed_keypair(update_key.data(), update_private.data(), update_seed.data());
    const auto entry = v2::sign_update_key(device, room, update_key, 1);

    // §10.6: two records. Every device has an update key from a seed; desk has two.
    const auto bob = identity_from_seed(stream_bytes("v2-bob-seed", 32));
    const auto phone = identity_from_seed(stream_bytes("v2-phone-seed", 32));
    const auto desk = identity_from_seed(stream_bytes("v2-desk-seed", 32));
    const auto phone_certificate = v2::certify_device(identity, phone.public_key, "phone", created_at_ms);
    const auto desk_certificate = v2::certify_device(bob, desk.public_key, "desk", created_at_ms);
    json update_seeds;
    auto update_pair = [&](const std::string& name) {
        auto seed = stream_bytes("v2-update-seed-" + name, crypto_box_SEEDBYTES);
        update_seeds[name] = to_hex(seed);
        v2::UpdateKeyPair pair;
        crypto_box_seed_keypair(pair.public_key.data(), pair.private_key.data(), seed.data());
        return pair;
    };
    const auto phone_update = update_pair("phone-1");
    const auto desk_update1 = update_pair("desk-1");
    const auto desk_update2 = update_pair("desk-2");
    update_seeds["laptop-1"] = to_hex(update_seed);
    const auto salt = stream_array<wire::salt_bytes>("v2-record-salt");
    const std::uint64_t record_created_at_ms = created_at_ms + 60'000;

    v2::RecordDraft d0;
    d0.room = room;
    d0.salt = salt;
    d0.kdf = wire::kdf_floor;
    d0.created_at_ms = record_created_at_ms;
    d0.devices = {{certificate, entry, wire::BoxKind::joiner_secret},
                  {phone_certificate, v2::sign_update_key(phone, room, phone_update.public_key, 1),
                   wire::BoxKind::joiner_secret},
                  {desk_certificate, v2::sign_update_key(desk, room, desk_update1.public_key, 1),
                   wire::BoxKind::joiner_secret}};
    d0.ops = {{wire::RosterOpKind::add, std::min(identity.public_key, bob.public_key)},
              {wire::RosterOpKind::add, std::max(identity.public_key, bob.public_key)}};
    auto genesis = v2::build_record(device, d0, room_secret, secret_from<32>(secret0_bytes), zero);
    if (!genesis) throw std::runtime_error("the version-2 genesis does not build");
    const auto genesis_hash = wire::record_hash(genesis->record);
    const auto genesis_init = v2::derive_epoch(room_secret, room, 0, wire::Hash{}, genesis->joiner).init_secret;

    v2::RecordDraft d1 = d0;
    d1.epoch = 1;
    d1.previous = genesis_hash;
    d1.created_at_ms = record_created_at_ms + 60'000;
    d1.ops.clear();
    for (auto& dd : d1.devices) dd.box_kind = wire::BoxKind::epoch_secret;
    d1.devices[2].update = v2::sign_update_key(desk, room, desk_update2.public_key, 2);
    auto epoch1_record = v2::build_record(desk, d1, room_secret, secret_from<32>(secret1_bytes), genesis_init);
    if (!epoch1_record) throw std::runtime_error("the version-2 epoch 1 does not build");
    // desk's box of epoch 1, opened: the plaintext §10.6 spells out.
    const auto* desk_in_1 = wire::find_device(epoch1_record->record, desk.public_key);
    auto desk_plaintext =
        crypto::open_sealed_x25519(desk_update2.public_key, desk_update2.private_key, desk_in_1->box);
    if (!desk_plaintext) throw std::runtime_error("desk's box of epoch 1 does not open");

    // §10.4: laptop's first envelope of epoch 1 (chain position 0), a text, and
    // the plaintext of a reason 3 sync naming the genesis record.
    // The key schedule's epoch 1 has no record here: the header names one by an input.
    const auto envelope_record = stream_array<wire::hash_bytes>("v2-envelope-record");
    const auto envelope_session = stream_array<wire::session_id_bytes>("v2-envelope-session");
    const auto envelope_nonce = stream_array<wire::nonce_bytes>("v2-envelope-nonce");
    const std::uint64_t envelope_timestamp = record_created_at_ms + 120'000;
    const std::string envelope_text = "hello from the laptop";
    v2::SenderChain envelope_chain(v2::chain_start(epoch1.sender_root, room, 1, device.public_key));
    auto step0 = envelope_chain.next();
    protocol::SenderContext ctx{&device, crypto::key_id(device.public_key), room, 1, envelope_record, envelope_session,
                                &step0.message_key, 2};
    const auto envelope = protocol::seal_message(ctx, step0.position, envelope_timestamp, envelope_nonce, envelope_text);
    const auto sync = protocol::encode_sync({protocol::SyncReason::first_of_epoch, genesis_hash, 5});
    // §10.3: who writes the epoch after the genesis, among these four keys.
    const std::vector<wire::PublicKey> rotator_keys{identity.public_key, bob.public_key, phone.public_key,
                                                    desk.public_key};
    json rotator_keys_hex = json::array(), rotator_order_hex = json::array();
    for (const auto& k : rotator_keys) rotator_keys_hex.push_back(to_hex(k));
    for (const auto& k : v2::rotator_order(genesis_hash, rotator_keys)) rotator_order_hex.push_back(to_hex(k));

    json v;
    v["inputs"] = {{"room_id", to_hex(room)},
                   {"room_secret", to_hex(room_secret_bytes)},
                   {"epoch0_secret", to_hex(secret0_bytes)},
                   {"epoch1_secret", to_hex(secret1_bytes)},
                   {"epoch1_previous_hash", to_hex(previous1)},
                   {"device_key", to_hex(device.public_key)},
                   {"identity_key", to_hex(identity.public_key)},
                   {"device_name", device_name},
                   {"device_created_at_ms", created_at_ms},
                   {"update_key", to_hex(update_key)},
                   {"update_key_counter", 1},
                   {"bob_identity_key", to_hex(bob.public_key)},
                   {"phone_device_key", to_hex(phone.public_key)},
                   {"desk_device_key", to_hex(desk.public_key)},
                   {"record_salt", to_hex(salt)},
                   {"record_kdf_ops", wire::kdf_floor.ops},
                   {"record_kdf_mem_kib", wire::kdf_floor.mem_kib},
                   {"record_created_at_ms", record_created_at_ms},
                   {"update_key_seeds", update_seeds},
                   {"envelope_record_hash", to_hex(envelope_record)},
                   {"envelope_session", to_hex(envelope_session)},
                   {"envelope_nonce", to_hex(envelope_nonce)},
                   {"envelope_timestamp_ms", envelope_timestamp},
                   {"envelope_text", envelope_text},
                   {"sync_positions", 5},
                   {"rotator_keys", rotator_keys_hex}};
    v["outputs"] = {{"epoch0_joiner_secret", hex_of(joiner0)},
                    {"epoch0_init_secret", hex_of(epoch0.init_secret)},
                    {"epoch1_joiner_secret", hex_of(joiner1)},
                    {"epoch1_init_secret", hex_of(epoch1.init_secret)},
                    {"epoch1_sender_root", hex_of(epoch1.sender_root)},
                    {"epoch1_token_hash", to_hex(epoch1.token_hash)},
                    {"epoch1_chain_key_0", hex_of(chain0)},
                    {"epoch1_message_keys_0_to_3", keys},
                    {"epoch1_chain_key_4", hex_of(chain.chain_key())},
                    {"device_certificate_signed_part", to_hex(v2::device_certificate_signed_part(certificate))},
                    {"device_certificate", to_hex(v2::encode_device_certificate(certificate))},
                    {"update_key_entry_signed_part", to_hex(v2::update_key_signed_part(room, entry))},
                    {"update_key_entry", to_hex(v2::encode_update_key_entry(entry))},
                    {"record_genesis", to_hex(wire::encode_record(genesis->record))},
                    {"record_genesis_hash", to_hex(genesis_hash)},
                    {"record_genesis_joiner_secret", hex_of(genesis->joiner)},
                    {"record_epoch1", to_hex(wire::encode_record(epoch1_record->record))},
                    {"record_epoch1_hash", to_hex(wire::record_hash(epoch1_record->record))},
                    {"record_epoch1_joiner_secret", hex_of(epoch1_record->joiner)},
                    {"record_epoch1_desk_box_plaintext", to_hex(ByteView(desk_plaintext->data(), desk_plaintext->size()))},
                    {"envelope_epoch1_laptop_0", to_hex(envelope)},
                    {"sync_first_of_epoch_plaintext", to_hex(as_bytes(sync))},
                    {"rotator_order_after_genesis", rotator_order_hex}};
    std::cout << v.dump(2) << "\n";
    return 0;
}

int main(int argc, char** argv) {
    if (argc == 2 && std::string(argv[1]) == "--v2") randombytes_set_implementation(&deterministic_randombytes);
    crypto::init();
    if (argc == 3 && std::string(argv[1]) == "--rooms") return rooms(argv[2]);
    if (argc == 2 && std::string(argv[1]) == "--v2") return v2();
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
    auto sync_nonce = stream_array<wire::nonce_bytes>("sync-nonce");
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
                   {"text", text},
                   {"sync_nonce", to_hex(sync_nonce)}};

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
    // §5.1: alice's closing sync, the counter after the text's.
    auto sync = protocol::seal_message(ctx, counter + 1, timestamp, sync_nonce,
                                       protocol::encode_sync({protocol::SyncReason::leaving}), wire::EnvelopeType::sync);

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
        {"sync_envelope", to_hex(sync)},
    };
    std::cout << v.dump(2) << "\n";
    return 0;
}
