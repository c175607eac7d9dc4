// `parley chat`: the interactive line interface.
#include <algorithm>
#include <ctime>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "session_setup.h"
#include "terminal.h"
#include "user_error.h"

namespace parley::client {

namespace {

constexpr std::size_t recent_history_lines = 20;
// Pending lines are sealed like history rows, numbered above every relay
// number, so a pending row never opens as a history row or the other way.
constexpr std::uint64_t outbox_row_base = std::uint64_t{1} << 63;

constexpr const char* help_text =
    "commands:\n"
    "  /who               members of the room, their fingerprints, who you verified\n"
    "  /fingerprint       your fingerprint and the roster fingerprint\n"
    "  /verify            the room code to compare with the other members\n"
    "  /verify NAME       mark NAME's fingerprint as compared out of band\n"
    "  /rekey             start a new epoch with fresh keys (same roster)\n"
    "  /help              this text\n"
    "  /quit              leave (Ctrl-D too)";

std::string clock_time(std::uint64_t ms) {
    std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm {};
    localtime_r(&t, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
    return buf;
}

std::uint64_t now_ms() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch()).count());
}

class Chat {
public:
    Chat(Session& s, Terminal& term) : s_(s), client_(*s.client), term_(term) {}

    void show(const Incoming& in) {
        const auto& d = in.delivery;
        if (in.missing_last) {
            term_.print(clock_time(now_ms()) + " !! " + d.reason);
            return;
        }
        if (!d.accepted) {
            term_.print(clock_time(now_ms()) + " !! rejected a message: " + d.reason);
            return;
        }
        auto name = client_.display_name(*d.sender);
        if (d.missing_before > 0)
            term_.print("!! " + std::to_string(d.missing_before) + " message(s) from " + name + " missing");
        std::string line = clock_time(d.header.timestamp_ms) + " " + name + (d.own ? " (you)" : "") + ": " +
                           printable(d.text);
        auto skew = static_cast<std::int64_t>(d.header.timestamp_ms) - static_cast<std::int64_t>(now_ms());
        if (skew > 300000 || skew < -300000) line += "  [sender clock off by " + std::to_string(skew / 1000) + " s]";
        term_.print(line);
    }

    // Input while the client waits for the relay (reconnecting, sending): a
    // line is queued at once and shown as pending; leaving stops the wait.
    RoomClient::EarlyInput early(const Event& e) {
        if (e.kind == Event::Kind::input_eof || (e.kind == Event::Kind::input_line && e.text == "/quit"))
            return RoomClient::EarlyInput::leave;
        if (e.kind != Event::Kind::input_line || e.text.empty() || e.text[0] == '/') return RoomClient::EarlyInput::wait;
        queue(e.text);
        return RoomClient::EarlyInput::taken;
    }

    void handle(const Event& e) {
        if (e.kind == Event::Kind::input_eof) {
            quit_ = true;
            return;
        }
        if (e.kind == Event::Kind::input_paste) {
            paste_ = e.text;
            const auto lines = std::count(paste_.begin(), paste_.end(), '\n') + 1;
            term_.print("-- you pasted " + std::to_string(lines) +
                        " lines: send them as that many messages? y and Enter sends, anything else drops them");
            return;
        }
        const std::string& line = e.text;
        if (!paste_.empty()) {
            // The answer to the paste question.
            std::string pasted;
            std::swap(pasted, paste_);
            if (line != "y" && line != "yes") {
                term_.print("-- paste dropped");
                return;
            }
            // Each pasted line is text, even one that starts with '/'.
            std::size_t from = 0;
            for (std::size_t nl = 0; nl != std::string::npos; from = nl + 1) {
                nl = pasted.find('\n', from);
                say(pasted.substr(from, nl == std::string::npos ? nl : nl - from));
            }
            return;
        }
        if (line.empty()) return;
        if (line[0] != '/') {
            say(line);
            return;
        }
        std::istringstream in(line);
        std::string cmd, arg;
        in >> cmd >> arg;
        if (cmd == "/quit") quit_ = true;
        else if (cmd == "/help") term_.print(help_text);
        else if (cmd == "/who") who();
        else if (cmd == "/fingerprint") fingerprint();
        else if (cmd == "/verify") verify(arg);
        else if (cmd == "/rekey") rekey();
        else term_.print("!! unknown command " + cmd + " (try /help)");
    }

