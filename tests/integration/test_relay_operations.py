#!/usr/bin/env python3
"""The relay as a sysadmin runs it (issue 12): its data directory is its own (0700,
database files 0600, a looser folder tightened with a log line), one relay at a time
uses it (a second one is refused and says which process holds it), and SIGHUP reloads
the certificate (a renewal): new handshakes get the new one, open connections stay, a
certificate that does not load keeps the one in force; `--backup FILE` copies a running
relay's database, and a relay started on the copy serves every message. Its metrics are
on an address of their own (`--metrics-listen`, plain HTTP, small and bounded), not on the
client port, which keeps /healthz; a metrics port in use stops the relay at start."""
import re
import shutil
import signal
import socket
import ssl
import stat
import sys
import time

sys.dont_write_bytecode = True
import harness  # noqa: E402

ROOM = "ops"


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def served_certificate(port):
    """The DER certificate the relay presents to a new TLS handshake."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.getpeercert(binary_form=True)


def der_of(pem_path):
    return ssl.PEM_cert_to_DER_cert(pem_path.read_text())


def test_data_directory_is_the_relays_alone(t):
    # A folder someone made 0755, with a database file 0644 from an older relay.
    data = t.fresh_dir("relay-data")
    data.chmod(0o755)
    with t.relay(data=data) as relay:
        users = t.make_users(["alice"])
        users["alice"].create(ROOM, relay.url).expect_ok("alice creates")
        users["alice"].send(ROOM, relay.url, ["stored"]).expect_ok("alice sends")
        log = relay.proc.stderr()
        assert re.search(r"data directory \S+ was open to other users \(mode 0755\); made it 0700", log), log
        assert mode(data) == 0o700, oct(mode(data))
        files = [p for p in data.iterdir() if p.name.startswith("relay.")]
        assert any(p.name == "relay.sqlite" for p in files), files
        for p in files:
            assert mode(p) == 0o600, f"{p.name} is {oct(mode(p))}, not 0600"
    # An older relay's files, readable by everyone, are tightened at the next start.
    (data / "relay.sqlite").chmod(0o644)
    with t.relay(data=data) as relay:
        assert re.search(r"database file \S+relay\.sqlite was open to other users \(mode 0644\); made it 0600",
                         relay.proc.stderr()), relay.proc.stderr()
        assert mode(data / "relay.sqlite") == 0o600


def test_a_second_relay_on_the_same_data_is_refused(t):
    data = t.fresh_dir("relay-data")
    with t.relay(data=data) as first:
        argv = [harness.args().relay, "--listen", "127.0.0.1:0", "--data", str(data), "--metrics-listen", "off"]
        second = t.run(argv, name="second-relay")
        assert second.returncode == 1, f"a second relay on the same data: {second.describe()}"
        pid = first.proc.popen.pid
        assert f"another parley-relay (pid {pid}) is using the data directory {data}" in second.stderr, (
            second.describe())
        assert "hint:" in second.stderr
        users = t.make_users(["alice"])
        users["alice"].create(ROOM, first.url).expect_ok("the first relay still serves")
    # The lock goes with its process, kill -9 included.
    port = harness.free_port()
    crashed = t.relay(data=data, port=port).start()
    crashed.kill9()
    with t.relay(data=data, port=port) as again:
        users["alice"].send(ROOM, again.url, ["after a crash"]).expect_ok("a relay after a crash takes the data")


def test_sighup_reloads_the_certificate(t):
    old_cert, old_key = harness.make_test_cert(t.fresh_dir("tls-old"))
    new_cert, new_key = harness.make_test_cert(t.fresh_dir("tls-new"))
    live = t.fresh_dir("tls-live")
    cert, key = live / "cert.pem", live / "key.pem"
    shutil.copyfile(old_cert, cert)
    shutil.copyfile(old_key, key)
    key.chmod(0o600)
    with t.relay(cert=cert, key=key) as relay:
        server = relay.url_for("localhost")
        users = t.make_users(["alice", "bob"])
        alice, bob = users["alice"], users["bob"]
        alice.create(ROOM, server, ca=old_cert).expect_ok("alice creates over the old certificate")
        assert served_certificate(relay.port) == der_of(old_cert)
        listener = bob.listen(ROOM, server, count=2, ca=old_cert, timeout=60)
        alice.send(ROOM, server, ["before the renewal"], ca=old_cert).expect_ok("alice sends")

        # The renewal: new files in place, then SIGHUP (as a certbot hook does).
        shutil.copyfile(new_cert, cert)
        shutil.copyfile(new_key, key)
        relay.proc.signal(signal.SIGHUP)
        relay.proc.wait_for_stderr(re.compile(r"reloaded certificate \S+cert\.pem \(subject CN ?= ?localhost, "
                                              r"expires [^)]+\); new connections use it"), 15, "the reload")
        assert relay.proc.running(), "SIGHUP stopped the relay"
        assert served_certificate(relay.port) == der_of(new_cert), "a new handshake still gets the old certificate"
        # New connections trust the new certificate; bob's open one (made with the old) stays.
        alice.send(ROOM, server, ["after the renewal"], ca=new_cert).expect_ok("alice sends over the new certificate")
        assert [m["text"] for m in listener.messages()] == ["before the renewal", "after the renewal"], (
            listener.finish().describe())
        assert "reconnect" not in listener.finish().stderr, "bob's open connection was dropped by the reload"

        # A certificate that does not load: refused, the one in force stays.
        cert.write_text("not a certificate\n")
        relay.proc.signal(signal.SIGHUP)
        relay.proc.wait_for_stderr(re.compile(r"SIGHUP: .*; the certificate in force is unchanged"), 15,
                                   "the bad certificate refused")
        assert relay.proc.running()
        assert served_certificate(relay.port) == der_of(new_cert)


def test_backup_of_a_running_relay_restores_every_message(t):
    data = t.fresh_dir("relay-data")
    users = t.make_users(["alice", "bob"])
    alice, bob = users["alice"], users["bob"]
    lines = [f"kept {i}" for i in range(1, 31)]
    backup = t.tmp / "backup.sqlite"
    with t.relay(data=data) as relay:
        alice.create(ROOM, relay.url).expect_ok("alice creates")
        alice.send(ROOM, relay.url, lines).expect_ok("alice sends 30")
        argv = [harness.args().relay, "--backup", str(backup), "--data", str(data)]
        result = t.run(argv, name="backup")
        assert result.returncode == 0, result.describe()
        assert re.search(r"backed up \S+relay\.sqlite to \S+backup\.sqlite: \d+ bytes, 1 room chain\(s\), "
                         r"1 record\(s\), 31 stored message\(s\)", result.stderr), result.describe()  # and the sync
        assert mode(backup) == 0o600, oct(mode(backup))
        # Never over an existing file.
        again = t.run(argv, name="backup-again")
        assert again.returncode == 1 and "exists already" in again.stderr, again.describe()
        url = relay.url
    # The relay is gone; a new one on the copy, on the same address.
    restored = t.fresh_dir("relay-restored")
    shutil.copyfile(backup, restored / "relay.sqlite")
    port = int(url.rsplit(":", 1)[1])
    with t.relay(data=restored, port=port) as relay:
        listener = bob.listen(ROOM, relay.url, count=len(lines), timeout=40)
        assert [m["text"] for m in listener.messages()] == lines, listener.finish().describe()


def test_backup_under_load_holds_everything_committed_before_it(t):
    """A backup taken while a member sends: everything the relay had committed (and so
    acknowledged) when the backup began is in the copy, the copy is a consistent prefix
    of the room's log, and a relay on it serves exactly those messages, in order."""
    data = t.fresh_dir("relay-data")
    users = t.make_users(["alice", "bob"])
    alice, bob = users["alice"], users["bob"]
    lines = [f"busy {i}" for i in range(1, 601)]
    backup = t.tmp / "busy.sqlite"
    with t.relay(data=data) as relay:
        alice.create(ROOM, relay.url).expect_ok("alice creates")
        sender = alice.start_send(ROOM, relay.url, lines)
        deadline = time.monotonic() + 60
        while relay.db_counts()["log"] < 50:
            assert time.monotonic() < deadline and sender.running(), "alice's send never got going"
            time.sleep(0.02)
        committed_before = relay.db_counts()["log"]
        result = t.run([harness.args().relay, "--backup", str(backup), "--data", str(data)], name="backup")
        committed_after = relay.db_counts()["log"]
        assert result.returncode == 0, result.describe()
        copied = re.search(r"(\d+) stored message\(s\)", result.stderr)
        assert copied, result.describe()
        in_copy = int(copied.group(1))
        assert committed_before <= in_copy <= committed_after, (
            f"the copy holds {in_copy} messages; {committed_before} were committed when it began, "
            f"{committed_after} when it ended")
        sent = sender.wait(120, "alice's send")
        assert sent.returncode == 0, sent.describe()
        assert in_copy < len(lines), "the send ended before the backup: nothing was under load"
        url = relay.url
    restored = t.fresh_dir("relay-restored")
    shutil.copyfile(backup, restored / "relay.sqlite")
    with t.relay(data=restored, port=int(url.rsplit(":", 1)[1])) as relay:
        listener = bob.listen(ROOM, relay.url, count=in_copy, timeout=60)
        assert [m["text"] for m in listener.messages()] == lines[:in_copy], listener.finish().describe()


