// The relay's per-chain log of sequenced items (store and forward, DESIGN.md
// "The relay"): every accepted Send's envelope and every accepted successor
// record, each numbered by the relay. Members who were away catch up from it
// (docs/PROTOCOL.md §6, Join.after_seq).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <vector>

#include "relay/subscriber.h"
#include "wire/bytes.h"

namespace parley::relay {

// A store could not read or write (disk full, I/O error, corruption). At
// start-up it ends the relay with its message; at run time the request that
// needed the store gets RelayError::internal and the relay keeps serving.
class StorageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Wall-clock milliseconds since the Unix epoch; injected so tests control time.
using Clock = std::function<std::int64_t()>;
Clock system_clock_ms();

enum class LogKind : std::uint8_t {
    message = 1,   // payload: an envelope (a Deliver to be)
    new_head = 2,  // payload: an encoded epoch record (a NewHead to be)
};

struct LogItem {
    std::uint64_t seq = 0;
    LogKind kind = LogKind::message;
    Bytes payload;
    bool operator==(const LogItem&) const = default;
};

// What to append; the log assigns the sequence number.
struct LogAppend {
    ChainKey chain;
    LogKind kind = LogKind::message;
    Bytes payload;
};

// The sequence numbers a chain has used and still holds. Nothing stored:
// first_seq == last_seq + 1.
struct LogRange {
    std::uint64_t first_seq = 1;
    std::uint64_t last_seq = 0;
};

// One chain's part of a read_each: its items with after_seq < seq <= up_to_seq.
struct LogSpan {
    ChainKey chain;
    std::uint64_t after_seq = 0;
    std::uint64_t up_to_seq = 0;
};

struct RetentionPolicy {
    std::chrono::milliseconds max_age = std::chrono::hours(24 * 30);
    std::uint64_t max_items = 100000;  // per chain
};

// Safe to call from any thread; each call is atomic.
class MessageLog {
public:
    virtual ~MessageLog() = default;

    // Appends every item in one transaction, each with its chain's next
    // sequence number (last_seq + 1, never reused, continuing after a
    // restart). Durable when it returns; returns the numbers in item order.
    // Throws StorageError with nothing stored and no number used.
    virtual std::vector<std::uint64_t> append(const std::vector<LogAppend>& items) = 0;

    // Items of `chain` with after_seq < seq <= up_to_seq, oldest first, at most
    // `max_items`, and stopping after the item that reaches `max_bytes` of
    // payload (at least one item when there is one). Throws StorageError.
    virtual std::vector<LogItem> read(const ChainKey& chain, std::uint64_t after_seq,
                                      std::uint64_t up_to_seq, std::size_t max_items,
                                      std::size_t max_bytes) const = 0;

    // read() of each span (same limits, per span), in span order: what a relay
    // node reads when it hears of other nodes' commits to many chains at once.
    // A store another process shares (PostgreSQL) reads them in one query;
    // this default reads them one by one. Throws StorageError.
    virtual std::vector<std::vector<LogItem>> read_each(const std::vector<LogSpan>& spans, std::size_t max_items,
                                                        std::size_t max_bytes) const {
        std::vector<std::vector<LogItem>> out;
        out.reserve(spans.size());
        for (const auto& s : spans) out.push_back(read(s.chain, s.after_seq, s.up_to_seq, max_items, max_bytes));
        return out;
    }

    virtual LogRange range(const ChainKey& chain) const = 0;

    // Deletes, per chain, items older than policy.max_age and all but the
    // newest policy.max_items. Returns how many went. Never touches records or
    // sequence numbers. Throws StorageError.
    virtual std::size_t prune(const RetentionPolicy& policy) = 0;
};

}  // namespace parley::relay
