#include "session_setup.h"

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <iostream>

#include "protocol/display_text.h"
#include "protocol/invite.h"
#include "user_error.h"

namespace parley::client {

namespace fs = std::filesystem;

// The state lives beside the key by default (DIR/.parley), so pins, replay
// windows, the records of what this member's sessions sent and the history
// move with the flash drive: another computer reading the drive is the same
// device. --state (or state = ... in parley.toml) puts it elsewhere. State an
// older version kept in $XDG_DATA_HOME/parley keeps being used until moved.
static fs::path legacy_state_dir() {
    if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) return fs::path(xdg) / "parley";
    if (const char* home = std::getenv("HOME"); home && *home) return fs::path(home) / ".local" / "share" / "parley";
    return {};
}

fs::path state_file(const RoomOptions& o, const crypto::PublicKey& key) {
    const std::string name = "state-" + to_hex(crypto::key_id(key)).substr(0, 16) + ".sqlite";
    fs::path dir = o.state.empty() ? fs::path(o.dir) / ".parley" : fs::path(o.state);
    std::error_code ec;
    if (o.state.empty() && fs::exists(dir / name, ec)) {
        const fs::path legacy = legacy_state_dir();
        if (!legacy.empty() && fs::exists(legacy / name, ec))
            std::cerr << "parley: note: " << (legacy / name).string()
                      << " (where older versions kept this member's state) is not used: the state on the drive, in "
                      << dir.string() << ", is; move the old file away once nothing in it is needed\n";
    }
    if (o.state.empty() && !fs::exists(dir / name, ec)) {
        const fs::path legacy = legacy_state_dir();
        if (!legacy.empty() && fs::exists(legacy / name, ec)) {
            std::cerr << "parley: note: using this member's state in " << legacy.string()
                      << " (where older versions kept it); to carry it on the drive, move "
                      << (legacy / name).string() << " into " << dir.string() << "/\n";
            return legacy / name;
        }
    }
    fs::create_directories(dir, ec);
    if (ec) throw UserError("cannot create state directory " + dir.string() + ": " + ec.message(),
                            "pass --state DIR for a folder you can write");
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);  // not on every file system
    return dir / name;
}

fs::path device_folder(const RoomOptions& o) { return o.state.empty() ? fs::path(o.dir) / ".parley" : fs::path(o.state); }

std::unique_ptr<Session> load_local(const RoomOptions& o) {
    if (o.user.empty()) throw UserError("--user is required");
    if (o.room.empty() && o.invite.empty()) throw UserError("--room is required");
    auto s = std::make_unique<Session>();
    const fs::path dir(o.dir);
    s->identity = crypto::load_private_key(dir / (o.user + ".pem"));
    s->keyring = protocol::Keyring::load(dir / "public_keys");
    const auto* self = s->keyring.by_name(o.user);
    if (self == nullptr) {
        throw UserError("public_keys/" + o.user + ".pem is missing",
                        "copy your public key there: parley keygen wrote it next to your private key");
    }
    if (self->key != s->identity.public_key) {
        throw UserError(o.user + ".pem does not match public_keys/" + o.user + ".pem",
                        "one of the two files is stale; they must be the same key pair");
    }
    s->store = std::make_unique<store::StateStore>(state_file(o, s->identity.public_key));
    return s;
}

store::StateStore::LocalRoom accept_invite(Session& s, const std::string& text, const std::string& name_flag,
                                           const std::string& server_flag) {
    auto parsed = protocol::parse_invite(text);
    if (auto* why = std::get_if<std::string>(&parsed))
        throw UserError("bad invite: " + *why, "paste the whole line that 'parley create' printed");
    const auto& invite = std::get<protocol::Invite>(parsed);
    store::StateStore::LocalRoom local{name_flag.empty() ? invite.name : name_flag, invite.room,
                                       server_flag.empty() ? invite.server : server_flag};
    if (!protocol::valid_room_name(local.name))
        throw UserError("bad room name '" + printable(local.name) + "'", "use 1 to 64 of A-Z a-z 0-9 . _ -");
    if (auto pin = s.store->load_pin(invite.room); pin && pin->genesis != invite.genesis)
        throw UserError("this device follows another genesis for that room id than the invite names",
                        "the invite is not for the room this device knows; compare room codes with the others");
    if (auto known = s.store->find_room(local.name)) {
        if (known->room != invite.room)
            throw UserError("a room named " + local.name + " exists on this device already",
                            "join under another name: parley join INVITE --room OTHER");
        if (s.store->load_pin(invite.room)) return *known;  // the same invite again
    } else if (auto other = s.store->find_room(invite.room)) {
        throw UserError("this device knows that room already, as " + other->name,
                        "use --room " + other->name);
    }
    store::StateStore::Transaction tx(*s.store);
    if (!s.store->load_pin(invite.room)) s.store->save_pin(invite.room, {invite.genesis, 0, invite.genesis});
    if (!s.store->find_room(local.name)) s.store->add_room(local);
    tx.commit();
    return local;
}

