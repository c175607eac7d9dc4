// A client's whole cost per message with its state file (issue 10's bound: version
// 2 within 1.3× of version 1), with Google Benchmark, on a real state file on disk
// (WAL, synchronous=NORMAL, secure_delete, as the client runs it):
//
//   receive: the transaction a reader runs per Deliver (apps/client/room_stream.cpp):
//            the receiver's checks, the history row sealed and added, the stream
//            position moved, committed. Version 1: protocol::Receiver (replay window
//            in the state file). Version 2: store::DeviceReceiver, whose take moves
//            the sender's chain in the state file and so ends with the checkpoint
//            that forgets the old chain key (§10.2).
//   send:    what a sender does per message before the relay sees it: take the
//            counter (v1: take_counter's row; v2: take_sender, chain key replaced,
//            checkpoint), seal, and store its own message with the position.
//
// Each runs a fixed number of messages, one envelope each, prepared outside the
// timing (for receive). The ratio v2 / v1 in the same run is what the ratchet's
// erasure costs a client.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "crypto/key_file.h"
#include "crypto/primitives.h"
#include "protocol/device.h"
#include "protocol/key_schedule.h"
#include "protocol/message.h"
#include "protocol/receiver.h"
#include "protocol/record_v2.h"
#include "store/device_epochs.h"
#include "store/device_receiver.h"
#include "store/history_cipher.h"
#include "store/state_store.h"
#include "wire/record.h"

namespace {

using namespace parley;
namespace fs = std::filesystem;

constexpr int messages = 2000;
const std::string text(256, 'm');

fs::path bench_dir() {
    // On disk, not tmpfs: the commit and the checkpoint are what is measured.
    const char* base = std::getenv("PARLEY_BENCH_DIR");
    fs::path dir = fs::path(base && *base ? base : "/var/tmp") / ("parley-client-store-" + std::to_string(getpid()));
    fs::create_directories(dir);
    return dir;
}

crypto::SymmetricKey random_key() {
    crypto::SymmetricKey k;
    crypto::random_bytes(k.mutable_bytes());
    return k;
}

std::uint64_t now_ms() { return 1'796'299'200'000; }

// The reader's part common to both versions: history row, position, commit.
void store_delivery(store::StateStore& s, const store::HistoryCipher& history, const wire::RoomId& room,
                    std::uint64_t seq, const protocol::Delivery& d, ByteView envelope) {
    store::HistoryEntry e{seq, *d.sender, d.header.epoch, d.header.counter, d.header.timestamp_ms, false, d.text};
    s.add_history(room, seq, history.seal(room, e));
    s.save_stream_position(room, {seq, d.header.epoch, crypto::blake2b(envelope)});
}

// ---- version 1 ------------------------------------------------------------------------

struct V1 {
    fs::path dir = bench_dir();
    crypto::Identity alice = crypto::generate_identity(), bob = crypto::generate_identity();
    wire::RoomId room = crypto::room_id("bench-v1");
    crypto::SymmetricKey room_secret = random_key();
    wire::Hash record_hash = crypto::random_array<wire::hash_bytes>();
    std::shared_ptr<const crypto::SymmetricKey> message_key = std::make_shared<const crypto::SymmetricKey>(random_key());
    wire::SessionId alice_session = crypto::random_array<wire::session_id_bytes>();
    store::HistoryCipher history{bob, room, room_secret};

