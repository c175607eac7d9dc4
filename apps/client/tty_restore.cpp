#include "tty_restore.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>

namespace parley::client {

namespace {

termios g_saved{};
char g_sequence[256];
std::size_t g_sequence_bytes = 0;
volatile std::sig_atomic_t g_armed = 0;
constexpr int fatal_signals[] = {SIGTERM, SIGHUP, SIGINT, SIGQUIT};

void restore_and_die(int sig) {
    if (g_armed) {
        ::tcsetattr(STDIN_FILENO, TCSANOW, &g_saved);
        (void)!::write(STDOUT_FILENO, g_sequence, g_sequence_bytes);
    }
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

}  // namespace

void arm_terminal_restore(const termios& saved, std::string_view sequence) {
    g_armed = 0;
    g_saved = saved;
    g_sequence_bytes = std::min(sequence.size(), sizeof g_sequence);
    std::memcpy(g_sequence, sequence.data(), g_sequence_bytes);
    g_armed = 1;
    for (int sig : fatal_signals) std::signal(sig, restore_and_die);
}

void disarm_terminal_restore() {
    g_armed = 0;
    for (int sig : fatal_signals) std::signal(sig, SIG_DFL);
}

}  // namespace parley::client
