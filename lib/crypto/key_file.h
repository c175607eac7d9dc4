// Key files: PKCS#8 private keys and SubjectPublicKeyInfo public keys in PEM, as
// `openssl genpkey -algorithm ed25519` writes them. OpenSSL parses the PEM;
// everything after that is libsodium.
//
// Loading is start-up work, so failures throw KeyFileError, whose what() is the
// user-facing message and hint() says what to do.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

#include "crypto/primitives.h"

namespace parley::crypto {

class KeyFileError : public std::runtime_error {
public:
    KeyFileError(const std::string& message, std::string hint)
        : std::runtime_error(message), hint_(std::move(hint)) {}
    const std::string& hint() const { return hint_; }

private:
    std::string hint_;
};

struct Identity {
    SigningKey secret;  // wiped on destruction
    PublicKey public_key{};
};

// Refuses files that group or others can read, non-Ed25519 keys and keys whose
// X25519 form does not exist.
Identity load_private_key(const std::filesystem::path& path);
// A private file's bytes into locked memory: refused (KeyFileError naming
// `what`) when it is not a regular file, is a symlink, or others may read it.
SecretBuffer read_private_file(const std::filesystem::path& path, const std::string& what,
                               const std::string& missing_hint);
PublicKey load_public_key(const std::filesystem::path& path);

// Parsers over PEM text (used by the loaders and the fuzz targets). Throw KeyFileError.
Identity parse_private_key_pem(std::string_view pem, const std::string& what);
PublicKey parse_public_key_pem(std::string_view pem, const std::string& what);

std::string private_key_pem(const Identity& identity);
std::string public_key_pem(const PublicKey& key);

// A PEM block of one of Parley's own types ("PARLEY DEVICE CERTIFICATE"), written
// and read by OpenSSL's PEM_write_bio / PEM_read_bio. pem_block_decode throws
// KeyFileError (naming `what`) unless `text` is exactly one block of `type`, with
// no headers, and nothing but white space around it.
std::string pem_block_encode(const std::string& type, ByteView data);
Bytes pem_block_decode(std::string_view text, const std::string& type, const std::string& what);

// A new Ed25519 key pair from libsodium's CSPRNG.
Identity generate_identity();
// Writes `private_path` (mode 0600, exclusive create) and `public_path` (0644,
// exclusive create). Never overwrites: throws if either exists.
void write_key_files(const Identity& identity, const std::filesystem::path& private_path,
                     const std::filesystem::path& public_path);
// Writes `path` with `data` (exclusive create, then fsync): throws KeyFileError,
// with `hint`, when it exists. write_private_key_file writes private_key_pem at mode 0600.
void write_new_file(const std::filesystem::path& path, std::string_view data, unsigned mode, const std::string& hint);
void write_private_key_file(const Identity& identity, const std::filesystem::path& path, const std::string& hint);

}  // namespace parley::crypto
