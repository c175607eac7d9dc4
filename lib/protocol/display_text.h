// Message text is written by members, and could carry terminal escape
// sequences, bidirectional overrides or invalid UTF-8. This makes it safe to
// put on a terminal: valid UTF-8 only, no control or format characters.
#pragma once

#include <string>
#include <string_view>

namespace parley::protocol {

// Invalid UTF-8 becomes U+FFFD; C0 and C1 controls and DEL become '?'; bidi
// controls (U+200E, U+200F, U+202A..U+202E, U+2066..U+2069) and zero-width
// characters (U+200B..U+200D, U+2060, U+FEFF) are dropped.
std::string display_text(std::string_view text);

}  // namespace parley::protocol
