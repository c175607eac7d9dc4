// Writes the seed corpora under tests/fuzz/corpus/<target>/ from the real
// encoders: every frame type, the fixture's records and chains, genuine and
// near-genuine envelopes, PEM keys, and some text. Deterministic (see
// fuzz_support.h), so running it again rewrites the same bytes.
//
//   usage: parley_make_seeds tests/fuzz/corpus
#include <filesystem>
#include <fstream>
#include <iostream>

#include "fuzz_support.h"
#include "protocol/device.h"
#include "protocol/device_files.h"
#include "protocol/invite.h"

using namespace parley;

namespace {

std::filesystem::path root;
int written = 0;

void write(const std::string& target, const std::string& name, ByteView bytes) {
    auto dir = root / target;
    std::filesystem::create_directories(dir);
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + (dir / name).string());
    ++written;
}
void write(const std::string& target, const std::string& name, std::string_view text) {
    write(target, name, as_bytes(text));
}

void invites(const fuzz::Fixture& fx) {
    protocol::Invite invite{"friends", fx.room, fx.hashes[0], "wss://relay.example:8443"};
    write("invite", "plain", protocol::format_invite(invite));
    invite.server = "ws://[::1]:8080";
    write("invite", "ipv6", protocol::format_invite(invite) + "\n");
    write("invite", "bad_version", std::string("parley-invite:2:friends:") + to_hex(fx.room) + ":" +
                                       to_hex(fx.hashes[0]) + ":ws://x:1");
    write("invite", "cut", std::string("parley-invite:1:friends:") + to_hex(fx.room));
}

void frames(const fuzz::Fixture& fx, const Bytes& envelope) {
    const wire::Token token = fuzz::fixed_array<wire::token_bytes>("token");
    auto frame = [&](const std::string& name, const wire::Frame& f) { write("frames", name, wire::encode_frame(f)); };
    frame("get_chain", wire::GetChain{6, fx.room, fx.hashes[0], {}});
    frame("get_chain_after", wire::GetChain{7, fx.room, fx.hashes[0], fx.hashes[1]});
    frame("publish_genesis", wire::Publish{1, fx.room, wire::Token{}, fx.encoded_record(0)});
    frame("publish_epoch1", wire::Publish{2, fx.room, token, fx.encoded_record(1)});
    frame("join", wire::Join{3, fx.room, fx.hashes[0], token, 41});
    frame("send", wire::Send{4, fx.room, fx.hashes[0], envelope});
    frame("resend", wire::Send{5, fx.room, fx.hashes[0], envelope, true});
    frame("chain", wire::Chain{6, fx.room, fx.hashes[0], true,
                               {fx.encoded_record(0), fx.encoded_record(1), fx.encoded_record(2)}});
    frame("chain_page", wire::Chain{7, fx.room, fx.hashes[0], false, {fx.encoded_record(1)}});
    frame("chain_empty", wire::Chain{8, fx.room, fx.hashes[0], true, {}});
    frame("published", wire::Published{1, fx.hashes[0]});
    frame("joined", wire::Joined{3, 2, fx.hashes[2], 42, 7});
    frame("ack", wire::Ack{4, 42});
    frame("deliver", wire::Deliver{fx.room, fx.hashes[0], 42, envelope});
    frame("new_head", wire::NewHead{fx.room, fx.hashes[0], 43, fx.encoded_record(2)});
    frame("error", wire::Error{5, wire::RelayError::not_head});
    frame("error_quota", wire::Error{9, wire::RelayError::quota});
}

void records(const fuzz::Fixture& fx) {
    write("record", "genesis", fx.encoded_record(0));
    write("record", "epoch1_add", fx.encoded_record(1));
    write("record", "epoch2_remove", fx.encoded_record(2));
    write("chain", "genesis", fuzz::join_chunks({fx.encoded_record(0)}));
    write("chain", "two", fuzz::join_chunks({fx.encoded_record(0), fx.encoded_record(1)}));
    write("chain", "three", fuzz::join_chunks({fx.encoded_record(0), fx.encoded_record(1), fx.encoded_record(2)}));
    write("chain", "skip", fuzz::join_chunks({fx.encoded_record(0), fx.encoded_record(2)}));
}