# --------------------------------------------------------------------------- metrics


def project_version():
    m = re.search(r"^project\(parley VERSION (\d+\.\d+\.\d+)", (harness.REPO_ROOT / "CMakeLists.txt").read_text(),
                  re.M)
    assert m, "CMakeLists.txt has no project(parley VERSION X.Y.Z)"
    return m.group(1)


def scrape(relay):
    """{'name{labels}': value} of GET /metrics on the relay's metrics address; every
    line a comment or a sample."""
    status, head, body = harness.http_get(relay.metrics_port, "/metrics")
    assert status == 200, f"GET /metrics on the metrics address answered {status}: {body[:200]!r}"
    assert "content-type: text/plain; version=0.0.4" in head, f"not Prometheus text 0.0.4:\n{head}"
    samples = {}
    for line in body.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)", line)
        assert m, f"not a sample line: {line!r}"
        samples[m.group(1)] = float(m.group(2))
    return samples


def commit_histogram(samples):
    """[(le, cumulative count)] of parley_relay_commit_seconds, checked: the bounds
    rise, the counts never fall, +Inf is last and equals _count."""
    buckets = [(float(m.group(1)), v) for k, v in samples.items()
               if (m := re.fullmatch(r'parley_relay_commit_seconds_bucket\{le="([^"]+)"\}', k))]
    assert len(buckets) == 11, f"the commit histogram has {len(buckets)} buckets: {buckets}"
    assert [b for b, _ in buckets] == sorted(b for b, _ in buckets) and buckets[-1][0] == float("inf"), buckets
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), f"buckets not cumulative: {buckets}"
    assert buckets[-1][1] == samples["parley_relay_commit_seconds_count"], (buckets, samples)
    return buckets


