// Byte strings and the small reader/writer every Parley wire format is built on.
// All integers are big-endian. Readers never throw: a short or malformed input
// sets the reader's failed flag, and decoders check it once at the end (plus
// `at_end()` so trailing bytes are rejected).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace parley {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

template <std::size_t N>
using Array = std::array<std::uint8_t, N>;

inline ByteView as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string to_hex(ByteView bytes);
// Returns false on odd length or a non-hex character.
[[nodiscard]] bool from_hex(std::string_view hex, Bytes& out);

class Writer {
public:
    void u8(std::uint8_t v) { out_.push_back(v); }
    void u16(std::uint16_t v);
    void u32(std::uint32_t v);
    void u64(std::uint64_t v);
    void raw(ByteView bytes) { out_.insert(out_.end(), bytes.begin(), bytes.end()); }
    // u32 length prefix, then the bytes.
    void blob(ByteView bytes);
    Bytes& bytes() { return out_; }
    Bytes take() { return std::move(out_); }

private:
    Bytes out_;
};

class Reader {
public:
    explicit Reader(ByteView in) : in_(in) {}

    std::uint8_t u8();
    std::uint16_t u16();
    std::uint32_t u32();
    std::uint64_t u64();
    template <std::size_t N>
    Array<N> fixed() {
        Array<N> out{};
        auto s = take(N);
        if (!s.empty()) std::copy(s.begin(), s.end(), out.begin());
        return out;
    }
    // u32 length prefix; fails if the length exceeds max_bytes or the input.
    ByteView blob(std::size_t max_bytes);
    ByteView take(std::size_t n);
    ByteView rest();

    bool failed() const { return failed_; }
    // For a decoder that finds a field out of its rules: the reader fails as on short input.
    void fail() { failed_ = true; }
    bool at_end() const { return pos_ == in_.size(); }
    // True when every read succeeded and nothing is left over.
    bool ok_and_done() const { return !failed_ && at_end(); }
    std::size_t position() const { return pos_; }

private:
    ByteView in_;
    std::size_t pos_ = 0;
    bool failed_ = false;
};

}  // namespace parley
