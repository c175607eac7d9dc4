// Who may create rooms on this relay, and how much any room may store
// (docs/PROTOCOL.md §6.3). A room is created by its genesis record; the relay
// checks the genesis author against the operator's founder list (or, on an
// open relay, only the quotas), and counts new rooms per author key and per
// connecting address over the last hour. Nothing here grows with what a
// refused peer sends: a room is counted only once it was created.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "wire/frames.h"

namespace parley::relay {

using PublicKeyBytes = Array<wire::public_key_bytes>;
using AddressBytes = std::array<std::uint8_t, 16>;  // connection_set.h's AddressKey

inline constexpr std::size_t default_rooms_per_founder_per_hour = 10;
inline constexpr std::size_t default_rooms_per_address_per_hour = 10;
inline constexpr std::uint64_t default_max_room_bytes = 256ull << 20;
inline constexpr std::uint64_t default_max_total_bytes = 4ull << 30;
inline constexpr std::size_t default_max_chain_records = wire::max_records_per_chain;
inline constexpr std::size_t default_chain_page_bytes = 1u << 20;

struct Quotas {
    std::size_t rooms_per_founder_per_hour = default_rooms_per_founder_per_hour;
    std::size_t rooms_per_address_per_hour = default_rooms_per_address_per_hour;
    std::uint64_t max_room_bytes = default_max_room_bytes;    // records + stored messages of one room
    std::uint64_t max_total_bytes = default_max_total_bytes;  // of every room together
    std::size_t max_chain_records = default_max_chain_records;
};

// The operator's founder list: PEM public keys (as in public_keys/NAME.pem)
// and lines of 64 hex digits (a raw Ed25519 key); '#' comments and blank
// lines. Throws std::runtime_error naming the file and line.
std::set<PublicKeyBytes> load_founders(const std::filesystem::path& file);
std::set<PublicKeyBytes> parse_founders(const std::string& text, const std::string& name);

class Admission {
public:
    using Clock = std::chrono::steady_clock;

    // `founders` nullopt: an open relay (anyone, within the quotas).
    Admission(Quotas quotas, std::optional<std::set<PublicKeyBytes>> founders);

    // Replaces the founder list (SIGHUP); safe from any thread.
    void set_founders(std::set<PublicKeyBytes> founders);
    bool open() const;

    // May `author`, connected from `address`, create a room now? Counts
    // nothing: call room_created() once the genesis is stored.
    [[nodiscard]] std::optional<wire::RelayError> may_create(const PublicKeyBytes& author,
                                                             const AddressBytes& address,
                                                             Clock::time_point now = Clock::now());
    void room_created(const PublicKeyBytes& author, const AddressBytes& address,
                      Clock::time_point now = Clock::now());

    Quotas quotas() const;
    void set_quotas(const Quotas& quotas);  // a reload; safe from any thread

private:
    template <class Key>
    using Window = std::map<Key, std::deque<Clock::time_point>>;
    template <class Key>
    static std::size_t recent(Window<Key>& w, const Key& key, Clock::time_point now);
    template <class Key>
    static void sweep(Window<Key>& w, Clock::time_point now);

    mutable std::mutex mutex_;
    Quotas quotas_;
    std::optional<std::set<PublicKeyBytes>> founders_;
    Window<PublicKeyBytes> by_founder_;
    Window<AddressBytes> by_address_;
    std::size_t calls_ = 0;
};

}  // namespace parley::relay
