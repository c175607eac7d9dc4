// parse_private_key_pem on anything: it returns an Ed25519 identity or throws
// KeyFileError, nothing else. A key that parses writes back out and parses to
// the same key.
#include <openssl/err.h>

#include "fuzz_support.h"

using namespace parley;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::init_deterministic();
    std::string_view pem(reinterpret_cast<const char*>(data), size);
    try {
        auto id = crypto::parse_private_key_pem(pem, "fuzz input");
        FUZZ_CHECK(crypto::converts_to_x25519(id.public_key));
        auto again = crypto::parse_private_key_pem(crypto::private_key_pem(id), "re-encoded key");
        FUZZ_CHECK(again.public_key == id.public_key);
        FUZZ_CHECK(again.secret.equals(id.secret));
    } catch (const crypto::KeyFileError& e) {
        FUZZ_CHECK(e.what()[0] != '\0');
    }
    ERR_clear_error();  // OpenSSL's per-thread error queue
    return 0;
}
