// A long epoch chain reaches a new member in pages (issue 9): alice creates a
// room with the real client, writes 20,000 more epochs over raw frames (as
// 20,000 `parley rekey` runs would, without 20,000 Argon2id runs), and bob's
// new device joins with the invite through the real client, fetching the
// chain a page at a time (no reply could hold it: 16 MiB over 1 MiB pages).
#include <gtest/gtest.h>
#include <cstring>

#include "../unit/relay_test_records.h"
#include "crypto/key_file.h"
#include "crypto/primitives.h"
#include "protocol/epoch.h"
#include "protocol/invite.h"
#include "protocol/key_schedule.h"
#include "relay_harness.h"
#include "two_drives.h"

namespace parley::relay_it {
namespace {

constexpr const char* password = "a long chain of rekeys";

TEST(LongChain, ANewMemberFetchesTwentyThousandEpochsInPages) {
    constexpr std::uint64_t epochs = 20000;
    ASSERT_GE(sodium_init(), 0);
    TwoDrives drives;
    const auto alice_dir = drives.alice_dir, bob_dir = drives.bob_dir;
    const auto& alice = drives.alice;
    RelayProcess relay;
    ASSERT_TRUE(relay.start({"--listen", "127.0.0.1:0", "--messages-per-second", "0", "--bytes-per-second", "0"}));
    auto port = relay.wait_ready();
    ASSERT_TRUE(port) << relay.stderr_text();
    const std::string url = "ws://127.0.0.1:" + *port;

    auto made = run_parley(password, "create --user alice --room long --dir " + alice_dir.string() + " --server " + url);
    ASSERT_EQ(made.code, 0) << made.output;
    const std::string invite_line = made.output.substr(made.output.rfind("parley-invite:"));
    auto parsed = protocol::parse_invite(invite_line);
    ASSERT_TRUE(std::holds_alternative<protocol::Invite>(parsed)) << made.output;
    const auto invite = std::get<protocol::Invite>(parsed);

    // Alice's next 20,000 epochs, each published with the token of the one before.
    FrameClient c(url);
    c.send(wire::GetChain{1, invite.room, invite.genesis, {}});
    auto first = c.expect<wire::Chain>();
    ASSERT_TRUE(first && first->records.size() == 1);
    auto head = *wire::decode_record(first->records[0]).record;
    crypto::SecretBuffer pw(std::strlen(password));
    std::memcpy(pw.data(), password, pw.size());
    const auto room_secret = protocol::derive_room_secret(pw, head.salt, head.kdf);
    ASSERT_TRUE(room_secret);
    wire::Hash head_hash = invite.genesis;
    wire::Token token{};
    {
        // The genesis's token: its epoch secret is in alice's box.
        auto opened = protocol::open_epoch_secret(alice, head);
        ASSERT_TRUE(std::holds_alternative<crypto::EpochSecret>(opened));
        token = protocol::token_bytes(protocol::derive_epoch_keys(*room_secret, invite.room, 0, head.previous,
                                                                  std::get<crypto::EpochSecret>(opened)));
    }
    constexpr std::uint64_t window = 500;
    for (std::uint64_t e = 1; e <= epochs; e += window) {
        std::uint64_t sent = 0;
        for (; sent < window && e + sent <= epochs; ++sent) {
            protocol::RecordDraft draft;
            draft.room = invite.room;
            draft.epoch = head.epoch + 1;
            draft.previous = head_hash;
            draft.salt = head.salt;
            draft.kdf = head.kdf;
            draft.created_at_ms = head.created_at_ms + 1;
            draft.roster = head.roster;
            crypto::EpochSecret secret;
            crypto::random_bytes(secret.mutable_bytes());
            auto next = protocol::build_record(alice, draft, *room_secret, secret);
            ASSERT_TRUE(next);
            c.send(wire::Publish{e + sent, invite.room, token, wire::encode_record(*next)});
            token = protocol::token_bytes(
                protocol::derive_epoch_keys(*room_secret, invite.room, next->epoch, next->previous, secret));
            head_hash = wire::record_hash(*next);
            head = std::move(*next);
        }
        for (std::uint64_t i = 0; i < sent; ++i) ASSERT_TRUE(c.expect<wire::Published>()) << "epoch " << e + i;
    }

    // No single reply holds the chain: the first page is not complete.
    c.send(wire::GetChain{2, invite.room, invite.genesis, {}});
    auto page = c.expect<wire::Chain>();
    ASSERT_TRUE(page);
    EXPECT_FALSE(page->complete);
    EXPECT_LT(page->records.size(), epochs / 10);

    // Bob's new device: join with the invite, then send; alice reads it.
    auto joined = run_parley(password, "join '" + invite_line.substr(0, invite_line.find('\n')) + "' --user bob --dir " +
                             bob_dir.string());
    ASSERT_EQ(joined.code, 0) << joined.output;
    EXPECT_NE(joined.output.find("joined room long at epoch " + std::to_string(epochs) + " with 2 members"),
              std::string::npos)
        << joined.output;
    auto sent = run_parley(password, "send --user bob --room long --dir " + bob_dir.string(), "after 20000 epochs");
    ASSERT_EQ(sent.code, 0) << sent.output;
    EXPECT_NE(sent.output.find("1 message accepted"), std::string::npos) << sent.output;
}

}  // namespace
}  // namespace parley::relay_it
