#include "store/device_chains.h"

#include <cstring>

namespace parley::store {

namespace {

constexpr std::size_t chain_row_bytes = 8 + 32;

Bytes sender_name(const wire::Hash& record) { return device_secret_name(DeviceSecretKind::sender_chain, record); }

Bytes receiver_ids(const wire::Hash& record, const crypto::PublicKey& device) {
    Writer w;
    w.bytes().reserve(record.size() + device.size() + 8);
    w.raw(record);
    w.raw(device);
    return w.take();
}

Bytes skipped_name(const Bytes& ids, std::uint64_t position) {
    Writer w;
    w.bytes().reserve(1 + ids.size() + 8);
    w.u8(static_cast<std::uint8_t>(DeviceSecretKind::skipped_key));
    w.raw(ids);
    w.u64(position);
    return w.take();
}

std::uint64_t read_u64(const std::uint8_t* p) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
    return v;
}

crypto::SymmetricKey key_at(const crypto::SecretBuffer& row, std::size_t offset) {
    crypto::SymmetricKey key;
    std::memcpy(key.data(), row.data() + offset, key.size());
    return key;
}

}  // namespace

std::optional<crypto::SecretBuffer> DeviceChains::open(ByteView name) {
    const auto row = store_.load_device_secret(cipher_.room(), name);
    if (!row) return std::nullopt;
    auto plain = cipher_.open(name, *row);
    if (!plain)
        throw StoreError("a version-2 secret in the state file does not open with this device key and password: "
                         "the file was damaged or changed");
    return plain;
}

void DeviceChains::put_chain(ByteView name, std::uint64_t next, const crypto::SymmetricKey& chain_key) {
    crypto::SecretBuffer plain(chain_row_bytes);
    for (int i = 0; i < 8; ++i) plain.data()[i] = static_cast<std::uint8_t>(next >> (56 - 8 * i));
    std::memcpy(plain.data() + 8, chain_key.data(), chain_key.size());
    store_.put_device_secret(cipher_.room(), name, cipher_.seal(name, ByteView(plain.data(), plain.size())));
}

std::optional<std::uint64_t> DeviceChains::sender_next(const wire::Hash& record) {
    const auto row = open(sender_name(record));
    if (!row) return std::nullopt;
    if (row->size() != chain_row_bytes) throw StoreError("a sender chain in the state file has the wrong size");
    return read_u64(row->data());
}

std::optional<std::uint64_t> DeviceChains::receiver_next(const wire::Hash& record, const crypto::PublicKey& device) {
    const auto row = open(device_secret_name(DeviceSecretKind::receiver_chain, receiver_ids(record, device)));
    if (!row) return std::nullopt;
    if (row->size() != chain_row_bytes) throw StoreError("a receiver chain in the state file has the wrong size");
    return read_u64(row->data());
}

std::size_t DeviceChains::skipped_count(const wire::Hash& record, const crypto::PublicKey& device) {
    Bytes prefix = skipped_name(receiver_ids(record, device), 0);
    prefix.resize(prefix.size() - 8);
    return store_.device_secrets_named(cipher_.room(), prefix).size();
}

static Bytes unsent_name(const wire::Hash& record, std::uint64_t position) {
    Writer w;
    w.u8(static_cast<std::uint8_t>(DeviceSecretKind::unsent));
    w.raw(record);
    w.u64(position);
    return w.take();
}

void DeviceChains::mark_unsent(const wire::Hash& record, std::uint64_t position) {
    const auto name = unsent_name(record, position);
    store_.put_device_secret(cipher_.room(), name, cipher_.seal(name, {}));
}

std::uint64_t DeviceChains::positions_sent(const wire::Hash& record) {
    StateStore::Transaction tx(store_);  // one snapshot
    auto n = sender_next(record).value_or(0);
    while (n > 0 && store_.load_device_secret(cipher_.room(), unsent_name(record, n - 1))) --n;
    tx.commit();
    return n;
}

namespace {

Bytes sealed_name(const wire::Hash& record, std::uint64_t position) {
    Writer w;
    w.bytes().reserve(1 + record.size() + 8);
    w.u8(static_cast<std::uint8_t>(DeviceSecretKind::sealed));
    w.raw(record);
    w.u64(position);
    return w.take();
}

}  // namespace

void DeviceChains::note_sealed(const wire::Hash& record, std::uint64_t position, ByteView envelope) {
    const auto name = sealed_name(record, position);
    const auto hash = crypto::blake2b(envelope);
    store_.put_device_secret(cipher_.room(), name, cipher_.seal(name, hash));
}

std::optional<bool> DeviceChains::sealed_here(const wire::Hash& record, std::uint64_t position, ByteView envelope) {
    const auto row = open(sealed_name(record, position));
    if (!row) {
        // No hash of any envelope of that epoch: it was begun by a version of
        // Parley that kept none (before row kind 10).
        const auto any = store_.device_secrets_named(cipher_.room(), device_secret_name(DeviceSecretKind::sealed, record));
        if (any.empty()) return std::nullopt;
        return false;
    }
    const auto hash = crypto::blake2b(envelope);
    return row->size() == hash.size() && sodium_memcmp(row->data(), hash.data(), hash.size()) == 0;
}

