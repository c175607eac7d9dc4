// The seeded draws of scenario 7 ("a relay's real day"), written out by hand so
// that a seed gives the same room sizes and the same arrivals on every machine
// and with every standard library (std::uniform_int_distribution and
// std::exponential_distribution are implementation-defined: libstdc++ and libc++
// draw different numbers from the same engine).
//
//   SplitMix64 (Steele, Lea, Flood 2014; the seeding generator of xoshiro):
//     state += 0x9e3779b97f4a7c15, then two xor-shift-multiply rounds.
//   below(n): Lemire's multiply-high, floor(x * n / 2^64) (bias < n / 2^64).
//   unit():   the top 53 bits as a double in [0, 1).
//   exponential(rate): -log(1 - unit()) / rate, an inter-arrival time of a
//     Poisson process of `rate` events per second.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace parley::bench {

class SplitMix64 {
public:
    explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    // Uniform in [0, n).
    std::uint64_t below(std::uint64_t n) {
        __extension__ using u128 = unsigned __int128;  // GCC and Clang; __extension__: no -Wpedantic
        return static_cast<std::uint64_t>((static_cast<u128>(next()) * n) >> 64);
    }
    // Uniform in [lo, hi].
    std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }
    double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    double exponential(double rate) { return -std::log1p(-unit()) / rate; }

private:
    std::uint64_t state_;
};

// "MIN-MAX" (or "N" for a fixed size) as given to --room-sizes.
struct SizeRange {
    std::size_t min = 0, max = 0;
    bool given() const { return max > 0; }
    double mean() const { return (static_cast<double>(min) + static_cast<double>(max)) / 2; }
};

inline SizeRange parse_size_range(const std::string& text) {
    SizeRange r;
    const auto dash = text.find('-');
    try {
        std::size_t used = 0;
        r.min = std::stoul(text.substr(0, dash), &used);
        if (used != text.substr(0, dash).size()) throw std::invalid_argument(text);
        r.max = r.min;
        if (dash != std::string::npos) {
            const std::string hi = text.substr(dash + 1);
            r.max = std::stoul(hi, &used);
            if (used != hi.size()) throw std::invalid_argument(text);
        }
    } catch (const std::logic_error&) {
        throw std::invalid_argument("--room-sizes wants MIN-MAX, e.g. 2-12, not \"" + text + "\"");
    }
    if (r.min < 2 || r.max < r.min) throw std::invalid_argument("--room-sizes wants 2 <= MIN <= MAX");
    return r;
}

// Scenario 7's rooms: the size of room r is the r-th draw of SplitMix64(seed),
// uniform in [min, max]. The caller goes on drawing the arrivals from the same
// generator afterwards.
inline std::vector<std::size_t> draw_room_sizes(SplitMix64& g, std::size_t rooms, SizeRange range) {
    std::vector<std::size_t> sizes(rooms);
    for (auto& s : sizes) s = static_cast<std::size_t>(g.between(range.min, range.max));
    return sizes;
}

}  // namespace parley::bench
