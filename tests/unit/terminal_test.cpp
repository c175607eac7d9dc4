// apps/client/terminal.cpp: the chat's input thread is detached and may still
// be blocked reading stdin when `parley chat` returns. Once the Terminal is
// gone, what that thread reads goes nowhere: before, it pushed it through the
// destroyed Terminal into the client's event queue (found by ASan in CI, in a
// chat whose stdin closed just as it quit).
#include "client/terminal.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <streambuf>
#include <string>
#include <thread>

namespace parley::client {
namespace {

using namespace std::chrono_literals;

// A stdin whose first read blocks until release(); it then gives `text` and EOF.
class GatedInput : public std::streambuf {
public:
    explicit GatedInput(std::string text) : text_(std::move(text)) {}

    void wait_until_reading() {
        std::unique_lock lock(mutex_);
        ASSERT_TRUE(cv_.wait_for(lock, 5s, [&] { return reading_; })) << "the input thread never read";
    }
    void release() {
        std::lock_guard lock(mutex_);
        released_ = true;
        cv_.notify_all();
    }
    // True once the reader has been handed the text.
    bool wait_until_given() {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, 5s, [&] { return given_; });
    }

protected:
    int_type underflow() override {
        std::unique_lock lock(mutex_);
        reading_ = true;
        cv_.notify_all();
        cv_.wait(lock, [&] { return released_; });
        if (!given_) {
            given_ = true;
            cv_.notify_all();
            setg(text_.data(), text_.data(), text_.data() + text_.size());
            return traits_type::to_int_type(text_[0]);
        }
        return traits_type::eof();
    }

private:
    std::string text_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool reading_ = false, released_ = false, given_ = false;
};

TEST(Terminal, InputReadAfterTheTerminalIsGoneGoesNowhere) {
    GatedInput input("typed too late\n");
    std::cin.clear();
    std::streambuf* const saved = std::cin.rdbuf(&input);
    EventQueue events;
    {
        Terminal term(events);  // stdin is not a terminal here: line mode
        term.start();
        input.wait_until_reading();
    }
    input.release();
    ASSERT_TRUE(input.wait_until_given()) << "the input thread did not read its line";
    // The thread pushes right after reading; give it the time to, if it would.
    const auto late = events.pop(200ms);
    EXPECT_FALSE(late) << "the input thread pushed \"" << (late ? late->text : "") << "\" after the Terminal was gone";
    std::cin.rdbuf(saved);
}

// While the Terminal lives, the same thread's lines and EOF do arrive.
TEST(Terminal, LinesAndEndOfInputArriveWhileTheTerminalLives) {
    GatedInput input("hello\n");
    std::cin.clear();
    std::streambuf* const saved = std::cin.rdbuf(&input);
    EventQueue events;
    Terminal term(events);
    term.start();
    input.release();
    auto line = events.pop(5s);
    ASSERT_TRUE(line);
    EXPECT_EQ(line->kind, Event::Kind::input_line);
    EXPECT_EQ(line->text, "hello");
    auto eof = events.pop(5s);
    ASSERT_TRUE(eof);
    EXPECT_EQ(eof->kind, Event::Kind::input_eof);
    std::cin.rdbuf(saved);
}

}  // namespace
}  // namespace parley::client
