// parse_public_key_pem on anything: it returns an Ed25519 public key with an
// X25519 form or throws KeyFileError, nothing else. A key that parses writes
// back out and parses to the same key.
#include <openssl/err.h>

#include "fuzz_support.h"

using namespace parley;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::init_deterministic();
    std::string_view pem(reinterpret_cast<const char*>(data), size);
    try {
        auto key = crypto::parse_public_key_pem(pem, "fuzz input");
        FUZZ_CHECK(crypto::converts_to_x25519(key));
        FUZZ_CHECK(crypto::parse_public_key_pem(crypto::public_key_pem(key), "re-encoded key") == key);
    } catch (const crypto::KeyFileError& e) {
        FUZZ_CHECK(e.what()[0] != '\0');
    }
    ERR_clear_error();
    return 0;
}