    bool quit() const { return quit_ || client_.closed() || client_.removed() || client_.blocked(); }

    // Lines queued by an earlier chat that ended while the relay was away.
    void announce_pending() {
        pending_ = s_.store->load_outbox(client_.room_id()).size();
        if (pending_ > 0)
            term_.print("-- " + std::to_string(pending_) + " line(s) typed while the relay was away are pending; "
                        "sent once it is reachable");
    }

    // Sends what is pending, oldest first, while the relay is there; each is
    // removed from the queue once the relay acknowledged it.
    void flush() {
        if (pending_ == 0 || !client_.connected() || quit_) return;
        const auto& room = client_.room_id();
        for (const auto& [id, sealed] : s_.store->load_outbox(room)) {
            auto entry = client_.history().open(room, outbox_row_base + id, sealed);
            if (!entry) {
                term_.print("!! a pending line does not open (damaged state file?); dropped");
                s_.store->remove_outbox(room, id);
                --pending_;
                continue;
            }
            try {
                client_.send_text(entry->text);
            } catch (const UserError& err) {
                if (!client_.connected() || client_.interrupted()) return;  // later, on the next connection
                term_.print(std::string("!! not sent: ") + err.what());
            }
            s_.store->remove_outbox(room, id);
            --pending_;
            term_.print(clock_time(now_ms()) + " " + own_name() + " (you): " + printable(entry->text) + "  (typed " +
                        clock_time(entry->timestamp_ms) + ", sent now)");
        }
    }

    std::size_t pending() const { return pending_; }

private:
    void who() {
        const auto& roster = client_.chain().head().roster;
        term_.print("room " + client_.room_name() + ", epoch " + std::to_string(client_.chain().head().epoch) + ", " +
                    std::to_string(roster.size()) + " members:");
        std::size_t width = 0;
        for (const auto& k : roster) width = std::max(width, client_.display_name(k).size());
        for (const auto& k : roster) {
            auto name = client_.display_name(k);
            term_.print("  " + name + std::string(width - name.size() + 2, ' ') + crypto::fingerprint(k) +
                        (s_.store->is_verified(k) ? "  verified" : "  not verified"));
        }
        for (const auto& line : client_.roster_differences()) term_.print("  note: " + line);
    }
    void fingerprint() {
        term_.print("you     " + crypto::fingerprint(s_.identity.public_key));
        const auto& roster = client_.chain().head().roster;
        term_.print("roster  " + crypto::format_fingerprint(crypto::roster_hash(roster)));
    }
    void verify(const std::string& name) {
        if (name.empty()) {
            term_.print("room code " + client_.room_code() + " (epoch " +
                        std::to_string(client_.chain().head().epoch) + "): compare it with the other members");
            return;
        }
        const auto* m = s_.keyring.by_name(name);
        if (m == nullptr) {
            term_.print("!! no member named " + name);
            return;
        }
        s_.store->mark_verified(m->key);
        term_.print("marked " + name + " (" + crypto::fingerprint(m->key) + ") as verified");
    }
    void rekey() {
        try {
            client_.rekey({});
            term_.print("-- new epoch " + std::to_string(client_.chain().head().epoch));
        } catch (const UserError& err) {
            term_.print(std::string("!! rekey failed: ") + err.what());
        }
    }

    std::string own_name() const { return client_.display_name(s_.identity.public_key); }

