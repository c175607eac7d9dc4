#include "relay/connection_set.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

using parley::relay::address_key;
using parley::relay::AddressKey;
using parley::relay::Closable;
using parley::relay::ConnectionSet;
using Admission = ConnectionSet::Admission;

namespace {

struct FakeConnection : Closable {
    int shutdowns = 0;
    int aborts = 0;
    void shutdown() override { ++shutdowns; }
    void abort_now() override { ++aborts; }
};

AddressKey key_of(const char* text) { return address_key(boost::asio::ip::make_address(text)); }

}  // namespace

TEST(AddressKey, Ipv4AndItsMappedFormAreOneAddress) {
    EXPECT_EQ(key_of("192.0.2.7"), key_of("::ffff:192.0.2.7"));
    EXPECT_NE(key_of("192.0.2.7"), key_of("192.0.2.8"));
}

TEST(AddressKey, Ipv6CountsPerSlash64) {
    EXPECT_EQ(key_of("2001:db8:1:2::1"), key_of("2001:db8:1:2:ffff:ffff:ffff:ffff"));
    EXPECT_NE(key_of("2001:db8:1:2::1"), key_of("2001:db8:1:3::1"));
    EXPECT_NE(key_of("::1"), key_of("127.0.0.1"));
}

TEST(ConnectionSet, RefusesOverThePerAddressCapAndCountsOthersApart) {
    ConnectionSet set(100, 2);
    std::vector<std::shared_ptr<FakeConnection>> conns;
    for (int i = 0; i < 4; ++i) conns.push_back(std::make_shared<FakeConnection>());
    const auto a = key_of("198.51.100.1");
    const auto b = key_of("198.51.100.2");
    EXPECT_EQ(set.try_add(conns[0].get(), conns[0], a), Admission::admitted);
    EXPECT_EQ(set.try_add(conns[1].get(), conns[1], a), Admission::admitted);
    EXPECT_EQ(set.try_add(conns[2].get(), conns[2], a), Admission::address_full);
    EXPECT_EQ(set.try_add(conns[3].get(), conns[3], b), Admission::admitted);
    EXPECT_EQ(set.size(), 3u);
    EXPECT_EQ(set.count_from(a), 2u);
    // One from `a` leaves: `a` may connect once more.
    set.remove(conns[0].get());
    EXPECT_EQ(set.count_from(a), 1u);
    EXPECT_EQ(set.try_add(conns[2].get(), conns[2], a), Admission::admitted);
    EXPECT_EQ(set.try_add(conns[0].get(), conns[0], a), Admission::address_full);
}

// A reload's caps: who is connected stays; the next connection counts against the new ones.
TEST(ConnectionSet, NewCapsHoldForTheNextConnectionAndKeepTheOpenOnes) {
    ConnectionSet set(100, 3);
    std::vector<std::shared_ptr<FakeConnection>> conns;
    for (int i = 0; i < 4; ++i) conns.push_back(std::make_shared<FakeConnection>());
    const auto a = key_of("198.51.100.1");
    for (int i = 0; i < 3; ++i) ASSERT_EQ(set.try_add(conns[i].get(), conns[i], a), Admission::admitted);
    set.set_caps(100, 1);
    EXPECT_EQ(set.size(), 3u) << "lowering the cap closes nothing";
    EXPECT_EQ(set.try_add(conns[3].get(), conns[3], a), Admission::address_full);
    set.set_caps(3, 10);
    EXPECT_EQ(set.try_add(conns[3].get(), conns[3], key_of("198.51.100.9")), Admission::relay_full);
    set.set_caps(4, 10);
    EXPECT_EQ(set.try_add(conns[3].get(), conns[3], a), Admission::admitted);
}

TEST(ConnectionSet, RefusesOverTheTotalCap) {
    ConnectionSet set(2, 10);
    auto c1 = std::make_shared<FakeConnection>(), c2 = std::make_shared<FakeConnection>(),
         c3 = std::make_shared<FakeConnection>();
    EXPECT_EQ(set.try_add(c1.get(), c1, key_of("10.0.0.1")), Admission::admitted);
    EXPECT_EQ(set.try_add(c2.get(), c2, key_of("10.0.0.2")), Admission::admitted);
    EXPECT_EQ(set.try_add(c3.get(), c3, key_of("10.0.0.3")), Admission::relay_full);
    EXPECT_EQ(set.count_from(key_of("10.0.0.3")), 0u);
}

TEST(ConnectionSet, RemovingTheLastConnectionForgetsTheAddress) {
    ConnectionSet set(10, 1);
    auto c = std::make_shared<FakeConnection>();
    const auto a = key_of("10.1.1.1");
    ASSERT_EQ(set.try_add(c.get(), c, a), Admission::admitted);
    set.remove(c.get());
    set.remove(c.get());  // twice is harmless
    EXPECT_EQ(set.count_from(a), 0u);
    EXPECT_EQ(set.size(), 0u);
    EXPECT_EQ(set.try_add(c.get(), c, a), Admission::admitted);
}

TEST(ConnectionSet, CloseAllShutsEveryConnectionAndRefusesNewOnes) {
    ConnectionSet set(10, 10);
    auto c1 = std::make_shared<FakeConnection>(), c2 = std::make_shared<FakeConnection>();
    ASSERT_EQ(set.try_add(c1.get(), c1, key_of("10.0.0.1")), Admission::admitted);
    set.close_all();
    EXPECT_EQ(c1->shutdowns, 1);
    EXPECT_EQ(set.try_add(c2.get(), c2, key_of("10.0.0.1")), Admission::closing);
}

TEST(ConnectionSet, AbortAllClosesEveryOpenConnectionAndRefusesNewOnes) {
    ConnectionSet set(10, 10);
    auto c1 = std::make_shared<FakeConnection>(), c2 = std::make_shared<FakeConnection>();
    auto c3 = std::make_shared<FakeConnection>();
    ASSERT_EQ(set.try_add(c1.get(), c1, key_of("10.0.0.1")), Admission::admitted);
    ASSERT_EQ(set.try_add(c2.get(), c2, key_of("10.0.0.2")), Admission::admitted);
    set.remove(c2.get());  // closed on its own meanwhile
    set.abort_all();
    EXPECT_EQ(c1->aborts, 1);
    EXPECT_EQ(c2->aborts, 0);
    EXPECT_EQ(c1->shutdowns, 0) << "abort is not a graceful close";
    EXPECT_EQ(set.try_add(c3.get(), c3, key_of("10.0.0.3")), Admission::closing);
}
