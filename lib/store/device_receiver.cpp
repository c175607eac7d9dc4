#include "store/device_receiver.h"

namespace parley::store {

namespace {

DeviceDelivery rejected(DeviceDelivery d, std::string reason) {
    d.accepted = false;
    d.reason = std::move(reason);
    return d;
}

}  // namespace

void DeviceReceiver::add_epoch(const wire::EpochRecord& record) {
    Epoch e;
    e.epoch = record.epoch;
    for (const auto& device : record.devices) e.devices.emplace(crypto::key_id(device.key()), device.certificate);
    epochs_[wire::record_hash(record)] = std::move(e);
}

void DeviceReceiver::forget_epoch(const wire::Hash& record) {
    if (epochs_.erase(record) != 0) forgotten_.insert(record);
}

DeviceDelivery DeviceReceiver::receive(ByteView bytes) {
    DeviceDelivery d;
    auto decoded = wire::decode_envelope(bytes);
    if (!decoded.envelope) return rejected(d, std::string("malformed envelope: ") + wire::to_string(decoded.error));
    const auto& env = *decoded.envelope;
    d.header = env.header;
    if (env.header.version != 2) return rejected(d, "a version 1 envelope in a room of protocol version 2");
    if (env.header.room != room_) return rejected(d, "an envelope of another room");
    if (forgotten_.count(env.header.record_hash) != 0) {
        d.stale = true;
        return rejected(d, "message for stale epoch " + std::to_string(env.header.epoch) +
                               " (two or more before the stream's: its keys are forgotten)");
    }
    const auto epoch = epochs_.find(env.header.record_hash);
    if (epoch == epochs_.end() || epoch->second.epoch != env.header.epoch)
        return rejected(d, "an envelope of an epoch this device does not hold");
    const auto device = epoch->second.devices.find(env.header.sender);
    if (device == epoch->second.devices.end())
        return rejected(d, "signed by a device that no record of this epoch certifies");
    const auto& certificate = device->second;
    if (!crypto::verify(certificate.device, env.signature, wire::envelope_signed_message(env)))
        return rejected(d, "bad signature: forged or tampered");
    d.device = certificate.device;
    d.sender = certificate.identity;
    const auto& record = env.header.record_hash;
    const auto position = env.header.counter;

    if (certificate.device == me_) {
        // Ours only if this folder sealed these very bytes there: a copy of the
        // folder takes the same positions.
        // (An epoch begun before such hashes were kept: by position, as then.)
        auto here = chains_.sealed_here(record, position, bytes);
        if (!here) {
            const auto taken = chains_.sender_next(record);
            here = taken && position < *taken;
        }
        if (!*here)
            return rejected(d, "signed with this device's key but not sent from this state folder: the device key "
                               "may be in use elsewhere");
        // What another process of this device sent (a `send` beside a `chat`):
        // its key was erased when it was sealed, and nothing is shown (the
        // sending process stored it in history).
        d.own = true;
        d.accepted = true;
        d.ignored = true;
        d.reason = "sent by this device";
        return d;
    }
    std::uint64_t front = 0;
    auto key = chains_.take_receiver(record, certificate.device, position, &front);
    if (auto* error = std::get_if<DeviceChains::Error>(&key)) {
        switch (*error) {
            case DeviceChains::Error::no_chain:
                return rejected(d, "no chain of that device in this epoch");
            case DeviceChains::Error::no_key:
                d.replay = true;
                return rejected(d, "replayed, or too old to open: that position's key is gone");
            case DeviceChains::Error::too_far_ahead:
                return rejected(d, "a position too far ahead of the chain");
        }
    }
    auto opened = protocol::open_verified_message(env, std::get<crypto::SymmetricKey>(key));
    if (!opened.text) return rejected(d, std::string("does not decrypt: ") + protocol::to_string(opened.error));
    if (position > front) d.missing_before = position - front;

    switch (env.header.type) {
        case wire::EnvelopeType::text:
            d.text = std::move(*opened.text);
            break;
        case wire::EnvelopeType::sync: {
            auto note = protocol::decode_sync(*opened.text, 2);
            if (!note) return rejected(d, "a malformed sync");
            if (note->reason == protocol::SyncReason::first_of_epoch) {
                // What the device says it used in the epoch before, against what came.
                const auto before = chains_.receiver_next(note->previous_record, certificate.device);
                if (before && note->previous_positions > *before) {
                    d.previous_front = *before;
                    d.missing_in_previous = note->previous_positions - *before;
                }
            }
            d.sync = *note;
            break;
        }
        case wire::EnvelopeType::key_update: {
            auto entry = protocol::v2::decode_update_key_entry(as_bytes(*opened.text));
            // Counter 0 is a joining key (§10.5): it comes on a card, never as a key-update.
            if (!entry || entry->device != certificate.device || entry->counter == 0 ||
                !protocol::v2::verify_update_key_entry(room_, *entry))
                return rejected(d, "a key-update whose entry is not this device's, signed for this room");
            d.key_update = *entry;
            break;
        }
    }
    d.accepted = true;
    return d;
}

}  // namespace parley::store
