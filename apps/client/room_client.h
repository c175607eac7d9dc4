// One member's connection to one room through the relay: fetch and verify the
// epoch chain, check it against what we pinned, open our epoch secret, join,
// send, and run incoming envelopes through the Receiver. All protocol work
// happens on the thread that calls these methods; the network thread only
// queues frames (event_queue.h).
#pragma once

#include <filesystem>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "event_queue.h"
#include "net/client.h"
#include "room_device.h"
#include "protocol/epoch.h"
#include "protocol/keyring.h"
#include "protocol/receiver.h"
#include "protocol/rotation.h"
#include "protocol/stream_gaps.h"
#include "store/history_cipher.h"
#include "store/state_store.h"
#include "user_error.h"
#include "wire/frames.h"

namespace parley::client {

struct Member {
    const crypto::Identity* identity = nullptr;
    const protocol::Keyring* keyring = nullptr;
    const crypto::SecretBuffer* password = nullptr;
    store::StateStore* store = nullptr;
    std::string user;
    // Where this member's device key is (protocol/device_files.h): loaded when
    // a room is of protocol version 2.
    std::filesystem::path device_folder;
};

// What the user sees of an incoming frame.
struct Incoming {
    protocol::Delivery delivery;
    std::uint64_t seq = 0;
    // Instead of a delivery: the relay's items `seq`..`missing_last` never
    // came, though asked for again (withheld or lost; §6.2 "Gaps").
    std::optional<std::uint64_t> missing_last;
    // Only the warning of an earlier delivery (numbered `seq`): its sender's
    // counters delivery.missing_before never came (§7 step 9), settled once
    // the relay's holes were and a moment passed.
    bool gap_only = false;
};

class RoomClient {
public:
    using DeliveryHandler = std::function<void(const Incoming&)>;
    using NoticeHandler = std::function<void(const std::string&)>;  // for the user, one line
    using InputHandler = std::function<void(const Event&)>;

    // `room` is the relay's id of the room this device calls `room_name`; its
    // genesis is pinned in the state store (by create, or from an invite).
    // `relays`: one relay, or several serving the same rooms from one database
    // (docs/SCALING.md): each connection goes to the one that last worked, and
    // to the next in turn when that one cannot be reached.
    RoomClient(Member member, std::string room_name, const wire::RoomId& room, std::vector<net::Endpoint> relays,
               net::Client::Options options);
    ~RoomClient();

    void on_delivery(DeliveryHandler h) { on_delivery_ = std::move(h); }
    void on_notice(NoticeHandler h) { on_notice_ = std::move(h); }
    void on_input(InputHandler h) { on_input_ = std::move(h); }
    // Input that arrives while the client waits for the relay (a reconnect, a
    // send): `wait` keeps it for the top level (on_input, afterwards); `taken`
    // means the handler dealt with it (chat queues a line typed offline);
    // `leave` (/quit, Ctrl-C, Ctrl-D) also stops the wait: a reconnect gives
    // up and a send fails at once, and the input still reaches the top level.
    enum class EarlyInput { wait, taken, leave };
    void on_early_input(std::function<EarlyInput(const Event&)> h) { early_input_ = std::move(h); }
    bool interrupted() const { return interrupted_; }
    // Joined on a live connection: a send now goes straight out.
    bool connected() const { return joined_ && !closed_; }
    EventQueue& events() { return events_; }

    // Connects, fetches the pinned chain in pages, verifies it against the
    // pin and adopts its head; a relay that cannot be reached is tried again
    // for `retry`. Throws UserError.
    void open(std::chrono::seconds retry = std::chrono::seconds(0));
    // Connects and creates the room: a genesis whose roster is every key in
    // public_keys/, published under this client's (random) room id; pins it.
    // Version 2 (docs/PROTOCOL.md §10) brings in every device whose card is in
    // public_keys/, this one among them, and needs a card for every member.
    void create(int version = 1);
    // Joins with the head epoch's token and waits for the relay's answer. A
    // reader (one with a delivery handler) asks for everything after the last
    // sequence number it handled; the backlog then arrives as Deliver/NewHead.
    void join();
    // Top-level upkeep between events: reconnects after a dropped connection
    // (with backoff, resuming from the last sequence) and joins again after a
    // new epoch. Throws UserError when it cannot.
    void maintain();
    // Reconnect after a dropped connection instead of giving up; `limit` bounds
    // the time spent trying (for `send`), unlimited by default.
    void set_reconnect(bool enabled, std::chrono::seconds limit = std::chrono::seconds::max()) {
        reconnect_ = enabled;
        reconnect_limit_ = limit;
    }
    // Seals and sends one message; returns once the relay acknowledged it,
    // re-joining if the epoch moved on meanwhile. Throws UserError.
    void send_text(std::string_view text);
    // A sync (docs/PROTOCOL.md §5.1): shows nothing, takes the next counter,
    // so a reader sees whether what this device sent before it all arrived.
    void send_sync(protocol::SyncReason reason, std::chrono::milliseconds wait = std::chrono::seconds(30));
    // A reader that sends (chat): a sync this long after the first text
    // since the last one (from maintain()). Unset: never.
    void set_sync_interval(std::chrono::milliseconds interval) { sync_interval_ = interval; }
    // Version 2 (§10.3 "When"): a reader writes the next epoch when it is due
    // (after this many envelopes of the epoch, or 24 hours) and this member is
    // next in the rotator order. Off by default: set by chat and listen.
    void set_rotation(std::optional<std::uint64_t> after_messages) { rotate_after_ = after_messages; }
    // A text went out since the last sync: a sync is owed (on leaving, and
    // every sync interval while chatting).
    bool sync_owed() const { return sent_since_sync_; }
    // Writes the next epoch: roster = head roster with `ops` applied.
    void rekey(const std::vector<wire::RosterOp>& ops);
    // Moves a room of protocol version 1 to version 2 (docs/PROTOCOL.md §10.7):
    // the next epoch is a version-2 record with the same members (less
    // `without`), each with the devices of its cards in public_keys/.
    void upgrade(const std::vector<crypto::PublicKey>& without);

