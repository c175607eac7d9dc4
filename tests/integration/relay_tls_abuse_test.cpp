// The relay's TLS layer (lib/relay/tls_stream.h) against peers that
// misbehave the ways net::Client never would: floods of TLS 1.3 KeyUpdate
// requests, not reading, closing in the middle of a large write, staying
// stuck through the relay's shutdown. The peer is a raw OpenSSL client
// (RawTls, tls_test_support.h) with a small receive buffer.
#include <thread>

#include "tls_test_support.h"

namespace parley::relay_it {
namespace {

class RelayTlsAbuseTest : public RelayTlsTest {
protected:
    // Envelopes of the largest size for a raw client that does not read: 5.9
    // MB, more than the relay's socket send buffer holds (4 MB at most), less
    // than its send queue limit (8 MiB).
    static constexpr std::size_t envelope_count = 80;

    // The next WebSocket frame the raw client reads, skipping none.
    static std::optional<WsFrame> read_frame(RawTls& raw, WsParser& parser) {
        std::array<std::uint8_t, 16384> buf;
        for (;;) {
            bool bad = false;
            if (auto f = parser.next(bad)) return f;
            if (bad) return std::nullopt;
            auto r = raw.read_some(buf.data(), buf.size());
            if (r.end != RawTls::End::data) return std::nullopt;
            parser.feed(buf.data(), r.n);
        }
    }

    // A raw client on the relay, joined to `room` (made by publish_and_join
    // with the same token fill).
    bool raw_join(RawTls& raw, WsParser& parser, const Room& room, std::uint8_t token_fill) {
        if (!raw.open_websocket()) return false;
        if (!raw.send(wire::Join{7, room.id, room.genesis, make_token(token_fill)})) return false;
        auto f = read_frame(raw, parser);
        if (!f) return false;
        auto decoded = wire::decode_frame(f->payload);
        return decoded.frame && std::holds_alternative<wire::Joined>(*decoded.frame);
    }

    // `b` sends `count` envelopes of `size` bytes into the room, each acked.
    static std::vector<Bytes> send_envelopes(FrameClient& b, const Room& room, std::size_t count, std::size_t size) {
        std::vector<Bytes> sent;
        for (std::size_t i = 0; i < count; ++i) {
            Bytes envelope(size);
            for (std::size_t j = 0; j < size; ++j) envelope[j] = static_cast<std::uint8_t>(j * 13 + i);
            b.send(wire::Send{100 + i, room.id, room.genesis, envelope});
            sent.push_back(std::move(envelope));
        }
        for (std::size_t i = 0; i < count; ++i) EXPECT_TRUE(b.expect<wire::Ack>(std::chrono::seconds(20)));
        return sent;
    }

    // Sends TLS 1.3 KeyUpdate requests (each asks the relay to answer with a
    // KeyUpdate of its own) without reading anything, until `max` are sent,
    // `max_time` has passed, the relay stops taking them (a send blocks for
    // RawTls::io_timeout) or the connection fails.
    struct Flood {
        std::size_t sent = 0;
        bool blocked = false;
        bool closed = false;
    };
    static Flood flood_key_updates(RawTls& raw, std::size_t max, std::chrono::seconds max_time) {
        Flood flood;
        const auto deadline = std::chrono::steady_clock::now() + max_time;
        while (flood.sent < max && std::chrono::steady_clock::now() < deadline) {
            ERR_clear_error();
            if (SSL_key_update(raw.ssl(), SSL_KEY_UPDATE_REQUESTED) != 1) {
                flood.closed = true;
                break;
            }
            const int r = SSL_do_handshake(raw.ssl());  // sends it now
            if (r != 1) {
                const int e = SSL_get_error(raw.ssl(), r);
                (e == SSL_ERROR_WANT_WRITE ? flood.blocked : flood.closed) = true;
                break;
            }
            ++flood.sent;
        }
        return flood;
    }

