// Version 2's sender and receiver chains kept in the state file (docs/PROTOCOL.md
// §10.2), sealed under the device state key (device_state_cipher.h):
//
//   sender chain   (kind 3, record hash)                       u64 next position || 32 chain key
//   receiver chain (kind 4, record hash || device key)         u64 next position || 32 chain key
//   skipped key    (kind 5, record hash || device key || u64)  32 message key
//
// A sender position is taken in one state-file transaction, so every process of
// the device (a chat and a send at once) gets its own and none is used twice. A
// receiver's take runs in the caller's transaction (the one that stores the
// message and moves the stream position), so a message rolled back can be
// taken again. Whatever a take leaves behind (the chain key before the front,
// a used or dropped skipped key) is erased, and the state file forgets it
// (StateStore::erase_device_secret).
#pragma once

#include <optional>
#include <variant>

#include "protocol/sender_chain.h"
#include "store/device_state_cipher.h"
#include "store/state_store.h"

namespace parley::store {

class DeviceChains {
public:
    // Both must outlive this; the cipher's room is the room of every chain here.
    DeviceChains(StateStore& store, const DeviceStateCipher& cipher) : store_(store), cipher_(cipher) {}
    DeviceChains(StateStore&, DeviceStateCipher&&) = delete;  // it would dangle

    // This device's chain of the epoch whose record hash is `record`, from its
    // chain key 0; nothing happens if it has one already.
    void start_sender(const wire::Hash& record, const crypto::SymmetricKey& chain_key);
    // The next position and its message key (the caller erases the key once
    // the envelope is sealed); nullopt when this device has no chain there.
    std::optional<protocol::v2::SenderChain::Step> take_sender(const wire::Hash& record);

    // `device`'s chain of that epoch, as a receiver: from its chain key 0; nothing
    // happens if it is there already.
    void start_receiver(const wire::Hash& record, const crypto::PublicKey& device,
                        const crypto::SymmetricKey& chain_key);
    enum class Error { no_chain, no_key, too_far_ahead };
    // The message key of `position` of `device`'s chain (protocol::v2::ReceiverChain::take's rules);
    // `front`, when given, gets the chain's front as it was before this take (read in the same transaction).
    std::variant<crypto::SymmetricKey, Error> take_receiver(const wire::Hash& record, const crypto::PublicKey& device,
                                                            std::uint64_t position, std::uint64_t* front = nullptr);

    // Where the chains stand (no keys): this device's next sender position,
    // a receiver chain's front, and how many of its skipped keys it holds
    // (positions before the front that never came).
    std::optional<std::uint64_t> sender_next(const wire::Hash& record);
    std::optional<std::uint64_t> receiver_next(const wire::Hash& record, const crypto::PublicKey& device);
    std::size_t skipped_count(const wire::Hash& record, const crypto::PublicKey& device);

    // A position this device took in that epoch whose envelope the relay
    // refused (the epoch had moved on) or that never went out after such a
    // refusal: not withheld, so the first-of-epoch sync of the next epoch does
    // not count it when it is at the end (positions_sent).
    void mark_unsent(const wire::Hash& record, std::uint64_t position);
    // The positions this device used in that epoch, less those at the end marked unsent.
    std::uint64_t positions_sent(const wire::Hash& record);

    // What this state folder sealed at `position` of its chain in that epoch
    // (a hash of the envelope): an envelope signed with this device's key at a
    // position it took is its own only if it is that one, not one a copy of the
    // folder sealed there (§10.5).
    void note_sealed(const wire::Hash& record, std::uint64_t position, ByteView envelope);
    // nullopt when this folder kept no hash of any envelope of that epoch (one
    // begun by an older version of Parley).
    std::optional<bool> sealed_here(const wire::Hash& record, std::uint64_t position, ByteView envelope);

    // Erases every chain of the epoch whose record hash is `record` (this
    // device's sender chain and what it sealed, every receiver chain and skipped key): once the
    // stream is two epochs past it, nothing of it may still be read (§10.2).
    // Returns how many rows went.
    std::size_t forget(const wire::Hash& record);

private:
    std::optional<crypto::SecretBuffer> open(ByteView name);
    void put_chain(ByteView name, std::uint64_t next, const crypto::SymmetricKey& chain_key);
    StateStore& store_;
    const DeviceStateCipher& cipher_;
};

}  // namespace parley::store
