#include "relay/relay_state.h"

#include <type_traits>
#include <vector>

#include "relay/log.h"

namespace parley::relay {
namespace {

using wire::RelayError;

void reply_error(Subscriber& to, std::uint64_t request_id, RelayError code) {
    to.deliver(encode_shared(wire::Error{request_id, code}));
}

// A refusal the operator may want to know of (quotas, founders): one line,
// throttled together, naming the peer's address and never the room.
void log_refusal(log::Level level, const Subscriber& from, const char* what) {
    static log::Throttle throttle{5};
    std::uint64_t left_out = 0;
    if (!log::enabled(level) || !throttle.allow(left_out)) return;
    log::write(level, "refusing %s from %s%s", what, from.peer_name().c_str(),
               left_out == 0 ? "" : (" (and " + std::to_string(left_out) + " more refusals, not logged)").c_str());
}

std::uint64_t request_id_of(const wire::Frame& frame) {
    return std::visit(
        [](const auto& f) -> std::uint64_t {
            if constexpr (requires { f.request_id; }) return f.request_id;
            else return 0;
        },
        frame);
}

}  // namespace

RelayState::RelayState(std::unique_ptr<RelayStore> store, RelayLimits limits, GroupCommitOptions commit,
                       std::shared_ptr<Admission> admission)
    : store_(std::move(store)),
      admission_(admission ? std::move(admission) : std::make_shared<Admission>(Quotas{}, std::nullopt)),
      book_(*store_, admission_->quotas()),
      limits_(limits) {
    stored_total_ = store_->total_stored_bytes();
    if (!commit.commit_seconds) commit.commit_seconds = &metrics_.commit_seconds;
    commit_ = std::make_unique<GroupCommit>(
        *store_, [this](auto& batch, const auto* seqs) { on_committed(batch, seqs); }, commit);
    store_->watch_commits([this](const auto& tips, bool everything) { on_stored_elsewhere(tips, everything); });
}

void RelayState::set_quotas(const Quotas& quotas) {
    admission_->set_quotas(quotas);
    book_.set_quotas(quotas);
}

// Stop hearing of other nodes, and the writer (committing what is queued),
// before the rooms they fan out to go.
RelayState::~RelayState() {
    store_->watch_commits({});
    commit_.reset();
}

std::shared_ptr<RelayState::Room> RelayState::find_room(const wire::RoomId& id) {
    std::lock_guard lock(rooms_mutex_);
    auto it = rooms_.find(id);
    return it == rooms_.end() ? nullptr : it->second;
}

RelayState::RoomLock RelayState::lock_live_room(const wire::RoomId& id) {
    for (;;) {
        auto r = find_room(id);
        if (!r) {
            if (store_->geneses(id).empty()) return {};
            std::lock_guard lock(rooms_mutex_);
            auto& slot = rooms_[id];
            if (!slot) slot = std::make_shared<Room>();
            r = slot;
        }
        std::unique_lock lock(r->mutex);
        if (!r->dead) return {std::move(r), std::move(lock)};
    }
}

void RelayState::release_if_idle(const wire::RoomId& id, Room& r) {
    std::erase_if(r.channels, [](const auto& entry) {
        const ChainChannel& ch = entry.second;
        return ch.members.empty() && ch.draining.empty() && ch.parted.empty() && ch.pending == 0;
    });
    if (!r.channels.empty() || r.pending != 0 || r.publishers_waiting != 0) return;
    r.dead = true;
    std::lock_guard lock(rooms_mutex_);
    if (auto found = rooms_.find(id); found != rooms_.end() && found->second.get() == &r) rooms_.erase(found);
}

RelayState::ChainChannel& RelayState::channel(Room& r, const ChainKey& key) {
    auto it = r.channels.find(key.second);
    if (it != r.channels.end()) return it->second;
    // A chain's first channel starts where its stored log ends (nothing is
    // queued for a chain nobody has joined).
    // Bytes first: another node's item stored between the two reads is then
    // counted once, by nobody, until prune() reads the totals again (the other
    // way round, it would count twice: here and when it is fanned out).
    const std::uint64_t bytes = store_->stored_bytes(key.first, key.second);
    const std::uint64_t last = store_->range(key).last_seq;
    auto& ch = r.channels[key.second];
    ch.published_seq = last;
    ch.stored_bytes = bytes;
    return ch;
}

void RelayState::forget_membership(Subscriber& s, const ChainKey& key) {
    std::lock_guard member_lock(s.memberships_mutex_);
    s.memberships_.erase(key);
}

void RelayState::handle(Subscriber& from, ByteView bytes) {
    auto decoded = wire::decode_frame(bytes);
    if (!decoded.frame) {
        if (auto id = wire::oversized_record_request(bytes)) return reply_error(from, *id, RelayError::too_large);
        reply_error(from, 0, decoded.error == wire::FrameError::bad_version ? RelayError::bad_version
                                                                             : RelayError::malformed);
        return;
    }
    try {
        std::visit(
            [&](auto& f) {  // not const: a Send's envelope moves on to the log
                using T = std::decay_t<decltype(f)>;
                if constexpr (std::is_same_v<T, wire::GetChain>) on_get_chain(from, f);
                else if constexpr (std::is_same_v<T, wire::Publish>) on_publish(from, f);
                else if constexpr (std::is_same_v<T, wire::Join>) on_join(from, f);
                else if constexpr (std::is_same_v<T, wire::Send>) on_send(from, f);
                else reply_error(from, 0, RelayError::malformed);  // a relay->client type
            },
            *decoded.frame);
    } catch (const StorageError& e) {
        // The store failed a read or write: nothing changed; say so generically.
        metrics_.add(metrics_.storage_errors);
        PARLEY_LOG_THROTTLED(5, error, "storage: %s", e.what());
        reply_error(from, request_id_of(*decoded.frame), RelayError::internal);
    }
}

// One page, read and encoded alone: what a GetChain costs is bounded by the
// page, whatever the chain's length, and nothing is kept for the room.
void RelayState::on_get_chain(Subscriber& from, const wire::GetChain& f) {
    ChainPage page;
    if (auto r = find_room(f.room)) {
        std::lock_guard lock(r->mutex);
        page = book_.page(f.room, f.genesis, f.after, limits_.get()->limits.chain_page_bytes);
    } else {
        page = book_.page(f.room, f.genesis, f.after, limits_.get()->limits.chain_page_bytes);
    }
    if (page.error) return reply_error(from, f.request_id, *page.error);
    metrics_.add(metrics_.chain_pages);
    from.deliver(encode_shared(wire::Chain{f.request_id, f.room, f.genesis, page.complete, std::move(page.records)}));
}

void RelayState::on_publish(Subscriber& from, const wire::Publish& f) {
    // Decode and verify the signature before taking any lock or making a room.
    auto verified = verify_published_record(f.room, f.record);
    if (!verified) return reply_error(from, f.request_id, RelayError::bad_record);
    if (verified->record.epoch == 0) return on_publish_genesis(from, f, *verified);

    // A successor: only for a chain the store holds (no room is made for anything else).
    auto [held, lock] = lock_live_room(f.room);
    if (!held) return reply_error(from, f.request_id, RelayError::unknown_chain);
    Room& r = *held;
    struct Release {  // last, under the lock: a refused publish, or members sent off by a NewHead
        RelayState& state;
        const wire::RoomId& id;
        Room& room;
        ~Release() { state.release_if_idle(id, room); }
    };
    struct WakeSends {  // on every way out: Sends held back may go on
        std::condition_variable& cv;
        ~WakeSends() { cv.notify_all(); }
    } wake{r.idle};
    Release release{*this, f.room, r};
    // A successor takes the next sequence number: first let the room's queued
    // Sends be stored and fanned out, holding new ones back.
    ++r.publishers_waiting;
    r.idle.wait(lock, [&] { return r.pending == 0; });
    --r.publishers_waiting;
    auto outcome = book_.publish(f.room, f.token, *verified);  // durable when it returns
    if (outcome.error) {
        if (*outcome.error == RelayError::quota) {
            metrics_.add(metrics_.quota_refusals);
            log_refusal(log::Level::notice, from, "an epoch record: the room is at a storage quota "
                                                  "(--max-chain-records, --max-room-bytes or --max-total-bytes)");
        }
        return reply_error(from, f.request_id, *outcome.error);
    }
    const ChainKey key{f.room, outcome.genesis};
    const bool counted_before = r.channels.contains(outcome.genesis);  // a new channel reads the store's count
    ChainChannel& ch = channel(r, key);
    if (outcome.appended && counted_before) ch.stored_bytes += 2 * verified->encoded.size();
    if (outcome.appended) {
        stored_total_ += 2 * verified->encoded.size();  // the record and its log item
    }
    from.deliver(encode_shared(wire::Published{f.request_id, outcome.record_hash}));
    if (outcome.appended && outcome.seq > 0) {
        // Other nodes' items before it go first (none but on a shared store).
        if (outcome.seq > ch.published_seq + 1) catch_up_or_part(ch, key, outcome.seq - 1);
        fan_out_new_head(ch, key, outcome.seq, verified->encoded);
    }
}

// A new room: one genesis per room id, from a founder (or anyone on an open
// relay) within the hourly room quotas. No Room is made: the first Join does.
void RelayState::on_publish_genesis(Subscriber& from, const wire::Publish& f, const VerifiedRecord& verified) {
    std::lock_guard creating(genesis_mutex_);
    const auto& author = verified.record.author;
    const auto address = from.address_key();
    if (store_->geneses(f.room).empty()) {
        if (auto refused = admission_->may_create(author, address)) {
            const bool quota = *refused == RelayError::quota;
            metrics_.add(quota ? metrics_.quota_refusals : metrics_.founder_refusals);
            log_refusal(log::Level::notice, from,
                        quota ? "a new room: over the hourly room quota (--rooms-per-founder-per-hour or "
                                "--rooms-per-address-per-hour)"
                              : "a new room: its founder's key is not on the --founders list");
            return reply_error(from, f.request_id, *refused);
        }
    }
    auto outcome = book_.publish(f.room, f.token, verified);  // durable when it returns
    if (outcome.error) {
        if (*outcome.error == RelayError::quota) {
            metrics_.add(metrics_.quota_refusals);
            log_refusal(log::Level::warning, from, "a new room: the relay is at --max-total-bytes");
        }
        return reply_error(from, f.request_id, *outcome.error);
    }
    if (outcome.appended) {
        admission_->room_created(author, address);
        stored_total_ += verified.encoded.size();
        metrics_.add(metrics_.rooms_created);
    }
    from.deliver(encode_shared(wire::Published{f.request_id, outcome.record_hash}));
}

std::size_t RelayState::rooms_in_memory() {
    std::lock_guard lock(rooms_mutex_);
    return rooms_.size();
}

// Tells the chain's members about a new head, then makes them join again with
// the new epoch's token (removed members cannot). One still catching up gets
// its backlog up to and including this NewHead, then nothing more.
void RelayState::fan_out_new_head(ChainChannel& ch, const ChainKey& key, std::uint64_t seq,
                                  const Bytes& record) {
    ch.published_seq = seq;
    auto new_head = encode_shared(wire::NewHead{key.first, key.second, seq, record});
    for (auto& [id, m] : ch.members) {
        if (m.catching_up) {
            m.until = seq;
            ch.draining[id] = m;
            continue;
        }
        m.subscriber->deliver(new_head);
        metrics_.add(metrics_.deliveries);
        metrics_.add(metrics_.bytes_delivered, new_head->size());
        part(ch, key, *m.subscriber);
    }
    ch.members.clear();
}

void RelayState::part(ChainChannel& ch, const ChainKey& key, Subscriber& s) {
    if (ch.pending == 0) forget_membership(s, key);
    else ch.parted[s.id()] = &s;
}

Subscriber* RelayState::sender(ChainChannel& ch, std::uint64_t id) {
    if (auto it = ch.members.find(id); it != ch.members.end()) return it->second.subscriber;
    if (auto it = ch.draining.find(id); it != ch.draining.end()) return it->second.subscriber;
    if (auto it = ch.parted.find(id); it != ch.parted.end()) return it->second;
    return nullptr;
}

void RelayState::settle(ChainChannel& ch, const ChainKey& key) {
    if (ch.pending != 0) return;
    for (auto& [id, s] : ch.parted) forget_membership(*s, key);
    ch.parted.clear();
    if (ch.remote_seq > ch.published_seq) catch_up_or_part(ch, key, ch.remote_seq);
}

void RelayState::on_join(Subscriber& from, const wire::Join& f) {
    auto [r, lock] = lock_live_room(f.room);
    if (!r) return reply_error(from, f.request_id, RelayError::unknown_chain);
    const ChainKey key{f.room, f.genesis};
    // The Join is answered with everything the store holds sent out (a member
    // coming from another node may have had all of it: told less, it would
    // take the log for one that went back). Items of this node's Sends between
    // their commit and their fan-out are sent out first: new Sends wait meanwhile.
    LogRange range = store_->range(key);
    if (auto it = r->channels.find(f.genesis);
        it != r->channels.end() && it->second.pending != 0 && range.last_seq > it->second.published_seq) {
        Room& room = *r;  // not the binding: clang 14's lambdas cannot capture one
        ++room.publishers_waiting;
        room.idle.wait(lock, [&] { return room.pending == 0; });
        --room.publishers_waiting;
        room.idle.notify_all();
        range = store_->range(key);
    }
    auto outcome = book_.check_join(f.room, f.genesis, f.token);
    if (outcome.error) {
        release_if_idle(f.room, *r);  // a wrong token leaves nothing behind
        return reply_error(from, f.request_id, *outcome.error);
    }
    ChainChannel& ch = channel(*r, key);
    if (range.last_seq > ch.published_seq) {  // another node's items, not heard of yet
        ch.remote_seq = std::max(ch.remote_seq, range.last_seq);
        settle(ch, key);
    }
    Member m{&from, false, f.after_seq};
    // Read before answering, so a failed read is this Join's Error.
    auto first_page = f.after_seq < ch.published_seq ? read_page(key, ch, m) : std::vector<LogItem>{};
    {
        std::lock_guard member_lock(from.memberships_mutex_);
        if (!from.memberships_.contains(key)) {
            if (from.memberships_.size() >= limits_.get()->limits.max_chains_per_connection) {
                log_refusal(log::Level::notice, from, "a join: the connection is in --max-rooms-per-connection rooms");
                return reply_error(from, f.request_id, RelayError::limit);
            }
            from.memberships_.insert(key);
        }
    }
    // Joined first, so the client knows the range before the backlog arrives.
    from.deliver(encode_shared(wire::Joined{f.request_id, outcome.head_epoch, outcome.head_hash, ch.published_seq,
                                     std::min(range.first_seq, ch.published_seq + 1)}));
    ch.draining.erase(from.id());
    ch.parted.erase(from.id());
    m.catching_up = !first_page.empty() && send_page(key, ch, m, std::move(first_page));
    ch.members[from.id()] = m;
}

std::vector<LogItem> RelayState::read_page(const ChainKey& key, const ChainChannel& ch, const Member& m) {
    const std::uint64_t limit = std::min(ch.published_seq, m.until);
    if (m.cursor >= limit) return {};
    const auto in_force = limits_.get();
    return store_->read(key, m.cursor, limit, in_force->limits.backlog_page_items, in_force->limits.backlog_page_bytes);
}

bool RelayState::send_page(const ChainKey& key, const ChainChannel& ch, Member& m, std::vector<LogItem> items) {
    for (auto& item : items) {
        SharedFrame frame =
            item.kind == LogKind::new_head
                ? encode_shared(wire::NewHead{key.first, key.second, item.seq, std::move(item.payload)})
                : encode_shared(wire::Deliver{key.first, key.second, item.seq, std::move(item.payload)});
        metrics_.add(metrics_.backlog_items);
        metrics_.add(metrics_.deliveries);
        metrics_.add(metrics_.bytes_delivered, frame->size());
        m.subscriber->deliver(std::move(frame));
        m.cursor = item.seq;
    }
    const std::uint64_t limit = std::min(ch.published_seq, m.until);
    if (items.empty() || m.cursor >= limit) return false;  // caught up (or the rest expired)
    m.subscriber->backlog_paused(key);
    return true;
}

void RelayState::continue_backlog(Subscriber& s, const ChainKey& key) {
    auto r = find_room(key.first);
    if (!r) return;
    std::lock_guard lock(r->mutex);
    auto ch_it = r->channels.find(key.second);
    if (ch_it == r->channels.end()) return;
    auto& ch = ch_it->second;
    try {
        if (auto it = ch.members.find(s.id()); it != ch.members.end() && it->second.catching_up) {
            it->second.catching_up = send_page(key, ch, it->second, read_page(key, ch, it->second));
        } else if (auto d = ch.draining.find(s.id()); d != ch.draining.end()) {
            if (!send_page(key, ch, d->second, read_page(key, ch, d->second))) {
                ch.draining.erase(d);
                part(ch, key, s);
            }
        }
    } catch (const StorageError& e) {
        // Cannot go on without a gap: unsubscribe; the client joins again.
        metrics_.add(metrics_.storage_errors);
        PARLEY_LOG_THROTTLED(5, error, "storage: %s", e.what());
        ch.members.erase(s.id());
        ch.draining.erase(s.id());
        part(ch, key, s);
        reply_error(s, 0, RelayError::internal);
    }
}

void RelayState::on_send(Subscriber& from, wire::Send& f) {
    auto r = find_room(f.room);
    if (!r) return reply_error(from, f.request_id, RelayError::not_joined);
    std::unique_lock lock(r->mutex);
    r->idle.wait(lock, [&] { return r->publishers_waiting == 0; });
    auto it = r->channels.find(f.genesis);
    if (it == r->channels.end() || !it->second.members.contains(from.id()))
        return reply_error(from, f.request_id, RelayError::not_joined);
    // The storage quotas, counted without the store: a room's bytes and all
    // rooms' bytes, Sends on their way included.
    const std::uint64_t size = f.envelope.size();
    const auto quotas = admission_->quotas();
    if (it->second.stored_bytes + size > quotas.max_room_bytes || stored_total_ + size > quotas.max_total_bytes) {
        metrics_.add(metrics_.quota_refusals);
        // The relay full is the operator's to fix; one room full, its members'.
        if (stored_total_ + size > quotas.max_total_bytes)
            log_refusal(log::Level::warning, from, "a message: the relay is at --max-total-bytes");
        else
            log_refusal(log::Level::notice, from, "a message: its room is at --max-room-bytes");
        return reply_error(from, f.request_id, RelayError::quota);
    }
    it->second.stored_bytes += size;
    stored_total_ += size;
    ++it->second.pending;
    ++r->pending;
    commit_->submit({{{f.room, f.genesis}, LogKind::message, std::move(f.envelope)}, from.id(), f.request_id,
                     f.resend});
}

// The writer thread, after each batch: acknowledge and fan out in order,
// a run of consecutive items of one chain at a time. A resent message the log
// already held is only acknowledged.
void RelayState::on_committed(std::vector<PendingSend>& batch, const std::vector<std::uint64_t>* seqs) {
    if (seqs) metrics_.add(metrics_.commit_batches);
    const auto same_run = [&](const PendingSend& a, const PendingSend& b) {
        return a.append.chain == b.append.chain && (!seqs || a.duplicate == b.duplicate);
    };
    std::size_t begin = 0;
    while (begin < batch.size()) {
        std::size_t end = begin + 1;
        while (end < batch.size() && same_run(batch[end], batch[begin])) ++end;
        const auto run = std::span(batch).subspan(begin, end - begin);
        if (seqs && run.front().duplicate) acknowledge_duplicates(run, seqs->data() + begin);
        else fan_out_run(run, seqs ? seqs->data() + begin : nullptr);
        begin = end;
    }
}

// Resends of messages stored before (their Acks were lost with a connection):
// each sender gets the Ack of the stored copy; no one gets a second Deliver.
void RelayState::acknowledge_duplicates(std::span<PendingSend> run, const std::uint64_t* seqs) {
    auto r = find_room(run.front().append.chain.first);
    if (!r) return;  // cannot happen: a Send needs a joined room
    std::lock_guard lock(r->mutex);
    auto& ch = r->channels[run.front().append.chain.second];
    ch.pending -= run.size();
    r->pending -= run.size();
    if (r->pending == 0) r->idle.notify_all();
    uncount(ch, run);
    metrics_.add(metrics_.resends_already_stored, run.size());
    for (std::size_t i = 0; i < run.size(); ++i)
        if (auto* to = sender(ch, run[i].sender_id)) to->deliver(encode_shared(wire::Ack{run[i].request_id, seqs[i]}));
    settle(ch, run.front().append.chain);
    release_if_idle(run.front().append.chain.first, *r);  // ch may go
}

// One run under one lock of its room: each member gets every Deliver of the
// run in one deliver_all (one lock of its inbox instead of one per item),
// except that its own items are replaced by their Acks, in place, so every
// connection still sees the chain's items in sequence order. Counters are
// added once per run, not per recipient.
void RelayState::fan_out_run(std::span<PendingSend> run, const std::uint64_t* seqs) {
    const auto& [room_id, genesis] = run.front().append.chain;
    auto r = find_room(room_id);
    if (!r) return;  // cannot happen: a Send needs a joined room
    std::lock_guard lock(r->mutex);
    auto& ch = r->channels[genesis];
    // Still in flight until their Acks are out (a NewHead below parts their
    // senders without forgetting them).
    const auto done = [&] {
        ch.pending -= run.size();
        r->pending -= run.size();
        if (r->pending == 0) r->idle.notify_all();
        settle(ch, run.front().append.chain);
        release_if_idle(run.front().append.chain.first, *r);  // members a NewHead sent off: ch may go
    };
    if (!seqs) {
        uncount(ch, run);
        metrics_.add(metrics_.storage_errors, run.size());
        for (const auto& item : run)
            if (auto* to = sender(ch, item.sender_id)) reply_error(*to, item.request_id, RelayError::internal);
        return done();
    }
    // What other nodes stored before this run goes first (a gap in the
    // numbers: on a store only this node writes, there is none).
    if (seqs[0] > ch.published_seq + 1) catch_up_or_part(ch, run.front().append.chain, seqs[0] - 1);
    // One encoding of each item for every recipient.
    run_delivers_.clear();
    run_acks_.clear();
    std::uint64_t payload_bytes = 0, frame_bytes = 0;
    for (std::size_t i = 0; i < run.size(); ++i) {
        payload_bytes += run[i].append.payload.size();
        run_acks_.push_back(encode_shared(wire::Ack{run[i].request_id, seqs[i]}));
        run_delivers_.push_back(encode_shared(wire::Deliver{room_id, genesis, seqs[i], std::move(run[i].append.payload)}));
        frame_bytes += run_delivers_.back()->size();
    }
    ch.published_seq = seqs[run.size() - 1];
    // Counted stored before any Ack leaves: a client that has its Ack sees it in /metrics.
    metrics_.add(metrics_.messages_stored, run.size());
    metrics_.add(metrics_.bytes_stored, payload_bytes);
    std::uint64_t deliveries = 0, delivered_bytes = 0;
    const std::span<const SharedFrame> delivers(run_delivers_);
    for (auto& entry : ch.members) {  // not a structured binding: clang 14's lambdas cannot capture one
        const std::uint64_t id = entry.first;
        Member& m = entry.second;
        // A member still catching up reads the Delivers from the log, but
        // gets the Acks of its own Sends now.
        std::size_t from = 0;  // the Delivers before `from` are dealt with
        auto flush = [&](std::size_t to) {
            if (m.catching_up || to == from) return;
            m.subscriber->deliver_all(delivers.subspan(from, to - from));
            deliveries += to - from;
            for (std::size_t i = from; i < to; ++i) delivered_bytes += delivers[i]->size();
        };
        for (std::size_t i = 0; i < run.size(); ++i) {
            if (run[i].sender_id != id) continue;
            flush(i);
            m.subscriber->deliver(run_acks_[i]);
            from = i + 1;
        }
        if (from == 0 && !m.catching_up) {  // the common case: sent nothing in this run
            m.subscriber->deliver_all(delivers);
            deliveries += delivers.size();
            delivered_bytes += frame_bytes;
        } else {
            flush(run.size());
        }
    }
    // Senders no longer members (a NewHead above sent them off) get their Acks
    // only: the Delivers are the new epoch's members' backlog, once they join again.
    for (std::size_t i = 0; i < run.size(); ++i)
        if (!ch.members.contains(run[i].sender_id))
            if (auto* to = sender(ch, run[i].sender_id)) to->deliver(run_acks_[i]);
    run_delivers_.clear();  // the recipients hold their own references
    run_acks_.clear();
    metrics_.add(metrics_.deliveries, deliveries);
    metrics_.add(metrics_.bytes_delivered, delivered_bytes);
    done();
}

void RelayState::leave_all(Subscriber& s) {
    std::vector<ChainKey> keys;
    {
        std::lock_guard lock(s.memberships_mutex_);
        keys.assign(s.memberships_.begin(), s.memberships_.end());
    }
    for (const auto& key : keys) {
        auto r = find_room(key.first);
        if (!r) continue;
        std::lock_guard lock(r->mutex);
        if (auto it = r->channels.find(key.second); it != r->channels.end()) {
            it->second.members.erase(s.id());
            it->second.draining.erase(s.id());
            it->second.parted.erase(s.id());
        }
        forget_membership(s, key);
        release_if_idle(key.first, *r);
    }
}

void RelayState::uncount(ChainChannel& ch, std::span<const PendingSend> run) {
    std::uint64_t bytes = 0;
    for (const auto& item : run) bytes += item.append.payload.size();
    ch.stored_bytes -= std::min(bytes, ch.stored_bytes);
    stored_total_ -= std::min<std::uint64_t>(bytes, stored_total_);
}

std::size_t RelayState::prune(const RetentionPolicy& policy) {
    const std::size_t removed = store_->prune(policy);
    metrics_.add(metrics_.pruned_items, removed);
    if (removed == 0) return removed;
    // What retention freed counts for the quotas again. (A Send on its way to
    // the store while this runs is left out of its room's count: at most a batch.)
    stored_total_ = store_->total_stored_bytes();
    std::vector<std::pair<wire::RoomId, std::shared_ptr<Room>>> rooms;
    {
        std::lock_guard lock(rooms_mutex_);
        for (auto& [id, r] : rooms_) rooms.emplace_back(id, r);
    }
    for (auto& [id, r] : rooms) {
        std::lock_guard lock(r->mutex);
        for (auto& [genesis, ch] : r->channels) ch.stored_bytes = store_->stored_bytes(id, genesis);
    }
    return removed;
}

}  // namespace parley::relay