    // Floods (1.5 million requests and replies are about 40 MB of records),
    // says what happened, and checks that the relay stopped taking requests
    // (or closed the connection) with its memory bounded.
    Flood flood_expecting_a_bound(RawTls& raw) {
        const std::size_t rss_before = rss_kib(relay_.pid());
        const auto flood = flood_key_updates(raw, 1'500'000, std::chrono::seconds(40));
        const std::size_t rss_after = rss_kib(relay_.pid());
        std::printf("  measure: %zu KeyUpdate requests sent, then %s; relay RSS %zu -> %zu KiB\n", flood.sent,
                    flood.blocked  ? "the relay stopped reading"
                    : flood.closed ? "the connection closed"
                                   : "the limit",
                    rss_before, rss_after);
        EXPECT_TRUE(flood.blocked || flood.closed) << "the relay took every request: its replies went nowhere";
        if (rss_is_meaningful) {
            EXPECT_LT(rss_after, rss_before + 16 * 1024) << "the relay's memory grew with the flood";
        }
        return flood;
    }

    // SIGTERM: the relay closes every connection and exits 0 (under the
    // sanitizers, also with nothing leaked: no operation left holding its
    // session, e.g. a write parked behind another).
    void expect_clean_exit() {
        relay_.signal(SIGTERM);
        auto code = relay_.wait_exit(std::chrono::seconds(20));
        ASSERT_TRUE(code) << "still running after SIGTERM";
        EXPECT_EQ(*code, 0) << relay_.stderr_text();
    }

    // Members `a` and `b` in a fresh room, and a raw client (8 KiB receive
    // buffer) joined to it as a third connection: the misbehaving peer.
    void open_room_with_raw_client(const char* name, std::uint8_t token_fill) {
        a_.emplace("wss://localhost:" + port_, trusting_cert());
        b_.emplace("wss://localhost:" + port_, trusting_cert());
        room_ = publish_and_join(*a_, *b_, name, token_fill);
        ASSERT_FALSE(HasFailure());
        raw_ = std::make_unique<RawTls>(port_, cert_, TLS1_3_VERSION, TLS1_3_VERSION, 8192);
        ASSERT_TRUE(raw_join(*raw_, parser_, room_, token_fill));
    }

