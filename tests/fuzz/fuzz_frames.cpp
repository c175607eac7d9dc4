// Relay frames (docs/PROTOCOL.md §6): decode_frame on anything. A frame that
// decodes re-encodes to exactly the input (decoding is exact and canonical);
// the records and envelopes a frame carries go through their own decoders too,
// as the relay and the client would.
#include "fuzz_support.h"

using namespace parley;

namespace {

void decode_payloads(const wire::Frame& frame) {
    if (const auto* p = std::get_if<wire::Publish>(&frame)) (void)wire::decode_record(p->record);
    if (const auto* n = std::get_if<wire::NewHead>(&frame)) (void)wire::decode_record(n->record);
    if (const auto* s = std::get_if<wire::Send>(&frame)) (void)wire::decode_envelope(s->envelope);
    if (const auto* d = std::get_if<wire::Deliver>(&frame)) (void)wire::decode_envelope(d->envelope);
    if (const auto* c = std::get_if<wire::Chain>(&frame)) {
        FUZZ_CHECK(c->records.size() <= wire::max_records_per_page);
        FUZZ_CHECK(c->complete || !c->records.empty());
        for (const auto& record : c->records) (void)wire::decode_record(record);
    }
    if (const auto* e = std::get_if<wire::Error>(&frame)) (void)wire::to_string(e->code);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::init_deterministic();
    ByteView in(data, size);
    auto decoded = wire::decode_frame(in);
    if (!decoded.frame) {
        FUZZ_CHECK(decoded.error == wire::FrameError::malformed || decoded.error == wire::FrameError::bad_version);
        return 0;
    }
    // round trip: exact decoding means the encoding is unique
    auto again = wire::encode_frame(*decoded.frame);
    FUZZ_CHECK(again.size() == size && std::equal(again.begin(), again.end(), data));
    decode_payloads(*decoded.frame);
    return 0;
}
