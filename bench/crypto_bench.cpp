// Client-side crypto per message (docs/PROTOCOL.md §3, §5), with Google Benchmark:
// protocol::seal_message and protocol::open_message on a 256-byte text, beside
// the bare libsodium calls they are built on, done by hand on the same sizes in
// the same run, and one Argon2id room-secret derivation at the default (floor)
// parameters. The ratio seal_message / bare is what Parley's layering costs.
//
// Version 2's sender chains (§10.2, issue 10): the same seal and open, each
// message key taken from a hash ratchet (SenderChain::next, ReceiverChain::take)
// instead of the epoch's one key, in order and with every other message late
// (its key kept as skipped). The ratio to BM_SealMessage / BM_OpenMessage is what
// forward secrecy inside an epoch costs per message (the bound: 1.3×).
#include <benchmark/benchmark.h>
#include <sodium.h>

#include <cstdio>
#include <string>
#include <variant>
#include <vector>

#include "crypto/key_file.h"
#include "crypto/primitives.h"
#include "protocol/epoch.h"
#include "protocol/key_schedule.h"
#include "protocol/message.h"
#include "protocol/record_v2.h"
#include "protocol/sender_chain.h"
#include "wire/envelope.h"
#include "wire/labels.h"
#include "wire/record.h"

namespace {

using namespace parley;

constexpr std::size_t text_bytes = 256;

// One sender in one epoch, with everything a real sender holds.
struct Fixture {
    crypto::Identity me = crypto::generate_identity();
    crypto::SymmetricKey message_key;
    protocol::SenderContext ctx;
    wire::Nonce nonce = crypto::random_array<wire::nonce_bytes>();  // the caller's, outside the timing
    std::string text = std::string(text_bytes, 'm');

