#include "commands.h"

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "protocol/device_files.h"
#include "protocol/invite.h"
#include "session_setup.h"
#include "user_error.h"

namespace parley::client {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

int cmd_keygen(const std::string& user, const std::string& dir) {
    if (user.empty() || user.find('/') != std::string::npos || user.front() == '.')
        throw UserError("bad user name '" + user + "'", "use a plain name such as alice");
    fs::path base(dir);
    std::error_code ec;
    fs::create_directories(base / "public_keys", ec);
    if (ec) throw UserError("cannot create " + (base / "public_keys").string() + ": " + ec.message());
    auto id = crypto::generate_identity();
    crypto::write_key_files(id, base / (user + ".pem"), base / "public_keys" / (user + ".pem"));
    std::cout << "wrote " << (base / (user + ".pem")).string() << " (private, mode 0600) and "
              << (base / "public_keys" / (user + ".pem")).string() << "\n"
              << user << "  " << crypto::fingerprint(id.public_key) << "\n"
              << "give public_keys/" << user << ".pem to the other members; compare fingerprints out of band\n";
    return 0;
}

int cmd_fingerprint(const std::string& dir, const std::optional<std::string>& name) {
    auto keyring = protocol::Keyring::load(fs::path(dir) / "public_keys");
    if (name) {
        const auto* m = keyring.by_name(*name);
        if (m == nullptr) {
            // Also accept a path to any key file, private or public.
            fs::path p(*name);
            if (fs::exists(p)) {
                crypto::PublicKey key{};
                try {
                    key = crypto::load_public_key(p);
                } catch (const crypto::KeyFileError&) {
                    key = crypto::load_private_key(p).public_key;
                }
                std::cout << p.stem().string() << "  " << crypto::fingerprint(key) << "\n";
                return 0;
            }
            throw UserError("no key named " + *name + " in " + (fs::path(dir) / "public_keys").string());
        }
        std::cout << m->name << "  " << crypto::fingerprint(m->key) << "\n";
        return 0;
    }
    std::size_t width = 0;
    for (const auto& m : keyring.members()) width = std::max(width, m.name.size());
    for (const auto& m : keyring.members())
        std::cout << m.name << std::string(width - m.name.size() + 2, ' ') << crypto::fingerprint(m.key) << "\n";
    auto keys = keyring.sorted_keys();
    std::cout << "roster  " << crypto::format_fingerprint(crypto::roster_hash(keys)) << "  ("
              << keys.size() << " keys)\n";
    return 0;
}

static void print_notice(const std::string& line) { std::cerr << "parley: " << line << "\n"; }

static std::string invite_of(const RoomClient& client, const std::string& server) {
    return protocol::format_invite({client.room_name(), client.room_id(), client.chain().genesis_hash(), server});
}

int cmd_create(RoomOptions& o) {
    auto s = make_session(o, RoomUse::create);
    if (password_looks_weak(s->password))
        print_notice("warning: the room password is short; anyone who steals a member's key file can guess it offline");
    s->client->on_notice(print_notice);
    s->client->create(o.protocol_version);
    s->store->add_room({o.room, s->client->room_id(), o.server});
    for (const auto& line : s->client->roster_differences()) print_notice("note: " + line);
    std::cerr << "parley: room " << o.room << " at epoch " << s->client->chain().head().epoch
              << ", room code " << s->client->room_code() << "\n"
              << "parley: hand this invite to the members, with the public keys; each runs "
                 "'parley join INVITE' once:\n";
    // The invite alone on the last line of stdout, for scripts (tail -1).
    std::cout << invite_of(*s->client, o.server) << std::endl;
    return 0;
}

int cmd_join(RoomOptions& o) {
    auto local = load_local(o);
    const auto room = accept_invite(*local, o.invite, o.room, o.server);
    local.reset();  // one state store open at a time
    o.room = room.name;
    o.invite.clear();
    if (o.server.empty()) o.server = room.server;
    // Check it now, not at the first message: the chain from the pinned
    // genesis, our box in the head epoch, the password.
    auto s = make_session(o, RoomUse::existing);
    s->client->on_notice(print_notice);
    s->client->open();
    for (const auto& line : s->client->roster_differences()) print_notice("note: " + line);
    const auto& head = s->client->chain().head();
    std::cerr << "parley: joined room " << o.room << " at epoch " << head.epoch << " with " << head.roster.size()
              << " members, room code " << s->client->room_code() << "\n"
              << "parley: compare the room code with the other members (in person, by phone)\n";
    if (head.version == wire::record_version_1)
        print_notice("note: this room is of protocol version 1; 'parley upgrade' moves it to version 2 (a key per "
                     "message, devices; docs/PROTOCOL.md §10)");
    return 0;
}

int cmd_invite(RoomOptions& o) {
    auto s = load_local(o);
    const auto room = resolve_room(*s, o);
    const auto pin = s->store->load_pin(room.room);
    if (!pin) throw UserError("internal: room " + o.room + " has no pinned genesis");
    const std::string server = o.server.empty() ? room.server : o.server;
    if (server.empty()) throw UserError("no relay known for room " + o.room, "pass --server wss://HOST:PORT");
    std::cout << protocol::format_invite({room.name, room.room, pin->genesis, server}) << std::endl;
    return 0;
}

int cmd_send(RoomOptions& o) {
    auto s = make_session(o, RoomUse::existing);
    s->client->on_notice(print_notice);
    s->client->set_reconnect(true, std::chrono::seconds(60));  // resend what was not acknowledged
    s->client->open(o.retry());  // no delivery handler: this process only sends
    for (const auto& line : s->client->roster_differences()) print_notice("note: " + line);
    // Each line is sent on its own: one too long is skipped (and named), the
    // rest still go; if the relay cannot be reached any more, what was
    // accepted and where it stopped are said. Line numbers count every input line.
    std::string line;
    std::size_t sent = 0, number = 0;
    std::vector<std::size_t> too_long;
    auto accepted = [&] {
        return "parley: " + std::to_string(sent) + " message" + (sent == 1 ? "" : "s") + " accepted by the relay";
    };
    while (std::getline(std::cin, line)) {
        ++number;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        if (line.size() > wire::max_plaintext_bytes) {
            print_notice("line " + std::to_string(number) + " not sent: too long (" + std::to_string(line.size()) +
                         " bytes, at most " + std::to_string(wire::max_plaintext_bytes) + ")");
            too_long.push_back(number);
            continue;
        }
        try {
            s->client->send_text(line);
        } catch (const UserError&) {
            std::cerr << accepted() << "; line " << number << " and any after it were not sent\n";
            throw;
        }
        ++sent;
    }
    // Leaving: a sync after the last line, so a relay that withholds that
    // line is seen by every reader (docs/PROTOCOL.md §5.1). The lines are
    // accepted whatever becomes of it.
    if (s->client->sync_owed()) {
        try {
            s->client->send_sync(protocol::SyncReason::leaving);
        } catch (const UserError& e) {
            print_notice(std::string("warning: the closing sync was not sent (") + e.what() +
                         "): a relay that withholds the last line goes unseen until this device sends again");
        }
    }
    std::cerr << accepted() << "\n";
    if (!too_long.empty()) {
        std::string list;
        for (auto n : too_long) list += (list.empty() ? "" : ", ") + std::to_string(n);
        throw UserError("not sent (too long): line" + std::string(too_long.size() == 1 ? " " : "s ") + list,
                        "split long text over several lines; a message holds at most " +
                            std::to_string(wire::max_plaintext_bytes) + " bytes");
    }
    return 0;
}

nlohmann::json delivery_json(const RoomClient& client, const Incoming& in) {
    nlohmann::json j;
    const auto& d = in.delivery;
    j["room"] = client.room_name();
    j["seq"] = in.seq;
    if (!d.accepted) {
        j["status"] = "rejected";
        j["reason"] = d.reason;
        return j;
    }
    j["status"] = "ok";
    j["from"] = client.display_name(*d.sender);
    j["fingerprint"] = crypto::fingerprint(*d.sender);
    j["epoch"] = d.header.epoch;
    j["counter"] = d.header.counter;
    j["time"] = format_time(d.header.timestamp_ms);
    j["text"] = d.text;
    j["own"] = d.own;
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
    auto skew_s = (static_cast<std::int64_t>(d.header.timestamp_ms) - now) / 1000;
    if (skew_s > 300 || skew_s < -300) j["clock_skew_s"] = skew_s;
    return j;
}

// Written and flushed, or an error: the stream position moves on only after
// the line is out (RoomClient::handle_deliver commits after this returns).
static void print_json(const nlohmann::json& j) {
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
    if (!std::cout) throw UserError("cannot write to standard output");
}

int cmd_listen(RoomOptions& o, const ListenOptions& l) {
    auto s = make_session(o, RoomUse::existing);
    auto& client = *s->client;
    std::uint64_t delivered = 0;
    client.on_notice(print_notice);
    client.on_delivery([&](const Incoming& in) {
        if (in.missing_last) {
            print_json({{"room", client.room_name()},
                        {"status", "warning"},
                        {"seq", in.seq},
                        {"last_seq", *in.missing_last},
                        {"reason", in.delivery.reason}});
            return;
        }
        if (in.delivery.accepted && in.delivery.missing_before > 0) {
            const auto from = client.display_name(*in.delivery.sender);
            print_json({{"room", client.room_name()},
                        {"status", "warning"},
                        {"seq", in.seq},
                        {"from", from},
                        {"missing", in.delivery.missing_before},
                        {"reason", missing_reason(from, in.delivery)}});
        }
        if (in.gap_only || (in.delivery.accepted && in.delivery.sync)) return;  // a sync shows nothing of its own
        print_json(delivery_json(client, in));
        if (in.delivery.accepted) ++delivered;
    });
    // Trying a relay that is away at start counts against --timeout too.
    client.open(l.timeout_s ? std::min(o.retry(), std::chrono::seconds(static_cast<std::int64_t>(*l.timeout_s) + 1))
                            : o.retry());
    client.join();
    std::cerr << "parley: joined room " << o.room << " at epoch " << client.chain().head().epoch
              << ", room code " << client.room_code() << "\n";
    for (const auto& line : client.roster_differences()) print_notice("note: " + line);
    const auto timeout = l.timeout_s ? std::chrono::milliseconds(static_cast<std::int64_t>(*l.timeout_s * 1000))
                                     : std::chrono::milliseconds::max();  // no deadline
    client.set_reconnect(true, l.timeout_s ? std::chrono::seconds(static_cast<std::int64_t>(*l.timeout_s) + 1)
                                           : std::chrono::seconds::max());
    bool done = client.run_until(
        [&] {
            return client.closed() || client.removed() || client.blocked() || (l.count && delivered >= *l.count);
        },
        timeout);
    if (client.removed()) return 5;
    if (client.blocked()) return 6;
    if (l.count && delivered >= *l.count) return 0;
    if (client.closed()) throw UserError("the relay closed the connection");
    if (!done) {
        print_notice("timeout after " + std::to_string(delivered) + " message(s)");
        return 3;
    }
    return 0;
}

int cmd_history(RoomOptions& o, std::size_t limit, bool json) {
    auto s = load_local(o);
    const auto room = resolve_room(*s, o).room;
    // The history key needs the private key and the room password (a lost
    // flash drive opens no message): the password is asked for and checked
    // against the stored check value before any row is read.
    const auto info = s->store->load_history_key_info(room);
    auto rows = s->store->load_history(room, limit);
    if (!info) {
        if (!rows.empty())
            throw UserError("the stored messages of room " + o.room +
                                " were written by an older Parley, before they needed the room password",
                            "open the room once (parley listen --room " + o.room +
                                " --timeout 1): it seals them again under the password");
        if (!json) std::cerr << "parley: no stored messages for room " << o.room << "\n";
        return 0;
    }
    if (!protocol::kdf_params_allowed(info->kdf)) throw UserError("the stored KDF parameters of room " + o.room + " are out of range");
    s->password = read_password(o.password, o.room, false);
    auto secret = protocol::derive_room_secret(s->password, info->salt, info->kdf);
    if (!secret) throw UserError("cannot run Argon2id (not enough memory?)");
    store::HistoryCipher cipher(s->identity, room, *secret);
    if (cipher.check_value() != info->check)
        throw UserError("wrong room password for room " + o.room, "the stored messages need the room's password");
    if (rows.empty() && !json) std::cerr << "parley: no stored messages for room " << o.room << "\n";
    for (const auto& [seq, sealed] : rows) {
        auto entry = cipher.open(room, seq, sealed);
        if (!entry) {
            print_notice("warning: stored message " + std::to_string(seq) + " does not authenticate; skipped");
            continue;
        }
        const auto name = s->keyring.display_name(entry->sender);
        if (json) {
            print_json({{"room", o.room}, {"seq", seq}, {"status", "ok"}, {"from", name},
                        {"fingerprint", crypto::fingerprint(entry->sender)}, {"epoch", entry->epoch},
                        {"counter", entry->counter}, {"time", format_time(entry->timestamp_ms)},
                        {"text", entry->text}, {"own", entry->own}});
        } else {
            std::cout << format_time(entry->timestamp_ms) << " " << name << ": " << printable(entry->text) << "\n";
        }
    }
    return 0;
}

static crypto::PublicKey resolve_member(const RoomClient& client, const protocol::Keyring& keyring,
                                        const std::string& name, bool must_be_in_roster) {
    if (const auto* m = keyring.by_name(name)) return m->key;
    if (must_be_in_roster && name.size() >= 8) {
        // A key no longer in public_keys/ can be named by a unique key id prefix.
        std::vector<crypto::PublicKey> matches;
        for (const auto& k : client.chain().head().roster) {
            if (to_hex(crypto::key_id(k)).compare(0, name.size(), name) == 0) matches.push_back(k);
        }
        if (matches.size() == 1) return matches.front();
        if (matches.size() > 1) throw UserError("key id prefix " + name + " matches several members", "give more digits");
    }
    throw UserError("no member named " + name, "names are files in public_keys/; a removed key can also be named by "
                                               "its key id prefix (parley rekey prints them)");
}

int cmd_rekey(RoomOptions& o, const RekeyOptions& r) {
    auto s = make_session(o, RoomUse::existing);
    auto& client = *s->client;
    client.on_notice(print_notice);
    client.open();
    const auto& roster = client.chain().head().roster;
    auto in_roster = [&](const crypto::PublicKey& k) { return std::binary_search(roster.begin(), roster.end(), k); };
    std::vector<wire::RosterOp> ops;
    for (const auto& name : r.remove) {
        auto key = resolve_member(client, s->keyring, name, true);
        if (!in_roster(key)) throw UserError(name + " is not in the room");
        if (key == s->identity.public_key) throw UserError("you cannot remove yourself", "ask another member to");
        ops.push_back({wire::RosterOpKind::remove, key});
    }
    for (const auto& name : r.add) {
        auto key = resolve_member(client, s->keyring, name, false);
        if (in_roster(key)) throw UserError(name + " is already in the room");
        ops.push_back({wire::RosterOpKind::add, key});
    }
    for (const auto& name : r.revoke) {
        // MEMBER.DEVICE: a device of the head (§10.5), never this one.
        const auto& head = client.chain().head();
        if (head.version == wire::record_version_1)
            throw UserError("a room of protocol version 1 has no devices to revoke", "", 2);
        const auto dot = name.find('.');
        const wire::RecordDevice* found = nullptr;
        for (const auto& d : head.devices) {
            if (dot != std::string::npos && client.display_name(d.member()) == name.substr(0, dot) &&
                d.certificate.name == name.substr(dot + 1))
                found = &d;
        }
        if (!found)
            throw UserError("no device " + name + " in the room", "name it as MEMBER.DEVICE, as /who lists it", 2);
        if (client.device() && found->key() == client.device()->key())
            throw UserError("this device cannot revoke itself", "do it from another device of yours, or ask a member");
        const auto devices = std::count_if(head.devices.begin(), head.devices.end(),
                                           [&](const auto& d) { return d.member() == found->member(); });
        if (devices < 2)
            throw UserError(name + " is " + client.display_name(found->member()) + "'s only device",
                            "remove the member instead: parley rekey --remove " + client.display_name(found->member()));
        ops.push_back({wire::RosterOpKind::revoke_device, found->key()});
    }
    if (r.sync) {
        for (const auto& m : s->keyring.members())
            if (!in_roster(m.key)) ops.push_back({wire::RosterOpKind::add, m.key});
        for (const auto& k : roster)
            if (!s->keyring.by_key(k)) ops.push_back({wire::RosterOpKind::remove, k});
    }
    if (ops.empty()) {
        for (const auto& line : client.roster_differences()) print_notice("note: " + line);
    }
    client.rekey(ops);
    for (const auto& op : ops) {
        const char* what = op.kind == wire::RosterOpKind::add      ? "added "
                           : op.kind == wire::RosterOpKind::remove ? "removed "
                                                                   : "revoked the device ";
        std::cerr << "parley: " << what << client.display_name(op.key) << " (" << crypto::fingerprint(op.key) << ")\n";
    }
    std::cerr << "parley: room " << o.room << " is now at epoch " << client.chain().head().epoch << " with "
              << client.chain().head().roster.size() << " members, room code " << client.room_code() << "\n";
    return 0;
}

int cmd_upgrade(RoomOptions& o, const std::vector<std::string>& without) {
    auto s = make_session(o, RoomUse::existing);
    auto& client = *s->client;
    client.on_notice(print_notice);
    client.open();
    const auto& roster = client.chain().head().roster;
    std::vector<crypto::PublicKey> keys;
    for (const auto& name : without) {
        auto key = resolve_member(client, s->keyring, name, true);
        if (!std::binary_search(roster.begin(), roster.end(), key)) throw UserError(name + " is not in the room");
        if (key == s->identity.public_key) throw UserError("you cannot leave yourself out", "ask another member to");
        keys.push_back(key);
    }
    client.upgrade(keys);
    const auto& head = client.chain().head();
    for (const auto& k : keys)
        std::cerr << "parley: removed " << client.display_name(k) << " (" << crypto::fingerprint(k) << ")\n";
    std::cerr << "parley: room " << o.room << " moved to protocol version 2 at epoch " << head.epoch << " with "
              << head.roster.size() << " members and " << head.devices.size() << " devices, room code "
              << client.room_code() << "\n";
    return 0;
}

}  // namespace parley::client

