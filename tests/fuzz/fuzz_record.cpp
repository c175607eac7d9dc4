// Epoch records (docs/PROTOCOL.md §4, §10.6 for version 2): decode_record on anything. A record that
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
    FUZZ_CHECK((rec.epoch == 0) == (rec.previous == wire::Hash{}));
    if (rec.version == wire::record_version_2) {
        // Every member has 1..8 devices, in order, each certified for it; the author is one.
        FUZZ_CHECK(rec.boxes.empty() && wire::find_device(rec, rec.author));
        std::size_t at = 0;
        for (const auto& member : rec.roster) {
            std::size_t n = 0;
            for (; at < rec.devices.size() && rec.devices[at].member() == member; ++at, ++n) {
                FUZZ_CHECK(rec.devices[at].update.device == rec.devices[at].key());
                FUZZ_CHECK(n == 0 || rec.devices[at - 1].key() < rec.devices[at].key());
                if (rec.epoch == 0) FUZZ_CHECK(rec.devices[at].box_kind == wire::BoxKind::joiner_secret);
            }
            FUZZ_CHECK(n >= 1 && n <= wire::max_devices_per_member);
        }
        FUZZ_CHECK(at == rec.devices.size());
    } else {
        FUZZ_CHECK(rec.version == wire::record_version_1 && rec.devices.empty());
        FUZZ_CHECK(rec.boxes.size() == rec.roster.size());
        FUZZ_CHECK(std::binary_search(rec.roster.begin(), rec.roster.end(), rec.author));
    }

    (void)wire::record_hash(rec);
    // The fixture's keys sign version 1; the version-2 seeds (corpus/record/v2_*,
    // tests/vectors/v2.json's records) are signed by the vectors' devices.
    if (rec.version == wire::record_version_1 && wire::verify_record_signature(rec))
        FUZZ_CHECK(fx.is_known_key(rec.author));
    for (const auto& known : fx.records) {
        (void)wire::check_successor(known, rec);
        (void)wire::check_successor(rec, known);
    }
    // a successor of the genesis that also verifies must be signed by a genesis member
    if (!wire::check_successor(fx.records[0], rec) && wire::verify_record_signature(rec))
        FUZZ_CHECK(rec.author == fx.alice.public_key || rec.author == fx.bob.public_key);
    return 0;
}
