// verify_chain (docs/PROTOCOL.md §4) over a sequence of records split from the
// input (u16 length, bytes; see split_chunks). A chain that verifies was made
// by keys the fixture holds, for the fixture's room, epoch by epoch.
#include "fuzz_support.h"

using namespace parley;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto& fx = fuzz::fixture();
    auto encoded = fuzz::split_chunks(data, size, 8);
    auto result = protocol::verify_chain(encoded, fx.room);
    const auto* chain = std::get_if<protocol::VerifiedChain>(&result);
    if (chain == nullptr) {
        FUZZ_CHECK(!std::get<std::string>(result).empty());
        return 0;
    }
    FUZZ_CHECK(chain->records.size() == encoded.size());
    FUZZ_CHECK(chain->hashes.size() == encoded.size());
    for (std::size_t i = 0; i < chain->records.size(); ++i) {
        const auto& rec = chain->records[i];
        FUZZ_CHECK(rec.epoch == i);
        FUZZ_CHECK(rec.room == fx.room);
        FUZZ_CHECK(fx.is_known_key(rec.author));
        FUZZ_CHECK(chain->hashes[i] == wire::record_hash(rec));
        FUZZ_CHECK(wire::encode_record(rec) == encoded[i]);
        if (i > 0) FUZZ_CHECK(rec.previous == chain->hashes[i - 1]);
    }
    // extending a verified chain with its own head again must fail, not crash
    auto copy = *chain;
    FUZZ_CHECK(protocol::extend_chain(copy, chain->head()).has_value());
    protocol::Pin pin{fx.hashes[0], 0, fx.hashes[0]};
    (void)protocol::check_pin(*chain, pin);
    return 0;
}
