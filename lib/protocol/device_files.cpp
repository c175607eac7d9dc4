#include "protocol/device_files.h"

#include <sodium.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace parley::protocol::v2 {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t max_certificate_file_bytes = 4096;

std::string read_small_file(const fs::path& path, const std::string& what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw crypto::KeyFileError("cannot read " + what, "check that the file exists and that you may read it");
    std::string text;
    text.resize(max_certificate_file_bytes + 1);
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (text.size() > max_certificate_file_bytes)
        throw crypto::KeyFileError(what + " is too large for a device certificate",
                                   "the file is damaged; move both device files away and run 'parley device add' "
                                   "again");
    return text;
}

std::string redo_hint(const DeviceFiles& files) {
    return "restore it, or move " + files.key.filename().string() + " and " + files.certificate.filename().string() +
           " away and run 'parley device add NAME' again (the old device is then gone for good)";
}

}  // namespace

DeviceFiles device_files(const fs::path& state_dir, const wire::PublicKey& member) {
    const std::string id = to_hex(crypto::key_id(member)).substr(0, 16);
    const fs::path base = state_dir / ("device-" + id);
    return {base.string() + ".pem", base.string() + ".cert", base.string() + ".joining", base.string() + ".card"};
}

std::string certificate_file_text(const DeviceCertificate& certificate) {
    return crypto::pem_block_encode(device_certificate_pem_type, encode_device_certificate(certificate));
}

DeviceCertificate parse_certificate_file(std::string_view text, const std::string& what) {
    const auto bytes = crypto::pem_block_decode(text, device_certificate_pem_type, what);
    auto certificate = decode_device_certificate(bytes);
    if (!certificate)
        throw crypto::KeyFileError(what + " does not hold a device certificate (docs/PROTOCOL.md §10.5)",
                                   "the file is damaged; restore it from where it came from");
    return *certificate;
}

std::string card_file_text(const DeviceCard& card) {
    return crypto::pem_block_encode(device_card_pem_type, encode_device_card(card));
}

DeviceCard parse_card_file(std::string_view text, const std::string& what) {
    const auto bytes = crypto::pem_block_decode(text, device_card_pem_type, what);
    auto card = decode_device_card(bytes);
    if (!card)
        throw crypto::KeyFileError(what + " does not hold a device card (docs/PROTOCOL.md §10.5)",
                                   "the file is damaged; ask its member for it again");
    if (!verify_device_card(*card))
        throw crypto::KeyFileError(what + " has a bad signature: it was changed after its member made it",
                                   "ask its member for it again ('parley device card' prints where it is)");
    return *card;
}

DeviceCard load_card_file(const fs::path& path) {
    const std::string what = "device card " + path.string();
    return parse_card_file(read_small_file(path, what), what);
}

namespace {

// Writes a new joining key and the card naming it. With `replace`, the old
// private half is overwritten in place before the new files go in.
DeviceCard write_card(const DeviceFiles& files, const Device& device, bool replace) {
    auto pair = generate_update_key();
    DeviceCard card{device.certificate, sign_joining_key(device.key, pair.public_key)};
    std::error_code ec;
    if (replace) {
        for (const auto& old : {files.joining, files.card}) {
            if (old == files.joining && fs::exists(old, ec)) {
                std::ofstream wipe(old, std::ios::binary | std::ios::in | std::ios::out);
                const std::string zeros(fs::file_size(old, ec), '\0');
                wipe.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
                wipe.flush();
            }
            fs::remove(old, ec);
        }
    }
    const std::string hint = "another process made this device's card at the same time; 'parley device card' shows it";
    std::string pem = crypto::pem_block_encode(joining_key_pem_type, ByteView(pair.private_key.data(), update_key_bytes));
    try {
        crypto::write_new_file(files.joining, pem, 0600, hint);
    } catch (...) {
        sodium_memzero(pem.data(), pem.size());
        throw;
    }
    sodium_memzero(pem.data(), pem.size());
    try {
        crypto::write_new_file(files.card, card_file_text(card), 0644, hint);
    } catch (...) {
        fs::remove(files.joining, ec);  // a joining key nobody can name is no use
        throw;
    }
    return card;
}

}  // namespace

DeviceCard make_card(const fs::path& state_dir, const Device& device, bool replace) {
    const auto files = device_files(state_dir, device.certificate.identity);
    std::error_code ec;
    if (!replace && fs::exists(files.card, ec) && fs::exists(files.joining, ec)) {
        auto card = load_card_file(files.card);
        if (card.certificate != device.certificate)
            throw crypto::KeyFileError(files.card.string() + " is the card of another device",
                                       "run 'parley device card --new' to make this device's");
        return card;
    }
    const bool card = fs::exists(files.card, ec), joining = fs::exists(files.joining, ec);
    if (!replace && card != joining)
        throw crypto::KeyFileError((card ? files.joining : files.card).string() + " is missing, beside " +
                                       (card ? files.card : files.joining).string(),
                                   "run 'parley device card --new' to make a new card (and hand it out again)");
    return write_card(files, device, replace || card || joining);
}

