// The receiver of version-2 envelopes (docs/PROTOCOL.md §10.4, §10.5, §7's checks
// in version 2's form), on a device's stored chains (device_chains.h):
//
//   1. the envelope decodes, is of version 2, of this room and of an epoch this
//      device adopted (by epoch and record hash);
//   2. its sender key id names a device certified in that epoch's record;
//   3. the device key's signature verifies, before any key is taken;
//   4. signed by this device's own key: ours only at a position this state
//      folder took, else the alarm that the device key is in use elsewhere;
//   5. the chain gives the position's key once (a used one is gone: a replay;
//      more than 4,096 ahead: refused without deriving);
//   6. it decrypts; a sync's or key-update's plaintext is well-formed;
//   7. positions of the device before this one that never came are reported
//      (missing_before), and a first-of-epoch sync that names positions in the
//      epoch before past the last that came is reported too (missing_in_previous).
//
// Nothing is shown as genuine unless every check passed. Run it inside the
// transaction that stores the message, so a rolled-back message can be read again.
// A rejection after step 3 (a certified device's envelope that does not decrypt)
// uses up the position: only that device could sign another envelope for it.
#pragma once

#include <map>
#include <optional>
#include <set>

#include "protocol/device.h"
#include "protocol/receiver.h"
#include "store/device_chains.h"

namespace parley::store {

struct DeviceDelivery : protocol::Delivery {
    std::optional<crypto::PublicKey> device;   // the sending device, once known to be certified
    // A first-of-epoch sync's tail of the epoch before that never came:
    // positions previous_front .. previous_front + missing_in_previous - 1 (the
    // positions skipped before the front were reported as missing_before already).
    std::uint64_t missing_in_previous = 0;
    std::uint64_t previous_front = 0;
    std::optional<protocol::v2::UpdateKeyEntry> key_update;  // a key-update's entry, verified
};

class DeviceReceiver {
public:
    DeviceReceiver(const wire::RoomId& room, const crypto::PublicKey& my_device, DeviceChains& chains)
        : room_(room), me_(my_device), chains_(chains) {}

    // A version-2 epoch this device adopted (DeviceEpochs::adopt).
    void add_epoch(const wire::EpochRecord& record);
    // An epoch left behind (its chains forgotten, DeviceChains::forget): its
    // envelopes are refused as stale from now on.
    void forget_epoch(const wire::Hash& record);

    [[nodiscard]] DeviceDelivery receive(ByteView envelope_bytes);

private:
    struct Epoch {
        std::uint64_t epoch = 0;
        std::map<wire::KeyId, protocol::v2::DeviceCertificate> devices;  // by the device key's id
    };
    wire::RoomId room_;
    crypto::PublicKey me_;
    DeviceChains& chains_;
    std::map<wire::Hash, Epoch> epochs_;
    std::set<wire::Hash> forgotten_;
};

}  // namespace parley::store
