// Readiness for systemd (Type=notify, packaging/parley-relay.service): tells
// the service manager when the relay listens, reloads and stops, through
// sd_notify(3). Without NOTIFY_SOCKET in the environment (the relay was not
// started by systemd) every call does nothing. Any thread.
#pragma once

#include <string>

namespace parley::relay {

// READY=1, with the URL as STATUS: the socket is bound and listening, so a
// client that connects from now on is accepted. Also ends a reload.
void notify_ready(const std::string& url);

// RELOADING=1: a SIGHUP's reload starts; notify_ready() ends it.
void notify_reloading();

// STOPPING=1: the relay is shutting down (SIGINT or SIGTERM).
void notify_stopping();

}  // namespace parley::relay
