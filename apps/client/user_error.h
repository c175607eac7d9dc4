// Errors the client shows to its user: a lowercase message and an optional
// `hint:` line saying what to do (age's message rules). Thrown only outside
// async handlers and caught in main().
#pragma once

#include <stdexcept>
#include <string>

#include "wire/frames.h"

namespace parley::client {

class UserError : public std::runtime_error {
public:
    explicit UserError(const std::string& message, std::string hint = {}, int exit_code = 1)
        : std::runtime_error(message), hint_(std::move(hint)), exit_code_(exit_code) {}
    const std::string& hint() const { return hint_; }
    int exit_code() const { return exit_code_; }

private:
    std::string hint_;
    int exit_code_;
};

// The room password does not open the room (its first epoch's token check).
class WrongPassword : public UserError {
public:
    using UserError::UserError;
};

// The relay answered a request with an Error frame.
class RelayRefused : public UserError {
public:
    RelayRefused(const std::string& message, wire::RelayError code) : UserError(message), code_(code) {}
    wire::RelayError code() const { return code_; }

private:
    wire::RelayError code_;
};

}  // namespace parley::client
