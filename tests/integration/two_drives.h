// Alice's and bob's flash drives for tests that run the real client: each a
// folder with its private key file and a public_keys/ folder holding both
// public keys.
#pragma once

#include <filesystem>

#include "crypto/key_file.h"
#include "relay_harness.h"

namespace parley::relay_it {

struct TwoDrives {
    TempDir root;
    std::filesystem::path alice_dir = root.path() / "alice";
    std::filesystem::path bob_dir = root.path() / "bob";
    crypto::Identity alice = crypto::generate_identity();
    crypto::Identity bob = crypto::generate_identity();

    TwoDrives() {
        std::filesystem::create_directories(alice_dir / "public_keys");
        std::filesystem::create_directories(bob_dir / "public_keys");
        crypto::write_key_files(alice, alice_dir / "alice.pem", alice_dir / "public_keys" / "alice.pem");
        crypto::write_key_files(bob, bob_dir / "bob.pem", bob_dir / "public_keys" / "bob.pem");
        std::filesystem::copy_file(alice_dir / "public_keys" / "alice.pem", bob_dir / "public_keys" / "alice.pem");
        std::filesystem::copy_file(bob_dir / "public_keys" / "bob.pem", alice_dir / "public_keys" / "bob.pem");
    }
};

}  // namespace parley::relay_it