void envelopes(const fuzz::Fixture& fx) {
    auto hello = fx.envelope(fx.alice, fx.alice_session, 0, "hello bob");
    auto second = fx.envelope(fx.alice, fx.alice_session, 1, "second");
    auto gap = fx.envelope(fx.alice, fx.alice_session, 70, "after a gap");
    auto own = fx.envelope(fx.bob, fx.bob_other_session, 0, "from my laptop");
    write("envelope", "hello", hello);
    write("envelope", "long", fx.envelope(fx.alice, fx.alice_session, 2, std::string(600, 'x')));
    auto sync = fx.envelope(fx.alice, fx.alice_session, 3, protocol::encode_sync({protocol::SyncReason::leaving}), 0,
                            wire::EnvelopeType::sync);
    write("envelope", "sync", sync);
    write("receiver", "sync_after_a_gap", fuzz::join_chunks({hello, sync}));
    // receiver: genuine ones, alone and in sequences (replay, gap, own device) ...
    write("receiver", "hello", fuzz::join_chunks({hello}));
    write("receiver", "replay", fuzz::join_chunks({hello, hello}));
    write("receiver", "sequence", fuzz::join_chunks({hello, second, gap, own}));
    write("receiver", "own_other_device", fuzz::join_chunks({own}));
    // ... and ones that must be refused: reflected, own key beyond what we sent,
    // non-member, wrong epoch, another room, tampered
    write("receiver", "reflected", fuzz::join_chunks({fx.envelope(fx.bob, fx.bob_session, 0, "reflected")}));
    write("receiver", "own_key_alarm", fuzz::join_chunks({fx.envelope(fx.bob, fx.bob_other_session, 9, "not mine")}));
    write("receiver", "non_member", fuzz::join_chunks({fx.envelope(fx.charlie, fx.charlie_session, 0, "let me in")}));
    write("receiver", "wrong_epoch", fuzz::join_chunks({fx.envelope(fx.alice, fx.alice_session, 5, "epoch 1", 1)}));
    auto tampered = hello;
    tampered[tampered.size() / 2] ^= 1;
    write("receiver", "tampered", fuzz::join_chunks({tampered, hello}));
}

void pems(const fuzz::Fixture& fx) {
    write("pem_private", "alice", crypto::private_key_pem(fx.alice));
    write("pem_private", "alice_public", crypto::public_key_pem(fx.alice.public_key));
    write("pem_public", "alice", crypto::public_key_pem(fx.alice.public_key));
    write("pem_public", "bob", crypto::public_key_pem(fx.bob.public_key));
    write("pem_public", "alice_private", crypto::private_key_pem(fx.alice));
}

void texts() {
    write("display_text", "ascii", "hi bob, it's alice");
    write("display_text", "utf8", "gr\xc3\xbc\xc3\x9f dich \xe2\x9c\x93 \xf0\x9f\x99\x82");
    write("display_text", "escape", "\x1b[2J\x1b]0;pwned\x07 bell\x7f");
    write("display_text", "bidi", "abc\xe2\x80\xae" "def\xe2\x81\xa6" "x\xe2\x80\x8b" "y\xef\xbb\xbf");
    write("display_text", "c1_and_bad", "\xc2\x9b" "31m \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82");
}

}  // namespace

// fuzz_device: a selector byte (0 certificate, 1 entry), then the item.
void devices(const fuzz::Fixture& fx) {
    auto with = [](std::uint8_t selector, const Bytes& item) {
        Bytes out{selector};
        out.insert(out.end(), item.begin(), item.end());
        return out;
    };
    const auto certificate = protocol::v2::certify_device(fx.alice, fx.bob.public_key, "laptop", 1796299200000);
    write("device", "certificate", with(0, protocol::v2::encode_device_certificate(certificate)));
    auto long_name = protocol::v2::certify_device(fx.alice, fx.bob.public_key, std::string(32, 'n'), 1);
    write("device", "certificate_long_name", with(0, protocol::v2::encode_device_certificate(long_name)));
    const auto update = fuzz::fixed_array<protocol::v2::update_key_bytes>("update key");
    const auto entry = protocol::v2::sign_update_key(fx.bob, fx.room, update, 1);
    write("device", "entry", with(1, protocol::v2::encode_update_key_entry(entry)));
    // fuzz_pem_device: a device's .cert file, and a key file in its place.
    write("pem_device", "certificate", protocol::v2::certificate_file_text(certificate));
    write("pem_device", "certificate_long_name", protocol::v2::certificate_file_text(long_name));
    write("pem_device", "public_key", crypto::public_key_pem(fx.alice.public_key));
    // ... and a device's .card (§10.5): the certificate of bob's key as a device, its joining key.
    const auto joining = fuzz::fixed_array<protocol::v2::update_key_bytes>("joining key");
    const protocol::v2::DeviceCard card{certificate, protocol::v2::sign_joining_key(fx.bob, joining)};
    write("pem_device", "card", protocol::v2::card_file_text(card));
}

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: parley_make_seeds CORPUS_DIR\n";
        return 2;
    }
    root = argv[1];
    const auto& fx = fuzz::fixture();
    auto envelope = fx.envelope(fx.alice, fx.alice_session, 0, "hello bob");
    frames(fx, envelope);
    invites(fx);
    records(fx);
    envelopes(fx);
    pems(fx);
    texts();
    devices(fx);
    std::cout << "wrote " << written << " seed files under " << root.string() << "\n";
    return 0;
}
