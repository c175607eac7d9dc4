// RoomClient, part two: the room's epoch chain. Choosing and verifying a
// chain, creating a room, deriving each epoch's keys, following new epochs
// and writing them (rekey). docs/PROTOCOL.md §3, §4. What is of version 2
// only (devices) is in room_v2.cpp.
#include <algorithm>
#include <chrono>
#include <limits>
#include <set>

#include "room_client.h"
#include "room_parts.h"
#include "user_error.h"

namespace parley::client {

using namespace std::chrono_literals;
using detail::check_record_size;
using detail::contains;
using detail::now_ms;
using detail::successor_draft;

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
        // Another process of this device follows a later epoch already (its
        // member was added back): a relay showed this one late. Never moves the
        // pin back; joining again fetches the chain the relay really holds.
        if (const auto pin = member_.store->load_pin(room_); pin && pin->head_epoch > head.epoch)
            return skip("the relay announced epoch " + std::to_string(epoch) + " late (this device follows epoch " +
                        std::to_string(pin->head_epoch) + ")");
        chain_ = std::move(next);
        advance_stream();
        removed_ = true;
        member_.store->save_pin(room_, {chain_->genesis_hash(), head.epoch, chain_->head_hash()});
        store::DeviceEpochs::erase_keys(*member_.store, room_, head.epoch);  // as device_epoch() does
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
