#include "relay/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace parley::relay::log {

namespace {

std::atomic<int> threshold{static_cast<int>(Level::info)};
std::atomic<int> format_in_use{-1};  // -1: not configured, detect at the first line

constexpr std::array<std::string_view, 5> names{"error", "warning", "notice", "info", "debug"};

Format current_format() {
    int f = format_in_use.load(std::memory_order_relaxed);
    if (f < 0) {
        f = static_cast<int>(detect_format());
        format_in_use.store(f, std::memory_order_relaxed);
    }
    return static_cast<Format>(f);
}

}  // namespace

std::optional<Level> parse_level(std::string_view name) {
    for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i] == name) return static_cast<Level>(static_cast<int>(Level::error) + static_cast<int>(i));
    return std::nullopt;
}

const char* level_name(Level level) {
    return names[static_cast<std::size_t>(static_cast<int>(level) - static_cast<int>(Level::error))].data();
}

// systemd sets JOURNAL_STREAM=DEVICE:INODE for a unit whose stderr goes to the
// journal; a child whose stderr was redirected elsewhere inherits the variable,
// so the stream itself has to match it.
Format detect_format() {
    const char* stream = std::getenv("JOURNAL_STREAM");
    if (!stream) return Format::plain;
    unsigned long long device = 0, inode = 0;
    if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) return Format::plain;
    struct stat st {};
    if (::fstat(STDERR_FILENO, &st) != 0) return Format::plain;
    return static_cast<unsigned long long>(st.st_dev) == device && static_cast<unsigned long long>(st.st_ino) == inode
               ? Format::journal
               : Format::plain;
}

void configure(Level level, Format format) {
    threshold.store(static_cast<int>(level), std::memory_order_relaxed);
    format_in_use.store(static_cast<int>(format), std::memory_order_relaxed);
}

void set_level(Level level) { threshold.store(static_cast<int>(level), std::memory_order_relaxed); }

bool enabled(Level level) { return static_cast<int>(level) <= threshold.load(std::memory_order_relaxed); }

std::string format_line(Level level, Format format, std::string_view message,
                        std::chrono::system_clock::time_point now) {
    std::string line;
    line.reserve(message.size() + 64);
    if (format == Format::journal) {
        line += '<';
        line += static_cast<char>('0' + static_cast<int>(level));
        line += '>';
    } else {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
        const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
        std::tm utc{};
        ::gmtime_r(&seconds, &utc);
        char stamp[80];
        std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ", utc.tm_year + 1900,
                      utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(ms % 1000));
        line += stamp;
        line += "parley-relay: ";
        if (level == Level::debug || level == Level::warning || level == Level::error) {
            line += level_name(level);
            line += ": ";
        }
    }
    // One event, one line: a newline inside a message (an exception's text
    // with a hint) would be read as a second event with no priority.
    for (char c : message) line += (c == '\n' || c == '\r') ? ' ' : c;
    line += '\n';
    return line;
}

void write(Level level, const char* format, ...) {
    if (!enabled(level)) return;
    char buffer[1024];
    va_list args;
    va_start(args, format);
    const int n = std::vsnprintf(buffer, sizeof buffer, format, args);
    va_end(args);
    if (n < 0) return;
    const std::string_view message(buffer, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buffer - 1));
    const auto line = format_line(level, current_format(), message, std::chrono::system_clock::now());
    // One write(2) per line: whole even with several io threads logging.
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
        const ssize_t w = ::write(STDERR_FILENO, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        p += w;
        left -= static_cast<std::size_t>(w);
    }
}

bool Throttle::allow(std::uint64_t& left_out, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    if (now - window_ >= std::chrono::seconds(1)) {
        window_ = now;
        in_window_ = 0;
    }
    if (in_window_ >= per_second_) {
        ++left_out_;
        return false;
    }
    ++in_window_;
    left_out = left_out_;
    left_out_ = 0;
    return true;
}

}  // namespace parley::relay::log
