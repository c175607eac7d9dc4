#include "protocol/record_v2.h"

#include <sodium.h>

#include <algorithm>

namespace parley::protocol::v2 {

namespace {

// The box's plaintext: its context, then the secret.
Bytes box_plaintext(const wire::EpochRecord& r, const wire::RecordDevice& to, ByteView secret) {
    Writer w;
    w.raw(as_bytes(label::v2::seal_epoch));
    w.raw(r.room);
    w.u64(r.epoch);
    w.raw(r.previous);
    w.raw(r.author);
    w.raw(to.key());
    w.u64(to.update.counter);
    w.u8(static_cast<std::uint8_t>(to.box_kind));
    w.raw(secret);
    return w.take();
}

ByteView view(const SymmetricKey& key) { return {key.data(), key.size()}; }

}  // namespace

wire::Hash commitment(const wire::RoomId& room, std::uint64_t epoch, const wire::Hash& previous,
                      const SymmetricKey& joiner) {
    Writer w;
    w.u64(epoch);
    return wire::labelled_hash(label::v2::commitment, {room, w.bytes(), previous, view(joiner)});
}

const char* to_string(OpenError e) {
    switch (e) {
        case OpenError::not_a_device: return "this device is not in this epoch's roster";
        case OpenError::no_update_key: return "this epoch was sealed to an update key this device no longer holds";
        case OpenError::no_init_secret: return "this device does not hold the previous epoch's init secret";
        case OpenError::bad_box: return "this device's sealed secret does not open or names the wrong context";
        case OpenError::bad_commitment: return "this device's secret does not match the record's commitment";
        case OpenError::wrong_password: return "the room password does not match this epoch";
    }
    return "cannot open the epoch";
}

std::optional<WrittenRecord> build_record(const crypto::Identity& author_device, RecordDraft d,
                                          const SymmetricKey& room_secret, const EpochSecret& epoch_secret,
                                          const SymmetricKey& previous_init) {
    wire::EpochRecord r;
    r.version = wire::record_version_2;
    r.room = d.room;
    r.epoch = d.epoch;
    r.previous = d.previous;
    r.salt = d.salt;
    r.kdf = d.kdf;
    r.created_at_ms = d.created_at_ms;
    r.author = author_device.public_key;
    r.ops = std::move(d.ops);
    std::sort(d.devices.begin(), d.devices.end(), [](const DeviceDraft& a, const DeviceDraft& b) {
        return std::tie(a.certificate.identity, a.certificate.device) <
               std::tie(b.certificate.identity, b.certificate.device);
    });
    for (auto& dd : d.devices) {
        if (r.roster.empty() || r.roster.back() != dd.certificate.identity) r.roster.push_back(dd.certificate.identity);
        wire::RecordDevice device;
        device.certificate = std::move(dd.certificate);
        device.update = dd.update;
        device.box_kind = dd.box_kind;
        r.devices.push_back(std::move(device));
    }
    for (const auto& member : r.roster)
        if (std::count_if(r.devices.begin(), r.devices.end(), [&](const auto& x) { return x.member() == member; }) >
            static_cast<long>(wire::max_devices_per_member))
            return std::nullopt;

    auto joiner = joiner_secret(previous_init, r.room, r.epoch, epoch_secret);
    auto schedule = derive_epoch(room_secret, r.room, r.epoch, r.previous, joiner);
    r.token_hash = schedule.token_hash;
    r.commitment = commitment(r.room, r.epoch, r.previous, joiner);
    for (auto& device : r.devices) {
        const ByteView secret = device.box_kind == wire::BoxKind::epoch_secret
                                    ? ByteView(epoch_secret.data(), epoch_secret.size())
                                    : view(joiner);
        auto plaintext = box_plaintext(r, device, secret);
        auto box = crypto::seal_to_x25519(device.update.update_key, plaintext);
        sodium_memzero(plaintext.data(), plaintext.size());
        if (!box || box->size() != wire::device_box_bytes) return std::nullopt;
        std::copy(box->begin(), box->end(), device.box.begin());
    }
    r.signature = crypto::sign(author_device.secret, wire::record_signed_message(r));
    return WrittenRecord{std::move(r), std::move(joiner)};
}

std::variant<SymmetricKey, OpenError> open_record(const wire::PublicKey& device, const UpdateKeyLookup& update_keys,
                                                  const SymmetricKey* previous_init, const wire::EpochRecord& r) {
    const auto* mine = wire::find_device(r, device);
    if (r.version != wire::record_version_2 || !mine) return OpenError::not_a_device;
    const auto* private_key = update_keys(mine->update.counter, mine->update.update_key);
    if (!private_key) return OpenError::no_update_key;
    if (mine->box_kind == wire::BoxKind::epoch_secret && !previous_init) return OpenError::no_init_secret;

    auto opened = crypto::open_sealed_x25519(mine->update.update_key, *private_key, mine->box);
    if (!opened || opened->size() != wire::device_box_plaintext_bytes) return OpenError::bad_box;
    const std::array<std::uint8_t, wire::secret_bytes> placeholder{};
    const auto expected = box_plaintext(r, *mine, placeholder);
    const std::size_t context_bytes = expected.size() - wire::secret_bytes;
    if (sodium_memcmp(opened->data(), expected.data(), context_bytes) != 0) return OpenError::bad_box;

    SymmetricKey joiner;
    if (mine->box_kind == wire::BoxKind::joiner_secret) {
        std::copy_n(opened->data() + context_bytes, wire::secret_bytes, joiner.data());
    } else {
        EpochSecret secret;
        std::copy_n(opened->data() + context_bytes, wire::secret_bytes, secret.data());
        joiner = joiner_secret(*previous_init, r.room, r.epoch, secret);
    }
    if (commitment(r.room, r.epoch, r.previous, joiner) != r.commitment) return OpenError::bad_commitment;
    return joiner;
}

}  // namespace parley::protocol::v2
