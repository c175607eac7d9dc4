// The relay's log (lib/relay/log.h): the two line formats, levels, the
// journal's detection, and the throttle that keeps a flood out of the log;
// and LiveLimits (relay_limits.h), what a reload replaces under running
// connections.
#include "relay/log.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>
#include <atomic>

#include "relay/relay_limits.h"

namespace parley::relay {
namespace {

using namespace std::chrono_literals;

const auto noon = std::chrono::system_clock::time_point(std::chrono::milliseconds(1796299200123));  // 2026-12-03

TEST(RelayLog, PlainLinesAreStampedAndNameTheLevelOnlyWhenItMatters) {
    EXPECT_EQ(log::format_line(log::Level::notice, log::Format::plain, "listening on ws://x", noon),
              "2026-12-03T12:00:00.123Z parley-relay: listening on ws://x\n");
    EXPECT_EQ(log::format_line(log::Level::info, log::Format::plain, "data in /d", noon),
              "2026-12-03T12:00:00.123Z parley-relay: data in /d\n");
    EXPECT_EQ(log::format_line(log::Level::warning, log::Format::plain, "w", noon),
              "2026-12-03T12:00:00.123Z parley-relay: warning: w\n");
    EXPECT_EQ(log::format_line(log::Level::error, log::Format::plain, "e", noon),
              "2026-12-03T12:00:00.123Z parley-relay: error: e\n");
    EXPECT_EQ(log::format_line(log::Level::debug, log::Format::plain, "d", noon),
              "2026-12-03T12:00:00.123Z parley-relay: debug: d\n");
}

TEST(RelayLog, JournalLinesArePriorityAndMessageOnly) {
    EXPECT_EQ(log::format_line(log::Level::error, log::Format::journal, "storage: disk full", noon),
              "<3>storage: disk full\n");
    EXPECT_EQ(log::format_line(log::Level::warning, log::Format::journal, "w", noon), "<4>w\n");
    EXPECT_EQ(log::format_line(log::Level::notice, log::Format::journal, "n", noon), "<5>n\n");
    EXPECT_EQ(log::format_line(log::Level::info, log::Format::journal, "i", noon), "<6>i\n");
    EXPECT_EQ(log::format_line(log::Level::debug, log::Format::journal, "d", noon), "<7>d\n");
}

// An exception's text with a hint line is still one event, one line.
TEST(RelayLog, ANewlineInAMessageDoesNotStartAnotherLine) {
    EXPECT_EQ(log::format_line(log::Level::error, log::Format::journal, "bad key\nhint: chmod 600\r", noon),
              "<3>bad key hint: chmod 600 \n");
}

TEST(RelayLog, LevelsParseByNameAndFilterByImportance) {
    EXPECT_EQ(log::parse_level("warning"), log::Level::warning);
    EXPECT_EQ(log::parse_level("debug"), log::Level::debug);
    EXPECT_FALSE(log::parse_level("warn"));
    EXPECT_FALSE(log::parse_level(""));
    EXPECT_STREQ(log::level_name(log::Level::notice), "notice");
    log::configure(log::Level::warning, log::Format::plain);
    EXPECT_TRUE(log::enabled(log::Level::error));
    EXPECT_TRUE(log::enabled(log::Level::warning));
    EXPECT_FALSE(log::enabled(log::Level::notice));
    log::set_level(log::Level::debug);
    EXPECT_TRUE(log::enabled(log::Level::debug));
    log::configure(log::Level::info, log::Format::plain);
    EXPECT_FALSE(log::enabled(log::Level::debug));
}

// systemd names the journal's stream by device and inode; a child whose
// stderr went elsewhere inherits the variable and must not take it as its own.
TEST(RelayLog, TheJournalIsDetectedByItsStreamNotByTheVariableAlone) {
    struct stat st {};
    ASSERT_EQ(::fstat(STDERR_FILENO, &st), 0);
    const std::string ours = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    const std::string other = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1);
    const char* saved = std::getenv("JOURNAL_STREAM");
    const std::string kept = saved ? saved : "";
    ::setenv("JOURNAL_STREAM", ours.c_str(), 1);
    EXPECT_EQ(log::detect_format(), log::Format::journal);
    ::setenv("JOURNAL_STREAM", other.c_str(), 1);
    EXPECT_EQ(log::detect_format(), log::Format::plain);
    ::setenv("JOURNAL_STREAM", "garbage", 1);
    EXPECT_EQ(log::detect_format(), log::Format::plain);
    ::unsetenv("JOURNAL_STREAM");
    EXPECT_EQ(log::detect_format(), log::Format::plain);
    if (saved) ::setenv("JOURNAL_STREAM", kept.c_str(), 1);
}

TEST(RelayLogThrottle, AllowsSoManyASecondAndCountsTheRestIntoTheNextLine) {
    log::Throttle throttle{3};
    const auto t0 = log::Throttle::Clock::time_point(100s);
    std::uint64_t left_out = 99;
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(throttle.allow(left_out, t0 + std::chrono::milliseconds(i)));
        EXPECT_EQ(left_out, 0u);
    }
    for (int i = 0; i < 7; ++i) EXPECT_FALSE(throttle.allow(left_out, t0 + 500ms));
    ASSERT_TRUE(throttle.allow(left_out, t0 + 1s));
    EXPECT_EQ(left_out, 7u) << "the first line of the next second says how many were left out";
    ASSERT_TRUE(throttle.allow(left_out, t0 + 1s + 1ms));
    EXPECT_EQ(left_out, 0u) << "and they are said once";
}