namespace parley::client {

namespace {

// Where the member puts a device's card so others' clients find it (§10.5).
std::string card_destination(const RoomOptions& o, const std::string& device_name) {
    return "public_keys/" + o.user + "." + device_name + ".card";
}

}  // namespace

int cmd_device(RoomOptions& o, const std::string& action, const std::optional<std::string>& name, bool new_card) {
    if (o.user.empty()) throw UserError("--user is required");
    const auto identity = crypto::load_private_key(fs::path(o.dir) / (o.user + ".pem"));
    // The device's files sit in the state folder this rule names, never in the
    // older $XDG location state_file() may still read a member's state from:
    // a device is made once, where version 2 will keep its state.
    const fs::path folder = device_folder(o);
    if (action == "add") {
        std::error_code ec;
        fs::create_directories(folder, ec);
        if (ec) throw UserError("cannot create state directory " + folder.string() + ": " + ec.message(),
                                "pass --state DIR for a folder you can write");
        fs::permissions(folder, fs::perms::owner_all, fs::perm_options::replace, ec);
        if (!name) throw UserError("no device name given", "name this device: parley device add laptop --user " + o.user, 2);
        if (!wire::valid_device_name(*name))
            throw UserError("bad device name '" + printable(*name) + "'", "use 1 to 32 of A-Z a-z 0-9 . _ -", 2);
        const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        const auto device = protocol::v2::add_device(folder, identity, *name, static_cast<std::uint64_t>(now));
        const auto files = protocol::v2::device_files(folder, identity.public_key);
        std::cout << "device " << device.certificate.name << " of " << o.user << ": key "
                  << crypto::fingerprint(device.key.public_key) << "\n"
                  << "wrote " << files.key.string() << " and " << files.joining.string() << " (private, mode 0600), "
                  << files.certificate.string() << " and its card " << files.card.string() << "\n"
                  << "copy the card into the shared public_keys/ folder as " << card_destination(o, *name)
                  << ": a room brings this device in with it\n"
                  << "rooms use it once they move to protocol version 2 (docs/PROTOCOL.md §10.5); until then they "
                     "go on with "
                  << o.user << ".pem\n";
        return 0;
    }
    if (name)
        throw UserError("'parley device " + action + "' takes no name", "run: parley device " + action + " --user " + o.user,
                        2);
    if (new_card && action != "card")
        throw UserError("--new goes with 'parley device card'", "run: parley device card --new --user " + o.user, 2);
    const auto device = protocol::v2::load_device(folder, identity.public_key);
    if (!device)
        throw UserError("no device of " + o.user + " in " + folder.string(),
                        "make one on this computer, with the flash drive at hand: parley device add NAME --user " +
                            o.user);
    const auto files = protocol::v2::device_files(folder, identity.public_key);
    if (action == "card") {
        const auto card = protocol::v2::make_card(folder, *device, new_card);
        std::cout << "card of device " << device->certificate.name << " of " << o.user << ": " << files.card.string()
                  << (new_card ? " (new: the old joining key is erased; hand out this one instead)" : "") << "\n"
                  << "joining key " << to_hex(card.joining.update_key).substr(0, 16) << "\n"
                  << "copy it into the shared public_keys/ folder as " << card_destination(o, device->certificate.name)
                  << "\n";
        return 0;
    }
    std::cout << "device     " << device->certificate.name << "\n"
              << "member     " << o.user << "  " << crypto::fingerprint(identity.public_key) << "\n"
              << "key        " << crypto::fingerprint(device->key.public_key) << "\n"
              << "certified  " << format_time(device->certificate.created_at_ms) << " (signature checked)\n"
              << "files      " << files.key.string() << ", " << files.certificate.string() << "\n"
              << "card       " << files.card.string()
              << (std::filesystem::exists(files.card) ? "" : " (none yet: 'parley device card' makes it)") << "\n";
    return 0;
}

}  // namespace parley::client
