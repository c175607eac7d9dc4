// The relay's notifications to systemd (lib/relay/readiness.h): each one is a
// datagram on the socket NOTIFY_SOCKET names, and without NOTIFY_SOCKET
// nothing is sent. (tests/integration/test_packaging.py checks the real
// relay's READY=1 and STOPPING=1.)
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "relay/readiness.h"

namespace parley::relay {
namespace {

// A bound datagram socket, named as systemd names its notify socket, and
// NOTIFY_SOCKET pointing at it for the test.
class Readiness : public ::testing::Test {
protected:
    void SetUp() override {
        path_ = std::filesystem::temp_directory_path() /
                ("parley-notify-" + std::to_string(::getpid()));
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ASSERT_GE(fd_, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        ASSERT_LT(path_.native().size(), sizeof addr.sun_path);
        std::strcpy(addr.sun_path, path_.c_str());
        ::unlink(path_.c_str());
        ASSERT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
            << std::strerror(errno);
        ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
    }
    void TearDown() override {
        ::unsetenv("NOTIFY_SOCKET");
        if (fd_ >= 0) ::close(fd_);
        ::unlink(path_.c_str());
    }
    // The next datagram, or "" if none is waiting.
    std::string received() {
        char buf[512];
        const auto n = ::recv(fd_, buf, sizeof buf, 0);
        return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    }

    std::filesystem::path path_;
    int fd_ = -1;
};

TEST_F(Readiness, ReadyCarriesTheUrlAsStatus) {
    notify_ready("wss://127.0.0.1:8443");
    EXPECT_EQ(received(), "READY=1\nSTATUS=listening on wss://127.0.0.1:8443");
}

TEST_F(Readiness, ReloadingCarriesItsMonotonicStart) {
    notify_reloading();
    const auto said = received();
    EXPECT_EQ(said.rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << said;
    EXPECT_GT(
        std::strtoull(said.c_str() + std::strlen("RELOADING=1\nMONOTONIC_USEC="), nullptr, 10), 0u)
        << said;
}

TEST_F(Readiness, Stopping) {
    notify_stopping();
    EXPECT_EQ(received(), "STOPPING=1");
}

TEST_F(Readiness, SaysNothingWithoutNotifySocket) {
    ::unsetenv("NOTIFY_SOCKET");
    notify_ready("ws://127.0.0.1:1");
    notify_reloading();
    notify_stopping();
    EXPECT_EQ(received(), "");
}

}  // namespace
}  // namespace parley::relay
