#include "room_thread.h"

#include <optional>

#include "user_error.h"

namespace parley::client {

namespace {

constexpr std::size_t tui_history_lines = 1000;  // of this device's history, above what the relay sends

std::string with_hint(const UserError& e) {
    return e.hint().empty() ? std::string(e.what()) : std::string(e.what()) + " (hint: " + e.hint() + ")";
}

// A room's ChatView: every line and status change goes to the UI's thread.
class TuiView : public ChatView {
public:
    TuiView(UiQueue& ui, Screen::WindowId window) : ui_(ui), window_(window) {}
    void line(ChatLine l) override { push(UiEvent::Kind::line, std::move(l)); }
    void history_shown() override { push(UiEvent::Kind::history_shown, {}); }
    void status(const RoomStatus& s) override {
        if (last_ && *last_ == s) return;
        last_ = s;
        UiEvent e(UiEvent::Kind::status, window_);
        e.status = s;
        ui_.push(std::move(e));
    }
    void ended(const RoomEnd& end) {
        UiEvent e(UiEvent::Kind::ended, window_);
        e.end = end;
        ui_.push(std::move(e));
    }
    void wrong_password() { push(UiEvent::Kind::wrong_password, {}); }

private:
    void push(UiEvent::Kind kind, ChatLine l) {
        UiEvent e(kind, window_);
        e.line = std::move(l);
        ui_.push(std::move(e));
    }
    UiQueue& ui_;
    Screen::WindowId window_;
    std::optional<RoomStatus> last_;
};

}  // namespace

void run_room(std::unique_ptr<Session> s, const std::shared_ptr<RoomLink>& link, UiQueue& ui,
              Screen::WindowId window, const std::string& user) {
    TuiView view(ui, window);
    RoomEnd end{1, 0};
    try {
        link->attach(s->client->events());
        end = run_room_chat(*s, view, user, tui_history_lines, [] {});
    } catch (const UserError& e) {
        view.line(warning(with_hint(e)));
        end.code = e.exit_code();
    } catch (const std::exception& e) {
        view.line(warning(e.what()));
    }
    link->detach();  // before the client and its event queue go
    view.ended(end);
    link->finished = true;
}

void open_room(RoomOptions o, std::shared_ptr<RoomLink> link, UiQueue& ui, Screen::WindowId window) {
    TuiView view(ui, window);
    std::unique_ptr<Session> s;
    try {
        s = make_session(o, RoomUse::existing);
        s->client->on_notice([&view](const std::string& line) { view.line(notice(line)); });
        view.line(notice("opening room " + o.room + " at " + o.server));
        s->client->open(o.retry());
    } catch (const WrongPassword&) {
        link->finished = true;
        view.wrong_password();
        return;
    } catch (const UserError& e) {
        view.line(warning("cannot open room " + printable(o.room) + ": " + with_hint(e)));
        view.ended({e.exit_code(), 0});
        link->finished = true;
        return;
    } catch (const std::exception& e) {
        view.line(warning("cannot open room " + printable(o.room) + ": " + e.what()));
        view.ended({1, 0});
        link->finished = true;
        return;
    }
    run_room(std::move(s), link, ui, window, o.user);
}

}  // namespace parley::client
