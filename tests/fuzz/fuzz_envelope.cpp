// Envelopes (docs/PROTOCOL.md §5, §10.4 for version 2): decode_envelope on anything. An envelope
// that decodes re-encodes to exactly the input, and its fields respect the
// layout's limits.
#include "fuzz_support.h"

using namespace parley;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::init_deterministic();
    auto decoded = wire::decode_envelope(ByteView(data, size));
    if (!decoded.envelope) return 0;
    const auto& env = *decoded.envelope;
    // Version 1 has types 1 and 2; version 2 adds 3 (key-update).
    FUZZ_CHECK(env.header.version == 1 || env.header.version == 2);
    FUZZ_CHECK(env.header.type == wire::EnvelopeType::text || env.header.type == wire::EnvelopeType::sync ||
               (env.header.version == 2 && env.header.type == wire::EnvelopeType::key_update));
    FUZZ_CHECK(env.ciphertext.size() >= wire::aead_tag_bytes + wire::padding_block_bytes);
    FUZZ_CHECK((env.ciphertext.size() - wire::aead_tag_bytes) % wire::padding_block_bytes == 0);
    // round trip
    auto again = wire::encode_envelope(env);
    FUZZ_CHECK(again.size() == size && std::equal(again.begin(), again.end(), data));
    // what a receiver computes next must not trip over anything either
    auto signed_message = wire::envelope_signed_message(env);
    static_assert(label::sig_envelope.size() == label::v2::sig_envelope.size());
    FUZZ_CHECK(signed_message.size() == label::sig_envelope.size() + size - wire::signature_bytes);
    auto header = wire::encode_header(env.header);
    FUZZ_CHECK(header.size() == wire::envelope_header_bytes);
    return 0;
}
