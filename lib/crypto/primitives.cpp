#include "crypto/primitives.h"

#include <cstdlib>

namespace parley::crypto {

void init() {
    if (sodium_init() < 0) std::abort();
}

void random_bytes(std::span<std::uint8_t> out) { randombytes_buf(out.data(), out.size()); }

KeyId key_id(const PublicKey& key) { return wire::labelled_hash(label::key_id, {key}); }

std::string format_fingerprint(const Hash& hash) {
    auto hex = to_hex(ByteView(hash).first(20));
    std::string out;
    for (std::size_t i = 0; i < hex.size(); i += 4) {
        if (i != 0) out.push_back(' ');
        out.append(hex, i, 4);
    }
    return out;
}

std::string fingerprint(const PublicKey& key) { return format_fingerprint(key_id(key)); }

Hash roster_hash(std::span<const PublicKey> sorted_keys) {
    Bytes all;
    for (const auto& k : sorted_keys) all.insert(all.end(), k.begin(), k.end());
    return wire::labelled_hash(label::roster, {all});
}

wire::RoomId room_id(std::string_view room_name) {
    return wire::labelled_hash(label::room_id, {as_bytes(room_name)});
}

Hash room_code(const Hash& genesis, const Hash& head) {
    return wire::labelled_hash(label::room_code, {genesis, head});
}

Signature sign(const SigningKey& key, ByteView message) {
    Signature sig{};
    if (crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), key.data()) != 0)
        std::abort();  // cannot fail with a valid key
    return sig;
}

bool verify(const PublicKey& key, const Signature& sig, ByteView message) {
    return crypto_sign_verify_detached(sig.data(), message.data(), message.size(), key.data()) == 0;
}

Bytes aead_seal(const SymmetricKey& key, const wire::Nonce& nonce, ByteView ad, ByteView plaintext) {
    Bytes out(plaintext.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
    unsigned long long out_len = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out.data(), &out_len, plaintext.data(),
                                               plaintext.size(), ad.data(), ad.size(), nullptr,
                                               nonce.data(), key.data());
    out.resize(out_len);
    return out;
}

std::optional<Bytes> aead_open(const SymmetricKey& key, const wire::Nonce& nonce, ByteView ad,
                               ByteView ciphertext) {
    if (ciphertext.size() < crypto_aead_xchacha20poly1305_ietf_ABYTES) return std::nullopt;
    Bytes out(ciphertext.size() - crypto_aead_xchacha20poly1305_ietf_ABYTES);
    unsigned long long out_len = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), &out_len, nullptr, ciphertext.data(),
                                                   ciphertext.size(), ad.data(), ad.size(),
                                                   nonce.data(), key.data()) != 0) {
        sodium_memzero(out.data(), out.size());
        return std::nullopt;
    }
    out.resize(out_len);
    return out;
}

std::optional<SecretBuffer> aead_open_secret(const SymmetricKey& key, const wire::Nonce& nonce, ByteView ad,
                                             ByteView ciphertext) {
    if (ciphertext.size() < crypto_aead_xchacha20poly1305_ietf_ABYTES) return std::nullopt;
    SecretBuffer out(ciphertext.size() - crypto_aead_xchacha20poly1305_ietf_ABYTES);
    unsigned long long out_len = 0;
    // An empty plaintext has no buffer; libsodium writes nothing then.
    std::uint8_t none = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out.empty() ? &none : out.data(), &out_len, nullptr,
                                                   ciphertext.data(), ciphertext.size(), ad.data(), ad.size(),
                                                   nonce.data(), key.data()) != 0)
        return std::nullopt;  // `out` is wiped when it goes
    return out;
}

bool converts_to_x25519(const PublicKey& key) {
    Array<crypto_box_PUBLICKEYBYTES> x{};  // not secret
    return crypto_sign_ed25519_pk_to_curve25519(x.data(), key.data()) == 0;
}

std::optional<Bytes> seal_to(const PublicKey& recipient, ByteView plaintext) {
    Array<crypto_box_PUBLICKEYBYTES> x{};  // not secret
    if (crypto_sign_ed25519_pk_to_curve25519(x.data(), recipient.data()) != 0) return std::nullopt;
    Bytes out(plaintext.size() + crypto_box_SEALBYTES);
    if (crypto_box_seal(out.data(), plaintext.data(), plaintext.size(), x.data()) != 0)
        return std::nullopt;
    return out;
}

std::optional<SecretBuffer> open_sealed(const SigningKey& key, ByteView box) {
    if (box.size() < crypto_box_SEALBYTES) return std::nullopt;
    Secret<crypto_box_SECRETKEYBYTES> x_secret;
    Array<crypto_box_PUBLICKEYBYTES> x_public{};  // not secret
    if (crypto_sign_ed25519_sk_to_curve25519(x_secret.data(), key.data()) != 0) return std::nullopt;
    if (crypto_scalarmult_base(x_public.data(), x_secret.data()) != 0) return std::nullopt;
    SecretBuffer out(box.size() - crypto_box_SEALBYTES);
    if (crypto_box_seal_open(out.data(), box.data(), box.size(), x_public.data(), x_secret.data()) != 0)
        return std::nullopt;
    return out;
}

std::optional<Bytes> seal_to_x25519(const Array<crypto_box_PUBLICKEYBYTES>& recipient, ByteView plaintext) {
    Bytes out(plaintext.size() + crypto_box_SEALBYTES);
    if (crypto_box_seal(out.data(), plaintext.data(), plaintext.size(), recipient.data()) != 0) return std::nullopt;
    return out;
}

std::optional<SecretBuffer> open_sealed_x25519(const Array<crypto_box_PUBLICKEYBYTES>& public_key,
                                               const Secret<crypto_box_SECRETKEYBYTES>& private_key, ByteView box) {
    if (box.size() < crypto_box_SEALBYTES) return std::nullopt;
    SecretBuffer out(box.size() - crypto_box_SEALBYTES);
    if (crypto_box_seal_open(out.data(), box.data(), box.size(), public_key.data(), private_key.data()) != 0)
        return std::nullopt;
    return out;
}

void kdf_derive(SymmetricKey& out, std::uint64_t id, const char (&context)[9], const SymmetricKey& key) {
    static_assert(crypto_kdf_CONTEXTBYTES == 8);
    if (crypto_kdf_derive_from_key(out.data(), out.size(), id, context, key.data()) != 0) std::abort();
}

bool argon2id(SymmetricKey& out, const SecretBuffer& password, const wire::Salt& salt,
              const wire::KdfParams& params) {
    return crypto_pwhash(out.data(), out.size(), reinterpret_cast<const char*>(password.data()),
                         password.size(), salt.data(), params.ops,
                         static_cast<std::size_t>(params.mem_kib) * 1024,
                         crypto_pwhash_ALG_ARGON2ID13) == 0;
}

Hash blake2b(ByteView data) {
    Hash out{};
    crypto_generichash(out.data(), out.size(), data.data(), data.size(), nullptr, 0);
    return out;
}

}  // namespace parley::crypto
