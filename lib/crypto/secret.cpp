#include "crypto/secret.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <vector>

namespace parley::crypto::detail {

namespace {

// Pages are taken a few at a time and kept for the process's life: the
// secrets alive at once are few (keys, an epoch's secrets, a chain's skipped
// message keys), and a page once locked is never given back unlocked.
class SlotPool {
public:
    std::uint8_t* acquire() {
        std::lock_guard lock(mutex_);
        if (free_.empty()) grow();
        std::uint8_t* slot = free_.back();
        free_.pop_back();
        return slot;
    }

    void release(std::uint8_t* slot) {
        sodium_memzero(slot, secret_slot_bytes);
        std::lock_guard lock(mutex_);
        free_.push_back(slot);
    }

private:
    static constexpr std::size_t pages_per_grow = 4;

    void grow() {
        const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
        const std::size_t bytes = page * pages_per_grow;
        void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) std::abort();  // out of memory for secrets
        // Best effort, as sodium_mlock: over RLIMIT_MEMLOCK the pages still
        // stay out of core dumps, and the client has core dumps off anyway.
        (void)::mlock(p, bytes);
        (void)::madvise(p, bytes, MADV_DONTDUMP);
        auto* base = static_cast<std::uint8_t*>(p);
        for (std::size_t off = bytes; off >= secret_slot_bytes; off -= secret_slot_bytes)
            free_.push_back(base + off - secret_slot_bytes);
    }

    std::mutex mutex_;
    std::vector<std::uint8_t*> free_;
};

// Never destroyed: a Secret in a static object may outlive everything else.
SlotPool& pool() {
    static SlotPool* p = new SlotPool();
    return *p;
}

}  // namespace

std::uint8_t* acquire_secret_slot() { return pool().acquire(); }

void release_secret_slot(std::uint8_t* slot) { pool().release(slot); }

}  // namespace parley::crypto::detail
