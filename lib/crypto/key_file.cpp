#include "crypto/key_file.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

namespace parley::crypto {
namespace {

struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

constexpr std::size_t max_pem_bytes = 64 * 1024;

// OpenSSL asks for a pass phrase on the terminal when a PEM file says it is
// encrypted and no callback is given; a hostile key file must not make us
// wait on a prompt. Parley's key files are never encrypted.
int refuse_pass_phrase(char*, int, int, void* asked) {
    *static_cast<bool*>(asked) = true;
    return 0;
}

constexpr const char* keygen_hint = "make an Ed25519 key with 'parley keygen --user NAME' or "
                                    "'openssl genpkey -algorithm ed25519 -out NAME.pem'";

void check_key_type(EVP_PKEY* key, const std::string& what) {
    if (EVP_PKEY_get_id(key) == EVP_PKEY_ED25519) return;
    std::string type = EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "unknown";
    throw KeyFileError(what + " is a " + type + " key, but Parley needs Ed25519 keys", keygen_hint);
}

std::string read_file(const std::filesystem::path& path, const std::string& what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw KeyFileError("cannot read " + what + ": " + std::strerror(errno),
                           "check that the file exists and that you may read it");
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

Identity parse_private_key_pem(std::string_view pem, const std::string& what) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    bool encrypted = false;
    PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_pass_phrase, &encrypted) : nullptr);
    if (!key && encrypted)
        throw KeyFileError(what + " is encrypted with a pass phrase", "Parley needs an unencrypted key file (mode 0600)");
    if (!key) throw KeyFileError(what + " is not a PEM private key (PKCS#8)", keygen_hint);
    check_key_type(key.get(), what);
    Secret<crypto_sign_SEEDBYTES> seed;
    std::size_t seed_len = seed.size();
    if (EVP_PKEY_get_raw_private_key(key.get(), seed.data(), &seed_len) != 1 || seed_len != seed.size())
        throw KeyFileError(what + ": cannot read the Ed25519 private key", keygen_hint);
    Identity id;
    if (crypto_sign_seed_keypair(id.public_key.data(), id.secret.data(), seed.data()) != 0)
        throw KeyFileError(what + ": invalid Ed25519 private key", keygen_hint);
    if (!converts_to_x25519(id.public_key))
        throw KeyFileError(what + ": key has no X25519 form", keygen_hint);
    return id;
}

PublicKey parse_public_key_pem(std::string_view pem, const std::string& what) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    bool encrypted = false;
    PkeyPtr key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, refuse_pass_phrase, &encrypted) : nullptr);
    if (!key && encrypted) throw KeyFileError(what + " claims to be encrypted, which a public key never is", "");
    if (!key) {
        throw KeyFileError(what + " is not a PEM public key (SubjectPublicKeyInfo)",
                           "export it with 'openssl pkey -in NAME.pem -pubout -out public_keys/NAME.pem'");
    }
    check_key_type(key.get(), what);
    PublicKey pk{};
    std::size_t len = pk.size();
    if (EVP_PKEY_get_raw_public_key(key.get(), pk.data(), &len) != 1 || len != pk.size())
        throw KeyFileError(what + ": cannot read the Ed25519 public key", keygen_hint);
    if (!converts_to_x25519(pk))
        throw KeyFileError(what + ": Ed25519 key has no X25519 form (weak or invalid key)", keygen_hint);
    return pk;
}

SecretBuffer read_private_file(const std::filesystem::path& path, const std::string& what,
                               const std::string& missing_hint) {
    // One open, then checks on that descriptor: no window between the
    // permission check and the read.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) throw KeyFileError("cannot read " + what + ": " + std::strerror(errno), missing_hint);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw KeyFileError(what + " is not a regular file", missing_hint);
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        ::close(fd);
        throw KeyFileError(what + " is readable by other users (permissions too open)",
                           "run 'chmod 600 " + path.string() +
                               "' (on a FAT flash drive, mount it with fmask=0077)");
    }
    SecretBuffer pem(max_pem_bytes);
    std::size_t n = 0;
    ssize_t got = 0;
    while (n < pem.size() && (got = ::read(fd, pem.data() + n, pem.size() - n)) > 0) n += static_cast<std::size_t>(got);
    ::close(fd);
    if (got < 0) throw KeyFileError("cannot read " + what + ": " + std::strerror(errno), "");
    if (n == pem.size()) throw KeyFileError(what + " is too large for a key file", missing_hint);
    SecretBuffer out(n);
    std::copy_n(pem.data(), n, out.data());
    return out;
}

Identity load_private_key(const std::filesystem::path& path) {
    const std::string what = "private key file " + path.string();
    const auto pem = read_private_file(
        path, what, "make one with 'parley keygen --user NAME', or pass --dir to the folder that holds it");
    return parse_private_key_pem(std::string_view(reinterpret_cast<const char*>(pem.data()), pem.size()), what);
}

PublicKey load_public_key(const std::filesystem::path& path) {
    const std::string what = "public key file " + path.string();
    return parse_public_key_pem(read_file(path, what), what);
}

