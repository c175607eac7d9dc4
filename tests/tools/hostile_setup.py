"""Shared by the hostile-relay tests (test_hostile_relay.py, test_hostile_records.py,
test_lost_acks.py):
a relay with the scripted man-in-the-middle proxy (hostile_proxy.py) in front of it,
and helpers that read what the clients showed.

Every hostile test checks the same rule: a forged, replayed or misattributed message
is never shown with status ok; it is either shown as rejected/warning with a reason,
or it leaves the client unaffected (nothing shown, later genuine messages arrive).
"""
import json
import re
import signal
import time

import harness
import hostile_proxy as hp

ROOM = "den"
OTHER_ROOM = "attic"
LISTEN_TIMEOUT = 40
WAIT_S = 30.0


class Setup:
    """A relay, a proxy in front of it, and users. `url(label)` is a proxy port whose
    connections carry that label (hooks pick their victims by label)."""

    def __init__(self, t, names=("alice", "bob")):
        self.t = t
        self.relay = t.relay().start()
        self.proxy = hp.HostileProxy("127.0.0.1", self.relay.port).start()
        self.users = t.make_users(list(names))
        self._urls = {}

    def url(self, label: str) -> str:
        if label not in self._urls:
            self._urls[label] = self.proxy.listen(label)
        return self._urls[label]

    def close(self, ok: bool) -> None:
        self.proxy.stop()
        if ok:
            self.relay.stop()
        elif self.relay.proc is not None:
            self.relay.proc.kill()

    def check_proxy(self) -> None:
        assert not self.proxy.errors, f"proxy errors: {self.proxy.errors}"


def run_setup(t, body, names=("alice", "bob")):
    s = Setup(t, names)
    ok = False
    try:
        body(s)
        s.check_proxy()
        ok = True
    finally:
        s.close(ok)


def json_lines(text: str) -> list:
    out = []
    for raw in text.splitlines():
        raw = raw.strip()
        if raw:
            try:
                out.append(json.loads(raw))
            except json.JSONDecodeError:
                raise AssertionError(f"listener printed a non-JSON line: {raw!r}")
    return out


def wait_stdout(proc: harness.Proc, pred, timeout: float, what: str) -> list:
    """Poll a listener's JSON lines until pred(lines) holds (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = json_lines(proc.stdout())
        if pred(lines):
            return lines
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout:.0f}s\n  {proc.result(-1).describe()}")
        if not proc.running():
            raise AssertionError(f"{what}: process exited first\n  {proc.result().describe()}")
        time.sleep(0.05)


def ok_lines(lines):
    return [m for m in lines if m.get("status") == "ok"]


def has_ok(text: str):
    return lambda lines: any(m.get("status") == "ok" and m.get("text") == text for m in lines)


def assert_genuine_only(lines: list, genuine: list, who: str, result=None) -> None:
    """Every ok line is one of `genuine` [(from, text)], each at most once."""
    ctx = f"\n  {result.describe()}" if result is not None else f"\n  lines: {lines}"
    seen = []
    for m in ok_lines(lines):
        pair = (m.get("from"), m.get("text"))
        assert pair in genuine, f"{who}: FORGED/ALTERED message shown as ok: {m}{ctx}"
        assert pair not in seen, f"{who}: message shown twice (replay accepted): {m}{ctx}"
        seen.append(pair)


def rejected(lines, pattern: str = ""):
    rx = re.compile(pattern, re.I)
    return [m for m in lines if m.get("status") == "rejected" and rx.search(m.get("reason", ""))]


def stop(proc: harness.Proc) -> None:
    proc.signal(signal.SIGTERM)
    try:
        proc.popen.wait(timeout=5)
    except Exception:
        proc.kill()


def renumbered(frame_bytes: bytes, seq: int) -> bytes:
    f = hp.parse_frame(frame_bytes)
    f.seq = seq
    return f.encode()


def is_v2_non_text(envelope: bytes) -> bool:
    """An envelope of protocol version 2 that is not a text (its clear type byte): a
    first-of-epoch sync, a key-update or a sync of §5.1, which version 2 puts around
    a member's texts (docs/PROTOCOL.md §10.4)."""
    return len(envelope) >= 2 and envelope[0] == 2 and envelope[1] != 1


def deliver_hook(label: str, fn, readers_only: bool = True):
    """A relay->client hook calling fn(conn, frame, index) for each Deliver to `label`'s
    reading connections (index counts Delivers per label, from 0). In a room of
    version 2 it counts texts only: the syncs and key-updates around them pass."""
    counter = {"n": 0}

    def hook(conn, data):
        if conn.label != label:
            return None
        f = hp.parse_frame(data)
        if f is None or f.type != hp.DELIVER or (readers_only and conn.reader is False):
            return None
        if is_v2_non_text(f.envelope):
            return None
        i = counter["n"]
        counter["n"] += 1
        return fn(conn, f, i)
    return hook


def give_devices(s: Setup) -> None:
    """Protocol version 2 (docs/PROTOCOL.md §10.5): each user makes a device in the
    state folder its room commands use, and every card goes into everyone's
    public_keys/ as NAME.DEVICE.card."""
    import shutil
    from pathlib import Path
    cards = []
    for name, user in s.users.items():
        s.t.run_parley(["device", "add", "dev", "--user", name, "--dir", str(user.dir), "--state", str(user.state)],
                       name=f"{name}-device").expect_ok(f"{name}: device add")
        (card,) = Path(user.state).glob("device-*.card")
        cards.append((name, card))
    for user in s.users.values():
        for name, card in cards:
            shutil.copyfile(card, user.public_keys / f"{name}.dev.card")


def create_room(s: Setup, room: str = ROOM, joiners=None, protocol: int = 1) -> harness.Invite:
    """alice creates `room` (of that protocol version; 2 gives every user a device
    first); then each of `joiners` (default: every other user) joins it with the
    invite straight at the relay, not through the proxy, as members do before the
    tests' hostile relay plays its part. Returns the invite."""
    extra = []
    if protocol == 2:
        if not getattr(s, "devices_given", False):
            give_devices(s)
            s.devices_given = True
        extra = ["--protocol", "2"]
    s.users["alice"].create(room, s.relay.url, extra=extra).expect_ok(f"alice creates {room}")
    for name in (joiners if joiners is not None else [n for n in s.users if n != "alice"]):
        s.users[name].join(room=room, server=s.relay.url).expect_ok(f"{name} joins {room} with the invite")
    return s.t.invite(room)


def start_chat(s: Setup, name: str, label: str = "") -> harness.Proc:
    """`parley chat` for `name` through the proxy port `label` (default: the name), with
    stdin open for lines, once it joined (a line typed before shows as pending first)."""
    chat = s.users[name].start("chat", ROOM, s.url(label or name))
    chat.wait_for_stdout(re.compile(r"joined room"), WAIT_S, f"{name}'s chat joins")
    return chat


def in_version_2(test):
    """The same test in a room of protocol version 2 (docs/PROTOCOL.md §10: device
    chains, one key per message, syncs and key-updates around the texts): `test`
    takes `protocol`, 1 by default."""
    def run(t):
        test(t, protocol=2)
    run.__name__ = test.__name__ + "_in_version_2"
    return run
