// The relay's shared state (after Beast's chat-multi `shared_state`): the chain
// book, the message log, and per room the subscribers of each chain. Sessions
// hand it every frame they read; it answers through Subscriber::deliver.
//
// Store and forward (docs/PROTOCOL.md §6): a Send is queued to the group
// commit; once its batch is durable the writer thread, under the room's lock,
// acknowledges it and fans it out, in sequence order. A Join, under the same
// lock, reads the stored items the connection missed (everything up to the last
// one fanned out, `published_seq`), then subscribes it: what was fanned out
// before is in the backlog, what is fanned out after reaches it live, so there
// is no gap and no duplicate at the switch-over. A long backlog goes out in
// pages (Subscriber::backlog_paused); live items skip a connection still
// catching up, which reads them from the log instead.
//
// A successor record takes the next sequence number too: publish waits (under
// the room's lock, holding new Sends back) until the room's queued Sends are
// stored and fanned out, stores the record and its log item in one
// transaction, then answers Published, sends NewHead and unsubscribes the
// chain's members, so a join can never land between a new head and the
// unsubscribe.
//
// Several relay nodes on one database (a store that reports the others'
// commits: RelayStore::watch_commits): what another node stored reaches this
// node's members in the chain's order, read from the store: when the
// notification comes (on_stored_elsewhere), or, while this node has Sends of
// the chain in flight, before this node's next items and once they are out
// (their numbers are not known until their commit, and a member must get its
// own as an Ack, not a Deliver). A chain nobody here has joined costs nothing.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <span>

#include "relay/admission.h"
#include "relay/chain_book.h"
#include "relay/group_commit.h"
#include "relay/relay_limits.h"
#include "relay/relay_metrics.h"
#include "relay/relay_store.h"
#include "relay/subscriber.h"
#include "wire/frames.h"

namespace parley::relay {

class RelayState {
public:
    // `admission` decides who may create rooms and holds the quotas; null: an
    // open relay with the default quotas.
    RelayState(std::unique_ptr<RelayStore> store, RelayLimits limits, GroupCommitOptions commit = {},
               std::shared_ptr<Admission> admission = nullptr);
    ~RelayState();

    // Handles one frame read from `from`'s connection. Every request gets
    // exactly one reply (success or wire::Error) through from.deliver(), a
    // Send's once it is stored (Error internal if storing failed);
    // undecodable frames and relay->client frame types get Error{0, malformed}
    // (bad_version for an unknown version byte).
    void handle(Subscriber& from, ByteView frame);

    // Sends the next page of `s`'s backlog for `chain`, if it is still catching up.
    void continue_backlog(Subscriber& s, const ChainKey& chain);

    // Unsubscribes `s` from every chain; no frame reaches it once this returns.
    // Sessions call it from their destructor.
    void leave_all(Subscriber& s);

    // Applies retention to the log; returns how many items went. Throws StorageError.
    std::size_t prune(const RetentionPolicy& policy);

    RelayMetrics& metrics() { return metrics_; }
    Admission& admission() { return *admission_; }
    // The limits in force (every session reads them) and the quotas: a reload
    // replaces both; what is in flight finishes under the ones before.
    LiveLimits& live_limits() { return limits_; }
    void set_quotas(const Quotas& quotas);
    std::size_t rooms_in_memory();

private:
    static constexpr std::uint64_t no_limit = std::numeric_limits<std::uint64_t>::max();
    struct Member {
        Subscriber* subscriber = nullptr;
        bool catching_up = false;   // live items skip it; it reads them from the log
        std::uint64_t cursor = 0;   // last backlog item sent
        std::uint64_t until = no_limit;  // draining: the NewHead that ends its backlog
    };
    struct ChainChannel {
        std::map<std::uint64_t, Member> members;   // joined, by Subscriber::id()
        std::map<std::uint64_t, Member> draining;  // unsubscribed by a NewHead mid-backlog
        // Sent off (a NewHead, a failed read) while Sends of the chain were in
        // flight: their memberships are forgotten once none is, so that their
        // own Sends' Acks still reach them (a Send another node's NewHead
        // overtook is stored after it).
        std::map<std::uint64_t, Subscriber*> parted;
        std::uint64_t published_seq = 0;           // every item up to it was fanned out
        std::uint64_t remote_seq = 0;              // other nodes stored items up to it
        std::size_t pending = 0;                   // Sends at the group commit
        // What the room's quota counts: bytes stored, plus Sends on their way
        // to the store (so a burst cannot overshoot it by more than one batch).
        std::uint64_t stored_bytes = 0;
    };
    struct Room {
        std::mutex mutex;
        std::condition_variable idle;  // pending or publishers_waiting changed
        std::size_t pending = 0;
        std::size_t publishers_waiting = 0;
        std::map<wire::Hash, ChainChannel> channels;  // by genesis hash
        // Taken out of rooms_ (no member, nothing in flight): whoever locked it
        // after that looks the room up again.
        bool dead = false;
    };
    using RoomLock = std::pair<std::shared_ptr<Room>, std::unique_lock<std::mutex>>;

