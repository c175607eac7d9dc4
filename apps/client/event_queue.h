// The client's single event queue: frames from the relay's io thread and lines
// from the terminal thread land here, and one thread handles them all, so the
// protocol state needs no locks.
//
// Bounded: frames waiting here may hold at most max_frame_bytes_queued. Over it
// the io thread waits in push(), so it stops reading from the socket, TCP pushes
// back, and a relay that floods us cuts us at its send-queue cap instead of
// growing our memory; we reconnect and resume from the last message handled.
// Frames of a connection we have left (an older generation) are dropped, never
// waited for: the thread replacing that connection may be waiting to join its
// io thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "wire/bytes.h"

namespace parley::client {

struct Event {
    // input_paste: several lines pasted at once (text: them, '\n' between), to confirm.
    enum class Kind { frame, closed, input_line, input_eof, input_paste } kind = Kind::frame;
    Bytes frame;
    std::string text;              // closed: reason; input_line: the line
    std::uint64_t generation = 0;  // which connection a frame or close came from
};

class EventQueue {
public:
    static constexpr std::size_t default_max_frame_bytes_queued = 64u << 20;

    explicit EventQueue(std::size_t max_frame_bytes_queued = default_max_frame_bytes_queued)
        : max_frame_bytes_(max_frame_bytes_queued) {}

    // A frame waits while the queue is over its bound (one frame always fits
    // into an empty queue); anything else goes in at once.
    void push(Event e) {
        {
            std::unique_lock lock(mutex_);
            if (e.kind == Event::Kind::frame) {
                space_cv_.wait(lock, [&] {
                    return closed_ || e.generation < oldest_generation_ || frame_bytes_ == 0 ||
                           frame_bytes_ + e.frame.size() <= max_frame_bytes_;
                });
                frame_bytes_ += e.frame.size();
            }
            if (closed_ || (e.generation != 0 && e.generation < oldest_generation_)) {
                if (e.kind == Event::Kind::frame) frame_bytes_ -= e.frame.size();
                return;
            }
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
        if (e.kind == Event::Kind::frame) {
            frame_bytes_ -= e.frame.size();
            space_cv_.notify_all();
        }
        return e;
    }

    // From now on, events of connections older than `generation` are dropped,
    // and a push of theirs that waits for space returns at once.
    void drop_generations_before(std::uint64_t generation) {
        {
            std::lock_guard lock(mutex_);
            oldest_generation_ = generation;
            std::erase_if(events_, [&](const Event& e) {
                if (e.generation == 0 || e.generation >= generation) return false;
                if (e.kind == Event::Kind::frame) frame_bytes_ -= e.frame.size();
                return true;
            });
        }
        space_cv_.notify_all();
    }

    // Drops every later push and releases any that waits (the client is going).
    void close() {
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
        }
        space_cv_.notify_all();
    }

    std::size_t frame_bytes() const {
        std::lock_guard lock(mutex_);
        return frame_bytes_;
    }

private:
    const std::size_t max_frame_bytes_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;        // an event arrived
    std::condition_variable space_cv_;  // frame bytes were taken out
    std::deque<Event> events_;
    std::size_t frame_bytes_ = 0;
    std::uint64_t oldest_generation_ = 0;
    bool closed_ = false;
};

}  // namespace parley::client