    protocol::SenderContext context(const crypto::Identity& who, const wire::SessionId& session) const {
        return {&who, crypto::key_id(who.public_key), room, 0, record_hash, session, message_key.get(), 1};
    }
    protocol::EpochView view() const {
        protocol::EpochView v;
        v.epoch = 0;
        v.record_hash = record_hash;
        v.roster = {alice.public_key, bob.public_key};
        if (v.roster[1] < v.roster[0]) std::swap(v.roster[0], v.roster[1]);
        v.message_key = message_key;
        return v;
    }
    ~V1() { fs::remove_all(dir); }
};

void BM_ClientReceiveV1(benchmark::State& state) {
    V1 f;
    std::vector<Bytes> sent;
    const auto ctx = f.context(f.alice, f.alice_session);
    for (int i = 0; i < messages; ++i)
        sent.push_back(protocol::seal_message(ctx, static_cast<std::uint64_t>(i), now_ms(),
                                              crypto::random_array<wire::nonce_bytes>(), text));
    store::StateStore s(f.dir / "bob.sqlite");
    protocol::Receiver rx(f.room, f.bob.public_key, crypto::random_array<wire::session_id_bytes>(), s,
                          [](const wire::SessionId&, const wire::Hash&, std::uint64_t) { return false; });
    rx.add_epoch(f.view());
    std::size_t i = 0;
    for (auto _ : state) {
        store::StateStore::Transaction tx(s);
        const auto d = rx.receive(sent[i]);
        if (!d.accepted) throw std::runtime_error("v1 receive: " + d.reason);
        store_delivery(s, f.history, f.room, i + 1, d, sent[i]);
        tx.commit();
        ++i;
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ClientReceiveV1)->Iterations(messages)->Unit(benchmark::kMicrosecond);

void BM_ClientSendV1(benchmark::State& state) {
    V1 f;
    store::StateStore s(f.dir / "alice.sqlite");
    const auto ctx = f.context(f.alice, f.alice_session);
    store::HistoryCipher history{f.alice, f.room, f.room_secret};
    std::uint64_t seq = 0;
    for (auto _ : state) {
        const auto counter = s.take_counter(f.alice_session, f.record_hash);
        const auto envelope =
            protocol::seal_message(ctx, counter, now_ms(), crypto::random_array<wire::nonce_bytes>(), text);
        store::StateStore::Transaction tx(s);  // store_own_message
        store::HistoryEntry e{++seq, f.alice.public_key, 0, counter, now_ms(), true, text};
        s.add_history(f.room, seq, history.seal(f.room, e));
        s.save_stream_position(f.room, {seq, 0, crypto::blake2b(envelope)});
        tx.commit();
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ClientSendV1)->Iterations(messages)->Unit(benchmark::kMicrosecond);

// ---- version 2 ------------------------------------------------------------------------

// A device of a member: its key, certificate and state file, as its folder holds them.
struct Device {
    Device(const crypto::Identity& member, const std::string& name, const wire::RoomId& room,
           const crypto::SymmetricKey& room_secret, const fs::path& file)
        : certificate(protocol::v2::certify_device(member, key.public_key, name, now_ms())),
          cipher(key, room, room_secret),
          store(file),
          chains(store, cipher),
          epochs(store, cipher, key) {}
    crypto::Identity key = crypto::generate_identity();
    protocol::v2::DeviceCertificate certificate;
    store::DeviceStateCipher cipher;
    store::StateStore store;
    store::DeviceChains chains;
    store::DeviceEpochs epochs;
};

struct V2 {
    fs::path dir = bench_dir();
    crypto::Identity alice = crypto::generate_identity(), bob = crypto::generate_identity();
    wire::RoomId room = crypto::room_id("bench-v2");
    crypto::SymmetricKey room_secret = random_key();
    Device laptop{alice, "laptop", room, room_secret, dir / "laptop.sqlite"};
    Device desk{bob, "desk", room, room_secret, dir / "desk.sqlite"};
    wire::EpochRecord genesis;
    wire::Hash genesis_hash{};
    wire::SessionId session = crypto::random_array<wire::session_id_bytes>();

    V2() {
        protocol::v2::RecordDraft draft;
        draft.room = room;
        draft.salt = crypto::random_array<wire::salt_bytes>();
        draft.kdf = wire::kdf_floor;
        draft.created_at_ms = now_ms();
        draft.devices = {{laptop.certificate, laptop.epochs.new_update_key(), wire::BoxKind::joiner_secret},
                         {desk.certificate, desk.epochs.new_update_key(), wire::BoxKind::joiner_secret}};
        auto members = std::vector<wire::PublicKey>{alice.public_key, bob.public_key};
        if (members[1] < members[0]) std::swap(members[0], members[1]);
        for (const auto& k : members) draft.ops.push_back({wire::RosterOpKind::add, k});
        crypto::EpochSecret secret;
        crypto::random_bytes({secret.data(), secret.size()});
        auto written = protocol::v2::build_record(laptop.key, draft, room_secret, secret, crypto::SymmetricKey{});
        if (!written) throw std::runtime_error("build_record failed");
        genesis = std::move(written->record);
        genesis_hash = wire::record_hash(genesis);
        for (auto* d : {&laptop, &desk})
            if (!std::holds_alternative<store::DeviceEpochs::Adopted>(d->epochs.adopt(genesis, room_secret, d->chains)))
                throw std::runtime_error("adopt failed");
    }
    Bytes seal_from_laptop() {
        auto step = laptop.chains.take_sender(genesis_hash);
        if (!step) throw std::runtime_error("no sender chain");
        protocol::SenderContext ctx{&laptop.key, crypto::key_id(laptop.key.public_key), room, 0, genesis_hash, session,
                                    &step->message_key, 2};
        return protocol::seal_message(ctx, step->position, now_ms(), crypto::random_array<wire::nonce_bytes>(), text);
    }
    ~V2() { fs::remove_all(dir); }
};

void BM_ClientReceiveV2(benchmark::State& state) {
    V2 f;
    std::vector<Bytes> sent;
    for (int i = 0; i < messages; ++i) sent.push_back(f.seal_from_laptop());
    store::DeviceReceiver rx(f.room, f.desk.key.public_key, f.desk.chains);
    rx.add_epoch(f.genesis);
    store::HistoryCipher history{f.bob, f.room, f.room_secret};
    std::size_t i = 0;
    for (auto _ : state) {
        store::StateStore::Transaction tx(f.desk.store);
        const auto d = rx.receive(sent[i]);
        if (!d.accepted) throw std::runtime_error("v2 receive: " + d.reason);
        store_delivery(f.desk.store, history, f.room, i + 1, d, sent[i]);
        tx.commit();
        ++i;
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ClientReceiveV2)->Iterations(messages)->Unit(benchmark::kMicrosecond);

void BM_ClientSendV2(benchmark::State& state) {
    V2 f;
    store::HistoryCipher history{f.alice, f.room, f.room_secret};
    std::uint64_t seq = 0;
    for (auto _ : state) {
        const auto envelope = f.seal_from_laptop();
        store::StateStore::Transaction tx(f.laptop.store);  // store_own_message
        store::HistoryEntry e{++seq, f.alice.public_key, 0, seq - 1, now_ms(), true, text};
        f.laptop.store.add_history(f.room, seq, history.seal(f.room, e));
        f.laptop.store.save_stream_position(f.room, {seq, 0, crypto::blake2b(envelope)});
        tx.commit();
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ClientSendV2)->Iterations(messages)->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
    crypto::init();
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