std::size_t DeviceChains::forget(const wire::Hash& record) {
    StateStore::Transaction tx(store_);
    std::size_t erased = 0;
    for (auto kind : {DeviceSecretKind::sender_chain, DeviceSecretKind::receiver_chain, DeviceSecretKind::skipped_key,
                      DeviceSecretKind::unsent, DeviceSecretKind::sealed}) {
        for (const auto& [name, row] : store_.device_secrets_named(cipher_.room(), device_secret_name(kind, record)))
            erased += store_.erase_device_secret(cipher_.room(), name) ? 1 : 0;
    }
    tx.commit();
    return erased;
}

void DeviceChains::start_sender(const wire::Hash& record, const crypto::SymmetricKey& chain_key) {
    StateStore::Transaction tx(store_);
    const auto name = sender_name(record);
    if (!store_.load_device_secret(cipher_.room(), name)) put_chain(name, 0, chain_key);
    tx.commit();
}

std::optional<protocol::v2::SenderChain::Step> DeviceChains::take_sender(const wire::Hash& record) {
    StateStore::Transaction tx(store_);  // BEGIN IMMEDIATE: one process at a time takes a position
    const auto name = sender_name(record);
    const auto row = open(name);
    if (!row) return std::nullopt;
    if (row->size() != chain_row_bytes) throw StoreError("a sender chain in the state file has the wrong size");
    protocol::v2::SenderChain chain(key_at(*row, 8), read_u64(row->data()));
    auto step = chain.next();
    put_chain(name, chain.position(), chain.chain_key());  // replaces: the old chain key is forgotten
    tx.commit();
    return step;
}

void DeviceChains::start_receiver(const wire::Hash& record, const crypto::PublicKey& device,
                                  const crypto::SymmetricKey& chain_key) {
    StateStore::Transaction tx(store_);
    const auto name = device_secret_name(DeviceSecretKind::receiver_chain, receiver_ids(record, device));
    if (!store_.load_device_secret(cipher_.room(), name)) put_chain(name, 0, chain_key);
    tx.commit();
}

std::variant<crypto::SymmetricKey, DeviceChains::Error> DeviceChains::take_receiver(const wire::Hash& record,
                                                                                    const crypto::PublicKey& device,
                                                                                    std::uint64_t position,
                                                                                    std::uint64_t* front) {
    StateStore::Transaction tx(store_);
    const auto ids = receiver_ids(record, device);
    const auto name = device_secret_name(DeviceSecretKind::receiver_chain, ids);
    const auto row = open(name);
    if (!row) return Error::no_chain;
    if (row->size() != chain_row_bytes) throw StoreError("a receiver chain in the state file has the wrong size");
    const std::uint64_t next = read_u64(row->data());
    if (front) *front = next;

    // A skipped position: its own row, taken out.
    if (position < next) {
        const auto skipped = skipped_name(ids, position);
        const auto key_row = open(skipped);
        if (!key_row) return Error::no_key;
        if (key_row->size() != 32) throw StoreError("a skipped key in the state file has the wrong size");
        auto key = key_at(*key_row, 0);
        store_.erase_device_secret(cipher_.room(), skipped);
        tx.commit();
        return key;
    }
    // At or past the front: the in-memory chain decides, with the skipped keys it may drop.
    std::map<std::uint64_t, crypto::SymmetricKey> skipped;
    Bytes prefix = skipped_name(ids, 0);
    prefix.resize(prefix.size() - 8);
    for (const auto& [skipped_row_name, sealed] : store_.device_secrets_named(cipher_.room(), prefix)) {
        auto plain = cipher_.open(skipped_row_name, sealed);
        if (!plain || plain->size() != 32 || skipped_row_name.size() != prefix.size() + 8)
            throw StoreError("a skipped key in the state file does not open: the file was damaged or changed");
        skipped.emplace(read_u64(skipped_row_name.data() + prefix.size()), key_at(*plain, 0));
    }
    protocol::v2::ReceiverChain chain(key_at(*row, 8), next, std::move(skipped));
    auto taken = chain.take(position);
    if (std::holds_alternative<protocol::v2::ReceiverChain::Error>(taken)) {
        return std::get<protocol::v2::ReceiverChain::Error>(taken) == protocol::v2::ReceiverChain::Error::no_key
                   ? Error::no_key
                   : Error::too_far_ahead;
    }
    // The skipped keys now: new ones stored, dropped ones erased.
    const auto& kept = chain.skipped_keys();
    for (const auto& [skipped_row_name, sealed] : store_.device_secrets_named(cipher_.room(), prefix)) {
        if (!kept.contains(read_u64(skipped_row_name.data() + prefix.size())))
            store_.erase_device_secret(cipher_.room(), skipped_row_name);
    }
    for (const auto& [at, key] : kept) {
        if (at < next) continue;  // stored already
        const auto key_name = skipped_name(ids, at);
        store_.put_device_secret(cipher_.room(), key_name,
                                 cipher_.seal(key_name, ByteView(key.data(), key.size())));
    }
    put_chain(name, chain.next(), chain.front());
    tx.commit();
    return std::move(std::get<crypto::SymmetricKey>(taken));
}

}  // namespace parley::store