    // The top-level loop of a reading command: maintain() and handle events
    // until `done()` or the deadline; false on timeout.
    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);
    // Handles events until `done()` or the deadline; false on timeout, and on
    // leaving (/quit, Ctrl-D: interrupted()) unless `even_when_leaving`.
    bool pump_until(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                    bool even_when_leaving = false);
    // Handles at most one event.
    void pump_once(std::chrono::milliseconds wait);

    // After a WrongPassword from open(): the Session's password was replaced;
    // the next open() derives the room secret from it.
    void forget_room_secret() {
        room_secret_.reset();
        device_.reset();  // its state key came from the room secret
        password_confirmed_ = false;
    }

    bool removed() const { return removed_; }
    // Set when the room cannot be used safely any more (a fork, a bad record).
    const std::optional<std::string>& blocked() const { return blocked_; }
    // The connection is gone and will not come back (no reconnect, or it gave up).
    bool closed() const { return closed_ && !reconnect_; }
    const protocol::VerifiedChain& chain() const { return *chain_; }
    // This device in a room of protocol version 2 (nullptr before one, or in version 1).
    const RoomDevice* device() const { return device_.get(); }
    const std::string& room_name() const { return room_name_; }
    const wire::RoomId& room_id() const { return room_; }
    // This room's history key; valid once open() or create() returned.
    const store::HistoryCipher& history() const { return *history_; }
    std::string display_name(const crypto::PublicKey& key) const;
    // Lines describing how public_keys/ differs from the head roster.
    std::vector<std::string> roster_differences() const;
    // Hash members compare out of band: over genesis and head.
    std::string room_code() const;

private:
    struct EpochState {
        std::shared_ptr<const crypto::SymmetricKey> message_key;
        wire::Token token{};
    };

