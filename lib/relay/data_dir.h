// The relay's data directory, made safe before the database opens in it: it
// exists and is the relay's alone (0700; a looser one is tightened, with a log
// line, or refused), the database files in it are 0600, and one relay at a
// time uses it (an exclusive lock on DIR/relay.lock, held while the relay
// runs; the kernel drops it when the process ends, kill -9 included).
#pragma once

#include <filesystem>

namespace parley::relay {

class DataDir {
public:
    // Throws std::runtime_error with a message and a hint for the operator
    // (cannot create it, cannot tighten it, another relay holds it).
    explicit DataDir(std::filesystem::path dir);
    ~DataDir();
    DataDir(const DataDir&) = delete;
    DataDir& operator=(const DataDir&) = delete;

    const std::filesystem::path& path() const { return dir_; }

    static constexpr const char* lock_name = "relay.lock";

private:
    std::filesystem::path dir_;
    int lock_fd_ = -1;
};

}  // namespace parley::relay
