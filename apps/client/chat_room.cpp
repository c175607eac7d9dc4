#include "chat_room.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <set>
#include <sstream>

#include "screen.h"
#include "user_error.h"

namespace parley::client {

const char* const room_help_text =
    "room commands:\n"
    "  /who               members of the room, their fingerprints and devices, who you verified\n"
    "  /fingerprint       your fingerprint and the roster fingerprint\n"
    "  /verify            the room code to compare with the other members\n"
    "  /verify NAME       mark NAME's fingerprint as compared out of band\n"
    "  /rekey             start a new epoch with fresh keys (same roster)\n"
    "  /help              this text\n"
    "  /quit              leave (Ctrl-D too)";

std::string clock_time(std::uint64_t ms) {
    std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
    return buf;
}

std::uint64_t now_ms() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

namespace {

// Pending lines are sealed like history rows, numbered above every relay
// number, so a pending row never opens as a history row or the other way.
constexpr std::uint64_t outbox_row_base = std::uint64_t{1} << 63;

class Chat {
public:
    Chat(Session& s, ChatView& view, std::string user)
        : s_(s), client_(*s.client), view_(view), user_(std::move(user)) {}

    ChatLine message(const crypto::PublicKey& sender, std::uint64_t time_ms, std::string_view text, bool own) {
        auto line = make_line(ChatLine::Kind::message, printable(text), time_ms);
        line.name = client_.display_name(sender);
        line.colour = member_colour(sender[0]);
        line.own = own ? ChatLine::Own::sent : ChatLine::Own::no;
        line.mention = !own && mentions(line.text, user_);
        return line;
    }

    void show(const Incoming& in) {
        const auto& d = in.delivery;
        if (in.missing_last) {
            view_.line(warning(d.reason, now_ms()));
            return;
        }
        if (!d.accepted) {
            view_.line(warning("rejected a message: " + d.reason, now_ms()));
            return;
        }
        if (d.missing_before > 0) view_.line(warning(missing_reason(client_.display_name(*d.sender), d)));
        if (in.gap_only || d.sync) return;  // a sync shows nothing of its own
        // Our own message that another process of ours (send) stored, shown
        // from history a moment ago: the backlog brings it once more.
        if (d.own && own_shown_.count({d.header.epoch, d.header.counter}) > 0) return;
        auto line = message(*d.sender, d.header.timestamp_ms, d.text, d.own);
        auto skew = static_cast<std::int64_t>(d.header.timestamp_ms) - static_cast<std::int64_t>(now_ms());
        if (skew > 300000 || skew < -300000) line.note = "  [sender clock off by " + std::to_string(skew / 1000) + " s]";
        view_.line(std::move(line));
    }

    // Input while the client waits for the relay (reconnecting, an envelope
    // on its way): a line is queued at once, in order, in the state file, and
    // shown as pending if the relay is away (connected, it shows once sent, a
    // moment later); leaving stops the wait.
    RoomClient::EarlyInput early(const Event& e) {
        if (e.kind == Event::Kind::input_eof || (e.kind == Event::Kind::input_line && e.text == "/quit"))
            return RoomClient::EarlyInput::leave;
        if (e.kind != Event::Kind::input_line || e.text.empty() || e.text[0] == '/') return RoomClient::EarlyInput::wait;
        queue(e.text, !client_.connected());
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
            view_.line(notice("you pasted " + std::to_string(lines) +
                              " lines: send them as that many messages? y and Enter sends, anything else drops them"));
            return;
        }
        const std::string& line = e.text;
        if (!paste_.empty()) {
            answer_paste(line);
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
        else if (cmd == "/help") view_.line(info(room_help_text));
        else if (cmd == "/who") who();
        else if (cmd == "/fingerprint") fingerprint();
        else if (cmd == "/verify") verify(arg);
        else if (cmd == "/rekey") rekey();
        else view_.line(warning("unknown command " + printable(cmd) + " (try /help)"));
    }

    bool quit() const { return quit_ || client_.closed() || client_.removed() || client_.blocked(); }

    // Lines queued by an earlier chat that ended while the relay was away.
    void announce_pending() {
        pending_ = s_.store->load_outbox(client_.room_id()).size();
        if (pending_ > 0)
            view_.line(notice(std::to_string(pending_) + " line(s) typed while the relay was away are pending; "
                              "sent once it is reachable"));
    }

