// crypto/key_file.h: PEM key files, permissions, foreign key types, and the
// key ids and fingerprints derived from them.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>

#include <cstdlib>
#include <fstream>
#include <regex>

#include "crypto/key_file.h"
#include "test_support.h"

namespace parley::crypto {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void spit(const fs::path& p, std::string_view text) {
    std::ofstream out(p, std::ios::binary);
    out << text;
}

mode_t mode_of(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return 0;
    return st.st_mode & 0777;
}

// Runs a shell command quietly; true on exit status 0.
bool run(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()) == 0; }

std::string message_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const KeyFileError& e) {
        return e.what();
    }
    return "";
}

TEST(KeyFile, GeneratedKeysRoundTripThroughFiles) {
    TempDir dir;
    auto id = test::new_identity();
    write_key_files(id, dir / "alice.pem", dir / "alice.pub.pem");

    auto loaded = load_private_key(dir / "alice.pem");
    EXPECT_EQ(loaded.public_key, id.public_key);
    EXPECT_TRUE(loaded.secret.equals(id.secret));
    EXPECT_EQ(load_public_key(dir / "alice.pub.pem"), id.public_key);
}

TEST(KeyFile, LoadedKeySignsWhatTheOriginalVerifies) {
    TempDir dir;
    auto id = test::new_identity();
    write_key_files(id, dir / "a.pem", dir / "a.pub");
    auto loaded = load_private_key(dir / "a.pem");
    const Bytes msg{1, 2, 3};
    EXPECT_TRUE(verify(id.public_key, sign(loaded.secret, msg), msg));
}

TEST(KeyFile, WritesThePrivateFileMode0600AndThePublicFile0644) {
    TempDir dir;
    write_key_files(test::new_identity(), dir / "a.pem", dir / "a.pub");
    EXPECT_EQ(mode_of(dir / "a.pem"), 0600u);
    EXPECT_EQ(mode_of(dir / "a.pub"), 0644u);
}

TEST(KeyFile, WritesStandardPemHeaders) {
    TempDir dir;
    write_key_files(test::new_identity(), dir / "a.pem", dir / "a.pub");
    EXPECT_NE(slurp(dir / "a.pem").find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
    EXPECT_NE(slurp(dir / "a.pub").find("-----BEGIN PUBLIC KEY-----"), std::string::npos);
}

TEST(KeyFile, RefusesToOverwriteEitherFile) {
    TempDir dir;
    auto first = test::new_identity();
    write_key_files(first, dir / "a.pem", dir / "a.pub");
    const auto private_before = slurp(dir / "a.pem");

    EXPECT_THROW(write_key_files(test::new_identity(), dir / "a.pem", dir / "b.pub"), KeyFileError);
    EXPECT_THROW(write_key_files(test::new_identity(), dir / "b.pem", dir / "a.pub"), KeyFileError);
    EXPECT_EQ(slurp(dir / "a.pem"), private_before);
    EXPECT_FALSE(fs::exists(dir / "b.pem"));
    EXPECT_EQ(load_private_key(dir / "a.pem").public_key, first.public_key);
    auto msg = message_of([&] { write_key_files(test::new_identity(), dir / "a.pem", dir / "c.pub"); });
    EXPECT_NE(msg.find("already exists"), std::string::npos) << msg;
}

TEST(KeyFile, AFileThatCannotBeWrittenWholeIsNotLeftHalfWritten) {
    // A full disk, played with RLIMIT_FSIZE: the write fails part way (EFBIG).
    // The half-written key must not stay, or the next try would meet it as
    // "already exists" (and a half key file is no key).
    TempDir dir;
    const auto identity = test::new_identity();
    struct rlimit before {};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &before), 0);
    auto* old_handler = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = before;
    small.rlim_cur = 16;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    const auto said = message_of([&] { write_private_key_file(identity, dir / "k.pem", ""); });
    ::setrlimit(RLIMIT_FSIZE, &before);
    std::signal(SIGXFSZ, old_handler);
    EXPECT_NE(said.find("cannot write"), std::string::npos) << said;
    EXPECT_FALSE(fs::exists(dir / "k.pem")) << "a half-written key file stayed";
    write_private_key_file(identity, dir / "k.pem", "");  // the next try, with room
    EXPECT_EQ(load_private_key(dir / "k.pem").public_key, identity.public_key);
}

