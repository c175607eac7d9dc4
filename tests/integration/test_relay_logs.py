#!/usr/bin/env python3
"""The relay's log and its reload, as a sysadmin reads and drives them (issue 12).

Levels and formats: under --log-format journal every line is "<P>message" (P a syslog
priority, no time stamp: journald adds its own); in the plain format every line has a
UTC time stamp. --log-level drops what is less important. A start says the version and
the settings, a refused connection its address and reason, a failed TLS handshake its
address and why; a shutdown gives the counts. A flood of refused or failed connections
is throttled, and every line left out is counted in the next one that goes out.

SIGHUP reads the command line and --config again: a changed limit is logged as
"NAME: BEFORE -> AFTER" and holds for the next connection at once; a setting that
needs a restart says so and keeps its value; settings that do not read are refused
with FILE:LINE and everything in force stays."""
import re
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True
import harness  # noqa: E402

ROOM = "logs"
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def closed_by_peer(sock, within):
    """True if the peer closes `sock` (EOF or a reset) within `within` seconds."""
    sock.settimeout(within)
    try:
        while sock.recv(4096):
            pass
        return True
    except socket.timeout:
        return False
    except OSError:
        return True


def stop_and_read(relay):
    """SIGTERM, wait for exit 0, and the relay's whole stderr."""
    proc = relay.proc
    relay.stop()
    return proc.stderr()


def test_journal_format_levels_and_counts(t):
    """--log-format journal: each line is <priority>message, no time stamp; debug lines
    at --log-level debug; a connection over the per-address cap is refused with its
    address and the flag to raise; the shutdown line counts what was stored."""
    with t.relay(extra_args=["--log-format", "journal", "--log-level", "debug",
                             "--max-connections-per-address", "2"]) as relay:
        users = t.make_users(["alice"])
        users["alice"].create(ROOM, relay.url).expect_ok("alice creates")
        users["alice"].send(ROOM, relay.url, ["one", "two"]).expect_ok("alice sends")
        held = [socket.create_connection(("127.0.0.1", relay.port), timeout=5) for _ in range(2)]
        try:
            assert not any(closed_by_peer(s, 0.3) for s in held), "a connection under the cap was closed"
            with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as third:
                assert closed_by_peer(third, 5), "a third connection from one address was not refused"
            relay.proc.wait_for_stderr(re.compile(r"refusing a connection"), 10, "the refusal's line")
        finally:
            for s in held:
                s.close()
        log = stop_and_read(relay)
    lines = [line for line in log.splitlines() if line]
    assert lines, "the relay logged nothing"
    for line in lines:
        assert re.match(r"<[3-7]>\S", line), f"not a journal line: {line!r}"
        assert not re.search(STAMP, line), f"a time stamp in a journal line: {line!r}"
        assert "parley-relay:" not in line, f"the journal names the unit itself: {line!r}"
    assert re.search(r"^<5>starting version \d+\.\d+\.\d+: listen 127\.0\.0\.1:0, TLS off, data \S+, sync normal",
                     log, re.M), log
    assert re.search(r"^<5>listening on ws://127\.0\.0\.1:\d+$", log, re.M), log
    assert re.search(r"^<7>connection from 127\.0\.0\.1$", log, re.M), "no debug line for a connection"
    assert re.search(r"^<5>refusing a connection from 127\.0\.0\.1: too many connections from one address "
                     r"\(--max-connections-per-address\)$", log, re.M), log
    shutdown = re.search(r"^<5>shutting down: (\d+) connection\(s\) open; since the start \d+ s ago: "
                         r"(\d+) connection\(s\) closed, (\d+) refused, (\d+) message\(s\) stored", log, re.M)
    assert shutdown, log
    still_open, closed, refused, stored = (int(g) for g in shutdown.groups())
    assert refused == 1, f"{refused} refusals counted, one was made"
    # Two lines and the closing sync note of that send (PROTOCOL §5.1).
    assert stored == 3, f"{stored} messages counted as stored, alice's send stored 3"
    # Every connection admitted is open or closed: alice's two commands and the two held.
    assert still_open + closed >= 4, f"{still_open} open and {closed} closed, four were made"


def test_plain_format_and_level(t):
    """The plain format stamps each line with the UTC time; --log-level notice drops
    the info lines (the data folder) and keeps the start and the listening line."""
    with t.relay(extra_args=["--log-level", "notice", "--metrics-listen", "off"]) as relay:
        log = stop_and_read(relay)
    lines = [line for line in log.splitlines() if line]
    for line in lines:
        assert re.match(STAMP + r" parley-relay: ", line), f"not a plain log line: {line!r}"
    assert any(" parley-relay: listening on ws://" in line for line in lines), log
    assert any(" parley-relay: starting version " in line for line in lines), log
    assert "data in" not in log, f"an info line at --log-level notice:\n{log}"


