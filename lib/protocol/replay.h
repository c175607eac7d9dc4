// Replay protection (docs/PROTOCOL.md §7). Each (record, sender, session) has a
// counter stream; the receiver keeps the highest counter seen and a 64-bit
// window of the counters below it, in storage that survives restarts.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <tuple>

#include "wire/envelope.h"

namespace parley::protocol {

struct StreamKey {
    wire::RoomId room{};
    wire::Hash record_hash{};
    wire::KeyId sender{};
    wire::SessionId session{};
    auto operator<=>(const StreamKey&) const = default;
};

struct ReplayWindow {
    std::uint64_t highest = 0;
    std::uint64_t seen_below = 0;  // bit i set: counter (highest - 1 - i) was seen
};

inline constexpr std::uint64_t replay_window_size = 64;

enum class ReplayCheck { fresh, replayed, too_old };

struct ReplayDecision {
    ReplayCheck check = ReplayCheck::fresh;
    std::uint64_t missing_before = 0;  // counters skipped since the highest seen (a gap)
    ReplayWindow updated{};            // the state to store once the message is accepted
};

// Pure: what accepting `counter` into `window` means. `window` is nullopt for a
// stream never seen before (no gap is reported then: we may have joined late).
ReplayDecision check_replay(const std::optional<ReplayWindow>& window, std::uint64_t counter);

// Where replay windows live. The client's SQLite store implements it; tests
// use MemoryReplayStore.
class ReplayStore {
public:
    virtual ~ReplayStore() = default;
    virtual std::optional<ReplayWindow> load_window(const StreamKey& key) = 0;
    // Called only after the message verified and decrypted.
    virtual void save_window(const StreamKey& key, const ReplayWindow& window) = 0;
};

class MemoryReplayStore final : public ReplayStore {
public:
    std::optional<ReplayWindow> load_window(const StreamKey& key) override;
    void save_window(const StreamKey& key, const ReplayWindow& window) override;

private:
    std::map<StreamKey, ReplayWindow> windows_;
};

}  // namespace parley::protocol
