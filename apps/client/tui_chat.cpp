#include "tui_chat.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <list>
#include <sstream>
#include <thread>

#include <sodium.h>

#include "chat_room.h"
#include "protocol/invite.h"
#include "room_thread.h"
#include "screen.h"
#include "terminal.h"
#include "tui.h"
#include "user_error.h"

namespace parley::client {

namespace {

using namespace std::chrono_literals;

constexpr int password_tries = 3;
constexpr auto leave_wait = 3s;  // for the rooms' threads at the end, then we go anyway
constexpr std::size_t max_password_bytes = 1024;

const char* const window_help_text =
    "window commands:\n"
    "  /join NAME         open room NAME in a new window (asks for its password)\n"
    "  /part              close this window and leave its room\n"
    "  /win N             go to window N (Alt-1..Alt-9 too; Ctrl-N, Ctrl-P: next, previous)\n"
    "keys: PgUp, PgDn scroll back; Left, Right, Home, End, Ctrl-A/E/K/U/W edit; Up, Down: what you typed\n"
    "  before; Ctrl-L draws the screen again; Ctrl-C or /quit leaves";


struct Room {
    Screen::WindowId window = 0;
    std::string name;
    std::shared_ptr<RoomLink> link = std::make_shared<RoomLink>();
    std::thread thread;
    bool ended = false;
    bool closed = false;  // its window is gone (/part)
    int wrong_passwords = 0;
    RoomEnd end;
};

// The password of a room being joined, typed into the input line (never into
// the line editor's strings: it lives in locked memory and is wiped).
struct PasswordEntry {
    Room* room = nullptr;
    crypto::SecretBuffer typed{max_password_bytes};
    std::size_t bytes = 0;
};

class TuiChat {
public:
    TuiChat(Screen& screen, Tui& tui, UiQueue& ui, const RoomOptions& o, std::string server_given)
        : screen_(screen), tui_(tui), ui_(ui), o_(o), server_given_(std::move(server_given)) {}

    void start_first(std::unique_ptr<Session> s) {
        auto& room = add_room(o_.room);
        first_ = &room;
        room.thread = std::thread(run_room, std::move(s), room.link, std::ref(ui_), room.window, o_.user);
    }

    void run() {
        while (!quit_) {
            auto in = tui_.wait(500ms);
            for (auto& line : in.stderr_lines) screen_.add(screen_.active(), notice(printable(line)));
            for (auto& key : in.keys) {
                if (password_) password_key(key);
                else key_pressed(key);
            }
            if (in.eof) quit_ = true;
            for (auto& e : ui_.take()) apply(e);
            tui_.draw(screen_.render(tui_.columns(), tui_.rows(), now_ms()));
            tui_.title(screen_.title());
            if (bell_) tui_.bell();
            bell_ = false;
        }
        for (auto& room : rooms_) room.link->input({Event::Kind::input_eof, {}, {}});
    }

