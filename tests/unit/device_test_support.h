// Two members' devices in one version-2 room, for the tests of the device
// state (store/device_*.h): each device's key, certificate and state file as its
// folder holds them, a genesis both adopted, and a thief's copy of a folder.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <stdexcept>

#include "store/device_epochs.h"
#include "test_support.h"

namespace parley::store::test_devices {

namespace fs = std::filesystem;
using protocol::v2::OpenError;
using parley::test::TempDir;
using wire::BoxKind;

// One device: its key, certificate and state file, as its folder holds them.
struct Device {
    Device(const crypto::Identity& member, const std::string& name, const wire::RoomId& room, const fs::path& path)
        : certificate(protocol::v2::certify_device(member, key.public_key, name, 1'700'000'000'000)),
          cipher(key, room, parley::test::shared_room_secret()),
          store(std::make_unique<StateStore>(path)),
          chains(*store, cipher),
          epochs(*store, cipher, key),
          file(path) {}
    crypto::Identity key = parley::test::new_identity();
    protocol::v2::DeviceCertificate certificate;
    DeviceStateCipher cipher;
    std::unique_ptr<StateStore> store;
    DeviceChains chains;
    DeviceEpochs epochs;
    fs::path file;

    protocol::v2::DeviceDraft draft(const protocol::v2::UpdateKeyEntry& entry, BoxKind kind) const {
        return {certificate, entry, kind};
    }
    std::size_t rows(DeviceSecretKind kind) {
        return store->device_secrets_named(cipher.room(), Bytes{static_cast<std::uint8_t>(kind)}).size();
    }
};

// What a thief who copied the device's folder now has: the same key, the
// password, and the state file as it was. The copy is the thief's to change: it
// forgets which epochs the device adopted, so adopt() really tries each box.
struct Thief {
    Thief(const Device& d, const fs::path& copy)
        : cipher(d.key, d.cipher.room(), parley::test::shared_room_secret()), store(copy), chains(store, cipher),
          epochs(store, cipher, d.key) {
        const Bytes adopted{static_cast<std::uint8_t>(DeviceSecretKind::adopted_epoch)};
        for (const auto& [name, row] : store.device_secrets_named(cipher.room(), adopted))
            store.erase_device_secret(cipher.room(), name);
    }
    DeviceStateCipher cipher;
    StateStore store;
    DeviceChains chains;
    DeviceEpochs epochs;
};

inline crypto::EpochSecret fresh_secret() {
    crypto::EpochSecret s;
    crypto::random_bytes({s.data(), s.size()});
    return s;
}

class TwoDeviceRoom : public ::testing::Test {
protected:
    void SetUp() override {
        const auto l1 = laptop.epochs.new_update_key();
        const auto d1 = desk.epochs.new_update_key();
        EXPECT_EQ(l1.counter, 1u);
        protocol::v2::RecordDraft draft;
        draft.room = room;
        draft.salt = parley::test::test_salt();
        draft.kdf = wire::kdf_floor;
        draft.created_at_ms = 1'700'000'000'000;
        draft.devices = {laptop.draft(l1, BoxKind::joiner_secret), desk.draft(d1, BoxKind::joiner_secret)};
        draft.ops = parley::test::adds_for({alice.public_key, bob.public_key});
        const crypto::SymmetricKey zero;
        auto written = protocol::v2::build_record(laptop.key, draft, parley::test::shared_room_secret(), fresh_secret(), zero);
        ASSERT_TRUE(written);
        genesis = std::move(written->record);
        ASSERT_TRUE(adopt(laptop, genesis));
        ASSERT_TRUE(adopt(desk, genesis));
    }

    // The successor of `prev`, written by laptop, sealing to these entries.
    wire::EpochRecord next_epoch(const wire::EpochRecord& prev, const protocol::v2::UpdateKeyEntry& laptop_entry,
                                 const protocol::v2::UpdateKeyEntry& desk_entry) {
        return write_epoch(prev, {laptop.draft(laptop_entry, BoxKind::epoch_secret),
                                  desk.draft(desk_entry, BoxKind::epoch_secret)});
    }
    // The successor of `prev`, written by laptop, with these devices and operations.
    wire::EpochRecord write_epoch(const wire::EpochRecord& prev, std::vector<protocol::v2::DeviceDraft> devices,
                                  std::vector<wire::RosterOp> ops = {}) {
        protocol::v2::RecordDraft draft;
        draft.room = room;
        draft.epoch = prev.epoch + 1;
        draft.previous = wire::record_hash(prev);
        draft.salt = prev.salt;
        draft.kdf = prev.kdf;
        draft.created_at_ms = prev.created_at_ms + 1000;
        draft.devices = std::move(devices);
        draft.ops = std::move(ops);
        const auto init = laptop.epochs.init_secret(prev.epoch);
        if (!init) throw std::runtime_error("laptop holds no init secret of the previous epoch");
        auto written = protocol::v2::build_record(laptop.key, draft, parley::test::shared_room_secret(), fresh_secret(), *init);
        if (!written) throw std::runtime_error("build_record failed");
        return std::move(written->record);
    }

    static bool adopt(Device& d, const wire::EpochRecord& r) {
        auto result = d.epochs.adopt(r, parley::test::shared_room_secret(), d.chains);
        if (auto* e = std::get_if<OpenError>(&result)) ADD_FAILURE() << "adopt: " << protocol::v2::to_string(*e);
        return std::holds_alternative<DeviceEpochs::Adopted>(result);
    }

    fs::path steal(const Device& d) {
        const fs::path copy = dir / ("stolen-" + std::to_string(++copies) + ".sqlite");
        fs::copy_file(d.file, copy);
        if (fs::exists(d.file.string() + "-wal")) fs::copy_file(d.file.string() + "-wal", copy.string() + "-wal");
        return copy;
    }

    TempDir dir;
    int copies = 0;
    const crypto::Identity alice = parley::test::new_identity(), bob = parley::test::new_identity();
    const wire::RoomId room = crypto::random_array<wire::hash_bytes>();
    Device laptop{alice, "laptop", room, dir / "laptop.sqlite"};
    Device desk{bob, "desk", room, dir / "desk.sqlite"};
    wire::EpochRecord genesis;
};

}  // namespace parley::store::test_devices
