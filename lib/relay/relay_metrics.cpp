#include "relay/relay_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <vector>

namespace parley::relay {
namespace {

// The shortest text that reads back as `value`, written as people write it:
// 0.0005 (not 5e-04), 1764691200 (not 1.7646912e+09).
std::string number(double value) {
    char buf[64];
    const bool whole = value == std::floor(value) && std::fabs(value) < 0x1p53;
    auto [end, ec] = whole ? std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed)
                           : std::to_chars(buf, buf + sizeof buf, value, std::chars_format::general);
    return ec == std::errc{} ? std::string(buf, end) : "NaN";
}

void header(std::string& out, std::string_view name, std::string_view help, std::string_view type) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void counter(std::string& out, const char* name, const char* help, std::uint64_t value,
             const char* type = "counter") {
    header(out, name, help, type);
    out.append(name).append(" ").append(std::to_string(value)).append("\n");
}

void counter(std::string& out, const char* name, const char* help, double value, const char* type) {
    header(out, name, help, type);
    out.append(name).append(" ").append(number(value)).append("\n");
}

// A label value: backslash, double quote and newline escaped (text format 0.0.4).
std::string label_value(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

std::uint64_t get(const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); }

std::optional<std::string> read_text(const char* path) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    return std::move(text).str();
}

// /proc/stat's "btime N": when the machine booted, in Unix seconds.
std::optional<std::uint64_t> boot_time_seconds() {
    auto text = read_text("/proc/stat");
    if (!text) return std::nullopt;
    std::istringstream lines(*text);
    std::string key;
    while (lines >> key) {
        if (key == "btime") {
            std::uint64_t seconds = 0;
            if (lines >> seconds) return seconds;
            return std::nullopt;
        }
        lines.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
    }
    return std::nullopt;
}

void render_process(std::string& out, const ProcessFigures& p) {
    counter(out, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
            p.cpu_seconds, "counter");
    counter(out, "process_open_fds", "Number of open file descriptors.", p.open_fds, "gauge");
    counter(out, "process_max_fds", "Maximum number of open file descriptors.", p.max_fds, "gauge");
    counter(out, "process_resident_memory_bytes", "Resident memory size in bytes.", p.resident_bytes, "gauge");
    counter(out, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
            p.start_time_seconds, "gauge");
}

}  // namespace

void LatencyHistogram::observe(std::chrono::nanoseconds duration) {
    const double seconds = std::chrono::duration<double>(duration).count();
    std::size_t bucket = 0;
    while (bucket < bounds_seconds.size() && seconds > bounds_seconds[bucket]) ++bucket;
    buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, duration.count())),
                      std::memory_order_relaxed);
}

void LatencyHistogram::render(std::string& out, std::string_view name, std::string_view help) const {
    header(out, name, help, "histogram");
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
        cumulative += get(buckets_[i]);
        const std::string le = i < bounds_seconds.size() ? number(bounds_seconds[i]) : "+Inf";
        out.append(name).append("_bucket{le=\"").append(le).append("\"} ").append(std::to_string(cumulative));
        out.append("\n");
    }
    const double sum = static_cast<double>(get(sum_ns_)) / 1e9;
    out.append(name).append("_sum ").append(number(sum)).append("\n");
    out.append(name).append("_count ").append(std::to_string(cumulative)).append("\n");
}

