// A token bucket: `rate` tokens a second, holding at most `burst`. The relay
// takes one per frame a connection sends (see Session::on_read).
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

    // rate <= 0: unlimited (take always succeeds).
    TokenBucket(double rate, double burst, Clock::time_point now)
        : interval_(rate > 0 ? std::chrono::round<Clock::duration>(
                                   std::chrono::duration<double>(1.0 / rate))
                             : Clock::duration::zero()),
          tolerance_(interval_ * static_cast<Clock::rep>(std::max(1.0, burst) - 1.0)),
          tat_(now) {}

    // Takes one token if there is one.
    bool take(Clock::time_point now) {
        if (interval_ == Clock::duration::zero()) return true;
        const auto tat = std::max(tat_, now);
        if (tat - now > tolerance_) return false;
        tat_ = tat + interval_;
        return true;
    }

    // How long until take(now + result) succeeds; zero if it would now.
    Clock::duration wait_time(Clock::time_point now) const {
        const auto ready = tat_ - tolerance_;
        return ready > now ? ready - now : Clock::duration::zero();
    }

private:
    Clock::duration interval_;   // one token's worth of time
    Clock::duration tolerance_;  // (burst - 1) tokens' worth
    Clock::time_point tat_;      // the bucket is full from here on
};

}  // namespace parley::relay
