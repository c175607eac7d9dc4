// The relay's log: one line per event a sysadmin needs, on stderr, each with a
// level (syslog's priorities). Small on purpose: a format string, a level, one
// write(2) per line, so lines from several io threads never interleave.
//
// Two formats. Under systemd (stderr is the journal's stream: JOURNAL_STREAM
// names its device and inode) a line is "<P>message": journald reads the
// priority P from the prefix and stamps the time and the unit itself. Anywhere
// else: "2026-12-03T06:14:15.123Z parley-relay: [level: ]message", the level
// word for debug, warning and error only.
//
// What never goes in: a token, a key, a payload, a room id. What does: the
// event, its reason, and for a refused client its address.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace parley::relay::log {

enum class Level : int { error = 3, warning = 4, notice = 5, info = 6, debug = 7 };
enum class Format { plain, journal };

// "error", "warning", "notice", "info", "debug"; nullopt for anything else.
std::optional<Level> parse_level(std::string_view name);
const char* level_name(Level level);

// journal when stderr is the journal's stream, plain otherwise.
Format detect_format();

// Lines above `threshold` are dropped. Before any line is written; the
// defaults are info and detect_format().
void configure(Level threshold, Format format);
bool enabled(Level level);
void set_level(Level threshold);  // a reload's --log-level; the format stays

// One line, as format_line makes it, to stderr. printf-style.
void write(Level level, const char* format, ...) __attribute__((format(printf, 2, 3)));

// The line write() sends, newline included (tests read it).
std::string format_line(Level level, Format format, std::string_view message,
                        std::chrono::system_clock::time_point now);

// Keeps one kind of line (a refused connection, a failed TLS handshake) from
// flooding the log when someone floods the relay: at most `per_second` of
// them a second; the rest are counted, and the next line that goes out says
// how many were left out.
class Throttle {
public:
    using Clock = std::chrono::steady_clock;
    explicit Throttle(unsigned per_second) : per_second_(per_second) {}

    // true: write the line now, after `left_out` lines of this kind that were not.
    bool allow(std::uint64_t& left_out, Clock::time_point now = Clock::now());

private:
    const unsigned per_second_;
    std::mutex mutex_;
    Clock::time_point window_{};
    unsigned in_window_ = 0;
    std::uint64_t left_out_ = 0;
};

}  // namespace parley::relay::log

// A line a remote peer can cause over and over (a refused or cut connection):
// at most `per_second` of them a second from this call site; the next one
// written says how many were left out. At least one argument after `format`.
#define PARLEY_LOG_THROTTLED(per_second, level, format, ...)                                                  \
    do {                                                                                                      \
        static ::parley::relay::log::Throttle parley_log_throttle_{per_second};                               \
        std::uint64_t parley_left_out_ = 0;                                                                   \
        if (::parley::relay::log::enabled(::parley::relay::log::Level::level) &&                              \
            parley_log_throttle_.allow(parley_left_out_)) {                                                   \
            if (parley_left_out_ == 0)                                                                        \
                ::parley::relay::log::write(::parley::relay::log::Level::level, format, __VA_ARGS__);         \
            else                                                                                              \
                ::parley::relay::log::write(::parley::relay::log::Level::level,                               \
                                            format " (and %llu more like it, not logged)", __VA_ARGS__,       \
                                            static_cast<unsigned long long>(parley_left_out_));               \
        }                                                                                                     \
    } while (0)

// The usual spelling: PARLEY_LOG(warning, "closing %s", why). The arguments are
// not evaluated when the level is off.
#define PARLEY_LOG(level, ...)                                                            \
    do {                                                                                  \
        if (::parley::relay::log::enabled(::parley::relay::log::Level::level))            \
            ::parley::relay::log::write(::parley::relay::log::Level::level, __VA_ARGS__); \
    } while (0)