TEST(KeyFile, RefusesAPrivateKeyOthersCanRead) {
    TempDir dir;
    write_key_files(test::new_identity(), dir / "a.pem", dir / "a.pub");
    for (mode_t mode : {0644u, 0640u, 0604u, 0660u}) {
        fs::permissions(dir / "a.pem", static_cast<fs::perms>(mode));
        std::string msg;
        try {
            (void)load_private_key(dir / "a.pem");
        } catch (const KeyFileError& e) {
            msg = e.what();
            EXPECT_NE(e.hint().find("chmod 600"), std::string::npos) << e.hint();
        }
        EXPECT_NE(msg.find("permissions"), std::string::npos) << "mode " << std::oct << mode << ": " << msg;
    }
    fs::permissions(dir / "a.pem", static_cast<fs::perms>(0400));
    EXPECT_NO_THROW((void)load_private_key(dir / "a.pem"));
}

TEST(KeyFile, RefusesAnRsaKeyNamingEd25519) {
    TempDir dir;
    const auto rsa = dir / "rsa.pem";
    const auto rsa_pub = dir / "rsa.pub";
    if (!run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out '" + rsa.string() + "'"))
        GTEST_SKIP() << "openssl is not available";
    ASSERT_TRUE(run("openssl pkey -in '" + rsa.string() + "' -pubout -out '" + rsa_pub.string() + "'"));
    fs::permissions(rsa, static_cast<fs::perms>(0600));

    auto msg = message_of([&] { (void)load_private_key(rsa); });
    EXPECT_NE(msg.find("Ed25519"), std::string::npos) << msg;
    EXPECT_NE(msg.find("RSA"), std::string::npos) << msg;
    msg = message_of([&] { (void)load_public_key(rsa_pub); });
    EXPECT_NE(msg.find("Ed25519"), std::string::npos) << msg;
}

TEST(KeyFile, AcceptsAnOpensslEd25519KeyWithTheSamePublicKey) {
    TempDir dir;
    const auto priv = dir / "o.pem";
    const auto pub = dir / "o.pub";
    if (!run("openssl genpkey -algorithm ed25519 -out '" + priv.string() + "'"))
        GTEST_SKIP() << "openssl is not available";
    ASSERT_TRUE(run("openssl pkey -in '" + priv.string() + "' -pubout -out '" + pub.string() + "'"));
    fs::permissions(priv, static_cast<fs::perms>(0600));

    auto id = load_private_key(priv);
    EXPECT_EQ(load_public_key(pub), id.public_key);
    // and OpenSSL reads what we write: our public PEM of its key is byte-identical
    EXPECT_EQ(public_key_pem(id.public_key), slurp(pub));
}

// OpenSSL prompts on the terminal for an encrypted PEM unless told not to: a
// key file must never make parley wait on a pass-phrase prompt.
TEST(KeyFile, RefusesAnEncryptedPrivateKeyWithoutPrompting) {
    TempDir dir;
    const auto priv = dir / "enc.pem";
    if (!run("openssl genpkey -algorithm ed25519 -aes-256-cbc -pass pass:secret -out '" + priv.string() + "'"))
        GTEST_SKIP() << "openssl is not available";
    fs::permissions(priv, static_cast<fs::perms>(0600));
    auto msg = message_of([&] { (void)load_private_key(priv); });
    EXPECT_NE(msg.find("encrypted"), std::string::npos) << msg;
}

TEST(KeyFile, RefusesAPublicKeyClaimingToBeEncrypted) {
    const std::string pem =
        "-----BEGIN PUBLIC KEY-----\n"
        "Proc-Type: 4,ENCRYPTED\n"
        "DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n"
        "MCowBQYDK2VwAyEAZ4kycbH7TC7PXXal52WudLhZioGBJozDCW6C20NkyHg=\n"
        "-----END PUBLIC KEY-----\n";
    auto msg = message_of([&] { (void)parse_public_key_pem(pem, "public_keys/x.pem"); });
    EXPECT_FALSE(msg.empty()) << "an 'encrypted' public key must be refused";
}

TEST(KeyFile, OpensslReadsOurPrivateKey) {
    TempDir dir;
    auto id = test::new_identity();
    write_key_files(id, dir / "a.pem", dir / "a.pub");
    const auto pub = dir / "from-openssl.pub";
    if (!run("openssl pkey -in '" + (dir / "a.pem").string() + "' -pubout -out '" + pub.string() + "'"))
        GTEST_SKIP() << "openssl is not available";
    EXPECT_EQ(load_public_key(pub), id.public_key);
}

TEST(KeyFile, RefusesGarbage) {
    TempDir dir;
    spit(dir / "junk.pem", "this is not a key\n");
    fs::permissions(dir / "junk.pem", static_cast<fs::perms>(0600));
    EXPECT_THROW((void)load_private_key(dir / "junk.pem"), KeyFileError);
    EXPECT_THROW((void)load_public_key(dir / "junk.pem"), KeyFileError);
    EXPECT_THROW((void)parse_public_key_pem("", "empty"), KeyFileError);
    EXPECT_THROW((void)parse_private_key_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "x"),
                 KeyFileError);
}

