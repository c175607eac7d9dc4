// apps/client/screen.h's free functions, apart from the Screen: wrap(),
// mentions(), row_text() and text_columns(), and the DayTracker both chat UIs
// use for day-change lines.
#include <gtest/gtest.h>

#include <clocale>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>

#include "client/screen.h"
#include "screen_test_support.h"

namespace parley::client {
namespace {

using namespace screen_testing;

// wrap() alone: only the locale matters.
class WrapTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_NE(std::setlocale(LC_CTYPE, "C.UTF-8"), nullptr); }
};

TEST_F(WrapTest, IndentsContinuationRowsAndStartsNoneWithABlank) {
    const auto rows = wrap({{"aaaa bbbb cccc dddd", Colour::plain, false}}, 12, 3);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(row_text(rows[0]), "aaaa bbbb ");
    EXPECT_EQ(row_text(rows[1]), "   cccc dddd");
}

TEST_F(WrapTest, KeepsColoursAcrossTheCut) {
    const Row row{{"ab", Colour::member0, true}, {"cdefgh", Colour::mention, true}};
    const auto rows = wrap(row, 4, 1);
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0], (Row{{"ab", Colour::member0, true}, {"cd", Colour::mention, true}}));
    EXPECT_EQ(rows[1], (Row{{" ", Colour::plain, false}, {"efg", Colour::mention, true}}));
    EXPECT_EQ(rows[2], (Row{{" ", Colour::plain, false}, {"h", Colour::mention, true}}));
}

TEST_F(WrapTest, BreaksAtTheLastBlankPastTheFirstQuarterOfTheRow) {
    const Row row{{"name", Colour::member0, true}, {": ", Colour::plain, false}, {"abcdefgh", Colour::plain, false}};
    const auto rows = wrap(row, 8, 2);
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(row_text(rows[0]), "name: ");
    EXPECT_EQ(row_text(rows[1]), "  abcdef");
    EXPECT_EQ(row_text(rows[2]), "  gh");
    // a blank only in the first quarter: the row is cut where it is full instead
    const auto cut = wrap({{"a bcdefghijklmnop", Colour::plain, false}}, 8, 0);
    ASSERT_EQ(cut.size(), 3u);
    EXPECT_EQ(row_text(cut[0]), "a bcdefg");
}

TEST_F(WrapTest, CutsAWordLongerThanTheRow) {
    const auto rows = wrap({{"abcdefghijklmnopqrstuvwxyz", Colour::plain, false}}, 10, 2);
    ASSERT_EQ(rows.size(), 3u);  // 10, then 8 a row after the indent
    EXPECT_EQ(row_text(rows[0]), "abcdefghij");
    EXPECT_EQ(row_text(rows[1]), "  klmnopqr");
    EXPECT_EQ(row_text(rows[2]), "  stuvwxyz");
}

TEST_F(WrapTest, NeverSplitsAWideCharacterNorExceedsTheWidth) {
    const std::string text = "日本語😀テキスト🎉a日本";
    for (std::size_t width = 2; width <= 20; ++width)
        for (std::size_t indent : {0u, 1u, 4u}) {
            const auto rows = wrap({{text, Colour::plain, false}}, width, indent);
            std::string joined;
            for (std::size_t r = 0; r < rows.size(); ++r) {
                const auto t = row_text(rows[r]);
                EXPECT_LE(text_columns(t), width) << width << "/" << indent << ": " << t;
                const auto first = t.find_first_not_of(' ');
                EXPECT_NE(first, std::string::npos) << "a row of blanks only";
                if (first != std::string::npos) joined += t.substr(first);
            }
            EXPECT_EQ(joined, text) << width << "/" << indent;  // nothing lost, no character cut in two
        }
    // An odd width: the row ends a column short rather than with half a character.
    const auto rows = wrap({{"日本語", Colour::plain, false}}, 5, 0);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(row_text(rows[0]), "日本");
    EXPECT_EQ(row_text(rows[1]), "語");
}

TEST_F(WrapTest, DropsAnIndentThatWouldLeaveNoRoom) {
    const auto rows = wrap({{"abcdefgh", Colour::plain, false}}, 4, 2);  // 2 * 2 >= 4: no indent
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(row_text(rows[1]), "efgh");
    EXPECT_TRUE(wrap({{"abc", Colour::plain, false}}, 0, 0).empty());
}