    Fixture() {
        crypto::random_bytes(message_key.mutable_bytes());
        ctx.me = &me;
        ctx.my_id = crypto::key_id(me.public_key);
        ctx.room = crypto::room_id("bench");
        ctx.epoch = 0;
        ctx.record_hash = crypto::random_array<wire::hash_bytes>();
        ctx.session = crypto::random_array<wire::session_id_bytes>();
        ctx.message_key = &message_key;
    }
};

Fixture& fixture() {
    // Built in place and never moved: ctx points into it.
    static Fixture* f = [] {
        crypto::init();
        return new Fixture();
    }();
    return *f;
}

void BM_SealMessage(benchmark::State& state) {
    auto& f = fixture();
    std::uint64_t counter = 0;
    for (auto _ : state) {
        auto envelope = protocol::seal_message(f.ctx, counter++, 1'700'000'000'000, f.nonce, f.text);
        benchmark::DoNotOptimize(envelope.data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SealMessage);

// What seal_message is made of: pad, encrypt with the header as associated data,
// sign label || header || u32 length || ciphertext.
void BM_BareSealPrimitives(benchmark::State& state) {
    auto& f = fixture();
    const Bytes header = wire::encode_header(wire::EnvelopeHeader{});
    const std::size_t padded_bytes = (text_bytes / wire::padding_block_bytes + 1) * wire::padding_block_bytes;
    Bytes padded(padded_bytes);
    Bytes ciphertext(padded_bytes + crypto_aead_xchacha20poly1305_ietf_ABYTES);
    const std::size_t prefix = label::sig_envelope.size() + header.size() + 4;
    Bytes signed_message(prefix + ciphertext.size());
    std::copy(label::sig_envelope.begin(), label::sig_envelope.end(), signed_message.begin());
    std::copy(header.begin(), header.end(), signed_message.begin() + static_cast<std::ptrdiff_t>(label::sig_envelope.size()));
    unsigned char signature[crypto_sign_BYTES];
    for (auto _ : state) {
        std::copy(f.text.begin(), f.text.end(), padded.begin());
        std::size_t padded_len = 0;
        sodium_pad(&padded_len, padded.data(), f.text.size(), wire::padding_block_bytes, padded.size());
        unsigned long long ct_len = 0;
        crypto_aead_xchacha20poly1305_ietf_encrypt(ciphertext.data(), &ct_len, padded.data(), padded_len,
                                                   header.data(), header.size(), nullptr, f.nonce.data(),
                                                   f.message_key.data());
        std::copy(ciphertext.begin(), ciphertext.end(), signed_message.begin() + static_cast<std::ptrdiff_t>(prefix));
        crypto_sign_detached(signature, nullptr, signed_message.data(), signed_message.size(), f.me.secret.data());
        benchmark::DoNotOptimize(signature);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BareSealPrimitives);

void BM_OpenMessage(benchmark::State& state) {
    auto& f = fixture();
    auto decoded = wire::decode_envelope(protocol::seal_message(f.ctx, 0, 1'700'000'000'000, f.nonce, f.text));
    const wire::Envelope envelope = *decoded.envelope;
    for (auto _ : state) {
        auto opened = protocol::open_message(envelope, f.me.public_key, f.message_key);
        if (!opened.text) state.SkipWithError("open_message failed");
        benchmark::DoNotOptimize(opened.text->data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_OpenMessage);

// A received envelope as the client gets it: its bytes decoded, then opened.
// The like-for-like figure beside chat.py as written (which parses JSON and
// looks up the sender's key for every message).
void BM_ReceiveEncodedMessage(benchmark::State& state) {
    auto& f = fixture();
    const Bytes encoded = protocol::seal_message(f.ctx, 0, 1'700'000'000'000, f.nonce, f.text);
    for (auto _ : state) {
        auto decoded = wire::decode_envelope(encoded);
        if (!decoded.envelope) state.SkipWithError("decode failed");
        auto opened = protocol::open_message(*decoded.envelope, f.me.public_key, f.message_key);
        if (!opened.text) state.SkipWithError("open_message failed");
        benchmark::DoNotOptimize(opened.text->data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReceiveEncodedMessage);

// What open_message is made of: verify the signature, then decrypt and unpad.
void BM_BareOpenPrimitives(benchmark::State& state) {
    auto& f = fixture();
    const Bytes encoded = protocol::seal_message(f.ctx, 0, 1'700'000'000'000, f.nonce, f.text);
    const wire::Envelope envelope = *wire::decode_envelope(encoded).envelope;
    const Bytes header = wire::encode_header(envelope.header);
    const Bytes signed_message = wire::envelope_signed_message(envelope);
    Bytes padded(envelope.ciphertext.size());
    for (auto _ : state) {
        if (crypto_sign_verify_detached(envelope.signature.data(), signed_message.data(), signed_message.size(),
                                        f.me.public_key.data()) != 0)
            state.SkipWithError("verify failed");
        unsigned long long len = 0;
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(padded.data(), &len, nullptr, envelope.ciphertext.data(),
                                                       envelope.ciphertext.size(), header.data(), header.size(),
                                                       envelope.header.nonce.data(), f.message_key.data()) != 0)
            state.SkipWithError("decrypt failed");
        std::size_t text_len = 0;
        sodium_unpad(&text_len, padded.data(), len, wire::padding_block_bytes);
        benchmark::DoNotOptimize(text_len);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BareOpenPrimitives);

// --- version 2: a message key per message from the sender chain (§10.2) ----------------

crypto::SymmetricKey random_key() {
    crypto::SymmetricKey k;
    crypto::random_bytes(k.mutable_bytes());
    return k;
}

// Seal as BM_SealMessage does, the message key from the chain's next step,
// erased (the Secret's destructor) once the envelope is sealed.
void BM_SealMessageWithSenderChain(benchmark::State& state) {
    auto& f = fixture();
    protocol::v2::SenderChain chain(random_key());
    protocol::SenderContext ctx = f.ctx;
    for (auto _ : state) {
        auto step = chain.next();
        ctx.message_key = &step.message_key;
        auto envelope = protocol::seal_message(ctx, step.position, 1'700'000'000'000, f.nonce, f.text);
        benchmark::DoNotOptimize(envelope.data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SealMessageWithSenderChain);

// A run of envelopes sealed along one chain, for the receivers below.
struct ChainRun {
    static constexpr std::size_t length = 1024;
    crypto::SymmetricKey start = random_key();
    std::vector<wire::Envelope> envelopes;
    ChainRun() {
        auto& f = fixture();
        crypto::SymmetricKey copy;
        std::copy(start.reveal().begin(), start.reveal().end(), copy.mutable_bytes().begin());
        protocol::v2::SenderChain chain(std::move(copy));
        protocol::SenderContext ctx = f.ctx;
        for (std::size_t i = 0; i < length; ++i) {
            auto step = chain.next();
            ctx.message_key = &step.message_key;
            envelopes.push_back(
                *wire::decode_envelope(protocol::seal_message(ctx, step.position, 1'700'000'000'000, f.nonce, f.text))
                     .envelope);
        }
    }
    protocol::v2::ReceiverChain receiver() const {
        crypto::SymmetricKey copy;
        std::copy(start.reveal().begin(), start.reveal().end(), copy.mutable_bytes().begin());
        return protocol::v2::ReceiverChain(std::move(copy));
    }
};

const ChainRun& chain_run() {
    static const ChainRun* run = new ChainRun();
    return *run;
}

// `order` lists the positions of one pass over the run; a new receiver chain
// for each pass (one construction per 1024 messages).
void open_along_chain(benchmark::State& state, const std::vector<std::uint64_t>& order) {
    auto& f = fixture();
    const auto& run = chain_run();
    auto receiver = run.receiver();
    std::size_t i = 0;
    for (auto _ : state) {
        if (i == order.size()) {
            receiver = run.receiver();
            i = 0;
        }
        const auto position = order[i++];
        auto key = receiver.take(position);
        if (!std::holds_alternative<crypto::SymmetricKey>(key)) {
            state.SkipWithError("no message key");
            break;
        }
        auto opened = protocol::open_message(run.envelopes[position], f.me.public_key,
                                             std::get<crypto::SymmetricKey>(key));
        if (!opened.text) {
            state.SkipWithError("open_message failed");
            break;
        }
        benchmark::DoNotOptimize(opened.text->data());
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_OpenMessageWithReceiverChain(benchmark::State& state) {
    std::vector<std::uint64_t> order(ChainRun::length);
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    open_along_chain(state, order);
}
BENCHMARK(BM_OpenMessageWithReceiverChain);

// Every other message a step late (1, 0, 3, 2, ...): half the keys go through
// the skipped set, as after a reordering relay.
void BM_OpenMessageWithReceiverChainOutOfOrder(benchmark::State& state) {
    std::vector<std::uint64_t> order(ChainRun::length);
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i ^ 1u;
    open_along_chain(state, order);
}
BENCHMARK(BM_OpenMessageWithReceiverChainOutOfOrder);

// --- a rotation today (version 1's rekey, §4): the baseline for version 2's -------------

// One member writes the next epoch record for a roster of state.range(0)
// members: a fresh epoch secret sealed to each (X25519 from the Ed25519 key),
// the commitment and token hash, the signature. Counters: the record's bytes,
// and per member.
void BM_RotationRecord(benchmark::State& state) {
    crypto::init();
    const auto members = static_cast<std::size_t>(state.range(0));
    std::vector<crypto::Identity> roster;
    for (std::size_t i = 0; i < members; ++i) roster.push_back(crypto::generate_identity());
    protocol::RecordDraft draft;
    draft.room = crypto::room_id("bench");
    draft.epoch = 1;
    draft.previous = crypto::random_array<wire::hash_bytes>();
    draft.salt = crypto::random_array<wire::salt_bytes>();
    draft.kdf = wire::kdf_floor;
    draft.created_at_ms = 1'700'000'000'000;
    for (const auto& m : roster) draft.roster.push_back(m.public_key);
    crypto::SymmetricKey room_secret;
    crypto::random_bytes(room_secret.mutable_bytes());
    std::size_t bytes = 0;
    for (auto _ : state) {
        crypto::EpochSecret epoch_secret;
        crypto::random_bytes(epoch_secret.mutable_bytes());
        auto record = protocol::build_record(roster.front(), draft, room_secret, epoch_secret);
        if (!record) {
            state.SkipWithError("build_record failed");
            break;
        }
        bytes = wire::encode_record(*record).size();
        benchmark::DoNotOptimize(bytes);
    }
    state.counters["record_bytes"] = static_cast<double>(bytes);
    state.counters["bytes_per_member"] = static_cast<double>(bytes) / static_cast<double>(members);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RotationRecord)->Arg(5)->Arg(50)->Unit(benchmark::kMillisecond);

// A member opening its box in such a record (every member does, once per rotation).
void BM_RotationOpenOwnBox(benchmark::State& state) {
    crypto::init();
    std::vector<crypto::Identity> roster;
    for (int i = 0; i < 50; ++i) roster.push_back(crypto::generate_identity());
    protocol::RecordDraft draft;
    draft.room = crypto::room_id("bench");
    draft.epoch = 1;
    draft.kdf = wire::kdf_floor;
    for (const auto& m : roster) draft.roster.push_back(m.public_key);
    crypto::SymmetricKey room_secret;
    crypto::EpochSecret epoch_secret;
    crypto::random_bytes(epoch_secret.mutable_bytes());
    const auto record = *protocol::build_record(roster.front(), draft, room_secret, epoch_secret);
    for (auto _ : state) {
        auto opened = protocol::open_epoch_secret(roster[25], record);
        if (!std::holds_alternative<crypto::EpochSecret>(opened)) {
            state.SkipWithError("open_epoch_secret failed");
            break;
        }
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RotationOpenOwnBox)->Unit(benchmark::kMicrosecond);

// Version 2's rotation (docs/PROTOCOL.md §10.6): `members` members with one
// device each (8-byte names), every device in the previous epoch (kind 1
// boxes), sealed to each device's update key and signed by one device.
struct RoomV2 {
    std::vector<crypto::Identity> members, devices;
    std::vector<protocol::v2::UpdateKeyPair> update_keys;
    protocol::v2::RecordDraft draft;
    crypto::SymmetricKey room_secret, init;

    explicit RoomV2(std::size_t n) {
        crypto::init();
        namespace v2 = protocol::v2;
        draft.room = crypto::room_id("bench");
        draft.epoch = 1;
        draft.previous = crypto::random_array<wire::hash_bytes>();
        draft.salt = crypto::random_array<wire::salt_bytes>();
        draft.kdf = wire::kdf_floor;
        draft.created_at_ms = 1'700'000'000'000;
        for (std::size_t i = 0; i < n; ++i) {
            members.push_back(crypto::generate_identity());
            devices.push_back(crypto::generate_identity());
            update_keys.push_back(v2::generate_update_key());
            char name[16];
            std::snprintf(name, sizeof name, "device%02zu", i % 100);
            draft.devices.push_back({v2::certify_device(members.back(), devices.back().public_key, name, 1),
                                     v2::sign_update_key(devices.back(), draft.room, update_keys.back().public_key, 1),
                                     wire::BoxKind::epoch_secret});
        }
        crypto::random_bytes(room_secret.mutable_bytes());
        crypto::random_bytes(init.mutable_bytes());
    }
    protocol::v2::WrittenRecord write() const {
        crypto::EpochSecret epoch_secret;
        crypto::random_bytes(epoch_secret.mutable_bytes());
        auto written = protocol::v2::build_record(devices.front(), draft, room_secret, epoch_secret, init);
        if (!written) std::abort();
        return std::move(*written);
    }
};

void BM_RotationRecordV2(benchmark::State& state) {
    const RoomV2 room(static_cast<std::size_t>(state.range(0)));
    std::size_t bytes = 0;
    for (auto _ : state) {
        auto written = room.write();
        bytes = wire::encode_record(written.record).size();
        benchmark::DoNotOptimize(bytes);
    }
    state.counters["record_bytes"] = static_cast<double>(bytes);
    state.counters["bytes_per_member"] = static_cast<double>(bytes) / static_cast<double>(state.range(0));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RotationRecordV2)->Arg(5)->Arg(50)->Unit(benchmark::kMillisecond);

// What every member does with it: decode, verify (the author's signature; the
// certificates and entries were verified in the previous epoch, §10.6, except
// the author's new entry, which every rotation carries) and open its own box.
void BM_RotationReceiveV2(benchmark::State& state) {
    RoomV2 room(50);
    const auto previous = room.write().record;  // the same devices and entries
    room.draft.devices.front().update = protocol::v2::sign_update_key(
        room.devices.front(), room.draft.room, protocol::v2::generate_update_key().public_key, 2);
    const auto encoded = wire::encode_record(room.write().record);
    const auto& me = room.devices[25];
    protocol::v2::UpdateKeyLookup lookup = [&](std::uint64_t, const protocol::v2::UpdateKey&) {
        return &room.update_keys[25].private_key;
    };
    for (auto _ : state) {
        auto decoded = wire::decode_record(encoded);
        if (!decoded.record || !wire::verify_record_signature(*decoded.record, &previous)) {
            state.SkipWithError("the record does not verify");
            break;
        }
        auto opened = protocol::v2::open_record(me.public_key, lookup, &room.init, *decoded.record);
        if (!std::holds_alternative<crypto::SymmetricKey>(opened)) {
            state.SkipWithError("open_record failed");
            break;
        }
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RotationReceiveV2)->Unit(benchmark::kMicrosecond);

// One room-secret derivation, as every join does once (§3).
void BM_Argon2idDefault(benchmark::State& state) {
    crypto::init();
    const std::string_view password = "correct horse battery staple";
    crypto::SecretBuffer secret(password.size());
    std::copy(password.begin(), password.end(), secret.data());
    const auto salt = crypto::random_array<wire::salt_bytes>();
    for (auto _ : state) {
        auto key = protocol::derive_room_secret(secret, salt, wire::kdf_floor);
        if (!key) state.SkipWithError("argon2id failed");
    }
}
BENCHMARK(BM_Argon2idDefault)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
