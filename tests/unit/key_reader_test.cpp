// apps/client/key_reader.h: terminal bytes turned into keys, without a terminal.
#include "client/key_reader.h"

#include <gtest/gtest.h>

#include <clocale>
#include <string>
#include <string_view>
#include <vector>

namespace parley::client {
namespace {

using K = LineEditor::Key;
using Kind = KeyEvent::Kind;

class KeyReaderTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_NE(std::setlocale(LC_CTYPE, "C.UTF-8"), nullptr); }

    // Every key the bytes make, in order.
    std::vector<KeyEvent> feed(std::string_view bytes) {
        std::vector<KeyEvent> keys;
        for (char c : bytes)
            if (auto k = reader.feed(c)) keys.push_back(std::move(*k));
        return keys;
    }
    // The bytes make exactly one key: that one.
    KeyEvent one(std::string_view bytes) {
        auto keys = feed(bytes);
        EXPECT_EQ(keys.size(), 1u) << "bytes: " << ::testing::PrintToString(std::string(bytes));
        return keys.empty() ? KeyEvent{} : keys.front();
    }
    void expect_edit(std::string_view bytes, K key) {
        const auto k = one(bytes);
        EXPECT_EQ(k.kind, Kind::edit) << ::testing::PrintToString(std::string(bytes));
        EXPECT_EQ(k.edit, key) << ::testing::PrintToString(std::string(bytes));
    }
    void expect_kind(std::string_view bytes, Kind kind) {
        EXPECT_EQ(one(bytes).kind, kind) << ::testing::PrintToString(std::string(bytes));
    }

    KeyReader reader;
};

TEST_F(KeyReaderTest, ArrowKeysInBothCsiAndSs3Form) {
    expect_edit("\x1b[A", K::up);
    expect_edit("\x1b[B", K::down);
    expect_edit("\x1b[C", K::right);
    expect_edit("\x1b[D", K::left);
    expect_edit("\x1bOA", K::up);
    expect_edit("\x1bOB", K::down);
    expect_edit("\x1bOC", K::right);
    expect_edit("\x1bOD", K::left);
}

TEST_F(KeyReaderTest, HomeAndEndInEveryVariantTerminalsSend) {
    for (const char* home : {"\x1b[H", "\x1bOH", "\x1b[1~", "\x1b[7~"}) expect_edit(home, K::home);
    for (const char* end : {"\x1b[F", "\x1bOF", "\x1b[4~", "\x1b[8~"}) expect_edit(end, K::end);
}

TEST_F(KeyReaderTest, DeleteAndPageKeys) {
    expect_edit("\x1b[3~", K::del);
    expect_kind("\x1b[5~", Kind::page_up);
    expect_kind("\x1b[6~", Kind::page_down);
}

TEST_F(KeyReaderTest, AltDigitsCarryTheirDigit) {
    for (char d = '0'; d <= '9'; ++d) {
        const auto k = one(std::string{'\x1b', d});
        EXPECT_EQ(k.kind, Kind::alt_digit);
        EXPECT_EQ(k.digit, d - '0');
    }
}

TEST_F(KeyReaderTest, ControlKeysMapToEditingAndWindowKeys) {
    expect_edit("\x01", K::home);           // Ctrl-A
    expect_edit("\x05", K::end);            // Ctrl-E
    expect_edit("\x02", K::left);           // Ctrl-B
    expect_edit("\x06", K::right);          // Ctrl-F
    expect_edit("\x0b", K::kill_to_end);    // Ctrl-K
    expect_edit("\x15", K::kill_to_start);  // Ctrl-U
    expect_edit("\x17", K::kill_word);      // Ctrl-W
    expect_kind("\x03", Kind::interrupt);   // Ctrl-C
    expect_kind("\x04", Kind::ctrl_d);      // Ctrl-D
    expect_kind("\x0e", Kind::next_window);      // Ctrl-N
    expect_kind("\x10", Kind::previous_window);  // Ctrl-P
    expect_kind("\x0c", Kind::redraw);           // Ctrl-L
}

