// parley-loadgen: drives a relay with many WebSocket clients on one io thread
// and reports deliveries per second, lost deliveries, latency and the relay's
// CPU time per delivery; in idle mode, the relay's resident memory per connection.
//
// Protocols:
//   parley     the real thing (docs/PROTOCOL.md §6): member 0 of each room
//              Publishes a genesis record, every client Joins with the access
//              token, senders Send pre-sealed envelopes. The relay Acks the
//              sender and Delivers to every other member, so a message makes
//              members - 1 deliveries. The envelope counter carries the message
//              number and the session id the sender's index, for latency.
//   broadcast  a relay that echoes every frame to every client of its room
//              (URL path /room/N), the sender included: members deliveries per
//              message. The message id is inside the payload: bytes 0-11 of a
//              binary frame, or the first 24 hex digits of chat.py's "message"
//              field for --payload json (what the original Python relay parses).
//
// "As fast as possible" (--rate 0) keeps --window messages in flight per sender:
// one is retired by the relay's Ack (parley) or by the sender's own echo
// (broadcast). A delivery's latency runs from the moment the loadgen queued the
// frame to the moment the read that brought it completed.
//
// Output: one JSON object on stdout; a human summary on stderr.
#include <CLI/CLI.hpp>
#include <boost/asio/ssl.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <sys/resource.h>
#include <unistd.h>

#include "loadgen/latency_histogram.h"
#include "loadgen/parley_fixture.h"
#include "loadgen/ws_client.h"

namespace parley::bench {
namespace {

struct Options {
    std::string url = "ws://127.0.0.1:8080";
    std::string protocol = "parley";
    std::string payload = "binary";
    std::string label = "run";
    std::size_t rooms = 1, members = 100, senders = 10, text_bytes = 256;
    double rate = 0, duration_s = 5, drain_s = 3, settle_s = 1;
    std::size_t window = 32, pool = 512, roster_max = 128, connect_concurrency = 256;
    std::size_t read_buffer_bytes = 16 * 1024;
    int relay_pid = 0;
    bool idle = false;
};

// utime + stime of a process, in seconds (/proc/PID/stat fields 14 and 15).
double process_cpu_s(int pid) {
    if (pid <= 0) return 0;
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), {});
    auto close = stat.rfind(')');  // the command name may hold spaces
    if (close == std::string::npos) return 0;
    std::istringstream fields(stat.substr(close + 2));
    std::string skip;
    for (int i = 3; i < 14; ++i) fields >> skip;
    unsigned long long utime = 0, stime = 0;
    fields >> utime >> stime;
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long process_rss_kib(int pid) {
    if (pid <= 0) return 0;
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return 0;
}

double own_cpu_s() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Sender {
    std::size_t client = 0;
    std::uint32_t index = 0;
    std::uint64_t next = 0;          // next message number
    std::size_t in_flight = 0;
    std::vector<std::int64_t> sent_ns;  // by message number
    std::vector<Bytes> frames;          // parley: pre-sealed Send frames, used in turn
    Bytes payload;                      // broadcast: one payload, its id rewritten per message
    std::unique_ptr<asio::steady_timer> timer;
    std::chrono::steady_clock::time_point due;
};

class LoadGenerator final : public ClientEvents {
public:
    explicit LoadGenerator(Options o) : o_(std::move(o)), tls_ctx_(asio::ssl::context::tls_client) {}

    int run();

    void on_open(std::size_t) override {
        ++opened_;
        --connecting_;
        connect_more();
    }
    void on_failed(std::size_t client, const std::string& what) override;
    void on_message(std::size_t client, std::span<const std::uint8_t> payload, std::int64_t now) override;

private:
    bool parley() const { return o_.protocol == "parley"; }
    std::size_t clients() const { return o_.rooms * o_.members; }
    std::size_t room_of(std::size_t client) const { return client / o_.members; }
    void connect_more();
    bool run_until(const std::function<bool()>& done, double timeout_s);
    void prepare_senders();
    void send_next(Sender& s);
    void schedule(Sender& s);
    void on_delivery(std::size_t client, std::uint32_t sender, std::uint64_t n, std::int64_t now);
    void report(double elapsed_s, double relay_cpu_s, double own_cpu);
    void report_idle(long rss_before, long rss_after);

    Options o_;
    asio::io_context ioc_;
    asio::ssl::context tls_ctx_;
    bool tls_ = false;
    tcp::endpoint endpoint_;
    std::string host_;
    std::unique_ptr<ParleyFixture> fixture_;
    std::vector<std::unique_ptr<WsClient>> clients_;
    std::vector<Sender> senders_;
    std::vector<std::int32_t> sender_of_client_;  // -1: not a sender