    std::optional<FrameClient> a_, b_;
    Room room_{};
    std::unique_ptr<RawTls> raw_;
    WsParser parser_;
};

// A peer that floods KeyUpdate requests and reads nothing. Each request makes
// the relay's read produce a KeyUpdate reply: the relay must send these (not
// queue them without end) and so, once the peer's socket is full, stop
// reading; its memory stays bounded and it keeps serving everyone else.
//
// Then a message for the flooder: the relay's write to it must wait behind
// the read's stuck reply (one writer on the socket), and the others get it.
// When the flooder goes, the operations it held end: the relay exits cleanly
// and (under the sanitizers) leaks nothing.
TEST_F(RelayTlsAbuseTest, KeyUpdateFloodWithoutReadingStaysBounded) {
    open_room_with_raw_client("tls flood", 0x35);
    if (HasFatalFailure()) return;
    flood_expecting_a_bound(*raw_);
    send_envelopes(*b_, room_, 1, 1000);
    EXPECT_TRUE(a_->expect<wire::Deliver>());
    raw_.reset();
    expect_relay_serving();
    expect_clean_exit();
}

// SIGTERM while the flooder is still connected and stuck: its session's close
// frame waits behind the stuck write, so the graceful close cannot finish. At
// the end of the grace the relay closes the socket, every operation ends, and
// it exits 0 with nothing leaked (under ASan, LeakSanitizer makes a leaked
// session fail the exit code).
TEST_F(RelayTlsAbuseTest, StopWhileAFlooderIsStuckExitsCleanly) {
    open_room_with_raw_client("tls stop", 0x36);
    if (HasFatalFailure()) return;
    const auto flood = flood_expecting_a_bound(*raw_);
    ASSERT_TRUE(flood.blocked) << "the flood did not get the relay stuck";
    expect_clean_exit();
    EXPECT_NE(relay_.stderr_text().find("did not finish closing"), std::string::npos) << relay_.stderr_text();
}

// The same flood while the relay's write to the peer is stuck (the peer reads
// nothing and a large backlog is on its way): the read must not write then
// (one writer on the socket), so its replies wait for the writer, and their
// queue is capped: over it, the relay fails the connection.
TEST_F(RelayTlsAbuseTest, KeyUpdateFloodBehindAStuckWriteClosesTheConnection) {
    open_room_with_raw_client("tls stuck", 0x33);
    if (HasFatalFailure()) return;
    send_envelopes(*b_, room_, envelope_count, wire::max_envelope_bytes);
    ASSERT_FALSE(HasFailure());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto flood = flood_expecting_a_bound(*raw_);
    expect_relay_serving();
    // Closed by the cap, not by chance: the relay says so (its stderr arrives
    // through a pipe, so allow it a moment).
    EXPECT_TRUE(flood.closed);
    const char* const cap_line = "unsent TLS output is over its limit";
    for (int i = 0; i < 100 && relay_.stderr_text().find(cap_line) == std::string::npos; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_NE(relay_.stderr_text().find(cap_line), std::string::npos) << relay_.stderr_text();
    // The members who behave still get their messages.
    for (std::size_t i = 0; i < envelope_count; ++i) ASSERT_TRUE(a_->expect<wire::Deliver>(std::chrono::seconds(20)));
    expect_clean_exit();
}

// The peer closes (WebSocket close frame) while the relay is in the middle of
// writing it megabytes of frames it is not reading. The relay's close reply
// and TLS close_notify go after the write in flight, never into it: the peer
// reads whole frames, the close frame, and close_notify, never a record that
// fails to decrypt.
TEST_F(RelayTlsAbuseTest, PeerCloseDuringALargeWriteKeepsTheTlsStreamIntact) {
    open_room_with_raw_client("tls close", 0x34);
    if (HasFatalFailure()) return;
    const auto sent = send_envelopes(*b_, room_, envelope_count, wire::max_envelope_bytes);
    ASSERT_FALSE(HasFailure());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_TRUE(raw_->send_frame(8, Bytes{0x03, 0xe8}));  // close, 1000 (normal)

    std::size_t delivered = 0;
    bool close_seen = false;
    bool bad_frame = false;
    RawTls::End end = RawTls::End::data;
    std::array<std::uint8_t, 16384> buf;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (end == RawTls::End::data && std::chrono::steady_clock::now() < deadline) {
        auto r = raw_->read_some(buf.data(), buf.size());
        end = r.end;
        if (end != RawTls::End::data || close_seen) continue;  // after the close frame: TLS only
        parser_.feed(buf.data(), r.n);
        bool bad = false;
        while (auto f = parser_.next(bad)) {
            if (f->opcode == 8) {
                close_seen = true;
                break;
            }
            auto decoded = wire::decode_frame(f->payload);
            auto* deliver = decoded.frame ? std::get_if<wire::Deliver>(&*decoded.frame) : nullptr;
            if (f->opcode != 2 || !deliver || delivered >= sent.size() || deliver->envelope != sent[delivered]) {
                bad_frame = true;
                break;
            }
            ++delivered;
        }
        if (bad || bad_frame) break;
    }
    std::printf("  measure: %zu whole frames, close frame %s, then %s\n", delivered, close_seen ? "seen" : "not seen",
                end == RawTls::End::close_notify   ? "close_notify"
                : end == RawTls::End::reset_or_eof ? "reset or EOF"
                : end == RawTls::End::timeout      ? "nothing (timeout)"
                : end == RawTls::End::tls_error    ? "a TLS error"
                                                   : "more data");
    EXPECT_FALSE(bad_frame) << "a frame that is not the next envelope, after " << delivered;
    EXPECT_NE(end, RawTls::End::tls_error) << "a record did not decrypt: bytes interleaved on the socket";
    // Stricter than "close_notify or a reset": the peer closed cleanly, so the
    // relay owes it a clean end. A TLS layer that dropped the close_notify
    // because a write was in flight (rather than sending it after) fails here.
    EXPECT_EQ(end, RawTls::End::close_notify);
    EXPECT_TRUE(close_seen) << "the stream ended before the close frame";
    expect_relay_serving();
    expect_clean_exit();
}

}  // namespace
}  // namespace parley::relay_it
