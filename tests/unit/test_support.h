// Shared helpers for the protocol-layer unit tests: libsodium initialisation,
// one Argon2id room secret per test binary (it costs ~0.1-0.3 s at the floor),
// real identities and real records built with protocol::build_record, and a
// temporary directory that cleans up after itself.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/key_file.h"
#include "crypto/primitives.h"
#include "protocol/epoch.h"
#include "protocol/key_schedule.h"
#include "protocol/message.h"
#include "protocol/receiver.h"
#include "record_drafts.h"
#include "wire/record.h"

namespace parley::test {

// sodium_init is idempotent; every helper below that needs libsodium calls this.
inline void init_crypto() { crypto::init(); }

// The bytes of a file as a thief copying the folder gets them (empty if absent).
inline Bytes slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

// Whether `needle` is anywhere in an SQLite file or its write-ahead log, read
// byte by byte: what the database forgot by SQL may still be in either.
inline bool on_disk(const std::filesystem::path& file, ByteView needle) {
    for (const auto& path : {file, std::filesystem::path(file.string() + "-wal")}) {
        const auto bytes = slurp(path);
        if (std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end()) != bytes.end()) return true;
    }
    return false;
}

class CryptoEnvironment : public ::testing::Environment {
public:
    void SetUp() override { init_crypto(); }
};
inline ::testing::Environment* const crypto_environment =
    ::testing::AddGlobalTestEnvironment(new CryptoEnvironment);

inline crypto::SecretBuffer make_password(std::string_view text) {
    crypto::SecretBuffer out(text.size());
    std::copy(text.begin(), text.end(), out.data());
    return out;
}

inline constexpr std::string_view test_password = "correct horse battery staple";

inline const wire::Salt& test_salt() {
    static const wire::Salt salt = [] {
        wire::Salt s{};
        for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint8_t>(0xa0 + i);
        return s;
    }();
    return salt;
}

// Argon2id(test_password, test_salt, floor), computed once per process.
inline const crypto::SymmetricKey& shared_room_secret() {
    static const crypto::SymmetricKey secret = [] {
        init_crypto();
        auto derived = protocol::derive_room_secret(make_password(test_password), test_salt(), wire::kdf_floor);
        if (!derived) std::abort();  // no memory for Argon2id: nothing below can run
        return std::move(*derived);
    }();
    return secret;
}

inline crypto::EpochSecret random_epoch_secret() {
    init_crypto();
    crypto::EpochSecret s;
    crypto::random_bytes(s.mutable_bytes());
    return s;
}

inline crypto::Identity new_identity() {
    init_crypto();
    return crypto::generate_identity();
}

// A genesis draft for `room` whose ops add exactly `roster`.
inline protocol::RecordDraft genesis_draft(const wire::RoomId& room, std::vector<wire::PublicKey> roster) {
    protocol::RecordDraft d;
    d.room = room;
    d.epoch = 0;
    d.salt = test_salt();
    d.kdf = wire::kdf_floor;
    d.created_at_ms = 1'700'000'000'000;
    d.ops = adds_for(roster);
    d.roster = std::move(roster);
    return d;
}

inline wire::EpochRecord build(const crypto::Identity& author, protocol::RecordDraft draft,
                               const crypto::EpochSecret& secret) {
    auto record = protocol::build_record(author, std::move(draft), shared_room_secret(), secret);
    if (!record) throw std::runtime_error("build_record failed");
    return std::move(*record);
}

// Re-signs a record after a test changed its fields.
inline void resign(wire::EpochRecord& record, const crypto::Identity& author) {
    record.signature = crypto::sign(author.secret, wire::record_signed_message(record));
}

inline Bytes flip_bit(Bytes bytes, std::size_t index, int bit = 0) {
    bytes.at(index) ^= static_cast<std::uint8_t>(1u << bit);
    return bytes;
}

// alice, bob and charlie, a room, and the room's epoch secrets and records.
struct Trio {
    crypto::Identity alice = new_identity();
    crypto::Identity bob = new_identity();
    crypto::Identity charlie = new_identity();
    wire::RoomId room = crypto::room_id("trio");

    std::vector<wire::PublicKey> roster() const {
        return sorted({alice.public_key, bob.public_key, charlie.public_key});
    }
    wire::EpochRecord genesis(const crypto::EpochSecret& secret) const {
        return build(alice, genesis_draft(room, roster()), secret);
    }
};

// An epoch as a reader holds it: the record, its hash and its message key.
struct LiveEpoch {
    wire::EpochRecord record;
    wire::Hash hash{};
    std::shared_ptr<const crypto::SymmetricKey> message_key;

    protocol::EpochView view() const {
        protocol::EpochView v;
        v.epoch = record.epoch;
        v.record_hash = hash;
        v.roster = record.roster;
        v.message_key = message_key;
        return v;
    }
    // What `who` needs to send in this epoch from `session`; tests may tweak it.
    protocol::SenderContext sender(const crypto::Identity& who, const wire::SessionId& session) const {
        return sender_context(who, record.room, record.epoch, hash, session, message_key.get());
    }
};

inline LiveEpoch live_epoch(wire::EpochRecord record, const crypto::EpochSecret& secret) {
    LiveEpoch e;
    auto keys = protocol::derive_epoch_keys(shared_room_secret(), record.room, record.epoch, record.previous, secret);
    e.message_key = std::make_shared<const crypto::SymmetricKey>(std::move(keys.message_key));
    e.hash = wire::record_hash(record);
    e.record = std::move(record);
    return e;
}

inline Bytes seal(const protocol::SenderContext& ctx, std::uint64_t counter, std::string_view text,
                  wire::EnvelopeType type = wire::EnvelopeType::text) {
    return protocol::seal_message(ctx, counter, 1'700'000'000'000 + counter,
                                  crypto::random_array<wire::nonce_bytes>(), text, type);
}

// A directory under the system temp dir, removed with everything in it.
class TempDir {
public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "parley-test-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

}  // namespace parley::test