// A reload replaces the limits whole; a reader keeps its snapshot, and sees
// the generation move so that it takes the new one.
TEST(RelayLiveLimits, AReloadReplacesTheSnapshotAndMovesTheGeneration) {
    RelayLimits before;
    before.max_frame_bytes = 4096;
    before.messages_per_second = 10;
    LiveLimits live(before);
    const auto generation = live.generation();
    const auto held = live.get();
    RelayLimits after = before;
    after.max_frame_bytes = 8192;
    after.messages_per_second = 0;
    live.set(after);
    EXPECT_NE(live.generation(), generation);
    EXPECT_EQ(held->limits.max_frame_bytes, 4096u) << "a snapshot taken before stays as it was";
    EXPECT_EQ(live.get()->limits.max_frame_bytes, 8192u);
    EXPECT_TRUE(live.get()->rates.frames.unlimited()) << "the read rates follow the limits";
    EXPECT_FALSE(held->rates.frames.unlimited());
}

// Sessions on every io thread read while SIGHUP's handler replaces: each
// reader sees a whole snapshot, old or new, never a mix (TSan runs this).
TEST(RelayLiveLimits, ReadersOnOtherThreadsSeeWholeSnapshots) {
    RelayLimits a;
    a.max_frame_bytes = 1000;
    a.max_send_queue_bytes = 4000;
    RelayLimits b;
    b.max_frame_bytes = 2000;
    b.max_send_queue_bytes = 8000;
    LiveLimits live(a);
    std::atomic<bool> done{false};
    std::atomic<int> mixed{0};
    std::atomic<int> started{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 3; ++r) {
        readers.emplace_back([&] {
            ++started;
            std::uint64_t seen = live.generation();
            auto held = live.get();
            while (!done.load()) {
                if (live.generation() != seen) {
                    seen = live.generation();
                    held = live.get();
                }
                if (held->limits.max_send_queue_bytes != 4 * held->limits.max_frame_bytes) ++mixed;
            }
        });
    }
    while (started.load() < 3) std::this_thread::yield();
    for (int i = 0; i < 2000; ++i) live.set(i % 2 ? a : b);
    done = true;
    for (auto& t : readers) t.join();
    EXPECT_EQ(mixed.load(), 0);
    EXPECT_EQ(live.get()->limits.max_frame_bytes, 1000u) << "the last set wins";
}

}  // namespace
}  // namespace parley::relay
