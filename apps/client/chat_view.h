// What a room's chat shows, apart from how: one ChatLine per message, notice
// or warning, and the room's status. The line UI (chat.cpp) prints each line
// as text; the full-screen UI (tui.cpp) keeps them in a window of its Screen.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace parley::client {

struct ChatLine {
    enum class Kind {
        message,  // name: text
        notice,   // "-- text": the client telling what happens
        warning,  // "!! text": something is wrong (a rejected message, a missing one)
        info,     // plain text: the answer to a command (/who, /help)
        day,      // the date, where it changes between two messages (the Screen adds these)
    };
    enum class Own { no, sent, pending };

    Kind kind = Kind::notice;
    std::uint64_t time_ms = 0;  // message: the sender's clock; warnings with a time: now; 0: none shown
    std::string name;           // message: the sender's name
    std::uint8_t colour = 0;    // message: the sender's colour (member_colour)
    std::string text;           // printable (display_text) already
    std::string note;           // after the text, e.g. "  (typed 12:01:02, sent now)"
    Own own = Own::no;
    bool mention = false;  // someone else's message that names us
};

inline ChatLine make_line(ChatLine::Kind kind, std::string text, std::uint64_t time_ms = 0) {
    ChatLine l;
    l.kind = kind;
    l.text = std::move(text);
    l.time_ms = time_ms;
    return l;
}

inline ChatLine notice(std::string text) { return make_line(ChatLine::Kind::notice, std::move(text)); }
inline ChatLine info(std::string text) { return make_line(ChatLine::Kind::info, std::move(text)); }
inline ChatLine warning(std::string text, std::uint64_t time_ms = 0) {
    return make_line(ChatLine::Kind::warning, std::move(text), time_ms);
}

// What the status bar says of a room.
struct RoomStatus {
    enum class Link { opening, connected, connecting, ended };
    std::uint64_t epoch = 0;
    std::size_t members = 0;
    Link link = Link::opening;
    std::size_t pending = 0;  // lines typed offline, not yet with the relay
    bool operator==(const RoomStatus&) const = default;
};

class ChatView {
public:
    virtual ~ChatView() = default;
    virtual void line(ChatLine line) = 0;
    // The lines so far came from this device's history: new ones get a marker.
    virtual void history_shown() {}
    virtual void status(const RoomStatus&) {}
};

// A member's colour, the same on every device: from the first byte of the key.
constexpr std::size_t member_colours = 6;
inline std::uint8_t member_colour(std::uint8_t first_key_byte) {
    return static_cast<std::uint8_t>(first_key_byte % member_colours);
}

}  // namespace parley::client
