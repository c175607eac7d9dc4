// `parley-relay --backup FILE`: a consistent copy of a relay's database while
// the relay runs (SQLite's online backup API reads it as any reader does, beside
// the relay's writes), checked (quick_check) before it is called done. To
// restore: stop the relay, put the copy in place of DIR/relay.sqlite (and remove
// its -wal and -shm files), start the relay.
#pragma once

#include <cstdint>
#include <filesystem>

namespace parley::relay {

struct BackupSummary {
    std::uint64_t bytes = 0;
    std::uint64_t chains = 0;
    std::uint64_t records = 0;
    std::uint64_t messages = 0;
};

// Copies DATA_DIR/relay.sqlite to `to`, a file that must not exist (created
// 0600). Throws std::runtime_error (with a hint line) and leaves no partial
// copy behind.
BackupSummary backup_database(const std::filesystem::path& data_dir, const std::filesystem::path& to);

}  // namespace parley::relay