def test_failed_tls_handshakes_are_logged_and_throttled(t):
    """A client that speaks plain HTTP to the TLS port: a line with its address and
    OpenSSL's reason. A flood of them: at most a few lines a second, and every attempt
    is either a line or counted in the "(and N more like it" of a later one."""
    cert, key = harness.make_test_cert(t.fresh_dir("tls"))
    with t.relay(cert=cert, key=key) as relay:
        attempts = 60
        for _ in range(attempts):
            with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                closed_by_peer(sock, 5)
        time.sleep(1.2)  # a new second: the next line carries the count of those left out
        with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            closed_by_peer(sock, 5)
        deadline = time.monotonic() + 10
        pattern = re.compile(r"TLS handshake from 127\.0\.0\.1 failed: (.+?)(?: \(and (\d+) more like it, "
                             r"not logged\))?$", re.M)
        while True:
            found = pattern.findall(relay.proc.stderr())
            accounted = len(found) + sum(int(n) for _, n in found if n)
            if accounted >= attempts + 1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert accounted == attempts + 1, (
            f"{attempts + 1} failed handshakes, {len(found)} lines accounting for {accounted}:\n"
            f"{harness.tail(relay.proc.stderr())}")
        assert len(found) < attempts, "the flood was logged line by line, not throttled"
        assert all(reason.strip() for reason, _ in found), "a line without OpenSSL's reason"
        assert relay.proc.running()


def test_sighup_reloads_the_settings(t):
    """--config FILE edited, then SIGHUP: the per-address cap is lowered at once (a
    new connection over it is refused; the open ones stay), a setting that needs a
    restart (sync) is logged as such and kept; a file that does not read keeps every
    setting in force; raising the cap again admits the next connection."""
    folder = t.fresh_dir("config")
    config = folder / "relay.toml"
    config.write_text("max-connections-per-address = 64\nhandshake-timeout = 60\n")
    with t.relay(extra_args=["--config", str(config)]) as relay:
        held = [socket.create_connection(("127.0.0.1", relay.port), timeout=5) for _ in range(2)]
        try:
            assert not any(closed_by_peer(s, 0.3) for s in held)

            def reload(expect, what):
                offset = len(relay.proc.stderr())
                relay.proc.signal(signal.SIGHUP)
                deadline = time.monotonic() + 15
                while not re.search(expect, relay.proc.stderr()[offset:]):
                    assert time.monotonic() < deadline, (
                        f"{what}: no {expect!r} after SIGHUP:\n{harness.tail(relay.proc.stderr())}")
                    time.sleep(0.05)
                assert relay.proc.running(), f"{what}: SIGHUP stopped the relay"
                return relay.proc.stderr()[offset:]

            config.write_text("max-connections-per-address = 2\nhandshake-timeout = 60\nsync = \"full\"\n"
                              "founders = \"founders.pem\"\n")
            said = reload(r"max-connections-per-address: 64 -> 2", "the lower cap")
            assert re.search(r"warning: sync: normal -> full takes a restart; still normal", said), said
            # An open relay turned into a founders-only one is a restart, not a reload.
            assert re.search(r"warning: founders: \(none: open rooms\) -> \S+founders\.pem takes a restart", said), said
            assert "handshake-timeout" not in said, f"an unchanged setting was logged as changed:\n{said}"
            with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as third:
                assert closed_by_peer(third, 5), "the lowered cap did not refuse a third connection"
            assert not any(closed_by_peer(s, 0.2) for s in held), "the reload closed an open connection"

            config.write_text("max-connections-per-address = \"many\"\n")
            said = reload(r"SIGHUP: .*relay\.toml:1.*; the settings in force are unchanged", "a broken file")
            assert not re.search(r"max-connections-per-address: \d+ -> ", said), said
            with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as third:
                assert closed_by_peer(third, 5), "a broken file undid the cap in force"

            config.write_text("max-connections-per-address = 3\nhandshake-timeout = 60\n")
            reload(r"max-connections-per-address: 2 -> 3", "the cap raised")
            with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as third:
                assert not closed_by_peer(third, 0.5), "the raised cap still refused a third connection"
        finally:
            for s in held:
                s.close()
        users = t.make_users(["alice"])
        users["alice"].create(ROOM, relay.url).expect_ok("the relay serves after three reloads")


if __name__ == "__main__":
    harness.main([
        test_journal_format_levels_and_counts,
        test_plain_format_and_level,
        test_failed_tls_handshakes_are_logged_and_throttled,
        test_sighup_reloads_the_settings,
    ])
