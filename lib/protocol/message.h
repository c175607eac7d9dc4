// Sealing and opening message envelopes (docs/PROTOCOL.md §5). Pure functions:
// the receiver's state machine lives in receiver.h.
#pragma once

#include <optional>
#include <string>

#include "crypto/key_file.h"
#include "wire/envelope.h"

namespace parley::protocol {

// Everything a sender needs that does not change per message. Version 2
// (§10.4): `me` is the device's key, `my_id` its key id, and `message_key` the
// key of the chain position passed as the counter (a new one for each envelope).
struct SenderContext {
    const crypto::Identity* me = nullptr;
    wire::KeyId my_id{};
    wire::RoomId room{};
    std::uint64_t epoch = 0;
    wire::Hash record_hash{};
    wire::SessionId session{};
    const crypto::SymmetricKey* message_key = nullptr;
    std::uint8_t version = 1;  // the envelope's, which is its epoch's
};

// Pads (sodium_pad, 256-byte blocks), encrypts with the header as associated
// data, signs label || header || ciphertext. `text` must be at most
// wire::max_plaintext_bytes; for a sync it is encode_sync's bytes.
[[nodiscard]] Bytes seal_message(const SenderContext& ctx, std::uint64_t counter,
                                 std::uint64_t timestamp_ms, const wire::Nonce& nonce,
                                 std::string_view text, wire::EnvelopeType type = wire::EnvelopeType::text);

// The plaintext of a sync envelope (docs/PROTOCOL.md §5.1): a position in the
// sender's counter stream that shows nothing, so what a relay withheld before
// it shows.
enum class SyncReason : std::uint8_t {
    still_here = 1,  // every few minutes while the sender has sent something since its last sync
    leaving = 2,     // at the end of `send`, and when `chat` quits
    // Version 2 only (§10.4):
    first_of_epoch = 3,  // a device's first envelope in an epoch: how many positions it used in the one before
    locked_out = 4,      // this device cannot open the epoch (its box was sealed to an erased key): please rekey
};
struct SyncNote {
    SyncReason reason = SyncReason::still_here;
    wire::Hash previous_record{};      // reason 3: the record of the epoch before
    std::uint64_t previous_positions = 0;  // reason 3: positions this device used in it
    auto operator<=>(const SyncNote&) const = default;
};
inline constexpr std::size_t sync_note_bytes = 1 + 32 + 8;
// u8 reason || 32 previous record hash || u64 positions.
[[nodiscard]] std::string encode_sync(const SyncNote& note);
// nullopt for anything but exactly sync_note_bytes with a reason of that
// envelope version (1 and 2 in version 1, 1 to 4 in version 2) and, but for
// reason 3, the last two fields zero.
[[nodiscard]] std::optional<SyncNote> decode_sync(std::string_view plaintext, std::uint8_t version = 1);

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
// The same, for an envelope whose signature the caller verified already (a
// version-2 receiver verifies before it takes a key from a chain).
[[nodiscard]] OpenedMessage open_verified_message(const wire::Envelope& envelope,
                                                  const crypto::SymmetricKey& message_key);

}  // namespace parley::protocol
