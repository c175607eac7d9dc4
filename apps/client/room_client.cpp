// RoomClient, part one: the connection. Connecting and reconnecting, the
// event loop, joining, fetching the chain in pages, and sending a message.
// Epochs are in room_epochs.cpp (version 2's devices in room_v2.cpp), the
// reading position in room_stream.cpp.
#include "room_client.h"
#include "room_parts.h"

#include <algorithm>
#include <limits>
#include <chrono>
#include <set>

#include "user_error.h"

namespace parley::client {

namespace {

using namespace std::chrono_literals;
constexpr auto reply_timeout = 30s;
// How long a client that is leaving still waits for the Ack of an envelope it sent.
constexpr auto leaving_ack_wait = 5s;

// now + timeout, or the end of time for a timeout too long to add (no
// deadline: milliseconds::max() would overflow the clock's nanoseconds).
std::chrono::steady_clock::time_point deadline_in(std::chrono::milliseconds timeout) {
    using clock = std::chrono::steady_clock;
    const auto now = clock::now();
    if (timeout >= std::chrono::duration_cast<std::chrono::milliseconds>(clock::time_point::max() - now))
        return clock::time_point::max();
    return now + timeout;
}

}  // namespace

using detail::now_ms;

RoomClient::RoomClient(Member member, std::string room_name, const wire::RoomId& room,
                       std::vector<net::Endpoint> relays, net::Client::Options options)
    : member_(member),
      room_name_(std::move(room_name)),
      room_(room),
      relays_(std::move(relays)),
      options_(std::move(options)) {
    if (relays_.empty()) throw std::invalid_argument("RoomClient: no relay");
    session_ = crypto::random_array<wire::session_id_bytes>();
    member_.store->add_own_session(session_);
}

RoomClient::~RoomClient() {
    // Close and join the connection's thread while the event queue still exists;
    // a push of its that waits for queue space is let go first.
    events_.close();
    net_.reset();
}

std::string RoomClient::display_name(const crypto::PublicKey& key) const {
    return member_.keyring->display_name(key);
}

// To the relay that last worked; if it cannot be reached, to each of the
// others in turn (relays sharing one database number every chain alike, so
// the position this client resumes from means the same on any of them).
void RoomClient::connect() {
    std::string first_error;
    bool all_permanent = true;
    for (std::size_t tried = 0; tried < relays_.size(); ++tried) {
        const std::size_t at = (relay_ + tried) % relays_.size();
        try {
            connect_to(relays_[at]);
            if (tried > 0)
                notice("using relay " + net::to_url(relays_[at]) + " (" + net::to_url(relays_[relay_]) +
                       ": " + first_error + ")");
            relay_ = at;
            return;
        } catch (const net::ConnectError& e) {
            all_permanent = all_permanent && e.permanent();
            if (first_error.empty()) first_error = e.what();
        } catch (const std::exception& e) {
            all_permanent = false;
            if (first_error.empty()) first_error = e.what();
        }
    }
    connect_failed_for_good_ = all_permanent;
    throw UserError(relays_.size() == 1 ? first_error
                                        : first_error + " (and the " + std::to_string(relays_.size() - 1) +
                                              " other relay(s) given cannot be reached either)",
                    "check --server, that the relay runs, and --ca for a self-signed certificate");
}

bool RoomClient::leave_failing_relay(const UserError& e) {
    const auto* refused = dynamic_cast<const RelayRefused*>(&e);
    if (!refused || refused->code() != wire::RelayError::internal || relays_.size() < 2) return false;
    const auto failing = relay_;
    relay_ = (relay_ + 1) % relays_.size();
    notice("relay " + net::to_url(relays_[failing]) + " cannot serve the room now (" + e.what() + "); trying relay " +
           net::to_url(relays_[relay_]));
    return true;
}

void RoomClient::connect_to(const net::Endpoint& relay) {
    const auto gen = ++generation_;
    // The old connection's frames are dropped from here on, so its io thread
    // never waits for queue space while we join it (replacing net_).
    events_.drop_generations_before(gen);
    if (net_) net_->close();
    net_ = std::make_unique<net::Client>(relay, options_);
    connect_failed_for_good_ = false;
    net_->connect(
        [this, gen](std::vector<std::uint8_t> frame) { events_.push({Event::Kind::frame, std::move(frame), {}, gen}); },
        [this, gen](std::string reason) { events_.push({Event::Kind::closed, {}, std::move(reason), gen}); });
    closed_ = false;
    joined_ = false;
}

void RoomClient::reconnect() {
    using clock = std::chrono::steady_clock;
    const auto give_up = reconnect_limit_ == std::chrono::seconds::max() ? clock::time_point::max()
                                                                           : clock::now() + reconnect_limit_;
    auto backoff = 250ms;
    notice("connection to the relay lost (" + close_reason_ + "); reconnecting");
    for (;;) {
        // Wait, but keep handling what the user types meanwhile; leaving
        // gives up (closed_ stays set: nothing is joined).
        pump_until([] { return false; }, backoff);
        if (interrupted_) return;
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, 10s);
        try {
            connect();
            refresh_chain();
            join();
            notice("reconnected; resumed after message " + std::to_string(last_seq_));
            return;
        } catch (const UserError& e) {
            if (removed_ || blocked_ || connect_failed_for_good_) throw;
            leave_failing_relay(e);
            if (interrupted_) return;
            if (clock::now() >= give_up) throw UserError(std::string("cannot reconnect to the relay: ") + e.what());
        }
    }
}