    std::size_t next_connect_ = 0, connecting_ = 0, opened_ = 0;
    std::size_t published_ = 0, joined_ = 0, setup_errors_ = 0;
    bool setup_ = true, sending_ = false;
    std::size_t failures_ = 0, relay_errors_ = 0, unexpected_ = 0;
    std::uint64_t sent_ = 0, expected_ = 0, delivered_ = 0;
    std::int64_t start_ns_ = 0, last_delivery_ns_ = 0;
    LatencyHistogram latency_;
};

void LoadGenerator::on_failed(std::size_t client, const std::string& what) {
    ++failures_;
    if (failures_ <= 5) std::fprintf(stderr, "loadgen: client %zu: %s\n", client, what.c_str());
    if (setup_ && connecting_ > 0) {
        --connecting_;
        connect_more();
    }
}

void LoadGenerator::connect_more() {
    while (connecting_ < o_.connect_concurrency && next_connect_ < clients()) {
        const std::size_t c = next_connect_++;
        ++connecting_;
        const std::string target = parley() ? "/" : "/room/" + std::to_string(room_of(c));
        clients_[c]->start(endpoint_, host_, target);
    }
}

bool LoadGenerator::run_until(const std::function<bool()>& done, double timeout_s) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        ioc_.run_one_for(std::chrono::milliseconds(10));
    }
    return true;
}

void LoadGenerator::on_message(std::size_t client, std::span<const std::uint8_t> m, std::int64_t now) {
    if (parley()) {
        if (m.size() < 2) return void(++unexpected_);
        switch (static_cast<wire::FrameType>(m[1])) {
            case wire::FrameType::deliver:
                if (auto id = parse_deliver(m)) return on_delivery(client, id->sender, id->counter, now);
                return void(++unexpected_);
            case wire::FrameType::ack: {
                const auto s = sender_of_client_[client];
                if (s < 0) return void(++unexpected_);
                Sender& sender = senders_[static_cast<std::size_t>(s)];
                --sender.in_flight;
                if (sending_ && o_.rate == 0) send_next(sender);
                return;
            }
            case wire::FrameType::published: return void(++published_);
            case wire::FrameType::joined: return void(++joined_);
            case wire::FrameType::error:
                if (setup_) ++setup_errors_;
                ++relay_errors_;
                if (relay_errors_ <= 5) std::fprintf(stderr, "loadgen: relay error frame to client %zu\n", client);
                return;
            default: return void(++unexpected_);
        }
    }
    // broadcast: find the id
    std::uint32_t sender = 0;
    std::uint64_t n = 0;
    if (o_.payload == "json") {
        constexpr std::size_t at = 13;  // {"message": "
        if (m.size() < at + 24) return void(++unexpected_);
        auto hex = std::string_view(reinterpret_cast<const char*>(m.data()) + at, 24);
        sender = static_cast<std::uint32_t>(std::stoul(std::string(hex.substr(0, 8)), nullptr, 16));
        n = std::stoull(std::string(hex.substr(8)), nullptr, 16);
    } else {
        if (m.size() < 12) return void(++unexpected_);
        for (int i = 0; i < 4; ++i) sender = (sender << 8) | m[i];
        for (int i = 4; i < 12; ++i) n = (n << 8) | m[i];
    }
    if (sender >= senders_.size()) return void(++unexpected_);
    Sender& s = senders_[sender];
    if (s.client == client) {  // our own echo retires one in flight
        --s.in_flight;
        if (sending_ && o_.rate == 0) send_next(s);
    }
    on_delivery(client, sender, n, now);
}

void LoadGenerator::on_delivery(std::size_t, std::uint32_t sender, std::uint64_t n, std::int64_t now) {
    if (sender >= senders_.size() || n >= senders_[sender].sent_ns.size()) return void(++unexpected_);
    latency_.record(now - senders_[sender].sent_ns[n]);
    ++delivered_;
    last_delivery_ns_ = now;
}

