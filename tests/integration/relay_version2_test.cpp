// A room moves to protocol version 2 (docs/PROTOCOL.md §10.6, §10.7) on a real
// relay: alice and bob chat with the real client in a version-1 room; then
// alice's new device writes the upgrade record (version 2, every device with a
// joiner-secret box sealed to its update key) over raw frames, as a version-2
// client will. The relay stores it and refuses a version-1 record after it;
// today's client, which reads only version 1, says the room moved and sends
// nothing.
#include <gtest/gtest.h>

#include <cstring>

#include "crypto/key_file.h"
#include "crypto/primitives.h"
#include "protocol/device.h"
#include "protocol/epoch.h"
#include "protocol/invite.h"
#include "protocol/key_schedule.h"
#include "protocol/record_v2.h"
#include "relay_harness.h"
#include "two_drives.h"

namespace parley::relay_it {
namespace {

constexpr const char* password = "moving to version two";

TEST(Version2Room, TheRelayKeepsTheUpgradeAndAVersion1ClientStopsThere) {
    ASSERT_GE(sodium_init(), 0);
    TwoDrives drives;
    const auto alice_dir = drives.alice_dir, bob_dir = drives.bob_dir;
    const auto& alice = drives.alice;
    const auto& bob = drives.bob;
    RelayProcess relay;
    ASSERT_TRUE(relay.start({"--listen", "127.0.0.1:0"}));
    auto port = relay.wait_ready();
    ASSERT_TRUE(port) << relay.stderr_text();
    const std::string url = "ws://127.0.0.1:" + *port;

    auto made = run_parley(password, "create --user alice --room two --dir " + alice_dir.string() + " --server " + url);
    ASSERT_EQ(made.code, 0) << made.output;
    const std::string invite_line = made.output.substr(made.output.rfind("parley-invite:"));
    auto parsed = protocol::parse_invite(invite_line);
    ASSERT_TRUE(std::holds_alternative<protocol::Invite>(parsed)) << made.output;
    const auto invite = std::get<protocol::Invite>(parsed);
    auto joined = run_parley(password, "join '" + invite_line.substr(0, invite_line.find('\n')) + "' --user bob --dir " +
                                           bob_dir.string());
    ASSERT_EQ(joined.code, 0) << joined.output;
    auto before = run_parley(password, "send --user bob --room two --dir " + bob_dir.string(), "before the move");
    ASSERT_EQ(before.code, 0) << before.output;
    EXPECT_NE(before.output.find("1 message accepted"), std::string::npos) << before.output;

    // The genesis and its token, as alice's client holds them.
    FrameClient c(url);
    c.send(wire::GetChain{1, invite.room, invite.genesis, {}});
    auto chain = c.expect<wire::Chain>();
    ASSERT_TRUE(chain && chain->records.size() == 1);
    const auto genesis = *wire::decode_record(chain->records[0]).record;
    crypto::SecretBuffer pw(std::strlen(password));
    std::memcpy(pw.data(), password, pw.size());
    const auto room_secret = protocol::derive_room_secret(pw, genesis.salt, genesis.kdf);
    ASSERT_TRUE(room_secret);
    auto opened = protocol::open_epoch_secret(alice, genesis);
    ASSERT_TRUE(std::holds_alternative<crypto::EpochSecret>(opened));
    const auto token0 = protocol::token_bytes(protocol::derive_epoch_keys(
        *room_secret, invite.room, 0, genesis.previous, std::get<crypto::EpochSecret>(opened)));

    // The upgrade: alice's laptop and bob's desk, certified by their identity keys.
    namespace v2 = protocol::v2;
    const auto laptop = crypto::generate_identity(), desk = crypto::generate_identity();
    const auto laptop_update = v2::generate_update_key(), desk_update = v2::generate_update_key();
    v2::RecordDraft draft;
    draft.room = invite.room;
    draft.epoch = 1;
    draft.previous = invite.genesis;
    draft.salt = genesis.salt;
    draft.kdf = genesis.kdf;
    draft.created_at_ms = genesis.created_at_ms + 1000;
    draft.devices = {{v2::certify_device(alice, laptop.public_key, "laptop", draft.created_at_ms),
                      v2::sign_update_key(laptop, invite.room, laptop_update.public_key, 1),
                      wire::BoxKind::joiner_secret},
                     {v2::certify_device(bob, desk.public_key, "desk", draft.created_at_ms),
                      v2::sign_update_key(desk, invite.room, desk_update.public_key, 1), wire::BoxKind::joiner_secret}};
    crypto::EpochSecret secret;
    crypto::random_bytes(secret.mutable_bytes());
    const crypto::SymmetricKey zero;
    auto upgrade = v2::build_record(laptop, draft, *room_secret, secret, zero);
    ASSERT_TRUE(upgrade);
    c.send(wire::Publish{2, invite.room, token0, wire::encode_record(upgrade->record)});
    auto published = c.expect<wire::Published>();
    ASSERT_TRUE(published) << relay.stderr_text();

    // A version-1 record after it, by a member, with the right token: refused.
    const auto upgrade_token =
        v2::derive_epoch(*room_secret, invite.room, 1, invite.genesis, upgrade->joiner).access_token;
    wire::Token token1{};
    std::copy_n(upgrade_token.data(), token1.size(), token1.begin());
    protocol::RecordDraft back;
    back.room = invite.room;
    back.epoch = 2;
    back.previous = wire::record_hash(upgrade->record);
    back.salt = genesis.salt;
    back.kdf = genesis.kdf;
    back.created_at_ms = draft.created_at_ms + 1000;
    back.roster = genesis.roster;
    auto downgrade = protocol::build_record(alice, back, *room_secret, secret);
    ASSERT_TRUE(downgrade);
    c.send(wire::Publish{3, invite.room, token1, wire::encode_record(*downgrade)});
    c.expect_error(3, wire::RelayError::bad_record);

    // The chain the relay serves is the genesis and the upgrade.
    c.send(wire::GetChain{4, invite.room, invite.genesis, {}});
    chain = c.expect<wire::Chain>();
    ASSERT_TRUE(chain && chain->complete);
    ASSERT_EQ(chain->records.size(), 2u);
    EXPECT_EQ(chain->records[1], wire::encode_record(upgrade->record));

    // The client reads version 2 with a device; these members have none: it says so and sends nothing.
    for (const auto& [user, dir] : {std::pair{std::string("bob"), bob_dir}, std::pair{std::string("alice"), alice_dir}}) {
        auto after = run_parley(password, "send --user " + user + " --room two --dir " + dir.string(), "after the move");
        EXPECT_NE(after.code, 0) << after.output;
        EXPECT_NE(after.output.find("room two moved to protocol version 2 at epoch 1"), std::string::npos)
            << after.output;
        EXPECT_NE(after.output.find("has no device key"), std::string::npos) << after.output;
        EXPECT_NE(after.output.find("parley device add"), std::string::npos) << after.output;
        EXPECT_EQ(after.output.find("accepted"), std::string::npos) << after.output;
    }
}

}  // namespace
}  // namespace parley::relay_it
