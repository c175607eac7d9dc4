// A token bucket: `rate` tokens a second, holding at most `burst`. The relay
// keeps two per connection (see Session::read_when_allowed): one token per
// frame, and one per byte of the frames read.
//
// Kept as the generic cell rate algorithm (RFC 2697's cousin, as in ATM and
// most rate limiters): instead of a fractional token count it keeps `tat_`, the
// time at which the bucket would be full again, in whole clock ticks, so no
// rounding error builds up however many small refills there are.
//
// The rate and burst are a Rate, shared by every connection's buckets, so a
// bucket is one time point: 8 bytes of each idle connection's memory.
#pragma once

#include <algorithm>
#include <chrono>

namespace parley::relay {

class TokenBucket {
public:
    using Clock = std::chrono::steady_clock;

    class Rate {
    public:
        // rate <= 0: unlimited (take always succeeds, wait_time is always zero).
        Rate(double rate, double burst)
            : seconds_per_token_(rate > 0 ? 1.0 / rate : 0.0),
              interval_(rate > 0 ? ticks(seconds_per_token_) : Clock::duration::zero()),
              tolerance_(rate > 0 ? ticks(seconds_per_token_ * (std::max(1.0, burst) - 1.0))
                                  : Clock::duration::zero()) {}

        bool unlimited() const { return seconds_per_token_ == 0.0; }

    private:
        friend class TokenBucket;
        // At most a year: a rate of one token a century, or a burst of 1e12,
        // must not overflow the clock's 64-bit nanoseconds.
        static Clock::duration ticks(double seconds) {
            return std::chrono::round<Clock::duration>(std::chrono::duration<double>(std::min(seconds, 365.0 * 86400)));
        }

        double seconds_per_token_;   // for spend(): a cost of many tokens, rounded once
        Clock::duration interval_;   // one token's worth of time
        Clock::duration tolerance_;  // (burst - 1) tokens' worth
    };

    // Full at `now`.
    explicit TokenBucket(Clock::time_point now) : tat_(now) {}

    // Takes one token if there is one.
    bool take(const Rate& rate, Clock::time_point now) {
        if (rate.unlimited()) return true;
        const auto tat = std::max(tat_, now);
        if (tat - now > rate.tolerance_) return false;
        tat_ = tat + rate.interval_;
        return true;
    }

    // Takes `n` tokens after the fact, whether or not there were enough: the
    // bucket goes into debt, and wait_time says when it is out of it. For
    // costs known only once paid, such as the size of a frame just read: the
    // reader waits before its next read, so it overdraws by at most one frame.
    // The cost is rounded to whole clock ticks each time (1 ns: no error that
    // matters builds up).
    void spend(const Rate& rate, Clock::time_point now, double n) {
        if (rate.unlimited() || n <= 0) return;
        tat_ = std::max(tat_, now) + Rate::ticks(rate.seconds_per_token_ * n);
    }

    // How long until take(rate, now + result) succeeds; zero if it would now.
    Clock::duration wait_time(const Rate& rate, Clock::time_point now) const {
        if (rate.unlimited()) return Clock::duration::zero();
        const auto ready = tat_ - rate.tolerance_;
        return ready > now ? ready - now : Clock::duration::zero();
    }

private:
    Clock::time_point tat_;  // the bucket is full from here on
};

}  // namespace parley::relay
