// parley-fanout-floor: what the kernel alone costs a relay that fans a message
// out on this machine, measured beside the relays in the same `make bench` run.
//
// A relay that writes each recipient's copy with one send() cannot deliver the
// last copy of a message before it has made N of those calls, one after the
// other, on its one core. This program makes exactly those calls and nothing
// else: no WebSocket, no parsing, no storage, no queues. One thread on the
// "relay" core writes each message (a buffer the size of one delivery on the
// wire) to each of N loopback TCP connections in turn; one thread on the
// "client" core reads them all with epoll, as the load generator does, and
// records each copy's latency from the moment the writer started that message.
// Messages start on a fixed schedule (--rate per second), the way the load
// generator's senders do, or (--arrivals poisson) at the times of a Poisson
// process of that rate, as scenario 7's arrivals.
//
// Scenario 7's floor (--room-sizes MIN-MAX --seed N): MAX - 1 connections, and
// each message goes to SIZE - 1 of them (the members of its room but the
// sender, as a Parley relay sends it), SIZE drawn per message from the same
// seeded uniform distribution as the load generator's rooms (loadgen/seeded.h),
// the connections taken in turn so every one gets its share.
//
// Its CPU time per send is what the kernel charges a relay for every copy it
// writes alone (the floor under "relay CPU µs/delivery" when nothing is
// batched); its latency percentiles are those of the fan-out itself, with the
// load generator's way of reading, before any relay logic adds to them. A
// relay that falls behind can beat its tail: it then writes several frames
// per call to each recipient, which this program never does.
//
// Output: one JSON object on stdout, a human summary on stderr.
#include <CLI/CLI.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "loadgen/latency_histogram.h"
#include "loadgen/parley_fixture.h"
#include "loadgen/seeded.h"

namespace parley::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::size_t members = 100;
    double rate = 1000;  // messages per second
    double duration_s = 5;
    std::size_t text_bytes = 256;
    int relay_core = 0;
    int client_core = 1;
    SizeRange room_sizes;            // given: MAX - 1 connections, SIZE - 1 copies a message
    std::uint64_t seed = 1;
    std::string arrivals = "fixed";  // fixed | poisson
};

// When each message starts (from the start of the run) and how many copies it makes.
struct Message {
    std::int64_t at_ns;
    std::size_t copies;
};

std::vector<Message> plan(const Options& o, std::size_t connections) {
    SplitMix64 g(o.seed);
    std::vector<Message> messages;
    double t = 0;
    for (std::uint64_t m = 0;; ++m) {
        if (o.arrivals == "poisson") {
            t += g.exponential(o.rate);
            if (t >= o.duration_s) break;
        } else {
            if (m >= static_cast<std::uint64_t>(o.rate * o.duration_s)) break;
            t = static_cast<double>(m) / o.rate;
        }
        const std::size_t copies =
            o.room_sizes.given() ? static_cast<std::size_t>(g.between(o.room_sizes.min, o.room_sizes.max)) - 1
                                 : connections;
        messages.push_back({static_cast<std::int64_t>(t * 1e9), copies});
    }
    return messages;
}

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
}

void pin_to(int core) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(core, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) fail("sched_setaffinity");
}

