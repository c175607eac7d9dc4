// Types for secrets: move-only, wiped on destruction, never printable, compared
// in constant time, reached only through an explicit accessor.
#pragma once

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <utility>

namespace parley::crypto {

// Where a Secret lives: a 64-byte slot on pages that are locked in memory
// (mlock) and left out of core dumps (MADV_DONTDUMP) once, when the pool takes
// them (secret.cpp). A slot is zero when handed out and zeroed when given back.
// Locking each secret on its own would cost a pair of system calls that split
// and merge the stack's mapping, about 7 µs, and unlock a page that another
// secret on it still needs; a slot costs a lock-protected pop and push.
namespace detail {
inline constexpr std::size_t secret_slot_bytes = 64;
std::uint8_t* acquire_secret_slot();            // zeroed; aborts if no memory at all
void release_secret_slot(std::uint8_t* slot);   // zeroes it
}  // namespace detail

template <std::size_t N>
class Secret {
    static_assert(N <= detail::secret_slot_bytes, "a Secret fits in one locked slot");

public:
    static constexpr std::size_t size_bytes = N;

    Secret() : bytes_(detail::acquire_secret_slot()) {}
    ~Secret() { detail::release_secret_slot(bytes_); }
    Secret(const Secret&) = delete;
    Secret& operator=(const Secret&) = delete;
    // A moved-from Secret stays usable, all zero.
    Secret(Secret&& other) noexcept : Secret() {
        std::copy(other.bytes_, other.bytes_ + N, bytes_);
        sodium_memzero(other.bytes_, N);
    }
    Secret& operator=(Secret&& other) noexcept {
        if (this != &other) {
            std::copy(other.bytes_, other.bytes_ + N, bytes_);
            sodium_memzero(other.bytes_, N);
        }
        return *this;
    }

    std::uint8_t* data() { return bytes_; }
    const std::uint8_t* data() const { return bytes_; }
    std::span<const std::uint8_t, N> reveal() const { return std::span<const std::uint8_t, N>(bytes_, N); }
    std::span<std::uint8_t, N> mutable_bytes() { return std::span<std::uint8_t, N>(bytes_, N); }
    constexpr std::size_t size() const { return N; }

    bool equals(const Secret& other) const { return sodium_memcmp(data(), other.data(), N) == 0; }

private:
    std::uint8_t* bytes_;
};

// A secret whose size is known only at run time. Up to a slot's 64 bytes (a
// key, a chain row, a sealed state row's plaintext) it takes a pool slot as a
// Secret does; larger ones get their own sodium_malloc region (locked, guard
// pages), whose mmap, mprotect and munmap cost some 10 system calls.
class SecretBuffer {
public:
    SecretBuffer() = default;
    explicit SecretBuffer(std::size_t n) : size_(n) {
        if (n == 0) return;
        if (n <= detail::secret_slot_bytes) {
            data_ = detail::acquire_secret_slot();
            return;
        }
        data_ = static_cast<std::uint8_t*>(sodium_malloc(n));
        if (data_ == nullptr) std::abort();  // out of memory for secrets
    }
    ~SecretBuffer() { release(); }
    SecretBuffer(const SecretBuffer&) = delete;
    SecretBuffer& operator=(const SecretBuffer&) = delete;
    SecretBuffer(SecretBuffer&& o) noexcept
        : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    SecretBuffer& operator=(SecretBuffer&& o) noexcept {
        if (this != &o) {
            release();
            data_ = std::exchange(o.data_, nullptr);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }

    std::uint8_t* data() { return data_; }
    const std::uint8_t* data() const { return data_; }
    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }

private:
    void release() noexcept {
        if (data_ == nullptr) return;
        if (size_ <= detail::secret_slot_bytes)
            detail::release_secret_slot(data_);  // zeroes it
        else
            sodium_free(data_);  // zeroes before freeing
        data_ = nullptr;
    }
    std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace parley::crypto