crypto::Secret<update_key_bytes> load_joining_key(const fs::path& state_dir, const Device& device) {
    const auto files = device_files(state_dir, device.certificate.identity);
    const std::string what = "joining key " + files.joining.string();
    const auto pem = crypto::read_private_file(files.joining, what, "run 'parley device card' to make one");
    auto bytes = crypto::pem_block_decode(std::string_view(reinterpret_cast<const char*>(pem.data()), pem.size()),
                                          joining_key_pem_type, what);
    if (bytes.size() != update_key_bytes) {
        sodium_memzero(bytes.data(), bytes.size());
        throw crypto::KeyFileError(what + " does not hold an X25519 key", "run 'parley device card --new'");
    }
    crypto::Secret<update_key_bytes> key;
    std::copy(bytes.begin(), bytes.end(), key.data());
    sodium_memzero(bytes.data(), bytes.size());
    // The card must name this key: the box a record seals to the card opens only with it.
    const auto card = load_card_file(files.card);
    UpdateKey public_key{};
    crypto_scalarmult_base(public_key.data(), key.data());
    if (card.joining.update_key != public_key || card.certificate != device.certificate)
        throw crypto::KeyFileError(what + " is not the key " + files.card.filename().string() + " names",
                                   "run 'parley device card --new' and hand out the new card");
    return key;
}

Device add_device(const fs::path& state_dir, const crypto::Identity& member, std::string name,
                  std::uint64_t created_at_ms) {
    if (!valid_device_name(name))
        throw std::invalid_argument("bad device name '" + name + "': use 1 to 32 of A-Z a-z 0-9 . _ -");
    const auto files = device_files(state_dir, member.public_key);
    std::error_code ec;
    if (fs::exists(files.key, ec) || fs::exists(files.certificate, ec)) {
        const auto& there = fs::exists(files.key, ec) ? files.key : files.certificate;
        throw crypto::KeyFileError("this state folder holds a device of this member already (" + there.string() + ")",
                                   "one device per state folder: 'parley device show' names it; for another "
                                   "device, pass --state OTHER_FOLDER");
    }
    Device device{crypto::generate_identity(), {}};
    device.certificate = certify_device(member, device.key.public_key, std::move(name), created_at_ms);
    const std::string hint = "another process made a device here at the same time; 'parley device show' names it";
    crypto::write_private_key_file(device.key, files.key, hint);
    try {
        crypto::write_new_file(files.certificate, certificate_file_text(device.certificate), 0600, hint);
        (void)write_card(files, device, true);  // none of this device's can be there: clears a stray one
    } catch (...) {
        fs::remove(files.key, ec);  // a key without its certificate is no device
        fs::remove(files.certificate, ec);
        throw;
    }
    return device;
}

std::optional<Device> load_device(const fs::path& state_dir, const wire::PublicKey& member) {
    const auto files = device_files(state_dir, member);
    std::error_code ec;
    const bool has_key = fs::exists(files.key, ec), has_certificate = fs::exists(files.certificate, ec);
    if (!has_key && !has_certificate) return std::nullopt;
    if (!has_certificate)
        throw crypto::KeyFileError("device key " + files.key.string() + " has no certificate beside it (" +
                                       files.certificate.filename().string() + ")",
                                   redo_hint(files));
    if (!has_key)
        throw crypto::KeyFileError("device certificate " + files.certificate.string() + " has no key beside it (" +
                                       files.key.filename().string() + ")",
                                   redo_hint(files));
    Device device{crypto::load_private_key(files.key), {}};
    const std::string what = "device certificate " + files.certificate.string();
    device.certificate = parse_certificate_file(read_small_file(files.certificate, what), what);
    if (device.certificate.identity != member)
        throw crypto::KeyFileError(what + " certifies a device of another member (" +
                                       crypto::fingerprint(device.certificate.identity) + ")",
                                   redo_hint(files));
    if (!verify_device_certificate(device.certificate))
        throw crypto::KeyFileError(what + " has a bad signature: it was changed after the member's key signed it",
                                   redo_hint(files));
    if (device.certificate.device != device.key.public_key)
        throw crypto::KeyFileError(what + " certifies another key than " + files.key.filename().string() + "'s",
                                   redo_hint(files));
    return device;
}

}  // namespace parley::protocol::v2
