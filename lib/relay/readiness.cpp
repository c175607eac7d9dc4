#include "relay/readiness.h"

#include <systemd/sd-daemon.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "relay/log.h"

namespace parley::relay {

namespace {

// A failed notification is logged, never fatal: systemd then says the start
// or reload timed out, and this line says why.
void report(int result, const char* what) {
    if (result < 0)
        PARLEY_LOG(error, "cannot tell systemd %s: %s", what, std::strerror(-result));
}

}  // namespace

void notify_ready(const std::string& url) {
    report(sd_notifyf(0, "READY=1\nSTATUS=listening on %s", url.c_str()), "READY=1");
}

// MONOTONIC_USEC: systemd 253 and later (Type=notify-reload) want the time the
// reload began beside RELOADING=1; older ones ignore it.
void notify_reloading() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    const auto usec = static_cast<std::uint64_t>(now.tv_sec) * 1000000 +
                      static_cast<std::uint64_t>(now.tv_nsec) / 1000;
    report(sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, usec), "RELOADING=1");
}

void notify_stopping() { report(sd_notify(0, "STOPPING=1"), "STOPPING=1"); }

}  // namespace parley::relay
