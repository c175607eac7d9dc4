// A PostgreSQL server of the test's own (issue 14): initdb and pg_ctl from
// Debian's postgresql-15 in a temporary folder, listening only on a Unix
// socket in that folder, trust authentication, fsync off (a test's data need
// not survive the machine). PostgreSQL refuses to run as root: as root the
// folder is given to `nobody` and the server started with runuser. Stopped
// (immediate) and removed when the object goes.
#pragma once

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>

namespace parley::relay_test {

class PgServer {
public:
    static constexpr const char* bin_dir = "/usr/lib/postgresql/15/bin";

    PgServer() {
        namespace fs = std::filesystem;
        std::string name = (fs::temp_directory_path() / "parley-pg-XXXXXX").string();
        if (!::mkdtemp(name.data())) return;
        dir_ = name;
        if (::geteuid() == 0) {
            const passwd* nobody = ::getpwnam("nobody");
            if (!nobody || ::chown(dir_.c_str(), nobody->pw_uid, nobody->pw_gid) != 0) return;
            as_ = "runuser -u nobody -- ";
        }
        const std::string data = dir_ + "/data";
        if (!shell(std::string(bin_dir) + "/initdb -D " + data + " -U parley -A trust --no-sync -E UTF8 --no-locale"))
            return;
        // Only the socket in dir_: no TCP port to collide with another test's.
        start_ = std::string(bin_dir) + "/pg_ctl -D " + data + " -l " + dir_ + "/server.log -w -t 60 -o \"-k " + dir_ +
                 " -c listen_addresses='' -c fsync=off -c max_connections=50\" start";
        if (!shell(start_)) return;
        started_ = true;
    }
    ~PgServer() {
        if (started_) shell(std::string(bin_dir) + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop");
        // A server that did not start leaves its folder, for why()'s logs.
        if (started_) std::filesystem::remove_all(dir_);
    }
    PgServer(const PgServer&) = delete;
    PgServer& operator=(const PgServer&) = delete;

    bool started() const { return started_; }
    // What a failed start left: initdb's and the server's messages.
    std::string why() const {
        return dir_.empty() ? "no temporary folder" : "see " + dir_ + "/tools.log and server.log (kept)";
    }
    // A libpq connection string for database `db` (created on first use).
    std::string conninfo(const std::string& db = "postgres") {
        if (db != "postgres" && created_.insert(db).second)
            shell(std::string(bin_dir) + "/createdb -h " + dir_ + " -U parley " + db);
        return "host=" + dir_ + " user=parley dbname=" + db;
    }
    // The same as a postgresql:// URI, which parley-relay --store takes.
    std::string url(const std::string& db) {
        conninfo(db);
        return "postgresql:///" + db + "?host=" + dir_ + "&user=parley";
    }
    // The server stopped (fast: clients' connections are cut) and started again.
    bool stop() { return shell(std::string(bin_dir) + "/pg_ctl -D " + dir_ + "/data -m fast -w -t 60 stop"); }
    bool start() { return shell(start_); }
    // pg_ctl restart: the server goes away and comes back (clients' connections break).
    bool restart() {
        return shell(std::string(bin_dir) + "/pg_ctl -D " + dir_ + "/data -l " + dir_ + "/server.log -m fast -w -t 60 restart");
    }

private:
    bool shell(const std::string& command) {
        // From /: the unprivileged user may not enter the test's working folder.
        return std::system(("cd / && " + as_ + command + " >>" + dir_ + "/tools.log 2>&1").c_str()) == 0;
    }

    std::string dir_;
    std::string as_;     // "runuser -u nobody -- " as root
    std::string start_;  // pg_ctl start, with the server's options
    bool started_ = false;
    std::set<std::string> created_;
};

}  // namespace parley::relay_test
