// wire/frames.h: client <-> relay frames, exact decoding.
#include "wire/frames.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <utility>

namespace parley::wire {
namespace {

template <std::size_t N>
Array<N> filled(std::uint8_t start) {
    Array<N> a{};
    for (std::size_t i = 0; i < N; ++i) a[i] = static_cast<std::uint8_t>(start + i);
    return a;
}

Bytes some_bytes(std::size_t n, std::uint8_t start) {
    Bytes b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(start + i * 7);
    return b;
}

// One frame of every type, with every field set to something non-default.
std::vector<Frame> one_of_each() {
    return {
        GetChain{49, filled<32>(1), filled<32>(2), filled<32>(24)},
        Publish{0x0102030405060708ull, filled<32>(3), filled<32>(4), some_bytes(300, 5)},
        Join{42, filled<32>(6), filled<32>(7), filled<32>(8), 99},
        Send{43, filled<32>(9), filled<32>(10), some_bytes(272, 11)},
        Send{48, filled<32>(21), filled<32>(22), some_bytes(272, 23), true},  // as Resend
        Chain{50, filled<32>(12), filled<32>(25), true, {some_bytes(10, 1), some_bytes(20, 2), some_bytes(5, 3)}},
        Published{44, filled<32>(13)},
        Joined{45, 7, filled<32>(14), 1000, 17},
        Ack{46, 1000},
        Deliver{filled<32>(15), filled<32>(16), 999, some_bytes(272, 17)},
        NewHead{filled<32>(18), filled<32>(19), 77, some_bytes(400, 20)},
        Error{47, RelayError::forbidden},
    };
}

TEST(Frames, EveryFrameTypeRoundTrips) {
    auto frames = one_of_each();
    ASSERT_EQ(frames.size(), std::variant_size_v<Frame> + 1);  // Send twice: as Send and as Resend
    for (const auto& frame : frames) {
        auto bytes = encode_frame(frame);
        auto decoded = decode_frame(bytes);
        ASSERT_TRUE(decoded.frame) << "frame index " << frame.index();
        EXPECT_EQ(decoded.frame->index(), frame.index());
        EXPECT_EQ(encode_frame(*decoded.frame), bytes) << "frame index " << frame.index();
    }
}

TEST(Frames, StartWithVersionAndType) {
    auto bytes = encode_frame(Ack{1, 2});
    ASSERT_GE(bytes.size(), 2u);
    EXPECT_EQ(bytes[0], protocol_version);
    EXPECT_EQ(bytes[1], static_cast<std::uint8_t>(FrameType::ack));
}

TEST(Frames, DecodedFieldsMatch) {
    Publish p{77, filled<32>(1), filled<32>(2), some_bytes(33, 3)};
    auto decoded = decode_frame(encode_frame(p));
    ASSERT_TRUE(decoded.frame);
    const auto& got = std::get<Publish>(*decoded.frame);
    EXPECT_EQ(got.request_id, p.request_id);
    EXPECT_EQ(got.room, p.room);
    EXPECT_EQ(got.token, p.token);
    EXPECT_EQ(got.record, p.record);

    Chain c{51, filled<32>(4), filled<32>(5), false, {some_bytes(3, 1), some_bytes(4, 2), some_bytes(0, 0)}};
    decoded = decode_frame(encode_frame(c));
    ASSERT_TRUE(decoded.frame);
    const auto& chain = std::get<Chain>(*decoded.frame);
    EXPECT_EQ(chain.request_id, c.request_id);
    EXPECT_EQ(chain.room, c.room);
    EXPECT_EQ(chain.genesis, c.genesis);
    EXPECT_FALSE(chain.complete);
    EXPECT_EQ(chain.records, c.records);

    GetChain g{52, filled<32>(6), filled<32>(7), filled<32>(8)};
    decoded = decode_frame(encode_frame(g));
    ASSERT_TRUE(decoded.frame);
    const auto& get = std::get<GetChain>(*decoded.frame);
    EXPECT_EQ(get.request_id, g.request_id);
    EXPECT_EQ(get.room, g.room);
    EXPECT_EQ(get.genesis, g.genesis);
    EXPECT_EQ(get.after, g.after);

    Error e{9, RelayError::not_head};
    decoded = decode_frame(encode_frame(e));
    ASSERT_TRUE(decoded.frame);
    EXPECT_EQ(std::get<Error>(*decoded.frame).code, RelayError::not_head);
    EXPECT_EQ(std::get<Error>(*decoded.frame).request_id, 9u);
}

// A Send sent again is type 0x05, Resend, with the same fields; decoding keeps
// which it was (the relay looks for an earlier copy of a Resend only).
TEST(Frames, AResendIsASendOfItsOwnType) {
    Send first{5, filled<32>(1), filled<32>(2), some_bytes(64, 3)};
    Send again = first;
    again.resend = true;
    const auto first_bytes = encode_frame(first);
    const auto again_bytes = encode_frame(again);
    EXPECT_EQ(first_bytes[1], static_cast<std::uint8_t>(FrameType::send));
    EXPECT_EQ(again_bytes[1], 0x05);
    EXPECT_TRUE(std::equal(first_bytes.begin() + 2, first_bytes.end(), again_bytes.begin() + 2,
                           again_bytes.end()));
    for (const auto& [bytes, resend] :
         {std::pair{first_bytes, false}, std::pair{again_bytes, true}}) {
        auto decoded = decode_frame(bytes);
        ASSERT_TRUE(decoded.frame);
        const auto& got = std::get<Send>(*decoded.frame);
        EXPECT_EQ(got.resend, resend);
        EXPECT_EQ(got.request_id, 5u);
        EXPECT_EQ(got.envelope, first.envelope);
    }
}

TEST(Frames, RejectsUnknownType) {
    auto bytes = encode_frame(Ack{1, 2});
    for (int type : {0x00, 0x06, 0x80, 0x87, 0x8e, 0x90, 0xff}) {
        bytes[1] = static_cast<std::uint8_t>(type);
        auto decoded = decode_frame(bytes);
        EXPECT_FALSE(decoded.frame) << "type " << type;
        EXPECT_EQ(decoded.error, FrameError::malformed) << "type " << type;
    }
}

TEST(Frames, RejectsEveryTruncation) {
    for (const auto& frame : one_of_each()) {
        auto bytes = encode_frame(frame);
        for (std::size_t n = 0; n < bytes.size(); ++n) {
            auto decoded = decode_frame(ByteView(bytes).first(n));
            EXPECT_FALSE(decoded.frame) << "frame index " << frame.index() << ", prefix " << n;
            EXPECT_EQ(decoded.error, FrameError::malformed) << "frame index " << frame.index() << ", prefix " << n;
        }
    }
}

TEST(Frames, RejectsATrailingByte) {
    for (const auto& frame : one_of_each()) {
        auto bytes = encode_frame(frame);
        bytes.push_back(0);
        auto decoded = decode_frame(bytes);
        EXPECT_FALSE(decoded.frame) << "frame index " << frame.index();
        EXPECT_EQ(decoded.error, FrameError::malformed);
    }
}

TEST(Frames, RejectsOtherVersionsAsBadVersion) {
    for (const auto& frame : one_of_each()) {
        auto bytes = encode_frame(frame);
        for (int version : {0, 2, 0xff}) {
            bytes[0] = static_cast<std::uint8_t>(version);
            auto decoded = decode_frame(bytes);
            EXPECT_FALSE(decoded.frame);
            EXPECT_EQ(decoded.error, FrameError::bad_version) << "version " << version;
        }
    }
}

TEST(Frames, RejectsErrorCodeZeroAndUnknownCodes) {
    for (std::uint16_t code : {std::uint16_t{0}, std::uint16_t{14}, std::uint16_t{99}, std::uint16_t{0xffff}}) {
        auto bytes = encode_frame(Error{1, static_cast<RelayError>(code)});
        auto decoded = decode_frame(bytes);
        EXPECT_FALSE(decoded.frame) << "code " << code;
        EXPECT_EQ(decoded.error, FrameError::malformed) << "code " << code;
    }
}

TEST(Frames, AcceptsEveryKnownErrorCode) {
    for (int c = 1; c <= static_cast<int>(RelayError::quota); ++c) {
        const auto code = static_cast<std::uint16_t>(c);
        auto decoded = decode_frame(encode_frame(Error{1, static_cast<RelayError>(code)}));
        ASSERT_TRUE(decoded.frame) << "code " << code;
        EXPECT_EQ(static_cast<std::uint16_t>(std::get<Error>(*decoded.frame).code), code);
        EXPECT_STRNE(to_string(static_cast<RelayError>(code)), "unknown relay error");
    }
}

TEST(Frames, AChainPageHoldsAtMostItsRecordLimit) {
    Chain c{1, filled<32>(1), filled<32>(2), false, {}};
    for (std::size_t i = 0; i < max_records_per_page; ++i) c.records.push_back(some_bytes(2, 1));
    EXPECT_TRUE(decode_frame(encode_frame(c)).frame);
    c.records.push_back(some_bytes(2, 1));
    auto decoded = decode_frame(encode_frame(c));
    EXPECT_FALSE(decoded.frame);
    EXPECT_EQ(decoded.error, FrameError::malformed);
}

// An empty page says "nothing after `after`": only as the chain's end.
TEST(Frames, AnEmptyChainPageMustBeComplete) {
    auto decoded = decode_frame(encode_frame(Chain{1, filled<32>(1), filled<32>(2), false, {}}));
    EXPECT_FALSE(decoded.frame);
    EXPECT_EQ(decoded.error, FrameError::malformed);
    decoded = decode_frame(encode_frame(Chain{1, filled<32>(1), filled<32>(2), true, {}}));
    ASSERT_TRUE(decoded.frame);
    EXPECT_TRUE(std::get<Chain>(*decoded.frame).records.empty());
}

TEST(Frames, AChainPageCompleteFlagIsZeroOrOne) {
    auto bytes = encode_frame(Chain{1, filled<32>(1), filled<32>(2), true, {some_bytes(3, 1)}});
    const std::size_t flag = 2 + 8 + 32 + 32;
    ASSERT_EQ(bytes[flag], 1);
    bytes[flag] = 2;
    EXPECT_FALSE(decode_frame(bytes).frame);
}

// A 212-member genesis is over 64 KiB: the relay answers that request "too
// large" (the frame does not decode, but its request id is readable).
TEST(Frames, AnOversizedRecordNamesItsRequest) {
    auto bytes = encode_frame(Publish{77, {}, {}, Bytes(max_record_bytes + 1, 0)});
    EXPECT_FALSE(decode_frame(bytes).frame);
    EXPECT_EQ(oversized_record_request(bytes), 77u);
    EXPECT_FALSE(oversized_record_request(encode_frame(Publish{78, {}, {}, Bytes(max_record_bytes, 0)})));
    EXPECT_FALSE(oversized_record_request(encode_frame(Join{79, {}, {}, {}, 0})));
    bytes.resize(20);
    EXPECT_FALSE(oversized_record_request(bytes));
}

TEST(Frames, RejectsARecordOverTheRecordLimit) {
    auto decoded = decode_frame(encode_frame(Publish{1, {}, {}, Bytes(max_record_bytes + 1, 0)}));
    EXPECT_FALSE(decoded.frame);
    EXPECT_EQ(decoded.error, FrameError::malformed);
    EXPECT_TRUE(decode_frame(encode_frame(Publish{1, {}, {}, Bytes(max_record_bytes, 0)})).frame);
}

TEST(Frames, RejectsAnEnvelopeOverTheEnvelopeLimit) {
    auto decoded = decode_frame(encode_frame(Send{1, {}, {}, Bytes(max_envelope_bytes + 1, 0)}));
    EXPECT_FALSE(decoded.frame);
    EXPECT_TRUE(decode_frame(encode_frame(Send{1, {}, {}, Bytes(max_envelope_bytes, 0)})).frame);
}

TEST(Frames, RejectsABlobLengthThatOverrunsTheFrame) {
    auto bytes = encode_frame(Deliver{filled<32>(1), filled<32>(2), 3, some_bytes(10, 4)});
    // the u32 envelope length sits right before the 10 envelope bytes
    const std::size_t len_at = bytes.size() - 10 - 4;
    ASSERT_EQ(bytes[len_at + 3], 10);
    bytes[len_at + 3] = 11;
    EXPECT_FALSE(decode_frame(bytes).frame);
    bytes[len_at + 3] = 9;
    EXPECT_FALSE(decode_frame(bytes).frame);
}

}  // namespace
}  // namespace parley::wire