void RoomClient::maintain() {
    if (interrupted_) return;  // leaving: the top level handles the input that said so
    if (closed_ && reconnect_) reconnect();
    if (!closed_ && !joined_ && chain_ && !removed_ && !blocked_) join();
    if (reader() && joined_ && !closed_) check_gaps();
    if (reader()) settle_counter_gaps(false);
    if (connected() && !removed_ && !blocked_) send_key_update_if_due();
    if (reader() && connected() && !removed_ && !blocked_) rotate_if_due();
    if (sent_since_sync_ && sync_interval_ && connected() && std::chrono::steady_clock::now() >= sync_due_) {
        // Still here: what this device sent since its last sync shows as
        // missing to any reader the relay withheld it from (§5.1).
        try {
            send_sync(protocol::SyncReason::still_here);
        } catch (const UserError&) {
            sync_due_ = std::chrono::steady_clock::now() + *sync_interval_;  // the connection's trouble shows elsewhere
        }
    }
}

bool RoomClient::run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto deadline = deadline_in(timeout);
    bool finished = true;
    while (!done()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left <= 0ms) {
            finished = false;
            break;
        }
        maintain();
        pump_once(std::min<std::chrono::milliseconds>(left, 200ms));
    }
    if (reader()) settle_counter_gaps(true);  // leaving: what is settled is said now
    return finished;
}

void RoomClient::refresh_chain() {
    auto pin = member_.store->load_pin(room_);
    if (!pin) throw UserError("internal: room " + room_name_ + " has no pinned genesis");
    adopt_chain(fetch_chain(pin->genesis));
}

void RoomClient::send_frame(const wire::Frame& frame) { net_->send(wire::encode_frame(frame)); }

void RoomClient::pump_once(std::chrono::milliseconds wait) {
    if (depth_ == 0 && !deferred_input_.empty()) {
        Event e = std::move(deferred_input_.front());
        deferred_input_.pop_front();
        if (on_input_) on_input_(e);
        return;
    }
    auto event = events_.pop(wait);
    if (!event) return;
    switch (event->kind) {
        case Event::Kind::frame:
            if (event->generation != generation_) break;  // from a connection we left
            try {
                handle_frame(event->frame);
            } catch (const std::exception& e) {
                // Nothing a relay sends may escape the event loop.
                block(std::string("cannot process a frame from the relay: ") + e.what());
            }
            break;
        case Event::Kind::closed:
            if (event->generation != generation_) break;
            closed_ = true;
            joined_ = false;
            close_reason_ = event->text;
            break;
        case Event::Kind::input_line:
        case Event::Kind::input_paste:
        case Event::Kind::input_eof:
            // Input typed while we wait for the relay is handled afterwards, at
            // the top level, never inside another command; but leaving stops
            // the wait (pump_until returns, a reconnect gives up).
            if (depth_ > 0) {
                const auto early = early_input_ ? early_input_(*event) : EarlyInput::wait;
                if (early == EarlyInput::leave) interrupted_ = true;
                if (early != EarlyInput::taken) deferred_input_.push_back(std::move(*event));
            } else if (on_input_) {
                on_input_(*event);
            }
            break;
    }
}

