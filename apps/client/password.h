// Where the room password comes from, in order: --password (warns: argv is
// visible to other local users), --password-file, PARLEY_PASSWORD, and a no-echo
// prompt on the terminal. The password lives only in a SecretBuffer.
#pragma once

#include <optional>
#include <string>

#include "crypto/secret.h"

namespace parley::client {

struct PasswordSource {
    // Taken out of argv by take_argv_password() before the flags are parsed;
    // CLI11 only ever sees the masked copy left behind.
    std::optional<crypto::SecretBuffer> argv_password;
    std::string masked;  // what CLI11 parsed for --password: ignored
    std::string file;
    // Typed into the full-screen chat (/join): taken first, without a warning.
    std::optional<crypto::SecretBuffer> typed;
};

// Finds `--password=VALUE` or `--password VALUE` in argv, moves VALUE into
// locked memory and overwrites it in place with '*', so neither CLI11 nor a
// later look at /proc/PID/cmdline sees it. (Other users may already have seen
// it: the warning says so.)
std::optional<crypto::SecretBuffer> take_argv_password(int argc, char** argv);

// Throws UserError when no source yields a non-empty password.
crypto::SecretBuffer read_password(PasswordSource& source, const std::string& room, bool confirm);

// True for passwords that are short enough to guess offline with a stolen key file.
bool password_looks_weak(const crypto::SecretBuffer& password);

}  // namespace parley::client