void LoadGenerator::prepare_senders() {
    const std::size_t per_room = std::min(o_.senders, o_.members);
    std::size_t expected_msgs = o_.pool;
    if (o_.rate > 0) {
        const double per_sender = o_.rate / static_cast<double>(per_room * o_.rooms) * o_.duration_s;
        expected_msgs = std::min<std::size_t>(static_cast<std::size_t>(per_sender) + 2, o_.pool);
    }
    sender_of_client_.assign(clients(), -1);
    const std::string hex_digits = "0123456789abcdef";
    for (std::size_t r = 0; r < o_.rooms; ++r) {
        for (std::size_t m = 0; m < per_room; ++m) {
            Sender s;
            s.client = r * o_.members + m;
            s.index = static_cast<std::uint32_t>(senders_.size());
            sender_of_client_[s.client] = static_cast<std::int32_t>(s.index);
            if (parley()) {
                s.frames = fixture_->seal_sends(r, m, s.index, expected_msgs, o_.text_bytes);
            } else if (o_.payload == "json") {
                // chat.py's message for a text of text_bytes: PKCS#7-padded AES-EAX
                // ciphertext, RSA-2048 signature, 16-byte nonce and tag, all in hex
                auto hex = [&](std::size_t bytes) { return std::string(2 * bytes, 'a'); };
                const std::string json = "{\"message\": \"" + hex((o_.text_bytes / 16 + 1) * 16) +
                                         "\", \"signature\": \"" + hex(256) + "\", \"aes-nonce\": \"" + hex(16) +
                                         "\", \"aes-tag\": \"" + hex(16) + "\"}";
                s.payload.assign(json.begin(), json.end());
            } else {
                s.payload.assign(parley_send_frame_bytes(o_.text_bytes), 0x6d);
            }
            s.sent_ns.reserve(expected_msgs * 4);
            senders_.push_back(std::move(s));
        }
    }
}

void LoadGenerator::send_next(Sender& s) {
    WsClient& c = *clients_[s.client];
    if (!c.open()) return;
    const std::uint64_t n = s.next++;
    if (parley()) {
        Bytes& frame = s.frames[n % s.frames.size()];
        if (n >= s.frames.size()) ParleyFixture::set_counter(frame, n);
        s.sent_ns.push_back(now_ns());
        c.send(Opcode::binary, frame);
    } else if (o_.payload == "json") {
        char id[25];
        std::snprintf(id, sizeof id, "%08x%016llx", s.index, static_cast<unsigned long long>(n));
        std::copy(id, id + 24, s.payload.begin() + 13);
        s.sent_ns.push_back(now_ns());
        c.send(Opcode::text, s.payload);
    } else {
        for (int i = 0; i < 4; ++i) s.payload[i] = static_cast<std::uint8_t>(s.index >> (24 - 8 * i));
        for (int i = 0; i < 8; ++i) s.payload[4 + i] = static_cast<std::uint8_t>(n >> (56 - 8 * i));
        s.sent_ns.push_back(now_ns());
        c.send(Opcode::binary, s.payload);
    }
    ++s.in_flight;
    ++sent_;
    expected_ += parley() ? o_.members - 1 : o_.members;
}

// Fixed rate: each sender on its own timer, at absolute times so delays do not accumulate.
void LoadGenerator::schedule(Sender& s) {
    s.timer->expires_at(s.due);
    s.timer->async_wait([this, &s](const boost::system::error_code& ec) {
        if (ec || !sending_) return;
        send_next(s);
        const double senders = static_cast<double>(senders_.size());
        s.due += std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(senders / o_.rate));
        schedule(s);
    });
}

