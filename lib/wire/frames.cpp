// docs/PROTOCOL.md §6: relay frames.
#include "wire/frames.h"

#include <type_traits>

namespace parley::wire {
namespace {

template <class>
inline constexpr bool always_false = false;

void put(Writer& w, const GetChain& f) {
    w.u64(f.request_id);
    w.raw(f.room);
    w.raw(f.genesis);
    w.raw(f.after);
}
void put(Writer& w, const Publish& f) {
    w.u64(f.request_id);
    w.raw(f.room);
    w.raw(f.token);
    w.blob(f.record);
}
void put(Writer& w, const Join& f) {
    w.u64(f.request_id);
    w.raw(f.room);
    w.raw(f.genesis);
    w.raw(f.token);
    w.u64(f.after_seq);
}
void put(Writer& w, const Send& f) {
    w.u64(f.request_id);
    w.raw(f.room);
    w.raw(f.genesis);
    w.blob(f.envelope);
}
void put(Writer& w, const Chain& f) {
    w.u64(f.request_id);
    w.raw(f.room);
    w.raw(f.genesis);
    w.u8(f.complete ? 1 : 0);
    w.u32(static_cast<std::uint32_t>(f.records.size()));
    for (const auto& record : f.records) w.blob(record);
}
void put(Writer& w, const Published& f) {
    w.u64(f.request_id);
    w.raw(f.record_hash);
}
void put(Writer& w, const Joined& f) {
    w.u64(f.request_id);
    w.u64(f.head_epoch);
    w.raw(f.head_hash);
    w.u64(f.last_seq);
    w.u64(f.first_seq);
}
void put(Writer& w, const Ack& f) {
    w.u64(f.request_id);
    w.u64(f.seq);
}
void put(Writer& w, const Deliver& f) {
    w.raw(f.room);
    w.raw(f.genesis);
    w.u64(f.seq);
    w.blob(f.envelope);
}
void put(Writer& w, const NewHead& f) {
    w.raw(f.room);
    w.raw(f.genesis);
    w.u64(f.seq);
    w.blob(f.record);
}
void put(Writer& w, const Error& f) {
    w.u64(f.request_id);
    w.u16(static_cast<std::uint16_t>(f.code));
}

FrameType type_of(const Frame& frame) {
    return std::visit(
        [](const auto& f) {
            using T = std::decay_t<decltype(f)>;
            if constexpr (std::is_same_v<T, GetChain>) return FrameType::get_chain;
            else if constexpr (std::is_same_v<T, Publish>) return FrameType::publish;
            else if constexpr (std::is_same_v<T, Join>) return FrameType::join;
            else if constexpr (std::is_same_v<T, Send>) return f.resend ? FrameType::resend : FrameType::send;
            else if constexpr (std::is_same_v<T, Chain>) return FrameType::chain;
            else if constexpr (std::is_same_v<T, Published>) return FrameType::published;
            else if constexpr (std::is_same_v<T, Joined>) return FrameType::joined;
            else if constexpr (std::is_same_v<T, Ack>) return FrameType::ack;
            else if constexpr (std::is_same_v<T, Deliver>) return FrameType::deliver;
            else if constexpr (std::is_same_v<T, NewHead>) return FrameType::new_head;
            else if constexpr (std::is_same_v<T, Error>) return FrameType::error;
            else static_assert(always_false<T>);
        },
        frame);
}

std::optional<Frame> read_body(FrameType type, Reader& r) {
    switch (type) {
        case FrameType::get_chain: {
            GetChain f;
            f.request_id = r.u64();
            f.room = r.fixed<hash_bytes>();
            f.genesis = r.fixed<hash_bytes>();
            f.after = r.fixed<hash_bytes>();
            return f;
        }
        case FrameType::publish: {
            Publish f;
            f.request_id = r.u64();
            f.room = r.fixed<hash_bytes>();
            f.token = r.fixed<token_bytes>();
            auto rec = r.blob(max_record_bytes);
            f.record.assign(rec.begin(), rec.end());
            return f;
        }
        case FrameType::join: {
            Join f;
            f.request_id = r.u64();
            f.room = r.fixed<hash_bytes>();
            f.genesis = r.fixed<hash_bytes>();
            f.token = r.fixed<token_bytes>();
            f.after_seq = r.u64();
            return f;
        }
        case FrameType::send:
        case FrameType::resend: {
            Send f;
            f.resend = type == FrameType::resend;
            f.request_id = r.u64();
            f.room = r.fixed<hash_bytes>();
            f.genesis = r.fixed<hash_bytes>();
            auto env = r.blob(max_envelope_bytes);
            f.envelope.assign(env.begin(), env.end());
            return f;
        }
        case FrameType::chain: {
            Chain f;
            f.request_id = r.u64();
            f.room = r.fixed<hash_bytes>();
            f.genesis = r.fixed<hash_bytes>();
            auto complete = r.u8();
            if (complete > 1) return std::nullopt;
            f.complete = complete == 1;
            auto n_records = r.u32();
            if (n_records > max_records_per_page || (n_records == 0 && !f.complete)) return std::nullopt;
            for (std::uint32_t j = 0; j < n_records && !r.failed(); ++j) {
                auto rec = r.blob(max_record_bytes);
                f.records.emplace_back(rec.begin(), rec.end());
            }
            return f;
        }
        case FrameType::published: {
            Published f;
            f.request_id = r.u64();
            f.record_hash = r.fixed<hash_bytes>();
            return f;
        }
        case FrameType::joined: {
            Joined f;
            f.request_id = r.u64();
            f.head_epoch = r.u64();
            f.head_hash = r.fixed<hash_bytes>();
            f.last_seq = r.u64();
            f.first_seq = r.u64();
            return f;
        }
        case FrameType::ack: {
            Ack f;
            f.request_id = r.u64();
            f.seq = r.u64();
            return f;
        }
        case FrameType::deliver: {
            Deliver f;
            f.room = r.fixed<hash_bytes>();
            f.genesis = r.fixed<hash_bytes>();
            f.seq = r.u64();
            auto env = r.blob(max_envelope_bytes);
            f.envelope.assign(env.begin(), env.end());
            return f;
        }
        case FrameType::new_head: {
            NewHead f;
            f.room = r.fixed<hash_bytes>();
            f.genesis = r.fixed<hash_bytes>();
            f.seq = r.u64();
            auto rec = r.blob(max_record_bytes);
            f.record.assign(rec.begin(), rec.end());
            return f;
        }
        case FrameType::error: {
            Error f;
            f.request_id = r.u64();
            auto code = r.u16();
            if (code < 1 || code > static_cast<std::uint16_t>(RelayError::quota)) return std::nullopt;
            f.code = static_cast<RelayError>(code);
            return f;
        }
    }
    return std::nullopt;  // unknown type
}

}  // namespace

Bytes encode_frame(const Frame& frame) {
    Writer w;
    w.u8(protocol_version);
    w.u8(static_cast<std::uint8_t>(type_of(frame)));
    std::visit([&w](const auto& f) { put(w, f); }, frame);
    return w.take();
}

DecodedFrame decode_frame(ByteView bytes) {
    Reader r(bytes);
    auto version = r.u8();
    auto type = r.u8();
    if (r.failed()) return {std::nullopt, FrameError::malformed};
    if (version != protocol_version) return {std::nullopt, FrameError::bad_version};
    auto frame = read_body(static_cast<FrameType>(type), r);
    if (!frame || !r.ok_and_done()) return {std::nullopt, FrameError::malformed};
    return {std::move(frame), FrameError::malformed};
}

std::optional<std::uint64_t> oversized_record_request(ByteView bytes) {
    Reader r(bytes);
    if (r.u8() != protocol_version || r.u8() != static_cast<std::uint8_t>(FrameType::publish)) return std::nullopt;
    const auto id = r.u64();
    (void)r.fixed<hash_bytes>();
    (void)r.fixed<token_bytes>();
    const auto length = r.u32();
    if (r.failed() || length <= max_record_bytes) return std::nullopt;
    return id;
}

const char* to_string(RelayError code) {
    switch (code) {
        case RelayError::malformed: return "malformed frame";
        case RelayError::bad_version: return "unsupported protocol version";
        case RelayError::too_large: return "frame or record too large";
        case RelayError::unknown_chain: return "unknown room or chain";
        case RelayError::not_head: return "record does not extend the current head";
        case RelayError::bad_record: return "record rejected by the relay";
        case RelayError::forbidden: return "access token not valid for the head epoch";
        case RelayError::not_joined: return "not joined (or the epoch changed): join again";
        case RelayError::limit: return "relay limit reached";
        case RelayError::internal: return "relay internal error";
        case RelayError::room_exists: return "the relay already holds another room with this id";
        case RelayError::not_founder: return "this relay lets only its listed founders create rooms";
        case RelayError::quota: return "over a relay quota";
    }
    return "unknown relay error";
}

}  // namespace parley::wire
