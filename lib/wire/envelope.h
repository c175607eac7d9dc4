// Envelopes (docs/PROTOCOL.md §5, and §10.4 for version 2): what members send
// each other through the relay. Version 2's sender is a device and its counter a
// position of that device's sender chain; the layout is the same. The header travels in clear (it is the AEAD's associated data and is
// covered by the sender's signature); the body is XChaCha20-Poly1305.
#pragma once

#include <cstdint>
#include <optional>

#include "wire/bytes.h"
#include "wire/frames.h"
#include "wire/labels.h"
#include "wire/record.h"

namespace parley::wire {

using KeyId = Array<hash_bytes>;
using SessionId = Array<session_id_bytes>;
using Nonce = Array<nonce_bytes>;

enum class EnvelopeType : std::uint8_t {
    text = 1,
    // Not shown: takes a counter so a reader sees what came before it
    // (docs/PROTOCOL.md §5.1); its plaintext is a protocol::SyncNote.
    sync = 2,
    // Version 2 only (docs/PROTOCOL.md §10.4): the sender's new update key entry (§10.3).
    key_update = 3,
};

//   u8  version          (1)
//   u8  type             (EnvelopeType)
//   32  room id
//   u64 epoch
//   32  record hash      (the epoch record this message is keyed by)
//   32  sender key id
//   16  sender session id
//   u64 counter          (per record and sender, from 0: every process of a
//                         state folder takes the next one, §5)
//   u64 timestamp        (sender's clock, ms since the Unix epoch; display only)
//   24  nonce            (random)
struct EnvelopeHeader {
    std::uint8_t version = protocol_version;
    EnvelopeType type = EnvelopeType::text;
    RoomId room{};
    std::uint64_t epoch = 0;
    Hash record_hash{};
    KeyId sender{};
    SessionId session{};
    std::uint64_t counter = 0;
    std::uint64_t timestamp_ms = 0;
    Nonce nonce{};
};
inline constexpr std::size_t envelope_header_bytes = 1 + 1 + 32 + 8 + 32 + 32 + 16 + 8 + 8 + 24;

struct Envelope {
    EnvelopeHeader header;
    Bytes ciphertext;  // padded plaintext + 16-byte tag
    Signature signature{};
};

enum class EnvelopeError { malformed, bad_version, bad_type };
const char* to_string(EnvelopeError e);

[[nodiscard]] Bytes encode_header(const EnvelopeHeader& header);
[[nodiscard]] Bytes encode_envelope(const Envelope& envelope);
// The bytes the sender signs: label || header || u32 len || ciphertext, where
// the label is label::sig_envelope for version 1 and label::v2::sig_envelope for 2.
[[nodiscard]] Bytes envelope_signed_message(const Envelope& envelope);

struct DecodedEnvelope {
    std::optional<Envelope> envelope;
    EnvelopeError error = EnvelopeError::malformed;
};
// Exact decoding; ciphertext length must be a positive multiple of the padding
// block plus the tag. Version 1 has types 1 and 2, version 2 types 1 to 3.
[[nodiscard]] DecodedEnvelope decode_envelope(ByteView bytes);

}  // namespace parley::wire