bool RoomClient::pump_until(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                            bool even_when_leaving) {
    const auto deadline = deadline_in(timeout);
    ++depth_;
    struct Leave {
        int& depth;
        ~Leave() { --depth; }
    } leave{depth_};
    while (!done()) {
        if (interrupted_ && !even_when_leaving) return false;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left <= 0ms) return false;
        pump_once(std::min<std::chrono::milliseconds>(left, 200ms));
    }
    return true;
}

void RoomClient::handle_frame(const Bytes& bytes) {
    auto decoded = wire::decode_frame(bytes);
    if (!decoded.frame) {
        notice("warning: the relay sent a frame that does not decode; ignored");
        return;
    }
    std::visit(
        [this](auto&& f) {
            using T = std::decay_t<decltype(f)>;
            if constexpr (std::is_same_v<T, wire::Deliver>) {
                handle_deliver(f);
            } else if constexpr (std::is_same_v<T, wire::NewHead>) {
                handle_new_head(f);
            } else if constexpr (std::is_same_v<T, wire::Chain> || std::is_same_v<T, wire::Published> ||
                                 std::is_same_v<T, wire::Joined> || std::is_same_v<T, wire::Ack> ||
                                 std::is_same_v<T, wire::Error>) {
                // Keep answers to requests we made; anything else is relay noise.
                if (outstanding_.erase(f.request_id) != 0) replies_.insert_or_assign(f.request_id, wire::Frame(f));
            } else {
                notice("warning: the relay sent a client-to-relay frame; ignored");
            }
        },
        std::move(*decoded.frame));
}

template <class T>
T RoomClient::await_reply(std::uint64_t request_id, const char* what) {
    bool got = pump_until([&] { return closed_ || replies_.count(request_id) != 0; }, reply_timeout);
    if (!got) throw UserError(std::string("the relay did not answer ") + what + " in time");
    auto it = replies_.find(request_id);
    if (it == replies_.end()) throw UserError("the relay closed the connection: " + close_reason_);
    wire::Frame frame = std::move(it->second);
    replies_.erase(it);
    if (auto* err = std::get_if<wire::Error>(&frame)) {
        throw RelayRefused(std::string("the relay refused ") + what + ": " + wire::to_string(err->code), err->code);
    }
    if (auto* reply = std::get_if<T>(&frame)) return *reply;
    throw UserError(std::string("the relay answered ") + what + " with the wrong frame");
}

// await_reply is used from room_epochs.cpp too.
template wire::Published RoomClient::await_reply<wire::Published>(std::uint64_t, const char*);
template wire::Joined RoomClient::await_reply<wire::Joined>(std::uint64_t, const char*);
template wire::Chain RoomClient::await_reply<wire::Chain>(std::uint64_t, const char*);
template wire::Ack RoomClient::await_reply<wire::Ack>(std::uint64_t, const char*);

std::vector<Bytes> RoomClient::fetch_chain(const wire::Hash& genesis) {
    // What a relay may store for one room (--max-room-bytes at most 2^50 is
    // the operator's choice; this is the client's own bound).
    constexpr std::size_t max_chain_bytes = std::size_t{1} << 30;
    std::vector<Bytes> records;
    std::size_t bytes = 0;
    wire::Hash after{};
    for (;;) {
        auto id = next_request_id();
        send_frame(wire::GetChain{id, room_, genesis, after});
        wire::Chain page;
        try {
            page = await_reply<wire::Chain>(id, "the request for the room's epoch chain");
        } catch (const RelayRefused& e) {
            if (e.code() != wire::RelayError::unknown_chain) throw;
            throw UserError("the relay does not have room " + room_name_ + " (genesis " +
                                to_hex(genesis).substr(0, 16) + ")",
                            "check --server; the relay may have lost its data or be serving someone else's "
                            "rooms. Nothing was sent");
        }
        if (page.room != room_ || page.genesis != genesis)
            throw UserError("the relay answered with the epoch chain of another room");
        for (auto& record : page.records) {
            bytes += record.size();
            if (records.size() >= wire::max_records_per_chain || bytes > max_chain_bytes)
                throw UserError("the relay serves an epoch chain longer than any relay keeps");
            auto decoded = wire::decode_record(record);
            if (!decoded.record)
                throw UserError(std::string("the relay sent an epoch record that does not decode (") +
                                wire::to_string(decoded.error) + ")");
            // Each record follows the one before as it arrives (verify_chain
            // checks the rest once all are here), so a relay cannot fill memory
            // with copies of one record.
            if (decoded.record->epoch != records.size() || decoded.record->previous != after ||
                !wire::verify_record_signature(*decoded.record))
                throw UserError("the relay serves an invalid epoch chain for room " + room_name_ + ": record " +
                                    std::to_string(records.size()) +
                                    " does not follow the one before, or its signature does not verify",
                                "nothing was sent; the relay is broken or hostile");
            after = wire::record_hash(*decoded.record);
            records.push_back(std::move(record));
        }
        if (page.complete) return records;
        if (page.records.empty()) throw UserError("the relay sent an empty page of the room's epoch chain");
    }
}

