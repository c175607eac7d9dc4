#!/usr/bin/env python3
"""The relay as a sysadmin runs it (issue 12): its data directory is its own (0700,
database files 0600, a looser folder tightened with a log line), one relay at a time
uses it (a second one is refused and says which process holds it), and SIGHUP reloads
the certificate (a renewal): new handshakes get the new one, open connections stay, a
certificate that does not load keeps the one in force; `--backup FILE` copies a running
relay's database, and a relay started on the copy serves every message."""
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
        argv = [harness.args().relay, "--listen", "127.0.0.1:0", "--data", str(data)]
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


if __name__ == "__main__":
    harness.main([
        test_data_directory_is_the_relays_alone,
        test_a_second_relay_on_the_same_data_is_refused,
        test_sighup_reloads_the_certificate,
        test_backup_of_a_running_relay_restores_every_message,
    ])