double thread_cpu_s() {
    rusage r{};
    getrusage(RUSAGE_THREAD, &r);
    return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// N connected pairs on loopback: `relay_side[i]` writes, `client_side[i]` reads.
void connect_pairs(std::size_t n, std::vector<int>& relay_side, std::vector<int>& client_side) {
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) fail("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listener, 1024) != 0 ||
        getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        fail("listen on loopback");
    const int one = 1;
    for (std::size_t i = 0; i < n; ++i) {
        const int c = socket(AF_INET, SOCK_STREAM, 0);
        if (c < 0 || connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("connect");
        const int s = accept(listener, nullptr, nullptr);
        if (s < 0) fail("accept");
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // as every relay here does
        relay_side.push_back(s);
        client_side.push_back(c);
    }
    close(listener);
}

int run(Options o) {
    if (o.room_sizes.given()) o.members = o.room_sizes.max - 1;
    std::vector<int> relay_side, client_side;
    connect_pairs(o.members, relay_side, client_side);
    // One delivery on the wire: a Parley frame for this much text, behind an
    // unmasked WebSocket header (4 bytes from 126 bytes on).
    const std::size_t frame = parley_send_frame_bytes(o.text_bytes);
    const std::size_t wire = frame + (frame < 126 ? 2 : 4);
    const std::vector<Message> schedule = plan(o, o.members);
    const auto messages = static_cast<std::uint64_t>(schedule.size());
    std::uint64_t expected = 0;
    for (const auto& m : schedule) expected += m.copies;

    // The reader: whole messages per socket, the first 8 bytes of each its start time.
    LatencyHistogram latency;
    std::atomic<std::uint64_t> received{0};
    std::atomic<bool> writer_done{false};
    double reader_cpu = 0;
    std::string reader_error;
    std::thread reader([&] {
      try {
        pin_to(o.client_core);
        const int ep = epoll_create1(0);
        std::vector<std::size_t> have(o.members, 0);
        std::vector<std::vector<unsigned char>> partial(o.members, std::vector<unsigned char>(wire));
        for (std::size_t i = 0; i < o.members; ++i) {
            epoll_event e{};
            e.events = EPOLLIN;
            e.data.u64 = i;
            if (epoll_ctl(ep, EPOLL_CTL_ADD, client_side[i], &e) != 0) fail("epoll_ctl");
        }
        std::vector<epoll_event> events(512);
        std::vector<unsigned char> buf(1 << 16);
        const double cpu0 = thread_cpu_s();
        std::uint64_t got = 0;
        auto idle_since = Clock::now();
        while (got < expected) {
            const int k = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
            if (k <= 0) {
                // Nothing for a second after the writer finished: copies were lost.
                if (writer_done && Clock::now() - idle_since > std::chrono::seconds(1)) break;
                continue;
            }
            idle_since = Clock::now();
            for (int j = 0; j < k; ++j) {
                const std::size_t i = events[j].data.u64;
                const ssize_t n = read(client_side[i], buf.data(), buf.size());
                const std::int64_t at = now_ns();
                for (ssize_t p = 0; p < n;) {
                    const std::size_t take = std::min(wire - have[i], static_cast<std::size_t>(n - p));
                    std::memcpy(partial[i].data() + have[i], buf.data() + p, take);
                    have[i] += take;
                    p += static_cast<ssize_t>(take);
                    if (have[i] == wire) {
                        std::int64_t started;
                        std::memcpy(&started, partial[i].data(), sizeof started);
                        latency.record(at - started);
                        have[i] = 0;
                        ++got;
                    }
                }
            }
        }
        reader_cpu = thread_cpu_s() - cpu0;
        received = got;
        close(ep);
      } catch (const std::exception& e) {
        reader_error = e.what();  // reported after the join: a throw here would end the process
      }
    });
    // The writer's failure still joins the reader (a joinable thread's
    // destructor would end the process): it stops a second after the last send.
    struct JoinOnExit {
        std::thread& t;
        std::atomic<bool>& done;
        ~JoinOnExit() {
            done = true;
            if (t.joinable()) t.join();
        }
    } join_on_exit{reader, writer_done};

    // The writer: each message at its planned time (fixed: start + m / rate);
    // one send() per recipient, the recipients taken in turn.
    pin_to(o.relay_core);
    std::vector<unsigned char> message(wire, 0x6d);
    const auto start = Clock::now();
    const double cpu0 = thread_cpu_s();
    std::size_t next_recipient = 0;
    for (const Message& m : schedule) {
        std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(m.at_ns)));
        const std::int64_t started = now_ns();
        std::memcpy(message.data(), &started, sizeof started);
        for (std::size_t k = 0; k < m.copies; ++k) {
            const int s = relay_side[next_recipient];
            next_recipient = (next_recipient + 1) % relay_side.size();
            for (std::size_t off = 0; off < wire;) {
                const ssize_t n = send(s, message.data() + off, wire - off, MSG_NOSIGNAL);
                if (n < 0) fail("send");
                off += static_cast<std::size_t>(n);
            }
        }
    }
    const double writer_cpu = thread_cpu_s() - cpu0;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    writer_done = true;
    reader.join();
    if (!reader_error.empty()) throw std::runtime_error(reader_error);
    for (const int s : relay_side) close(s);
    for (const int c : client_side) close(c);

    const auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
    const std::uint64_t got = received;
    const std::string sizes = o.room_sizes.given()
                                  ? std::to_string(o.room_sizes.min) + "-" + std::to_string(o.room_sizes.max)
                                  : "";
    const double per_message = messages ? static_cast<double>(expected) / static_cast<double>(messages) : 0.0;
    std::printf(
        "{\"members\": %zu, \"rate\": %.0f, \"duration_s\": %.1f, \"wire_bytes\": %zu, \"messages\": %llu, "
        "\"expected\": %llu, \"delivered\": %llu, \"lost\": %llu, \"p50_us\": %.1f, \"p90_us\": %.1f, "
        "\"p99_us\": %.1f, \"max_us\": %.1f, \"send_cpu_us\": %.3f, \"reader_cpu_s\": %.2f, "
        "\"room_sizes\": \"%s\", \"seed\": %llu, \"arrivals\": \"%s\", \"copies_per_message\": %.2f}\n",
        o.members, o.rate, elapsed, wire, static_cast<unsigned long long>(messages),
        static_cast<unsigned long long>(expected), static_cast<unsigned long long>(got),
        static_cast<unsigned long long>(expected - got), us(latency.percentile_ns(0.50)),
        us(latency.percentile_ns(0.90)), us(latency.percentile_ns(0.99)), us(latency.max_ns()),
        writer_cpu / static_cast<double>(expected) * 1e6, reader_cpu, sizes.c_str(),
        static_cast<unsigned long long>(o.seed), o.arrivals.c_str(), per_message);
    std::fprintf(stderr,
                 "fanout-floor: %zu connections, %.2f copies a message, %.0f messages/s (%s), %zu bytes a copy: "
                 "%llu/%llu copies; latency p50 %.0f us p99 %.0f us max %.0f us; %.2f us of CPU per send()\n",
                 o.members, per_message, o.rate, o.arrivals.c_str(), wire, static_cast<unsigned long long>(got),
                 static_cast<unsigned long long>(expected), us(latency.percentile_ns(0.50)),
                 us(latency.percentile_ns(0.99)), us(latency.max_ns()),
                 writer_cpu / static_cast<double>(expected) * 1e6);
    return got == expected ? 0 : 1;
}

}  // namespace
}  // namespace parley::bench