void RoomClient::open(std::chrono::seconds retry) {
    // Where this device's reading stopped (not the pin: a process that only
    // sends or rekeys moves the pin without reading).
    const auto position = member_.store->stream_position(room_);
    last_seq_ = position.seq;
    last_digest_ = position.digest;
    stream_start_epoch_ = position.epoch;
    gaps_ = protocol::StreamGaps(member_.store->stream_gaps(room_));
    // A relay that cannot be reached (refused, TLS, a restart in progress) or
    // that drops the connection while the chain is on its way is tried again
    // with backoff for `retry`; anything it answers is final.
    using clock = std::chrono::steady_clock;
    const auto give_up = clock::now() + retry;
    auto backoff = 250ms;
    for (bool first = true;; first = false) {
        bool connected = false;
        try {
            connect();
            connected = true;
            refresh_chain();
            return;
        } catch (const UserError& e) {
            const bool answered = connected && !closed_;
            const bool left = answered && leave_failing_relay(e);  // said so
            if ((answered && !left) || connect_failed_for_good_ || removed_ || blocked_ || interrupted_) throw;
            if (clock::now() + backoff >= give_up) throw;
            if (first && !left)
                notice(std::string("cannot reach the relay (") + e.what() + "); trying again for up to " +
                       std::to_string(retry.count()) + " s");
            pump_until([] { return false; }, backoff);
            if (interrupted_) throw;
            backoff = std::min<std::chrono::milliseconds>(backoff * 2, 5s);
        }
    }
}

