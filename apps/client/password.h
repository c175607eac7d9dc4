// Where the room password comes from, in order: --password (warns: argv is
// visible to other local users), --password-file, PARLEY_PASSWORD, and a no-echo
// prompt on the terminal. The password lives only in a SecretBuffer.
#pragma once

#include <optional>
#include <string>

#include "crypto/secret.h"

namespace parley::client {

struct PasswordSource {
    std::optional<std::string> argv_password;  // wiped by read_password
    std::string file;
};

// Throws UserError when no source yields a non-empty password.
crypto::SecretBuffer read_password(PasswordSource& source, const std::string& room, bool confirm);

// True for passwords that are short enough to guess offline with a stolen key file.
bool password_looks_weak(const crypto::SecretBuffer& password);

}  // namespace parley::client
