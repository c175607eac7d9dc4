#include "protocol/message.h"

#include <cstdlib>

namespace parley::protocol {

const char* to_string(OpenMessageError e) {
    switch (e) {
        case OpenMessageError::bad_signature: return "signature does not verify";
        case OpenMessageError::bad_ciphertext: return "ciphertext does not authenticate";
        case OpenMessageError::bad_padding: return "bad padding";
    }
    return "cannot open message";
}

Bytes seal_message(const SenderContext& ctx, std::uint64_t counter, std::uint64_t timestamp_ms,
                   const wire::Nonce& nonce, std::string_view text, wire::EnvelopeType type) {
    if (text.size() > wire::max_plaintext_bytes) std::abort();  // callers check the size
    wire::Envelope env;
    auto& h = env.header;
    h.version = ctx.version;
    h.type = type;
    h.room = ctx.room;
    h.epoch = ctx.epoch;
    h.record_hash = ctx.record_hash;
    h.sender = ctx.my_id;
    h.session = ctx.session;
    h.counter = counter;
    h.timestamp_ms = timestamp_ms;
    h.nonce = nonce;

    // pad to hide the exact length
    Bytes padded(text.begin(), text.end());
    padded.resize(text.size() + wire::padding_block_bytes);
    std::size_t padded_len = 0;
    if (sodium_pad(&padded_len, padded.data(), text.size(), wire::padding_block_bytes, padded.size()) != 0)
        std::abort();
    padded.resize(padded_len);

    auto ad = wire::encode_header(h);
    env.ciphertext = crypto::aead_seal(*ctx.message_key, nonce, ad, padded);
    sodium_memzero(padded.data(), padded.size());
    env.signature = crypto::sign(ctx.me->secret, wire::envelope_signed_message(env));
    return wire::encode_envelope(env);
}

OpenedMessage open_message(const wire::Envelope& env, const crypto::PublicKey& sender,
                           const crypto::SymmetricKey& message_key) {
    // verify before decrypt
    if (!crypto::verify(sender, env.signature, wire::envelope_signed_message(env)))
        return {std::nullopt, OpenMessageError::bad_signature};
    return open_verified_message(env, message_key);
}

OpenedMessage open_verified_message(const wire::Envelope& env, const crypto::SymmetricKey& message_key) {
    auto ad = wire::encode_header(env.header);
    auto padded = crypto::aead_open(message_key, env.header.nonce, ad, env.ciphertext);
    if (!padded) return {std::nullopt, OpenMessageError::bad_ciphertext};
    std::size_t len = 0;
    if (sodium_unpad(&len, padded->data(), padded->size(), wire::padding_block_bytes) != 0)
        return {std::nullopt, OpenMessageError::bad_padding};
    std::string text(padded->begin(), padded->begin() + static_cast<std::ptrdiff_t>(len));
    sodium_memzero(padded->data(), padded->size());
    return {std::move(text), OpenMessageError::bad_signature};
}

// u8 reason || 32 previous record hash || u64 positions (§5.1, §10.4).
std::string encode_sync(const SyncNote& note) {
    // Sized up front: GCC 12 at -O2 warns (-Warray-bounds, a false positive) on a
    // vector grown from one byte by insert, and CI builds with -Werror.
    Writer w;
    w.bytes().reserve(sync_note_bytes);
    w.u8(static_cast<std::uint8_t>(note.reason));
    w.raw(note.previous_record);
    w.u64(note.previous_positions);
    const auto bytes = w.take();
    return {bytes.begin(), bytes.end()};
}

std::optional<SyncNote> decode_sync(std::string_view plaintext, std::uint8_t version) {
    if (plaintext.size() != sync_note_bytes) return std::nullopt;
    Reader r(as_bytes(plaintext));
    SyncNote note;
    const auto reason = r.u8();
    note.previous_record = r.fixed<wire::hash_bytes>();
    note.previous_positions = r.u64();
    if (reason < 1 || reason > (version == 1 ? 2 : 4)) return std::nullopt;
    note.reason = static_cast<SyncReason>(reason);
    // Only a reason 3 sync names the epoch before.
    if (note.reason != SyncReason::first_of_epoch &&
        (note.previous_record != wire::Hash{} || note.previous_positions != 0))
        return std::nullopt;
    return note;
}

}  // namespace parley::protocol
