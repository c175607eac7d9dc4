// A WebSocket client for Parley's relay frames, over ws:// or wss://.
//
// The chat client and the relay's integration tests use it. It moves opaque
// binary messages; it knows nothing of frames, records or envelopes. TLS always
// verifies the relay's certificate and host name: there is no switch to turn
// verification off, only a way to name the one CA file to trust.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace parley::net {

// Client::connect failed. Permanent: trying again cannot help (the relay's
// certificate does not verify, the CA file cannot be read); otherwise the
// relay may just be away (refused, timed out, restarting mid-handshake).
class ConnectError : public std::runtime_error {
public:
    ConnectError(const std::string& message, bool permanent) : std::runtime_error(message), permanent_(permanent) {}
    bool permanent() const { return permanent_; }

private:
    bool permanent_;
};

struct Endpoint {
    bool tls = false;
    std::string host;  // without IPv6 brackets
    std::string port;
    std::string target = "/";
};

// Parses ws://host:port[/path] and wss://host:port[/path]; an IPv6 host goes in
// [brackets]. Returns nullopt and sets `error` to a user-facing reason otherwise.
[[nodiscard]] std::optional<Endpoint> parse_url(std::string_view url, std::string& error);

// "ws://host:port/path" again, with brackets around IPv6 hosts; for messages.
std::string to_url(const Endpoint& endpoint);

// All public methods are thread-safe. Handlers run on the client's io thread,
// one at a time; a handler may call send() and close() but must not destroy
// the client.
class Client {
public:
    struct Options {
        std::string ca_file;  // empty = the system trust store
        std::size_t max_frame_bytes = 16u << 20;
        std::chrono::seconds timeout{10};  // connect, TLS and WebSocket handshakes
    };
    using FrameHandler = std::function<void(std::vector<std::uint8_t>)>;
    using CloseHandler = std::function<void(std::string reason)>;

    Client(Endpoint endpoint, Options options);
    ~Client();  // closes and joins the io thread
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Blocking: resolve, TCP (TCP_NODELAY), TLS handshake with certificate and
    // host name verification (SNI set; with ca_file, trust exactly that file),
    // WebSocket handshake. Throws std::runtime_error with a user-facing message
    // on any failure. Then reads on the io thread: every binary message goes to
    // `on_frame`; `on_close` is called once when the connection ends.
    // Call at most once per Client.
    void connect(FrameHandler on_frame, CloseHandler on_close);

    // Queues one binary message; writes go out one at a time, in order.
    // Dropped silently once the connection has ended (on_close says so).
    void send(std::vector<std::uint8_t> frame);

    // Graceful WebSocket close; idempotent.
    void close();

private:
    class Connection;  // the io_context, its thread and the stream (client.cpp)
    std::unique_ptr<Connection> connection_;
};

}  // namespace parley::net
