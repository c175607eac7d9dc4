#include "protocol/invite.h"

#include <sodium.h>

namespace parley::protocol {
namespace {

constexpr std::string_view version = "1";

template <std::size_t N>
bool parse_hex(std::string_view hex, Array<N>& out) {
    if (hex.size() != 2 * N) return false;
    for (char c : hex)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    std::size_t len = 0;
    return sodium_hex2bin(out.data(), N, hex.data(), hex.size(), nullptr, &len, nullptr) == 0 && len == N;
}

template <std::size_t N>
std::string hex(const Array<N>& bytes) {
    std::string out(2 * N + 1, '\0');
    sodium_bin2hex(out.data(), out.size(), bytes.data(), N);
    out.pop_back();
    return out;
}

bool valid_server(std::string_view s) {
    if (!(s.starts_with("ws://") || s.starts_with("wss://")) || s.size() > 255) return false;
    // Shell-safe and printable: the invite is pasted into commands and chats.
    for (char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        c == '.' || c == '-' || c == '_' || c == ':' || c == '/' || c == '[' || c == ']';
        if (!ok) return false;
    }
    return true;
}

}  // namespace

bool valid_room_name(std::string_view name) {
    if (name.empty() || name.size() > max_room_name_bytes || name.front() == '.' || name.front() == '-')
        return false;
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '-' || c == '_';
        if (!ok) return false;
    }
    return true;
}

std::string format_invite(const Invite& invite) {
    return std::string(invite_prefix) + std::string(version) + ":" + invite.name + ":" + hex(invite.room) + ":" +
           hex(invite.genesis) + ":" + invite.server;
}

std::variant<Invite, std::string> parse_invite(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    if (!text.starts_with(invite_prefix))
        return std::string("not a Parley invite (it starts with '") + std::string(invite_prefix) + "')";
    text.remove_prefix(invite_prefix.size());
    auto next = [&text]() -> std::optional<std::string_view> {
        auto colon = text.find(':');
        if (colon == std::string_view::npos) return std::nullopt;
        auto field = text.substr(0, colon);
        text.remove_prefix(colon + 1);
        return field;
    };
    auto ver = next();
    if (!ver) return std::string("the invite is cut short");
    if (*ver != version) return "invite version " + std::string(ver->substr(0, 8)) + " is not supported by this Parley";
    auto name = next();
    auto room = next();
    auto genesis = next();
    if (!name || !room || !genesis) return std::string("the invite is cut short");
    Invite out;
    if (!valid_room_name(*name)) return std::string("bad room name in the invite");
    out.name = std::string(*name);
    if (!parse_hex(*room, out.room)) return std::string("bad room id in the invite (64 lowercase hex digits)");
    if (!parse_hex(*genesis, out.genesis)) return std::string("bad genesis hash in the invite (64 lowercase hex digits)");
    if (out.room == wire::RoomId{} || out.genesis == wire::Hash{}) return std::string("the invite names no room");
    if (!valid_server(text)) return std::string("bad relay address in the invite (ws://HOST:PORT or wss://HOST:PORT)");
    out.server = std::string(text);
    return out;
}

}  // namespace parley::protocol
