// The client's local state in one SQLite file per user (docs/PROTOCOL.md §8):
// pinned chains, replay windows and the sessions this device started.
// WAL mode and a busy timeout, so several processes of one user (a listener and
// a sender, say) share it safely.
#pragma once

#include <sqlite3.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "protocol/epoch.h"
#include "protocol/replay.h"
#include "protocol/stream_gaps.h"

namespace parley::store {

class StoreError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class StateStore final : public protocol::ReplayStore {
public:
    // Opens or creates the database; throws StoreError with a clear message if
    // the file is unreadable, corrupt or not a Parley state file.
    explicit StateStore(const std::filesystem::path& file);
    ~StateStore() override;
    StateStore(const StateStore&) = delete;
    StateStore& operator=(const StateStore&) = delete;

    // The rooms this device knows, by local name (never sent to the relay):
    // made here by `create` or joined from an invite.
    struct LocalRoom {
        std::string name;
        wire::RoomId room{};
        std::string server;
    };
    std::optional<LocalRoom> find_room(const std::string& name);
    std::optional<LocalRoom> find_room(const wire::RoomId& room);
    // Adds the name; throws StoreError if the name or the room id is taken.
    void add_room(const LocalRoom& room);
    std::vector<LocalRoom> rooms();

    std::optional<protocol::Pin> load_pin(const wire::RoomId& room);
    void save_pin(const wire::RoomId& room, const protocol::Pin& pin);

    // Sessions this device started.
    void add_own_session(const wire::SessionId& session);
    bool owns_session(const wire::SessionId& session);
    // The next counter of this state folder under `record` (from 0), taken for
    // `session` in one transaction: every process of the folder (a chat and
    // a send at once) takes its own, so a counter the readers never get is a
    // message that went missing (docs/PROTOCOL.md §5). Recorded before the
    // message leaves, so our other processes recognise it.
    std::uint64_t take_counter(const wire::SessionId& session, const wire::Hash& record);
    // Whether this state folder took `counter` under `record` for `session`
    // (or, written by a version before take_counter, whether that session
    // sent up to `counter` there). Anything else signed by our key is a
    // thief's, even under one of our session ids.
    bool sent_by_us(const wire::SessionId& session, const wire::Hash& record, std::uint64_t counter);

    // The relay told this device that items of the room expired before it
    // read them, with the chain at `head_epoch`: a sender first seen in an
    // epoch up to there may have sent what expired, so its first counter is no
    // gap (§7 step 9).
    void note_expired(const wire::RoomId& room, std::uint64_t head_epoch);
    std::optional<std::uint64_t> expired_through_epoch(const wire::RoomId& room);

    // Members whose fingerprint the user compared out of band (/verify NAME).
    void mark_verified(const crypto::PublicKey& key);
    bool is_verified(const crypto::PublicKey& key);

    std::optional<protocol::ReplayWindow> load_window(const protocol::StreamKey& key) override;
    void save_window(const protocol::StreamKey& key, const protocol::ReplayWindow& window) override;
    std::optional<std::uint64_t> load_front(const protocol::SenderKey& key) override;
    void save_front(const protocol::SenderKey& key, std::uint64_t highest) override;

    // How far this device read a room's stream: the relay sequence number up
    // to which it was handled (0: nothing yet) and the stream's epoch there.
    // Only moves forward.
    struct StreamPosition {
        std::uint64_t seq = 0;
        std::uint64_t epoch = 0;
        // BLAKE2b-256 of the item numbered `seq` (its envelope or record): on
        // the next join the relay's item at that number is compared with it, so
        // a relay whose log went back and has since numbered past this device
        // is still noticed. All zero: not known.
        wire::Hash digest{};
    };
    StreamPosition stream_position(const wire::RoomId& room);
    void save_stream_position(const wire::RoomId& room, const StreamPosition& position);
    // The relay's numbering went back (its log is behind this device: restored
    // from a backup): reading resumes at `position`; what the relay numbers up
    // to `reread_until` is read again, and what was seen already is dropped
    // quietly; the history's numbers move on by `history_shift`, so new rows
    // never take the place of old ones.
    struct Rebase {
        std::uint64_t history_shift = 0;  // added to the relay's number to number a history row
        std::uint64_t reread_until = 0;
    };
    void rebase_stream(const wire::RoomId& room, const StreamPosition& position, const Rebase& rebase);
    Rebase rebase(const wire::RoomId& room);
    // Numbers below the stream position the relay skipped and has not sent
    // yet (protocol/stream_gaps.h): kept with the position, so whichever
    // process reads next asks for them again.
    std::vector<protocol::GapRange> stream_gaps(const wire::RoomId& room);
    void save_stream_gaps(const wire::RoomId& room, const std::vector<protocol::GapRange>& gaps);