std::optional<ProcessFigures> parse_proc_stat(std::string_view stat, long ticks_per_second,
                                              std::uint64_t boot_time_seconds, std::uint64_t page_bytes) {
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
    // the fields are counted from the last ')'. Field 3 (state) is fields[0].
    const auto close = stat.rfind(')');
    if (close == std::string_view::npos || ticks_per_second <= 0) return std::nullopt;
    std::istringstream rest{std::string(stat.substr(close + 1))};
    std::vector<std::string> fields;
    for (std::string field; rest >> field;) fields.push_back(std::move(field));
    constexpr std::size_t utime = 14 - 3, stime = 15 - 3, starttime = 22 - 3, rss = 24 - 3;
    if (fields.size() <= rss) return std::nullopt;
    const auto unsigned_field = [&](std::size_t i) -> std::optional<std::uint64_t> {
        std::uint64_t value = 0;
        const auto& text = fields[i];
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
        return value;
    };
    const auto user = unsigned_field(utime), system = unsigned_field(stime);
    const auto started = unsigned_field(starttime), pages = unsigned_field(rss);
    if (!user || !system || !started || !pages) return std::nullopt;
    const auto ticks = static_cast<double>(ticks_per_second);
    ProcessFigures out;
    out.cpu_seconds = static_cast<double>(*user + *system) / ticks;
    out.start_time_seconds = static_cast<double>(boot_time_seconds) + static_cast<double>(*started) / ticks;
    out.resident_bytes = *pages * page_bytes;
    return out;
}

std::optional<ProcessFigures> read_process_figures() {
    const auto stat = read_text("/proc/self/stat");
    const auto boot = boot_time_seconds();
    if (!stat || !boot) return std::nullopt;
    auto figures = parse_proc_stat(*stat, ::sysconf(_SC_CLK_TCK), *boot,
                                   static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)));
    if (!figures) return std::nullopt;
    std::error_code ec;
    for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec))
        ++figures->open_fds;
    if (ec) return std::nullopt;
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) figures->max_fds = limit.rlim_cur;
    return figures;
}

std::string RelayMetrics::render(const MetricsGauges& gauges) const {
    std::string out;
    header(out, "parley_relay_build_info", "The relay's version; always 1.", "gauge");
    const auto version = label_value(gauges.version.empty() ? "unknown" : gauges.version);
    out.append("parley_relay_build_info{version=\"").append(version).append("\"} 1\n");
    counter(out, "parley_relay_connections", "Open client connections.", gauges.connections, "gauge");
    counter(out, "parley_relay_rooms_in_memory",
            "Rooms the relay holds in memory: those with a member online or a message in flight.",
            gauges.rooms_in_memory, "gauge");
    counter(out, "parley_relay_frames_in_total", "WebSocket messages read from clients.", get(frames_in));
    counter(out, "parley_relay_frames_out_total", "WebSocket messages written to clients.", get(frames_out));
    counter(out, "parley_relay_messages_stored_total", "Messages committed to the log.", get(messages_stored));
    counter(out, "parley_relay_stored_bytes_total", "Envelope bytes committed to the log.", get(bytes_stored));
    counter(out, "parley_relay_deliveries_total", "Deliver and NewHead frames queued to connections.",
            get(deliveries));
    counter(out, "parley_relay_delivered_bytes_total", "Bytes of those frames.", get(bytes_delivered));
    counter(out, "parley_relay_backlog_items_total", "Stored items sent to joining connections.",
            get(backlog_items));
    counter(out, "parley_relay_items_from_other_nodes_total",
            "Log items other relay nodes sharing the database stored, fanned out to this node's members.",
            get(items_from_other_nodes));
    counter(out, "parley_relay_commit_batches_total", "Group-commit transactions.", get(commit_batches));
    commit_seconds.render(out, "parley_relay_commit_seconds",
                          "Duration of each group commit's database transaction, in seconds.");
    counter(out, "parley_relay_resends_already_stored_total",
            "Resent messages the log already held: acknowledged, not stored or delivered again.",
            get(resends_already_stored));
    counter(out, "parley_relay_storage_errors_total", "Failed storage reads and writes.", get(storage_errors));
    counter(out, "parley_relay_pruned_items_total", "Log items removed by retention.", get(pruned_items));
    counter(out, "parley_relay_refused_connections_total",
            "Connections refused by the total or per-address connection limit.", get(refused_connections));
    counter(out, "parley_relay_throttled_reads_total",
            "Times a connection's reading was paused by the message rate limit.", get(throttled_reads));
    counter(out, "parley_relay_slow_consumers_cut_total",
            "Connections closed because their send queue passed its cap.", get(slow_consumers_cut));
    if (const auto process = read_process_figures()) render_process(out, *process);
    return out;
}

}  // namespace parley::relay
