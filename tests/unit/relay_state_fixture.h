// What the RelayState tests share: a fake connection that queues the frames
// it is given, and a fixture with a RelayState over the in-memory store.
// relay_state_test.cpp: replies, fan-out, NewHead, backlog and limits;
// relay_admission_test.cpp: who may create rooms, and the quotas.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "relay/memory_relay_store.h"
#include "relay/relay_state.h"
#include "relay_test_records.h"

namespace parley::relay::state_test {

using namespace parley::relay_test;

// Frames arrive from the test's thread and from the group commit's writer.
class FakeConnection : public Subscriber {
public:
    // Like a real session, leave every room before going away: the writer
    // thread may still be fanning out to this connection.
    ~FakeConnection() override {
        if (state_) state_->leave_all(*this);
    }
    void attach(RelayState& state) { state_ = &state; }
    void deliver(SharedFrame frame) override {
        std::lock_guard lock(mutex_);
        frames_.push_back(std::move(frame));
        cv_.notify_all();
    }
    void backlog_paused(const ChainKey& chain) override {
        std::lock_guard lock(mutex_);
        paused_.push_back(chain);
    }

    // Waits (bounded) until `n` frames are queued; false if they do not come.
    bool wait_for(std::size_t n) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, std::chrono::seconds(5), [&] { return frames_.size() >= n; });
    }
    // True if no frame arrives within `quiet`.
    bool quiet_for(std::chrono::milliseconds quiet) {
        std::unique_lock lock(mutex_);
        return !cv_.wait_for(lock, quiet, [&] { return !frames_.empty(); });
    }
    std::size_t size() {
        std::lock_guard lock(mutex_);
        return frames_.size();
    }
    SharedFrame at(std::size_t i) {
        std::lock_guard lock(mutex_);
        return frames_.at(i);
    }
    void clear() {
        std::lock_guard lock(mutex_);
        frames_.clear();
    }
    std::vector<ChainKey> take_paused() {
        std::lock_guard lock(mutex_);
        return std::exchange(paused_, {});
    }

    // Takes the oldest frame (waiting for it), which must be a T.
    template <class T>
    T take() {
        EXPECT_TRUE(wait_for(1)) << "no frame within the timeout";
        std::lock_guard lock(mutex_);
        if (frames_.empty()) return T{};
        auto decoded = wire::decode_frame(*frames_.front());
        frames_.erase(frames_.begin());
        EXPECT_TRUE(decoded.frame && std::holds_alternative<T>(*decoded.frame))
            << "got frame index " << (decoded.frame ? decoded.frame->index() : 99);
        if (!decoded.frame || !std::holds_alternative<T>(*decoded.frame)) return T{};
        return std::get<T>(*decoded.frame);
    }

private:
    RelayState* state_ = nullptr;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<SharedFrame> frames_;
    std::vector<ChainKey> paused_;
};

class RelayStateTest : public ::testing::Test {
protected:
    RelayStateTest() : state_(make_store(), limits()) {}

    std::unique_ptr<MemoryRelayStore> make_store() {
        auto store = std::make_unique<MemoryRelayStore>([this] { return now_ms_.load(); });
        store_ = store.get();
        return store;
    }

    static RelayLimits limits() {
        RelayLimits l;
        l.max_chains_per_connection = 2;
        l.backlog_page_items = 2;
        return l;
    }

    // Sends one message from `c` and waits for its Ack; returns its seq.
    std::uint64_t send(FakeConnection& c, const wire::Hash& g, std::uint8_t fill) {
        handle(c, wire::Send{fill, room_, g, Bytes(8, fill)});
        return c.take<wire::Ack>().seq;
    }

    void handle(FakeConnection& c, const wire::Frame& f) {
        c.attach(state_);
        state_.handle(c, wire::encode_frame(f));
    }

    wire::Hash publish(FakeConnection& c, const wire::EpochRecord& r, const wire::Token& token = {}) {
        handle(c, wire::Publish{1, room_, token, wire::encode_record(r)});
        return c.take<wire::Published>().record_hash;
    }

    void join(FakeConnection& c, const wire::Hash& genesis, const wire::Token& token) {
        handle(c, wire::Join{2, room_, genesis, token});
        c.take<wire::Joined>();
    }

    std::atomic<std::int64_t> now_ms_{1'700'000'000'000};
    MemoryRelayStore* store_ = nullptr;  // owned by state_
    RelayState state_;
    TestMember alice_ = make_member();
    TestMember bob_ = make_member();
    wire::RoomId room_ = make_room("state");
    wire::Token token0_ = make_token(0x40);
    wire::Token token1_ = make_token(0x41);
};

}  // namespace parley::relay::state_test