    // Lines typed in chat while the relay was away, until they are sent: sealed
    // like history rows (the caller's `seal` gets the new row's id, which
    // the seal binds). Ids grow per room from 1.
    std::uint64_t add_outbox(const wire::RoomId& room, const std::function<Bytes(std::uint64_t)>& seal);
    std::vector<std::pair<std::uint64_t, Bytes>> load_outbox(const wire::RoomId& room);
    void remove_outbox(const wire::RoomId& room, std::uint64_t id);

    // What `parley history` needs to derive a room's history key offline: the
    // room's Argon2id salt and parameters (public: every record carries them)
    // and the history key's check value (wrong password or damaged rows?).
    struct HistoryKeyInfo {
        std::array<std::uint8_t, wire::salt_bytes> salt{};
        wire::KdfParams kdf;
        wire::Hash check{};
    };
    std::optional<HistoryKeyInfo> load_history_key_info(const wire::RoomId& room);
    void save_history_key_info(const wire::RoomId& room, const HistoryKeyInfo& info);

    // Message history, sealed by the caller (history_cipher.h): the store
    // only ever sees ciphertext. One row per (room, relay sequence number).
    void add_history(const wire::RoomId& room, std::uint64_t seq, ByteView sealed);
    // The newest `limit` rows, oldest first.
    std::vector<std::pair<std::uint64_t, Bytes>> load_history(const wire::RoomId& room, std::size_t limit);
    void replace_history(const wire::RoomId& room, std::uint64_t seq, ByteView sealed);
    // The highest history row number of the room (0: none).
    std::uint64_t last_history_seq(const wire::RoomId& room);

    // Version 2's device secrets (docs/PROTOCOL.md §10.2): update private keys,
    // init secrets, chain keys, skipped message keys, each one row sealed by
    // the caller (device_state_cipher.h) under a name the caller picks. To
    // erase is to forget for good: secure_delete overwrites the row in the
    // file, and the write-ahead log, which still holds the old row's frames,
    // is checkpointed with TRUNCATE after the transaction that replaced or
    // erased a secret commits (at once outside one).
    //
    // A checkpoint costs some 800 µs of disk work, four times a whole
    // message's transaction, so it runs at most once per forget interval
    // (default_forget_interval): the first erase after a quiet moment is
    // forgotten at its commit, a burst's at the first commit (or
    // forget_pending() call) an interval after the last checkpoint. A copy of
    // the folder taken while the device runs holds, in the log, the secrets
    // erased within the last interval, and none once it was idle that long
    // or closed (the destructor forgets what is pending).
    static constexpr std::chrono::milliseconds default_forget_interval{100};
    void set_forget_interval(std::chrono::milliseconds interval) { forget_interval_ = interval; }
    void put_device_secret(const wire::RoomId& room, ByteView name, ByteView sealed);
    std::optional<Bytes> load_device_secret(const wire::RoomId& room, ByteView name);
    // True when there was such a row.
    bool erase_device_secret(const wire::RoomId& room, ByteView name);
    // Every (name, sealed row) whose name starts with `prefix`, by name.
    std::vector<std::pair<Bytes, Bytes>> device_secrets_named(const wire::RoomId& room, ByteView prefix);
    // Checkpoints if an erased secret may still be in the log and the forget
    // interval passed since the last checkpoint (`now`: whatever the
    // interval); a no-op inside a transaction. Never throws. The client's
    // event loop calls it when idle, so a burst's tail is forgotten too.
    void forget_pending(bool now = false) noexcept;
    bool forget_due() const { return forget_due_ || tx_erased_; }
    // Whether the last checkpoint after an erase reached every frame (false
    // when another process was still reading an older snapshot, or on an I/O
    // error: it stays due, and the next commit and the closing store try again).
    bool last_checkpoint_complete() const { return checkpoint_complete_; }

    // BEGIN IMMEDIATE ... COMMIT; rolled back if destroyed before commit().
    // A received message, its replay window, its history row and the room's
    // last sequence number are stored in one transaction.
    class Transaction {
    public:
        explicit Transaction(StateStore& store);
        ~Transaction();
        Transaction(const Transaction&) = delete;
        Transaction& operator=(const Transaction&) = delete;
        void commit();

    private:
        StateStore& store_;
        bool done_ = false;
    };

private:
    int tx_depth_ = 0;  // Transactions open (nested ones join the outermost)
    bool tx_erased_ = false;   // a secret was replaced or erased in the open transaction
    bool forget_due_ = false;  // one was in a committed transaction, and the log may still hold it
    bool checkpoint_complete_ = true;
    std::chrono::milliseconds forget_interval_{default_forget_interval};
    std::chrono::steady_clock::time_point last_forget_{};
    void exec(const char* sql);
    std::int64_t query_int(const char* sql);
    sqlite3* db_ = nullptr;
    std::string path_;
};

}  // namespace parley::store
