// docs/PROTOCOL.md §5: envelope layout.
#include "wire/envelope.h"

namespace parley::wire {

const char* to_string(EnvelopeError e) {
    switch (e) {
        case EnvelopeError::malformed: return "malformed envelope";
        case EnvelopeError::bad_version: return "unsupported envelope version";
        case EnvelopeError::bad_type: return "unknown envelope type";
    }
    return "envelope error";
}

static void put_header(Writer& w, const EnvelopeHeader& h) {
    w.u8(h.version);
    w.u8(static_cast<std::uint8_t>(h.type));
    w.raw(h.room);
    w.u64(h.epoch);
    w.raw(h.record_hash);
    w.raw(h.sender);
    w.raw(h.session);
    w.u64(h.counter);
    w.u64(h.timestamp_ms);
    w.raw(h.nonce);
}

Bytes encode_header(const EnvelopeHeader& header) {
    Writer w;
    put_header(w, header);
    return w.take();
}

Bytes encode_envelope(const Envelope& e) {
    Writer w;
    put_header(w, e.header);
    w.blob(e.ciphertext);
    w.raw(e.signature);
    return w.take();
}

Bytes envelope_signed_message(const Envelope& e) {
    Writer w;
    w.raw(as_bytes(e.header.version == 2 ? label::v2::sig_envelope : label::sig_envelope));
    put_header(w, e.header);
    w.blob(e.ciphertext);
    return w.take();
}

DecodedEnvelope decode_envelope(ByteView bytes) {
    if (bytes.size() > max_envelope_bytes) return {std::nullopt, EnvelopeError::malformed};
    Reader r(bytes);
    Envelope e;
    auto& h = e.header;
    h.version = r.u8();
    auto type = r.u8();
    if (r.failed()) return {std::nullopt, EnvelopeError::malformed};
    if (h.version != 1 && h.version != 2) return {std::nullopt, EnvelopeError::bad_version};
    const std::uint8_t last_type = h.version == 1 ? 2 : 3;
    if (type < 1 || type > last_type) return {std::nullopt, EnvelopeError::bad_type};
    h.type = static_cast<EnvelopeType>(type);
    h.room = r.fixed<hash_bytes>();
    h.epoch = r.u64();
    h.record_hash = r.fixed<hash_bytes>();
    h.sender = r.fixed<hash_bytes>();
    h.session = r.fixed<session_id_bytes>();
    h.counter = r.u64();
    h.timestamp_ms = r.u64();
    h.nonce = r.fixed<nonce_bytes>();
    auto ct = r.blob(max_envelope_bytes);
    e.signature = r.fixed<signature_bytes>();
    if (!r.ok_and_done()) return {std::nullopt, EnvelopeError::malformed};
    if (ct.size() < aead_tag_bytes + padding_block_bytes ||
        (ct.size() - aead_tag_bytes) % padding_block_bytes != 0)
        return {std::nullopt, EnvelopeError::malformed};
    e.ciphertext.assign(ct.begin(), ct.end());
    return {std::move(e), EnvelopeError::malformed};
}

}  // namespace parley::wire
