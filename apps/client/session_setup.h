// What every room command loads before it talks to the relay: the identity,
// public_keys/, the state database and the password, checked against each other.
#pragma once

#include <memory>

#include "commands.h"
#include "room_client.h"

namespace parley::client {

struct Session {
    crypto::Identity identity;
    protocol::Keyring keyring;
    std::unique_ptr<store::StateStore> store;
    crypto::SecretBuffer password;
    bool password_prompted = false;  // typed at the prompt: may be asked again
    std::unique_ptr<RoomClient> client;
};

// The member's state file (DIR/.parley/state-ID.sqlite, or in --state), its
// folder made if missing; the folder also holds the device's files (device add).
std::filesystem::path state_file(const RoomOptions& o, const crypto::PublicKey& key);

// Where the member's device files are (protocol/device_files.h): DIR/.parley or
// --state, never the older $XDG location state_file() may still read state from.
std::filesystem::path device_folder(const RoomOptions& o);

// Loads and checks the identity, public_keys/ and the state database: all a
// command needs that does not talk to the relay (history).
std::unique_ptr<Session> load_local(const RoomOptions& o);

// Which room --room names on this device (local_rooms), joining o.invite
// first if there is one and the room is not known yet, and adopting a room
// made by an older Parley (found by its name hash). Throws UserError (exit 4)
// for a name this device does not know: nothing is ever created here.
store::StateStore::LocalRoom resolve_room(Session& s, RoomOptions& o);

// Records an invite's room on this device: its local name and the pinned
// genesis. Idempotent for the same invite; throws UserError when the name or
// the room id is already taken by something else.
store::StateStore::LocalRoom accept_invite(Session& s, const std::string& invite, const std::string& name,
                                           const std::string& server);

// Whether this device knows a room named `name` (joined, created, or made by
// an older Parley), for the user `o` names: asked before a password is.
bool room_known(const RoomOptions& o, const std::string& name);

enum class RoomUse { existing, create };

// Loads and checks everything, then builds the RoomClient (not yet connected)
// for the room --room names (RoomUse::existing), or for a new room with a
// random id (RoomUse::create: the password is asked twice at the prompt).
std::unique_ptr<Session> make_session(RoomOptions& o, RoomUse use);

std::string format_time(std::uint64_t ms);
// Replaces control characters so a message cannot drive the terminal.
std::string printable(std::string_view text);
// The warning for counters of `from` that never came (Delivery::missing_before).
std::string missing_reason(const std::string& from, const protocol::Delivery& d);

}  // namespace parley::client
