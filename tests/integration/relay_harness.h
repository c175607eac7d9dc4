// A real parley-relay process and frame-level clients for the relay's
// integration tests. Every wait is bounded; the relay is killed on teardown.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "net/client.h"
#include "wire/frames.h"

extern char** environ;

namespace parley::relay_it {

using namespace std::chrono_literals;
constexpr auto wait_timeout = 5s;

struct Ran {
    int code = -1;
    std::string output;
};

// Runs the real client (`parley ARGS`, the shell splits them) with the room
// password in its environment and one line on its standard input, if given (no
// quotes in it); stdout and stderr together.
inline Ran run_parley(const std::string& password, const std::string& args, const std::string& input = "") {
    ::setenv("PARLEY_PASSWORD", password.c_str(), 1);
    Ran ran;
    const std::string feed = input.empty() ? "" : "printf '%s\\n' '" + input + "' | ";
    FILE* p = ::popen((feed + PARLEY_CLIENT_BIN + " " + args + " 2>&1").c_str(), "r");
    if (!p) return ran;
    std::array<char, 4096> buf{};
    while (std::fgets(buf.data(), buf.size(), p)) ran.output += buf.data();
    const int status = ::pclose(p);
    ran.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    ::unsetenv("PARLEY_PASSWORD");
    return ran;
}

// A fresh directory under TMPDIR, removed with everything in it.
class TempDir {
public:
    TempDir() {
        auto base = std::filesystem::temp_directory_path() / "parley-relay-it-XXXXXX";
        std::string name = base.string();
        if (!::mkdtemp(name.data())) throw std::runtime_error("mkdtemp failed");
        path_ = name;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// Under AddressSanitizer the relay's freed memory sits in ASan's quarantine
// (up to 256 MB) instead of being reused, so its resident size says nothing
// about what it holds: the memory checks below are skipped there (the test
// binary is built with the same sanitizers as the relay).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool rss_is_meaningful = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool rss_is_meaningful = false;
#else
constexpr bool rss_is_meaningful = true;
#endif
#else
constexpr bool rss_is_meaningful = true;
#endif

// The relay's resident memory (VmRSS), in KiB; 0 if it cannot be read.
inline std::size_t rss_kib(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
    return 0;
}

// The relay binary, its stderr collected by a thread. Unless the arguments
// name a --data directory (or --store memory), it gets a fresh one of its own; unless they name a
// --metrics-listen address, its metrics are off (relays started in parallel
// would fight over the default 127.0.0.1:9464).
class RelayProcess {
public:
    ~RelayProcess() {
        kill_now();
        if (reader_.joinable()) reader_.join();
    }

    // SIGKILL, and wait for it.
    void kill_now() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
    }

    const std::filesystem::path& own_data_dir() const { return data_.path(); }

    // Starts the relay; returns false if it exits or stays silent.
    bool start(std::vector<std::string> args) {
        const auto store = std::find(args.begin(), args.end(), "--store");
        // Only the SQLite store keeps its data in --data (memory and PostgreSQL take none).
        const bool elsewhere = store != args.end() && store + 1 != args.end() && store[1] != "sqlite";
        if (!elsewhere && std::find(args.begin(), args.end(), "--data") == args.end()) {
            args.push_back("--data");
            args.push_back(data_.path().string());
        }
        if (std::find(args.begin(), args.end(), "--metrics-listen") == args.end()) {
            args.push_back("--metrics-listen");
            args.push_back("off");
        }
        int fds[2];
        if (::pipe(fds) != 0) return false;
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
        posix_spawn_file_actions_addclose(&actions, fds[0]);
        args.insert(args.begin(), PARLEY_RELAY_BIN);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        int rc = ::posix_spawn(&pid_, PARLEY_RELAY_BIN, &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(fds[1]);
        if (rc != 0) {
            pid_ = -1;
            ::close(fds[0]);
            return false;
        }
        reader_ = std::thread([this, fd = fds[0]] { read_stderr(fd); });
        return true;
    }

    // The port from "parley-relay: listening on ws://127.0.0.1:PORT".
    std::optional<std::string> wait_ready() {
        static const std::string marker = "parley-relay: listening on ";
        std::unique_lock lock(mutex_);
        cv_.wait_for(lock, wait_timeout, [&] { return stderr_.find('\n', stderr_.find(marker)) != std::string::npos || eof_; });
        auto at = stderr_.find(marker);
        if (at == std::string::npos) return std::nullopt;
        auto line = stderr_.substr(at + marker.size(), stderr_.find('\n', at) - at - marker.size());
        auto colon = line.rfind(':');
        url_ = line;
        return line.substr(colon + 1);
    }

    const std::string& url() const { return url_; }

    // After wait_ready: the port from "parley-relay: metrics on
    // http://127.0.0.1:PORT/metrics" (printed before the ready line), if on.
    std::optional<std::string> metrics_port() {
        static const std::string marker = "parley-relay: metrics on http://";
        std::lock_guard lock(mutex_);
        const auto at = stderr_.find(marker);
        if (at == std::string::npos) return std::nullopt;
        const auto end = stderr_.find("/metrics", at + marker.size());
        if (end == std::string::npos) return std::nullopt;
        const auto address = stderr_.substr(at + marker.size(), end - at - marker.size());
        return address.substr(address.rfind(':') + 1);
    }

    // Exit code, or nullopt if it is still running after `timeout`.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                if (reader_.joinable()) reader_.join();
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            std::this_thread::sleep_for(10ms);
        }
        return std::nullopt;
    }

