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

// A sender's counter stream under one epoch record, over all its sessions:
// every process of a state folder takes the next counter (docs/PROTOCOL.md
// §5), so a counter skipped there is a message that did not arrive.
struct SenderKey {
    wire::RoomId room{};
    wire::Hash record_hash{};
    wire::KeyId sender{};
    auto operator<=>(const SenderKey&) const = default;
};

struct ReplayWindow {
    std::uint64_t highest = 0;
    std::uint64_t seen_below = 0;  // bit i set: counter (highest - 1 - i) was seen
};

inline constexpr std::uint64_t replay_window_size = 64;

enum class ReplayCheck { fresh, replayed, too_old };

struct ReplayDecision {
    ReplayCheck check = ReplayCheck::fresh;
    ReplayWindow updated{};            // the state to store once the message is accepted
};

// Pure: what accepting `counter` into `window` means. `window` is nullopt for a
// session never seen before.
ReplayDecision check_replay(const std::optional<ReplayWindow>& window, std::uint64_t counter);

// What accepting `counter` from a sender whose front is `front` means: the
// counters skipped since the front (the first message of a sender under a
// record: every counter below it), and the front to store.
struct FrontDecision {
    bool first = false;                // no front yet
    std::uint64_t missing_before = 0;  // counters skipped, not yet seen
    std::uint64_t updated = 0;
};
FrontDecision check_front(const std::optional<std::uint64_t>& front, std::uint64_t counter);

// Where replay windows live. The client's SQLite store implements it; tests
// use MemoryReplayStore.
class ReplayStore {
public:
    virtual ~ReplayStore() = default;
    virtual std::optional<ReplayWindow> load_window(const StreamKey& key) = 0;
    // Called only after the message verified and decrypted.
    virtual void save_window(const StreamKey& key, const ReplayWindow& window) = 0;
    // The highest counter accepted from a sender under a record (its front).
    virtual std::optional<std::uint64_t> load_front(const SenderKey& key) = 0;
    virtual void save_front(const SenderKey& key, std::uint64_t highest) = 0;
};

class MemoryReplayStore final : public ReplayStore {
public:
    std::optional<ReplayWindow> load_window(const StreamKey& key) override;
    void save_window(const StreamKey& key, const ReplayWindow& window) override;
    std::optional<std::uint64_t> load_front(const SenderKey& key) override;
    void save_front(const SenderKey& key, std::uint64_t highest) override;

private:
    std::map<StreamKey, ReplayWindow> windows_;
    std::map<SenderKey, std::uint64_t> fronts_;
};

}  // namespace parley::protocol
