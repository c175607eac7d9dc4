#include "wire/bytes.h"

namespace parley {

std::string to_hex(ByteView bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (auto b : bytes) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0x0f]);
    }
    return out;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool from_hex(std::string_view hex, Bytes& out) {
    if (hex.size() % 2 != 0) return false;
    Bytes result;
    result.reserve(hex.size() / 2);
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        int hi = hex_value(hex[i]);
        int lo = hex_value(hex[i + 1]);
        if (hi < 0 || lo < 0) return false;
        result.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
    }
    out = std::move(result);
    return true;
}

void Writer::u16(std::uint16_t v) {
    u8(static_cast<std::uint8_t>(v >> 8));
    u8(static_cast<std::uint8_t>(v));
}
void Writer::u32(std::uint32_t v) {
    u16(static_cast<std::uint16_t>(v >> 16));
    u16(static_cast<std::uint16_t>(v));
}
void Writer::u64(std::uint64_t v) {
    u32(static_cast<std::uint32_t>(v >> 32));
    u32(static_cast<std::uint32_t>(v));
}
void Writer::blob(ByteView bytes) {
    u32(static_cast<std::uint32_t>(bytes.size()));
    raw(bytes);
}

ByteView Reader::take(std::size_t n) {
    if (failed_ || in_.size() - pos_ < n) {
        failed_ = true;
        return {};
    }
    auto s = in_.subspan(pos_, n);
    pos_ += n;
    return s;
}

ByteView Reader::rest() { return take(in_.size() - pos_); }

std::uint8_t Reader::u8() {
    auto s = take(1);
    return s.empty() ? 0 : s[0];
}
std::uint16_t Reader::u16() {
    auto s = take(2);
    return s.empty() ? 0 : static_cast<std::uint16_t>(s[0] << 8 | s[1]);
}
std::uint32_t Reader::u32() {
    auto hi = u16();
    auto lo = u16();
    return static_cast<std::uint32_t>(hi) << 16 | lo;
}
std::uint64_t Reader::u64() {
    auto hi = u32();
    auto lo = u32();
    return static_cast<std::uint64_t>(hi) << 32 | lo;
}
ByteView Reader::blob(std::size_t max_bytes) {
    auto n = u32();
    if (failed_ || n > max_bytes) {
        failed_ = true;
        return {};
    }
    return take(n);
}

}  // namespace parley
