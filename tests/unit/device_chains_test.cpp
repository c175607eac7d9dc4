// store/device_chains.h: version 2's sender and receiver chains in the state
// file (docs/PROTOCOL.md §10.2). The forward-secrecy tests play the thief: they
// copy the state folder after message k, open every row in the copy with the
// device key *and* the password, and look for any key that opens a message
// before k; and they read the copied file and its log byte by byte for any
// row the store replaced or erased (an old chain key's sealed row), which SQL
// no longer shows but a thief reading the file would find.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>
#include <vector>

#include "store/device_chains.h"
#include "test_support.h"

namespace parley::store {
namespace {

namespace fs = std::filesystem;
using protocol::v2::ReceiverChain;
using protocol::v2::SenderChain;
using test::TempDir;

crypto::SymmetricKey key_of(std::uint8_t fill) {
    crypto::SymmetricKey k;
    std::fill(k.data(), k.data() + k.size(), fill);
    return k;
}

Bytes bytes_of(const crypto::SymmetricKey& k) { return Bytes(k.data(), k.data() + k.size()); }

crypto::SymmetricKey copy_of(const crypto::SymmetricKey& k) {
    crypto::SymmetricKey out;
    std::copy(k.data(), k.data() + k.size(), out.data());
    return out;
}

// Message keys 0..n-1 and chain keys 0..n of a chain, as the sender derives them.
struct Derived {
    std::vector<Bytes> message_keys, chain_keys;
};
Derived derive(const crypto::SymmetricKey& start, std::size_t n) {
    Derived d;
    SenderChain chain{copy_of(start)};
    for (std::size_t i = 0; i < n; ++i) {
        d.chain_keys.push_back(bytes_of(chain.chain_key()));
        d.message_keys.push_back(bytes_of(chain.next().message_key));
    }
    d.chain_keys.push_back(bytes_of(chain.chain_key()));
    return d;
}

bool contains(const crypto::SecretBuffer& plain, const Bytes& key) {
    const auto* b = plain.data();
    return std::search(b, b + plain.size(), key.begin(), key.end()) != b + plain.size();
}

class DeviceChainsTest : public ::testing::Test {
protected:
    const crypto::Identity device = test::new_identity();
    const crypto::PublicKey bob_phone = test::new_identity().public_key;
    const wire::RoomId room = crypto::random_array<wire::hash_bytes>();
    const wire::Hash record = crypto::random_array<wire::hash_bytes>();
    const crypto::SymmetricKey room_secret = key_of(9);
    const DeviceStateCipher cipher{device, room, room_secret};
    const crypto::SymmetricKey start = key_of(0x42);
    TempDir dir;
    fs::path file() const { return dir / "state.sqlite"; }

    // The thief's copy of the state folder at this moment: every secret row,
    // opened with everything the device has.
    std::vector<crypto::SecretBuffer> steal(StateStore& store) {
        const auto now = rows(store);
        for (const auto& old : seen_) {
            if (!now.count(old)) {
                EXPECT_FALSE(test::on_disk(file(), old)) << "a replaced or erased row is still in the file or its log";
            }
        }
        const fs::path copy = dir / ("stolen-" + std::to_string(copies_++) + ".sqlite");
        fs::copy_file(file(), copy);
        if (fs::exists(file().string() + "-wal")) fs::copy_file(file().string() + "-wal", copy.string() + "-wal");
        StateStore stolen(copy);
        std::vector<crypto::SecretBuffer> out;
        for (std::uint8_t kind = 1; kind <= 5; ++kind) {
            for (auto& [name, sealed] : stolen.device_secrets_named(room, Bytes{kind})) {
                auto plain = cipher.open(name, sealed);
                EXPECT_TRUE(plain) << "a row of the state file does not open";
                if (plain) out.push_back(std::move(*plain));
            }
        }
        return out;
    }
    // Every sealed row in the store now.
    std::set<Bytes> rows(StateStore& store) {
        std::set<Bytes> out;
        for (std::uint8_t kind = 1; kind <= 5; ++kind)
            for (auto& [name, sealed] : store.device_secrets_named(room, Bytes{kind})) out.insert(sealed);
        return out;
    }
    // Remembers the rows as they are, for steal() to look for once they are gone.
    void note_rows(StateStore& store) {
        for (auto& row : rows(store)) seen_.insert(row);
    }
    std::set<Bytes> seen_;
    int copies_ = 0;
};

TEST_F(DeviceChainsTest, SenderPositionsFollowTheChainAndSurviveReopening) {
    const auto want = derive(start, 5);
    {
        StateStore store(file());
        DeviceChains chains(store, cipher);
        EXPECT_FALSE(chains.take_sender(record)) << "no chain started for that record";
        chains.start_sender(record, start);
        chains.start_sender(record, key_of(1));  // a second start changes nothing
        for (std::uint64_t i = 0; i < 3; ++i) {
            auto step = chains.take_sender(record);
            ASSERT_TRUE(step);
            EXPECT_EQ(step->position, i);
            EXPECT_EQ(bytes_of(step->message_key), want.message_keys[i]);
        }
    }
    StateStore store(file());
    DeviceChains chains(store, cipher);
    auto step = chains.take_sender(record);
    ASSERT_TRUE(step);
    EXPECT_EQ(step->position, 3u);
    EXPECT_EQ(bytes_of(step->message_key), want.message_keys[3]);
}

TEST_F(DeviceChainsTest, TwoProcessesOfOneDeviceNeverTakeOnePositionTwice) {
    {
        StateStore store(file());
        DeviceChains(store, cipher).start_sender(record, start);
    }
    constexpr int per_process = 40;
    std::vector<std::uint64_t> a, b;
    auto run = [&](std::vector<std::uint64_t>& got) {
        StateStore store(file());  // its own connection, as another process has
        DeviceChains chains(store, cipher);
        for (int i = 0; i < per_process; ++i) got.push_back(chains.take_sender(record)->position);
    };
    std::thread first(run, std::ref(a)), second(run, std::ref(b));
    first.join();
    second.join();
    std::vector<std::uint64_t> all(a);
    all.insert(all.end(), b.begin(), b.end());
    std::sort(all.begin(), all.end());
    for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], i) << "a position was taken twice or skipped";
}