TEST_F(KeyReaderTest, EnterIsCarriageReturnOrLineFeedAndBackspaceIsDelOrCtrlH) {
    expect_kind("\r", Kind::enter);
    expect_kind("\n", Kind::enter);
    expect_edit("\x7f", K::backspace);
    expect_edit("\x08", K::backspace);
}

TEST_F(KeyReaderTest, PrintableBytesAreTextOneByteAtATime) {
    const std::string typed = "hé 😀\t";
    const auto keys = feed(typed);
    ASSERT_EQ(keys.size(), typed.size());  // every byte of the UTF-8 is its own text key
    std::string joined;
    for (const auto& k : keys) {
        EXPECT_EQ(k.kind, Kind::text);
        EXPECT_EQ(k.text.size(), 1u);
        joined += k.text;
    }
    EXPECT_EQ(joined, typed);  // the tab too
}

TEST_F(KeyReaderTest, OtherControlBytesAreDropped) {
    for (char c : std::string_view("\x00\x07\x0f\x11\x12\x13\x14\x16\x18\x19\x1a\x1c\x1d\x1e\x1f", 15))
        EXPECT_FALSE(reader.feed(c).has_value()) << "byte " << static_cast<int>(c);
    // and nothing was left half read: a plain letter is a letter
    const auto k = one("x");
    EXPECT_EQ(k.kind, Kind::text);
    EXPECT_EQ(k.text, "x");
}

TEST_F(KeyReaderTest, UnknownSequencesAreIgnoredAndTheNextKeyStillWorks) {
    // F5, Ctrl-Right (parameters before the final byte), Insert, F1 in SS3 form.
    const auto keys = feed("\x1b[15~\x1b[1;5C\x1b[2~\x1bOPz");
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_EQ(keys[0].kind, Kind::text);
    EXPECT_EQ(keys[0].text, "z");
}

TEST_F(KeyReaderTest, AltLetterAndALoneEscapeAreIgnored) {
    EXPECT_TRUE(feed("\x1b" "b").empty());  // Alt-b
    const auto keys = feed("\x1b\x1b[A");   // a lone ESC, then Up
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_EQ(keys[0].kind, Kind::edit);
    EXPECT_EQ(keys[0].edit, K::up);
}

TEST_F(KeyReaderTest, AnOverlongSequenceIsDroppedAndReadingRecovers) {
    // Parameters that never end: after the bound the reader is back to plain bytes.
    feed("\x1b[" + std::string(40, ';'));
    const auto k = one("\x1b[D");
    EXPECT_EQ(k.kind, Kind::edit);
    EXPECT_EQ(k.edit, K::left);
}

// Fixed bug (KeyReader::feed, minor): a sequence over max_sequence_bytes (16) is
// "dropped" only up to the bound: the reader goes back to plain bytes in the
// middle of it, so the rest of its parameters and its final byte arrive as
// typed text. ESC [ and twenty '1's and '~' give the text keys "1", "1", "1",
// "~" (expected: none). A long terminal reply such as xterm's device
// attributes "ESC [ ? 64;1;2;6;9;15;18;21;22 c" would land in the input line.
TEST_F(KeyReaderTest, AnOverlongSequenceLeavesNoTextBehind) {
    const auto keys = feed("\x1b[" + std::string(20, '1') + "~");
    EXPECT_TRUE(keys.empty()) << keys.size() << " keys, the first: " << (keys.empty() ? "" : keys[0].text);
    EXPECT_TRUE(feed("\x1b[?64;1;2;6;9;15;18;21;22c").empty());
}

TEST_F(KeyReaderTest, KeysArriveOnlyWhenTheWholeSequenceIsIn) {
    EXPECT_FALSE(reader.feed('\x1b').has_value());
    EXPECT_FALSE(reader.feed('[').has_value());
    EXPECT_FALSE(reader.feed('3').has_value());
    const auto k = reader.feed('~');
    ASSERT_TRUE(k.has_value());
    EXPECT_EQ(k->kind, Kind::edit);
    EXPECT_EQ(k->edit, K::del);
}

