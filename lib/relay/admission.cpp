#include "relay/admission.h"

#include <sodium.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace parley::relay {
namespace {

constexpr auto window = std::chrono::hours(1);

// An Ed25519 SubjectPublicKeyInfo is these 12 bytes, then the 32-byte key.
constexpr std::array<std::uint8_t, 12> ed25519_spki_prefix{0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                                           0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

std::string trim(const std::string& s) {
    const auto first = s.find_first_not_of(" \t\r");
    if (first == std::string::npos) return {};
    return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

}  // namespace

std::set<PublicKeyBytes> parse_founders(const std::string& text, const std::string& name) {
    std::set<PublicKeyBytes> keys;
    std::istringstream in(text);
    std::string line, pem;
    std::size_t number = 0, pem_start = 0;
    bool in_pem = false;
    auto fail = [&](std::size_t at, const std::string& why) {
        throw std::runtime_error(name + ":" + std::to_string(at) + ": " + why);
    };
    while (std::getline(in, line)) {
        ++number;
        line = trim(line);
        if (in_pem) {
            if (line == "-----END PUBLIC KEY-----") {
                std::array<std::uint8_t, 64> der{};
                std::size_t len = 0;
                if (sodium_base642bin(der.data(), der.size(), pem.data(), pem.size(), nullptr, &len, nullptr,
                                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
                    len != ed25519_spki_prefix.size() + wire::public_key_bytes ||
                    !std::equal(ed25519_spki_prefix.begin(), ed25519_spki_prefix.end(), der.begin()))
                    fail(pem_start, "not an Ed25519 public key (make keys with 'parley keygen')");
                PublicKeyBytes key{};
                std::copy(der.begin() + ed25519_spki_prefix.size(), der.begin() + static_cast<long>(len), key.begin());
                keys.insert(key);
                in_pem = false;
                pem.clear();
            } else {
                pem += line;
            }
            continue;
        }
        if (line.empty() || line.front() == '#') continue;
        if (line == "-----BEGIN PUBLIC KEY-----") {
            in_pem = true;
            pem_start = number;
            continue;
        }
        if (line.rfind("-----BEGIN", 0) == 0) fail(number, "only PUBLIC KEY blocks belong here (" + line + ")");
        PublicKeyBytes key{};
        std::size_t len = 0;
        if (line.size() != 2 * key.size() ||
            sodium_hex2bin(key.data(), key.size(), line.data(), line.size(), nullptr, &len, nullptr) != 0 ||
            len != key.size())
            fail(number, "expected a PEM public key or 64 hex digits");
        keys.insert(key);
    }
    if (in_pem) fail(pem_start, "PEM block without its END line");
    return keys;
}

std::set<PublicKeyBytes> load_founders(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read the founders file " + file.string());
    std::ostringstream text;
    text << in.rdbuf();
    if (text.str().size() > (1u << 20)) throw std::runtime_error(file.string() + ": over 1 MiB; not a founders list");
    return parse_founders(text.str(), file.string());
}

Admission::Admission(Quotas quotas, std::optional<std::set<PublicKeyBytes>> founders)
    : quotas_(quotas), founders_(std::move(founders)) {}

Quotas Admission::quotas() const {
    std::lock_guard lock(mutex_);
    return quotas_;
}

void Admission::set_quotas(const Quotas& quotas) {
    std::lock_guard lock(mutex_);
    quotas_ = quotas;
}

void Admission::set_founders(std::set<PublicKeyBytes> founders) {
    std::lock_guard lock(mutex_);
    founders_ = std::move(founders);
}

bool Admission::open() const {
    std::lock_guard lock(mutex_);
    return !founders_;
}

template <class Key>
std::size_t Admission::recent(Window<Key>& w, const Key& key, Clock::time_point now) {
    auto it = w.find(key);
    if (it == w.end()) return 0;
    auto& times = it->second;
    while (!times.empty() && now - times.front() >= window) times.pop_front();
    if (times.empty()) {
        w.erase(it);
        return 0;
    }
    return times.size();
}

template <class Key>
void Admission::sweep(Window<Key>& w, Clock::time_point now) {
    for (auto it = w.begin(); it != w.end();) {
        auto next = std::next(it);
        recent(w, it->first, now);  // erases the entry once its times are all old
        it = next;
    }
}

std::optional<wire::RelayError> Admission::may_create(const PublicKeyBytes& author, const AddressBytes& address,
                                                      Clock::time_point now) {
    std::lock_guard lock(mutex_);
    if (founders_ && !founders_->contains(author)) return wire::RelayError::not_founder;
    if (recent(by_founder_, author, now) >= quotas_.rooms_per_founder_per_hour) return wire::RelayError::quota;
    if (recent(by_address_, address, now) >= quotas_.rooms_per_address_per_hour) return wire::RelayError::quota;
    return std::nullopt;
}

void Admission::room_created(const PublicKeyBytes& author, const AddressBytes& address, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    by_founder_[author].push_back(now);
    by_address_[address].push_back(now);
    // Keys seen once an hour ago go; the windows hold only this hour's rooms.
    if (++calls_ % 256 == 0) {
        sweep(by_founder_, now);
        sweep(by_address_, now);
    }
}

}  // namespace parley::relay