    // Sends what is pending, oldest first, while the relay is there; each is
    // removed from the queue once the relay acknowledged it.
    // `leaving`: after /quit, for what was typed while the line before was on
    // its way (each Ack waited for as a leaving client does, RoomClient::send_envelope).
    void flush(bool leaving = false) {
        if (pending_ == 0 || !client_.connected() || (quit_ && !leaving)) return;
        const auto& room = client_.room_id();
        for (const auto& [id, sealed] : s_.store->load_outbox(room)) {
            auto entry = client_.history().open(room, outbox_row_base + id, sealed);
            if (!entry) {
                view_.line(warning("a pending line does not open (damaged state file?); dropped"));
                s_.store->remove_outbox(room, id);
                --pending_;
                continue;
            }
            try {
                client_.send_text(entry->text);
            } catch (const UserError& err) {
                if (!client_.connected() || client_.interrupted()) return;  // later, on the next connection
                view_.line(warning(std::string("not sent: ") + err.what()));
            }
            s_.store->remove_outbox(room, id);
            --pending_;
            auto sent = message(s_.identity.public_key, now_ms(), entry->text, true);
            // (A line held only while the one before was on its way was never shown pending.)
            if (quiet_.erase(id) == 0) sent.note = "  (typed " + clock_time(entry->timestamp_ms) + ", sent now)";
            view_.line(std::move(sent));
        }
    }

    std::size_t pending() const { return pending_; }
    void shown_from_history(std::uint64_t epoch, std::uint64_t counter) { own_shown_.insert({epoch, counter}); }

    RoomStatus status() const {
        RoomStatus st;
        st.epoch = client_.chain().head().epoch;
        st.members = client_.chain().head().roster.size();
        st.link = quit() ? RoomStatus::Link::ended
                         : client_.connected() ? RoomStatus::Link::connected : RoomStatus::Link::connecting;
        st.pending = pending_;
        return st;
    }

private:
    void answer_paste(const std::string& answer) {
        std::string pasted;
        std::swap(pasted, paste_);
        if (answer != "y" && answer != "yes") {
            view_.line(notice("paste dropped"));
            return;
        }
        // Each pasted line is text, even one that starts with '/'.
        std::size_t from = 0;
        for (std::size_t nl = 0; nl != std::string::npos; from = nl + 1) {
            nl = pasted.find('\n', from);
            say(pasted.substr(from, nl == std::string::npos ? nl : nl - from));
        }
    }

    void who() {
        const auto& roster = client_.chain().head().roster;
        view_.line(info("room " + client_.room_name() + ", epoch " + std::to_string(client_.chain().head().epoch) +
                        ", " + std::to_string(roster.size()) + " members:"));
        std::size_t width = 0;
        for (const auto& k : roster) width = std::max(width, client_.display_name(k).size());
        const auto& head = client_.chain().head();
        const auto* mine = client_.device();
        for (const auto& k : roster) {
            auto name = client_.display_name(k);
            view_.line(info("  " + name + std::string(width - name.size() + 2, ' ') + crypto::fingerprint(k) +
                            (s_.store->is_verified(k) ? "  verified" : "  not verified")));
            // Version 2: the member's devices, each certified by that key (§10.5).
            for (const auto& d : head.devices) {
                if (d.member() != k) continue;
                view_.line(info("    device " + d.certificate.name + "  " + crypto::fingerprint(d.key()) +
                                (mine && mine->key() == d.key() ? "  (this device)" : "")));
            }
        }
        for (const auto& line : client_.roster_differences()) view_.line(info("  note: " + line));
    }

    void fingerprint() {
        view_.line(info("you     " + crypto::fingerprint(s_.identity.public_key)));
        const auto& roster = client_.chain().head().roster;
        view_.line(info("roster  " + crypto::format_fingerprint(crypto::roster_hash(roster))));
    }

    void verify(const std::string& name) {
        if (name.empty()) {
            view_.line(info("room code " + client_.room_code() + " (epoch " +
                            std::to_string(client_.chain().head().epoch) + "): compare it with the other members"));
            return;
        }
        const auto* m = s_.keyring.by_name(name);
        if (m == nullptr) {
            view_.line(warning("no member named " + printable(name)));
            return;
        }
        s_.store->mark_verified(m->key);
        view_.line(info("marked " + name + " (" + crypto::fingerprint(m->key) + ") as verified"));
    }

    void rekey() {
        try {
            client_.rekey({});
            view_.line(notice("new epoch " + std::to_string(client_.chain().head().epoch)));
        } catch (const UserError& err) {
            view_.line(warning(std::string("rekey failed: ") + err.what()));
        }
    }

