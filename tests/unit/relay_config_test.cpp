// config/relay_config.h: relay.toml applied to a CLI11 app the way
// parley-relay's main() does, with options of each kind it has.
#include "config/relay_config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "test_support.h"

using namespace parley::config;

namespace {

class RelayConfigTest : public ::testing::Test {
protected:
    RelayConfigTest() {
        app_.add_option("--listen", listen_);
        app_.add_option("--data", data_);
        app_.add_option("--threads", threads_)->check(CLI::Range(1u, 1024u));
        app_.add_option("--sync", sync_)->check(CLI::IsMember({"normal", "full"}));
        app_.add_option("--messages-per-second", rate_);
        app_.add_flag("--open-rooms", open_rooms_);
        app_.add_option("--backup", backup_);
    }

    std::filesystem::path write(const std::string& text) {
        auto path = dir_.path() / "relay.toml";
        std::ofstream(path, std::ios::binary) << text;
        return path;
    }
    // Parses `argv` (after the program name), then applies `text`.
    void run(const std::vector<std::string>& argv, const std::string& text) {
        std::vector<const char*> args{"parley-relay"};
        for (const auto& a : argv) args.push_back(a.c_str());
        app_.parse(static_cast<int>(args.size()), args.data());
        apply_relay_config(app_, write(text), {{"data"}, {"backup", "config"}});
    }
    std::string error_of(const std::string& text, const std::vector<std::string>& argv = {}) {
        try {
            run(argv, text);
        } catch (const ConfigError& e) {
            return e.what();
        }
        return "";
    }

    parley::test::TempDir dir_;
    CLI::App app_;
    std::string listen_, data_, sync_ = "normal", backup_;
    unsigned threads_ = 1;
    double rate_ = 200;
    bool open_rooms_ = false;
};

TEST_F(RelayConfigTest, SetsEveryKindOfOption) {
    run({}, "# the relay\nlisten = \"0.0.0.0:8443\"\nthreads = 2\nsync = \"full\"\n"
            "messages-per-second = 0.5\nopen-rooms = true\ndata = \"/var/lib/parley-relay\"\n");
    EXPECT_EQ(listen_, "0.0.0.0:8443");
    EXPECT_EQ(threads_, 2u);
    EXPECT_EQ(sync_, "full");
    EXPECT_DOUBLE_EQ(rate_, 0.5);
    EXPECT_TRUE(open_rooms_);
    EXPECT_EQ(data_, "/var/lib/parley-relay");
}

TEST_F(RelayConfigTest, TheCommandLineWins) {
    run({"--threads", "4", "--listen", "127.0.0.1:1"}, "threads = 2\nlisten = \"0.0.0.0:8443\"\nsync = \"full\"\n");
    EXPECT_EQ(threads_, 4u);
    EXPECT_EQ(listen_, "127.0.0.1:1");
    EXPECT_EQ(sync_, "full") << "what the command line left out still comes from the file";
}

TEST_F(RelayConfigTest, ARelativePathIsFromTheFilesFolder) {
    run({}, "data = \"state\"\n");
    EXPECT_EQ(data_, (dir_.path() / "state").string());
}

TEST_F(RelayConfigTest, ErrorsNameTheFileAndTheLine) {
    const std::string file = (dir_.path() / "relay.toml").string();
    auto e = error_of("listen = \"0.0.0.0:8443\"\nlisten-on = \"x\"\n");
    EXPECT_NE(e.find(file + ":2: unknown setting 'listen-on'"), std::string::npos) << e;
    e = error_of("\n\nthreads = 0\n");
    EXPECT_NE(e.find(file + ":3: threads"), std::string::npos) << e;
    e = error_of("sync = \"sometimes\"\n");
    EXPECT_NE(e.find(file + ":1: sync"), std::string::npos) << e;
    e = error_of("threads = \"two\"\n");
    EXPECT_NE(e.find(file + ":1: threads"), std::string::npos) << e;
    e = error_of("open-rooms = 1\n");
    EXPECT_NE(e.find(file + ":1: open-rooms takes true or false"), std::string::npos) << e;
    e = error_of("threads = true\n");
    EXPECT_NE(e.find(file + ":1: threads takes a number or a string"), std::string::npos) << e;
    e = error_of("threads = 2\nthreads = 3\n");
    EXPECT_NE(e.find(file + ":2"), std::string::npos) << "a setting given twice: " << e;
}

TEST_F(RelayConfigTest, WhatNoFileMaySetIsUnknown) {
    auto e = error_of("backup = \"/tmp/x\"\n");
    EXPECT_NE(e.find(":1: unknown setting 'backup'"), std::string::npos) << e;
    e = error_of("config = \"other.toml\"\n");
    EXPECT_NE(e.find(":1: unknown setting 'config'"), std::string::npos) << e;
}

TEST_F(RelayConfigTest, OnlyPlainValuesAreRead) {
    for (const char* text : {"threads = 0x10\n", "threads = 1_000\n", "threads = 012\n", "listen = [\"a\"]\n",
                             "[relay]\nlisten = \"a\"\n", "when = 2026-12-02\n", "threads = 2 3\n",
                             "listen = \"\"\"x\"\"\"\n", "threads = inf\n", "open-rooms = True\n"}) {
        auto e = error_of(text);
        EXPECT_NE(e.find("relay.toml:"), std::string::npos) << text << " -> " << e;
    }
}

TEST_F(RelayConfigTest, AMissingFileIsAnError) {
    app_.parse(std::vector<std::string>{});
    try {
        apply_relay_config(app_, dir_.path() / "nope.toml", {});
        FAIL() << "no error";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("nope.toml: no such file"), std::string::npos) << e.what();
    }
}

TEST(TomlSettings, NumbersAndBooleansOnlyWhereTheFormatHasThem) {
    EXPECT_THROW(read_settings("port = 8443\n", "parley.toml", {"parley.toml", false}), ConfigError);
    auto settings = read_settings("b = true\na = 8443\nc = -1.5e3\n", "relay.toml", {"relay.toml", true});
    ASSERT_EQ(settings.size(), 3u);
    EXPECT_EQ(settings[0].key, "b") << "in file order";
    EXPECT_EQ(settings[0].kind, Setting::Kind::boolean);
    EXPECT_EQ(settings[1].text, "8443");
    EXPECT_EQ(settings[1].kind, Setting::Kind::integer);
    EXPECT_EQ(settings[2].kind, Setting::Kind::floating);
    EXPECT_EQ(std::stod(settings[2].text), -1500.0);
    EXPECT_EQ(settings[2].line, 3u);
}

// fuzz_config found it: TOML allows a quoted empty name.
TEST(TomlSettings, AnEmptyNameIsAnError) {
    for (const Format format : {Format{"parley.toml", false}, Format{"relay.toml", true}}) {
        try {
            read_settings("''='AQ' ", "f.toml", format);
            FAIL() << "accepted";
        } catch (const ConfigError& e) {
            EXPECT_NE(std::string(e.what()).find("f.toml:1: a setting's name is empty"), std::string::npos) << e.what();
        }
    }
}

}  // namespace
