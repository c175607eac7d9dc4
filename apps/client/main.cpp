// parley: the client. Wiring only: flags to commands, errors to messages.
//
// Message rules (as age's): lowercase, no final period, "parley: " first, and a
// "hint:" line saying what to do when there is something to do.
#include <sys/prctl.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include <filesystem>
#include <optional>

#include "commands.h"
#include "config/cli_errors.h"
#include "config/client_config.h"
#include "password.h"
#include "crypto/key_file.h"
#include "crypto/primitives.h"
#include "store/state_store.h"
#include "user_error.h"

using namespace parley::client;

namespace {

// Key material must not end up in a core file.
void disable_core_dumps() {
    rlimit none{0, 0};
    ::setrlimit(RLIMIT_CORE, &none);
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

void add_room_flags(CLI::App* cmd, RoomOptions& o) {
    cmd->add_option("--user", o.user, "your name: DIR/NAME.pem is your private key")->required();
    cmd->add_option("--room", o.room,
                    "the room's local name (never sent to the relay; default: room in DIR/parley.toml)");
    cmd->add_option("--server", o.server_flags,
                    "relay URL, ws://host:port or wss://host:port (default: the room's, or server in "
                    "DIR/parley.toml); again for each further relay serving the same rooms, tried in turn")
        ->type_size(1)
        ->allow_extra_args(false)  // one URL per --server: `send --server URL TEXT` keeps its TEXT
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    cmd->add_option("--dir", o.dir, "folder with NAME.pem, public_keys/ and parley.toml (default: .)");
    cmd->add_option("--config", o.config, "settings file (default: DIR/parley.toml, if there is one)");
    cmd->add_option("--ca", o.ca, "trust this CA or self-signed certificate file for wss://");
    cmd->add_option("--state", o.state, "local state folder (default: DIR/.parley, beside the key)");
    cmd->add_option("--password", o.password.masked,
                    "room password (visible to other local users: prefer the prompt, PARLEY_PASSWORD or --password-file)");
    cmd->add_option("--password-file", o.password.file, "read the room password from this file");
}

// Fills what the command line left out from parley.toml; a setting still
// missing is an error that says where it can go.
void apply_config(RoomOptions& o, bool room_needed = true) {
    const bool explicit_file = !o.config.empty();
    const std::filesystem::path file = explicit_file ? std::filesystem::path(o.config)
                                                     : std::filesystem::path(o.dir) / "parley.toml";
    std::optional<parley::config::ClientConfig> config;
    try {
        config = parley::config::load_client_config(file);
    } catch (const parley::config::ConfigError& e) {
        throw UserError(e.what(), "fix the file, or move it away and pass --room and --server");
    }
    if (!config && explicit_file) throw UserError("no settings file " + file.string());
    if (config) {
        if (o.room.empty() && config->room) o.room = *config->room;
        if (o.invite.empty() && config->invite) o.invite = *config->invite;
        if (o.server.empty() && !config->servers.empty()) {
            o.server = config->servers.front();
            o.more_servers.assign(config->servers.begin() + 1, config->servers.end());
        }
        if (o.ca.empty() && config->ca) o.ca = parley::config::resolve(file, *config->ca);
        if (o.state.empty() && config->state) o.state = parley::config::resolve(file, *config->state);
    }
    const std::string where = file.string();
    if (room_needed && o.room.empty() && o.invite.empty())
        throw UserError("no room given", "pass --room NAME, or put room = \"NAME\" in " + where);
}

int report(const std::string& message, const std::string& hint) {
    std::cerr << "parley: error: " << message << "\n";
    if (!hint.empty()) std::cerr << "hint: " << hint << "\n";
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    disable_core_dumps();
    parley::crypto::init();

    CLI::App app{"parley: end-to-end encrypted chat for a small group, through a relay you do not trust"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "parley " PARLEY_VERSION);
    app.footer("exit codes: 0 done, 1 error, 2 usage, 3 timeout (listen), 4 no such room, "
               "5 not (or no longer) in the room, 6 room blocked (a fork or a bad record)");

    std::string user, dir = ".";
    auto* keygen = app.add_subcommand("keygen", "make an Ed25519 key pair: DIR/NAME.pem and DIR/public_keys/NAME.pem");
    keygen->add_option("--user", user, "member name")->required();
    keygen->add_option("--dir", dir, "where to write (default: .)");

    std::optional<std::string> fp_name;
    auto* fingerprint = app.add_subcommand("fingerprint", "show a member's fingerprint, or every member's and the roster's");
    fingerprint->add_option("--dir", dir, "folder with public_keys/ (default: .)");
    fingerprint->add_option("name", fp_name, "member name (or a key file)");

    RoomOptions room;
    auto* create = app.add_subcommand(
        "create", "create a room whose roster is every key in public_keys/; prints its invite on stdout");
    add_room_flags(create, room);
    create->add_option("--protocol", room.protocol_version,
                       "1 (default), or 2: forward secrecy per message and devices, each brought in by its card in "
                       "public_keys/ (docs/PROTOCOL.md §10; not every command reads it yet)")
        ->check(CLI::IsMember({1, 2}));
    auto* join = app.add_subcommand("join", "join a room from its invite (the line 'parley create' printed)");
    add_room_flags(join, room);
    join->add_option("invite", room.invite, "the invite: parley-invite:1:...")->required();
    auto* invite = app.add_subcommand("invite", "print the invite of a room this device knows");
    add_room_flags(invite, room);
    auto* chat = app.add_subcommand("chat", "interactive chat");
    add_room_flags(chat, room);
    auto* send = app.add_subcommand("send", "send each line of standard input as one message");
    add_room_flags(send, room);
    ListenOptions listen_opts;
    auto* listen = app.add_subcommand("listen", "print each message as one JSON line");
    add_room_flags(listen, room);
    for (auto* cmd : {chat, send, listen}) {
        cmd->add_option("--retry", room.retry_s,
                        "keep trying a relay that cannot be reached at start for this many seconds (default 60)")
            ->check(CLI::Range(0u, 86400u));
    }
    chat->add_option("--ui", room.ui,
                     "full: the full-screen interface; line: one line per event (pipes, screen readers); "
                     "auto (default): full on a terminal that can")
        ->check(CLI::IsMember({"auto", "full", "line"}));
    chat->add_option("--sync-interval", room.sync_interval_s,
                     "after a line is sent, send a sync within this many seconds, so a line the relay withholds "
                     "shows to the others (default 300)")
        ->check(CLI::Range(1u, 86400u));
    listen->add_option("--count", listen_opts.count, "exit after this many messages");
    listen->add_option("--timeout", listen_opts.timeout_s, "exit after this many seconds (exit code 3)");
    for (auto* cmd : {chat, listen}) {
        cmd->add_option("--rotate-after", room.rotate_after,
                        "rooms of protocol version 2: new keys after this many messages (default 1000) or a day, "
                        "written by the member whose turn it is")
            ->check(CLI::Range(10u, 1000u));
    }
    RekeyOptions rekey_opts;
    auto* rekey = app.add_subcommand("rekey", "write the next epoch: fresh keys, explicit roster changes");
    add_room_flags(rekey, room);
    rekey->add_option("--add", rekey_opts.add, "add the member public_keys/NAME.pem");
    rekey->add_option("--remove", rekey_opts.remove, "remove a member (name or key id prefix)");
    rekey->add_option("--revoke", rekey_opts.revoke,
                      "protocol version 2: revoke a device, named MEMBER.DEVICE (as /who lists it)");
    rekey->add_flag("--sync", rekey_opts.sync, "make the roster equal to public_keys/");
    std::vector<std::string> upgrade_without;
    auto* upgrade = app.add_subcommand(
        "upgrade", "move a room to protocol version 2: every member's devices come in by their cards in public_keys/");
    add_room_flags(upgrade, room);
    upgrade->add_option("--without", upgrade_without, "remove these members in the same step (no card)");

    // Before CLI11 copies argv: take the password out of it.
    room.password.argv_password = take_argv_password(argc, argv);
    std::size_t history_limit = 50;
    bool history_json = false;
    auto* history = app.add_subcommand("history", "print this device's stored messages of a room (no relay needed)");
    history->add_option("--user", room.user, "your name: DIR/NAME.pem is your private key")->required();
    history->add_option("--room", room.room, "room name (default: room in DIR/parley.toml)");
    history->add_option("--dir", room.dir, "folder with NAME.pem, public_keys/ and parley.toml (default: .)");
    history->add_option("--config", room.config, "settings file (default: DIR/parley.toml, if there is one)");
    history->add_option("--state", room.state, "local state folder (default: DIR/.parley, beside the key)");
    history->add_option("--password-file", room.password.file, "read the room password from this file");
    history->add_option("--password", room.password.masked,
                        "room password (visible to other local users: prefer the prompt, PARLEY_PASSWORD or "
                        "--password-file)");
    history->add_option("--limit", history_limit, "the newest N messages (default 50)");
    history->add_flag("--json", history_json, "one JSON object per line, as listen prints");

    std::string device_action;
    std::optional<std::string> device_name;
    auto* device = app.add_subcommand(
        "device", "'device add NAME': make this computer's device key, certified by yours; 'device show': name it; 'device card': its card for public_keys/");
    bool device_new_card = false;
    device->add_option("action", device_action, "add, show or card")
        ->required()
        ->check(CLI::IsMember({"add", "show", "card"}));
    device->add_flag("--new", device_new_card, "card: replace the joining key and the card (the old key is erased)");
    device->add_option("name", device_name, "the device's name (add): 1 to 32 of A-Z a-z 0-9 . _ -");
    device->add_option("--user", room.user, "your name: DIR/NAME.pem is your private key")->required();
    device->add_option("--dir", room.dir, "folder with NAME.pem and parley.toml (default: .)");
    device->add_option("--config", room.config, "settings file (default: DIR/parley.toml, if there is one)");
    device->add_option("--state", room.state, "local state folder, where the device's files go (default: DIR/.parley)");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return parley::config::usage_error(app, e, "parley");
    }

    if (!room.server_flags.empty()) {
        room.server = room.server_flags.front();
        room.more_servers.assign(room.server_flags.begin() + 1, room.server_flags.end());
    }
    try {
        if (*keygen) return cmd_keygen(user, dir);
        if (*fingerprint) return cmd_fingerprint(dir, fp_name);
        if (*join) {
            // The invite names the room and its relay: parley.toml's room and
            // server are for the room it names (or none); only flags win here.
            const std::string invite_arg = room.invite, room_flag = room.room, server_flag = room.server;
            const auto more_flags = room.more_servers;
            apply_config(room);
            room.invite = invite_arg;
            room.room = room_flag;
            room.server = server_flag;
            room.more_servers = more_flags;
        } else if (*create || *chat || *send || *listen || *rekey || *upgrade || *history || *invite) {
            apply_config(room);
        }
        if (*create) {
            if (room.server.empty())
                throw UserError("no relay given",
                                "pass --server wss://HOST:PORT, or put server = \"wss://HOST:PORT\" in parley.toml");
            return cmd_create(room);
        }
        if (*join) return cmd_join(room);
        if (*invite) return cmd_invite(room);
        room.rotates = *chat || *listen;
        if (*chat) return cmd_chat(room);
        if (*send) return cmd_send(room);
        if (*listen) return cmd_listen(room, listen_opts);
        if (*rekey) return cmd_rekey(room, rekey_opts);
        if (*upgrade) return cmd_upgrade(room, upgrade_without);
        if (*history) return cmd_history(room, history_limit, history_json);
        if (*device) {
            apply_config(room, false);
            return cmd_device(room, device_action, device_name, device_new_card);
        }
    } catch (const UserError& e) {
        report(e.what(), e.hint());
        return e.exit_code();
    } catch (const parley::crypto::KeyFileError& e) {
        return report(e.what(), e.hint());
    } catch (const parley::store::StoreError& e) {
        return report(e.what(), "");
    } catch (const std::exception& e) {
        return report(e.what(), "");
    }
    return 1;
}
