// RoomClient, part two: the room's epoch chain. Choosing and verifying a
// chain, creating a room, deriving each epoch's keys, following new epochs
// and writing them (rekey). docs/PROTOCOL.md §3, §4.
#include <algorithm>
#include <chrono>
#include <limits>
#include <set>

#include "room_client.h"
#include "user_error.h"

namespace parley::client {

namespace {

using namespace std::chrono_literals;

std::uint64_t now_ms() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

// A record over 64 KiB would not even decode at the relay: say so before sending.
void check_record_size(const Bytes& encoded, std::size_t members) {
    if (encoded.size() <= wire::max_record_bytes) return;
    throw UserError("too many members for one epoch record: " + std::to_string(members) + " members make a " +
                        std::to_string(encoded.size()) + "-byte record, over the 64 KiB limit",
                    "a room's first record holds at most " + std::to_string(wire::max_members_in_record) +
                        " members (each later one about 237, fewer when it changes the roster)");
}

// What every successor of the chain's head shares, in a record draft of either version.
template <class Draft>
Draft successor_draft(const protocol::VerifiedChain& chain) {
    const auto& head = chain.head();
    Draft draft;
    draft.room = head.room;
    draft.epoch = head.epoch + 1;
    draft.previous = chain.head_hash();
    draft.salt = head.salt;
    draft.kdf = head.kdf;
    draft.created_at_ms = now_ms();
    return draft;
}

bool contains(const std::vector<crypto::PublicKey>& roster, const crypto::PublicKey& k) {
    return std::binary_search(roster.begin(), roster.end(), k);
}

}  // namespace

// The client never chooses among chains: it follows the genesis it pinned
// (from its own create, or an invite) and accepts only extensions of the
// newest head it saw (docs/PROTOCOL.md §4).
void RoomClient::adopt_chain(const std::vector<Bytes>& encoded) {
    auto pin = member_.store->load_pin(room_);
    if (!pin) throw UserError("internal: room " + room_name_ + " has no pinned genesis");
    auto verified = protocol::verify_chain(encoded, room_);
    if (auto* why = std::get_if<std::string>(&verified))
        throw UserError("the relay serves an invalid epoch chain for room " + room_name_ + ": " + *why,
                        "nothing was sent; the relay is broken or hostile");
    auto& chain = std::get<protocol::VerifiedChain>(verified);
    switch (protocol::check_pin(chain, *pin)) {
        case protocol::PinVerdict::other_chain:
            throw UserError("the relay serves another genesis for room " + room_name_ + " than the pinned one",
                            "nothing was sent; compare the invite and the room code with the other members");
        case protocol::PinVerdict::rollback:
            throw UserError("rollback: the relay serves room " + room_name_ + " at epoch " +
                                std::to_string(chain.head().epoch) + ", older than the pinned epoch " +
                                std::to_string(pin->head_epoch),
                            "nothing was sent; the relay is stale or hostile");
        case protocol::PinVerdict::fork:
            throw UserError("fork: the relay serves a different record for pinned epoch " +
                                std::to_string(pin->head_epoch) + " of room " + room_name_,
                            "nothing was sent; compare room codes (/verify) with the other members");
        case protocol::PinVerdict::matches:
        case protocol::PinVerdict::extends: break;
    }
    chain_ = std::move(chain);
    adopt_head();
}

void RoomClient::create(int version) {
    connect();
    wire::EpochRecord probe;  // the chain's salt and KDF parameters, for the room secret
    probe.salt = crypto::random_array<wire::salt_bytes>();
    probe.kdf = wire::kdf_floor;
    const auto& secret = room_secret(probe);
    crypto::EpochSecret epoch_secret;
    crypto::random_bytes(epoch_secret.mutable_bytes());
    std::optional<wire::EpochRecord> record;
    if (version == 2) {
        record = write_genesis_v2(probe, epoch_secret);
    } else {
        protocol::RecordDraft draft;
        draft.room = room_;
        draft.salt = probe.salt;
        draft.kdf = probe.kdf;
        draft.created_at_ms = now_ms();
        draft.roster = member_.keyring->sorted_keys();
        for (const auto& k : draft.roster) draft.ops.push_back({wire::RosterOpKind::add, k});
        record = protocol::build_record(*member_.identity, draft, secret, epoch_secret);
        if (!record) throw UserError("a key in public_keys/ cannot receive sealed secrets (no X25519 form)");
    }
    auto encoded = wire::encode_record(*record);
    check_record_size(encoded, record->roster.size());
    auto id = next_request_id();
    send_frame(wire::Publish{id, room_, {}, encoded});
    try {
        (void)await_reply<wire::Published>(id, "the new room");
    } catch (const RelayRefused& e) {
        if (e.code() == wire::RelayError::not_founder)
            throw UserError("this relay lets only its listed founders create rooms",
                            "ask the relay's operator to add your public key (public_keys/" + member_.user +
                                ".pem) to its --founders file, or have a founder create the room");
        if (e.code() == wire::RelayError::quota)
            throw UserError("the relay refused to create the room: over its quota of new rooms (per key or "
                            "address, per hour) or of stored bytes",
                            "try again later, or ask the relay's operator");
        throw;
    }
    member_.store->save_pin(room_, {wire::record_hash(*record), 0, wire::record_hash(*record)});
    adopt_chain({encoded});
    std::string devices;
    if (version == 2) devices = " and " + std::to_string(record->devices.size()) + " devices (protocol version 2)";
    notice("created room " + room_name_ + " with " + std::to_string(record->roster.size()) + " members" + devices);
}

std::vector<protocol::v2::DeviceDraft> RoomClient::devices_by_card(const std::vector<crypto::PublicKey>& members,
                                                                    const protocol::v2::Device& me,
                                                                    const std::string& otherwise) const {
    std::vector<protocol::v2::DeviceDraft> devices;
    std::string without;
    for (const auto& key : members) {
        const auto* m = member_.keyring->by_key(key);
        for (const auto& card : m ? m->cards : std::vector<protocol::v2::DeviceCard>{}) {
            if (card.certificate.device == me.key.public_key) continue;  // its own folder's card, below
            devices.push_back({card.certificate, card.joining, wire::BoxKind::joiner_secret});
        }
        if ((!m || m->cards.empty()) && key != member_.identity->public_key)
            without += (without.empty() ? "" : ", ") + display_name(key);
    }
    if (!without.empty())
        throw UserError("no device card in public_keys/ for " + without +
                            ": a room of protocol version 2 brings members' devices in by their cards",
                        "each runs 'parley device add NAME' on their computer and copies the card it writes into "
                        "public_keys/ (as MEMBER.DEVICE.card)" + otherwise);
    // This device by its own folder's card: the one in public_keys/ may be older
    // than its `device card --new`, sealed to a joining key it erased.
    const auto card = protocol::v2::make_card(member_.device_folder, me, false);
    devices.push_back({card.certificate, card.joining, wire::BoxKind::joiner_secret});
    return devices;
}

protocol::v2::Device RoomClient::own_device_for(const std::string& what) const {
    auto me = protocol::v2::load_device(member_.device_folder, member_.identity->public_key);
    if (!me)
        throw UserError(what + " is written by a device, and " + member_.user + " has none in " +
                            member_.device_folder.string(),
                        "make one on this computer: parley device add NAME --user " + member_.user);
    return std::move(*me);
}

wire::EpochRecord RoomClient::write_genesis_v2(const wire::EpochRecord& probe, const crypto::EpochSecret& epoch_secret) {
    const auto me = own_device_for("a room of protocol version 2");
    protocol::v2::RecordDraft draft;
    draft.room = room_;
    draft.salt = probe.salt;
    draft.kdf = probe.kdf;
    draft.created_at_ms = now_ms();
    const auto members = member_.keyring->sorted_keys();
    draft.devices = devices_by_card(members, me, "; or create the room without --protocol 2");
    for (const auto& k : members) draft.ops.push_back({wire::RosterOpKind::add, k});
    const crypto::SymmetricKey no_init_secret;  // the first version-2 record (§10.2): all zero
    auto written = protocol::v2::build_record(me.key, std::move(draft), room_secret(probe), epoch_secret, no_init_secret);
    if (!written)
        throw UserError("a device card in public_keys/ holds a joining key that cannot receive sealed secrets, or a "
                        "member has more than " + std::to_string(wire::max_devices_per_member) + " devices");
    return std::move(written->record);
}

void RoomClient::upgrade(const std::vector<crypto::PublicKey>& without) {
    publish_successor("the upgrade", [&] {
        const auto& head = chain_->head();
        if (head.version != wire::record_version_1)
            throw UserError("room " + room_name_ + " is at protocol version 2 already (since epoch " +
                            std::to_string(std::find_if(chain_->records.begin(), chain_->records.end(),
                                                        [](const auto& r) { return r.version != 1; })->epoch) +
                            ")");
        // §10.7: a rekey with the same roster (less `without`), every device new (kind 2 boxes).
        const auto me = own_device_for("the upgrade to protocol version 2");
        auto draft = successor_draft<protocol::v2::RecordDraft>(*chain_);
        std::vector<crypto::PublicKey> members;
        for (const auto& k : head.roster) {
            if (std::find(without.begin(), without.end(), k) != without.end()) draft.ops.push_back({wire::RosterOpKind::remove, k});
            else members.push_back(k);
        }
        draft.devices = devices_by_card(members, me, "; or leave them out: parley upgrade --without NAME");
        crypto::EpochSecret epoch_secret;
        crypto::random_bytes(epoch_secret.mutable_bytes());
        const crypto::SymmetricKey no_init_secret;
        auto written = protocol::v2::build_record(me.key, std::move(draft), room_secret(head), epoch_secret, no_init_secret);
        if (!written)
            throw UserError("a device card in public_keys/ holds a joining key that cannot receive sealed secrets, or "
                            "a member has more than " + std::to_string(wire::max_devices_per_member) + " devices");
        auto encoded = wire::encode_record(written->record);
        check_record_size(encoded, written->record.roster.size());
        return encoded;
    });
}

const crypto::SymmetricKey& RoomClient::room_secret(const wire::EpochRecord& record) {
    // Salt and KDF parameters are fixed for a chain (check_successor), so one
    // Argon2id run per join is enough.
    if (!room_secret_) {
        if (!protocol::kdf_params_allowed(record.kdf))
            throw UserError("the room's KDF parameters are outside the allowed range");
        room_secret_ = protocol::derive_room_secret(*member_.password, record.salt, record.kdf);
        if (!room_secret_) throw UserError("cannot run Argon2id (not enough memory?)");
    }
    return *room_secret_;
}

std::optional<RoomClient::EpochState> RoomClient::derive_epoch(const wire::EpochRecord& record,
                                                               const wire::Hash& /*hash*/) {
    auto opened = protocol::open_epoch_secret(*member_.identity, record);
    if (auto* err = std::get_if<protocol::OpenError>(&opened)) {
        if (*err == protocol::OpenError::not_member) return std::nullopt;
        throw UserError(std::string(protocol::to_string(*err)) + " in epoch " + std::to_string(record.epoch) +
                            " written by " + display_name(record.author),
                        "that member's client wrote a bad record; tell them");
    }
    auto keys = protocol::derive_epoch_keys(room_secret(record), record.room, record.epoch, record.previous,
                                            std::get<crypto::EpochSecret>(opened));
    if (keys.token_hash != record.token_hash) {
        if (password_confirmed_) {
            throw UserError("epoch " + std::to_string(record.epoch) + " written by " + display_name(record.author) +
                                " does not match the room password its earlier epochs matched",
                            "that member's client wrote a bad record; tell them");
        }
        throw WrongPassword("wrong room password for room " + room_name_,
                            "the password does not match the one the room was created with");
    }
    password_confirmed_ = true;
    EpochState state;
    state.token = protocol::token_bytes(keys);
    state.message_key = std::make_shared<const crypto::SymmetricKey>(std::move(keys.message_key));
    return state;
}

std::optional<RoomClient::EpochState> RoomClient::device_epoch() {
    const auto& head = chain_->head();
    if (!contains(head.roster, member_.identity->public_key)) {
        // Out of the room: nothing of this device's state may open the boxes of
        // the epochs it was in any more (a record bringing it back seals to its card).
        store::DeviceEpochs::erase_keys(*member_.store, room_);
        return std::nullopt;
    }
    if (!device_) {
        try {
            device_ = std::make_unique<RoomDevice>(member_.device_folder, *member_.identity, member_.user,
                                                   *member_.store, room_, room_secret(head), session_);
        } catch (const WrongPassword&) {
            throw;
        } catch (const UserError& e) {
            const auto first = std::find_if(chain_->records.begin(), chain_->records.end(),
                                            [](const auto& r) { return r.version != wire::record_version_1; });
            const std::string what = first->epoch == 0 ? "room " + room_name_ + " is of protocol version 2"
                                                       : "room " + room_name_ + " moved to protocol version 2 at epoch " +
                                                             std::to_string(first->epoch);
            throw UserError(what + ", and " + e.what(), e.hint());
        }
    }
    auto token = device_->follow(*chain_, [this](const std::string& w) { notice("warning: " + w); });
    if (!token) store::DeviceEpochs::erase_keys(*member_.store, room_);  // revoked, or never brought in
    for (auto it = chain_->records.rbegin(); !token && it != chain_->records.rend(); ++it) {
        for (const auto& op : it->ops) {
            if (op.kind != wire::RosterOpKind::revoke_device || op.key != device_->key()) continue;
            const auto* by = wire::find_device(*it, it->author);  // the author is in the record it wrote
            throw UserError("this device (" + device_->name() + ") was revoked from room " + room_name_ + " at epoch " +
                                std::to_string(it->epoch) + (by ? " by " + display_name(by->member()) : std::string()),
                            "it can no longer read the room; " + member_.user + "'s other devices still can", 5);
        }
    }
    if (!token)
        throw UserError("this device (" + device_->name() + ") is not in room " + room_name_ + ", though " +
                            member_.user + " is",
                        "a room of protocol version 2 brings in the devices whose cards were in public_keys/ when "
                        "it was created; bringing one in later is not built yet");
    password_confirmed_ = true;
    EpochState state;
    state.token = *token;
    return state;
}

void RoomClient::adopt_head() {
    const auto& head = chain_->head();
    auto state = head.version == wire::record_version_1 ? derive_epoch(head, chain_->head_hash()) : device_epoch();
    if (!state) {
        removed_ = true;
        // Were we ever a member? Then say when we were removed.
        for (auto it = chain_->records.rbegin(); it != chain_->records.rend(); ++it) {
            if (contains(it->roster, member_.identity->public_key)) {
                const auto& removal = *(it - 1);
                throw UserError(member_.user + " was removed from room " + room_name_ + " at epoch " +
                                    std::to_string(removal.epoch) + " by " + display_name(removal.author),
                                "you are no longer in the roster; ask a member to add you back", 5);
            }
        }
        throw UserError(member_.user + " is not in the roster of room " + room_name_,
                        "ask a member to run 'parley rekey --add " + member_.user + "'", 5);
    }
    const bool first = !receiver_;
    if (first) {
        receiver_ = std::make_unique<protocol::Receiver>(
            room_, member_.identity->public_key, session_, *member_.store,
            [store = member_.store](const wire::SessionId& s, const wire::Hash& r, std::uint64_t counter) {
                return store->sent_by_us(s, r, counter);
            });
        receiver_->set_expired_through(member_.store->expired_through_epoch(room_));
    }
    // Every epoch up to the head goes into the receiver, so a catch-up can read
    // what the relay kept: keys from one epoch before where this device left
    // off; older epochs, and those before we were a member, only by roster
    // (their messages are skipped quietly).
    for (auto e = receiver_next_epoch_; e < head.epoch; ++e) {
        const auto& record = chain_->records[e];
        std::shared_ptr<const crypto::SymmetricKey> key;
        if (record.version == wire::record_version_1 && e + 1 >= stream_start_epoch_) {
            try {
                if (auto older = derive_epoch(record, chain_->hashes[e])) {
                    key = older->message_key;
                    epochs_[e] = std::move(*older);
                }
            } catch (const UserError& err) {
                notice(std::string("warning: ") + err.what() + "; its messages cannot be read");
            }
        }
        receiver_->add_epoch({e, chain_->hashes[e], record.roster, key, {}}, false);
    }
    receiver_->add_epoch({head.epoch, chain_->head_hash(), head.roster, state->message_key, {}}, false);
    receiver_next_epoch_ = head.epoch + 1;
    if (first) receiver_->set_stream_epoch(std::min(stream_start_epoch_, head.epoch));
    // Version 2: what a reader left behind before it stopped stays forgotten (and
    // stale) after a restart too.
    if (device_ && reader()) device_->forget_before(*chain_, receiver_->head_epoch());
    epochs_[head.epoch] = std::move(*state);
    member_.store->save_pin(room_, {chain_->genesis_hash(), head.epoch, chain_->head_hash()});
    if (!history_) init_history();
}

void RoomClient::init_history() {
    const auto& genesis = chain_->records.front();
    history_.emplace(*member_.identity, room_, room_secret(genesis));
    store::StateStore::HistoryKeyInfo info;
    info.salt = genesis.salt;
    info.kdf = genesis.kdf;
    info.check = history_->check_value();
    const auto stored = member_.store->load_history_key_info(room_);
    if (stored && stored->check == info.check) return;
    // First use of this room by a version that binds history to the password:
    // what an older version sealed under the private key alone is sealed again.
    const auto legacy = store::HistoryCipher::legacy(*member_.identity);
    store::StateStore::Transaction tx(*member_.store);
    std::size_t resealed = 0;
    for (const auto& [seq, row] : member_.store->load_history(room_, std::numeric_limits<std::size_t>::max())) {
        if (history_->open(room_, seq, row)) continue;
        if (auto entry = legacy.open(room_, seq, row)) {
            member_.store->replace_history(room_, seq, history_->seal(room_, *entry));
            ++resealed;
        }
    }
    member_.store->save_history_key_info(room_, info);
    tx.commit();
    if (resealed > 0)
        notice("sealed " + std::to_string(resealed) + " stored message(s) again under a key that needs the room password");
}

void RoomClient::rekey(const std::vector<wire::RosterOp>& ops) {
    publish_successor("the new epoch", [&] { return write_next_epoch(ops); });
}

void RoomClient::publish_successor(const char* what, const std::function<Bytes()>& write) {
    // Another member may write the same epoch at the same moment; the relay's
    // compare-and-set picks one. The loser writes again on top of the winner's
    // record (NewHead brings it): `write` reads the head anew each time.
    for (int attempt = 0;; ++attempt) {
        if (!joined_) join();
        const auto encoded = write();
        const auto before = chain_->head().epoch;
        auto id = next_request_id();
        send_frame(wire::Publish{id, room_, epochs_.at(before).token, encoded});
        try {
            (void)await_reply<wire::Published>(id, what);
        } catch (const RelayRefused& e) {
            if (e.code() != wire::RelayError::not_head || attempt == 2) throw;
            pump_until([&] { return chain_->head().epoch > before || closed_; }, 5s);
            if (removed_) throw UserError("you were removed from room " + room_name_ + " meanwhile", "", 5);
            if (blocked_) throw UserError(*blocked_, "", 6);
            continue;
        }
        // Adopt it as the relay confirmed it; the NewHead echo is then a no-op.
        if (auto err = protocol::extend_chain(*chain_, *wire::decode_record(encoded).record))
            throw UserError("internal: own record invalid: " + *err);
        joined_ = false;
        adopt_head();
        return;
    }
}

std::vector<protocol::v2::DeviceCard> RoomClient::waiting_cards() const {
    const auto& head = chain_->head();
    std::set<crypto::PublicKey> revoked;
    for (const auto& r : chain_->records)
        for (const auto& op : r.ops)
            if (op.kind == wire::RosterOpKind::revoke_device) revoked.insert(op.key);
    std::vector<protocol::v2::DeviceCard> cards;
    for (const auto& m : member_.keyring->members()) {
        if (!std::binary_search(head.roster.begin(), head.roster.end(), m.key)) continue;
        for (const auto& card : m.cards)
            if (!wire::find_device(head, card.certificate.device) && !revoked.count(card.certificate.device))
                cards.push_back(card);
    }
    return cards;
}

Bytes RoomClient::write_next_v2(const std::vector<wire::RosterOp>& ops) {
    const auto& head = chain_->head();
    std::set<crypto::PublicKey> roster(head.roster.begin(), head.roster.end());
    std::vector<wire::RosterOp> applied;
    std::vector<protocol::v2::DeviceCard> cards;
    std::string without;
    for (const auto& op : ops) {
        const bool present = roster.count(op.key) != 0;
        if (op.kind == wire::RosterOpKind::add && present) continue;  // the winner did it already
        if (op.kind == wire::RosterOpKind::remove && !present) continue;
        if (op.kind == wire::RosterOpKind::revoke_device) {
            const auto* d = wire::find_device(head, op.key);
            if (!d || roster.count(d->member()) == 0) continue;  // gone already, or its member is removed
            applied.push_back(op);
            continue;
        }
        if (op.kind == wire::RosterOpKind::add) {
            // A member comes with the devices of its cards (§10.5).
            const auto* m = member_.keyring->by_key(op.key);
            if (!m || m->cards.empty()) {
                without += (without.empty() ? "" : ", ") + display_name(op.key);
                continue;
            }
            cards.insert(cards.end(), m->cards.begin(), m->cards.end());
            roster.insert(op.key);
        } else {
            roster.erase(op.key);
        }
        applied.push_back(op);
    }
    if (!without.empty())
        throw UserError("no device card in public_keys/ for " + without +
                            ": a room of protocol version 2 brings members' devices in by their cards",
                        "each runs 'parley device add NAME' on their computer and copies the card it writes into "
                        "public_keys/ (as MEMBER.DEVICE.card)");
    // A member's device whose card is in public_keys/ and that is not in the room
    // comes in too, unless it was revoked once: a card left behind does not bring it back.
    std::set<crypto::PublicKey> revoked;
    for (const auto& op : applied)
        if (op.kind == wire::RosterOpKind::revoke_device) revoked.insert(op.key);
    for (const auto& card : waiting_cards()) {
        if (roster.count(card.certificate.identity) == 0 || revoked.count(card.certificate.device)) continue;
        cards.push_back(card);
        applied.push_back({wire::RosterOpKind::add_device, card.certificate.device});
    }
    auto record = device_->write_next(*chain_, applied, cards);
    auto encoded = wire::encode_record(record);
    check_record_size(encoded, record.roster.size());
    return encoded;
}

Bytes RoomClient::write_next_epoch(const std::vector<wire::RosterOp>& ops) {
    const auto& head = chain_->head();
    if (head.version != wire::record_version_1) return write_next_v2(ops);
    auto draft = successor_draft<protocol::RecordDraft>(*chain_);
    std::set<crypto::PublicKey> roster(head.roster.begin(), head.roster.end());
    for (const auto& op : ops) {
        bool present = roster.count(op.key) != 0;
        if (op.kind == wire::RosterOpKind::add && present) continue;  // the winner did it already
        if (op.kind == wire::RosterOpKind::remove && !present) continue;
        if (op.kind == wire::RosterOpKind::add) roster.insert(op.key);
        else roster.erase(op.key);
        draft.ops.push_back(op);
    }
    draft.roster.assign(roster.begin(), roster.end());
    crypto::EpochSecret epoch_secret;
    crypto::random_bytes(epoch_secret.mutable_bytes());
    auto record = protocol::build_record(*member_.identity, draft, room_secret(head), epoch_secret);
    if (!record) throw UserError("a roster key cannot receive sealed secrets (no X25519 form)");
    auto encoded = wire::encode_record(*record);
    check_record_size(encoded, record->roster.size());
    return encoded;
}

void RoomClient::handle_new_head(const wire::NewHead& f) {
    if (!chain_ || f.room != room_ || f.genesis != chain_->genesis_hash()) return;
    if (reader() && relay_went_back(f.seq, f.record)) return;
    if (reader() && !take_place(f.seq)) return;  // handled already (the item a join asks for again to compare)
    // A NewHead we ignore still takes its place in the stream: otherwise a
    // resumed join would fetch the same bad item again, and again. The relay
    // may have moved on (and unsubscribed us): joining again fetches and
    // verifies the chain it really holds.
    auto skip = [&](const std::string& why) {
        notice("warning: " + why + "; ignored");
        joined_ = false;
        if (reader()) advance_position(f.seq, f.record, false);
    };
    auto decoded = wire::decode_record(f.record);
    if (!decoded.record) {
        return skip(std::string("the relay announced a new epoch that does not decode (") +
                    wire::to_string(decoded.error) + ")");
    }
    auto& record = *decoded.record;
    auto hash = wire::record_hash(record);
    const auto epoch = record.epoch;
    // Its place in the stream: messages after it belong to its epoch.
    auto advance_stream = [&] {
        if (receiver_ && epoch > receiver_->head_epoch()) receiver_->set_stream_epoch(epoch);
        if (device_ && reader()) device_->forget_before(*chain_, epoch);
        if (reader()) advance_position(f.seq, f.record);
    };
    if (epoch <= chain_->head().epoch) {
        // One we hold: our own rekey echoed, or a catch-up passing it.
        if (chain_->hashes[epoch] == hash) return advance_stream();
        // A second record for a height we hold is a fork only if a member of
        // the epoch before really wrote it; anything else is relay noise.
        const bool genuine = epoch > 0 && !wire::check_successor(chain_->records[epoch - 1], record) &&
                             wire::verify_record_signature(record);
        if (!genuine) return skip("the relay announced an invalid record for epoch " + std::to_string(epoch));
        block("fork at epoch " + std::to_string(epoch) + ": " + display_name(chain_->records[epoch].author) +
              " and " + display_name(record.author) +
              " each wrote a record; nothing more is sent (compare room codes with /verify)");
        return;
    }
    if (epoch != chain_->head().epoch + 1)
        return skip("the relay announced epoch " + std::to_string(epoch) + " out of order");
    // Check it fully before it touches our state.
    protocol::VerifiedChain next = *chain_;
    if (auto err = protocol::extend_chain(next, std::move(record)))
        return skip("the relay announced an invalid new epoch: " + *err);
    joined_ = false;  // a real new head: the relay unsubscribed us, join again
    const auto& head = next.head();
    describe_changes(head);
    if (!contains(head.roster, member_.identity->public_key)) {
        chain_ = std::move(next);
        advance_stream();
        removed_ = true;
        member_.store->save_pin(room_, {chain_->genesis_hash(), head.epoch, chain_->head_hash()});
        store::DeviceEpochs::erase_keys(*member_.store, room_);  // as device_epoch() does: out, nothing opens
        notice(member_.user + " was removed from room " + room_name_ + " at epoch " +
               std::to_string(chain_->head().epoch) + " by " + display_name(chain_->head().author));
        return;
    }
    // Adopt it; if our box or the keys are bad, keep the old chain and stop.
    std::swap(*chain_, next);
    try {
        adopt_head();
    } catch (const UserError& e) {
        std::swap(*chain_, next);
        block(e.what());
        return;
    }
    advance_stream();
}

void RoomClient::describe_changes(const wire::EpochRecord& record) {
    // A device by its member and name (version 2): in this record, or in the head before it.
    auto device = [&](const crypto::PublicKey& key) {
        const auto* d = wire::find_device(record, key);
        if (!d && record.epoch > 0) d = wire::find_device(chain_->head(), key);
        if (!d) return crypto::fingerprint(key);
        return display_name(d->member()) + "'s device " + d->certificate.name;
    };
    std::string line = "epoch " + std::to_string(record.epoch) + " by " +
                       (record.version == wire::record_version_1 ? display_name(record.author) : device(record.author));
    if (record.ops.empty()) line += ": new keys, same members";
    for (const auto& op : record.ops) {
        switch (op.kind) {
            case wire::RosterOpKind::add: line += ", added " + display_name(op.key); break;
            case wire::RosterOpKind::remove: line += ", removed " + display_name(op.key); break;
            case wire::RosterOpKind::add_device: line += ", added " + device(op.key); break;
            case wire::RosterOpKind::revoke_device: line += ", revoked " + device(op.key); break;
        }
        line += " (" + crypto::fingerprint(op.key) + ")";
    }
    notice(line);
}

void RoomClient::block(const std::string& reason) {
    blocked_ = reason;
    notice("warning: " + reason);
}

std::vector<std::string> RoomClient::roster_differences() const {
    std::vector<std::string> lines;
    const auto& roster = chain_->head().roster;
    for (const auto& m : member_.keyring->members()) {
        if (!contains(roster, m.key))
            lines.push_back(m.name + ".pem is in public_keys/ but not in the room; to add: parley rekey --add " + m.name);
    }
    for (const auto& k : roster) {
        if (!member_.keyring->by_key(k))
            lines.push_back("room member " + crypto::fingerprint(k) +
                            " has no file in public_keys/; to remove: parley rekey --remove " +
                            to_hex(crypto::key_id(k)).substr(0, 16));
    }
    return lines;
}

std::string RoomClient::room_code() const {
    return crypto::format_fingerprint(crypto::room_code(chain_->genesis_hash(), chain_->head_hash()));
}

}  // namespace parley::client