int LoadGenerator::run() {
    // where to
    auto scheme_end = o_.url.find("://");
    if (scheme_end == std::string::npos) throw std::runtime_error("bad --url");
    tls_ = o_.url.substr(0, scheme_end) == "wss";
    auto rest = o_.url.substr(scheme_end + 3);
    rest = rest.substr(0, rest.find('/'));
    const auto colon = rest.rfind(':');
    host_ = rest;
    tcp::resolver resolver(ioc_);
    endpoint_ = *resolver.resolve(rest.substr(0, colon), rest.substr(colon + 1)).begin();
    tls_ctx_.set_verify_mode(asio::ssl::verify_none);  // loopback, self-signed bench certificate

    const long rss_before = process_rss_kib(o_.relay_pid);
    if (parley()) fixture_ = std::make_unique<ParleyFixture>(o_.rooms, std::min(o_.members, o_.roster_max), o_.label);
    if (!o_.idle) prepare_senders();

    // connect
    for (std::size_t c = 0; c < clients(); ++c)
        clients_.push_back(WsClient::make(ioc_, tls_ ? &tls_ctx_ : nullptr, c, *this, o_.read_buffer_bytes));
    connect_more();
    if (!run_until([&] { return opened_ + failures_ == clients(); }, 120) || failures_ > 0) {
        std::fprintf(stderr, "loadgen: %zu of %zu clients connected\n", opened_, clients());
        return 1;
    }

    // join (parley): publish each room's genesis, then join every client
    if (parley()) {
        for (std::size_t r = 0; r < o_.rooms; ++r)
            clients_[r * o_.members]->send(Opcode::binary, fixture_->room(r).publish_frame);
        if (!run_until([&] { return published_ == o_.rooms || setup_errors_ > 0; }, 60) || setup_errors_ > 0) {
            std::fprintf(stderr, "loadgen: %zu of %zu rooms published\n", published_, o_.rooms);
            return 1;
        }
        for (std::size_t c = 0; c < clients(); ++c)
            clients_[c]->send(Opcode::binary, fixture_->room(room_of(c)).join_frame);
        if (!run_until([&] { return joined_ == clients() || setup_errors_ > 0; }, 60) || setup_errors_ > 0) {
            std::fprintf(stderr, "loadgen: %zu of %zu clients joined\n", joined_, clients());
            return 1;
        }
    }
    setup_ = false;

    if (o_.idle) {
        run_until([] { return false; }, o_.settle_s);  // let the relay settle, answering pings
        report_idle(rss_before, process_rss_kib(o_.relay_pid));
        return 0;
    }

    // the timed run
    const double relay_cpu_before = process_cpu_s(o_.relay_pid);
    const double own_cpu_before = own_cpu_s();
    start_ns_ = now_ns();
    sending_ = true;
    if (o_.rate > 0) {
        const auto start = std::chrono::steady_clock::now();
        const double interval = static_cast<double>(senders_.size()) / o_.rate;
        for (std::size_t i = 0; i < senders_.size(); ++i) {
            Sender& s = senders_[i];
            s.timer = std::make_unique<asio::steady_timer>(ioc_);
            // spread the senders' phases over one interval
            s.due = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(
                                interval * static_cast<double>(i) / static_cast<double>(senders_.size())));
            schedule(s);
        }
    } else {
        for (auto& s : senders_)
            for (std::size_t w = 0; w < o_.window; ++w) send_next(s);
    }
    run_until([] { return false; }, o_.duration_s);
    sending_ = false;
    for (auto& s : senders_)
        if (s.timer) s.timer->cancel();
    run_until([&] { return delivered_ >= expected_; }, o_.drain_s);
    const double own_cpu = own_cpu_s() - own_cpu_before;
    const double relay_cpu = process_cpu_s(o_.relay_pid) - relay_cpu_before;
    const double elapsed = static_cast<double>(std::max(last_delivery_ns_, start_ns_ + 1) - start_ns_) / 1e9;
    report(elapsed, relay_cpu, own_cpu);
    return 0;
}

void LoadGenerator::report(double elapsed_s, double relay_cpu_s, double own_cpu) {
    std::size_t reads = 0, writes = 0;
    for (auto& c : clients_) {
        reads += c->reads();
        writes += c->writes();
    }
    const std::uint64_t lost = expected_ > delivered_ ? expected_ - delivered_ : 0;
    const double per_s = static_cast<double>(delivered_) / elapsed_s;
    const double cpu_us = delivered_ ? relay_cpu_s * 1e6 / static_cast<double>(delivered_) : 0;
    auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e3; };
    std::printf(
        "{\"label\": \"%s\", \"protocol\": \"%s\", \"payload\": \"%s\", \"tls\": %s, \"mode\": \"%s\", "
        "\"rooms\": %zu, \"members\": %zu, \"senders\": %zu, \"text_bytes\": %zu, \"rate\": %g, \"window\": %zu, "
        "\"duration_s\": %g, \"elapsed_s\": %.3f, \"sent\": %llu, \"expected\": %llu, \"delivered\": %llu, "
        "\"lost\": %llu, \"deliveries_per_s\": %.0f, \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
        "\"max_us\": %.1f, \"relay_cpu_s\": %.2f, \"relay_cpu_us_per_delivery\": %.3f, \"loadgen_cpu_s\": %.2f, "
        "\"loadgen_reads\": %zu, \"loadgen_writes\": %zu, \"relay_errors\": %zu, \"unexpected\": %zu, "
        "\"disconnects\": %zu}\n",
        o_.label.c_str(), o_.protocol.c_str(), parley() ? "parley" : o_.payload.c_str(), tls_ ? "true" : "false",
        o_.rate > 0 ? "rate" : "max", o_.rooms, o_.members, senders_.size(), o_.text_bytes, o_.rate, o_.window,
        o_.duration_s, elapsed_s, static_cast<unsigned long long>(sent_), static_cast<unsigned long long>(expected_),
        static_cast<unsigned long long>(delivered_), static_cast<unsigned long long>(lost), per_s,
        us(latency_.percentile_ns(0.50)), us(latency_.percentile_ns(0.90)), us(latency_.percentile_ns(0.99)),
        us(latency_.max_ns()), relay_cpu_s, cpu_us, own_cpu, reads, writes, relay_errors_, unexpected_, failures_);
    std::fprintf(stderr,
                 "loadgen %s: %llu sent, %llu/%llu delivered (%llu lost) in %.2f s = %.0f deliveries/s; "
                 "latency p50 %.0f us p99 %.0f us max %.0f us; relay cpu %.2f s = %.2f us/delivery; "
                 "loadgen cpu %.2f s, %.1f frames per read\n",
                 o_.label.c_str(), static_cast<unsigned long long>(sent_), static_cast<unsigned long long>(delivered_),
                 static_cast<unsigned long long>(expected_), static_cast<unsigned long long>(lost), elapsed_s, per_s,
                 us(latency_.percentile_ns(0.50)), us(latency_.percentile_ns(0.99)), us(latency_.max_ns()), relay_cpu_s,
                 cpu_us, own_cpu, reads ? static_cast<double>(delivered_) / static_cast<double>(reads) : 0.0);
}

