// A device's own files (docs/PROTOCOL.md §10.2, §10.5): its Ed25519 device key
// and the certificate the member's identity key signed for it, beside the
// member's state file in the state folder:
//
//   STATE/device-ID.pem      the device key, PKCS#8 PEM, mode 0600 (refused when
//                            others can read it, as the identity key file is)
//   STATE/device-ID.cert     the certificate, a PEM block "PARLEY DEVICE CERTIFICATE"
//   STATE/device-ID.joining  the joining key's private half (X25519), a PEM block
//                            "PARLEY JOINING KEY", mode 0600
//   STATE/device-ID.card     the device's card (§10.5), a PEM block "PARLEY DEVICE
//                            CARD": what the member copies into public_keys/ as
//                            NAME.DEVICE.card
//
// ID is the first 16 hex digits of the member's key id, as in the state file's
// name, so members sharing a state folder keep their devices apart. One device
// per member per state folder; `parley device add` makes it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/device.h"

namespace parley::protocol::v2 {

inline constexpr const char* device_certificate_pem_type = "PARLEY DEVICE CERTIFICATE";
inline constexpr const char* device_card_pem_type = "PARLEY DEVICE CARD";
inline constexpr const char* joining_key_pem_type = "PARLEY JOINING KEY";

struct DeviceFiles {
    std::filesystem::path key;
    std::filesystem::path certificate;
    std::filesystem::path joining;
    std::filesystem::path card;
};
[[nodiscard]] DeviceFiles device_files(const std::filesystem::path& state_dir, const wire::PublicKey& member);

struct Device {
    crypto::Identity key;  // the device key (wiped on destruction)
    DeviceCertificate certificate;
};

[[nodiscard]] std::string certificate_file_text(const DeviceCertificate& certificate);
// The certificate in a .cert file's text: exactly one PEM block of
// device_certificate_pem_type holding exactly one certificate. Its signature is
// not checked here (load_device does). Throws crypto::KeyFileError naming `what`.
[[nodiscard]] DeviceCertificate parse_certificate_file(std::string_view text, const std::string& what);

[[nodiscard]] std::string card_file_text(const DeviceCard& card);
// A .card file's card: one PEM block of device_card_pem_type, decoded and
// verified (verify_device_card). Throws crypto::KeyFileError naming `what`.
[[nodiscard]] DeviceCard parse_card_file(std::string_view text, const std::string& what);
[[nodiscard]] DeviceCard load_card_file(const std::filesystem::path& path);

// Makes a device key, certifies it with `member` under `name`, and writes its
// files (the key first, at 0600; then the certificate, the joining key and the
// card; none is ever overwritten). Throws
// crypto::KeyFileError when the member has a device in this folder already (or
// half of one), std::invalid_argument for a name valid_device_name refuses.
Device add_device(const std::filesystem::path& state_dir, const crypto::Identity& member, std::string name,
                  std::uint64_t created_at_ms);

// The member's device in this folder; nullopt when neither file exists. Throws
// crypto::KeyFileError, saying which file and what to do, when one is missing,
// the key file is readable by others, the certificate does not decode or
// verify, certifies another member, or certifies another key than the key file's.
[[nodiscard]] std::optional<Device> load_device(const std::filesystem::path& state_dir,
                                                const wire::PublicKey& member);

// The device's card, made with its joining key if the device has none yet (one
// made before cards existed), or replaced with a new joining key when
// `replace` (the old private half is overwritten, then removed). Throws
// crypto::KeyFileError as load_device does, and when only one of the card
// and the joining key is there (never replaced without `replace`: members may
// hold the card).
DeviceCard make_card(const std::filesystem::path& state_dir, const Device& device, bool replace);
// The private half of the device's joining key.
[[nodiscard]] crypto::Secret<update_key_bytes> load_joining_key(const std::filesystem::path& state_dir,
                                                               const Device& device);

}  // namespace parley::protocol::v2
