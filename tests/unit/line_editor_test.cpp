// apps/client/line_editor.h: the chat's input line, without a terminal.
#include "client/line_editor.h"

#include <gtest/gtest.h>

#include <clocale>

namespace parley::client {
namespace {

using K = LineEditor::Key;

class LineEditorTest : public ::testing::Test {
protected:
    // wcwidth needs a UTF-8 locale to know wide characters.
    void SetUp() override { ASSERT_NE(std::setlocale(LC_CTYPE, "C.UTF-8"), nullptr); }
    LineEditor ed;
};

TEST_F(LineEditorTest, EditsInTheMiddleWithArrowsHomeAndEnd) {
    ed.insert("helo");
    ed.key(K::left);
    ed.insert("l");
    EXPECT_EQ(ed.text(), "hello");
    ed.key(K::home);
    ed.insert(">");
    ed.key(K::end);
    ed.insert("!");
    EXPECT_EQ(ed.text(), ">hello!");
    ed.key(K::home);
    ed.key(K::del);
    EXPECT_EQ(ed.text(), "hello!");
    EXPECT_EQ(ed.key(K::enter), "hello!");
    EXPECT_EQ(ed.text(), "");
}

TEST_F(LineEditorTest, MovesAndDeletesWholeUtf8Characters) {
    ed.insert("añ😀b");
    ed.key(K::left);                 // before b
    ed.key(K::backspace);            // the emoji, all 4 bytes
    EXPECT_EQ(ed.text(), "añb");
    ed.key(K::left);
    EXPECT_EQ(ed.cursor(), 1u);      // before ñ (2 bytes)
    ed.key(K::del);
    EXPECT_EQ(ed.text(), "ab");
}

TEST_F(LineEditorTest, KillKeysAsReadline) {
    ed.insert("one two  three");
    ed.key(K::kill_word);
    EXPECT_EQ(ed.text(), "one two  ");
    ed.key(K::kill_word);  // spaces before the cursor, then the word
    EXPECT_EQ(ed.text(), "one ");
    ed.insert("four five");
    for (int i = 0; i < 5; ++i) ed.key(K::left);
    ed.key(K::kill_to_end);
    EXPECT_EQ(ed.text(), "one four");
    ed.key(K::left);
    ed.key(K::kill_to_start);
    EXPECT_EQ(ed.text(), "r");
    EXPECT_EQ(ed.cursor(), 0u);
}

TEST_F(LineEditorTest, HistoryUpAndDownKeepsTheDraft) {
    ed.insert("first");
    ed.key(K::enter);
    ed.insert("second");
    ed.key(K::enter);
    ed.insert("second");
    ed.key(K::enter);  // the same line twice is kept once
    ed.insert("draft");
    ed.key(K::up);
    EXPECT_EQ(ed.text(), "second");
    ed.key(K::up);
    EXPECT_EQ(ed.text(), "first");
    ed.key(K::up);  // nothing older
    EXPECT_EQ(ed.text(), "first");
    ed.key(K::down);
    ed.key(K::down);
    EXPECT_EQ(ed.text(), "draft");
    EXPECT_EQ(ed.cursor(), 5u);
}

TEST_F(LineEditorTest, ControlCharactersInAPasteAreDropped) {
    ed.insert("a\x1b[31mb\tc\x07");
    EXPECT_EQ(ed.text(), "a[31mb c");
}

TEST_F(LineEditorTest, ALongLineScrollsSidewaysToKeepTheCursorInView) {
    const std::string long_line(300, 'x');
    ed.insert(long_line);
    auto v = ed.view(40);
    EXPECT_EQ(v.text.size(), 39u);  // the last column stays free for the cursor
    EXPECT_EQ(v.column, 39u);
    ed.key(K::home);
    v = ed.view(40);
    EXPECT_EQ(v.column, 0u);
    EXPECT_EQ(v.text.size(), 39u);
    ed.insert("A");
    EXPECT_EQ(ed.view(40).text.substr(0, 2), "Ax");
}

TEST_F(LineEditorTest, WideCharactersTakeTwoColumns) {
    ed.insert("日本語");  // three characters, six columns
    auto v = ed.view(80);
    EXPECT_EQ(v.column, 6u);
    EXPECT_EQ(v.text, "日本語");
    v = ed.view(5);  // room for 4 columns: the last two characters
    EXPECT_EQ(v.text, "本語");
    EXPECT_EQ(v.column, 4u);
    EXPECT_EQ(char_width("😀", 0).columns, 2u);
    EXPECT_EQ(char_width("\xe2", 0).bytes, 1u);  // a cut character: one byte, one column
}

TEST_F(LineEditorTest, APasteWithoutALineEndStaysInTheLine) {
    ed.insert("say ");
    EXPECT_TRUE(ed.paste("héllo wörld").empty());
    EXPECT_EQ(ed.text(), "say héllo wörld");
    EXPECT_EQ(ed.cursor(), ed.text().size());
}

TEST_F(LineEditorTest, APastesFirstLineCompletesWhatIsBeingTyped) {
    ed.insert("I said: ");
    const auto lines = ed.paste("first\nsecond\nthird");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0], "I said: first");
    EXPECT_EQ(lines[1], "second");
    EXPECT_EQ(ed.text(), "third");  // no line end after it: still being typed
    EXPECT_EQ(ed.cursor(), 5u);
}

