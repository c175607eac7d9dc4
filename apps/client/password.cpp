#include "password.h"

#include <fcntl.h>
#include <sys/stat.h>
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
    // Strip every trailing newline (\n or \r), as files and prompts end with one.
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
    bool too_long = false;
    while (::read(fd, &c, 1) == 1 && c != '\n') {
        if (n < line.size()) line.data()[n++] = static_cast<std::uint8_t>(c);
        else too_long = true;
    }
    if (have_termios) ::tcsetattr(fd, TCSAFLUSH, &old);
    (void)!::write(fd, "\n", 1);
    ::close(fd);
    if (too_long) throw UserError("the password is too long (1 KiB at most)");
    if (n == 0) return std::nullopt;
    return from_bytes(reinterpret_cast<const char*>(line.data()), n);
}

}  // namespace

std::optional<crypto::SecretBuffer> take_argv_password(int argc, char** argv) {
    static constexpr std::string_view flag = "--password";
    std::optional<crypto::SecretBuffer> found;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        char* value = nullptr;
        if (arg == flag && i + 1 < argc) value = argv[++i];
        else if (arg.size() > flag.size() && arg.substr(0, flag.size() + 1) == "--password=") value = argv[i] + flag.size() + 1;
        if (value == nullptr) continue;
        const std::size_t n = std::strlen(value);
        if (n > 0) {
            found.emplace(n);
            std::memcpy(found->data(), value, n);
            std::memset(value, '*', n);
        }
    }
    return found;
}

// Reads a whole file into locked memory; refuses files others may read.
static crypto::SecretBuffer read_password_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) throw UserError("cannot read password file " + path + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw UserError("password file " + path + " is not a regular file");
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        ::close(fd);
        throw UserError("password file " + path + " is readable by other users (permissions too open)",
                        "run 'chmod 600 " + path + "'");
    }
    crypto::SecretBuffer buf(4096);
    std::size_t n = 0;
    ssize_t got = 0;
    while (n < buf.size() && (got = ::read(fd, buf.data() + n, buf.size() - n)) > 0) n += static_cast<std::size_t>(got);
    ::close(fd);
    if (got < 0) throw UserError("cannot read password file " + path + ": " + std::strerror(errno));
    if (n == buf.size()) throw UserError("password file " + path + " is too long (4 KiB at most)");
    return from_bytes(reinterpret_cast<const char*>(buf.data()), n);
}

crypto::SecretBuffer read_password(PasswordSource& source, const std::string& room, bool confirm) {
    if (source.typed) {
        auto out = std::move(*source.typed);
        source.typed.reset();
        return out;
    }
    if (source.argv_password) {
        std::cerr << "parley: warning: --password is visible to other users of this machine (ps, /proc)\n"
                     "hint: use the prompt, PARLEY_PASSWORD or --password-file instead\n";
        auto& p = *source.argv_password;
        return from_bytes(reinterpret_cast<const char*>(p.data()), p.size());
    }
    if (!source.file.empty()) return read_password_file(source.file);
    if (char* env = std::getenv("PARLEY_PASSWORD"); env != nullptr && *env != '\0') {
        auto out = from_bytes(env, std::strlen(env));
        // Leave no copy in our environment (children, /proc/PID/environ).
        sodium_memzero(env, std::strlen(env));
        ::unsetenv("PARLEY_PASSWORD");
        return out;
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
