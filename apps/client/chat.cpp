// `parley chat`: opens the room (asking again for a mistyped password), then
// runs it in the full-screen UI (tui_chat.cpp) or, for pipes, screen readers
// and TERM=dumb, in the line UI here: one printed line per event.
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "chat_room.h"
#include "commands.h"
#include "screen.h"
#include "session_setup.h"
#include "terminal.h"
#include "tui_chat.h"
#include "user_error.h"

namespace parley::client {

namespace {

constexpr std::size_t line_ui_history_lines = 20;

// The text the line UI prints for a line.
std::string line_text(const ChatLine& l) {
    switch (l.kind) {
        case ChatLine::Kind::message: {
            const char* own = l.own == ChatLine::Own::sent      ? " (you)"
                              : l.own == ChatLine::Own::pending ? " (pending, not connected)"
                                                                : "";
            return clock_time(l.time_ms) + " " + l.name + own + ": " + l.text + l.note;
        }
        case ChatLine::Kind::notice: return "-- " + l.text + l.note;
        case ChatLine::Kind::warning: return (l.time_ms != 0 ? clock_time(l.time_ms) + " " : "") + "!! " + l.text;
        case ChatLine::Kind::info:
        case ChatLine::Kind::day: return l.text;
    }
    return l.text;
}

class LineView : public ChatView {
public:
    explicit LineView(Terminal& term) : term_(term) {}
    void line(ChatLine l) override {
        if (auto day = days_.before(l)) term_.print(*day);  // the time alone says nothing of the date
        term_.print(line_text(l));
    }

private:
    Terminal& term_;
    DayTracker days_;
};

bool full_screen(const RoomOptions& o) {
    if (o.ui == "full") return true;
    if (o.ui == "line") return false;
    const char* term = std::getenv("TERM");
    return ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO) && term != nullptr && *term != '\0' &&
           std::strcmp(term, "dumb") != 0;
}

}  // namespace

int cmd_chat(RoomOptions& o) {
    if (o.ui == "full" && (!::isatty(STDIN_FILENO) || !::isatty(STDOUT_FILENO)))
        throw UserError("--ui full needs a terminal", "use --ui line in a pipe", 2);
    const std::string server_given = o.server;  // from the flags or parley.toml: for rooms /join opens
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
    if (full_screen(o)) return run_tui_chat(std::move(s), o, server_given);

    Terminal term(client.events());
    LineView view(term);
    const auto end = run_room_chat(*s, view, o.user, line_ui_history_lines, [&term] { term.start(); });
    if (end.pending > 0)
        std::cerr << "parley: " << end.pending
                  << " line(s) typed while the relay was away are not sent yet; the next chat sends them\n";
    return end.code;
}

}  // namespace parley::client