def test_metrics_are_served_on_their_own_address(t):
    metrics_port = harness.free_port()
    users = t.make_users(["alice", "bob"])
    alice, bob = users["alice"], users["bob"]
    with t.relay(extra_args=["--metrics-listen", f"127.0.0.1:{metrics_port}"]) as relay:
        assert relay.metrics_port == metrics_port, relay.proc.stderr()
        assert "warning" not in relay.proc.stderr(), "a loopback metrics address is nothing to warn about"

        before = scrape(relay)
        assert before.get(f'parley_relay_build_info{{version="{project_version()}"}}') == 1, sorted(before)
        assert before["process_open_fds"] >= 3, before["process_open_fds"]
        assert before["process_max_fds"] >= before["process_open_fds"]
        assert before["process_resident_memory_bytes"] > 1 << 20, before["process_resident_memory_bytes"]
        assert abs(before["process_start_time_seconds"] - time.time()) < 60, before["process_start_time_seconds"]
        assert "process_cpu_seconds_total" in before
        assert before["parley_relay_rooms_in_memory"] == 0
        commit_histogram(before)

        # Traffic: a room, a member online, five messages.
        alice.create(ROOM, relay.url).expect_ok("alice creates")
        listener = bob.listen(ROOM, relay.url, count=5, timeout=40)
        online = scrape(relay)
        assert online["parley_relay_rooms_in_memory"] == 1, "bob is joined: his room is in memory"
        alice.send(ROOM, relay.url, [f"counted {i}" for i in range(5)]).expect_ok("alice sends")
        assert len(listener.messages()) == 5, listener.finish().describe()

        after = scrape(relay)
        commits = after["parley_relay_commit_seconds_count"] - before["parley_relay_commit_seconds_count"]
        assert commits >= 1, f"five messages stored, no commit timed: {after['parley_relay_commit_seconds_count']}"
        assert commits == after["parley_relay_commit_batches_total"] - before["parley_relay_commit_batches_total"]
        assert after["parley_relay_commit_seconds_sum"] > before["parley_relay_commit_seconds_sum"]
        commit_histogram(after)
        assert after["parley_relay_messages_stored_total"] == 6, "five lines and the send's closing sync"
        # Frames in: alice's Publish, Joins and Sends, bob's GetChain and Join.
        assert after["parley_relay_frames_in_total"] >= before["parley_relay_frames_in_total"] + 5 + 2
        # Frames out: alice's Acks and bob's Delivers at least.
        assert after["parley_relay_frames_out_total"] >= before["parley_relay_frames_out_total"] + 10
        # Every member gone: the room leaves memory.
        deadline = time.monotonic() + 10
        while scrape(relay)["parley_relay_rooms_in_memory"] != 0:
            assert time.monotonic() < deadline, "the room stayed in memory with no one online"
            time.sleep(0.1)

        # The metrics address: /healthz too, nothing else; one request per connection.
        status, head, body = harness.http_get(metrics_port, "/healthz")
        assert status == 200 and body == "ok\n", (status, body)
        assert "connection: close" in head, head
        assert harness.http_get(metrics_port, "/metrics/x")[0] == 404
        assert harness.http_get(metrics_port, "/")[0] == 404
        # The client port: /healthz for load balancers, never /metrics.
        status, _, body = harness.http_get(relay.port, "/healthz")
        assert status == 200 and body == "ok\n", (status, body)
        status, _, body = harness.http_get(relay.port, "/metrics")
        assert status == 404 and "parley_relay" not in body, f"the client port serves /metrics: {status}"


