// Shared fixture for the libFuzzer targets and the seed writer (make_seeds.cpp):
// fixed identities, a fixed room, a three-record chain and a few envelopes, all
// derived from fixed seeds so every run of every binary sees the same bytes.
//
// libsodium's randomness is replaced by a ChaCha20 stream under a fixed key
// (the only random draws left are crypto_box_seal's ephemeral keys), so seeds
// and crash reproductions are byte-for-byte repeatable. Never do this outside
// tests/fuzz.
#pragma once

#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/key_file.h"
#include "crypto/primitives.h"
#include "protocol/epoch.h"
#include "protocol/key_schedule.h"
#include "protocol/message.h"
#include "wire/bytes.h"
#include "wire/envelope.h"
#include "wire/frames.h"
#include "wire/record.h"

#include "../unit/record_drafts.h"

// A property failed: print it and abort, which libFuzzer reports as a crash
// (with the input saved as an artifact).
#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            std::fprintf(stderr, "fuzz property failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            std::abort();                                                                 \
        }                                                                                 \
    } while (0)

namespace parley::fuzz {

// --- deterministic randomness ------------------------------------------------

namespace detail {
inline std::uint64_t rng_counter = 0;
inline const char* rng_name() { return "parley-fuzz-chacha20"; }
inline void rng_buf(void* const buf, const size_t size) {
    static const unsigned char key[crypto_stream_chacha20_KEYBYTES] = {'p', 'a', 'r', 'l', 'e', 'y', '-', 'f', 'u', 'z', 'z'};
    unsigned char nonce[crypto_stream_chacha20_NONCEBYTES] = {};
    std::uint64_t n = rng_counter++;
    for (std::size_t i = 0; i < sizeof nonce; ++i) nonce[i] = static_cast<unsigned char>(n >> (8 * i));
    crypto_stream_chacha20(static_cast<unsigned char*>(buf), size, nonce, key);
}
inline std::uint32_t rng_random() {
    std::uint32_t v = 0;
    rng_buf(&v, sizeof v);
    return v;
}
inline randombytes_implementation rng_impl = {rng_name, rng_random, nullptr, nullptr, rng_buf, nullptr};
}  // namespace detail

// Installs the deterministic generator and initialises libsodium. Call first.
inline void init_deterministic() {
    static const bool done = [] {
        randombytes_set_implementation(&detail::rng_impl);
        crypto::init();
        return true;
    }();
    (void)done;
}

// --- fixed inputs ------------------------------------------------------------

template <std::size_t N>
Array<N> fixed_array(std::string_view name) {
    Array<N> out{};
    const std::string label = "parley/fuzz/" + std::string(name);
    Array<randombytes_SEEDBYTES> seed{};
    crypto_generichash(seed.data(), seed.size(), as_bytes(label).data(), label.size(), nullptr, 0);
    randombytes_buf_deterministic(out.data(), out.size(), seed.data());
    return out;
}

inline crypto::Identity identity(std::string_view name) {
    auto seed = fixed_array<crypto_sign_SEEDBYTES>(std::string(name) + "/seed");
    crypto::Identity id;
    crypto_sign_seed_keypair(id.public_key.data(), id.secret.data(), seed.data());
    return id;
}

template <std::size_t N>
void fill_secret(crypto::Secret<N>& s, std::string_view name) {
    auto bytes = fixed_array<N>(name);
    std::copy(bytes.begin(), bytes.end(), s.data());
    sodium_memzero(bytes.data(), bytes.size());
}

// The world every target works in. Epoch 0 (alice, bob; by alice), epoch 1
// (adds charlie; by alice), epoch 2 (removes bob; by charlie).
struct Fixture {
    crypto::Identity alice = identity("alice");
    crypto::Identity bob = identity("bob");
    crypto::Identity charlie = identity("charlie");
    wire::RoomId room = crypto::room_id("fuzz room");
    crypto::SymmetricKey room_secret;  // fixed bytes: Argon2id is not what we fuzz
    crypto::EpochSecret secrets[3];
    wire::EpochRecord records[3];
    wire::Hash hashes[3]{};
    std::shared_ptr<const crypto::SymmetricKey> genesis_message_key;
    wire::SessionId alice_session = fixed_array<wire::session_id_bytes>("session/alice");
    wire::SessionId bob_session = fixed_array<wire::session_id_bytes>("session/bob");        // the receiver's
    wire::SessionId bob_other_session = fixed_array<wire::session_id_bytes>("session/bob-2");  // bob's other device
    wire::SessionId charlie_session = fixed_array<wire::session_id_bytes>("session/charlie");