    void connect();
    void connect_to(const net::Endpoint& relay);  // throws what net::Client does
    void reconnect();
    // After `e`: if it is a relay's Error internal (it answers, but cannot
    // reach its database) and other relays were given, the next connect()
    // starts with the next of them; true if so.
    bool leave_failing_relay(const UserError& e);
    void refresh_chain();
    bool reader() const { return static_cast<bool>(on_delivery_); }
    // Our Ack'ed message into history, and the stream past it when nothing before it is missing.
    // A sync (no `text`) goes in no history, but moves the stream all the same.
    void store_own_message(std::uint64_t seq, std::uint64_t epoch, std::uint64_t counter,
                           std::uint64_t time_ms, std::optional<std::string_view> text, const Bytes& envelope);
    // Seals and sends one envelope (with a first-of-epoch sync before it when
    // due), each acknowledged in turn; returns the record hash of the epoch it
    // went out in. Throws UserError.
    wire::Hash send_envelope(wire::EnvelopeType type, std::string_view plaintext, std::chrono::milliseconds wait);
    void forget_own_messages_up_to(std::uint64_t seq);
    // The stream moved to `seq`, whose item is `payload`: stored with its
    // digest if the item was genuine (a relay that tampers with an item each
    // time it sends it must not make every join look like a rollback).
    void advance_position(std::uint64_t seq, ByteView payload, bool genuine = true);
    // True when the item numbered verify_->seq is not what this device handled there:
    // then the stream is rebased and the connection restarted (join() again).
    bool relay_went_back(std::uint64_t seq, ByteView payload);
    // The relay's log is behind `known` (what this device saw): read again what
    // it holds (Joined.first_seq - 1 on), dropping what was seen quietly.
    void rebase(std::uint64_t known, std::uint64_t first_seq, std::uint64_t last_seq);
    std::uint64_t known_seq();
    // §6.2 "Gaps": whether the item numbered `seq` is still to be handled (the
    // next, or one a hole waits for); records the hole a later number leaves,
    // and counts the holes asked for again that the stream went past.
    bool take_place(std::uint64_t seq);
    // Holes given up on: one warning each.
    void report_missing(const std::vector<protocol::GapRange>& ranges, const std::string& why);
    // A sender's counters that did not come (Delivery::missing_before) may
    // still: in a hole of the relay's numbering asked for again, further on in
    // the backlog, or from another process of the sender that sent at the
    // same moment. So they are held, each counter that comes is taken off,
    // and what is left is reported once no hole is open, the stream caught up
    // and counter_gap_grace passed (`now`: without the grace, on leaving).
    void hold_counter_gap(Incoming& in);
    void settle_counter_gaps(bool now);
    void save_gaps_if_changed(const std::vector<protocol::GapRange>& before);
    // From maintain(): a stream that stalled short of what was announced, and
    // holes to ask for again (on a fresh connection, once caught up).
    void check_gaps();
    // A Deliver of a message this process sent (own_stored_, or unacknowledged_).
    bool is_own_stored_message(const wire::Deliver& f) const;
    // The successor of the head with `ops`, encoded (version 1 or 2, as the head).
    Bytes write_next_epoch(const std::vector<wire::RosterOp>& ops);
    // Publishes what `write` makes of the head, then adopts it; on losing the
    // relay's compare-and-set, waits for the winner and writes again (at most
    // three tries). `what` names it in errors.
    void publish_successor(const char* what, const std::function<Bytes()>& write);
    void send_frame(const wire::Frame& frame);
    std::uint64_t next_request_id() {
        outstanding_.insert(++request_id_);
        return request_id_;
    }
    void describe_changes(const wire::EpochRecord& record);
    // Stop sending for good: a fork, or a record we cannot use.
    void block(const std::string& reason);
    void handle_frame(const Bytes& bytes);
    void handle_deliver(const wire::Deliver& f);
    void handle_new_head(const wire::NewHead& f);
    template <class T>
    T await_reply(std::uint64_t request_id, const char* what);
    // Every record of the pinned chain, page by page (GetChain after the last).
    std::vector<Bytes> fetch_chain(const wire::Hash& genesis);
    // Verifies `encoded` against the pin and adopts it.
    void adopt_chain(const std::vector<Bytes>& encoded);
    // Opens our box in `record`, derives keys; nullopt when we are not a member.
    std::optional<EpochState> derive_epoch(const wire::EpochRecord& record, const wire::Hash& hash);
    // Version 2: the device adopts what it has not of the chain (RoomDevice::follow);
    // nullopt when the member is not in the head's roster.
    std::optional<EpochState> device_epoch();
    // The devices of `members` by their cards in public_keys/ (kind 2 boxes to
    // their joining keys), this device among them; UserError naming the members
    // without a card (`otherwise` ends its hint).
    std::vector<protocol::v2::DeviceDraft> devices_by_card(const std::vector<crypto::PublicKey>& members,
                                                           const protocol::v2::Device& me,
                                                           const std::string& otherwise) const;
    // This member's device, which writes a version-2 record; UserError naming `what` without one.
    protocol::v2::Device own_device_for(const std::string& what) const;
    // The genesis of a version-2 room (salt and KDF parameters from `probe`), written by this device.
    wire::EpochRecord write_genesis_v2(const wire::EpochRecord& probe, const crypto::EpochSecret& epoch_secret);
    // The delivery of a version-2 envelope, through the device's receiver.
    void receive_v2(Incoming& in, ByteView envelope);
    // Cards in public_keys/ of the head's members whose devices are not in the
    // room and were never revoked: the next version-2 record brings them in.
    std::vector<protocol::v2::DeviceCard> waiting_cards() const;
    // The successor of a version-2 head with `ops` (as write_next_epoch).
    Bytes write_next_v2(const std::vector<wire::RosterOp>& ops);
    // A key-update (§10.3), once per process and epoch, when the device should rotate.
    void send_key_update_if_due();
    // One more envelope of the head epoch (for the rotator's count).
    void note_epoch_activity(const wire::Hash& record, std::uint64_t timestamp_ms);
    // From maintain(): the next epoch, if it is due and this member's turn (set_rotation).
    void rotate_if_due();
    const crypto::SymmetricKey& room_secret(const wire::EpochRecord& record);
    void adopt_head();  // keys for the head, pin, receiver
    // The history key (needs the room secret): its check value stored for
    // `parley history`, and rows an older version sealed under the private
    // key alone sealed again under it.
    void init_history();
    void notice(const std::string& line) { if (on_notice_) on_notice_(line); }