    // After the terminal is restored: waits a little for the rooms to close,
    // says what is still pending, and returns the exit code.
    int finish() {
        const auto give_up = std::chrono::steady_clock::now() + leave_wait;
        auto all_done = [&] {
            for (auto& room : rooms_)
                if (room.thread.joinable() && !room.link->finished) return false;
            return true;
        };
        while (!all_done() && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(20ms);
        for (auto& e : ui_.take())
            if (e.kind == UiEvent::Kind::ended) ended(e);
        int code = first_ != nullptr && first_->ended ? first_->end.code : 0;
        for (auto& room : rooms_) {
            if (room.end.pending > 0)
                std::cerr << "parley: " << room.end.pending << " line(s) typed in " << room.name
                          << " while the relay was away are not sent yet; the next chat sends them\n";
        }
        if (!all_done()) {
            // A room still waiting for its relay (a connect, a reply): what was
            // typed is in the state file already, so leaving now loses nothing.
            std::cerr << "parley: a room was still waiting for its relay; left without it\n";
            std::fflush(nullptr);
            std::_Exit(code);
        }
        for (auto& room : rooms_)
            if (room.thread.joinable()) room.thread.join();
        return code;
    }

private:
    Room& add_room(const std::string& name) {
        auto& room = rooms_.emplace_back();
        room.name = name;
        room.window = screen_.open(name);
        screen_.activate_id(room.window);
        return room;
    }

    Room* active_room() {
        for (auto& room : rooms_)
            if (room.window == screen_.active() && !room.closed) return &room;
        return nullptr;
    }

    Room* room_of(Screen::WindowId window) {
        for (auto& room : rooms_)
            if (room.window == window) return &room;
        return nullptr;
    }

    void key_pressed(const KeyEvent& key) {
        auto& input = screen_.input();
        using K = KeyEvent::Kind;
        switch (key.kind) {
            case K::text: input.insert(key.text); break;
            case K::edit: input.key(key.edit); break;
            case K::enter: submit(*input.key(LineEditor::Key::enter)); break;
            case K::interrupt: quit_ = true; break;
            case K::ctrl_d:
                if (input.text().empty()) quit_ = true;
                else input.key(LineEditor::Key::del);
                break;
            case K::paste: paste(key.text); break;
            case K::page_up: screen_.page_up(); break;
            case K::page_down: screen_.page_down(); break;
            case K::alt_digit: screen_.activate(key.digit == 0 ? 9 : static_cast<std::size_t>(key.digit - 1)); break;
            case K::next_window: screen_.next_window(1); break;
            case K::previous_window: screen_.next_window(-1); break;
            case K::redraw: tui_.repaint(); break;
        }
    }

    // Up to a few lines go as typed; more are sent only once confirmed (the room asks).
    void paste(const std::string& text) {
        auto lines = screen_.input().paste(text);
        auto* room = active_room();
        if (room == nullptr || lines.empty()) return;
        if (lines.size() > Terminal::paste_confirm_lines) {
            std::string joined;
            for (const auto& l : lines) joined += (joined.empty() ? "" : "\n") + l;
            room->link->input({Event::Kind::input_paste, {}, joined});
        } else {
            for (auto& l : lines) room->link->input({Event::Kind::input_line, {}, l});
        }
    }

    void submit(const std::string& line) {
        if (line.empty()) return;
        if (line[0] == '/') {
            std::istringstream in(line);
            std::string cmd, arg;
            in >> cmd >> arg;
            if (cmd == "/quit") {
                quit_ = true;
                return;
            }
            if (cmd == "/join") return join(arg);
            if (cmd == "/part") return part();
            if (cmd == "/win") {
                if (arg.empty() || arg.find_first_not_of("0123456789") != std::string::npos || arg.size() > 3 ||
                    !screen_.activate(static_cast<std::size_t>(std::stoul(arg)) - 1))
                    screen_.add(screen_.active(), warning("no window " + printable(arg)));
                return;
            }
            if (cmd == "/help") {
                screen_.add(screen_.active(), info(room_help_text));
                screen_.add(screen_.active(), info(window_help_text));
                return;
            }
        }
        auto* room = active_room();
        if (room == nullptr || room->ended) {
            screen_.add(screen_.active(), warning("this room is closed: /part closes its window, /quit leaves"));
            return;
        }
        room->link->input({Event::Kind::input_line, {}, line});
    }

    void join(const std::string& name) {
        if (!protocol::valid_room_name(name)) {
            screen_.add(screen_.active(), warning("/join NAME: a room name this device knows (1 to 64 of A-Z a-z 0-9 . _ -)"));
            return;
        }
        if (auto known = screen_.find(name)) {
            screen_.activate_id(*known);
            return;
        }
        try {
            if (!room_known(o_, name)) {
                screen_.add(screen_.active(),
                            warning("no room named " + name + " on this device (hint: join it first with "
                                    "'parley join INVITE', or create it with 'parley create --room " + name + "')"));
                return;
            }
        } catch (const std::exception&) {
            // Cannot tell (the state file is busy, say): the room's own thread will say what is wrong.
        }
        auto& room = add_room(name);
        ask_password(room);
    }

    void ask_password(Room& room) {
        password_.emplace();
        password_->room = &room;
        screen_.activate_id(room.window);
        screen_.password_prompt("room password for " + room.name + ": ", 0);
    }

    void part() {
        auto* room = active_room();
        if (room == nullptr) return;
        if (rooms_open() == 1) {
            quit_ = true;
            return;
        }
        room->link->input({Event::Kind::input_eof, {}, {}});
        room->closed = true;
        screen_.close(room->window);
    }

    std::size_t rooms_open() const {
        std::size_t n = 0;
        for (const auto& room : rooms_) n += room.closed ? 0 : 1;
        return n;
    }

    // A key of the password being typed: its bytes go to locked memory, and the
    // KeyEvent's own copy of them is wiped.
    void password_key(KeyEvent& key) {
        auto& p = *password_;
        using K = KeyEvent::Kind;
        auto append = [&](const std::string& text) {
            for (char c : text)
                if (c != '\r' && c != '\n' && p.bytes < p.typed.size()) p.typed.data()[p.bytes++] = static_cast<std::uint8_t>(c);
        };
        switch (key.kind) {
            case K::text:
            case K::paste:
                append(key.text);
                sodium_memzero(key.text.data(), key.text.size());
                break;
            case K::edit:
                if (key.edit == LineEditor::Key::backspace) {
                    while (p.bytes > 0 && (p.typed.data()[--p.bytes] & 0xc0) == 0x80) {
                    }
                } else if (key.edit == LineEditor::Key::kill_to_start) {
                    p.bytes = 0;
                }
                break;
            case K::enter: {
                Room& room = *p.room;
                if (p.bytes == 0) return cancel_password();
                crypto::SecretBuffer secret(p.bytes);
                std::memcpy(secret.data(), p.typed.data(), p.bytes);
                password_.reset();
                screen_.end_password_prompt();
                open(room, std::move(secret));
                return;
            }
            case K::interrupt:
            case K::ctrl_d: return cancel_password();
            default: break;
        }
        screen_.password_prompt("room password for " + p.room->name + ": ", p.bytes);
    }

    void cancel_password() {
        Room& room = *password_->room;
        password_.reset();
        screen_.end_password_prompt();
        room.closed = true;
        screen_.close(room.window);
    }

    void open(Room& room, crypto::SecretBuffer password) {
        if (room.thread.joinable()) room.thread.join();  // the try before (a wrong password): finished
        room.link = std::make_shared<RoomLink>();
        RoomOptions ro;
        ro.user = o_.user;
        ro.room = room.name;
        ro.server_default = server_given_;
        ro.more_servers = o_.more_servers;  // the other relays serving the same rooms (--server, servers = [...])
        ro.dir = o_.dir;
        ro.ca = o_.ca;
        ro.state = o_.state;
        ro.config = o_.config;
        ro.retry_s = o_.retry_s;
        ro.sync_interval_s = o_.sync_interval_s;
        ro.password.typed = std::move(password);
        room.thread = std::thread(open_room, std::move(ro), room.link, std::ref(ui_), room.window);
    }

    void apply(UiEvent& e) {
        switch (e.kind) {
            case UiEvent::Kind::line:
                if (screen_.add(e.window, std::move(e.line))) bell_ = true;
                break;
            case UiEvent::Kind::history_shown: screen_.mark_read(e.window); break;
            case UiEvent::Kind::status: screen_.set_status(e.window, e.status); break;
            case UiEvent::Kind::ended: ended(e); break;
            case UiEvent::Kind::wrong_password: {
                auto* room = room_of(e.window);
                if (room == nullptr || room->closed) break;
                screen_.add(room->window, warning("wrong room password for " + room->name));
                if (++room->wrong_passwords < password_tries && !password_) {
                    ask_password(*room);
                } else {
                    room->ended = true;
                    screen_.add(room->window, notice("/join " + room->name + " tries again; /part closes this window"));
                }
                break;
            }
        }
    }

    void ended(const UiEvent& e) {
        auto* room = room_of(e.window);
        if (room == nullptr) return;
        room->ended = true;
        room->end = e.end;
        RoomStatus closed;
        closed.link = RoomStatus::Link::ended;
        screen_.set_status(e.window, closed);
        if (!quit_ && !room->closed) screen_.add(e.window, notice("this room is closed: /part closes its window"));
    }

    Screen& screen_;
    Tui& tui_;
    UiQueue& ui_;
    const RoomOptions& o_;
    std::string server_given_;
    std::list<Room> rooms_;  // a list: Rooms stay where they are (threads and the prompt point at them)
    Room* first_ = nullptr;
    std::optional<PasswordEntry> password_;
    bool quit_ = false;
    bool bell_ = false;
};

}  // namespace

int run_tui_chat(std::unique_ptr<Session> first, const RoomOptions& o, const std::string& server_given) {
    Screen screen(o.user);
    std::optional<Tui> tui;
    tui.emplace();
    UiQueue ui([&tui] { tui->wake(); });
    TuiChat chat(screen, *tui, ui, o, server_given);
    chat.start_first(std::move(first));
    chat.run();
    ui.disconnect();
    tui.reset();  // the terminal back before anything else
    return chat.finish();
}

}  // namespace parley::client
