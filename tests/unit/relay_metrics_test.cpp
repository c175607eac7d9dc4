// The /metrics page (relay/relay_metrics.h): the commit histogram's buckets,
// sum and count, build_info, the process figures from /proc, and the group
// commit timing its transactions into the histogram.
#include "relay/relay_metrics.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cmath>
#include <ctime>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>

#include "relay/group_commit.h"

namespace parley::relay {
namespace {

using namespace std::chrono_literals;

// Every sample line of a page, "name{labels}" -> value; a line that is
// neither a comment nor "NAME VALUE" fails the test.
std::map<std::string, double> samples(const std::string& page) {
    static const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?) (\S+)$)");
    std::map<std::string, double> out;
    std::istringstream lines(page);
    for (std::string line; std::getline(lines, line);) {
        if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) continue;
        std::smatch m;
        EXPECT_TRUE(std::regex_match(line, m, sample)) << "not a sample line: " << line;
        if (m.empty()) continue;
        EXPECT_FALSE(out.contains(m[1])) << "twice: " << m[1];
        out[m[1]] = m[3] == "+Inf" ? INFINITY : std::stod(m[3]);
    }
    return out;
}

std::string histogram_page(const LatencyHistogram& h) {
    std::string out;
    h.render(out, "x_seconds", "help");
    return out;
}

TEST(LatencyHistogram, BucketsAreCumulativeWithSumAndCount) {
    LatencyHistogram h;
    for (auto d : {200us, 700us, 3000us, 200000us, 2000000us}) h.observe(d);
    const auto got = samples(histogram_page(h));
    const std::map<std::string, double> want{
        {"x_seconds_bucket{le=\"0.0005\"}", 1}, {"x_seconds_bucket{le=\"0.001\"}", 2},
        {"x_seconds_bucket{le=\"0.0025\"}", 2}, {"x_seconds_bucket{le=\"0.005\"}", 3},
        {"x_seconds_bucket{le=\"0.01\"}", 3},   {"x_seconds_bucket{le=\"0.025\"}", 3},
        {"x_seconds_bucket{le=\"0.05\"}", 3},   {"x_seconds_bucket{le=\"0.1\"}", 3},
        {"x_seconds_bucket{le=\"0.25\"}", 4},   {"x_seconds_bucket{le=\"1\"}", 4},
        {"x_seconds_bucket{le=\"+Inf\"}", 5},   {"x_seconds_count", 5},
        {"x_seconds_sum", 0.0002 + 0.0007 + 0.003 + 0.2 + 2.0}};
    ASSERT_EQ(got.size(), want.size()) << histogram_page(h);
    for (const auto& [name, value] : want) {
        ASSERT_TRUE(got.contains(name)) << name << " missing from\n" << histogram_page(h);
        EXPECT_NEAR(got.at(name), value, 1e-9) << name;
    }
}

TEST(LatencyHistogram, BucketBoundIsInclusiveAndOrderedInTheText) {
    LatencyHistogram h;
    h.observe(1ms);  // exactly a bound: counted in le="0.001" (Prometheus' le is <=)
    const auto page = histogram_page(h);
    EXPECT_NE(page.find("# TYPE x_seconds histogram\n"), std::string::npos) << page;
    EXPECT_NE(page.find("x_seconds_bucket{le=\"0.0005\"} 0\nx_seconds_bucket{le=\"0.001\"} 1\n"), std::string::npos)
        << page;
    // +Inf last among the buckets, then sum and count.
    EXPECT_LT(page.find("le=\"1\""), page.find("le=\"+Inf\""));
    EXPECT_LT(page.find("le=\"+Inf\""), page.find("x_seconds_sum"));
}

TEST(LatencyHistogram, EmptyHasZeroBucketsAndCount) {
    const auto got = samples(histogram_page(LatencyHistogram{}));
    EXPECT_EQ(got.at("x_seconds_bucket{le=\"+Inf\"}"), 0);
    EXPECT_EQ(got.at("x_seconds_count"), 0);
    EXPECT_EQ(got.at("x_seconds_sum"), 0);
}

