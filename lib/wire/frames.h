// Client <-> relay frames (docs/PROTOCOL.md §6). One binary WebSocket message is
// one frame: u8 version, u8 type, then the type's fields. The relay reads these
// and nothing inside an envelope.
#pragma once

#include <cstdint>
#include <optional>
#include <variant>

#include "wire/bytes.h"
#include "wire/labels.h"

namespace parley::wire {

using Hash = Array<hash_bytes>;
using RoomId = Array<hash_bytes>;
using Token = Array<token_bytes>;

enum class FrameType : std::uint8_t {
    get_chain = 0x01,
    publish = 0x02,
    join = 0x03,
    send = 0x04,
    resend = 0x05,  // a Send sent again (Send::resend)
    chain = 0x81,
    published = 0x82,
    joined = 0x83,
    ack = 0x84,
    deliver = 0x85,
    new_head = 0x86,
    error = 0x8f,
};

// Error codes the relay sends. Generic on purpose: nothing an attacker can use.
enum class RelayError : std::uint16_t {
    malformed = 1,       // frame did not decode
    bad_version = 2,     // unknown protocol version
    too_large = 3,       // frame over the relay's size limit
    unknown_chain = 4,   // no such (room, genesis)
    not_head = 5,        // publish lost the compare-and-set: previous hash is not the head
    bad_record = 6,      // record failed the relay's structural or signature checks
    forbidden = 7,       // access token does not match the head epoch
    not_joined = 8,      // send before join, or the epoch moved on: join again
    limit = 9,           // a relay limit (rooms per connection, rate, ...) was hit
    internal = 10,
    room_exists = 11,    // a genesis for a room id that already has another one
    not_founder = 12,    // this relay lets only its listed founder keys create rooms
    quota = 13,          // a storage quota: rooms per key or address, bytes, records
};

// --- client -> relay -------------------------------------------------------

// One page of the chain starting at `genesis`: the records after the record
// whose hash is `after` (all-zero: from the genesis, genesis included), in
// epoch order. Answered by Chain, or Error unknown_chain (no such room, chain
// or record).
struct GetChain {
    std::uint64_t request_id = 0;
    RoomId room{};
    Hash genesis{};
    Hash after{};
};
// Append `record` to a chain: epoch 0 starts a new chain (token all-zero); any
// other epoch must extend the head and come with the head epoch's access token.
struct Publish {
    std::uint64_t request_id = 0;
    RoomId room{};
    Token token{};
    Bytes record;
};
// Subscribe to a chain. The relay first sends every stored Deliver and NewHead
// with a sequence number above `after_seq`, in order, then live traffic, with no
// gap and no duplicate at the switch-over (docs/PROTOCOL.md §6.2).
struct Join {
    std::uint64_t request_id = 0;
    RoomId room{};
    Hash genesis{};
    Token token{};
    std::uint64_t after_seq = 0;
};
// Encoded as type Resend when `resend`: the client sends this envelope again,
// byte for byte, after losing the connection before its Ack. If the relay
// already stored it (among the chain's last few thousand items), it answers
// Ack with that copy's sequence number and neither stores nor delivers it again
// (docs/PROTOCOL.md §6.2).
struct Send {
    std::uint64_t request_id = 0;
    RoomId room{};
    Hash genesis{};
    Bytes envelope;
    bool resend = false;
};

// --- relay -> client -------------------------------------------------------

// A page of records, in epoch order. `complete`: the last one is the chain's
// head (or there are none: `after` was the head); otherwise there is at least
// one, and the client asks again after the last one.
struct Chain {
    std::uint64_t request_id = 0;
    RoomId room{};
    Hash genesis{};
    bool complete = false;
    std::vector<Bytes> records;
};
struct Published {
    std::uint64_t request_id = 0;
    Hash record_hash{};
};
// `last_seq` is the chain's newest sequence number; `first_seq` the oldest one
// still stored (last_seq + 1 when nothing is): anything between the client's
// after_seq and first_seq expired under the relay's retention.
struct Joined {
    std::uint64_t request_id = 0;
    std::uint64_t head_epoch = 0;
    Hash head_hash{};
    std::uint64_t last_seq = 0;
    std::uint64_t first_seq = 1;
};
struct Ack {
    std::uint64_t request_id = 0;
    std::uint64_t seq = 0;
};
struct Deliver {
    RoomId room{};
    Hash genesis{};
    std::uint64_t seq = 0;
    Bytes envelope;
};
// A new head was accepted; every member of the room is unsubscribed and must join
// again with the new epoch's token. It takes a place in the chain's sequence, so
// a client catching up sees where the epoch changed among the messages.
struct NewHead {
    RoomId room{};
    Hash genesis{};
    std::uint64_t seq = 0;
    Bytes record;
};
struct Error {
    std::uint64_t request_id = 0;  // 0 when the frame had none
    RelayError code = RelayError::internal;
};

using Frame = std::variant<GetChain, Publish, Join, Send, Chain, Published, Joined, Ack, Deliver,
                           NewHead, Error>;

inline constexpr std::size_t max_records_per_chain = 100000;
// A Chain page holds at most this many records (and the relay's byte budget).
inline constexpr std::size_t max_records_per_page = 1024;

enum class FrameError { malformed, bad_version };

struct DecodedFrame {
    std::optional<Frame> frame;
    FrameError error = FrameError::malformed;  // meaningful only when !frame
};

[[nodiscard]] Bytes encode_frame(const Frame& frame);
// Exact decoding: any short, long or non-canonical frame is `malformed`.
[[nodiscard]] DecodedFrame decode_frame(ByteView bytes);

const char* to_string(RelayError code);

// A Publish that did not decode only because its record is over
// max_record_bytes: its request id, so the answer can be "too large" to that
// request rather than "malformed" to none.
[[nodiscard]] std::optional<std::uint64_t> oversized_record_request(ByteView bytes);

}  // namespace parley::wire