    void signal(int sig) { ::kill(pid_, sig); }
    pid_t pid() const { return pid_; }

    std::string stderr_text() {
        std::lock_guard lock(mutex_);
        return stderr_;
    }

private:
    void read_stderr(int fd) {
        char buf[4096];
        for (;;) {
            auto n = ::read(fd, buf, sizeof buf);
            if (n <= 0) break;
            std::lock_guard lock(mutex_);
            stderr_.append(buf, static_cast<std::size_t>(n));
            cv_.notify_all();
        }
        ::close(fd);
        std::lock_guard lock(mutex_);
        eof_ = true;
        cv_.notify_all();
    }

    TempDir data_;
    pid_t pid_ = -1;
    std::thread reader_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::string stderr_;
    bool eof_ = false;
    std::string url_;
};

// A net::Client that queues the frames it receives, for tests to wait on.
class FrameClient {
public:
    explicit FrameClient(const std::string& url, net::Client::Options options = {}) {
        std::string error;
        auto endpoint = net::parse_url(url, error);
        if (!endpoint) throw std::runtime_error(error);
        client_ = std::make_unique<net::Client>(*endpoint, options);
        client_->connect(
            [this](std::vector<std::uint8_t> frame) {
                std::lock_guard lock(mutex_);
                frames_.push_back(std::move(frame));
                cv_.notify_all();
            },
            [this](std::string) {
                std::lock_guard lock(mutex_);
                closed_ = true;
                cv_.notify_all();
            });
    }
    ~FrameClient() { client_.reset(); }  // before the members its handlers use

    void send_raw(Bytes bytes) { client_->send(std::move(bytes)); }
    void send(const wire::Frame& frame) { client_->send(wire::encode_frame(frame)); }

    std::optional<Bytes> next_raw(std::chrono::milliseconds timeout = wait_timeout) {
        std::unique_lock lock(mutex_);
        if (!cv_.wait_for(lock, timeout, [&] { return !frames_.empty(); })) return std::nullopt;
        auto out = std::move(frames_.front());
        frames_.pop_front();
        return out;
    }

    // The next frame, which must be a T.
    template <class T>
    std::optional<T> expect(std::chrono::milliseconds timeout = wait_timeout) {
        auto raw = next_raw(timeout);
        if (!raw) {
            ADD_FAILURE() << "no frame within the timeout";
            return std::nullopt;
        }
        auto decoded = wire::decode_frame(*raw);
        if (!decoded.frame) {
            ADD_FAILURE() << "relay sent an undecodable frame";
            return std::nullopt;
        }
        if (auto* f = std::get_if<T>(&*decoded.frame)) return *f;
        if (auto* e = std::get_if<wire::Error>(&*decoded.frame))
            ADD_FAILURE() << "got Error " << wire::to_string(e->code) << " (request " << e->request_id << ")";
        else
            ADD_FAILURE() << "got frame of another type (index " << decoded.frame->index() << ")";
        return std::nullopt;
    }

    // The next frame, which must be Error{request_id, code}.
    void expect_error(std::uint64_t request_id, wire::RelayError code) {
        auto e = expect<wire::Error>();
        ASSERT_TRUE(e);
        EXPECT_EQ(e->request_id, request_id);
        EXPECT_EQ(e->code, code) << "got " << wire::to_string(e->code);
    }

    bool nothing_within(std::chrono::milliseconds quiet) { return !next_raw(quiet).has_value(); }

    bool wait_closed(std::chrono::milliseconds timeout = wait_timeout) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, timeout, [&] { return closed_; });
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Bytes> frames_;
    bool closed_ = false;
    std::unique_ptr<net::Client> client_;
};

}  // namespace parley::relay_it
