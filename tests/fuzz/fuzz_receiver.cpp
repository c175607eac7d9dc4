// The receiver (docs/PROTOCOL.md §7) with the fixture's genesis epoch (alice and
// bob; we are bob), fed a sequence of envelopes split from the input (u16
// length, bytes; see split_chunks). Nothing is accepted unless it is, byte for
// byte, one of the genuine envelopes built below, and none is accepted twice.
#include "fuzz_support.h"
#include "protocol/receiver.h"

using namespace parley;

namespace {

struct Genuine {
    Bytes bytes;
    std::string text;
    bool own = false;
};

// Every envelope a correct receiver may accept: alice's, and bob's from his
// other process (which this device's SentByUs vouches for up to counter 3).
const std::vector<Genuine>& genuine() {
    static const std::vector<Genuine> g = [] {
        const auto& fx = fuzz::fixture();
        std::vector<Genuine> v;
        v.push_back({fx.envelope(fx.alice, fx.alice_session, 0, "hello bob"), "hello bob", false});
        v.push_back({fx.envelope(fx.alice, fx.alice_session, 1, "second"), "second", false});
        // a sync (§5.1): accepted, no text; before 70, whose window would leave 3 too old
        v.push_back({fx.envelope(fx.alice, fx.alice_session, 3, protocol::encode_sync({protocol::SyncReason::leaving}), 0,
                                 wire::EnvelopeType::sync),
                     "", false});
        v.push_back({fx.envelope(fx.alice, fx.alice_session, 70, "after a gap"), "after a gap", false});
        v.push_back({fx.envelope(fx.bob, fx.bob_other_session, 0, "from my laptop"), "from my laptop", true});
        return v;
    }();
    return g;
}

// A receiver as bob's device holds it: the genesis epoch, a fresh replay store.
struct Bob {
    protocol::MemoryReplayStore store;
    protocol::Receiver receiver;
    explicit Bob(const fuzz::Fixture& fx)
        : receiver(fx.room, fx.bob.public_key, fx.bob_session, store,
                   [&fx](const wire::SessionId& s, const wire::Hash&, std::uint64_t counter) {
                       return (s == fx.bob_session || s == fx.bob_other_session) && counter <= 3;
                   }) {
        protocol::EpochView view;
        view.epoch = 0;
        view.record_hash = fx.hashes[0];
        view.roster = fx.records[0].roster;
        view.message_key = fx.genesis_message_key;
        receiver.add_epoch(std::move(view));
    }
};

}  // namespace

// The property below is empty if the genuine envelopes are not accepted in the
// first place: check that once, at start-up.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const auto& fx = fuzz::fixture();
    Bob bob(fx);
    for (const auto& g : genuine()) {
        auto d = bob.receiver.receive(g.bytes);
        if (!d.accepted) std::fprintf(stderr, "genuine envelope rejected: %s\n", d.reason.c_str());
        FUZZ_CHECK(d.accepted && d.text == g.text);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto& fx = fuzz::fixture();
    const auto& real = genuine();
    Bob bob(fx);
    std::vector<bool> accepted_before(real.size(), false);
    for (const auto& envelope : fuzz::split_chunks(data, size, 8)) {
        auto d = bob.receiver.receive(envelope);
        if (!d.accepted) {
            FUZZ_CHECK(!d.reason.empty());
            FUZZ_CHECK(d.text.empty());
            continue;
        }
        auto it = std::find_if(real.begin(), real.end(), [&](const Genuine& g) { return g.bytes == envelope; });
        FUZZ_CHECK(it != real.end());  // a forgery was accepted
        auto index = static_cast<std::size_t>(it - real.begin());
        FUZZ_CHECK(!accepted_before[index]);  // a replay was accepted
        accepted_before[index] = true;
        FUZZ_CHECK(d.text == it->text);
        FUZZ_CHECK(d.own == it->own);
        FUZZ_CHECK(d.sender && *d.sender == (it->own ? fx.bob.public_key : fx.alice.public_key));
    }
    return 0;
}
