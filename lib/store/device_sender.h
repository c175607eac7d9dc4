// The sender of version-2 envelopes (docs/PROTOCOL.md §10.4), on this device's
// stored sender chains (device_chains.h): each envelope takes the next position
// of the device's chain in its epoch, in the state file, so every process of the
// device gets its own; the message key is used once and wiped.
//
// A device's first envelope in an epoch is a sync of reason 3 naming the epoch
// before and how many positions the device used in it, so a reader learns of a
// withheld tail there; seal() puts it in front of the first text by itself.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "protocol/device.h"
#include "protocol/message.h"
#include "store/device_chains.h"

namespace parley::store {

class DeviceSender {
public:
    // `device` and `chains` must outlive this; `session` is this process's (§5).
    DeviceSender(const wire::RoomId& room, const crypto::Identity& device, DeviceChains& chains,
                 const wire::SessionId& session)
        : room_(room), device_(device), chains_(chains), session_(session) {}

    // The epoch envelopes go to, and the one before it (nullopt for a genesis, or
    // when this device was not in it): the epoch's record must have been adopted
    // (DeviceEpochs::adopt started this device's chain there).
    void set_epoch(const wire::EpochRecord& record, std::optional<wire::Hash> previous_record);

    // The envelopes to send, in order, for one text (or a sync or key-update):
    // the epoch's first-of-epoch sync before it when this process takes the
    // device's position 0 there. Throws StoreError when the device has no
    // chain there. A position taken is used up even if the envelope is never
    // sent: readers see it as missing, as they should see a lost one.
    [[nodiscard]] std::vector<Bytes> seal(std::string_view plaintext, std::uint64_t timestamp_ms,
                                          wire::EnvelopeType type = wire::EnvelopeType::text);
    [[nodiscard]] std::vector<Bytes> seal_sync(protocol::SyncReason reason, std::uint64_t timestamp_ms);
    [[nodiscard]] std::vector<Bytes> seal_key_update(const protocol::v2::UpdateKeyEntry& entry,
                                                     std::uint64_t timestamp_ms);

private:
    protocol::v2::SenderChain::Step take();
    Bytes seal_at(const protocol::v2::SenderChain::Step& step, std::string_view plaintext,
                  std::uint64_t timestamp_ms, wire::EnvelopeType type);

    wire::RoomId room_;
    const crypto::Identity& device_;
    DeviceChains& chains_;
    wire::SessionId session_;
    std::uint64_t epoch_ = 0;
    wire::Hash record_{};
    std::optional<wire::Hash> previous_;
    bool has_epoch_ = false;
};

}  // namespace parley::store
