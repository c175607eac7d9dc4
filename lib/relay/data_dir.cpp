#include "relay/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

#include "relay/log.h"

namespace parley::relay {

namespace {

std::string octal(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

// Group or other bits on `path` are taken away (it is ours), with a log line;
// a path we cannot tighten is refused.
void tighten(const std::filesystem::path& path, mode_t wanted, const char* what) {
    // stat, not lstat: chmod follows a symlink, and systemd's StateDirectory=
    // with DynamicUser= is one (/var/lib/parley-relay -> private/parley-relay),
    // whose own mode 0777 means nothing.
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return;  // not there (yet): created with the umask
    if ((st.st_mode & 077) == 0) return;
    if (::chmod(path.c_str(), wanted) != 0)
        throw std::runtime_error(std::string(what) + " " + path.string() + " is open to other users (mode " +
                                 octal(st.st_mode) + ") and cannot be made " + octal(wanted) + ": " +
                                 std::strerror(errno) + "\nhint: chmod " + octal(wanted).substr(1) + " " +
                                 path.string() + ", or give --data a folder of the relay's own");
    PARLEY_LOG(notice, "%s %s was open to other users (mode %s); made it %s", what, path.c_str(),
               octal(st.st_mode).c_str(), octal(wanted).c_str());
}

}  // namespace

DataDir::DataDir(std::filesystem::path dir) : dir_(std::move(dir)) {
    if (dir_.empty()) throw std::runtime_error("no data directory\nhint: pass --data DIR");
    std::error_code ec;
    if (!std::filesystem::is_directory(dir_, ec)) {
        if (dir_.has_parent_path()) std::filesystem::create_directories(dir_.parent_path(), ec);
        if (::mkdir(dir_.c_str(), 0700) != 0 && !std::filesystem::is_directory(dir_, ec))
            throw std::runtime_error("cannot create data directory " + dir_.string() + ": " +
                                     std::strerror(errno));
    }
    // The log holds every room's metadata: the directory and the database are the relay's alone.
    tighten(dir_, 0700, "data directory");
    for (const char* name : {"relay.sqlite", "relay.sqlite-wal", "relay.sqlite-shm", lock_name})
        tighten(dir_ / name, 0600, "database file");

    const auto lock_path = dir_ / lock_name;
    lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock_fd_ < 0)
        throw std::runtime_error("cannot open " + lock_path.string() + ": " + std::strerror(errno));
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        char pid[32] = {};
        (void)!::pread(lock_fd_, pid, sizeof pid - 1, 0);
        for (char& c : pid)
            if (c == '\n') c = '\0';
        ::close(lock_fd_);
        lock_fd_ = -1;
        if (err == EWOULDBLOCK)
            throw std::runtime_error("another parley-relay" + (pid[0] ? " (pid " + std::string(pid) + ")" : std::string()) +
                                     " is using the data directory " + dir_.string() +
                                     "\nhint: stop it first, or give this relay a --data folder of its own");
        throw std::runtime_error("cannot lock " + lock_path.string() + ": " + std::strerror(err));
    }
    // Who holds it, for the message a second relay prints.
    const std::string me = std::to_string(::getpid()) + "\n";
    if (::ftruncate(lock_fd_, 0) == 0) (void)!::pwrite(lock_fd_, me.data(), me.size(), 0);
}

DataDir::~DataDir() {
    if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

}  // namespace parley::relay