std::string private_key_pem(const Identity& identity) {
    PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, identity.secret.data(),
                                             crypto_sign_SEEDBYTES));
    BioPtr bio(BIO_new(BIO_s_secmem()));
    if (!key || !bio || PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
        throw KeyFileError("cannot encode the private key", "");
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

std::string public_key_pem(const PublicKey& pk) {
    PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pk.data(), pk.size()));
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!key || !bio || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1)
        throw KeyFileError("cannot encode the public key", "");
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

Identity generate_identity() {
    Identity id;
    if (crypto_sign_keypair(id.public_key.data(), id.secret.data()) != 0) std::abort();
    return id;
}

void write_new_file(const std::filesystem::path& path, std::string_view data, unsigned mode,
                    const std::string& hint) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, static_cast<mode_t>(mode));
    if (fd < 0) {
        if (errno == EEXIST) throw KeyFileError(path.string() + " already exists; refusing to overwrite it", hint);
        throw KeyFileError("cannot create " + path.string() + ": " + std::strerror(errno), "");
    }
    // On any failure the half-written file goes: the next try must not meet
    // it as "already exists", nor read it as a key.
    auto fail = [&](int error) {
        ::close(fd);
        ::unlink(path.c_str());
        throw KeyFileError("cannot write " + path.string() + ": " + std::strerror(error), "");
    };
    std::size_t done = 0;
    while (done < data.size()) {
        auto n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail(n < 0 ? errno : EIO);
        done += static_cast<std::size_t>(n);
    }
    if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) fail(errno);  // the mode asked for, whatever the umask
    if (::fsync(fd) != 0) fail(errno);
    if (::close(fd) != 0) {
        const int error = errno;
        ::unlink(path.c_str());
        throw KeyFileError("cannot write " + path.string() + ": " + std::strerror(error), "");
    }
}

void write_private_key_file(const Identity& identity, const std::filesystem::path& path, const std::string& hint) {
    auto pem = private_key_pem(identity);
    try {
        write_new_file(path, pem, 0600, hint);
    } catch (...) {
        sodium_memzero(pem.data(), pem.size());
        throw;
    }
    sodium_memzero(pem.data(), pem.size());
}

void write_key_files(const Identity& identity, const std::filesystem::path& private_path,
                     const std::filesystem::path& public_path) {
    const std::string hint = "pick another --user name or move the old file away";
    if (std::filesystem::exists(private_path) || std::filesystem::exists(public_path)) {
        throw KeyFileError((std::filesystem::exists(private_path) ? private_path : public_path).string() +
                               " already exists; refusing to overwrite it",
                           hint);
    }
    write_private_key_file(identity, private_path, hint);
    write_new_file(public_path, public_key_pem(identity.public_key), 0644, hint);
}

std::string pem_block_encode(const std::string& type, ByteView data) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio(bio.get(), type.c_str(), "", data.data(), static_cast<long>(data.size())) <= 0)
        throw KeyFileError("cannot encode a " + type, "");
    char* out = nullptr;
    long n = BIO_get_mem_data(bio.get(), &out);
    return std::string(out, static_cast<std::size_t>(n));
}

namespace {

bool is_pem_blank(char c) { return c == '\n' || c == '\r' || c == ' ' || c == '\t'; }

// A PEM type name from the file, fit for an error message: printable ASCII, short.
std::string shown_pem_type(const std::string& name) {
    std::string shown;
    for (char c : name.substr(0, 64)) shown += (c >= 0x20 && c < 0x7f) ? c : '?';
    return shown.empty() ? "block without a name" : shown;
}

}  // namespace

Bytes pem_block_decode(std::string_view text, const std::string& type, const std::string& what) {
    const std::string hint = "the file is damaged or not a " + type + "; restore it from where it came from";
    if (text.size() > max_pem_bytes) throw KeyFileError(what + " is too large for a " + type, hint);
    BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long length = 0;
    const bool read = bio && PEM_read_bio(bio.get(), &name, &header, &data, &length) == 1;
    const std::string got_name = read && name ? name : "";
    const bool headers = read && header && *header != '\0';
    Bytes out;
    if (read && data && length > 0) out.assign(data, data + length);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    if (!read) {
        ERR_clear_error();  // PEM_read_bio's "no start line" must not linger for the next OpenSSL caller
        throw KeyFileError(what + " is not a PEM file", hint);
    }
    if (got_name != type) throw KeyFileError(what + " holds a " + shown_pem_type(got_name) + ", not a " + type, hint);
    if (headers) throw KeyFileError(what + " has PEM headers, which a " + type + " never has", hint);
    // PEM_read_bio stops after the block: what is left must be blank.
    char rest[256];
    int n = 0;
    while ((n = BIO_read(bio.get(), rest, sizeof rest)) > 0)
        for (int i = 0; i < n; ++i)
            if (!is_pem_blank(rest[i])) throw KeyFileError(what + " has more after its " + type, hint);
    // Before it too: PEM_read_bio skips any text ahead of the BEGIN line, even
    // a BEGIN line of its own that it could not read. The first non-blank text
    // must be this block's BEGIN line.
    std::size_t first = 0;
    while (first < text.size() && is_pem_blank(text[first])) ++first;
    const std::string begin_line = "-----BEGIN " + type + "-----";
    if (text.substr(first, begin_line.size()) != begin_line)
        throw KeyFileError(what + " has text before its " + type, hint);
    return out;
}

}  // namespace parley::crypto