TEST_F(DeviceChainsTest, ASenderStateStolenAfterMessageKOpensNoMessageBeforeIt) {
    constexpr std::size_t k = 6;
    const auto want = derive(start, k + 2);
    StateStore store(file());
    store.set_forget_interval(std::chrono::milliseconds(0));  // every commit forgets, as at a chat's pace
    DeviceChains chains(store, cipher);
    chains.start_sender(record, start);
    note_rows(store);
    for (std::size_t i = 0; i <= k; ++i) {
        (void)chains.take_sender(record);
        note_rows(store);
    }
    ASSERT_EQ(seen_.size(), k + 2) << "each take replaced the chain's row";
    const auto loot = steal(store);
    ASSERT_EQ(loot.size(), 1u) << "the sender keeps one row: its chain key at the front";
    for (std::size_t i = 0; i <= k; ++i) {
        EXPECT_FALSE(contains(loot[0], want.message_keys[i])) << "message key " << i << " is in the stolen state";
        EXPECT_FALSE(contains(loot[0], want.chain_keys[i])) << "chain key " << i << " is in the stolen state";
    }
    // What the thief does get, as §10.1 says: the messages from k + 1 on.
    EXPECT_TRUE(contains(loot[0], want.chain_keys[k + 1]));
}

TEST_F(DeviceChainsTest, ReceiverTakesMatchTheInMemoryChainInAnyOrder) {
    StateStore store(file());
    DeviceChains chains(store, cipher);
    EXPECT_EQ(std::get<DeviceChains::Error>(chains.take_receiver(record, bob_phone, 0)), DeviceChains::Error::no_chain);
    chains.start_receiver(record, bob_phone, start);
    ReceiverChain memory{copy_of(start)};
    const std::vector<std::uint64_t> order{0, 3, 1, 7, 2, 5, 6};
    for (auto position : order) {
        auto got = chains.take_receiver(record, bob_phone, position);
        auto expected = memory.take(position);
        ASSERT_TRUE(std::holds_alternative<crypto::SymmetricKey>(got)) << position;
        EXPECT_EQ(bytes_of(std::get<crypto::SymmetricKey>(got)), bytes_of(std::get<crypto::SymmetricKey>(expected)));
    }
    // Used: gone, in memory and in the file, also after reopening.
    StateStore again(file());
    DeviceChains reopened(again, cipher);
    for (auto position : order)
        EXPECT_EQ(std::get<DeviceChains::Error>(reopened.take_receiver(record, bob_phone, position)),
                  DeviceChains::Error::no_key)
            << "position " << position << " opened twice";
    auto four = reopened.take_receiver(record, bob_phone, 4);  // skipped, still there
    ASSERT_TRUE(std::holds_alternative<crypto::SymmetricKey>(four));
    EXPECT_EQ(bytes_of(std::get<crypto::SymmetricKey>(four)), derive(start, 5).message_keys[4]);
    EXPECT_EQ(std::get<DeviceChains::Error>(reopened.take_receiver(record, bob_phone, 8 + ReceiverChain::max_jump + 1)),
              DeviceChains::Error::too_far_ahead);
    EXPECT_TRUE(std::holds_alternative<crypto::SymmetricKey>(reopened.take_receiver(record, bob_phone, 8)))
        << "a refused jump moved the chain";
}

