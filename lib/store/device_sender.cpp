#include "store/device_sender.h"

#include "crypto/primitives.h"

namespace parley::store {

void DeviceSender::set_epoch(const wire::EpochRecord& record, std::optional<wire::Hash> previous_record) {
    epoch_ = record.epoch;
    record_ = wire::record_hash(record);
    previous_ = previous_record;
    has_epoch_ = true;
}

std::vector<Bytes> DeviceSender::seal(std::string_view plaintext, std::uint64_t timestamp_ms, wire::EnvelopeType type) {
    if (!has_epoch_) throw StoreError("no epoch to send in");
    std::vector<Bytes> out;
    auto step = take();
    if (step.position == 0) {
        // The process that takes position 0 (of all the device's processes)
        // sends there the sync that closes the epoch before.
        const protocol::SyncNote note{protocol::SyncReason::first_of_epoch, previous_.value_or(wire::Hash{}),
                                      previous_ ? chains_.positions_sent(*previous_) : 0};
        out.push_back(seal_at(step, protocol::encode_sync(note), timestamp_ms, wire::EnvelopeType::sync));
        step = take();
    }
    out.push_back(seal_at(step, plaintext, timestamp_ms, type));
    return out;
}

std::vector<Bytes> DeviceSender::seal_sync(protocol::SyncReason reason, std::uint64_t timestamp_ms) {
    return seal(protocol::encode_sync({reason, wire::Hash{}, 0}), timestamp_ms, wire::EnvelopeType::sync);
}

std::vector<Bytes> DeviceSender::seal_key_update(const protocol::v2::UpdateKeyEntry& entry,
                                                 std::uint64_t timestamp_ms) {
    const auto bytes = wire::encode_update_key_entry(entry);
    return seal(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), timestamp_ms,
                wire::EnvelopeType::key_update);
}

protocol::v2::SenderChain::Step DeviceSender::take() {
    auto step = chains_.take_sender(record_);
    if (!step) throw StoreError("this device has no sender chain in epoch " + std::to_string(epoch_));
    return std::move(*step);
}

Bytes DeviceSender::seal_at(const protocol::v2::SenderChain::Step& step, std::string_view plaintext,
                            std::uint64_t timestamp_ms, wire::EnvelopeType type) {
    protocol::SenderContext ctx{&device_, crypto::key_id(device_.public_key), room_, epoch_, record_, session_,
                                &step.message_key, 2};
    auto envelope = protocol::seal_message(ctx, step.position, timestamp_ms, crypto::random_array<wire::nonce_bytes>(),
                                           plaintext, type);
    chains_.note_sealed(record_, step.position, envelope);
    return envelope;
}

}  // namespace parley::store