    // One message: after what is still pending, in order; straight out when connected.
    void say(const std::string& line) {
        if (line.empty()) return;
        if (!client_.connected() || pending_ > 0) {
            queue(line);
            return;
        }
        try {
            client_.send_text(line);
            term_.print(clock_time(now_ms()) + " " + own_name() + " (you): " + printable(line));
        } catch (const UserError& err) {
            if (client_.connected() || line.size() > wire::max_plaintext_bytes || client_.removed() ||
                client_.blocked())
                term_.print(std::string("!! not sent: ") + err.what());
            else
                queue(line);  // the relay went away meanwhile
        }
    }

    // Kept in the state file (sealed like history) until the relay has it.
    void queue(const std::string& line) {
        if (line.size() > wire::max_plaintext_bytes) {
            term_.print("!! not sent: message too long (" + std::to_string(line.size()) + " bytes, at most " +
                        std::to_string(wire::max_plaintext_bytes) + ")");
            return;
        }
        const auto& room = client_.room_id();
        const auto typed = now_ms();
        s_.store->add_outbox(room, [&](std::uint64_t id) {
            return client_.history().seal(room, {outbox_row_base + id, s_.identity.public_key, 0, 0, typed, true, line});
        });
        ++pending_;
        term_.print(clock_time(typed) + " " + own_name() + " (pending, not connected): " + printable(line));
    }

    Session& s_;
    RoomClient& client_;
    Terminal& term_;
    bool quit_ = false;
    std::size_t pending_ = 0;
    std::string paste_;  // a paste waiting for its y/n
};

}  // namespace

int cmd_chat(RoomOptions& o) {
    auto s = make_session(o, RoomUse::existing);
    auto& client = *s->client;
    client.on_notice([](const std::string& line) { std::cerr << "parley: " << line << "\n"; });
    // A mistyped password is asked for again (three tries), as a login would.
    for (int attempt = 1;; ++attempt) {
        try {
            client.open(o.retry());
            break;
        } catch (const WrongPassword& e) {
            if (!s->password_prompted || attempt == 3) throw;
            std::cerr << "parley: " << e.what() << "; try again\n";
            s->password = read_password(o.password, o.room, false);
            client.forget_room_secret();
        }
    }

    Terminal term(client.events());
    Chat chat(*s, term);
    // Leaving works while the relay is away too (a reconnect gives up at once),
    // and a line typed meanwhile is queued at once.
    client.on_early_input([&chat](const Event& e) { return chat.early(e); });
    client.on_notice([&term](const std::string& line) { term.print("-- " + line); });
    client.on_delivery([&chat](const Incoming& in) { chat.show(in); });
    client.on_input([&chat](const Event& e) { chat.handle(e); });
    // What this device already has, then whatever the relay kept since.
    const auto& cipher = client.history();
    const auto& room = client.room_id();
    for (const auto& [seq, sealed] : s->store->load_history(room, recent_history_lines)) {
        if (auto e = cipher.open(room, seq, sealed)) {
            term.print(clock_time(e->timestamp_ms) + " " + client.display_name(e->sender) + (e->own ? " (you)" : "") +
                       ": " + printable(e->text));
        }
    }
    client.join();  // as a reader: the relay's backlog follows
    term.print("-- joined room " + o.room + " (epoch " + std::to_string(client.chain().head().epoch) +
               ", room code " + client.room_code() + "); /help for commands");
    for (const auto& line : client.roster_differences()) term.print("-- note: " + line);
    term.start();
    client.set_reconnect(true);
    chat.announce_pending();
    client.run_until(
        [&chat] {
            chat.flush();
            return chat.quit();
        },
        std::chrono::hours(24 * 365));
    if (chat.pending() > 0)
        std::cerr << "parley: " << chat.pending()
                  << " line(s) typed while the relay was away are not sent yet; the next chat sends them\n";
    if (client.removed()) return 5;
    if (client.blocked()) return 6;
    if (client.closed()) {
        term.print("-- the relay closed the connection");
        return 1;
    }
    return 0;
}

}  // namespace parley::client