def test_metrics_address_in_use_or_off(t):
    metrics_port = harness.free_port()
    with t.relay(extra_args=["--metrics-listen", f"127.0.0.1:{metrics_port}"]) as first:
        argv = [harness.args().relay, "--listen", "127.0.0.1:0", "--data", str(t.fresh_dir("relay-data")),
                "--metrics-listen", f"127.0.0.1:{metrics_port}"]
        second = t.run(argv, name="second-relay", timeout=harness.STARTUP_TIMEOUT_S)
        assert second.returncode == 1, f"a relay whose metrics port is taken: {second.describe()}"
        assert f"cannot listen for metrics on 127.0.0.1:{metrics_port}" in second.stderr, second.describe()
        assert "hint:" in second.stderr and "listening on" not in second.stderr, second.describe()
        assert scrape(first)["parley_relay_connections"] == 0, "the first relay's metrics were taken over"

    # off: no metrics address at all; the client port still has none either.
    with t.relay(extra_args=["--metrics-listen", "off"]) as relay:
        assert relay.metrics_port == 0 and "metrics on" not in relay.proc.stderr(), relay.proc.stderr()
        assert harness.http_get(relay.port, "/metrics")[0] == 404
    argv = [harness.args().relay, "--listen", "127.0.0.1:0", "--data", str(t.fresh_dir("relay-data")),
            "--metrics-listen", "9464"]
    bad = t.run(argv, name="bad-metrics-listen", timeout=harness.STARTUP_TIMEOUT_S)
    assert bad.returncode == 2 and "invalid --metrics-listen '9464'" in bad.stderr, bad.describe()


