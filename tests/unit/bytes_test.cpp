// wire/bytes.h: the big-endian Writer and Reader every wire format sits on.
#include <gtest/gtest.h>

#include <limits>

#include "wire/bytes.h"

namespace parley {
namespace {

TEST(Bytes, RoundTripsEveryIntegerWidth) {
    const std::uint8_t u8s[] = {0, 1, 0x7f, 0x80, 0xff};
    const std::uint16_t u16s[] = {0, 1, 0x00ff, 0xff00, 0xffff};
    const std::uint32_t u32s[] = {0, 1, 0x01020304, 0x80000000u, 0xffffffffu};
    const std::uint64_t u64s[] = {0, 1, 0x0102030405060708ull, 0x8000000000000000ull,
                                  std::numeric_limits<std::uint64_t>::max()};
    Writer w;
    for (auto v : u8s) w.u8(v);
    for (auto v : u16s) w.u16(v);
    for (auto v : u32s) w.u32(v);
    for (auto v : u64s) w.u64(v);
    auto bytes = w.take();
    EXPECT_EQ(bytes.size(), 5u * (1 + 2 + 4 + 8));

    Reader r(bytes);
    for (auto v : u8s) EXPECT_EQ(r.u8(), v);
    for (auto v : u16s) EXPECT_EQ(r.u16(), v);
    for (auto v : u32s) EXPECT_EQ(r.u32(), v);
    for (auto v : u64s) EXPECT_EQ(r.u64(), v);
    EXPECT_TRUE(r.ok_and_done());
}

TEST(Bytes, WritesIntegersBigEndian) {
    Writer w;
    w.u16(0x0102);
    w.u32(0x03040506);
    w.u64(0x0708090a0b0c0d0eull);
    EXPECT_EQ(w.take(), (Bytes{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
                               0x0d, 0x0e}));
}

TEST(Bytes, ReadsIntegersBigEndian) {
    const Bytes in{0xa1, 0xb2, 0x00, 0x00, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, 0x22, 0x33};
    Reader r(in);
    EXPECT_EQ(r.u16(), 0xa1b2);
    EXPECT_EQ(r.u32(), 0x00000100u);
    EXPECT_EQ(r.u64(), 0xdeadbeef00112233ull);
    EXPECT_TRUE(r.ok_and_done());
}

TEST(Bytes, BlobHasU32LengthPrefix) {
    Writer w;
    const Bytes payload{0xaa, 0xbb, 0xcc};
    w.blob(payload);
    EXPECT_EQ(w.take(), (Bytes{0x00, 0x00, 0x00, 0x03, 0xaa, 0xbb, 0xcc}));
}

TEST(Bytes, BlobRoundTripsAtTheLimit) {
    Writer w;
    Bytes payload(100, 0x5a);
    w.blob(payload);
    w.blob({});
    auto bytes = w.take();
    Reader r(bytes);
    auto got = r.blob(100);
    EXPECT_EQ(Bytes(got.begin(), got.end()), payload);
    EXPECT_TRUE(r.blob(100).empty());
    EXPECT_TRUE(r.ok_and_done());
}

TEST(Bytes, BlobLongerThanTheLimitFails) {
    Writer w;
    w.blob(Bytes(101, 0x5a));
    auto bytes = w.take();
    Reader r(bytes);
    EXPECT_TRUE(r.blob(100).empty());
    EXPECT_TRUE(r.failed());
}

TEST(Bytes, BlobLengthBeyondTheInputFails) {
    const Bytes in{0x00, 0x00, 0x00, 0x05, 0x01, 0x02};  // claims 5, holds 2
    Reader r(in);
    EXPECT_TRUE(r.blob(1000).empty());
    EXPECT_TRUE(r.failed());
}

TEST(Bytes, ReadingPastTheEndSetsFailed) {
    const Bytes in{0x01, 0x02, 0x03};
    {
        Reader r(in);
        EXPECT_EQ(r.u16(), 0x0102);
        EXPECT_FALSE(r.failed());
        r.u16();
        EXPECT_TRUE(r.failed());
        EXPECT_FALSE(r.ok_and_done());
    }
    {
        Reader r(in);
        r.u32();
        EXPECT_TRUE(r.failed());
    }
    {
        Reader r(in);
        r.u64();
        EXPECT_TRUE(r.failed());
    }
    {
        Reader r(in);
        r.fixed<4>();
        EXPECT_TRUE(r.failed());
    }
    {
        Reader r(ByteView{});
        r.u8();
        EXPECT_TRUE(r.failed());
    }
}

TEST(Bytes, FailureIsSticky) {
    const Bytes in{0x01, 0x02, 0x03};
    Reader r(in);
    r.take(4);
    ASSERT_TRUE(r.failed());
    EXPECT_EQ(r.u8(), 0);  // bytes remain, but a failed reader reads nothing more
    EXPECT_TRUE(r.failed());
}

TEST(Bytes, TrailingBytesMakeOkAndDoneFalse) {
    const Bytes in{0x01, 0x02, 0x03};
    Reader r(in);
    r.u16();
    EXPECT_FALSE(r.failed());
    EXPECT_FALSE(r.at_end());
    EXPECT_FALSE(r.ok_and_done());
    r.u8();
    EXPECT_TRUE(r.ok_and_done());
}

TEST(Bytes, FixedReadsExactBytes) {
    const Bytes in{1, 2, 3, 4, 5};
    Reader r(in);
    auto a = r.fixed<3>();
    EXPECT_EQ(a, (Array<3>{1, 2, 3}));
    EXPECT_EQ(r.position(), 3u);
    auto rest = r.rest();
    EXPECT_EQ(Bytes(rest.begin(), rest.end()), (Bytes{4, 5}));
    EXPECT_TRUE(r.ok_and_done());
}

TEST(Hex, RoundTripsEveryByteValue) {
    Bytes all;
    for (int i = 0; i < 256; ++i) all.push_back(static_cast<std::uint8_t>(i));
    auto hex = to_hex(all);
    EXPECT_EQ(hex.size(), 512u);
    Bytes back;
    ASSERT_TRUE(from_hex(hex, back));
    EXPECT_EQ(back, all);
}

TEST(Hex, EncodesLowercase) {
    const Bytes in{0x00, 0xab, 0xcd, 0xef, 0x19};
    EXPECT_EQ(to_hex(in), "00abcdef19");
}

TEST(Hex, AcceptsUppercase) {
    Bytes out;
    ASSERT_TRUE(from_hex("ABcdEF", out));
    EXPECT_EQ(out, (Bytes{0xab, 0xcd, 0xef}));
}

TEST(Hex, RejectsOddLengthAndNonHexCharacters) {
    for (std::string_view bad : {"abc", "0g", "zz", " 0", "0x00", "-1", "12 3"}) {
        Bytes out{0x42};
        EXPECT_FALSE(from_hex(bad, out)) << bad;
        EXPECT_EQ(out, Bytes{0x42}) << "output must be untouched on failure: " << bad;
    }
}

TEST(Hex, EmptyStringIsEmptyBytes) {
    Bytes out{0x42};
    ASSERT_TRUE(from_hex("", out));
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(to_hex({}), "");
}

}  // namespace
}  // namespace parley
