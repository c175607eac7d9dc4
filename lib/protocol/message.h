// Sealing and opening message envelopes (docs/PROTOCOL.md §5). Pure functions:
// the receiver's state machine lives in receiver.h.
#pragma once

#include <optional>
#include <string>

#include "crypto/key_file.h"
#include "wire/envelope.h"

namespace parley::protocol {

// Everything a sender needs that does not change per message.
struct SenderContext {
    const crypto::Identity* me = nullptr;
    wire::KeyId my_id{};
    wire::RoomId room{};
    std::uint64_t epoch = 0;
    wire::Hash record_hash{};
    wire::SessionId session{};
    const crypto::SymmetricKey* message_key = nullptr;
};

// Pads (sodium_pad, 256-byte blocks), encrypts with the header as associated
// data, signs label || header || ciphertext. `text` must be at most
// wire::max_plaintext_bytes.
[[nodiscard]] Bytes seal_message(const SenderContext& ctx, std::uint64_t counter,
                                 std::uint64_t timestamp_ms, const wire::Nonce& nonce,
                                 std::string_view text);

// Verifies the signature against `sender`, then decrypts and unpads. nullopt
// on a bad signature; the string holds the reason otherwise on failure.
enum class OpenMessageError { bad_signature, bad_ciphertext, bad_padding };
const char* to_string(OpenMessageError e);
struct OpenedMessage {
    std::optional<std::string> text;
    OpenMessageError error = OpenMessageError::bad_signature;
};
[[nodiscard]] OpenedMessage open_message(const wire::Envelope& envelope,
                                         const crypto::PublicKey& sender,
                                         const crypto::SymmetricKey& message_key);

}  // namespace parley::protocol