    Member member_;
    std::string room_name_;
    wire::RoomId room_{};
    std::vector<net::Endpoint> relays_;  // never empty
    std::size_t relay_ = 0;              // the one connect() tries first
    net::Client::Options options_;
    // events_ before net_: the connection's io thread pushes into the queue
    // until the connection is gone, so the queue must outlive it.
    EventQueue events_;
    std::unique_ptr<net::Client> net_;
    std::optional<protocol::VerifiedChain> chain_;
    std::optional<crypto::SymmetricKey> room_secret_;
    std::map<std::uint64_t, EpochState> epochs_;
    std::unique_ptr<protocol::Receiver> receiver_;  // version-1 epochs (and the stream's epoch)
    std::unique_ptr<RoomDevice> device_;            // version-2 epochs, once the chain has one
    std::uint64_t receiver_next_epoch_ = 0;  // epochs below this are in the receiver
    std::uint64_t stream_start_epoch_ = 0;   // where this device left off (its pin)
    std::uint64_t last_seq_ = 0;             // last relay sequence number handled
    std::uint64_t history_offset_ = 0;       // history row number = relay number + this
    // After the relay's numbering went back: what it still holds is read
    // again up to here, and what this device saw already is dropped quietly.
    std::uint64_t reread_until_ = 0;
    // The digest of the item numbered last_seq_ (zero: not known). A reader
    // joins one item earlier to compare the relay's item at last_seq_ with it.
    wire::Hash last_digest_{};
    // That item and its digest, taken when the Join goes out, until the item
    // came (or cannot): what arrives before it (a hostile relay may inject
    // items above it) moves last_seq_ and last_digest_ on, not what is compared.
    struct Verify {
        std::uint64_t seq;
        wire::Hash digest;
    };
    std::optional<Verify> verify_at_;
    bool verify_ = true;  // off after one rebase by digest: a relay cannot make us re-read again and again
    protocol::StreamGaps gaps_;  // numbers below last_seq_ the relay skipped (stored with the position)
    std::chrono::steady_clock::time_point last_progress_{};  // the last item or Joined
    std::uint64_t backlog_first_seq_ = 1;      // Joined.first_seq of the current connection
    struct CounterGap {
        protocol::SenderKey key;
        crypto::PublicKey sender{};
        std::uint64_t seq = 0;  // the delivery that showed it
        bool by_sync = false;
        std::vector<std::pair<std::uint64_t, std::uint64_t>> missing;  // counter ranges, inclusive
        std::chrono::steady_clock::time_point seen{};
    };
    std::vector<CounterGap> counter_gaps_;
    static constexpr std::size_t max_counter_gaps = 64;
    static constexpr std::chrono::seconds counter_gap_grace{2};
    // Messages this process sent that the relay numbered above last_seq_ while
    // we were still catching up (seq -> envelope): the backlog brings them back.
    std::map<std::uint64_t, Bytes> own_stored_;
    static constexpr std::size_t max_own_stored = 1024;
    // What send_text sent on connections that dropped before its Ack (see there).
    const std::vector<Bytes>* unacknowledged_ = nullptr;
    std::uint64_t backlog_last_seq_ = 0;     // Joined.last_seq of the current connection
    std::uint64_t generation_ = 0;           // connection count: events of old ones are dropped
    bool reconnect_ = false;
    std::chrono::seconds reconnect_limit_ = std::chrono::seconds::max();
    std::optional<store::HistoryCipher> history_;  // once the room secret is known (adopt_head)
    wire::SessionId session_{};
    bool sent_since_sync_ = false;
    std::optional<wire::Hash> key_update_sent_in_;  // the record of the epoch this process sent one in
    std::optional<std::uint64_t> rotate_after_;      // set_rotation
    protocol::v2::EpochActivity activity_;           // of the head epoch whose record is activity_for_
    wire::Hash activity_for_{};
    std::optional<wire::Hash> rotation_tried_;       // the head this process tried to write the next epoch after
    std::optional<std::chrono::milliseconds> sync_interval_;
    std::chrono::steady_clock::time_point sync_due_{};
    std::uint64_t request_id_ = 0;
    std::map<std::uint64_t, wire::Frame> replies_;
    std::deque<Event> deferred_input_;
    int depth_ = 0;
    bool joined_ = false;
    bool removed_ = false;
    bool password_confirmed_ = false;
    std::optional<std::string> blocked_;
    std::set<std::uint64_t> outstanding_;
    bool closed_ = false;
    std::string close_reason_;
    bool connect_failed_for_good_ = false;  // the last connect() failed so that trying again cannot help
    DeliveryHandler on_delivery_;
    NoticeHandler on_notice_;
    InputHandler on_input_;
    std::function<EarlyInput(const Event&)> early_input_;
    bool interrupted_ = false;  // latched: the user is leaving
};

}  // namespace parley::client
