#!/usr/bin/env python3
"""The same round trip over wss:// with a self-signed certificate (scripts/make-test-cert.sh).

Clients trust the certificate with --ca cert.pem and connect to wss://localhost:PORT
(the certificate names DNS:localhost and IP:127.0.0.1). Without --ca a client must
refuse the connection with an error that mentions the certificate.
"""
import socket
import ssl
import sys

sys.dont_write_bytecode = True
import harness  # noqa: E402

ROOM = "tls-room"
NAMES = ["alice", "bob", "charlie"]


def test_round_trip_over_wss(t):
    cert, key = harness.make_test_cert(t.fresh_dir("tls"))
    with t.relay(cert=cert, key=key) as relay:
        server = relay.url_for("localhost")
        users = t.make_users(NAMES)
        fingerprints = harness.fingerprints_of(users["bob"], NAMES)
        users["alice"].create(ROOM, server, ca=cert).expect_ok("alice creates the room over wss")

        expected = [(n, f"{n}: over TLS {i}") for n in NAMES for i in (1, 2)]
        listeners = {n: users[n].listen(ROOM, server, count=len(expected), ca=cert)
                     for n in NAMES}
        for name in NAMES:
            lines = [text for sender, text in expected if sender == name]
            users[name].send(ROOM, server, lines, ca=cert).expect_ok(f"{name} sends over wss")
        for name in NAMES:
            listeners[name].expect_messages(expected, fingerprints)


def test_client_without_ca_rejects_self_signed_cert(t):
    cert, key = harness.make_test_cert(t.fresh_dir("tls"))
    with t.relay(cert=cert, key=key) as relay:
        server = relay.url_for("localhost")
        users = t.make_users(["alice", "bob"])
        users["alice"].create(ROOM, server).expect_fail(
            "create over wss without --ca", "certificate")
        users["alice"].create(ROOM, server, ca=cert).expect_ok("create over wss with --ca")
        users["bob"].join(room=ROOM, server=server).expect_fail("join over wss without --ca", "certificate")
        users["bob"].join(room=ROOM, server=server, ca=cert).expect_ok("join over wss with --ca")
        users["bob"].send(ROOM, server, ["should not go"]).expect_fail(
            "send over wss without --ca", "certificate")
        listener = users["bob"].listen(ROOM, server, count=1, timeout=15, wait_joined=False)
        listener.finish().expect_fail("listen over wss without --ca", "certificate")


def test_ip_address_in_san_is_accepted(t):
    cert, key = harness.make_test_cert(t.fresh_dir("tls"))
    with t.relay(cert=cert, key=key) as relay:
        users = t.make_users(["alice"])
        users["alice"].create(ROOM, relay.url_for("127.0.0.1"), ca=cert).expect_ok(
            "create over wss://127.0.0.1 (IP SAN) with --ca")


def test_certificate_for_another_host_is_rejected(t):
    """A trusted certificate that names another host must not be accepted (hostname check)."""
    d = t.fresh_dir("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    t.run(["openssl", "req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", str(key),
           "-out", str(cert), "-days", "1", "-subj", "/CN=wrong.example",
           "-addext", "subjectAltName=DNS:wrong.example"], name="openssl").expect_ok("openssl req")
    with t.relay(cert=cert, key=key) as relay:
        users = t.make_users(["alice"])
        users["alice"].create(ROOM, relay.url_for("localhost"), ca=cert).expect_fail(
            "create over wss://localhost with a certificate for wrong.example",
            "certificate", "host")


def get_healthz(port, ctx, session=None):
    """GET /healthz over TLS; returns (session, reused, negotiated version)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
            negotiated = tls.version()
            tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := tls.recv(4096):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
            return tls.session, tls.session_reused, negotiated


def test_no_tls_session_resumption(t):
    """The relay issues no session tickets and keeps no session cache: tickets or a
    cache cost memory for every session, and resumption saves nothing worth that for
    a handful of long-lived connections. (It speaks TLS 1.3 only, see below.)"""
    cert, key = harness.make_test_cert(t.fresh_dir("tls"))
    with t.relay(cert=cert, key=key) as relay:
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
        first, _, negotiated = get_healthz(relay.port, ctx)
        assert negotiated == "TLSv1.3", f"negotiated {negotiated}"
        _, reused, _ = get_healthz(relay.port, ctx, session=first)
        print(f"  measure: TLS 1.3 session ticket issued {first.has_ticket}, resumed {reused}", flush=True)
        assert not first.has_ticket, "the relay issued a session ticket"
        assert not reused, "the relay resumed a session"


def test_tls12_client_is_refused(t):
    """The relay speaks TLS 1.3 only (Parley's client is its only client): a client
    limited to TLS 1.2 fails the handshake with a protocol_version alert, at once, and
    a client that offers both gets TLS 1.3."""
    cert, key = harness.make_test_cert(t.fresh_dir("tls"))
    with t.relay(cert=cert, key=key) as relay:
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        try:
            _, _, negotiated = get_healthz(relay.port, ctx)
        except ssl.SSLError as e:
            print(f"  measure: a TLS 1.2 client got: {e.reason}", flush=True)
            assert "PROTOCOL_VERSION" in (e.reason or "").upper(), f"refused for another reason: {e}"
        else:
            raise AssertionError(f"a TLS 1.2-only client completed a handshake ({negotiated})")
        both = ssl.create_default_context(cafile=str(cert))
        both.minimum_version = ssl.TLSVersion.TLSv1_2
        both.maximum_version = ssl.TLSVersion.TLSv1_3
        _, _, negotiated = get_healthz(relay.port, both)
        assert negotiated == "TLSv1.3", f"negotiated {negotiated}"


def test_client_refuses_a_tls12_server(t):
    """Parley's client speaks TLS 1.3 only as well: a server (say, a proxy in front of
    the relay) that offers at most TLS 1.2 is refused during the handshake."""
    import threading
    cert, key = harness.make_test_cert(t.fresh_dir("tls"))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(str(cert), str(key))
    server_ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen = {}

    def serve():
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                seen["version"] = tls.version()
        except (ssl.SSLError, OSError) as e:
            seen["error"] = str(e)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    users = t.make_users(["alice"])
    users["alice"].create(ROOM, f"wss://localhost:{port}", ca=cert).expect_fail(
        "create against a TLS 1.2-only server", "TLS")
    server.join(10)
    listener.close()
    print(f"  measure: the TLS 1.2-only server saw: {seen}", flush=True)
    assert "version" not in seen, f"the client completed a {seen['version']} handshake"


if __name__ == "__main__":
    harness.main([test_no_tls_session_resumption, test_tls12_client_is_refused, test_round_trip_over_wss, test_client_without_ca_rejects_self_signed_cert,
                  test_ip_address_in_san_is_accepted,
                  test_certificate_for_another_host_is_rejected, test_client_refuses_a_tls12_server])
