// Parley rooms for the load generator, made the way a real client makes them
// (docs/PROTOCOL.md §3-§6): a roster of generated identities, a genesis record
// built with protocol::build_record, the access token from
// protocol::derive_epoch_keys, and envelopes sealed with protocol::seal_message.
//
// The room secret is derived once with Argon2id (default parameters) and shared
// by every room: the relay never sees it, and one derivation per room would only
// slow the set-up down.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "crypto/key_file.h"
#include "wire/frames.h"

namespace parley::bench {

// Byte offsets inside the frames the hot path touches, so it need not decode
// whole frames (checked against the real encoder by ParleyFixture's constructor).
//   Send:    u8 version, u8 type, u64 request id, 32 room, 32 genesis, blob envelope
//   Deliver: u8 version, u8 type, 32 room, 32 genesis, u64 seq, blob envelope
//   envelope header: ..., 16 session at 106, u64 counter at 122 (§5)
inline constexpr std::size_t send_request_id_offset = 2;
inline constexpr std::size_t frame_envelope_offset = 2 + 8 + 32 + 32 + 4;  // same in Send and Deliver
inline constexpr std::size_t envelope_session_offset = 1 + 1 + 32 + 8 + 32 + 32;
inline constexpr std::size_t envelope_counter_offset = envelope_session_offset + 16;

// The Send frame size of a `text_bytes` message (header, padded ciphertext, tag,
// signature): what a broadcast relay is sent so both carry the same bytes.
std::size_t parley_send_frame_bytes(std::size_t text_bytes);

struct ParleyRoom {
    wire::RoomId room{};
    wire::Hash genesis{};
    wire::Token token{};
    Bytes publish_frame;  // the genesis record, published by member 0
    Bytes join_frame;
    std::shared_ptr<const crypto::SymmetricKey> message_key;
    std::size_t roster_size = 0;  // the fixture's first roster_size identities
};

// Which sender and which of its messages a Deliver carries: the sender's index
// is the first four bytes of its session id, the message its envelope counter.
struct MessageId {
    std::uint32_t sender = 0;
    std::uint64_t counter = 0;
};
std::optional<MessageId> parse_deliver(std::span<const std::uint8_t> frame);

class ParleyFixture {
public:
    // `roster_size` identities (generated once, shared by all rooms; a room with
    // more connections than roster members has members in several sessions).
    ParleyFixture(std::size_t rooms, std::size_t roster_size, const std::string& run_tag);
    // Rooms of different sizes (scenario 7): room r's roster is the first
    // roster_sizes[r] of max(roster_sizes) identities, as a real room of that
    // many members would have (and its genesis seals the epoch secret to each).
    ParleyFixture(const std::vector<std::size_t>& roster_sizes, const std::string& run_tag);

    const ParleyRoom& room(std::size_t i) const { return rooms_.at(i); }
    std::size_t roster_size() const { return identities_.size(); }

    // `count` Send frames from roster member `member` (modulo the room's roster) in `room`, counters 0..count-1,
    // each sealed with seal_message (fresh nonce, own session id).
    std::vector<Bytes> seal_sends(std::size_t room, std::size_t member, std::uint32_t sender_index,
                                  std::size_t count, std::size_t text_bytes) const;

    // Rewrites a Send frame's envelope counter and request id in place. Used when
    // a sender outruns its pre-sealed pool: the signature then no longer matches,
    // which changes nothing for the relay (it cannot check envelopes, §6).
    static void set_counter(Bytes& send_frame, std::uint64_t counter);

private:
    std::vector<crypto::Identity> identities_;
    std::vector<ParleyRoom> rooms_;
};

}  // namespace parley::bench
