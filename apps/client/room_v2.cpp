// RoomClient, part four: the device in a room of protocol version 2
// (docs/PROTOCOL.md §10): the genesis and the upgrade that bring devices in by
// their cards, following the chain with this device's state (RoomDevice),
// writing the next epoch, the rotator and key-updates.
#include <algorithm>
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

std::optional<RoomClient::EpochState> RoomClient::device_epoch() {
    const auto& head = chain_->head();
    if (!contains(head.roster, member_.identity->public_key)) {
        // Out of the room: nothing of this device's state may open the boxes of
        // the epochs it was in any more (a record bringing it back seals to its card).
        store::DeviceEpochs::erase_keys(*member_.store, room_, head.epoch);
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
    if (!token) store::DeviceEpochs::erase_keys(*member_.store, room_, head.epoch);  // revoked, or never brought in
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

void RoomClient::note_epoch_activity(const wire::Hash& record, std::uint64_t timestamp_ms) {
    if (!chain_ || chain_->head().version == wire::record_version_1) return;
    if (activity_for_ != chain_->head_hash()) {
        activity_ = {};
        activity_.started_ms = chain_->head().created_at_ms;
        activity_.max_messages = rotate_after_.value_or(protocol::v2::epoch_max_messages);
        activity_for_ = chain_->head_hash();
    }
    if (record == activity_for_) activity_.note_message(timestamp_ms);
}

void RoomClient::rotate_if_due() {
    if (!rotate_after_ || !device_ || !chain_ || chain_->head().version == wire::record_version_1) return;
    if (last_seq_ < backlog_last_seq_ || rotation_tried_ == chain_->head_hash()) return;  // catching up: not yet
    note_epoch_activity({}, 0);  // (starts the count of a new head)
    const auto& head = chain_->head();
    // A device waiting to come in (its card is in public_keys/) is a change: due at once.
    if (!activity_.change_waiting_since && !waiting_cards().empty()) activity_.change_waiting_since = now_ms();
    if (!protocol::v2::should_write_epoch(chain_->head_hash(), head.roster, member_.identity->public_key, activity_,
                                          now_ms()))
        return;
    rotation_tried_ = chain_->head_hash();
    const std::string why = activity_.change_waiting_since ? "a device waits to come in"
                                                           : std::to_string(activity_.messages) + " messages, or a day";
    notice("epoch " + std::to_string(head.epoch) + " is due for new keys (" + why + "), and it is " + member_.user +
           "'s turn: writing epoch " + std::to_string(head.epoch + 1));
    try {
        rekey({});
    } catch (const UserError& e) {
        notice(std::string("warning: could not write the next epoch: ") + e.what());
    }
}

void RoomClient::send_key_update_if_due() {
    if (!device_ || !chain_ || chain_->head().version == wire::record_version_1) return;
    if (key_update_sent_in_ == chain_->head_hash()) return;
    key_update_sent_in_ = chain_->head_hash();
    const auto entry = device_->key_update_due();
    if (!entry) return;
    try {
        const auto bytes = wire::encode_update_key_entry(*entry);
        const auto sent_in = send_envelope(wire::EnvelopeType::key_update,
                                           std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), 30s);
        device_->key_update_sent(entry->counter, sent_in);
    } catch (const UserError&) {
        key_update_sent_in_.reset();  // the connection's trouble shows elsewhere; again next time
    }
}

}  // namespace parley::client