store::StateStore::LocalRoom resolve_room(Session& s, RoomOptions& o) {
    if (o.room.empty() && !o.invite.empty()) {
        // parley.toml's invite with no room name: the invite's own name.
        auto parsed = protocol::parse_invite(o.invite);
        if (auto* invite = std::get_if<protocol::Invite>(&parsed)) o.room = invite->name;
    }
    if (o.room.empty()) throw UserError("--room is required");
    if (auto known = s.store->find_room(o.room)) return *known;
    if (!o.invite.empty()) return accept_invite(s, o.invite, o.room, o.server);
    // A room made before rooms had random ids was found by the hash of its
    // name: if this device pinned one, it keeps working under that name.
    const auto legacy = crypto::room_id(o.room);
    if (s.store->load_pin(legacy)) {
        store::StateStore::LocalRoom local{o.room, legacy, o.server};
        s.store->add_room(local);
        std::cerr << "parley: note: room " << o.room
                  << " was made by an older Parley and keeps working; new devices join it with the invite "
                     "that 'parley invite --room "
                  << o.room << "' prints\n";
        return local;
    }
    throw UserError("no room named " + printable(o.room) + " on this device",
                    "create it with 'parley create --room " + printable(o.room) +
                        "', or join it with 'parley join INVITE'",
                    4);
}

bool room_known(const RoomOptions& o, const std::string& name) {
    RoomOptions probe;
    probe.user = o.user;
    probe.dir = o.dir;
    probe.state = o.state;
    probe.room = name;
    auto s = load_local(probe);
    return s->store->find_room(name) || s->store->load_pin(crypto::room_id(name));
}

std::unique_ptr<Session> make_session(RoomOptions& o, RoomUse use) {
    auto s = load_local(o);
    store::StateStore::LocalRoom local;
    if (use == RoomUse::create) {
        if (!protocol::valid_room_name(o.room))
            throw UserError("bad room name '" + printable(o.room) + "'", "use 1 to 64 of A-Z a-z 0-9 . _ -");
        if (s->store->find_room(o.room))
            throw UserError("a room named " + o.room + " exists on this device already",
                            "pick another name, or use that room: parley chat --room " + o.room);
        local = {o.room, crypto::random_array<wire::hash_bytes>(), o.server};
    } else {
        local = resolve_room(*s, o);
    }
    const std::string server = !o.server.empty() ? o.server : !local.server.empty() ? local.server : o.server_default;
    if (server.empty())
        throw UserError("no relay given", "pass --server wss://HOST:PORT, or put server = \"wss://HOST:PORT\" in "
                                          "parley.toml");
    // The room's relay first, then the others given as serving the same rooms.
    std::vector<net::Endpoint> relays;
    std::vector<std::string> urls{server};
    for (const auto& more : o.more_servers)
        if (std::find(urls.begin(), urls.end(), more) == urls.end()) urls.push_back(more);
    for (const auto& url : urls) {
        std::string url_error;
        auto endpoint = net::parse_url(url, url_error);
        if (!endpoint)
            throw UserError("bad --server " + printable(url) + ": " + url_error, "use ws://host:port or wss://host:port");
        relays.push_back(std::move(*endpoint));
    }
    o.server = server;
    const char* env_password = std::getenv("PARLEY_PASSWORD");
    s->password_prompted = !o.password.argv_password && o.password.file.empty() &&
                           (env_password == nullptr || *env_password == '\0');
    s->password = read_password(o.password, o.room, use == RoomUse::create);

    net::Client::Options net_options;
    net_options.ca_file = o.ca;
    Member member{&s->identity, &s->keyring, &s->password, s->store.get(), o.user, device_folder(o)};
    s->client = std::make_unique<RoomClient>(member, o.room, local.room, std::move(relays), net_options);
    s->client->set_sync_interval(std::chrono::seconds(o.sync_interval_s));
    if (o.rotates) s->client->set_rotation(o.rotate_after);
    return s;
}

std::string format_time(std::uint64_t ms) {
    std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm {};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string printable(std::string_view text) { return protocol::display_text(text); }

std::string missing_reason(const std::string& from, const protocol::Delivery& d) {
    return std::to_string(d.missing_before) + " message(s) from " + from + " missing: sent before this " +
           (d.sync ? "sync" : "message") + ", never delivered (withheld by the relay, or lost)";
}

}  // namespace parley::client