    // One message: after what is still pending, in order; straight out when connected.
    void say(const std::string& line) {
        if (line.empty()) return;
        if (!client_.connected() || pending_ > 0) {
            queue(line);
            return;
        }
        try {
            client_.send_text(line);
            view_.line(message(s_.identity.public_key, now_ms(), line, true));
        } catch (const UserError& err) {
            if (client_.connected() || line.size() > wire::max_plaintext_bytes || client_.removed() ||
                client_.blocked())
                view_.line(warning(std::string("not sent: ") + err.what()));
            else
                queue(line);  // the relay went away meanwhile
        }
    }

    // Kept in the state file (sealed like history) until the relay has it;
    // shown as pending when `show`.
    void queue(const std::string& line, bool show = true) {
        if (line.size() > wire::max_plaintext_bytes) {
            view_.line(warning("not sent: message too long (" + std::to_string(line.size()) + " bytes, at most " +
                               std::to_string(wire::max_plaintext_bytes) + ")"));
            return;
        }
        const auto& room = client_.room_id();
        const auto typed = now_ms();
        s_.store->add_outbox(room, [&](std::uint64_t id) {
            if (!show) quiet_.insert(id);
            return client_.history().seal(room, {outbox_row_base + id, s_.identity.public_key, 0, 0, typed, true, line});
        });
        ++pending_;
        if (show) {
            auto shown = message(s_.identity.public_key, typed, line, true);
            shown.own = ChatLine::Own::pending;
            view_.line(std::move(shown));
        }
        view_.status(status());  // while reconnecting too: the loop that says it waits for the relay
    }

    Session& s_;
    RoomClient& client_;
    ChatView& view_;
    std::string user_;
    bool quit_ = false;
    std::set<std::uint64_t> quiet_;  // outbox ids queued while connected, not shown as pending
    std::size_t pending_ = 0;
    std::string paste_;  // a paste waiting for its y/n
    std::set<std::pair<std::uint64_t, std::uint64_t>> own_shown_;  // (epoch, counter) of ours shown from history
};

}  // namespace

RoomEnd run_room_chat(Session& s, ChatView& view, const std::string& user, std::size_t history_lines,
                      const std::function<void()>& joined) {
    auto& client = *s.client;
    Chat chat(s, view, user);
    // Leaving works while the relay is away too (a reconnect gives up at once),
    // and a line typed meanwhile is queued at once.
    client.on_early_input([&chat](const Event& e) { return chat.early(e); });
    client.on_notice([&view](const std::string& line) { view.line(notice(line)); });
    client.on_delivery([&chat](const Incoming& in) { chat.show(in); });
    client.on_input([&chat](const Event& e) { chat.handle(e); });
    // What this device already has, then whatever the relay kept since.
    const auto& cipher = client.history();
    const auto& room = client.room_id();
    for (const auto& [seq, sealed] : s.store->load_history(room, history_lines)) {
        if (auto e = cipher.open(room, seq, sealed)) {
            view.line(chat.message(e->sender, e->timestamp_ms, e->text, e->own));
            if (e->own) chat.shown_from_history(e->epoch, e->counter);
        }
    }
    view.history_shown();
    client.join();  // as a reader: the relay's backlog follows
    view.line(notice("joined room " + client.room_name() + " (epoch " + std::to_string(client.chain().head().epoch) +
                     ", room code " + client.room_code() + "); /help for commands"));
    for (const auto& line : client.roster_differences()) view.line(notice("note: " + line));
    joined();
    client.set_reconnect(true);
    chat.announce_pending();
    client.run_until(
        [&] {
            chat.flush();
            view.status(chat.status());
            return chat.quit();
        },
        std::chrono::hours(24 * 365));
    chat.flush(true);
    // Leaving: a last sync, so what we sent since the one before shows as
    // missing to a reader the relay withheld it from. Not worth a wait.
    if (client.connected() && client.sync_owed() && !client.interrupted()) {
        try {
            client.send_sync(protocol::SyncReason::leaving, std::chrono::seconds(2));
        } catch (const UserError&) {
        }
    }
    RoomEnd end{0, chat.pending()};
    if (client.removed()) end.code = 5;
    else if (client.blocked()) end.code = 6;
    else if (client.closed()) {
        view.line(notice("the relay closed the connection"));
        end.code = 1;
    }
    view.status(chat.status());
    return end;
}

}  // namespace parley::client