TEST_F(DeviceChainsTest, AReceiverStateStolenAfterMessageKHoldsOnlyTheFrontAndWhatNeverCame) {
    const auto want = derive(start, 12);
    StateStore store(file());
    store.set_forget_interval(std::chrono::milliseconds(0));
    DeviceChains chains(store, cipher);
    chains.start_receiver(record, bob_phone, start);
    note_rows(store);
    for (std::uint64_t position : {0, 1, 2, 4, 5, 7, 8, 9}) {
        (void)chains.take_receiver(record, bob_phone, position);
        note_rows(store);
    }
    const auto loot = steal(store);
    ASSERT_EQ(loot.size(), 3u) << "the front, and the keys of 3 and 6 that never came";
    for (std::uint64_t i : {0, 1, 2, 4, 5, 7, 8, 9}) {
        for (const auto& row : loot) {
            EXPECT_FALSE(contains(row, want.message_keys[i])) << "message key " << i << " is in the stolen state";
            EXPECT_FALSE(contains(row, want.chain_keys[i])) << "chain key " << i << " is in the stolen state";
        }
    }
}

TEST_F(DeviceChainsTest, ABurstIsForgottenAtTheFirstCommitAnIntervalLaterOrWhenIdleOrClosed) {
    // A burst within one forget interval: its old chain keys wait in the log for
    // one checkpoint (StateStore's forget interval; an hour here, so no clock
    // decides what this test sees).
    auto burst = [&](StateStore& store) {
        DeviceChains chains(store, cipher);
        chains.start_sender(record, start);
        (void)chains.take_sender(record);  // the first erase after opening is forgotten at once
        note_rows(store);
        for (int i = 0; i < 5; ++i) {
            (void)chains.take_sender(record);
            note_rows(store);
        }
    };
    auto left_over = [&](StateStore& store) {
        const auto now = rows(store);
        std::size_t n = 0;
        for (const auto& old : seen_) n += !now.count(old) && test::on_disk(file(), old);
        return n;
    };
    {
        StateStore store(file());
        store.set_forget_interval(std::chrono::hours(1));
        burst(store);
        EXPECT_EQ(left_over(store), 5u) << "the window this trades for speed, shown so it stays written down";
        EXPECT_TRUE(store.forget_due());
        store.forget_pending();  // idle, but the interval has not passed
        EXPECT_EQ(left_over(store), 5u);
        store.forget_pending(true);  // the interval passed (or leaving)
        EXPECT_EQ(left_over(store), 0u);
        EXPECT_FALSE(store.forget_due());

        burst(store);
        store.set_forget_interval(std::chrono::milliseconds(0));  // the next commit comes an interval later
        DeviceChains(store, cipher).start_receiver(record, bob_phone, start);  // a commit that erases nothing
        EXPECT_EQ(left_over(store), 0u);
        store.set_forget_interval(std::chrono::hours(1));
        burst(store);
        EXPECT_GT(left_over(store), 0u);
    }
    StateStore reopened(file());
    EXPECT_EQ(left_over(reopened), 0u) << "closing the store did not forget the burst's tail";
}

TEST_F(DeviceChainsTest, SkippedKeysAreBoundedOldestFirst) {
    StateStore store(file());
    DeviceChains chains(store, cipher);
    chains.start_receiver(record, bob_phone, start);
    const std::uint64_t jump = ReceiverChain::max_skipped + 44;
    ASSERT_TRUE(std::holds_alternative<crypto::SymmetricKey>(chains.take_receiver(record, bob_phone, jump)));
    Bytes prefix{static_cast<std::uint8_t>(DeviceSecretKind::skipped_key)};
    EXPECT_EQ(store.device_secrets_named(room, prefix).size(), ReceiverChain::max_skipped);
    EXPECT_EQ(std::get<DeviceChains::Error>(chains.take_receiver(record, bob_phone, 43)), DeviceChains::Error::no_key);
    EXPECT_TRUE(std::holds_alternative<crypto::SymmetricKey>(chains.take_receiver(record, bob_phone, 44)));
}

TEST_F(DeviceChainsTest, AReceiveRolledBackWithTheMessageCanBeTakenAgain) {
    StateStore store(file());
    DeviceChains chains(store, cipher);
    chains.start_receiver(record, bob_phone, start);
    Bytes first;
    {
        StateStore::Transaction tx(store);  // the receiver's: message, history row, position
        first = bytes_of(std::get<crypto::SymmetricKey>(chains.take_receiver(record, bob_phone, 2)));
        // the history write failed: nothing commits
    }
    auto again = chains.take_receiver(record, bob_phone, 2);
    ASSERT_TRUE(std::holds_alternative<crypto::SymmetricKey>(again));
    EXPECT_EQ(bytes_of(std::get<crypto::SymmetricKey>(again)), first);
}

TEST_F(DeviceChainsTest, ARowFromAnotherPasswordIsAnErrorNotAKey) {
    StateStore store(file());
    const DeviceStateCipher other_password(device, room, key_of(10));
    DeviceChains(store, other_password).start_sender(record, start);
    DeviceChains chains(store, cipher);
    EXPECT_THROW((void)chains.take_sender(record), StoreError);
}

}  // namespace
}  // namespace parley::store