int main(int argc, char** argv) {
    parley::bench::Options o;
    CLI::App app{"parley-fanout-floor: one send() per recipient and nothing else, on loopback"};
    app.add_option("--members", o.members, "connections a message goes to")->check(CLI::Range(1ul, 20000ul));
    app.add_option("--rate", o.rate, "messages per second")->check(CLI::Range(1.0, 1e6));
    app.add_option("--duration", o.duration_s, "seconds of sending")->check(CLI::Range(0.1, 600.0));
    app.add_option("--bytes", o.text_bytes, "message text bytes (the copy is a Parley frame for it)")
        ->check(CLI::Range(1ul, 65536ul));
    app.add_option("--relay-core", o.relay_core, "core of the writing thread");
    app.add_option("--client-core", o.client_core, "core of the reading thread");
    std::string room_sizes;
    app.add_option("--room-sizes", room_sizes,
                   "MIN-MAX: MAX - 1 connections; each message goes to SIZE - 1 of them, SIZE drawn per message "
                   "from SplitMix64(--seed), uniform (replaces --members)");
    app.add_option("--seed", o.seed, "seed of --room-sizes and --arrivals poisson");
    app.add_option("--arrivals", o.arrivals, "fixed: a message every 1/--rate s; poisson: a Poisson process of --rate")
        ->check(CLI::IsMember({"fixed", "poisson"}));
    CLI11_PARSE(app, argc, argv);
    try {
        if (!room_sizes.empty()) o.room_sizes = parley::bench::parse_size_range(room_sizes);
        return parley::bench::run(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "parley-fanout-floor: %s\n", e.what());
        return 2;
    }
}
