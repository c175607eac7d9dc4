// Epoch records (docs/PROTOCOL.md §4): decode_record on anything. A record that
// decodes re-encodes to exactly the input and passes its self-contained checks;
// signature and successor checks against the fixed chain must not crash, and a
// signature can only verify for a key whose secret the fixture holds.
#include "fuzz_support.h"

using namespace parley;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto& fx = fuzz::fixture();
    auto decoded = wire::decode_record(ByteView(data, size));
    if (!decoded.record) return 0;
    const auto& rec = *decoded.record;
    // round trip
    auto again = wire::encode_record(rec);
    FUZZ_CHECK(again.size() == size && std::equal(again.begin(), again.end(), data));
    // self-contained checks decode_record promises
    FUZZ_CHECK(!rec.roster.empty() && rec.roster.size() <= wire::max_roster_members);
    FUZZ_CHECK(std::adjacent_find(rec.roster.begin(), rec.roster.end(),
                                  [](const auto& a, const auto& b) { return !(a < b); }) == rec.roster.end());
    FUZZ_CHECK(rec.boxes.size() == rec.roster.size());
    FUZZ_CHECK(std::binary_search(rec.roster.begin(), rec.roster.end(), rec.author));
    FUZZ_CHECK((rec.epoch == 0) == (rec.previous == wire::Hash{}));

    (void)wire::record_hash(rec);
    if (wire::verify_record_signature(rec)) FUZZ_CHECK(fx.is_known_key(rec.author));
    for (const auto& known : fx.records) {
        (void)wire::check_successor(known, rec);
        (void)wire::check_successor(rec, known);
    }
    // a successor of the genesis that also verifies must be signed by a genesis member
    if (!wire::check_successor(fx.records[0], rec) && wire::verify_record_signature(rec))
        FUZZ_CHECK(rec.author == fx.alice.public_key || rec.author == fx.bob.public_key);
    return 0;
}