TEST_F(LineEditorTest, APasteEndsLinesAtCarriageReturnOrLineFeedAndDropsEmptyOnes) {
    const auto lines = ed.paste("one\r\ntwo\rthree\n\n\n\r\nfour\n");
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_EQ(lines[0], "one");
    EXPECT_EQ(lines[1], "two");
    EXPECT_EQ(lines[2], "three");
    EXPECT_EQ(lines[3], "four");
    EXPECT_EQ(ed.text(), "");
    EXPECT_EQ(ed.cursor(), 0u);
}

TEST_F(LineEditorTest, APasteOfOnlyLineEndsSendsNothing) {
    EXPECT_TRUE(ed.paste("\n\r\n\r").empty());
    EXPECT_EQ(ed.text(), "");
}

TEST_F(LineEditorTest, APasteInTheMiddleOfALineSendsTheWholeLine) {
    ed.insert("hello world");
    for (int i = 0; i < 6; ++i) ed.key(K::left);  // after "hello"
    const auto lines = ed.paste(",\nnext");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0], "hello, world");  // what was after the cursor goes with its line
    EXPECT_EQ(ed.text(), "next");
}

TEST_F(LineEditorTest, APasteDropsControlCharactersAndTurnsTabsIntoBlanks) {
    const auto lines = ed.paste("a\x1b[31mb\tc\x07\nd\x03" "e");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0], "a[31mb c");
    EXPECT_EQ(ed.text(), "de");
}

TEST_F(LineEditorTest, PastedLinesGoIntoTheInputHistory) {
    ed.paste("alpha\nbeta\ngam");
    ed.key(K::up);
    EXPECT_EQ(ed.text(), "beta");
    ed.key(K::up);
    EXPECT_EQ(ed.text(), "alpha");
    ed.key(K::down);
    ed.key(K::down);
    EXPECT_EQ(ed.text(), "gam");  // the rest of the paste is the draft
}

TEST_F(LineEditorTest, ALongPastedLineIsKeptWholeAndItsViewFitsTheField) {
    const std::string long_line(5000, 'z');
    const auto lines = ed.paste(long_line + "\n" + "日本語😀");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0], long_line);
    EXPECT_EQ(ed.text(), "日本語😀");
    const auto v = ed.view(9);  // eight columns of room: four wide characters
    EXPECT_EQ(v.text, "日本語😀");
    EXPECT_EQ(v.column, 8u);
}

}  // namespace
}  // namespace parley::client