TEST(KeyFile, RefusesAPublicKeyWherePrivateIsExpectedAndViceVersa) {
    TempDir dir;
    write_key_files(test::new_identity(), dir / "a.pem", dir / "a.pub");
    fs::permissions(dir / "a.pub", static_cast<fs::perms>(0600));
    EXPECT_THROW((void)load_private_key(dir / "a.pub"), KeyFileError);
    EXPECT_THROW((void)load_public_key(dir / "a.pem"), KeyFileError);
}

TEST(KeyFile, MissingFileIsAnError) {
    TempDir dir;
    EXPECT_THROW((void)load_private_key(dir / "nobody.pem"), KeyFileError);
    EXPECT_THROW((void)load_public_key(dir / "nobody.pem"), KeyFileError);
}

TEST(KeyFile, RefusesASmallOrderPublicKey) {
    // the identity point: a valid encoding with no usable X25519 form
    PublicKey identity_point{};
    identity_point[0] = 1;
    EXPECT_FALSE(converts_to_x25519(identity_point));
    auto pem = public_key_pem(identity_point);
    EXPECT_THROW((void)parse_public_key_pem(pem, "weak"), KeyFileError);
}

TEST(KeyId, FingerprintShowsTenGroupsOfFourHexDigits) {
    auto fp = fingerprint(test::new_identity().public_key);
    EXPECT_TRUE(std::regex_match(fp, std::regex("[0-9a-f]{4}( [0-9a-f]{4}){9}"))) << fp;
    EXPECT_GE((fp.size() - 9) * 4, 128u);  // hex digits * 4 bits
}

TEST(KeyId, FingerprintIsAPrefixOfTheKeyId) {
    auto key = test::new_identity().public_key;
    auto fp = fingerprint(key);
    std::erase(fp, ' ');
    EXPECT_EQ(to_hex(key_id(key)).substr(0, fp.size()), fp);
}

TEST(KeyId, DiffersBetweenKeysAndIsStable) {
    auto a = test::new_identity().public_key;
    auto b = test::new_identity().public_key;
    EXPECT_NE(key_id(a), key_id(b));
    EXPECT_NE(fingerprint(a), fingerprint(b));
    EXPECT_EQ(key_id(a), key_id(a));
    EXPECT_EQ(fingerprint(a), fingerprint(a));
}

TEST(KeyId, IsALabelledHashOfTheRawKeyNotOfItsPem) {
    auto key = test::new_identity().public_key;
    EXPECT_EQ(key_id(key), wire::labelled_hash(label::key_id, {key}));
    EXPECT_NE(key_id(key), wire::labelled_hash(label::key_id, {as_bytes(public_key_pem(key))}));
}

TEST(KeyId, RosterHashDependsOnEveryMember) {
    auto a = test::new_identity().public_key;
    auto b = test::new_identity().public_key;
    auto c = test::new_identity().public_key;
    auto ab = test::sorted({a, b});
    auto abc = test::sorted({a, b, c});
    EXPECT_NE(roster_hash(ab), roster_hash(abc));
    EXPECT_EQ(roster_hash(abc), roster_hash(test::sorted({c, b, a})));
}

}  // namespace
}  // namespace parley::crypto