// Fixed bug (wrap): a word that ends exactly at the last column, followed by a blank,
// is moved to the next row although it fits: "aaaa bbbb cccc" at width 9 gives
// "aaaa " / "bbbb cccc" instead of "aaaa bbbb" / "cccc". The break-at-a-blank
// search in wrap() does not check whether the next cell (`it`) is itself a blank.
TEST_F(WrapTest, KeepsAWordThatEndsExactlyAtTheWidthOnItsRow) {
    const auto rows = wrap({{"aaaa bbbb cccc", Colour::plain, false}}, 9, 0);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(row_text(rows[0]), "aaaa bbbb");
    EXPECT_EQ(row_text(rows[1]), "cccc");
}

// Fixed bug (wrap, edge case): at width 1 a wide character still takes a row of its
// own, two columns wide, against the contract "rows of at most `width`
// columns" (render(1, h) then draws a row wider than the terminal).
TEST_F(WrapTest, AtWidthOneNeverMakesARowWiderThanOneColumn) {
    const auto rows = wrap({{"a日b", Colour::plain, false}}, 1, 0);
    for (const auto& r : rows) EXPECT_LE(text_columns(row_text(r)), 1u) << row_text(r);
}

// --- mentions, row_text, text_columns -------------------------------------

TEST(MentionsTest, AWordInAnyCaseOrWithAnAt) {
    EXPECT_TRUE(mentions("alice", "alice"));
    EXPECT_TRUE(mentions("hi Alice!", "alice"));
    EXPECT_TRUE(mentions("HEY ALICE, look", "alice"));
    EXPECT_TRUE(mentions("@alice can you", "alice"));
    EXPECT_TRUE(mentions("ping:alice.", "alice"));
    EXPECT_TRUE(mentions("alice's turn", "alice"));
    EXPECT_TRUE(mentions("for malice and for alice", "alice"));  // the second one is a word
    EXPECT_TRUE(mentions("hi bob-smith", "bob-smith"));
}

TEST(MentionsTest, NotInsideAnotherWord) {
    EXPECT_FALSE(mentions("malice", "alice"));
    EXPECT_FALSE(mentions("alicea", "alice"));
    EXPECT_FALSE(mentions("alice_b", "alice"));
    EXPECT_FALSE(mentions("alice-b", "alice"));
    EXPECT_FALSE(mentions("x-alice", "alice"));
    EXPECT_FALSE(mentions("alice2", "alice"));
    EXPECT_FALSE(mentions("éalice", "alice"));  // a letter outside ASCII is part of the word
    EXPECT_FALSE(mentions("ali", "alice"));
    EXPECT_FALSE(mentions("", "alice"));
    EXPECT_FALSE(mentions("anything", ""));
}

TEST_F(WrapTest, RowTextJoinsTheSpansAndTextColumnsCountsColumnsNotBytes) {
    EXPECT_EQ(row_text({{"06:13 ", Colour::dim, false}, {"bob", Colour::member0, true}, {": hi", Colour::plain, false}}),
              "06:13 bob: hi");
    EXPECT_EQ(row_text({}), "");
    EXPECT_EQ(text_columns("abc"), 3u);
    EXPECT_EQ(text_columns("日本"), 4u);
    EXPECT_EQ(text_columns("😀a"), 3u);
    EXPECT_EQ(text_columns("e\xcc\x81"), 1u);  // e and a combining acute accent
    EXPECT_EQ(text_columns(""), 0u);
}

// The line UI (chat.cpp's LineView) and the Screen put day lines where DayTracker says.
class DayTrackerTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (const char* tz = std::getenv("TZ")) old_tz_ = tz;
        ::setenv("TZ", "UTC", 1);
        ::tzset();
    }
    void TearDown() override {
        if (old_tz_)
            ::setenv("TZ", old_tz_->c_str(), 1);
        else
            ::unsetenv("TZ");
        ::tzset();
    }

private:
    std::optional<std::string> old_tz_;
};

TEST_F(DayTrackerTest, DatesTheFirstOldLineAndEachChangeButNotTheSameDay) {
    DayTracker days;
    auto first = days.before(message("bob", "old", monday));
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(*first, "--- Monday 10 June 2024 ---");
    EXPECT_FALSE(days.before(message("bob", "same day", monday_evening)).has_value());
    EXPECT_FALSE(days.before(make_line(ChatLine::Kind::notice, "a notice has no date")).has_value());
    auto next = days.before(message("bob", "next day", monday + day_ms));
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(*next, "--- Tuesday 11 June 2024 ---");
}

TEST_F(DayTrackerTest, TodaysFirstLineNeedsNoDate) {
    DayTracker days;
    const auto now = static_cast<std::uint64_t>(std::time(nullptr)) * 1000;
    EXPECT_FALSE(days.before(message("bob", "now", now)).has_value());
}

}  // namespace
}  // namespace parley::client