void RoomClient::join() {
    for (int attempt = 0; attempt < 4; ++attempt) {
        joined_ = false;
        // What another process of ours may have learnt meanwhile (a rebase).
        const auto stored = member_.store->rebase(room_);
        history_offset_ = stored.history_shift;
        reread_until_ = stored.reread_until;
        // A process that only sends wants no backlog. A reader asks for the
        // item it handled last once more, to compare it (relay_went_back).
        // And from before the first hole the relay left, to get it again.
        const bool verify = verify_ && reader() && last_seq_ > 0 && last_digest_ != wire::Hash{};
        std::uint64_t after = verify ? last_seq_ - 1 : last_seq_;
        if (const auto hole = gaps_.first()) after = std::min(after, *hole - 1);
        if (!reader()) after = std::numeric_limits<std::uint64_t>::max();
        verify_at_.reset();
        if (verify) verify_at_ = Verify{last_seq_, last_digest_};
        auto id = next_request_id();
        send_frame(wire::Join{id, room_, chain_->genesis_hash(), epochs_.at(chain_->head().epoch).token, after});
        std::optional<wire::Joined> joined;
        try {
            joined = await_reply<wire::Joined>(id, "the join");
        } catch (const RelayRefused& e) {
            // Another member moved the room to a new epoch since we fetched it.
            if (e.code() != wire::RelayError::forbidden || attempt == 3) throw;
        }
        if (joined && (joined->first_seq == 0 || joined->first_seq > joined->last_seq + 1))
            throw UserError("the relay answered the join with an impossible range (first " +
                                std::to_string(joined->first_seq) + ", last " + std::to_string(joined->last_seq) + ")",
                            "nothing was read; the relay is broken or hostile");
        const std::uint64_t known = known_seq();
        if (joined && joined->last_seq < known) {
            rebase(known, joined->first_seq, joined->last_seq);
            // A fresh connection: nothing the old one queued (live items) is
            // handled before the backlog from the new position.
            if (reader()) connect();
            continue;
        }
        if (joined && joined->head_epoch == chain_->head().epoch && joined->head_hash == chain_->head_hash()) {
            joined_ = true;
            backlog_last_seq_ = joined->last_seq;
            backlog_first_seq_ = joined->first_seq;
            if (verify_at_ && joined->first_seq > verify_at_->seq) verify_at_.reset();  // expired: cannot compare
            bool expired = false;
            if (reader() && joined->first_seq > last_seq_ + 1) {
                notice("messages " + std::to_string(last_seq_ + 1) + " to " + std::to_string(joined->first_seq - 1) +
                       " expired on the relay before this device fetched them");
                expired = true;
            }
            if (reader()) {
                const auto before = gaps_.ranges();
                for (const auto& hole : gaps_.expire_below(joined->first_seq)) {
                    notice("messages " + std::to_string(hole.first) + " to " + std::to_string(hole.last) +
                           ", which the relay skipped, expired on it before it sent them again");
                    expired = true;
                }
                if (expired) {
                    // Senders' first counters in these epochs may be among them (§7 step 9).
                    member_.store->note_expired(room_, joined->head_epoch);
                    if (receiver_) receiver_->set_expired_through(member_.store->expired_through_epoch(room_));
                }
                save_gaps_if_changed(before);
                gaps_.request_all();
                last_progress_ = std::chrono::steady_clock::now();
            }
            return;
        }
        // Fetch and verify the chain again, then join with the new head.
        refresh_chain();
        if (removed_ || blocked_) throw UserError("cannot join room " + room_name_, "", removed_ ? 5 : 6);
    }
    throw UserError("the relay keeps reporting a head that differs from the chain it serves");
}

void RoomClient::send_text(std::string_view text) {
    if (text.size() > wire::max_plaintext_bytes)
        throw UserError("message too long (" + std::to_string(text.size()) + " bytes, at most " +
                        std::to_string(wire::max_plaintext_bytes) + ")");
    send_key_update_if_due();
    send_envelope(wire::EnvelopeType::text, text, 30s);
    if (!sent_since_sync_ && sync_interval_) sync_due_ = std::chrono::steady_clock::now() + *sync_interval_;
    sent_since_sync_ = true;
}

void RoomClient::send_sync(protocol::SyncReason reason, std::chrono::milliseconds wait) {
    send_envelope(wire::EnvelopeType::sync, protocol::encode_sync({reason}), wait);
    sent_since_sync_ = false;
}