TEST(RelayMetrics, RendersBuildInfoGaugesAndEveryCounter) {
    RelayMetrics m;
    m.add(m.frames_in, 7);
    m.add(m.frames_out, 9);
    m.add(m.messages_stored, 3);
    m.commit_seconds.observe(2ms);
    const auto page = m.render({5, 2, "1.2.3"});
    const auto got = samples(page);
    EXPECT_EQ(got.at("parley_relay_build_info{version=\"1.2.3\"}"), 1) << page;
    EXPECT_NE(page.find("# TYPE parley_relay_build_info gauge\n"), std::string::npos);
    EXPECT_EQ(got.at("parley_relay_connections"), 5);
    EXPECT_EQ(got.at("parley_relay_rooms_in_memory"), 2);
    EXPECT_NE(page.find("# TYPE parley_relay_rooms_in_memory gauge\n"), std::string::npos);
    EXPECT_EQ(got.at("parley_relay_frames_in_total"), 7);
    EXPECT_EQ(got.at("parley_relay_frames_out_total"), 9);
    EXPECT_EQ(got.at("parley_relay_messages_stored_total"), 3);
    EXPECT_EQ(got.at("parley_relay_commit_seconds_count"), 1);
    EXPECT_EQ(got.at("parley_relay_commit_seconds_bucket{le=\"0.001\"}"), 0);
    EXPECT_EQ(got.at("parley_relay_commit_seconds_bucket{le=\"0.0025\"}"), 1);
    EXPECT_NE(page.find("# TYPE parley_relay_commit_seconds histogram\n"), std::string::npos);
    // The figures that were there before this page grew.
    for (const char* name :
         {"parley_relay_stored_bytes_total", "parley_relay_deliveries_total", "parley_relay_delivered_bytes_total",
          "parley_relay_backlog_items_total", "parley_relay_commit_batches_total",
          "parley_relay_items_from_other_nodes_total",
          "parley_relay_resends_already_stored_total", "parley_relay_storage_errors_total",
          "parley_relay_pruned_items_total", "parley_relay_refused_connections_total",
          "parley_relay_throttled_reads_total", "parley_relay_slow_consumers_cut_total"})
        EXPECT_TRUE(got.contains(name)) << name;
    // And the process's, from /proc.
    for (const char* name : {"process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds",
                             "process_max_fds", "process_start_time_seconds"})
        EXPECT_TRUE(got.contains(name)) << name << " missing from\n" << page;
}

TEST(RelayMetrics, BuildInfoEscapesItsLabelAndNamesAMissingVersion) {
    RelayMetrics m;
    EXPECT_NE(m.render({0, 0, "a\"b\\c"}).find("parley_relay_build_info{version=\"a\\\"b\\\\c\"} 1\n"),
              std::string::npos);
    EXPECT_NE(m.render({0, 0, ""}).find("parley_relay_build_info{version=\"unknown\"} 1\n"), std::string::npos);
}