    void on_get_chain(Subscriber& from, const wire::GetChain& f);
    void on_publish(Subscriber& from, const wire::Publish& f);
    void on_publish_genesis(Subscriber& from, const wire::Publish& f, const VerifiedRecord& verified);
    void uncount(ChainChannel& ch, std::span<const PendingSend> run);  // stored_bytes of Sends not stored
    void on_join(Subscriber& from, const wire::Join& f);
    void on_send(Subscriber& from, wire::Send& f);  // takes f.envelope
    void on_committed(std::vector<PendingSend>& batch, const std::vector<std::uint64_t>* seqs);
    void fan_out_run(std::span<PendingSend> run, const std::uint64_t* seqs);
    void acknowledge_duplicates(std::span<PendingSend> run, const std::uint64_t* seqs);
    void fan_out_new_head(ChainChannel& ch, const ChainKey& key, std::uint64_t seq, const Bytes& record);
    // Under the room's lock: `s` is no member of the chain any more (see parted).
    void part(ChainChannel& ch, const ChainKey& key, Subscriber& s);
    // Under the room's lock: the connection of one of the chain's Sends, member,
    // draining or parted; null if it left.
    Subscriber* sender(ChainChannel& ch, std::uint64_t id);

    // Other nodes' commits (RelayStore::watch_commits).
    void on_stored_elsewhere(const std::vector<ChainTip>& tips, bool everything);
    // Under the room's lock, with none of this node's Sends of the chain
    // between their commit and their fan-out: fans out the log's items after
    // published_seq up to `up_to` (other nodes'). Throws StorageError.
    void catch_up(ChainChannel& ch, const ChainKey& key, std::uint64_t up_to);
    // Under the room's lock: `items` (read from the store) past published_seq, in order.
    void fan_out_items(ChainChannel& ch, const ChainKey& key, std::vector<LogItem>& items);
    // The same; if the store fails, the members are sent off with Error
    // internal (they join again and read the rest from the log) rather than
    // left with a gap they would not see.
    void catch_up_or_part(ChainChannel& ch, const ChainKey& key, std::uint64_t up_to);
    // Under the room's lock, once the chain has no Send in flight: the members
    // parted meanwhile are forgotten, and what other nodes stored meanwhile goes out.
    void settle(ChainChannel& ch, const ChainKey& key);

    // Under the room's lock. The next page of m's backlog; sending it returns
    // false once m has everything up to published_seq (or its NewHead).
    std::vector<LogItem> read_page(const ChainKey& key, const ChainChannel& ch, const Member& m);
    bool send_page(const ChainKey& key, const ChainChannel& ch, Member& m, std::vector<LogItem> items);

    std::shared_ptr<Room> find_room(const wire::RoomId& room);
    // The room, alive and locked; made if the store holds a chain for it.
    // {nullptr, {}} if the store holds none (nothing is made).
    RoomLock lock_live_room(const wire::RoomId& room);
    // Under r's lock, after a member left: drops what no one uses any more.
    void release_if_idle(const wire::RoomId& id, Room& r);
    ChainChannel& channel(Room& r, const ChainKey& key);  // creates it; throws StorageError
    void forget_membership(Subscriber& s, const ChainKey& key);

    std::unique_ptr<RelayStore> store_;
    std::shared_ptr<Admission> admission_;
    ChainBook book_;
    LiveLimits limits_;
    RelayMetrics metrics_;
    // A room is made here only once the store holds its chain: nothing a peer
    // without a room (a rejected Publish, a GetChain, a Join) sends allocates
    // one; and it goes when its last member leaves with nothing in flight, so
    // rooms with no one online hold no memory. Lock order: a room, then this.
    std::mutex rooms_mutex_;  // guards the map only
    std::map<wire::RoomId, std::shared_ptr<Room>> rooms_;
    std::mutex genesis_mutex_;  // one genesis at a time: the one-per-room check and the admission count
    std::atomic<std::uint64_t> stored_total_{0};  // every chain's stored_bytes, and the rest of the store
    // The writer thread's scratch for fan_out_run, kept for its capacity.
    std::vector<SharedFrame> run_delivers_, run_acks_;
    std::unique_ptr<GroupCommit> commit_;  // last: its writer uses everything above
};

}  // namespace parley::relay
