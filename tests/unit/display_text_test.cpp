// protocol/display_text.h: what a terminal may be shown of a member's text.
#include <gtest/gtest.h>

#include "protocol/display_text.h"

namespace parley::protocol {
namespace {

TEST(DisplayText, KeepsPlainAndInternationalText) {
    EXPECT_EQ(display_text("hello, bob"), "hello, bob");
    EXPECT_EQ(display_text("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82");
}

TEST(DisplayText, NeutralisesEscapeSequencesAndControls) {
    auto shown = display_text("\x1b[31mred\x1b[0m\x07\r\n\x7f");
    EXPECT_EQ(shown.find('\x1b'), std::string::npos);
    EXPECT_EQ(shown.find('\x07'), std::string::npos);
    EXPECT_EQ(shown.find('\r'), std::string::npos);
    EXPECT_EQ(shown, "?[31mred?[0m????");
}

TEST(DisplayText, NeutralisesC1ControlsIncludingCsi) {
    // U+009B (CSI) encoded in UTF-8 is C2 9B
    EXPECT_EQ(display_text("a\xc2\x9b" "31mb"), "a?31mb");
}

TEST(DisplayText, DropsBidiOverridesAndZeroWidthCharacters) {
    // U+202E RIGHT-TO-LEFT OVERRIDE, U+2066 LRI, U+200B ZERO WIDTH SPACE, U+FEFF
    EXPECT_EQ(display_text("a\xe2\x80\xae" "b\xe2\x81\xa6" "c\xe2\x80\x8b" "d\xef\xbb\xbf"), "abcd");
}

TEST(DisplayText, ReplacesInvalidUtf8) {
    const std::string fffd = "\xef\xbf\xbd";
    EXPECT_EQ(display_text("a\xff" "b"), "a" + fffd + "b");
    EXPECT_EQ(display_text("\xc0\xaf"), fffd + fffd) << "overlong encoding";
    EXPECT_EQ(display_text("\xed\xa0\x80"), fffd + fffd + fffd) << "surrogate";
    EXPECT_EQ(display_text("\xe2\x82"), fffd + fffd) << "truncated";
}

}  // namespace
}  // namespace parley::protocol
