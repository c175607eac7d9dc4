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
// Scenario 7 ("a relay's real day"): --room-sizes MIN-MAX --seed N gives each
// room its own member count, drawn from a hand-written seeded generator
// (loadgen/seeded.h: the same sizes on every machine); --arrivals poisson with
// --rate R sends one global Poisson process of R messages/s, each arrival from
// a sender picked uniformly among all members of all rooms (every member may
// send; --senders does not apply), its times and senders drawn in advance from
// the same generator, so only the envelopes the run needs are sealed.
// --source-addresses N binds client c to 127.0.0.(1 + c % N): one address has
// only ~28,000 ephemeral ports to one relay port.
//
// Several relays serving the same rooms from one database (issue 14: --url and
// --relay-pid given once per node): client c connects to relay c % N, so every
// room has members on every node, and the relay CPU and memory reported are
// the nodes' together.
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
#include "loadgen/seeded.h"
#include "loadgen/ws_client.h"

namespace parley::bench {
namespace {

struct Options {
    std::vector<std::string> urls;
    std::string protocol = "parley";
    std::string payload = "binary";
    std::string label = "run";
    std::size_t rooms = 1, members = 100, senders = 10, text_bytes = 256;
    double rate = 0, duration_s = 5, drain_s = 3, settle_s = 1;
    std::size_t window = 32, pool = 512, roster_max = 128, connect_concurrency = 256;
    std::size_t read_buffer_bytes = 16 * 1024;
    std::vector<int> relay_pids;
    bool idle = false;
    SizeRange room_sizes;             // --room-sizes; not given: every room has --members
    std::uint64_t seed = 1;           // --seed: room sizes and Poisson arrivals
    std::string arrivals = "fixed";   // fixed: a timer per sender; poisson: one global process
    std::size_t source_addresses = 0; // 0: the kernel picks the source address (127.0.0.1)
};

// utime + stime of a process, in seconds (/proc/PID/stat fields 14 and 15).
double one_process_cpu_s(int pid) {
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

long one_process_rss_kib(int pid) {
    if (pid <= 0) return 0;
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return 0;
}

// The relays' together (one per node).
double process_cpu_s(const std::vector<int>& pids) {
    double sum = 0;
    for (int pid : pids) sum += one_process_cpu_s(pid);
    return sum;
}

long process_rss_kib(const std::vector<int>& pids) {
    long sum = 0;
    for (int pid : pids) sum += one_process_rss_kib(pid);
    return sum;
}

double own_cpu_s() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
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
    bool poisson() const { return o_.arrivals == "poisson"; }
    std::size_t clients() const { return room_of_.size(); }
    std::size_t room_of(std::size_t client) const { return room_of_[client]; }
    std::size_t room_size(std::size_t room) const { return room_first_[room + 1] - room_first_[room]; }
    void plan();
    void fill_sender(Sender& s, std::size_t room, std::size_t member, std::size_t messages);
    void connect_more();
    bool run_until(const std::function<bool()>& done, double timeout_s);
    void prepare_senders();
    void send_next(Sender& s);
    void schedule(Sender& s);
    void schedule_arrivals();
    void on_delivery(std::size_t client, std::uint32_t sender, std::uint64_t n, std::int64_t now);
    void report(double elapsed_s, double relay_cpu_s, double own_cpu);
    void report_idle(long rss_before, long rss_after);

    Options o_;
    asio::io_context ioc_;
    asio::ssl::context tls_ctx_;
    bool tls_ = false;
    std::vector<tcp::endpoint> endpoints_;  // one per --url: client c goes to c % size
    std::vector<std::string> hosts_;
    std::unique_ptr<ParleyFixture> fixture_;
    std::vector<std::unique_ptr<WsClient>> clients_;
    std::vector<Sender> senders_;
    std::vector<std::int32_t> sender_of_client_;  // -1: not a sender
    std::vector<std::size_t> room_first_;          // room r's clients: room_first_[r] .. room_first_[r + 1] - 1
    std::vector<std::uint32_t> room_of_;           // by client
    std::vector<asio::ip::address> sources_;       // --source-addresses
    struct Arrival {
        std::int64_t at_ns;  // from the start of the timed run
        std::uint32_t sender;
    };
    std::vector<Arrival> arrivals_;  // --arrivals poisson, drawn in advance
    std::size_t next_arrival_ = 0;
    std::unique_ptr<asio::steady_timer> arrival_timer_;
    std::chrono::steady_clock::time_point run_start_;
    double fixture_s_ = 0, connect_s_ = 0, publish_s_ = 0, join_s_ = 0;
    long rss_before_ = 0, rss_setup_ = 0, rss_end_ = 0;

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
        const std::size_t relay = c % endpoints_.size();
        if (sources_.empty()) clients_[c]->start(endpoints_[relay], hosts_[relay], target);
        else clients_[c]->start(endpoints_[relay], hosts_[relay], target, sources_[c % sources_.size()]);
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

// The rooms' sizes and, with --arrivals poisson, every arrival of the run: all
// from one SplitMix64(--seed), the sizes first, so a seed gives the same run
// everywhere.
void LoadGenerator::plan() {
    SplitMix64 g(o_.seed);
    const std::vector<std::size_t> sizes =
        o_.room_sizes.given() ? draw_room_sizes(g, o_.rooms, o_.room_sizes) : std::vector<std::size_t>(o_.rooms, o_.members);
    room_first_.assign(1, 0);
    for (std::size_t r = 0; r < o_.rooms; ++r) {
        room_first_.push_back(room_first_.back() + sizes[r]);
        room_of_.insert(room_of_.end(), sizes[r], static_cast<std::uint32_t>(r));
    }
    if (poisson() && !o_.idle) {
        if (o_.rate <= 0) throw std::runtime_error("--arrivals poisson needs --rate above 0");
        double t = 0;
        for (;;) {
            t += g.exponential(o_.rate);
            if (t >= o_.duration_s) break;
            arrivals_.push_back({static_cast<std::int64_t>(t * 1e9), static_cast<std::uint32_t>(g.below(clients()))});
        }
    }
    for (std::size_t i = 0; i < o_.source_addresses; ++i)
        sources_.push_back(asio::ip::make_address_v4(static_cast<asio::ip::address_v4::uint_type>(0x7f000001 + i)));
}

// What sender `s` (member `member` of `room`) sends: `messages` pre-sealed
// envelopes (parley), or one payload rewritten per message (broadcast).
void LoadGenerator::fill_sender(Sender& s, std::size_t room, std::size_t member, std::size_t messages) {
    if (parley()) {
        s.frames = fixture_->seal_sends(room, member, s.index, messages, o_.text_bytes);
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
}

void LoadGenerator::prepare_senders() {
    sender_of_client_.assign(clients(), -1);
    if (poisson()) {
        // Every member is a sender (sender index = client index); each gets
        // exactly the envelopes its arrivals need, most of them none.
        std::vector<std::size_t> messages(clients(), 0);
        for (const auto& a : arrivals_) ++messages[a.sender];
        senders_.reserve(clients());
        for (std::size_t c = 0; c < clients(); ++c) {
            Sender s;
            s.client = c;
            s.index = static_cast<std::uint32_t>(c);
            sender_of_client_[c] = static_cast<std::int32_t>(c);
            if (messages[c] > 0) {
                fill_sender(s, room_of(c), c - room_first_[room_of(c)], messages[c]);
                s.sent_ns.reserve(messages[c]);
            }
            senders_.push_back(std::move(s));
        }
        return;
    }
    std::size_t total_senders = 0;
    for (std::size_t r = 0; r < o_.rooms; ++r) total_senders += std::min(o_.senders, room_size(r));
    std::size_t expected_msgs = o_.pool;
    if (o_.rate > 0) {
        const double per_sender = o_.rate / static_cast<double>(total_senders) * o_.duration_s;
        expected_msgs = std::min<std::size_t>(static_cast<std::size_t>(per_sender) + 2, o_.pool);
    }
    for (std::size_t r = 0; r < o_.rooms; ++r) {
        for (std::size_t m = 0; m < std::min(o_.senders, room_size(r)); ++m) {
            Sender s;
            s.client = room_first_[r] + m;
            s.index = static_cast<std::uint32_t>(senders_.size());
            sender_of_client_[s.client] = static_cast<std::int32_t>(s.index);
            fill_sender(s, r, m, expected_msgs);
            s.sent_ns.reserve(expected_msgs * 4);
            senders_.push_back(std::move(s));
        }
    }
}

void LoadGenerator::send_next(Sender& s) {
    WsClient& c = *clients_[s.client];
    if (!c.open() || (parley() ? s.frames.empty() : s.payload.empty())) return;
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
    const std::size_t members = room_size(room_of(s.client));
    expected_ += parley() ? members - 1 : members;
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

// Poisson arrivals: one timer for the whole run, at the absolute times drawn in
// plan(); arrivals already due when it fires (the loadgen was busy) all go out.
void LoadGenerator::schedule_arrivals() {
    if (next_arrival_ >= arrivals_.size()) return;
    arrival_timer_->expires_at(run_start_ + std::chrono::nanoseconds(arrivals_[next_arrival_].at_ns));
    arrival_timer_->async_wait([this](const boost::system::error_code& ec) {
        if (ec || !sending_) return;
        const auto now = std::chrono::steady_clock::now();
        while (next_arrival_ < arrivals_.size() &&
               run_start_ + std::chrono::nanoseconds(arrivals_[next_arrival_].at_ns) <= now)
            send_next(senders_[arrivals_[next_arrival_++].sender]);
        schedule_arrivals();
    });
}

int LoadGenerator::run() {
    // where to
    tcp::resolver resolver(ioc_);
    for (const auto& url : o_.urls) {
        auto scheme_end = url.find("://");
        if (scheme_end == std::string::npos) throw std::runtime_error("bad --url " + url);
        const bool tls = url.substr(0, scheme_end) == "wss";
        if (!endpoints_.empty() && tls != tls_) throw std::runtime_error("every --url must be ws:// or every wss://");
        tls_ = tls;
        auto rest = url.substr(scheme_end + 3);
        rest = rest.substr(0, rest.find('/'));
        const auto colon = rest.rfind(':');
        hosts_.push_back(rest);
        endpoints_.push_back(*resolver.resolve(rest.substr(0, colon), rest.substr(colon + 1)).begin());
    }
    tls_ctx_.set_verify_mode(asio::ssl::verify_none);  // loopback, self-signed bench certificate

    rss_before_ = process_rss_kib(o_.relay_pids);
    plan();
    // One descriptor per connection: say so plainly rather than fail at connect.
    rlimit files{};
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY && clients() + 64 > files.rlim_cur)
        throw std::runtime_error(std::to_string(clients()) + " connections need more file descriptors than ulimit -n (" +
                                 std::to_string(files.rlim_cur) + ") allows");
    auto phase = std::chrono::steady_clock::now();
    if (parley()) {
        if (o_.room_sizes.given()) {
            std::vector<std::size_t> rosters(o_.rooms);
            for (std::size_t r = 0; r < o_.rooms; ++r) rosters[r] = std::min(room_size(r), o_.roster_max);
            fixture_ = std::make_unique<ParleyFixture>(rosters, o_.label);
        } else {
            fixture_ = std::make_unique<ParleyFixture>(o_.rooms, std::min(o_.members, o_.roster_max), o_.label);
        }
    }
    if (!o_.idle) prepare_senders();
    fixture_s_ = seconds_since(phase);

    // connect (the time limits grow with the number of connections: 70,000 TLS
    // handshakes take the relay's one core a while)
    phase = std::chrono::steady_clock::now();
    const double n = static_cast<double>(clients());
    for (std::size_t c = 0; c < clients(); ++c)
        clients_.push_back(WsClient::make(ioc_, tls_ ? &tls_ctx_ : nullptr, c, *this, o_.read_buffer_bytes));
    connect_more();
    if (!run_until([&] { return opened_ + failures_ == clients(); }, 120 + n / 200) || failures_ > 0) {
        std::fprintf(stderr, "loadgen: %zu of %zu clients connected\n", opened_, clients());
        return 1;
    }
    connect_s_ = seconds_since(phase);

    // join (parley): publish each room's genesis, then join every client
    if (parley()) {
        phase = std::chrono::steady_clock::now();
        for (std::size_t r = 0; r < o_.rooms; ++r)
            clients_[room_first_[r]]->send(Opcode::binary, fixture_->room(r).publish_frame);
        if (!run_until([&] { return published_ == o_.rooms || setup_errors_ > 0; }, 60 + n / 1000) ||
            setup_errors_ > 0) {
            std::fprintf(stderr, "loadgen: %zu of %zu rooms published\n", published_, o_.rooms);
            return 1;
        }
        publish_s_ = seconds_since(phase);
        phase = std::chrono::steady_clock::now();
        for (std::size_t c = 0; c < clients(); ++c)
            clients_[c]->send(Opcode::binary, fixture_->room(room_of(c)).join_frame);
        if (!run_until([&] { return joined_ == clients() || setup_errors_ > 0; }, 60 + n / 1000) ||
            setup_errors_ > 0) {
            std::fprintf(stderr, "loadgen: %zu of %zu clients joined\n", joined_, clients());
            return 1;
        }
        join_s_ = seconds_since(phase);
    }
    setup_ = false;
    std::fprintf(stderr,
                 "loadgen %s: set up %zu connections in %zu rooms in %.1f s (fixture %.1f s, connect %.1f s, "
                 "publish %.1f s, join %.1f s)\n",
                 o_.label.c_str(), clients(), o_.rooms, fixture_s_ + connect_s_ + publish_s_ + join_s_, fixture_s_,
                 connect_s_, publish_s_, join_s_);

    if (o_.idle) {
        run_until([] { return false; }, o_.settle_s);  // let the relay settle, answering pings
        report_idle(rss_before_, process_rss_kib(o_.relay_pids));
        return 0;
    }
    rss_setup_ = process_rss_kib(o_.relay_pids);

    // the timed run
    const double relay_cpu_before = process_cpu_s(o_.relay_pids);
    const double own_cpu_before = own_cpu_s();
    start_ns_ = now_ns();
    sending_ = true;
    if (poisson()) {
        run_start_ = std::chrono::steady_clock::now();
        arrival_timer_ = std::make_unique<asio::steady_timer>(ioc_);
        schedule_arrivals();
    } else if (o_.rate > 0) {
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
    if (arrival_timer_) arrival_timer_->cancel();
    run_until([&] { return delivered_ >= expected_; }, o_.drain_s);
    const double own_cpu = own_cpu_s() - own_cpu_before;
    const double relay_cpu = process_cpu_s(o_.relay_pids) - relay_cpu_before;
    rss_end_ = process_rss_kib(o_.relay_pids);
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
    const std::string sizes = o_.room_sizes.given()
                                  ? std::to_string(o_.room_sizes.min) + "-" + std::to_string(o_.room_sizes.max)
                                  : std::to_string(o_.members);
    std::printf(
        "{\"label\": \"%s\", \"protocol\": \"%s\", \"payload\": \"%s\", \"tls\": %s, \"mode\": \"%s\", "
        "\"rooms\": %zu, \"members\": %zu, \"senders\": %zu, \"text_bytes\": %zu, \"rate\": %g, \"window\": %zu, "
        "\"duration_s\": %g, \"elapsed_s\": %.3f, \"sent\": %llu, \"expected\": %llu, \"delivered\": %llu, "
        "\"lost\": %llu, \"deliveries_per_s\": %.0f, \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
        "\"max_us\": %.1f, \"relay_cpu_s\": %.2f, \"relay_cpu_us_per_delivery\": %.3f, \"loadgen_cpu_s\": %.2f, "
        "\"loadgen_reads\": %zu, \"loadgen_writes\": %zu, \"relay_errors\": %zu, \"unexpected\": %zu, "
        "\"disconnects\": %zu, \"connections\": %zu, \"room_sizes\": \"%s\", \"seed\": %llu, \"arrivals\": \"%s\", "
        "\"setup_s\": %.2f, \"fixture_s\": %.2f, \"connect_s\": %.2f, \"publish_s\": %.2f, \"join_s\": %.2f, "
        "\"rss_before_kib\": %ld, \"rss_setup_kib\": %ld, \"rss_end_kib\": %ld}\n",
        o_.label.c_str(), o_.protocol.c_str(), parley() ? "parley" : o_.payload.c_str(), tls_ ? "true" : "false",
        o_.rate > 0 ? "rate" : "max", o_.rooms, o_.room_sizes.given() ? 0 : o_.members, senders_.size(), o_.text_bytes, o_.rate, o_.window,
        o_.duration_s, elapsed_s, static_cast<unsigned long long>(sent_), static_cast<unsigned long long>(expected_),
        static_cast<unsigned long long>(delivered_), static_cast<unsigned long long>(lost), per_s,
        us(latency_.percentile_ns(0.50)), us(latency_.percentile_ns(0.90)), us(latency_.percentile_ns(0.99)),
        us(latency_.max_ns()), relay_cpu_s, cpu_us, own_cpu, reads, writes, relay_errors_, unexpected_, failures_,
        clients(), sizes.c_str(), static_cast<unsigned long long>(o_.seed), o_.arrivals.c_str(),
        fixture_s_ + connect_s_ + publish_s_ + join_s_, fixture_s_, connect_s_, publish_s_, join_s_, rss_before_,
        rss_setup_, rss_end_);
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
    app.add_option("--url", o.urls,
                   "relay URL, ws://HOST:PORT or wss://HOST:PORT; again for each node of a cluster (clients spread "
                   "over them)")
        ->required()
        ->type_size(1)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
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
    app.add_option("--relay-pid", o.relay_pids, "relay process, for CPU time and resident memory; again for each node")
        ->type_size(1)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_flag("--idle", o.idle, "hold the connections (joined) and report the relay's memory per connection");
    std::string room_sizes;
    app.add_option("--room-sizes", room_sizes,
                   "MIN-MAX: each room's member count drawn from SplitMix64(--seed), uniform (replaces --members)");
    app.add_option("--seed", o.seed, "seed of --room-sizes and --arrivals poisson");
    app.add_option("--arrivals", o.arrivals,
                   "fixed: each sender on its own timer at --rate / senders; poisson: one global Poisson process "
                   "of --rate messages/s, each from a member drawn uniformly among all rooms' members")
        ->check(CLI::IsMember({"fixed", "poisson"}));
    app.add_option("--source-addresses", o.source_addresses,
                   "bind client c to 127.0.0.(1 + c % N) before connecting (0: let the kernel choose)")
        ->check(CLI::Range(0ul, 254ul));
    CLI11_PARSE(app, argc, argv);
    try {
        if (!room_sizes.empty()) o.room_sizes = parley::bench::parse_size_range(room_sizes);
        // Scenario 7 holds ~70,000 connections: take whatever the hard limit allows.
        rlimit files{};
        if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
            files.rlim_cur = files.rlim_max;
            setrlimit(RLIMIT_NOFILE, &files);
        }
        parley::bench::LoadGenerator gen(o);
        return gen.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "loadgen: %s\n", e.what());
        return 1;
    }
}
