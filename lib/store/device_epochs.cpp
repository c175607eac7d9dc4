#include "store/device_epochs.h"

#include <sodium.h>

#include <cstring>
#include <map>

namespace parley::store {

namespace {

constexpr std::size_t update_row_bytes = protocol::v2::update_key_bytes * 2;
constexpr std::size_t adopted_row_bytes = 32 + wire::token_bytes;

Bytes counter_name(DeviceSecretKind kind, std::uint64_t n) {
    Writer w;
    w.bytes().reserve(9);
    w.u8(static_cast<std::uint8_t>(kind));
    w.u64(n);
    return w.take();
}

std::uint64_t counter_of(const Bytes& name) {
    std::uint64_t v = 0;
    for (std::size_t i = 1; i < name.size() && i <= 8; ++i) v = (v << 8) | name[i];
    return v;
}

struct HeldUpdateKey {
    protocol::v2::UpdateKey public_key{};
    crypto::Secret<protocol::v2::update_key_bytes> private_key;
};

}  // namespace

bool DeviceEpochs::adopted_after(StateStore& store, const wire::RoomId& room, std::uint64_t epoch) {
    const auto rows = store.device_secrets_named(room, Bytes{static_cast<std::uint8_t>(DeviceSecretKind::adopted_epoch)});
    return !rows.empty() && counter_of(rows.back().first) > epoch;  // names sort by their big-endian epoch
}

void DeviceEpochs::erase_keys(StateStore& store, const wire::RoomId& room, std::uint64_t out_at) {
    StateStore::Transaction tx(store);
    if (adopted_after(store, room, out_at)) return;
    for (const auto kind : {DeviceSecretKind::update_key, DeviceSecretKind::init_secret, DeviceSecretKind::update_sent})
        for (const auto& row : store.device_secrets_named(room, Bytes{static_cast<std::uint8_t>(kind)}))
            store.erase_device_secret(room, row.first);
    tx.commit();
}

bool DeviceEpochs::state_opens() {
    // Adopted epochs first (every device with state has one), then any row.
    for (const auto kind : {DeviceSecretKind::adopted_epoch, DeviceSecretKind::update_key}) {
        const auto rows = store_.device_secrets_named(cipher_.room(), Bytes{static_cast<std::uint8_t>(kind)});
        if (rows.empty()) continue;
        for (const auto& [name, sealed] : rows)
            if (cipher_.open(name, sealed)) return true;
        return false;
    }
    return true;
}

std::uint64_t DeviceEpochs::newest_update_counter() {
    const auto rows = store_.device_secrets_named(cipher_.room(), Bytes{static_cast<std::uint8_t>(DeviceSecretKind::update_key)});
    return rows.empty() ? 0 : counter_of(rows.back().first);  // names sort by their big-endian counter
}

std::optional<protocol::v2::UpdateKeyEntry> DeviceEpochs::newest_update_entry() {
    const auto rows = store_.device_secrets_named(cipher_.room(), Bytes{static_cast<std::uint8_t>(DeviceSecretKind::update_key)});
    if (rows.empty() || counter_of(rows.back().first) == 0) return std::nullopt;
    const auto& [name, sealed] = rows.back();
    auto plain = cipher_.open(name, sealed);
    if (!plain || plain->size() != update_row_bytes)
        throw StoreError("an update key in the state file does not open with this device key and password: "
                         "the file was damaged or changed");
    protocol::v2::UpdateKey public_key{};
    std::memcpy(public_key.data(), plain->data(), public_key.size());
    return protocol::v2::sign_update_key(device_, cipher_.room(), public_key, counter_of(name));
}

void DeviceEpochs::mark_update_sent(std::uint64_t counter, const wire::Hash& record) {
    const auto name = counter_name(DeviceSecretKind::update_sent, counter);
    store_.put_device_secret(cipher_.room(), name, cipher_.seal(name, record));
}

std::optional<wire::Hash> DeviceEpochs::update_sent_in(std::uint64_t counter) {
    const auto name = counter_name(DeviceSecretKind::update_sent, counter);
    const auto row = store_.load_device_secret(cipher_.room(), name);
    if (!row) return std::nullopt;
    auto plain = cipher_.open(name, *row);
    if (!plain || plain->size() != 32) throw StoreError("a key-update mark in the state file does not open");
    wire::Hash hash{};
    std::memcpy(hash.data(), plain->data(), hash.size());
    return hash;
}

void DeviceEpochs::note_update(const protocol::v2::UpdateKeyEntry& entry) {
    const auto noted = noted_updates();
    if (auto it = noted.find(entry.device); it != noted.end() && it->second.counter >= entry.counter) return;
    const auto name = device_secret_name(DeviceSecretKind::noted_update, entry.device);
    store_.put_device_secret(cipher_.room(), name, cipher_.seal(name, wire::encode_update_key_entry(entry)));
}

std::map<wire::PublicKey, protocol::v2::UpdateKeyEntry> DeviceEpochs::noted_updates() {
    std::map<wire::PublicKey, protocol::v2::UpdateKeyEntry> out;
    const Bytes prefix{static_cast<std::uint8_t>(DeviceSecretKind::noted_update)};
    for (const auto& [name, sealed] : store_.device_secrets_named(cipher_.room(), prefix)) {
        auto plain = cipher_.open(name, sealed);
        auto entry = plain ? wire::decode_update_key_entry(ByteView(plain->data(), plain->size())) : std::nullopt;
        if (!entry) throw StoreError("a noted key-update in the state file does not open: the file was damaged or changed");
        out.emplace(entry->device, *entry);
    }
    return out;
}

void DeviceEpochs::put_update_key(std::uint64_t counter, const protocol::v2::UpdateKey& public_key,
                                  const crypto::Secret<protocol::v2::update_key_bytes>& private_key) {
    crypto::SecretBuffer plain(update_row_bytes);
    std::memcpy(plain.data(), public_key.data(), public_key.size());
    std::memcpy(plain.data() + public_key.size(), private_key.data(), private_key.size());
    const auto name = counter_name(DeviceSecretKind::update_key, counter);
    store_.put_device_secret(cipher_.room(), name, cipher_.seal(name, ByteView(plain.data(), plain.size())));
}

protocol::v2::UpdateKeyEntry DeviceEpochs::new_update_key() {
    StateStore::Transaction tx(store_);
    const std::uint64_t counter = newest_update_counter() + 1;
    auto pair = protocol::v2::generate_update_key();
    put_update_key(counter, pair.public_key, pair.private_key);
    auto entry = protocol::v2::sign_update_key(device_, cipher_.room(), pair.public_key, counter);
    tx.commit();
    return entry;
}

void DeviceEpochs::take_joining_key(const crypto::Secret<protocol::v2::update_key_bytes>& joining_private) {
    StateStore::Transaction tx(store_);
    if (newest_update_counter() > 0)
        throw StoreError("this device rotated its update key in this room already; its joining key is no use here");
    protocol::v2::UpdateKey public_key{};
    crypto_scalarmult_base(public_key.data(), joining_private.data());
    put_update_key(0, public_key, joining_private);
    tx.commit();
}

std::optional<crypto::SymmetricKey> DeviceEpochs::init_secret(std::uint64_t epoch) {
    const auto name = counter_name(DeviceSecretKind::init_secret, epoch);
    const auto row = store_.load_device_secret(cipher_.room(), name);
    if (!row) return std::nullopt;
    auto plain = cipher_.open(name, *row);
    if (!plain || plain->size() != 32)
        throw StoreError("an init secret in the state file does not open with this device key and password: "
                         "the file was damaged or changed");
    crypto::SymmetricKey key;
    std::memcpy(key.data(), plain->data(), key.size());
    return key;
}

std::optional<DeviceEpochs::Adopted> DeviceEpochs::adopted(const wire::EpochRecord& record) {
    const auto name = counter_name(DeviceSecretKind::adopted_epoch, record.epoch);
    const auto row = store_.load_device_secret(cipher_.room(), name);
    if (!row) return std::nullopt;
    auto plain = cipher_.open(name, *row);
    if (!plain || plain->size() != adopted_row_bytes)
        throw StoreError("an adopted epoch in the state file does not open with this device key and password: "
                         "the file was damaged or changed");
    const auto hash = wire::record_hash(record);
    if (std::memcmp(plain->data(), hash.data(), hash.size()) != 0)
        throw ForkError(record.epoch);
    const auto* mine = wire::find_device(record, device_.public_key);
    if (!mine) throw StoreError("internal: an adopted epoch does not name this device");
    Adopted adopted;
    adopted.token_hash = record.token_hash;
    adopted.update_counter = mine->update.counter;
    std::memcpy(adopted.access_token.data(), plain->data() + hash.size(), adopted.access_token.size());
    return adopted;
}

std::variant<DeviceEpochs::Adopted, protocol::v2::OpenError> DeviceEpochs::adopt(
    const wire::EpochRecord& record, const crypto::SymmetricKey& room_secret, DeviceChains& chains) {
    StateStore::Transaction tx(store_);
    // Once only: starting the chains again would hand out positions a second time.
    if (auto done = adopted(record)) return std::move(*done);
    // Every update key this device holds, for open_record's lookup.
    std::map<std::uint64_t, HeldUpdateKey> held;
    const Bytes update_prefix{static_cast<std::uint8_t>(DeviceSecretKind::update_key)};
    for (const auto& [name, sealed] : store_.device_secrets_named(cipher_.room(), update_prefix)) {
        auto plain = cipher_.open(name, sealed);
        if (!plain || plain->size() != update_row_bytes)
            throw StoreError("an update key in the state file does not open with this device key and password: "
                             "the file was damaged or changed");
        auto& key = held[counter_of(name)];
        std::memcpy(key.public_key.data(), plain->data(), key.public_key.size());
        std::memcpy(key.private_key.data(), plain->data() + key.public_key.size(), key.private_key.size());
    }
    const protocol::v2::UpdateKeyLookup lookup =
        [&held](std::uint64_t counter,
                const protocol::v2::UpdateKey& public_key) -> const crypto::Secret<protocol::v2::update_key_bytes>* {
        auto it = held.find(counter);
        if (it == held.end() || it->second.public_key != public_key) return nullptr;
        return &it->second.private_key;
    };
    const auto previous_init = record.epoch > 0 ? init_secret(record.epoch - 1) : std::nullopt;
    auto opened = protocol::v2::open_record(device_.public_key, lookup, previous_init ? &*previous_init : nullptr,
                                            record);
    if (auto* error = std::get_if<protocol::v2::OpenError>(&opened)) return *error;

    auto schedule = protocol::v2::derive_epoch(room_secret, record.room, record.epoch, record.previous,
                                               std::get<crypto::SymmetricKey>(opened));
    // The token hash binds the room secret (the password): a wrong one starts no chain.
    if (schedule.token_hash != record.token_hash) return protocol::v2::OpenError::wrong_password;
    const auto hash = wire::record_hash(record);
    for (const auto& device : record.devices) {
        const auto start = protocol::v2::chain_start(schedule.sender_root, record.room, record.epoch, device.key());
        // This device's own chain is its sender chain only: a receiver chain of
        // it would keep the keys of what it sent (§10.2).
        if (device.key() == device_.public_key) chains.start_sender(hash, start);
        else chains.start_receiver(hash, device.key(), start);
    }
    // Keep init secret[e]; forget init secret[e - 1] and the update keys before the one in force.
    const auto init_name = counter_name(DeviceSecretKind::init_secret, record.epoch);
    store_.put_device_secret(cipher_.room(), init_name,
                             cipher_.seal(init_name, ByteView(schedule.init_secret.data(), schedule.init_secret.size())));
    if (record.epoch > 0)
        store_.erase_device_secret(cipher_.room(), counter_name(DeviceSecretKind::init_secret, record.epoch - 1));
    const auto* mine = wire::find_device(record, device_.public_key);
    Adopted adopted;
    adopted.update_counter = mine->update.counter;
    for (const auto& [counter, key] : held)
        if (counter < adopted.update_counter)
            store_.erase_device_secret(cipher_.room(), counter_name(DeviceSecretKind::update_key, counter));
    // A device out of the room takes its noted key-update with it: brought in
    // again by its card, it counts its update keys from its joining key anew.
    for (const auto& [name, sealed] : store_.device_secrets_named(
             cipher_.room(), Bytes{static_cast<std::uint8_t>(DeviceSecretKind::noted_update)})) {
        wire::PublicKey noted{};
        if (name.size() != 1 + noted.size()) continue;
        std::memcpy(noted.data(), name.data() + 1, noted.size());
        if (!wire::find_device(record, noted)) store_.erase_device_secret(cipher_.room(), name);
    }
    adopted.token_hash = schedule.token_hash;
    std::memcpy(adopted.access_token.data(), schedule.access_token.data(), adopted.access_token.size());
    crypto::SecretBuffer kept(adopted_row_bytes);
    std::memcpy(kept.data(), hash.data(), hash.size());
    std::memcpy(kept.data() + hash.size(), adopted.access_token.data(), adopted.access_token.size());
    const auto adopted_name = counter_name(DeviceSecretKind::adopted_epoch, record.epoch);
    store_.put_device_secret(cipher_.room(), adopted_name,
                             cipher_.seal(adopted_name, ByteView(kept.data(), kept.size())));
    tx.commit();
    return adopted;
}

}  // namespace parley::store
