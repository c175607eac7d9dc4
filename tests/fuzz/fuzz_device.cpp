// Version 2's device certificates and update key entries (lib/protocol/device.h)
// from anything: the first byte picks the decoder (even: certificate, odd:
// entry), the rest is its input. What decodes has a valid name and encodes
// back to exactly the bytes it came from; a certificate or entry that does not
// verify is never made to verify by decoding.
#include "fuzz_support.h"
#include "protocol/device.h"

using namespace parley;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::init_deterministic();
    if (size == 0) return 0;
    const ByteView input(data + 1, size - 1);
    if (data[0] % 2 == 0) {
        const auto certificate = protocol::v2::decode_device_certificate(input);
        if (!certificate) return 0;
        FUZZ_CHECK(protocol::v2::valid_device_name(certificate->name));
        const auto again = protocol::v2::encode_device_certificate(*certificate);
        FUZZ_CHECK(again.size() == input.size() && std::equal(again.begin(), again.end(), input.begin()));
        (void)protocol::v2::verify_device_certificate(*certificate);
    } else {
        const auto entry = protocol::v2::decode_update_key_entry(input);
        if (!entry) return 0;
        FUZZ_CHECK(input.size() == protocol::v2::update_key_entry_bytes);
        const auto again = protocol::v2::encode_update_key_entry(*entry);
        FUZZ_CHECK(std::equal(again.begin(), again.end(), input.begin()));
        (void)protocol::v2::verify_update_key_entry(fuzz::fixture().room, *entry);
    }
    return 0;
}