TEST(ProcessFigures, ParsesProcSelfStat) {
    // comm with a space and a ')' of its own: fields count from the last ')'.
    // utime 250, stime 150 (ticks), starttime 1000 ticks after boot, rss 300 pages.
    const std::string stat =
        "4242 (relay) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 150 0 0 20 0 3 0 1000 123456789 300 "
        "18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 17 1 0 0 0 0 0\n";
    const auto p = parse_proc_stat(stat, 100, 1'700'000'000, 4096);
    ASSERT_TRUE(p);
    EXPECT_DOUBLE_EQ(p->cpu_seconds, 4.0);
    EXPECT_DOUBLE_EQ(p->start_time_seconds, 1'700'000'010.0);
    EXPECT_EQ(p->resident_bytes, 300u * 4096u);
}

TEST(ProcessFigures, RejectsWhatIsNotAStatLine) {
    EXPECT_FALSE(parse_proc_stat("", 100, 0, 4096));
    EXPECT_FALSE(parse_proc_stat("4242 (relay) S 1 2 3", 100, 0, 4096));  // too short
    EXPECT_FALSE(parse_proc_stat("4242 relay S 1 4242 4242 0 -1 4194560 900 0 0 0 250 150 0 0 20 0 3 0 1000 1 300",
                                 100, 0, 4096));  // no ')'
    EXPECT_FALSE(parse_proc_stat("4242 (relay) S 1 4242 4242 0 -1 4194560 900 0 0 0 x 150 0 0 20 0 3 0 1000 1 300",
                                 100, 0, 4096));  // utime not a number
    EXPECT_FALSE(parse_proc_stat("4242 (relay) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 150 0 0 20 0 3 0 1000 1 300",
                                 0, 0, 4096));  // no clock tick
}

TEST(ProcessFigures, ReadFromProcArePlausible) {
    const auto p = read_process_figures();
    ASSERT_TRUE(p) << "cannot read /proc/self";
    EXPECT_GT(p->resident_bytes, 1u << 20);  // a test binary with gtest loaded: over 1 MiB
    EXPECT_GE(p->open_fds, 3u);              // stdin, stdout, stderr
    EXPECT_GE(p->max_fds, p->open_fds);
    EXPECT_GE(p->cpu_seconds, 0.0);
    const auto now = static_cast<double>(std::time(nullptr));
    EXPECT_LE(p->start_time_seconds, now + 2);  // started before now (btime is whole seconds)
    EXPECT_GT(p->start_time_seconds, now - 24 * 3600.0) << "this test process started over a day ago?";

    // One more open file is one more descriptor.
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    const auto more = read_process_figures();
    ::close(fd);
    ASSERT_TRUE(more);
    EXPECT_EQ(more->open_fds, p->open_fds + 1);
}

TEST(ProcessFigures, CpuSecondsGrowWithWork) {
    const auto before = read_process_figures();
    ASSERT_TRUE(before);
    // Spin for 300 ms of CPU time (more than a few 10 ms clock ticks).
    const auto start = std::clock();
    volatile std::uint64_t x = 0;
    while (std::clock() - start < CLOCKS_PER_SEC * 3 / 10) x = x + 1;
    const auto after = read_process_figures();
    ASSERT_TRUE(after);
    EXPECT_GE(after->cpu_seconds - before->cpu_seconds, 0.2);
}

// A log whose transactions take a known time, or fail.
class SlowLog : public MessageLog {
public:
    std::chrono::milliseconds delay{0};
    bool fail = false;

    std::vector<std::uint64_t> append(const std::vector<LogAppend>& items) override {
        std::this_thread::sleep_for(delay);
        if (fail) throw StorageError("disk full");
        std::vector<std::uint64_t> seqs;
        for (std::size_t i = 0; i < items.size(); ++i) seqs.push_back(++last_);
        return seqs;
    }
    std::vector<LogItem> read(const ChainKey&, std::uint64_t, std::uint64_t, std::size_t,
                              std::size_t) const override {
        return {};
    }
    LogRange range(const ChainKey&) const override { return {1, last_}; }
    std::size_t prune(const RetentionPolicy&) override { return 0; }

private:
    std::uint64_t last_ = 0;
};

TEST(CommitHistogram, TimesEachGroupCommitTransactionFailedOnesIncluded) {
    SlowLog log;
    log.delay = 3ms;
    LatencyHistogram histogram;
    std::mutex mutex;
    std::condition_variable cv;
    int batches = 0;
    GroupCommitOptions options;
    options.commit_seconds = &histogram;
    GroupCommit commit(
        log,
        [&](std::vector<PendingSend>&, const std::vector<std::uint64_t>*) {
            std::lock_guard lock(mutex);
            ++batches;
            cv.notify_all();
        },
        options);
    const auto submit_and_wait = [&](int expected) {
        commit.submit({{{wire::RoomId{}, wire::Hash{}}, LogKind::message, Bytes{1, 2, 3}}, 1, 1, false});
        std::unique_lock lock(mutex);
        ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return batches == expected; }));
    };
    submit_and_wait(1);
    log.fail = true;  // the writer is idle until the next submit
    submit_and_wait(2);
    const auto got = samples(histogram_page(histogram));
    EXPECT_EQ(got.at("x_seconds_count"), 2);
    EXPECT_EQ(got.at("x_seconds_bucket{le=\"0.0025\"}"), 0) << "a 3 ms transaction under 2.5 ms";
    EXPECT_GE(got.at("x_seconds_sum"), 0.006);
}

}  // namespace
}  // namespace parley::relay
