// Types for secrets: move-only, wiped on destruction, never printable, compared
// in constant time, reached only through an explicit accessor.
#pragma once

#include <sodium.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <utility>

namespace parley::crypto {

template <std::size_t N>
class Secret {
public:
    static constexpr std::size_t size_bytes = N;

    Secret() { sodium_mlock(bytes_.data(), N); }
    ~Secret() { sodium_munlock(bytes_.data(), N); }  // munlock zeroes the memory
    Secret(const Secret&) = delete;
    Secret& operator=(const Secret&) = delete;
    Secret(Secret&& other) noexcept : Secret() {
        bytes_ = other.bytes_;
        sodium_memzero(other.bytes_.data(), N);
    }
    Secret& operator=(Secret&& other) noexcept {
        if (this != &other) {
            bytes_ = other.bytes_;
            sodium_memzero(other.bytes_.data(), N);
        }
        return *this;
    }

    std::uint8_t* data() { return bytes_.data(); }
    const std::uint8_t* data() const { return bytes_.data(); }
    std::span<const std::uint8_t, N> reveal() const { return bytes_; }
    std::span<std::uint8_t, N> mutable_bytes() { return bytes_; }
    constexpr std::size_t size() const { return N; }

    bool equals(const Secret& other) const { return sodium_memcmp(data(), other.data(), N) == 0; }

private:
    std::array<std::uint8_t, N> bytes_{};
};

// A variable-length secret (a password) in guarded, locked memory.
class SecretBuffer {
public:
    SecretBuffer() = default;
    explicit SecretBuffer(std::size_t n) : size_(n) {
        if (n == 0) return;
        data_ = static_cast<std::uint8_t*>(sodium_malloc(n));
        if (data_ == nullptr) std::abort();  // out of memory for secrets
    }
    ~SecretBuffer() {
        if (data_ != nullptr) sodium_free(data_);  // zeroes before freeing
    }
    SecretBuffer(const SecretBuffer&) = delete;
    SecretBuffer& operator=(const SecretBuffer&) = delete;
    SecretBuffer(SecretBuffer&& o) noexcept
        : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    SecretBuffer& operator=(SecretBuffer&& o) noexcept {
        if (this != &o) {
            if (data_ != nullptr) sodium_free(data_);
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
    std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace parley::crypto
