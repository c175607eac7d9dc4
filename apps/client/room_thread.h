// The threads of the full-screen chat's rooms, and what they share with the
// UI's thread: each room runs on its own thread (chat_room.h), with its own
// Session, connection and state-store handle, so one room that waits for its
// relay never holds up the others or the screen. What a room shows goes to the
// UI through a UiQueue; what is typed comes to the room through its RoomLink.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "chat_room.h"
#include "commands.h"
#include "event_queue.h"
#include "screen.h"
#include "session_setup.h"

namespace parley::client {

// From a room's thread to the UI's.
struct UiEvent {
    enum class Kind { line, history_shown, status, wrong_password, ended };
    UiEvent(Kind k, Screen::WindowId w) : kind(k), window(w) {}
    Kind kind = Kind::line;
    Screen::WindowId window = 0;
    ChatLine line;
    RoomStatus status;
    RoomEnd end;
};

class UiQueue {
public:
    explicit UiQueue(std::function<void()> wake) : wake_(std::move(wake)) {}
    void push(UiEvent e) {
        std::lock_guard lock(mutex_);
        events_.push_back(std::move(e));
        if (wake_) wake_();
    }
    std::deque<UiEvent> take() {
        std::lock_guard lock(mutex_);
        return std::exchange(events_, {});
    }
    // The terminal is going: pushes no longer wake it.
    void disconnect() {
        std::lock_guard lock(mutex_);
        wake_ = nullptr;
    }

private:
    std::mutex mutex_;
    std::deque<UiEvent> events_;
    std::function<void()> wake_;
};

// The UI's handle on a room's thread: what is typed goes into the room's event
// queue once it has one, and waits here until then.
class RoomLink {
public:
    void input(Event e) {
        std::lock_guard lock(mutex_);
        if (events_) events_->push(std::move(e));
        else waiting_.push_back(std::move(e));
    }
    void attach(EventQueue& events) {
        std::lock_guard lock(mutex_);
        events_ = &events;
        for (auto& e : waiting_) events.push(std::move(e));
        waiting_.clear();
    }
    void detach() {
        std::lock_guard lock(mutex_);
        events_ = nullptr;
    }
    std::atomic<bool> finished{false};

private:
    std::mutex mutex_;
    EventQueue* events_ = nullptr;
    std::deque<Event> waiting_;
};

// A room's thread, once its room is open: the chat until it ends, then an
// `ended` event. Every line it shows goes to `window`.
void run_room(std::unique_ptr<Session> s, const std::shared_ptr<RoomLink>& link, UiQueue& ui,
              Screen::WindowId window, const std::string& user);
// A room's thread for /join: opens the room named in `o` (a wrong password: a
// `wrong_password` event, and the thread ends), then runs it.
void open_room(RoomOptions o, std::shared_ptr<RoomLink> link, UiQueue& ui, Screen::WindowId window);

}  // namespace parley::client
