#include "loadgen/parley_fixture.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "crypto/primitives.h"
#include "protocol/epoch.h"
#include "protocol/key_schedule.h"
#include "protocol/message.h"
#include "wire/envelope.h"
#include "wire/record.h"

namespace parley::bench {

namespace {

constexpr std::string_view bench_password = "parley bench password, not a secret";

std::uint64_t read_u64(const std::uint8_t* p) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
    return v;
}

void write_u64(std::uint8_t* p, std::uint64_t v) {
    for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}

crypto::SymmetricKey derive_shared_room_secret(const wire::Salt& salt) {
    crypto::SecretBuffer password(bench_password.size());
    std::copy(bench_password.begin(), bench_password.end(), password.data());
    auto secret = protocol::derive_room_secret(password, salt, wire::kdf_floor);
    if (!secret) throw std::runtime_error("Argon2id failed (out of memory?)");
    return std::move(*secret);
}

// The offsets in the header must match the real encoder, or every latency is garbage.
void check_offsets() {
    wire::Envelope env;
    env.header.session[0] = 0xab;
    env.header.counter = 0x0102030405060708;
    env.ciphertext.assign(wire::padding_block_bytes + wire::aead_tag_bytes, 0);
    const Bytes envelope = wire::encode_envelope(env);
    const Bytes send = wire::encode_frame(wire::Send{0x1122334455667788, {}, {}, envelope});
    const Bytes deliver = wire::encode_frame(wire::Deliver{{}, {}, 9, envelope});
    const std::size_t counter = frame_envelope_offset + envelope_counter_offset;
    if (read_u64(send.data() + send_request_id_offset) != 0x1122334455667788 ||
        read_u64(send.data() + counter) != 0x0102030405060708 ||
        read_u64(deliver.data() + counter) != 0x0102030405060708 ||
        deliver[frame_envelope_offset + envelope_session_offset] != 0xab ||
        send.size() != deliver.size())
        throw std::logic_error("frame offsets in parley_fixture.h do not match the wire encoder");
}

}  // namespace

std::size_t parley_send_frame_bytes(std::size_t text_bytes) {
    // sodium_pad always adds at least one byte (§5)
    const std::size_t padded = (text_bytes / wire::padding_block_bytes + 1) * wire::padding_block_bytes;
    return frame_envelope_offset + wire::envelope_header_bytes + 4 + padded + wire::aead_tag_bytes +
           wire::signature_bytes;
}

std::optional<MessageId> parse_deliver(std::span<const std::uint8_t> frame) {
    constexpr std::size_t need = frame_envelope_offset + envelope_counter_offset + 8;
    if (frame.size() < need || frame[1] != static_cast<std::uint8_t>(wire::FrameType::deliver)) return std::nullopt;
    const std::uint8_t* env = frame.data() + frame_envelope_offset;
    MessageId id;
    id.sender = (std::uint32_t{env[envelope_session_offset]} << 24) | (std::uint32_t{env[envelope_session_offset + 1]} << 16) |
                (std::uint32_t{env[envelope_session_offset + 2]} << 8) | env[envelope_session_offset + 3];
    id.counter = read_u64(env + envelope_counter_offset);
    return id;
}

void ParleyFixture::set_counter(Bytes& send_frame, std::uint64_t counter) {
    write_u64(send_frame.data() + send_request_id_offset, counter);
    write_u64(send_frame.data() + frame_envelope_offset + envelope_counter_offset, counter);
}

ParleyFixture::ParleyFixture(std::size_t rooms, std::size_t roster_size, const std::string& run_tag)
    : ParleyFixture(std::vector<std::size_t>(rooms, roster_size), run_tag) {}

