#include "protocol/keyring.h"

#include <algorithm>

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
    return from_members(std::move(members));
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
