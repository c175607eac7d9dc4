// Latency histogram: log-linear buckets (64 per power of two, so a reported
// percentile is within 1.6% of the true value), constant memory however many
// million samples a run records. The maximum is kept exactly.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace parley::bench {

class LatencyHistogram {
public:
    void record(std::int64_t ns) {
        const auto v = static_cast<std::uint64_t>(std::max<std::int64_t>(ns, 0));
        ++counts_[index(v)];
        ++total_;
        max_ = std::max(max_, v);
    }

    std::uint64_t count() const { return total_; }
    std::uint64_t max_ns() const { return max_; }

    // The smallest bucket value with at least `q` of the samples at or below it.
    std::uint64_t percentile_ns(double q) const {
        if (total_ == 0) return 0;
        const auto want = static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.5);
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= std::max<std::uint64_t>(want, 1)) return std::min(upper(i), max_);
        }
        return max_;
    }

private:
    static constexpr unsigned sub_bits = 6;  // 64 sub-buckets per power of two
    static constexpr std::size_t buckets = (64 - sub_bits + 1) << sub_bits;

    static std::size_t index(std::uint64_t v) {
        if (v < (1u << sub_bits)) return v;  // exact below 64 ns
        const unsigned msb = 63 - std::countl_zero(v);
        const unsigned shift = msb - sub_bits;
        const std::uint64_t sub = (v >> shift) & ((1u << sub_bits) - 1);
        return ((shift + 1) << sub_bits) + sub;
    }
    static std::uint64_t upper(std::size_t i) {
        if (i < (1u << sub_bits)) return i;
        const std::uint64_t shift = (i >> sub_bits) - 1;
        const std::uint64_t sub = i & ((1u << sub_bits) - 1);
        return (((1ull << sub_bits) | sub) << shift) + ((1ull << shift) - 1);
    }

    std::array<std::uint64_t, buckets> counts_{};
    std::uint64_t total_ = 0;
    std::uint64_t max_ = 0;
};

}  // namespace parley::bench
