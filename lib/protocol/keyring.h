// The `public_keys/` folder: every member's public key, named by its file.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "crypto/key_file.h"

namespace parley::protocol {

using crypto::PublicKey;
using wire::KeyId;

struct Member {
    std::string name;  // file name without ".pem"
    PublicKey key{};
    KeyId id{};
};

class Keyring {
public:
    // Loads every *.pem in `dir`. Throws crypto::KeyFileError on a missing or
    // empty folder, an unreadable or non-Ed25519 key, or one key under two names.
    static Keyring load(const std::filesystem::path& dir);
    static Keyring from_members(std::vector<Member> members);

    const Member* by_key(const PublicKey& key) const;
    const Member* by_id(const KeyId& id) const;
    const Member* by_name(std::string_view name) const;
    // Name for display: the member's name, or "unknown key <fingerprint>".
    std::string display_name(const PublicKey& key) const;
    // Sorted ascending, as rosters are.
    std::vector<PublicKey> sorted_keys() const;
    const std::vector<Member>& members() const { return members_; }

private:
    std::vector<Member> members_;  // sorted by name
};

}  // namespace parley::protocol
