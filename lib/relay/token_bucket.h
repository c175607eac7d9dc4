// A token bucket: `rate` tokens a second, holding at most `burst`. The relay
// keeps two per connection (see Session::read_when_allowed): one token per
// frame, and one per byte of the frames read.
//
// Kept as the generic cell rate algorithm (RFC 2697's cousin, as in ATM and
// most rate limiters): instead of a fractional token count it keeps `tat_`, the
// time at which the bucket would be full again, in whole clock ticks, so no
// rounding error builds up however many small refills there are.
#pragma once

#include <algorithm>
#include <chrono>

namespace parley::relay {

class TokenBucket {
public:
    using Clock = std::chrono::steady_clock;

    // rate <= 0: unlimited (take always succeeds, wait_time is always zero).
    TokenBucket(double rate, double burst, Clock::time_point now)
        : seconds_per_token_(rate > 0 ? 1.0 / rate : 0.0),
          interval_(rate > 0 ? std::chrono::round<Clock::duration>(std::chrono::duration<double>(seconds_per_token_))
                             : Clock::duration::zero()),
          tolerance_(rate > 0 ? std::chrono::round<Clock::duration>(
                                    std::chrono::duration<double>(seconds_per_token_ * (std::max(1.0, burst) - 1.0)))
                              : Clock::duration::zero()),
          tat_(now) {}

    // Takes one token if there is one.
    bool take(Clock::time_point now) {
        if (interval_ == Clock::duration::zero()) return true;
        const auto tat = std::max(tat_, now);
        if (tat - now > tolerance_) return false;
        tat_ = tat + interval_;
        return true;
    }

    // Takes `n` tokens after the fact, whether or not there were enough: the
    // bucket goes into debt, and wait_time says when it is out of it. For
    // costs known only once paid, such as the size of a frame just read: the
    // reader waits before its next read, so it overdraws by at most one frame.
    // The cost is rounded to whole clock ticks each time (1 ns: no error that
    // matters builds up).
    void spend(Clock::time_point now, double n) {
        if (interval_ == Clock::duration::zero() || n <= 0) return;
        tat_ = std::max(tat_, now) +
               std::chrono::round<Clock::duration>(std::chrono::duration<double>(seconds_per_token_ * n));
    }

    // How long until take(now + result) succeeds; zero if it would now.
    Clock::duration wait_time(Clock::time_point now) const {
        const auto ready = tat_ - tolerance_;
        return ready > now ? ready - now : Clock::duration::zero();
    }

private:
    double seconds_per_token_;   // for spend(): a cost of many tokens, rounded once
    Clock::duration interval_;   // one token's worth of time
    Clock::duration tolerance_;  // (burst - 1) tokens' worth
    Clock::time_point tat_;      // the bucket is full from here on
};

}  // namespace parley::relay
