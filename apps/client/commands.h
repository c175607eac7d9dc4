// The client's commands. Each returns the process exit code and throws
// UserError (or crypto::KeyFileError, store::StoreError) for the user to read.
#pragma once

#include <filesystem>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "password.h"

namespace parley::client {

struct RoomOptions {
    std::string user;
    std::string room;
    std::string server;
    // --server given more than once, or servers = [...]: relays serving the
    // same rooms from one database, tried in turn when `server` cannot be reached.
    std::vector<std::string> more_servers;
    std::vector<std::string> server_flags;  // --server, as given (main() splits it)
    std::string server_default;  // when neither --server nor the room names one (a room opened by /join)
    std::string dir = ".";
    std::string ca;
    std::string state;
    std::string config;  // --config; empty: DIR/parley.toml if it exists
    std::string invite;  // `join INVITE`, or invite = "..." in parley.toml
    PasswordSource password;
    // send, listen, chat: how long to keep trying a relay that cannot be reached at start.
    unsigned retry_s = 60;
    // chat: "full" (the full-screen UI), "line" (one line per event, for pipes,
    // screen readers and TERM=dumb), "auto": full on a terminal that can.
    std::string ui = "auto";
    // chat: a sync this many seconds after the first line sent since the last
    // one (docs/PROTOCOL.md §5.1), so a withheld line shows within it.
    unsigned sync_interval_s = 300;
    // create: the protocol version of the room's records (docs/PROTOCOL.md §10 for 2).
    int protocol_version = 1;
    // chat, listen: in a room of version 2, write the next epoch when it is due
    // (after this many envelopes, or a day) and this member is next (§10.3).
    bool rotates = false;
    unsigned rotate_after = 1000;
    std::chrono::seconds retry() const { return std::chrono::seconds(retry_s); }
};

struct ListenOptions {
    std::optional<std::uint64_t> count;
    std::optional<double> timeout_s;
};

struct RekeyOptions {
    std::vector<std::string> add;
    std::vector<std::string> remove;
    std::vector<std::string> revoke;  // MEMBER.DEVICE, in a room of protocol version 2
    bool sync = false;  // make the roster equal public_keys/
};

int cmd_keygen(const std::string& user, const std::string& dir);
int cmd_fingerprint(const std::string& dir, const std::optional<std::string>& name);
int cmd_create(RoomOptions& o);
int cmd_join(RoomOptions& o);
int cmd_invite(RoomOptions& o);
int cmd_send(RoomOptions& o);
int cmd_listen(RoomOptions& o, const ListenOptions& l);
int cmd_rekey(RoomOptions& o, const RekeyOptions& r);
int cmd_chat(RoomOptions& o);
// `parley upgrade`: the room moves to protocol version 2 (docs/PROTOCOL.md §10.7).
int cmd_upgrade(RoomOptions& o, const std::vector<std::string>& without);
// `parley device add NAME` and `parley device show` (docs/PROTOCOL.md §10.5).
int cmd_device(RoomOptions& o, const std::string& action, const std::optional<std::string>& name, bool new_card);
int cmd_history(RoomOptions& o, std::size_t limit, bool json);

}  // namespace parley::client
