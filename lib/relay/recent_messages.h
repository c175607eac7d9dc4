// Which messages the relay stored lately, so that a Resend (wire::Send::resend:
// the client lost its connection before the Ack) is answered with the stored
// copy's number instead of being stored and delivered twice (docs/PROTOCOL.md
// §6.2).
//
// Per chain, a ring of the last `per_chain` messages' fingerprints (SipHash-2-4
// under a key drawn at start, so no one can aim a collision) with their
// sequence numbers. A fingerprint only points at a candidate: the stored item
// is read back and compared byte for byte before it counts. So a Resend costs
// a scan of the ring and at most one row read, whatever the envelopes' sizes.
//
// A chain gets a ring on its first Resend, filled with the messages among its
// last primed_from_log items in the log: that covers a relay that crashed
// after storing a message and before its Ack left (the clients come back
// within seconds). From then on every message stored on that chain is added,
// up to per_chain. Chains that never see a Resend cost nothing. Relay nodes
// sharing one store (PostgreSQL) each add only their own: at each Resend the
// ring first reads what the log holds past the last number it has seen, so a
// message stored through another node (the client lost that node before its
// Ack and resends through this one) is found too.
//
// Used by the group commit's writer thread only: no lock.
#pragma once

#include <sodium.h>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "relay/message_log.h"

namespace parley::relay {

class RecentMessages {
public:
    // A client resends as soon as it has reconnected (`send` gives up after
    // a minute); this many messages cover a busy room for longer than that.
    static constexpr std::size_t per_chain = 4096;
    // Read from the log on a chain's first Resend: at most this many items,
    // so at most ~18 MiB, once per chain after a start.
    static constexpr std::size_t primed_from_log = 256;

    explicit RecentMessages(const MessageLog& log);

    // The number of the stored message of `chain` whose payload is exactly
    // `payload`, if it is among the chain's last messages (above) and still
    // stored. The newest message with the same fingerprint decides: at most
    // one row is read. Throws StorageError.
    std::optional<std::uint64_t> find(const ChainKey& chain, ByteView payload);
    // A message just stored (after its commit), in sequence order.
    void add(const ChainKey& chain, std::uint64_t seq, ByteView payload);

private:
    struct Entry {
        std::uint64_t fingerprint = 0;
        std::uint64_t seq = 0;
    };
    struct Ring {
        std::vector<Entry> entries;  // grows to per_chain, then wraps at `next`
        std::size_t next = 0;
        std::uint64_t seen = 0;  // the log up to it has been read into the ring
        void push(Entry e);
    };

    std::uint64_t fingerprint(ByteView payload) const;
    Ring& ring_for(const ChainKey& chain);  // filled from the log on first use

    const MessageLog& log_;
    std::array<unsigned char, crypto_shorthash_KEYBYTES> key_{};
    std::map<ChainKey, Ring> rings_;
};

}  // namespace parley::relay
