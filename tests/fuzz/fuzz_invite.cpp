// parse_invite on anything: an invite or a message, nothing else; an invite it
// returns has a valid name, non-zero ids and a shell-safe relay address, and
// formats back to the line it was read from (less surrounding blanks).
#include "fuzz_support.h"
#include "protocol/invite.h"

using namespace parley;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::init_deterministic();
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto parsed = protocol::parse_invite(text);
    if (auto* why = std::get_if<std::string>(&parsed)) {
        FUZZ_CHECK(!why->empty());
        return 0;
    }
    const auto& invite = std::get<protocol::Invite>(parsed);
    FUZZ_CHECK(protocol::valid_room_name(invite.name));
    FUZZ_CHECK(invite.room != wire::RoomId{} && invite.genesis != wire::Hash{});
    for (char c : invite.server) FUZZ_CHECK(c > 0x20 && c < 0x7f && c != '\'' && c != '"' && c != ';' && c != '&');
    const auto again = protocol::format_invite(invite);
    FUZZ_CHECK(text.find(again) != std::string_view::npos);
    auto reparsed = protocol::parse_invite(again);
    FUZZ_CHECK(std::holds_alternative<protocol::Invite>(reparsed));
    return 0;
}