TEST_F(KeyReaderTest, ABracketedPasteIsOneEventWithItsBytesAsTyped) {
    const auto keys = feed("\x1b[200~first line\rsecond\nthird\x1b[201~");
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_EQ(keys[0].kind, Kind::paste);
    EXPECT_EQ(keys[0].text, "first line\rsecond\nthird");
}

TEST_F(KeyReaderTest, BytesInsideAPasteAreNeverKeys) {
    // Ctrl-C, Ctrl-D, an arrow, Enter, Backspace, an Alt-digit and a page key inside a paste: all text.
    const std::string inside = "a\x03" "b\x04\x1b[A\r\x7f\x1b" "1\x1b[5~z";
    const auto keys = feed("\x1b[200~" + inside + "\x1b[201~");
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_EQ(keys[0].kind, Kind::paste);
    EXPECT_EQ(keys[0].text, inside);
}

TEST_F(KeyReaderTest, APartOfTheEndMarkInsideAPasteStaysText) {
    const auto keys = feed("\x1b[200~a\x1b[201x\x1b[20b\x1b[201~");
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_EQ(keys[0].text, "a\x1b[201x\x1b[20b");
}

TEST_F(KeyReaderTest, AnEmptyPasteIsAnEmptyPasteEvent) {
    const auto keys = feed("\x1b[200~\x1b[201~");
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_EQ(keys[0].kind, Kind::paste);
    EXPECT_EQ(keys[0].text, "");
}

TEST_F(KeyReaderTest, KeysAfterAPasteAreKeysAgain) {
    const auto keys = feed("\x1b[200~pasted\x1b[201~\x1b[Bq\r");
    ASSERT_EQ(keys.size(), 4u);
    EXPECT_EQ(keys[0].kind, Kind::paste);
    EXPECT_EQ(keys[1].kind, Kind::edit);
    EXPECT_EQ(keys[1].edit, K::down);
    EXPECT_EQ(keys[2].kind, Kind::text);
    EXPECT_EQ(keys[2].text, "q");
    EXPECT_EQ(keys[3].kind, Kind::enter);
}

TEST_F(KeyReaderTest, TwoPastesInARowAreTwoEvents) {
    const auto keys = feed("\x1b[200~one\x1b[201~\x1b[200~two\x1b[201~");
    ASSERT_EQ(keys.size(), 2u);
    EXPECT_EQ(keys[0].text, "one");
    EXPECT_EQ(keys[1].text, "two");
}

TEST_F(KeyReaderTest, APasteOfExactlyTheBoundIsKeptWhole) {
    std::string body(KeyReader::max_paste_bytes - 1, 'x');
    body.push_back('y');
    const auto keys = feed("\x1b[200~" + body + "\x1b[201~");
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_EQ(keys[0].text.size(), KeyReader::max_paste_bytes);
    EXPECT_EQ(keys[0].text, body);
}

TEST_F(KeyReaderTest, APasteOverTheBoundIsCutToTheBound) {
    for (std::size_t over : {1u, 3u, 6u, 1000u}) {
        KeyReader r;
        std::optional<KeyEvent> got;
        std::size_t events = 0;
        auto put = [&](std::string_view bytes) {
            for (char c : bytes)
                if (auto k = r.feed(c)) {
                    got = std::move(k);
                    ++events;
                }
        };
        put("\x1b[200~");
        put(std::string(KeyReader::max_paste_bytes, 'x'));
        put(std::string(over, 'y'));  // beyond the bound: dropped
        put("\x1b[201~");
        ASSERT_EQ(events, 1u) << "over " << over;
        ASSERT_EQ(got->kind, Kind::paste);
        EXPECT_EQ(got->text.size(), KeyReader::max_paste_bytes) << "over " << over;
        EXPECT_EQ(got->text.find_first_not_of('x'), std::string::npos) << "over " << over;
        // the reader is back to keys
        const auto after = r.feed('\r');
        ASSERT_TRUE(after.has_value());
        EXPECT_EQ(after->kind, Kind::enter);
    }
}

}  // namespace
}  // namespace parley::client
