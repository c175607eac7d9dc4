#include "room_device.h"

#include <chrono>
#include <cstring>

#include "user_error.h"

namespace parley::client {

namespace {

protocol::v2::Device load(const std::filesystem::path& folder, const crypto::Identity& member,
                          const std::string& user) {
    auto device = protocol::v2::load_device(folder, member.public_key);
    if (!device)
        throw UserError(user + " has no device key in " + folder.string(),
                        "make one on this computer, with the flash drive at hand: parley device add NAME --user " +
                            user + "; then copy its card into public_keys/ and have a member bring it in (parley "
                                   "rekey)");
    return std::move(*device);
}

crypto::SymmetricKey copy_of(const crypto::SymmetricKey& key) {
    crypto::SymmetricKey out;
    std::memcpy(out.data(), key.data(), key.size());
    return out;
}

// An epoch this device cannot open: a wrong password, or the head, is an
// error (UserError); an older epoch, the warning to give.
std::string unopened(protocol::v2::OpenError error, const wire::EpochRecord& record, bool head) {
    const std::string what = std::string(protocol::v2::to_string(error)) + " (epoch " + std::to_string(record.epoch) + ")";
    if (error == protocol::v2::OpenError::wrong_password)
        throw WrongPassword("wrong room password", "the password does not match the one the room was created with");
    if (head && (error == protocol::v2::OpenError::no_update_key || error == protocol::v2::OpenError::no_init_secret))
        throw UserError("this device cannot open the room's current epoch: " + what,
                        "ask another member to run 'parley rekey' for this room");
    if (head)
        throw UserError("this device cannot open the room's current epoch: " + what,
                        "the record's author wrote a bad record; tell them");
    return what + "; its messages cannot be read on this device";
}

}  // namespace

RoomDevice::RoomDevice(const std::filesystem::path& folder, const crypto::Identity& member, const std::string& user,
                       store::StateStore& store, const wire::RoomId& room, const crypto::SymmetricKey& room_secret,
                       const wire::SessionId& session)
    : device_(load(folder, member, user)),
      folder_(folder),
      store_(store),
      room_secret_(copy_of(room_secret)),
      cipher_(device_.key, room, room_secret_),
      chains_(store_, cipher_),
      epochs_(store_, cipher_, device_.key),
      sender_(room, device_.key, chains_, session),
      receiver_(room, device_.key.public_key, chains_) {
    // The state key needs the password: rows sealed under another one do not
    // open, which is a mistyped password here (chat asks again), not damage.
    if (!epochs_.state_opens())
        throw WrongPassword("wrong room password", "the password does not match the one this device's state "
                                                   "for the room was sealed with");
}

std::optional<wire::Token> RoomDevice::follow(const protocol::VerifiedChain& chain,
                                              const std::function<void(const std::string&)>& warn) {
    const auto& records = chain.records;
    std::optional<wire::Token> head_token;
    std::optional<wire::Hash> previous_followed;  // the epoch before, if this device was in it
    for (std::size_t i = 0; i < records.size(); ++i) {
        const auto& record = records[i];
        const auto& hash = chain.hashes[i];
        const bool head = i + 1 == records.size();
        const auto* mine = record.version == wire::record_version_2 ? wire::find_device(record, key()) : nullptr;
        if (mine == nullptr) {
            if (!head) previous_followed.reset();
            continue;
        }
        std::optional<store::DeviceEpochs::Adopted> adopted;
        try {
            adopted = epochs_.adopted(record);
            if (!adopted) {
                // Checked again in the transaction: another process of this
                // device may be adopting it at this moment (BEGIN IMMEDIATE
                // waits for it), and must not have its keys erased under it.
                store::StateStore::Transaction tx(store_);
                adopted = epochs_.adopted(record);
                if (!adopted && epochs_.adopted_after(record.epoch)) {
                    // The device is past this record (a process of it adopted a
                    // later one): what would open it is gone, and nothing changes.
                    previous_followed.reset();
                    continue;
                }
                if (!adopted) {
                    auto result = enter_and_adopt(record, *mine);
                    if (auto* error = std::get_if<protocol::v2::OpenError>(&result)) {
                        warn(unopened(*error, record, head));
                        previous_followed.reset();
                        continue;
                    }
                    adopted = std::move(std::get<store::DeviceEpochs::Adopted>(result));
                }
                tx.commit();
            }
        } catch (const store::ForkError& e) {
            // A relay showing this process another record than the one a
            // process of this device adopted: the room is blocked, as for any fork.
            throw UserError("fork at epoch " + std::to_string(e.epoch()) +
                                ": this device adopted another record for it, written by another member's "
                                "device or by the same one again; nothing more is sent (compare room codes "
                                "with /verify)",
                            "", 6);
        }
        if (forgotten_.count(hash) == 0 && followed_.insert(hash).second) receiver_.add_epoch(record);
        if (head) {
            head_ = hash;
            update_counter_ = adopted->update_counter;
            sender_.set_epoch(record, previous_followed);
            head_token.emplace();
            std::memcpy(head_token->data(), adopted->access_token.data(), head_token->size());
        }
        previous_followed = hash;
    }
    return head_token;
}

std::variant<store::DeviceEpochs::Adopted, protocol::v2::OpenError> RoomDevice::enter_and_adopt(
    const wire::EpochRecord& record, const wire::RecordDevice& mine) {
    // A record that brings this device in (first, or again after its member
    // was removed) is sealed to its joining key: put it into the room state, in
    // place of any update key left from before, in the caller's transaction,
    // so a failure (a wrong password, a card replaced since) changes nothing.
    if (mine.box_kind == wire::BoxKind::joiner_secret) {
        store::DeviceEpochs::erase_keys(store_, cipher_.room(), record.epoch);
        epochs_.take_joining_key(protocol::v2::load_joining_key(folder_, device_));
    }
    return epochs_.adopt(record, room_secret_, chains_);
}

void RoomDevice::forget_before(const protocol::VerifiedChain& chain, std::uint64_t stream_epoch) {
    for (std::size_t i = 0; i < chain.records.size() && chain.records[i].epoch + 1 < stream_epoch; ++i) {
        const auto& hash = chain.hashes[i];
        if (followed_.count(hash) == 0) continue;
        chains_.forget(hash);
        receiver_.forget_epoch(hash);
        followed_.erase(hash);
        forgotten_.insert(hash);
    }
}

void RoomDevice::note_update(const protocol::v2::UpdateKeyEntry& entry, std::uint64_t sent_in,
                             const protocol::VerifiedChain& chain) {
    for (auto it = chain.records.rbegin(); it != chain.records.rend() && it->epoch > sent_in; ++it) {
        const auto* entered = wire::find_device(*it, entry.device);
        if (entered && entered->box_kind == wire::BoxKind::joiner_secret) return;
    }
    epochs_.note_update(entry);
}

std::optional<protocol::v2::UpdateKeyEntry> RoomDevice::key_update_due() {
    // Once per epoch, whichever process of the device comes first: a new key,
    // or one made but never sent (a record this device wrote that lost the
    // relay's race). So each epoch's successor seals to a key made after the
    // epoch began, and a thief of the device's state is locked out two epochs
    // after the theft at the latest (§10.3).
    // Marked sent only once the relay acknowledged it (key_update_sent): one
    // refused or lost is sent again, the same key, with the next envelope. Two
    // processes meeting here at once send the same entry twice, which readers
    // note once.
    store::StateStore::Transaction tx(store_);
    auto pending = epochs_.newest_update_entry();
    if (pending && pending->counter > update_counter_) {
        const auto sent_in = epochs_.update_sent_in(pending->counter);
        if (sent_in == head_) return std::nullopt;
        if (sent_in) pending = epochs_.new_update_key();  // sent in an epoch before: make a fresh one
    } else {
        pending = epochs_.new_update_key();
    }
    tx.commit();
    return pending;
}

void RoomDevice::key_update_sent(std::uint64_t counter, const wire::Hash& record) {
    epochs_.mark_update_sent(counter, record);
}

wire::EpochRecord RoomDevice::write_next(const protocol::VerifiedChain& chain, const std::vector<wire::RosterOp>& ops,
                                         const std::vector<protocol::v2::DeviceCard>& cards) {
    const auto& head = chain.head();
    protocol::v2::RecordDraft draft;
    draft.room = head.room;
    draft.epoch = head.epoch + 1;
    draft.previous = chain.head_hash();
    draft.salt = head.salt;
    draft.kdf = head.kdf;
    draft.created_at_ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                          std::chrono::system_clock::now().time_since_epoch())
                                                          .count());
    draft.ops = ops;
    std::set<crypto::PublicKey> gone;
    for (const auto& op : ops)
        if (op.kind == wire::RosterOpKind::remove || op.kind == wire::RosterOpKind::revoke_device) gone.insert(op.key);
    // This device rotates as it writes: a new key, or the one an attempt of its
    // that lost the relay's race made (never sent, so no copy of its state taken
    // before this moment has it... unless taken since that attempt, moments ago).
    // A key announced by a key-update is not reused: a thief may hold it.
    auto mine = epochs_.newest_update_entry();
    if (!mine || mine->counter <= update_counter_ || epochs_.update_sent_in(mine->counter))
        mine = epochs_.new_update_key();
    const auto noted = epochs_.noted_updates();
    for (const auto& device : head.devices) {
        if (gone.count(device.member()) != 0 || gone.count(device.key()) != 0) continue;
        auto entry = device.update;
        if (device.key() == key()) {
            entry = *mine;
        } else if (auto it = noted.find(device.key()); it != noted.end() && it->second.counter > entry.counter) {
            entry = it->second;
        }
        draft.devices.push_back({device.certificate, entry, wire::BoxKind::epoch_secret});
    }
    for (const auto& card : cards) draft.devices.push_back({card.certificate, card.joining, wire::BoxKind::joiner_secret});
    const auto init = epochs_.init_secret(head.epoch);
    if (!init)
        throw UserError("this device does not hold the current epoch's init secret, so it cannot write the next one",
                        "another member's device can: ask them to run 'parley rekey'");
    crypto::EpochSecret epoch_secret;
    crypto::random_bytes(epoch_secret.mutable_bytes());
    auto written = protocol::v2::build_record(device_.key, std::move(draft), room_secret_, epoch_secret, *init);
    if (!written)
        throw UserError("a device's key cannot receive sealed secrets, or a member would have more than " +
                        std::to_string(wire::max_devices_per_member) + " devices");
    return std::move(written->record);
}

std::vector<Bytes> RoomDevice::seal(std::string_view plaintext, std::uint64_t timestamp_ms, wire::EnvelopeType type) {
    return sender_.seal(plaintext, timestamp_ms, type);
}

}  // namespace parley::client
