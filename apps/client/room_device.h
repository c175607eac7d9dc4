// This device in one room of protocol version 2 (docs/PROTOCOL.md §10): its
// device key and certificate from the state folder, and the parts of the state
// file that hold its update keys, epochs and sender and receiver chains, all
// sealed under the device state key (needs the room password). RoomClient
// keeps one once the room's head is of version 2; everything here runs on the
// thread that calls RoomClient.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/device_files.h"
#include "protocol/epoch.h"
#include "store/device_epochs.h"
#include "store/device_receiver.h"
#include "store/device_sender.h"
#include "wire/frames.h"

namespace parley::client {

class RoomDevice {
public:
    // Loads the member's device from `folder` (protocol/device_files.h).
    // Throws UserError when the folder has none, crypto::KeyFileError when its
    // files are wrong.
    RoomDevice(const std::filesystem::path& folder, const crypto::Identity& member, const std::string& user,
               store::StateStore& store, const wire::RoomId& room, const crypto::SymmetricKey& room_secret,
               const wire::SessionId& session);

    // Adopts, in order, every version-2 record of `chain` that names this
    // device and that it has not adopted yet, the first of them with the
    // device's joining key (its card, §10.5), and takes them into the
    // receiver. Returns the head's access token, or nullopt when the head
    // does not name this device. A record it cannot open is a warning through
    // `warn` unless it is the head: then UserError (WrongPassword for the
    // password). The head becomes the epoch seal() writes to.
    std::optional<wire::Token> follow(const protocol::VerifiedChain& chain,
                                      const std::function<void(const std::string&)>& warn);

    // The envelopes for one text, sync or key-update in the head epoch, in
    // order (a first-of-epoch sync before the first one).
    [[nodiscard]] std::vector<Bytes> seal(std::string_view plaintext, std::uint64_t timestamp_ms,
                                          wire::EnvelopeType type);
    [[nodiscard]] store::DeviceDelivery receive(ByteView envelope) { return receiver_.receive(envelope); }
    // The relay refused this envelope of ours (its epoch had moved on), or it
    // never went out after such a refusal (DeviceChains::mark_unsent).
    void mark_unsent(const wire::Hash& record, std::uint64_t position) { chains_.mark_unsent(record, position); }

    // The stream reached epoch `stream_epoch`: the chains of every epoch before
    // the one before it are forgotten, and their envelopes refused as stale.
    void forget_before(const protocol::VerifiedChain& chain, std::uint64_t stream_epoch);

    // A key-update to send (§10.3): once per epoch, a new update key (or one
    // made and never sent), nullopt when a process of this device sent one in
    // the head epoch already.
    std::optional<protocol::v2::UpdateKeyEntry> key_update_due();
    // The relay acknowledged the key-update of update key `counter`, sent in
    // the epoch whose record hash is `record` (the head when it was sealed).
    void key_update_sent(std::uint64_t counter, const wire::Hash& record);
    // Another device's key-update, sent in epoch `sent_in` and verified by
    // the receiver, for the next record this device writes. Inside the
    // delivery's transaction. One sent before the record that last brought its
    // device in (by its card: a member removed and added again) is of the keys
    // it had before, erased since, and is not noted.
    void note_update(const protocol::v2::UpdateKeyEntry& entry, std::uint64_t sent_in,
                     const protocol::VerifiedChain& chain);

    // The successor of the chain's head, written and signed by this device
    // (§10.6): every device of the head but those of members `ops` removes,
    // each sealed to the newest key it sent (a noted key-update with a higher
    // counter), this device to a new update key (it rotates whenever it
    // writes); `cards` brings in devices new to the room (of added members,
    // or added devices: `ops` holds their operations). Throws UserError.
    [[nodiscard]] wire::EpochRecord write_next(const protocol::VerifiedChain& chain,
                                               const std::vector<wire::RosterOp>& ops,
                                               const std::vector<protocol::v2::DeviceCard>& cards);

    const crypto::PublicKey& key() const { return device_.key.public_key; }
    const std::string& name() const { return device_.certificate.name; }
    // This device's update key counter in force in the head (0: its joining key).
    std::uint64_t update_counter() const { return update_counter_; }

private:
    // Adopts `record` (`mine` is this device's entry), taking the joining key
    // first when the record brings the device in. In the caller's transaction.
    std::variant<store::DeviceEpochs::Adopted, protocol::v2::OpenError> enter_and_adopt(
        const wire::EpochRecord& record, const wire::RecordDevice& mine);

    protocol::v2::Device device_;
    std::filesystem::path folder_;
    store::StateStore& store_;
    crypto::SymmetricKey room_secret_;
    store::DeviceStateCipher cipher_;
    store::DeviceChains chains_;
    store::DeviceEpochs epochs_;
    store::DeviceSender sender_;
    store::DeviceReceiver receiver_;
    std::set<wire::Hash> followed_;   // records in the receiver
    std::set<wire::Hash> forgotten_;  // records whose chains were forgotten (forget_before)
    std::uint64_t update_counter_ = 0;
    wire::Hash head_{};  // the record of the head epoch (follow)
};

}  // namespace parley::client
