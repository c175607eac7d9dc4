#include "protocol/keyring.h"

#include "protocol/device_files.h"

#include <algorithm>
#include <set>

namespace parley::protocol {

namespace fs = std::filesystem;

Keyring Keyring::from_members(std::vector<Member> members) {
    std::sort(members.begin(), members.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    for (std::size_t i = 0; i < members.size(); ++i) {
        for (std::size_t j = i + 1; j < members.size(); ++j) {
            if (members[i].key == members[j].key) {
                throw crypto::KeyFileError("duplicate key: " + members[i].name + ".pem and " +
                                               members[j].name + ".pem hold the same public key",
                                           "remove one of them from public_keys/");
            }
        }
    }
    Keyring k;
    k.members_ = std::move(members);
    return k;
}

Keyring Keyring::load(const fs::path& dir) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        throw crypto::KeyFileError("public key folder " + dir.string() + " does not exist",
                                   "create it and put every member's public key in it as NAME.pem");
    }
    std::vector<Member> members;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (entry.path().extension() != ".pem") continue;
        Member m;
        m.name = entry.path().stem().string();
        m.key = crypto::load_public_key(entry.path());
        m.id = crypto::key_id(m.key);
        members.push_back(std::move(m));
    }
    if (members.empty()) {
        throw crypto::KeyFileError("public key folder " + dir.string() + " holds no .pem files",
                                   "put every member's public key in it as NAME.pem");
    }
    auto keyring = from_members(std::move(members));
    // Cards, by file name order so an error names the same file each time.
    std::vector<fs::path> card_files;
    for (const auto& entry : fs::directory_iterator(dir))
        if (entry.path().extension() == ".card") card_files.push_back(entry.path());
    std::sort(card_files.begin(), card_files.end());
    std::set<PublicKey> devices;
    for (const auto& path : card_files) {
        auto card = v2::load_card_file(path);
        const std::string file = path.filename().string();
        auto member = std::find_if(keyring.members_.begin(), keyring.members_.end(),
                                   [&](const auto& m) { return m.key == card.certificate.identity; });
        if (member == keyring.members_.end())
            throw crypto::KeyFileError("device card " + path.string() + " is certified by a key no NAME.pem in " +
                                           dir.string() + " holds (" + crypto::fingerprint(card.certificate.identity) +
                                           ")",
                                       "put its member's public key beside it, or move the card away");
        const std::string expected = member->name + "." + card.certificate.name + ".card";
        if (file != expected)
            throw crypto::KeyFileError("device card " + path.string() + " is " + member->name + "'s device " +
                                           card.certificate.name + ": its name should be " + expected,
                                       "rename it, or ask its member for the right card");
        if (!devices.insert(card.certificate.device).second)
            throw crypto::KeyFileError("device card " + path.string() + " repeats a device another card holds",
                                       "keep one card per device: 'parley device show' on the device names it");
        member->cards.push_back(std::move(card));
    }
    return keyring;
}

const Member* Keyring::by_key(const PublicKey& key) const {
    auto it = std::find_if(members_.begin(), members_.end(), [&](const auto& m) { return m.key == key; });
    return it == members_.end() ? nullptr : &*it;
}

const Member* Keyring::by_id(const KeyId& id) const {
    auto it = std::find_if(members_.begin(), members_.end(), [&](const auto& m) { return m.id == id; });
    return it == members_.end() ? nullptr : &*it;
}

const Member* Keyring::by_name(std::string_view name) const {
    auto it = std::find_if(members_.begin(), members_.end(), [&](const auto& m) { return m.name == name; });
    return it == members_.end() ? nullptr : &*it;
}

std::string Keyring::display_name(const PublicKey& key) const {
    if (const auto* m = by_key(key)) return m->name;
    return "unknown key " + crypto::fingerprint(key);
}

std::vector<PublicKey> Keyring::sorted_keys() const {
    std::vector<PublicKey> keys;
    for (const auto& m : members_) keys.push_back(m.key);
    std::sort(keys.begin(), keys.end());
    return keys;
}

}  // namespace parley::protocol