void LoadGenerator::report_idle(long rss_before, long rss_after) {
    const double per_conn = static_cast<double>(rss_after - rss_before) * 1024.0 / static_cast<double>(clients());
    std::printf(
        "{\"label\": \"%s\", \"protocol\": \"%s\", \"tls\": %s, \"mode\": \"idle\", \"connections\": %zu, "
        "\"rooms\": %zu, \"members\": %zu, \"rss_before_kib\": %ld, \"rss_after_kib\": %ld, "
        "\"bytes_per_connection\": %.0f, \"disconnects\": %zu}\n",
        o_.label.c_str(), o_.protocol.c_str(), tls_ ? "true" : "false", clients(), o_.rooms, o_.members, rss_before,
        rss_after, per_conn, failures_);
    std::fprintf(stderr, "loadgen %s: %zu connections, relay rss %ld -> %ld KiB = %.0f bytes per connection\n",
                 o_.label.c_str(), clients(), rss_before, rss_after, per_conn);
}

}  // namespace
}  // namespace parley::bench

int main(int argc, char** argv) {
    using parley::bench::Options;
    Options o;
    CLI::App app{"parley-loadgen: WebSocket load generator for Parley and reference relays"};
    app.add_option("--url", o.url, "relay URL, ws://HOST:PORT or wss://HOST:PORT")->required();
    app.add_option("--protocol", o.protocol, "parley | broadcast")->check(CLI::IsMember({"parley", "broadcast"}));
    app.add_option("--payload", o.payload, "broadcast payload: binary (Parley-sized) | json (chat.py's)")
        ->check(CLI::IsMember({"binary", "json"}));
    app.add_option("--label", o.label, "name of this run in the output");
    app.add_option("--rooms", o.rooms, "rooms")->check(CLI::PositiveNumber);
    app.add_option("--members", o.members, "connections per room")->check(CLI::Range(2ul, 100000ul));
    app.add_option("--senders", o.senders, "senders per room")->check(CLI::PositiveNumber);
    app.add_option("--bytes", o.text_bytes, "message text bytes")->check(CLI::Range(1ul, 65536ul));
    app.add_option("--rate", o.rate, "messages/s over all senders; 0 = as fast as the relay takes them");
    app.add_option("--window", o.window, "messages in flight per sender when --rate 0")->check(CLI::PositiveNumber);
    app.add_option("--duration", o.duration_s, "seconds of sending");
    app.add_option("--drain", o.drain_s, "seconds to wait for the last deliveries");
    app.add_option("--settle", o.settle_s, "idle: seconds to wait before reading the relay's memory");
    app.add_option("--pool", o.pool, "pre-sealed envelopes per sender (then reused, counter rewritten)");
    app.add_option("--roster-max", o.roster_max, "identities per room roster (more members share them)");
    app.add_option("--connect-concurrency", o.connect_concurrency, "connections being opened at once");
    app.add_option("--read-buffer", o.read_buffer_bytes, "initial read buffer per connection");
    app.add_option("--relay-pid", o.relay_pid, "relay process, for CPU time and resident memory");
    app.add_flag("--idle", o.idle, "hold the connections (joined) and report the relay's memory per connection");
    CLI11_PARSE(app, argc, argv);
    try {
        parley::bench::LoadGenerator gen(o);
        return gen.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "loadgen: %s\n", e.what());
        return 1;
    }
}
