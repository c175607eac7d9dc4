// Secret (lib/crypto/secret.h): each lives in a slot of the locked pool,
// zero when taken, zeroed when given back and when moved from; the pool's
// pages are locked and left out of core dumps.
#include "crypto/secret.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace parley::crypto {
namespace {

bool all_zero(const std::uint8_t* p, std::size_t n) {
    return std::all_of(p, p + n, [](std::uint8_t b) { return b == 0; });
}

// The smaps entry of the mapping holding `address`: its "VmFlags:" and
// "Locked:" lines.
std::string smaps_of(const void* address) {
    std::ifstream smaps("/proc/self/smaps");
    std::string line, entry;
    bool in = false;
    const auto a = reinterpret_cast<std::uintptr_t>(address);
    while (std::getline(smaps, line)) {
        unsigned long long lo = 0, hi = 0;
        if (std::sscanf(line.c_str(), "%llx-%llx ", &lo, &hi) == 2) {  // a mapping's first line
            if (in) return entry;
            in = a >= lo && a < hi;
            entry.clear();
        }
        if (in) entry += line + "\n";
    }
    return entry;
}

TEST(Secret, ANewSecretIsZeroEvenInASlotAnotherOneUsed) {
    const std::uint8_t* where = nullptr;
    {
        Secret<32> s;
        std::fill(s.data(), s.data() + 32, 0xAB);
        where = s.data();
    }
    Secret<32> again;  // most likely the same slot (the pool hands back the last one given)
    EXPECT_TRUE(all_zero(again.data(), 32));
    EXPECT_EQ(again.data(), where) << "not the slot just given back: the check above proved less";
}

TEST(Secret, AMovedFromSecretIsZeroAndTheMovedToHoldsTheBytes) {
    Secret<64> a;
    for (std::size_t i = 0; i < 64; ++i) a.data()[i] = static_cast<std::uint8_t>(i + 1);
    Secret<64> b(std::move(a));
    EXPECT_TRUE(all_zero(a.data(), 64));  // NOLINT(bugprone-use-after-move): the point
    EXPECT_EQ(b.data()[63], 64);
    Secret<64> c;
    c = std::move(b);
    EXPECT_TRUE(all_zero(b.data(), 64));  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(c.data()[0], 1);
    EXPECT_NE(a.data(), c.data());
}

TEST(Secret, LiveSecretsHaveSlotsOfTheirOwn) {
    std::vector<Secret<32>> many(300);  // more than one page's worth of slots
    std::set<const std::uint8_t*> slots;
    for (auto& s : many) slots.insert(s.data());
    EXPECT_EQ(slots.size(), many.size());
    for (std::size_t i = 0; i < many.size(); ++i) std::fill(many[i].data(), many[i].data() + 32, std::uint8_t(i));
    for (std::size_t i = 0; i < many.size(); ++i)
        ASSERT_EQ(many[i].data()[31], static_cast<std::uint8_t>(i)) << "two secrets share memory";
}

std::string vm_flags(const void* address) {
    const auto entry = smaps_of(address);
    const auto at = entry.find("VmFlags:");
    return at == std::string::npos ? std::string() : entry.substr(at);
}

// Can this process lock a page at all? Not under ASan (it ignores mlock, and
// says so), nor over RLIMIT_MEMLOCK without CAP_IPC_LOCK.
bool mlock_shows() {
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    void* p = ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return false;
    const bool locked = ::mlock(p, page) == 0 && vm_flags(p).find(" lo") != std::string::npos;
    ::munmap(p, page);
    return locked;
}

// MADV_DONTDUMP shows as "dd" in the mapping's VmFlags; mlock as "lo", where
// the process can lock memory at all.
TEST(Secret, ItsPageIsLeftOutOfCoreDumpsAndLocked) {
    Secret<32> s;
    const auto flags = vm_flags(s.data());
    ASSERT_FALSE(flags.empty()) << "no mapping holds the secret";
    EXPECT_NE(flags.find(" dd"), std::string::npos) << flags;
    if (!mlock_shows()) GTEST_SKIP() << "this process cannot lock memory (ASan ignores mlock): " << flags;
    EXPECT_NE(flags.find(" lo"), std::string::npos) << flags;
}

// A SecretBuffer of up to 64 bytes takes a pool slot (no sodium_malloc, whose
// system calls were half a version-2 message's cost); a larger one its own
// region. Both zero when given back, both out of core dumps.
TEST(SecretBuffer, SmallOnesTakeAPoolSlotAndGiveItBackZeroed) {
    const std::uint8_t* where = nullptr;
    {
        SecretBuffer small(40);
        std::fill(small.data(), small.data() + 40, 0xCD);
        where = small.data();
        EXPECT_NE(vm_flags(where).find(" dd"), std::string::npos);
        SecretBuffer moved(std::move(small));
        EXPECT_EQ(moved.data(), where);
        EXPECT_EQ(small.size(), 0u);  // NOLINT(bugprone-use-after-move): the point
        SecretBuffer assigned(64);
        assigned = std::move(moved);  // gives 64's slot back, takes 40's
        EXPECT_EQ(assigned.data(), where);
        EXPECT_EQ(assigned.size(), 40u);
    }
    Secret<64> next;  // the slot just given back
    EXPECT_EQ(next.data(), where) << "the small buffer did not come from the pool";
    EXPECT_TRUE(all_zero(next.data(), 64));

    SecretBuffer large(65);
    std::fill(large.data(), large.data() + 65, 0x11);
    EXPECT_EQ(large.data()[64], 0x11);
    EXPECT_NE(vm_flags(large.data()).find(" dd"), std::string::npos);
    EXPECT_TRUE(SecretBuffer(0).empty());
}

}  // namespace
}  // namespace parley::crypto
