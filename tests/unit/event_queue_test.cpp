#include "client/event_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

using parley::Bytes;
using parley::client::Event;
using parley::client::EventQueue;
using namespace std::chrono_literals;

namespace {

Event frame(std::size_t bytes, std::uint64_t generation = 1) {
    return {Event::Kind::frame, Bytes(bytes, 0x5a), {}, generation};
}

}  // namespace

TEST(EventQueue, AFrameOverTheBoundWaitsUntilOneIsTakenOut) {
    EventQueue queue(1000);
    queue.push(frame(600));
    std::atomic<bool> pushed{false};
    std::thread producer([&] {
        queue.push(frame(600));  // 1200 > 1000: waits
        pushed = true;
    });
    std::this_thread::sleep_for(100ms);
    EXPECT_FALSE(pushed) << "the second frame went in over the bound";
    EXPECT_EQ(queue.frame_bytes(), 600u);
    auto first = queue.pop(1s);
    ASSERT_TRUE(first);
    producer.join();
    EXPECT_TRUE(pushed);
    auto second = queue.pop(1s);
    ASSERT_TRUE(second);
    EXPECT_EQ(second->frame.size(), 600u);
    EXPECT_EQ(queue.frame_bytes(), 0u);
}

TEST(EventQueue, OneFrameLargerThanTheBoundStillFitsAnEmptyQueue) {
    EventQueue queue(100);
    queue.push(frame(5000));
    auto e = queue.pop(1s);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->frame.size(), 5000u);
}

TEST(EventQueue, InputLinesNeverWait) {
    EventQueue queue(100);
    queue.push(frame(100));
    queue.push({Event::Kind::input_line, {}, "hello", 0});  // would block if it counted
    queue.push({Event::Kind::input_eof, {}, {}, 0});
    EXPECT_EQ(queue.pop(1s)->kind, Event::Kind::frame);
    EXPECT_EQ(queue.pop(1s)->text, "hello");
    EXPECT_EQ(queue.pop(1s)->kind, Event::Kind::input_eof);
}

TEST(EventQueue, DroppingAnOldGenerationReleasesItsWaitingPushAndItsFrames) {
    EventQueue queue(1000);
    queue.push(frame(900, 1));
    queue.push({Event::Kind::input_line, {}, "typed", 0});
    std::thread old_connection([&] { queue.push(frame(900, 1)); });  // waits for space
    std::this_thread::sleep_for(50ms);
    queue.drop_generations_before(2);
    old_connection.join();  // would hang if the old generation's push kept waiting
    EXPECT_EQ(queue.frame_bytes(), 0u);
    queue.push(frame(10, 1));  // late frames of the old connection: dropped
    queue.push(frame(20, 2));
    auto a = queue.pop(1s);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->text, "typed");
    auto b = queue.pop(1s);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->frame.size(), 20u);
    EXPECT_FALSE(queue.pop(10ms));
}

TEST(EventQueue, CloseReleasesAWaitingPush) {
    EventQueue queue(10);
    queue.push(frame(10));
    std::thread producer([&] { queue.push(frame(10)); });
    std::this_thread::sleep_for(50ms);
    queue.close();
    producer.join();
    EXPECT_EQ(queue.frame_bytes(), 10u);  // the one already queued
}

TEST(EventQueue, PopTimesOutWhenEmpty) {
    EventQueue queue;
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(queue.pop(30ms));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
}
