#!/usr/bin/env python3
"""Lost acknowledgements: the connection between a member and the relay is cut right
after the relay stored the member's message, so its Ack never arrives (the scripted
proxy of test_hostile_relay.py does the cutting). The client sends the same bytes
again as a Resend (docs/PROTOCOL.md §6.2); the relay answers with the stored copy's
number and keeps no second copy, so no one is warned about a replay or a reflection
that never happened.
"""
import re
import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import harness  # noqa: E402
import hostile_proxy as hp  # noqa: E402
from hostile_setup import (  # noqa: E402
    in_version_2, LISTEN_TIMEOUT, ROOM, WAIT_S, Setup, assert_genuine_only, create_room, ok_lines, rejected,
    run_setup, start_chat)


# --------------------------------------------------------------------------- lost acknowledgements


def cut_at_first_text_ack(s: Setup, label: str, seen: dict) -> None:
    """Hooks on the proxy: the Ack of `label`'s first text is dropped and the
    connection cut with it, as a network that fails right after the relay stored a
    message would. `seen` records that Ack's sequence number (proxy-numbered). (In
    version 2 a sync and a key-update go before the first text, §10.4.)"""
    texts = set()

    def client_hook(conn, data):
        f = hp.parse_frame(data)
        if conn.label == label and f is not None and f.type == hp.SEND and f.envelope[1:2] == b"\x01":
            texts.add((conn.id, f.request))
        return None

    def relay_hook(conn, data):
        f = hp.parse_frame(data)
        if (conn.label != label or f is None or f.type != hp.ACK or "ack_seq" in seen
                or (conn.id, f.request) not in texts):
            return None
        seen["ack_seq"] = f.seq
        conn.cut()
        return []
    s.proxy.on_client_frame = client_hook
    s.proxy.on_relay_frame = relay_hook


def acks_after_resend(s: Setup, label: str) -> list:
    """(seq of each Ack) on `label`'s connections that sent a Resend, and check the proxy
    saw one Resend: the client sent the lost message again, marked as such."""
    resends = [f for c in s.proxy.conns if c.label == label for f in c.frames("c2r", "got", hp.RESEND)]
    assert len(resends) == 1, f"expected one Resend from {label}, got {len(resends)}"
    return [f.seq for c in s.proxy.conns if c.label == label and c.frames("c2r", "got", hp.RESEND)
            for f in c.frames("r2c", "sent", hp.ACK)]


def test_lost_ack_resend_is_stored_once(t, protocol=1):
    """The relay stores alice's message, then her connection drops with the Ack. `send`
    reconnects and sends the same bytes again as a Resend; the relay answers with the
    stored copy's number and keeps no second copy. bob sees the message once, and no
    replay warning (before, the second copy reached him as a replay)."""
    def body(s):
        create_room(s, protocol=protocol)
        seen = {}
        cut_at_first_text_ack(s, "alice", seen)
        bob = s.users["bob"].listen(ROOM, s.relay.url, count=2, timeout=LISTEN_TIMEOUT)
        s.users["alice"].send(ROOM, s.url("alice"), ["said once"]).expect_ok("alice's send across the cut")
        s.users["alice"].send(ROOM, s.url("alice"), ["said after"]).expect_ok("alice's next send")
        assert acks_after_resend(s, "alice")[:1] == [seen["ack_seq"]], (
            f"the Resend was not acknowledged with the stored copy's number {seen['ack_seq']}")
        result = bob.finish()
        lines = bob.lines()
        assert_genuine_only(lines, [("alice", "said once"), ("alice", "said after")], "bob", result)
        assert [m["text"] for m in ok_lines(lines)] == ["said once", "said after"], f"bob: {lines}"
        assert not rejected(lines), f"bob was warned about a message alice sent once: {rejected(lines)}"
        result.expect_ok("bob's listener")
    run_setup(t, body)


def test_lost_ack_in_chat_is_not_a_reflection(t, protocol=1):
    """The same cut while alice chats: on reconnecting her chat resumes its stream, which
    brings back the message it is still waiting to have acknowledged. That is hers, not a
    reflection: shown once, no warning; the Resend gets the stored copy's number."""
    def body(s):
        create_room(s, protocol=protocol)
        seen = {}
        cut_at_first_text_ack(s, "alice", seen)
        bob = s.users["bob"].listen(ROOM, s.relay.url, count=2, timeout=LISTEN_TIMEOUT)
        chat = start_chat(s, "alice")
        chat.write_stdin("across the cut\n")
        chat.wait_for_stdout(re.compile(r"reconnected"), WAIT_S, "alice's chat reconnects after the cut")
        chat.wait_for_stdout(re.compile(r"alice \(you\): across the cut"), WAIT_S, "alice's chat shows her line")
        chat.write_stdin("after the cut\n/quit\n", close=True)
        result = chat.wait(harness.COMMAND_TIMEOUT_S, "alice's chat")
        result.expect_ok("alice's chat")
        out = result.stdout
        assert "rejected" not in out, f"alice's chat warned about her own message\n  {result.describe()}"
        assert out.count("across the cut") == 1, f"alice's line shown twice\n  {result.describe()}"
        assert acks_after_resend(s, "alice")[:1] == [seen["ack_seq"]], (
            f"the Resend was not acknowledged with the stored copy's number {seen['ack_seq']}")
        bob_result = bob.finish()
        lines = bob.lines()
        assert [m["text"] for m in ok_lines(lines)] == ["across the cut", "after the cut"], f"bob: {lines}"
        assert not rejected(lines), f"bob was warned about a message alice sent once: {rejected(lines)}"
        bob_result.expect_ok("bob's listener")
    run_setup(t, body)


def test_quit_right_after_a_line_waits_for_its_ack(t, protocol=1):
    """alice types a line and /quit at once, and the relay's Ack is slow (1.5 s): her
    chat waits for it (5 s at most) and says the line was sent, not "not sent" for a
    message the relay stored."""
    def body(s):
        create_room(s, protocol=protocol)
        texts = set()

        def client_hook(conn, data):
            f = hp.parse_frame(data)
            if conn.label == "alice" and f is not None and f.type == hp.SEND and f.envelope[1:2] == b"\x01":
                texts.add((conn.id, f.request))
            return None

        def relay_hook(conn, data):
            f = hp.parse_frame(data)
            if conn.label == "alice" and f is not None and f.type == hp.ACK and (conn.id, f.request) in texts:
                conn.inject_to_client(data, delay=1.5)
                return []
            return None
        s.proxy.on_client_frame = client_hook
        s.proxy.on_relay_frame = relay_hook
        bob = s.users["bob"].listen(ROOM, s.relay.url, count=1, timeout=LISTEN_TIMEOUT)
        chat = start_chat(s, "alice")
        chat.write_stdin("last words\n/quit\n", close=True)
        result = chat.wait(harness.COMMAND_TIMEOUT_S, "alice's chat")
        result.expect_ok("alice's chat")
        assert "not sent" not in result.stdout + result.stderr, f"a stored line reported not sent\n  {result.describe()}"
        assert re.search(r"alice \(you\): last words", result.stdout), result.describe()
        bob_result = bob.finish()
        assert [m["text"] for m in ok_lines(bob.lines())] == ["last words"], bob_result.describe()
    run_setup(t, body)


TESTS = [test_lost_ack_resend_is_stored_once, test_lost_ack_in_chat_is_not_a_reflection,
         test_quit_right_after_a_line_waits_for_its_ack]

if __name__ == "__main__":
    harness.main(TESTS + [in_version_2(test) for test in TESTS])
