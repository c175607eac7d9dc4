// store/device_state_cipher.h and StateStore's device secrets (docs/PROTOCOL.md
// §10.2): a version-2 secret at rest opens only with the device key and the room
// password, under its own name; and an erased or replaced secret leaves no copy
// in the state file or its write-ahead log, which these tests read byte by byte.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include <sqlite3.h>

#include "store/device_state_cipher.h"
#include "store/state_store.h"
#include "test_support.h"

namespace parley::store {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

using test::on_disk;

crypto::SymmetricKey secret_of(std::uint8_t fill) {
    crypto::SymmetricKey k;
    std::fill(k.data(), k.data() + k.size(), fill);
    return k;
}

Bytes random_secret() {
    const auto a = crypto::random_array<32>();
    return Bytes(a.begin(), a.end());
}

bool equal(const crypto::SecretBuffer& a, ByteView b) {
    return a.size() == b.size() && std::equal(b.begin(), b.end(), a.data());
}

class DeviceStateTest : public ::testing::Test {
protected:
    const crypto::Identity device = test::new_identity();
    const wire::RoomId room = crypto::random_array<wire::hash_bytes>();
    const crypto::SymmetricKey room_secret = secret_of(7);
    const DeviceStateCipher cipher{device, room, room_secret};
    const Bytes name = device_secret_name(DeviceSecretKind::init_secret, Bytes{0, 0, 0, 0, 0, 0, 0, 3});
    TempDir dir;
    fs::path file() const { return dir / "state.sqlite"; }
};

TEST_F(DeviceStateTest, ARowOpensUnderItsNameWithTheDeviceKeyAndThePassword) {
    const auto secret = random_secret();
    const auto row = cipher.seal(name, secret);
    EXPECT_EQ(row.size(), wire::nonce_bytes + secret.size() + 16);
    const auto opened = cipher.open(name, row);
    ASSERT_TRUE(opened);
    EXPECT_TRUE(equal(*opened, secret));
    EXPECT_EQ(std::search(row.begin(), row.end(), secret.begin(), secret.end()), row.end());
    const auto empty = cipher.open(name, cipher.seal(name, Bytes{}));  // decrypted into locked memory, even empty
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->empty());
}

TEST_F(DeviceStateTest, NothingElseOpensIt) {
    const auto row = cipher.seal(name, random_secret());
    // §10.1's first row: the state folder and the device key, without the password.
    EXPECT_FALSE(DeviceStateCipher(device, room, secret_of(8)).open(name, row));
    // The password and the state, with another device's key (or the identity key).
    EXPECT_FALSE(DeviceStateCipher(test::new_identity(), room, room_secret).open(name, row));
    // The row copied into another room, or under another name (a skipped key
    // offered as the chain key, an old init secret as a newer epoch's).
    EXPECT_FALSE(DeviceStateCipher(device, crypto::random_array<wire::hash_bytes>(), room_secret).open(name, row));
    const auto other = device_secret_name(DeviceSecretKind::init_secret, Bytes{0, 0, 0, 0, 0, 0, 0, 4});
    EXPECT_FALSE(cipher.open(other, row));
    EXPECT_FALSE(cipher.open(device_secret_name(DeviceSecretKind::update_key, Bytes{0, 0, 0, 0, 0, 0, 0, 3}), row));
    for (std::size_t i = 0; i < row.size(); ++i) {
        auto tampered = row;
        tampered[i] ^= 0x01;
        EXPECT_FALSE(cipher.open(name, tampered)) << "byte " << i;
    }
    EXPECT_FALSE(cipher.open(name, ByteView(row).first(wire::nonce_bytes - 1)));
}

TEST_F(DeviceStateTest, TheStoreKeepsOnlySealedRowsAcrossReopening) {
    const auto secret = random_secret();
    const auto row = cipher.seal(name, secret);
    {
        StateStore store(file());
        store.put_device_secret(room, name, row);
    }
    StateStore store(file());
    const auto loaded = store.load_device_secret(room, name);
    ASSERT_TRUE(loaded);
    EXPECT_EQ(*loaded, row);
    EXPECT_FALSE(store.load_device_secret(crypto::random_array<wire::hash_bytes>(), name));
    EXPECT_TRUE(on_disk(file(), row));  // the scan finds what is there ...
    EXPECT_FALSE(on_disk(file(), secret));  // ... and the secret is not
}

TEST_F(DeviceStateTest, RowsAreFoundByNamePrefixExactly) {
    // A range on the key: the edges are where it could go wrong (a last byte
    // of 0xff, an all-0xff prefix, the empty prefix, another room's rows).
    StateStore store(file());
    const std::vector<Bytes> names{{1}, {1, 0}, {1, 0xff}, {1, 0xff, 0xff}, {2}, {0xff}, {0xff, 0xff}, {0xff, 0xff, 1}};
    for (const auto& n : names) store.put_device_secret(room, n, Bytes{n.begin(), n.end()});
    store.put_device_secret(crypto::random_array<wire::hash_bytes>(), Bytes{1}, Bytes{9});
    auto found = [&](const Bytes& prefix) {
        std::vector<Bytes> out;
        for (auto& [row_name, sealed] : store.device_secrets_named(room, prefix)) {
            EXPECT_EQ(row_name, sealed);
            out.push_back(row_name);
        }
        return out;
    };
    EXPECT_EQ(found({1}), (std::vector<Bytes>{{1}, {1, 0}, {1, 0xff}, {1, 0xff, 0xff}}));
    EXPECT_EQ(found({1, 0xff}), (std::vector<Bytes>{{1, 0xff}, {1, 0xff, 0xff}}));
    EXPECT_EQ(found({0xff}), (std::vector<Bytes>{{0xff}, {0xff, 0xff}, {0xff, 0xff, 1}}));
    EXPECT_EQ(found({0xff, 0xff}), (std::vector<Bytes>{{0xff, 0xff}, {0xff, 0xff, 1}}));
    EXPECT_EQ(found({3}), std::vector<Bytes>{});
    EXPECT_EQ(found({}).size(), names.size()) << "the empty prefix is every row of the room";
}

