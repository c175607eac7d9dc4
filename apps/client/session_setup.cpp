#include "session_setup.h"

#include <cstdlib>
#include <ctime>
#include <iostream>

#include "protocol/display_text.h"
#include "user_error.h"

namespace parley::client {

namespace fs = std::filesystem;

static fs::path state_file(const RoomOptions& o, const crypto::PublicKey& key) {
    fs::path dir;
    if (!o.state.empty()) {
        dir = o.state;
    } else if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) {
        dir = fs::path(xdg) / "parley";
    } else if (const char* home = std::getenv("HOME"); home && *home) {
        dir = fs::path(home) / ".local" / "share" / "parley";
    } else {
        throw UserError("no place for local state", "pass --state DIR");
    }
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw UserError("cannot create state directory " + dir.string() + ": " + ec.message());
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    return dir / ("state-" + to_hex(crypto::key_id(key)).substr(0, 16) + ".sqlite");
}

std::unique_ptr<Session> load_local(const RoomOptions& o) {
    if (o.user.empty()) throw UserError("--user is required");
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

std::unique_ptr<Session> make_session(RoomOptions& o, bool confirm_password) {
    if (o.room.empty()) throw UserError("--room is required");
    std::string url_error;
    auto endpoint = net::parse_url(o.server, url_error);
    if (!endpoint) throw UserError("bad --server: " + url_error, "use ws://host:port or wss://host:port");
    auto s = load_local(o);
    s->password = read_password(o.password, o.room, confirm_password);

    net::Client::Options net_options;
    net_options.ca_file = o.ca;
    Member member{&s->identity, &s->keyring, &s->password, s->store.get(), o.user};
    s->client = std::make_unique<RoomClient>(member, o.room, *endpoint, net_options);
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

}  // namespace parley::client