def test_metrics_beyond_loopback_are_allowed_with_a_warning(t):
    metrics_port = harness.free_port()
    with t.relay(extra_args=["--metrics-listen", f"0.0.0.0:{metrics_port}"]) as relay:
        assert re.search(rf"parley-relay: warning: metrics on http://0\.0\.0\.0:{metrics_port} are open "
                         r"beyond loopback", relay.proc.stderr()), relay.proc.stderr()
        assert relay.metrics_port == metrics_port
        assert "process_open_fds" in scrape(relay)


def closed_by_peer(sock, within):
    """True if the peer closes `sock` (EOF or a reset) within `within` seconds."""
    sock.settimeout(within)
    try:
        while sock.recv(4096):
            pass
        return True
    except socket.timeout:
        return False
    except OSError:  # a reset: closed too
        return True


def test_metrics_address_is_bounded(t):
    """At most 8 metrics connections at once (one more is closed at once), each
    dropped when it has not sent a whole request within 5 s, and a request of at
    most 4 KiB."""
    with t.relay() as relay:
        port = relay.metrics_port
        assert port, "harness.Relay gives every relay a metrics address"
        idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(9)]
        opened = time.monotonic()
        try:
            # One of the nine is over the cap: closed without a word.
            closed = [s for s in idle if closed_by_peer(s, 0.2)]
            deadline = time.monotonic() + 3
            while len(closed) < 1 and time.monotonic() < deadline:
                closed += [s for s in idle if s not in closed and closed_by_peer(s, 0.1)]
            assert len(closed) == 1, f"{len(closed)} of 9 idle metrics connections closed at once, expected 1"
            # The eight others hold every slot until their deadline: a scrape now is refused too.
            with socket.create_connection(("127.0.0.1", port), timeout=5) as extra:
                try:
                    extra.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                    answer = extra.recv(4096)
                except OSError:
                    answer = b""
            assert not answer, f"a scrape was served beside eight idle connections: {answer[:80]!r}"
            for s in idle:
                if s not in closed:
                    assert closed_by_peer(s, 10), "an idle metrics connection was never dropped"
            took = time.monotonic() - opened
            assert 3 < took < 10, f"idle metrics connections dropped after {took:.1f}s, not about 5"
        finally:
            for s in idle:
                s.close()
        # Slots free again: scraped as usual.
        deadline = time.monotonic() + 5
        while True:
            try:
                assert "process_open_fds" in scrape(relay)
                break
            except (AssertionError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

        # A request over 4 KiB is not answered.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            try:
                sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 5000 + b"\r\n\r\n")
                answer = sock.recv(4096)
            except OSError:
                answer = b""
        assert not answer.startswith(b"HTTP/1.1 200"), f"a 5 KB request was answered: {answer[:80]!r}"
        # Just under it is.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 3000 + b"\r\n\r\n")
            answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200"), f"a 3 KB request: {answer[:80]!r}"
        assert relay.proc.running()


if __name__ == "__main__":
    harness.main([
        test_data_directory_is_the_relays_alone,
        test_a_second_relay_on_the_same_data_is_refused,
        test_sighup_reloads_the_certificate,
        test_backup_of_a_running_relay_restores_every_message,
        test_backup_under_load_holds_everything_committed_before_it,
        test_metrics_are_served_on_their_own_address,
        test_metrics_address_in_use_or_off,
        test_metrics_beyond_loopback_are_allowed_with_a_warning,
        test_metrics_address_is_bounded,
    ])