    Fixture() {
        fill_secret(room_secret, "room-secret");
        for (int i = 0; i < 3; ++i) fill_secret(secrets[i], "epoch-secret/" + std::to_string(i));

        protocol::RecordDraft g;
        g.room = room;
        g.salt = fixed_array<wire::salt_bytes>("salt");
        g.kdf = wire::kdf_floor;
        g.created_at_ms = 1'795'000'000'000;
        g.roster = test::sorted({alice.public_key, bob.public_key});
        g.ops = test::adds_for(g.roster);
        records[0] = must(protocol::build_record(alice, g, room_secret, secrets[0]));
        hashes[0] = wire::record_hash(records[0]);

        records[1] = must(protocol::build_record(
            alice, test::successor_draft(records[0], {{wire::RosterOpKind::add, charlie.public_key}}), room_secret, secrets[1]));
        hashes[1] = wire::record_hash(records[1]);

        records[2] = must(protocol::build_record(
            charlie, test::successor_draft(records[1], {{wire::RosterOpKind::remove, bob.public_key}}), room_secret, secrets[2]));
        hashes[2] = wire::record_hash(records[2]);

        auto keys = protocol::derive_epoch_keys(room_secret, room, 0, wire::Hash{}, secrets[0]);
        genesis_message_key = std::make_shared<const crypto::SymmetricKey>(std::move(keys.message_key));
    }

    static wire::EpochRecord must(std::optional<wire::EpochRecord> r) {
        if (!r) std::abort();
        return std::move(*r);
    }

    Bytes encoded_record(int epoch) const { return wire::encode_record(records[epoch]); }

    // An envelope in the genesis epoch, as `who` would send it from `session`.
    Bytes envelope(const crypto::Identity& who, const wire::SessionId& session, std::uint64_t counter,
                   std::string_view text, std::uint64_t epoch = 0,
                   wire::EnvelopeType type = wire::EnvelopeType::text) const {
        const auto ctx = test::sender_context(who, room, epoch, hashes[0], session, genesis_message_key.get());
        auto nonce = fixed_array<wire::nonce_bytes>("nonce/" + std::to_string(counter) + "/" + std::string(text));
        return protocol::seal_message(ctx, counter, 1'795'000'001'000 + counter, nonce, text, type);
    }

    bool is_known_key(const wire::PublicKey& k) const {
        return k == alice.public_key || k == bob.public_key || k == charlie.public_key;
    }
};

inline const Fixture& fixture() {
    init_deterministic();
    static const Fixture f;
    return f;
}

// --- input splitting ---------------------------------------------------------

// Splits fuzz input into chunks, each a u16 big-endian length and that many
// bytes (the last one cut short if the input ends). At most `max_chunks`.
inline std::vector<Bytes> split_chunks(const std::uint8_t* data, std::size_t size, std::size_t max_chunks) {
    std::vector<Bytes> out;
    std::size_t pos = 0;
    while (pos + 2 <= size && out.size() < max_chunks) {
        std::size_t len = (std::size_t{data[pos]} << 8) | data[pos + 1];
        pos += 2;
        len = std::min(len, size - pos);
        out.emplace_back(data + pos, data + pos + len);
        pos += len;
    }
    return out;
}

// The inverse, for the seed writer.
inline Bytes join_chunks(const std::vector<Bytes>& chunks) {
    Bytes out;
    for (const auto& c : chunks) {
        if (c.size() > 0xffff) std::abort();
        out.push_back(static_cast<std::uint8_t>(c.size() >> 8));
        out.push_back(static_cast<std::uint8_t>(c.size()));
        out.insert(out.end(), c.begin(), c.end());
    }
    return out;
}

}  // namespace parley::fuzz
