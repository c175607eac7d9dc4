#include "password.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "user_error.h"

namespace parley::client {

namespace {

crypto::SecretBuffer from_bytes(const char* data, std::size_t n) {
    // Strip one trailing newline, as files and prompts end with one.
    while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r')) --n;
    if (n == 0) throw UserError("the room password is empty");
    crypto::SecretBuffer out(n);
    std::memcpy(out.data(), data, n);
    return out;
}

// Reads one line from /dev/tty with echo off into locked memory.
std::optional<crypto::SecretBuffer> prompt_tty(const std::string& prompt) {
    int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    termios old {};
    bool have_termios = ::tcgetattr(fd, &old) == 0;
    if (have_termios) {
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    (void)!::write(fd, prompt.data(), prompt.size());
    crypto::SecretBuffer line(1024);
    std::size_t n = 0;
    char c = 0;
    while (n < line.size() && ::read(fd, &c, 1) == 1 && c != '\n') line.data()[n++] = static_cast<std::uint8_t>(c);
    if (have_termios) ::tcsetattr(fd, TCSAFLUSH, &old);
    (void)!::write(fd, "\n", 1);
    ::close(fd);
    if (n == 0) return std::nullopt;
    return from_bytes(reinterpret_cast<const char*>(line.data()), n);
}

}  // namespace

crypto::SecretBuffer read_password(PasswordSource& source, const std::string& room, bool confirm) {
    if (source.argv_password) {
        std::cerr << "parley: warning: --password is visible to other users of this machine (ps, /proc)\n"
                     "hint: use the prompt, PARLEY_PASSWORD or --password-file instead\n";
        auto& s = *source.argv_password;
        auto out = from_bytes(s.data(), s.size());
        sodium_memzero(s.data(), s.size());
        return out;
    }
    if (!source.file.empty()) {
        std::ifstream in(source.file, std::ios::binary);
        if (!in) throw UserError("cannot read password file " + source.file + ": " + std::strerror(errno));
        std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        auto out = from_bytes(s.data(), s.size());
        sodium_memzero(s.data(), s.size());
        return out;
    }
    if (const char* env = std::getenv("PARLEY_PASSWORD"); env != nullptr && *env != '\0') {
        return from_bytes(env, std::strlen(env));
    }
    auto first = prompt_tty("room password for " + room + ": ");
    if (!first) {
        throw UserError("no room password given",
                        "type it at the prompt, or use PARLEY_PASSWORD or --password-file");
    }
    if (confirm) {
        auto again = prompt_tty("repeat the room password: ");
        if (!again || again->size() != first->size() ||
            sodium_memcmp(again->data(), first->data(), first->size()) != 0)
            throw UserError("the two passwords differ");
    }
    return std::move(*first);
}

bool password_looks_weak(const crypto::SecretBuffer& password) { return password.size() < 12; }

}  // namespace parley::client
