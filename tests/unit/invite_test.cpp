// The invite line (docs/PROTOCOL.md §4.1): what create prints and join reads.
#include "protocol/invite.h"

#include <gtest/gtest.h>

namespace parley::protocol {
namespace {

Invite sample() {
    Invite i;
    i.name = "friends";
    i.room.fill(0xab);
    i.genesis.fill(0x01);
    i.server = "wss://relay.example:8443";
    return i;
}

TEST(Invite, FormatsAsOneShellSafeLineAndParsesBack) {
    const auto line = format_invite(sample());
    EXPECT_EQ(line, "parley-invite:1:friends:"
                    "abababababababababababababababababababababababababababababababab:"
                        "0101010101010101010101010101010101010101010101010101010101010101:wss://relay.example:8443");
    for (char c : line) EXPECT_TRUE(std::string(" '\"&;|*?$`\\<>(){}").find(c) == std::string::npos) << c;
    auto parsed = parse_invite(line + "\n");
    ASSERT_TRUE(std::holds_alternative<Invite>(parsed)) << std::get<std::string>(parsed);
    const auto& got = std::get<Invite>(parsed);
    EXPECT_EQ(got.name, "friends");
    EXPECT_EQ(got.room, sample().room);
    EXPECT_EQ(got.genesis, sample().genesis);
    EXPECT_EQ(got.server, "wss://relay.example:8443");
}

TEST(Invite, ABadInviteSaysWhatIsWrong) {
    const auto good = format_invite(sample());
    auto error_of = [](const std::string& text) {
        auto parsed = parse_invite(text);
        return std::holds_alternative<std::string>(parsed) ? std::get<std::string>(parsed) : std::string("accepted");
    };
    EXPECT_NE(error_of("friends").find("not a Parley invite"), std::string::npos);
    EXPECT_NE(error_of("parley-invite:2:friends:x").find("version 2 is not supported"), std::string::npos);
    EXPECT_NE(error_of(good.substr(0, 40)).find("cut short"), std::string::npos);
    std::string upper = good;
    upper[30] = 'A';
    EXPECT_NE(error_of(upper).find("bad room id"), std::string::npos);
    std::string genesis = good;
    genesis[30 + 65] = 'g';
    EXPECT_NE(error_of(genesis).find("bad genesis hash"), std::string::npos);
    EXPECT_NE(error_of(good.substr(0, good.size() - 24) + "http://x:1").find("bad relay address"), std::string::npos);
    EXPECT_NE(error_of(good + ";rm -rf").find("bad relay address"), std::string::npos);
    std::string name = good;
    name.replace(16, 7, "fr end!");
    EXPECT_NE(error_of(name).find("bad room name"), std::string::npos);
    Invite zero = sample();
    zero.room = {};
    EXPECT_NE(error_of(format_invite(zero)).find("names no room"), std::string::npos);
}

TEST(Invite, RoomNamesAreShortPlainWords) {
    EXPECT_TRUE(valid_room_name("friends"));
    EXPECT_TRUE(valid_room_name("book-club_2.0"));
    EXPECT_FALSE(valid_room_name(""));
    EXPECT_FALSE(valid_room_name(".hidden"));
    EXPECT_FALSE(valid_room_name("-flag"));
    EXPECT_FALSE(valid_room_name("two words"));
    EXPECT_FALSE(valid_room_name("a:b"));
    EXPECT_FALSE(valid_room_name(std::string(65, 'a')));
    EXPECT_TRUE(valid_room_name(std::string(64, 'a')));
}

}  // namespace
}  // namespace parley::protocol
