// RoomClient, part three: the reading position in the relay's stream. What
// arrives (Deliver) and what we sent (Ack) move it on; holes in the relay's
// numbering are asked for again, then warned about; a relay whose log went
// back is noticed by count and by content, and read again. docs/PROTOCOL.md
// §6.2 ("Gaps", "The relay's numbering goes back"), §7.
#include <algorithm>
#include <chrono>

#include "room_client.h"
#include "user_error.h"

namespace parley::client {

namespace {

using namespace std::chrono_literals;
// A reader that got nothing for this long while the relay still owes it items
// (announced by Joined, or holes asked for again) takes them as skipped (§6.2).
constexpr auto stall_time = 5s;

}  // namespace

void RoomClient::check_gaps() {
    const auto now = std::chrono::steady_clock::now();
    const bool owed = last_seq_ < backlog_last_seq_ || gaps_.waiting();
    if (owed && now - last_progress_ >= stall_time) {
        // Nothing came for a while: the relay went past what it owes. What its
        // Joined announced and it never sent becomes a hole, like any other.
        const auto past = std::max(last_seq_, backlog_last_seq_);
        take_place(past + 1);
        if (past > last_seq_) {
            member_.store->save_stream_position(room_, {past, receiver_ ? receiver_->head_epoch() : 0, {}});
            last_seq_ = past;
            last_digest_ = {};
        }
        last_progress_ = now;
    }
    // Ask again once the stream caught up (one Join asks for every hole, and a
    // backlog still on its way would be sent twice), on a fresh connection:
    // nothing queued on the old one is handled before the answer.
    if (!gaps_.need_ask() || last_seq_ < backlog_last_seq_) return;
    const auto& holes = gaps_.ranges();
    const auto& hole = holes.front();
    std::string which = hole.first == hole.last ? "message " + std::to_string(hole.first)
                                                : "messages " + std::to_string(hole.first) + " to " + std::to_string(hole.last);
    if (holes.size() > 1) which += " and " + std::to_string(holes.size() - 1) + " more gap(s)";
    notice("the relay skipped " + which + "; asking for them again");
    try {
        connect();
        join();
    } catch (const UserError& e) {
        if (!reconnect_ || removed_ || blocked_) throw;
        closed_ = true;  // maintain() reconnects; that Join asks too
        joined_ = false;
        close_reason_ = e.what();
    }
}

void RoomClient::rebase(std::uint64_t known, std::uint64_t first_seq, std::uint64_t last_seq) {
    // The relay numbers differently from what this device saw: its log went
    // back (restored from a backup, or a hostile relay). Say so and read
    // everything it still holds again, by its numbers: what it stored since is
    // new, and what this device saw already is a replay (or of a stale epoch),
    // dropped quietly up to what the relay holds now. History rows are
    // numbered on past the old ones. Kept in the state, so whichever process
    // of ours meets it first (a reader or one that only sends), the others agree.
    notice("warning: the relay's log is behind this device: it ends at message " + std::to_string(last_seq) +
           ", and this device had seen up to " + std::to_string(known) +
           " (restored from a backup?); reading again what it holds, nothing is shown twice");
    const std::uint64_t restart = first_seq - 1;
    history_offset_ += known > restart ? known - restart : 0;
    reread_until_ = std::max(reread_until_, last_seq);
    member_.store->rebase_stream(room_, {restart, receiver_ ? receiver_->head_epoch() : 0, {}},
                                 {history_offset_, reread_until_});
    last_seq_ = restart;
    last_digest_ = {};
    gaps_.clear();  // (and in the store) everything is read again
    verify_at_.reset();
    own_stored_.clear();
}

bool RoomClient::relay_went_back(std::uint64_t seq, ByteView payload) {
    if (!verify_at_ || seq != verify_at_->seq) return false;
    const auto expected = verify_at_->digest;
    verify_at_.reset();
    if (crypto::blake2b(payload) == expected) return false;
    // Another item under the number this device read last: the relay's log
    // went back and has numbered past us since. Start again from what it holds.
    rebase(known_seq(), backlog_first_seq_, backlog_last_seq_);
    verify_ = false;
    closed_ = true;  // as a dropped connection: maintain() (or a send waiting) reconnects and joins
    joined_ = false;
    close_reason_ = "the relay's log went back; reading it again";
    events_.drop_generations_before(++generation_);
    if (net_) net_->close();
    return true;
}

// The highest relay number this device knows: what it read, or what its own
// sends were given (in history; a process that only sends keeps no reading
// position).
bool RoomClient::take_place(std::uint64_t seq) {
    last_progress_ = std::chrono::steady_clock::now();
    if (gaps_.empty() && seq == last_seq_ + 1) return true;  // the usual case: nothing to do
    const auto before = gaps_.ranges();
    const auto given_up = gaps_.passed(seq);
    bool take = true;
    if (seq <= last_seq_) {
        take = gaps_.contains(seq);  // filled by advance_position
    } else if (seq > last_seq_ + 1) {
        // The relay sends in order and without holes: what lies between was
        // skipped (our own messages it numbered meanwhile are in history).
        auto trimmed = gaps_.add(last_seq_ + 1, seq - 1);
        for (auto it = own_stored_.upper_bound(last_seq_); it != own_stored_.end() && it->first < seq; ++it)
            gaps_.fill(it->first);
        report_missing(trimmed, "too many gaps to keep asking for");
    }
    save_gaps_if_changed(before);
    report_missing(given_up, "though asked for again: withheld or lost");
    return take;
}

void RoomClient::save_gaps_if_changed(const std::vector<protocol::GapRange>& before) {
    if (gaps_.ranges() != before) member_.store->save_stream_gaps(room_, gaps_.ranges());
}

void RoomClient::report_missing(const std::vector<protocol::GapRange>& ranges, const std::string& why) {
    for (const auto& hole : ranges) {
        Incoming in;
        in.seq = hole.first;
        in.missing_last = hole.last;
        in.delivery.reason = "the relay did not deliver " +
                             (hole.first == hole.last ? "message " + std::to_string(hole.first)
                                                      : "messages " + std::to_string(hole.first) + " to " +
                                                            std::to_string(hole.last)) +
                             ", " + why;
        if (on_delivery_) on_delivery_(in);
    }
}

void RoomClient::hold_counter_gap(Incoming& in) {
    auto& d = in.delivery;
    const protocol::SenderKey key{room_, d.header.record_hash, d.header.sender};
    const auto counter = d.header.counter;
    for (auto& gap : counter_gaps_) {
        if (gap.key != key) continue;
        for (auto it = gap.missing.begin(); it != gap.missing.end(); ++it) {
            auto [first, last] = *it;
            if (counter < first || counter > last) continue;
            it = gap.missing.erase(it);
            if (counter < last) it = gap.missing.insert(it, {counter + 1, last});
            if (counter > first) gap.missing.insert(it, {first, counter - 1});
            break;
        }
    }
    std::erase_if(counter_gaps_, [](const CounterGap& g) { return g.missing.empty(); });
    if (d.missing_before == 0) return;
    counter_gaps_.push_back({key, *d.sender, in.seq, d.sync.has_value(),
                             {{counter - d.missing_before, counter - 1}}, std::chrono::steady_clock::now()});
    d.missing_before = 0;
    if (counter_gaps_.size() > max_counter_gaps) counter_gaps_.front().seen = {};  // bounded: the oldest goes out now
}

void RoomClient::settle_counter_gaps(bool now) {
    if (counter_gaps_.empty() || !gaps_.ranges().empty() || last_seq_ < backlog_last_seq_) return;
    const auto t = std::chrono::steady_clock::now();
    auto it = counter_gaps_.begin();
    while (it != counter_gaps_.end()) {
        if (!now && t - it->seen < counter_gap_grace) {
            ++it;
            continue;
        }
        Incoming in;
        in.seq = it->seq;
        in.gap_only = true;
        in.delivery.accepted = true;
        in.delivery.sender = it->sender;
        if (it->by_sync) in.delivery.sync = protocol::SyncNote{};
        for (const auto& [first, last] : it->missing) in.delivery.missing_before += last - first + 1;
        it = counter_gaps_.erase(it);
        if (on_delivery_) on_delivery_(in);
    }
}

std::uint64_t RoomClient::known_seq() {
    const std::uint64_t last_history = member_.store->last_history_seq(room_);
    return std::max(last_seq_, last_history > history_offset_ ? last_history - history_offset_ : 0);
}

void RoomClient::advance_position(std::uint64_t seq, ByteView payload, bool genuine) {
    if (seq <= last_seq_) {
        // An item a hole waited for: the position stays where it is.
        if (gaps_.fill(seq)) member_.store->save_stream_gaps(room_, gaps_.ranges());
        return;
    }
    const auto digest = genuine ? crypto::blake2b(payload) : wire::Hash{};
    member_.store->save_stream_position(room_, {seq, receiver_ ? receiver_->head_epoch() : 0, digest});
    last_seq_ = seq;
    last_digest_ = digest;
}

void RoomClient::store_own_message(std::uint64_t seq, std::uint64_t epoch, std::uint64_t counter,
                                   std::uint64_t time_ms, std::optional<std::string_view> text,
                                   const Bytes& envelope) {
    store::StateStore::Transaction tx(*member_.store);
    if (text) {
        store::HistoryEntry e{seq + history_offset_, member_.identity->public_key, epoch, counter, time_ms, true,
                              std::string(*text)};
        member_.store->add_history(room_, e.seq, history_->seal(room_, e));
    }
    // The relay never sends our own message back on this connection: it
    // answers the Ack in its place, in sequence order. So when every number
    // before this one was handled, this one is too, and the stream moves past
    // it (a restart does not fetch it again). Otherwise (we are still catching
    // up) the backlog will bring it: remember it as ours.
    // Caught up, an Ack past the next number means the relay skipped what is
    // between (it sends in order, and the Ack in place of our own Deliver).
    const bool caught_up = reader() && receiver_ && joined_ && last_seq_ >= backlog_last_seq_;
    const bool next_in_stream = reader() && receiver_ && (seq == last_seq_ + 1 || (caught_up && seq > last_seq_ && take_place(seq)));
    if (next_in_stream) advance_position(seq, envelope);
    tx.commit();
    if (next_in_stream) {
        forget_own_messages_up_to(seq);
    } else if (reader() && seq > last_seq_) {
        own_stored_.emplace(seq, envelope);
        // Bounded whatever numbers the relay's Acks carry: the oldest goes
        // (a catch-up is paged, so ours come back long before this fills).
        if (own_stored_.size() > max_own_stored) own_stored_.erase(own_stored_.begin());
    }
}

void RoomClient::forget_own_messages_up_to(std::uint64_t seq) {
    own_stored_.erase(own_stored_.begin(), own_stored_.upper_bound(seq));
}

bool RoomClient::is_own_stored_message(const wire::Deliver& f) const {
    // The message whose Ack a dropped connection lost, in the backlog of the
    // connection after it (not live: the relay never sends our own message
    // live to us, and a reflection before the Ack is still one).
    if (unacknowledged_ && f.seq <= backlog_last_seq_ &&
        std::find(unacknowledged_->begin(), unacknowledged_->end(), f.envelope) !=
            unacknowledged_->end())
        return true;
    auto it = own_stored_.find(f.seq);
    return it != own_stored_.end() && it->second == f.envelope;
}

void RoomClient::handle_deliver(const wire::Deliver& f) {
    // A process that only sends leaves replay state to the one that reads.
    if (!reader()) return;
    Incoming in;
    in.seq = f.seq;
    if (f.room != room_ || !chain_ || f.genesis != chain_->genesis_hash() || !receiver_) {
        in.delivery.reason = "delivery for another room or chain";
        on_delivery_(in);
        return;
    }
    if (relay_went_back(f.seq, f.envelope)) return;
    if (!take_place(f.seq)) return;  // already handled (a resumed stream overlaps)
    if (is_own_stored_message(f)) {
        // What this process sent, back in a stream resumed after a reconnect:
        // ours and in history (with its Ack), not a reflection. Moves the
        // stream on; shown nowhere.
        advance_position(f.seq, f.envelope);
        forget_own_messages_up_to(f.seq);
        return;
    }
    // The replay window, the history row and the stream position move together.
    store::StateStore::Transaction tx(*member_.store);
    if (!f.envelope.empty() && f.envelope.front() == 2) {  // the envelope's version (§10.4)
        receive_v2(in, f.envelope);
    } else {
        in.delivery = receiver_->receive(f.envelope);
        const auto epoch = in.delivery.header.epoch;
        if (in.delivery.ignored && epoch < chain_->records.size() &&
            chain_->records[epoch].version != wire::record_version_1) {
            in.delivery.ignored = false;  // not from before we were a member: in an epoch of devices
            in.delivery.reason = "a version 1 envelope in an epoch of protocol version 2";
        }
    }
    if (in.delivery.accepted && !in.delivery.own) hold_counter_gap(in);
    const auto& d = in.delivery;
    if (d.accepted && !d.ignored && d.header.type == wire::EnvelopeType::text) {
        store::HistoryEntry e{f.seq + history_offset_, *d.sender,     d.header.epoch, d.header.counter,
                              d.header.timestamp_ms,     d.own,       d.text};
        member_.store->add_history(room_, e.seq, history_->seal(room_, e));
    }
    advance_position(f.seq, f.envelope, d.accepted);
    // Shown before the position is committed: a reader that dies while it
    // writes the line (listen | head) gets the message again next time,
    // rather than never (an exception from the handler rolls it back too).
    const bool seen_before_the_relay_went_back = !d.accepted && (d.replay || d.stale) && f.seq <= reread_until_;
    if (!d.ignored && !seen_before_the_relay_went_back) on_delivery_(in);
    tx.commit();
    forget_own_messages_up_to(f.seq);
}

void RoomClient::receive_v2(Incoming& in, ByteView envelope) {
    if (!device_) {
        in.delivery.reason = "a version 2 envelope in a room of protocol version 1";
        return;
    }
    auto d = device_->receive(envelope);
    if (d.accepted && d.own && d.header.session == session_) {
        // This very process sealed it, and it did not come back in a stream
        // resumed after a reconnect (is_own_stored_message): the relay reflected it.
        d.accepted = false;
        d.own = false;
        d.ignored = false;
        d.reason = "our own message reflected back by the relay";
    }
    if (d.accepted) note_epoch_activity(d.header.record_hash, d.header.timestamp_ms);
    if (d.accepted && !d.own && d.missing_in_previous > 0 && d.sync) {
        // The tail of the sender's epoch before, which its first-of-epoch sync
        // names: held like any counter gap, in case it still comes (a hole).
        counter_gaps_.push_back({{room_, d.sync->previous_record, d.header.sender},
                                 *d.sender,
                                 in.seq,
                                 true,
                                 {{d.previous_front, d.previous_front + d.missing_in_previous - 1}},
                                 std::chrono::steady_clock::now()});
        if (counter_gaps_.size() > max_counter_gaps) counter_gaps_.front().seen = {};
    }
    // A key-update is for the next record this device may write (§10.3); nothing to show.
    if (d.accepted && d.key_update) {
        if (!d.own) device_->note_update(*d.key_update, d.header.epoch, *chain_);
        d.ignored = true;
    }
    in.delivery = std::move(d);
}

}  // namespace parley::client
