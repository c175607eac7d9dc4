// parse_certificate_file and parse_card_file (a device's .cert and .card,
// protocol/device_files.h) on anything: each returns a certificate with a valid
// name (a card: one that verifies) or throws KeyFileError, nothing else. What
// parses writes back out to a file that parses to the same.
#include <openssl/err.h>

#include "fuzz_support.h"
#include "protocol/device_files.h"

using namespace parley;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::init_deterministic();
    std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const auto certificate = protocol::v2::parse_certificate_file(text, "fuzz input");
        FUZZ_CHECK(protocol::v2::valid_device_name(certificate.name));
        FUZZ_CHECK(protocol::v2::parse_certificate_file(protocol::v2::certificate_file_text(certificate),
                                                        "re-encoded certificate") == certificate);
    } catch (const crypto::KeyFileError& e) {
        FUZZ_CHECK(e.what()[0] != '\0');
    }
    try {
        const auto card = protocol::v2::parse_card_file(text, "fuzz input");
        FUZZ_CHECK(protocol::v2::verify_device_card(card));
        FUZZ_CHECK(protocol::v2::parse_card_file(protocol::v2::card_file_text(card), "re-encoded card") == card);
    } catch (const crypto::KeyFileError& e) {
        FUZZ_CHECK(e.what()[0] != '\0');
    }
    ERR_clear_error();
    return 0;
}
