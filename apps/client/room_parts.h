// Small helpers shared by the parts of RoomClient (room_client.cpp,
// room_epochs.cpp, room_v2.cpp, room_stream.cpp). Internal to the client.
#pragma once

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "protocol/epoch.h"
#include "user_error.h"
#include "wire/record.h"

namespace parley::client::detail {

inline std::uint64_t now_ms() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

// A record over 64 KiB would not even decode at the relay: say so before sending.
inline void check_record_size(const Bytes& encoded, std::size_t members) {
    if (encoded.size() <= wire::max_record_bytes) return;
    throw UserError("too many members for one epoch record: " + std::to_string(members) + " members make a " +
                        std::to_string(encoded.size()) + "-byte record, over the 64 KiB limit",
                    "a room's first record holds at most " + std::to_string(wire::max_members_in_record) +
                        " members (each later one about 237, fewer when it changes the roster)");
}

// What every successor of the chain's head shares, in a record draft of either version.
template <class Draft>
Draft successor_draft(const protocol::VerifiedChain& chain) {
    const auto& head = chain.head();
    Draft draft;
    draft.room = head.room;
    draft.epoch = head.epoch + 1;
    draft.previous = chain.head_hash();
    draft.salt = head.salt;
    draft.kdf = head.kdf;
    draft.created_at_ms = now_ms();
    return draft;
}

inline bool contains(const std::vector<crypto::PublicKey>& roster, const crypto::PublicKey& k) {
    return std::binary_search(roster.begin(), roster.end(), k);
}

}  // namespace parley::client::detail
