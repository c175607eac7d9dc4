// display_text on anything: the result is well-formed UTF-8 (shortest form, no
// surrogates, at most U+10FFFF) with no C0 or C1 control, no DEL, no bidi
// control and no zero-width character; and cleaning it again changes nothing.
#include "protocol/display_text.h"

#include "fuzz_support.h"

using namespace parley;

namespace {

// Strict UTF-8 decoder, written apart from display_text's on purpose.
bool next(std::string_view s, std::size_t& i, char32_t& cp) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    if (b0 < 0x80) len = 1, cp = b0;
    else if (b0 >= 0xc2 && b0 <= 0xdf) len = 2, cp = b0 & 0x1f;
    else if (b0 >= 0xe0 && b0 <= 0xef) len = 3, cp = b0 & 0x0f;
    else if (b0 >= 0xf0 && b0 <= 0xf4) len = 4, cp = b0 & 0x07;
    else return false;
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xc0) != 0x80) return false;
        cp = (cp << 6) | (b & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return false;
    i += len;
    return true;
}

bool forbidden(char32_t cp) {
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x200b && cp <= 0x200f) ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2060 || cp == 0xfeff;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto out = protocol::display_text(in);
    for (unsigned char c : out) FUZZ_CHECK(c >= 0x20 && c != 0x7f);
    for (std::size_t i = 0; i < out.size();) {
        char32_t cp = 0;
        FUZZ_CHECK(next(out, i, cp));
        FUZZ_CHECK(!forbidden(cp));
    }
    FUZZ_CHECK(protocol::display_text(out) == out);
    // nothing grows beyond U+FFFD (3 bytes) per input byte
    FUZZ_CHECK(out.size() <= 3 * size);
    return 0;
}