ParleyFixture::ParleyFixture(const std::vector<std::size_t>& roster_sizes, const std::string& run_tag) {
    crypto::init();
    check_offsets();
    const auto salt = crypto::random_array<wire::salt_bytes>();
    const crypto::SymmetricKey room_secret = derive_shared_room_secret(salt);  // once (§3)

    const std::size_t rooms = roster_sizes.size();
    const std::size_t identities = rooms ? *std::max_element(roster_sizes.begin(), roster_sizes.end()) : 0;
    std::vector<wire::PublicKey> all_keys;
    for (std::size_t i = 0; i < identities; ++i) {
        identities_.push_back(crypto::generate_identity());
        all_keys.push_back(identities_.back().public_key);
    }
    // The roster and its sorted adds for each size in use (the first n identities).
    std::vector<std::vector<wire::PublicKey>> rosters(identities + 1);
    std::vector<std::vector<wire::RosterOp>> adds(identities + 1);
    for (const std::size_t n : roster_sizes) {
        if (n == 0) throw std::invalid_argument("a room needs a roster");
        if (!rosters[n].empty()) continue;
        rosters[n].assign(all_keys.begin(), all_keys.begin() + static_cast<std::ptrdiff_t>(n));
        auto sorted = rosters[n];
        std::sort(sorted.begin(), sorted.end());
        for (const auto& k : sorted) adds[n].push_back({wire::RosterOpKind::add, k});
    }
    const auto now_ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                       std::chrono::system_clock::now().time_since_epoch())
                                                       .count());

    rooms_.reserve(rooms);
    for (std::size_t r = 0; r < rooms; ++r) {
        ParleyRoom room;
        room.room = crypto::room_id("bench/" + run_tag + "/" + std::to_string(r));

        // genesis (§4): member 0 authors it, with a fresh epoch secret
        protocol::RecordDraft draft;
        draft.room = room.room;
        draft.epoch = 0;
        draft.salt = salt;
        draft.kdf = wire::kdf_floor;
        draft.created_at_ms = now_ms;
        draft.roster = rosters[roster_sizes[r]];
        draft.ops = adds[roster_sizes[r]];
        crypto::EpochSecret epoch_secret;
        crypto::random_bytes(epoch_secret.mutable_bytes());
        auto record = protocol::build_record(identities_[0], std::move(draft), room_secret, epoch_secret);
        if (!record) throw std::runtime_error("build_record failed");
        room.genesis = wire::record_hash(*record);

        // access token and message key (§3)
        auto keys = protocol::derive_epoch_keys(room_secret, room.room, 0, wire::Hash{}, epoch_secret);
        room.token = protocol::token_bytes(keys);
        room.message_key = std::make_shared<const crypto::SymmetricKey>(std::move(keys.message_key));

        room.publish_frame = wire::encode_frame(wire::Publish{1, room.room, wire::Token{}, wire::encode_record(*record)});
        room.join_frame = wire::encode_frame(wire::Join{2, room.room, room.genesis, room.token, 0});
        room.roster_size = roster_sizes[r];
        rooms_.push_back(std::move(room));
    }
}

std::vector<Bytes> ParleyFixture::seal_sends(std::size_t room_index, std::size_t member, std::uint32_t sender_index,
                                             std::size_t count, std::size_t text_bytes) const {
    const ParleyRoom& room = rooms_.at(room_index);
    const crypto::Identity& me = identities_.at(member % room.roster_size);

    protocol::SenderContext ctx;
    ctx.me = &me;
    ctx.my_id = crypto::key_id(me.public_key);
    ctx.room = room.room;
    ctx.epoch = 0;
    ctx.record_hash = room.genesis;
    ctx.session = crypto::random_array<wire::session_id_bytes>();
    for (int i = 0; i < 4; ++i) ctx.session[i] = static_cast<std::uint8_t>(sender_index >> (24 - 8 * i));
    ctx.message_key = room.message_key.get();

    const std::string text(text_bytes, 'm');
    std::vector<Bytes> frames;
    frames.reserve(count);
    for (std::uint64_t counter = 0; counter < count; ++counter) {
        auto envelope = protocol::seal_message(ctx, counter, 0, crypto::random_array<wire::nonce_bytes>(), text);
        frames.push_back(wire::encode_frame(wire::Send{counter, room.room, room.genesis, std::move(envelope)}));
    }
    return frames;
}

}  // namespace parley::bench
