// The `public_keys/` folder: every member's public key, named by its file.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "crypto/key_file.h"
#include "protocol/device.h"

namespace parley::protocol {

using crypto::PublicKey;
using wire::KeyId;

struct Member {
    std::string name;  // file name without ".pem"
    PublicKey key{};
    KeyId id{};
    // The member's device cards (docs/PROTOCOL.md §10.5), from NAME.DEVICE.card
    // files, by device name; each verified and certified by `key`.
    std::vector<v2::DeviceCard> cards;
};

class Keyring {
public:
    // Loads every *.pem in `dir`, and every NAME.DEVICE.card as NAME's. Throws
    // crypto::KeyFileError on a missing or empty folder, an unreadable or
    // non-Ed25519 key, one key under two names, or a card that does not verify,
    // is not certified by NAME.pem's key, is named for another device, or
    // repeats a device key.
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
