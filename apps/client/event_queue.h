// The client's single event queue: frames from the relay's io thread and lines
// from the terminal thread land here, and one thread handles them all, so the
// protocol state needs no locks.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "wire/bytes.h"

namespace parley::client {

struct Event {
    enum class Kind { frame, closed, input_line, input_eof } kind = Kind::frame;
    Bytes frame;
    std::string text;              // closed: reason; input_line: the line
    std::uint64_t generation = 0;  // which connection a frame or close came from
};

class EventQueue {
public:
    void push(Event e) {
        {
            std::lock_guard lock(mutex_);
            events_.push_back(std::move(e));
        }
        cv_.notify_one();
    }
    // Waits up to `timeout`; nullopt when nothing arrived.
    std::optional<Event> pop(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        if (!cv_.wait_for(lock, timeout, [this] { return !events_.empty(); })) return std::nullopt;
        Event e = std::move(events_.front());
        events_.pop_front();
        return e;
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Event> events_;
};

}  // namespace parley::client