TEST_F(DeviceStateTest, AnErasedSecretLeavesNoCopyInTheFileOrItsLog) {
    StateStore store(file());
    const auto keep = cipher.seal(device_secret_name(DeviceSecretKind::update_key, Bytes(8, 0)), random_secret());
    store.put_device_secret(room, device_secret_name(DeviceSecretKind::update_key, Bytes(8, 0)), keep);
    const auto row = cipher.seal(name, random_secret());
    store.put_device_secret(room, name, row);
    ASSERT_TRUE(on_disk(file(), row)) << "the row should be in the file or its log before the erase";

    EXPECT_TRUE(store.erase_device_secret(room, name));
    EXPECT_TRUE(store.last_checkpoint_complete());
    EXPECT_FALSE(store.load_device_secret(room, name));
    EXPECT_FALSE(on_disk(file(), row)) << "an erased secret's row is still readable in the state folder";
    EXPECT_TRUE(on_disk(file(), keep)) << "the erase took another secret with it";
    EXPECT_EQ(fs::file_size(file().string() + "-wal"), 0u) << "the log was not truncated";
    EXPECT_FALSE(store.erase_device_secret(room, name));
}

TEST_F(DeviceStateTest, AReplacedSecretLeavesNoCopyEither) {
    // A chain key moves forward by replacing its row: the old key must go as an erased one does.
    StateStore store(file());
    const auto old_row = cipher.seal(name, random_secret());
    store.put_device_secret(room, name, old_row);
    ASSERT_TRUE(on_disk(file(), old_row));
    const auto new_row = cipher.seal(name, random_secret());
    store.put_device_secret(room, name, new_row);
    EXPECT_EQ(store.load_device_secret(room, name), new_row);
    EXPECT_FALSE(on_disk(file(), old_row)) << "the replaced row is still readable in the state folder";
    EXPECT_TRUE(on_disk(file(), new_row));
}

TEST_F(DeviceStateTest, AnEraseInATransactionIsForgottenWhenItCommitsAndKeptWhenItRollsBack) {
    StateStore store(file());
    const auto row = cipher.seal(name, random_secret());
    store.put_device_secret(room, name, row);
    {
        StateStore::Transaction tx(store);
        EXPECT_TRUE(store.erase_device_secret(room, name));
        // rolled back: the receiver that erased it did not store the message either
    }
    EXPECT_EQ(store.load_device_secret(room, name), row);
    {
        StateStore::Transaction tx(store);
        EXPECT_TRUE(store.erase_device_secret(room, name));
        store.save_stream_position(room, {5, 0, {}});
        tx.commit();
    }
    EXPECT_FALSE(store.load_device_secret(room, name));
    EXPECT_EQ(store.stream_position(room).seq, 5u);
    EXPECT_FALSE(on_disk(file(), row));
}

TEST_F(DeviceStateTest, AnEraseWhileAnotherProcessReadsIsForgottenOnceItStops) {
    // Another process of the device (a `listen`) holds a read snapshot from
    // before the erase: the checkpoint cannot truncate the log yet. The erase
    // still commits (it must not throw after COMMIT), stays due, and the next
    // commit forgets it.
    const auto row = cipher.seal(name, random_secret());
    const auto other = device_secret_name(DeviceSecretKind::update_key, Bytes(8, 1));
    StateStore store(file());
    store.set_forget_interval(std::chrono::milliseconds(0));  // the next commit checkpoints, whatever the clock
    {
        store.put_device_secret(room, name, row);
        sqlite3* reader = nullptr;
        ASSERT_EQ(sqlite3_open(file().c_str(), &reader), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM device_secrets;", nullptr, nullptr, nullptr),
                  SQLITE_OK);
        EXPECT_NO_THROW(EXPECT_TRUE(store.erase_device_secret(room, name)));
        EXPECT_FALSE(store.last_checkpoint_complete()) << "the reader's snapshot should have held the log";
        EXPECT_FALSE(store.load_device_secret(room, name));
        EXPECT_TRUE(on_disk(file(), row)) << "the log still holds it while the reader reads";
        sqlite3_exec(reader, "COMMIT", nullptr, nullptr, nullptr);
        sqlite3_close(reader);
        store.put_device_secret(room, other, cipher.seal(other, random_secret()));  // the next commit
        EXPECT_TRUE(store.last_checkpoint_complete());
        EXPECT_FALSE(on_disk(file(), row));
    }
}

}  // namespace
}  // namespace parley::store