wire::Hash RoomClient::send_envelope(wire::EnvelopeType type, std::string_view plaintext, std::chrono::milliseconds wait) {
    // What goes out, in order: one envelope, or in an epoch of version 2 the
    // device's first-of-epoch sync before it (RoomDevice::seal). Each is
    // acknowledged before the next goes.
    std::deque<Bytes> batch;
    // What went out on a connection that dropped before the Ack (one
    // envelope, or more if the epoch moved on meanwhile and the message was
    // sealed again): the stream resumed on the next connection (its backlog,
    // from join() on) may bring them back, and handle_deliver then knows them
    // as ours. Unset however send_text ends.
    std::vector<Bytes> unacknowledged;
    struct Unacknowledged {
        const std::vector<Bytes>*& slot;
        ~Unacknowledged() { slot = nullptr; }
    } unset_on_return{unacknowledged_};
    unacknowledged_ = &unacknowledged;
    // Version 2: the batch's positions from `from` on never reached the relay.
    const auto mark_unsent = [&](std::size_t from) {
        for (std::size_t i = from; device_ && i < batch.size(); ++i) {
            const auto h = wire::decode_envelope(batch[i]).envelope->header;
            if (h.version == 2) device_->mark_unsent(h.record_hash, h.counter);
        }
    };
    std::uint64_t epoch = 0, timestamp = 0;
    bool sealed = false;
    bool sent_before = false;  // these bytes went out on a connection that dropped before the Ack
    for (int attempt = 0; attempt < 20; ++attempt) {
        if (closed_) {
            if (!reconnect_) throw UserError("the relay closed the connection: " + close_reason_);
            reconnect();
            if (closed_) throw UserError("not connected to the relay (leaving)");
        }
        if (removed_) throw UserError("you were removed from room " + room_name_ + "; message not sent", "", 5);
        if (blocked_) throw UserError(*blocked_ + "; message not sent", "", 6);
        if (!joined_) {
            try {
                join();
            } catch (const UserError&) {
                if (!closed_ || !reconnect_ || removed_ || blocked_) throw;
                continue;  // the connection dropped during the join: reconnect above
            }
        }
        const auto& head = chain_->head();
        if (!sealed || epoch != head.epoch) {
            // Seal under the current head. After a reconnect the same bytes are
            // sent again, so a message the relay did keep is a duplicate that
            // receivers drop by its counter.
            // The epoch moved on across a reconnect: what never went out of the
            // old batch is not withheld (the front may have: the relay may hold
            // it, or not, and says nothing).
            if (sealed) mark_unsent(sent_before ? 1 : 0);
            epoch = head.epoch;
            timestamp = now_ms();
            batch.clear();
            if (head.version == wire::record_version_1) {
                protocol::SenderContext ctx{member_.identity, crypto::key_id(member_.identity->public_key), room_,
                                            head.epoch, chain_->head_hash(), session_,
                                            epochs_.at(head.epoch).message_key.get()};
                // Shared with our other processes, and recorded before it leaves: they must know it as ours.
                const auto counter = member_.store->take_counter(session_, chain_->head_hash());
                batch.push_back(protocol::seal_message(ctx, counter, timestamp,
                                                       crypto::random_array<wire::nonce_bytes>(), plaintext, type));
            } else {
                // Positions of the device's chain, taken in the state file (§10.2).
                for (auto& envelope : device_->seal(plaintext, timestamp, type)) batch.push_back(std::move(envelope));
            }
            sealed = true;
            sent_before = false;
        }
        const Bytes& envelope = batch.front();
        auto id = next_request_id();
        // Sent again as a Resend: if the relay stored it before the connection
        // dropped, it acknowledges that copy instead of storing a second one,
        // which the other members would see as a replay.
        send_frame(wire::Send{id, room_, chain_->genesis_hash(), envelope, sent_before});
        sent_before = true;
        const auto got_reply = [&] { return closed_ || replies_.count(id) != 0; };
        bool answered = pump_until(got_reply, wait);
        if (!answered && interrupted_) {
            // Leaving (/quit, Ctrl-D) while the relay has the envelope and its Ack
            // is on its way: a few seconds more for it, or a message that was sent
            // would be reported as not sent.
            answered = pump_until(got_reply, leaving_ack_wait, true);
        }
        if (!answered) throw UserError("the relay did not acknowledge the message in time");
        if (closed_) {  // resend after reconnecting
            if (unacknowledged.empty() || unacknowledged.back() != envelope)
                unacknowledged.push_back(envelope);
            continue;
        }
        try {
            auto ack = await_reply<wire::Ack>(id, "the message");
            const auto header = wire::decode_envelope(envelope).envelope->header;
            std::optional<std::string_view> text;  // a sync (and a key-update) goes in no history
            if (header.type == wire::EnvelopeType::text) text = plaintext;
            store_own_message(ack.seq, epoch, header.counter, timestamp, text, envelope);
            note_epoch_activity(header.record_hash, header.timestamp_ms);
            batch.pop_front();
            sent_before = false;
            if (batch.empty()) return header.record_hash;
            --attempt;  // the next envelope of the batch is no new attempt
        } catch (const RelayRefused& e) {
            if (e.code() != wire::RelayError::not_joined) throw;
            // The epoch moved on: the relay did not keep it. Handle the queued
            // NewHead, then seal again under the new epoch. In version 2 the
            // positions it and the rest of the batch took are not withheld, and
            // the next first-of-epoch sync does not count them (§10.4).
            mark_unsent(0);
            joined_ = false;
            sealed = false;
            pump_until([] { return false; }, 200ms);
        }
    }
    throw UserError("the relay kept refusing the message");
}

}  // namespace parley::client
