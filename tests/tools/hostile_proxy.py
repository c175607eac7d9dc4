"""A hostile relay for tests: a man-in-the-middle WebSocket proxy between real
`parley` clients and the real `parley-relay`. Python standard library only.

    proxy = HostileProxy("127.0.0.1", relay.port).start()
    url_bob = proxy.listen("bob")        # bob's clients connect here: ws://127.0.0.1:PORT
    proxy.on_relay_frame = my_hook       # relay -> client frames
    proxy.on_client_frame = other_hook   # client -> relay frames
    ...
    proxy.stop()

Each client connection gets its own upstream WebSocket to the relay. Binary
messages (Parley frames, docs/PROTOCOL.md §6) are passed to the hook of their
direction, running on the proxy's event-loop thread:

    def hook(conn: Conn, frame: bytes) -> list | None

returning None forwards the frame unchanged; a list forwards each item in order
(empty: drop; two copies: duplicate; other bytes: rewrite or inject); an item may
be `Delayed(seconds, bytes)` to send it later. A hook can also keep frames to
release them later (reorder) and call `conn.inject_to_client(bytes)` /
`conn.inject_to_relay(bytes)`, also from other threads. Every frame each side
sent, and every frame the proxy passed on, is recorded in `conn.log`.

Sequence numbers: hooks, `conn.log` and injected frames speak "stride
space": the relay's numbers times SEQ_STRIDE (Deliver, NewHead, Ack, Joined),
so `seq + 1` after a real frame is free for an injected one and never collides
with the relay's next real one. On the wire the client gets dense numbers, as
a relay that numbers its own injections would send them (a client asks again
for a hole in the numbering, §6.2, so the stride itself must not show): per
client label and chain (a SeqView), each frame takes its number when the proxy
sends it, in order; a real item keeps its distance from the one before it (a
dropped Deliver leaves its hole), an injected one after everything sent takes
the next number, and one below what was sent takes an old number. Joined is
predicted the same way, and the client's `Join.after_seq` is mapped back to the
relay's numbers.

WebSocket (RFC 6455): the server-side handshake (Sec-WebSocket-Accept =
base64(sha1(key + GUID))), the client-side handshake to the relay, masked
client frames and unmasked server frames, 7/16/64-bit lengths, fragmented
messages, ping/pong answered locally, close passed through. No extensions.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import hashlib
import os
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SEQ_STRIDE = 1000
NO_BACKLOG = 2**64 - 1
MAX_MESSAGE = 64 * 1024 * 1024

# --------------------------------------------------------------------------- Parley frames (§6)

GET_CHAIN, PUBLISH, JOIN, SEND, RESEND = 0x01, 0x02, 0x03, 0x04, 0x05
CHAIN, PUBLISHED, JOINED, ACK, DELIVER, NEW_HEAD, ERROR = 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x8F

FRAME_FIELDS = {
    GET_CHAIN: [("request", "u64"), ("room", 32), ("genesis", 32), ("after", 32)],
    PUBLISH: [("request", "u64"), ("room", 32), ("token", 32), ("record", "blob")],
    JOIN: [("request", "u64"), ("room", 32), ("genesis", 32), ("token", 32), ("after_seq", "u64")],
    SEND: [("request", "u64"), ("room", 32), ("genesis", 32), ("envelope", "blob")],
    RESEND: [("request", "u64"), ("room", 32), ("genesis", 32), ("envelope", "blob")],
    CHAIN: [("request", "u64"), ("room", 32), ("genesis", 32), ("complete", "u8"), ("records", "records")],
    PUBLISHED: [("request", "u64"), ("hash", 32)],
    JOINED: [("request", "u64"), ("head_epoch", "u64"), ("head_hash", 32), ("last_seq", "u64"),
             ("first_seq", "u64")],
    ACK: [("request", "u64"), ("seq", "u64")],
    DELIVER: [("room", 32), ("genesis", 32), ("seq", "u64"), ("envelope", "blob")],
    NEW_HEAD: [("room", 32), ("genesis", 32), ("seq", "u64"), ("record", "blob")],
    ERROR: [("request", "u64"), ("code", "u16")],
}
FRAME_NAMES = {GET_CHAIN: "GetChain", PUBLISH: "Publish", JOIN: "Join", SEND: "Send", RESEND: "Resend",
               CHAIN: "Chain",
               PUBLISHED: "Published", JOINED: "Joined", ACK: "Ack", DELIVER: "Deliver",
               NEW_HEAD: "NewHead", ERROR: "Error"}
INT_FORMATS = {"u8": ">B", "u16": ">H", "u32": ">I", "u64": ">Q"}

# Error codes (lib/wire/frames.h RelayError).
ERR_MALFORMED, ERR_BAD_VERSION, ERR_TOO_LARGE, ERR_UNKNOWN_CHAIN = 1, 2, 3, 4
ERR_NOT_HEAD, ERR_BAD_RECORD, ERR_FORBIDDEN, ERR_NOT_JOINED, ERR_LIMIT, ERR_INTERNAL = 5, 6, 7, 8, 9, 10
ERR_ROOM_EXISTS, ERR_NOT_FOUNDER, ERR_QUOTA = 11, 12, 13
ZERO32 = bytes(32)


class Frame:
    """A decoded Parley frame: .version, .type, and one attribute per field.
    Chain.records is one page of the chain: a list of record bytes (Chain.complete
    is 1 when the page ends at the head)."""

    def __init__(self, ftype: int, version: int = 1, **fields):
        self.version = version
        self.type = ftype
        for k, v in fields.items():
            setattr(self, k, v)

    @property
    def name(self) -> str:
        return FRAME_NAMES.get(self.type, f"0x{self.type:02x}")

    def encode(self) -> bytes:
        out = bytearray([self.version, self.type])
        for fname, kind in FRAME_FIELDS[self.type]:
            value = getattr(self, fname)
            if isinstance(kind, int):
                assert len(value) == kind, f"{fname}: {len(value)} bytes, expected {kind}"
                out += value
            elif kind == "blob":
                out += struct.pack(">I", len(value)) + value
            elif kind == "records":
                out += struct.pack(">I", len(value))
                for rec in value:
                    out += struct.pack(">I", len(rec)) + rec
            else:
                out += struct.pack(INT_FORMATS[kind], value)
        return bytes(out)

    def __repr__(self) -> str:
        return f"<{self.name}>"


def parse_frame(data: bytes) -> Optional[Frame]:
    """The frame, or None if it is not a well-formed version-1 frame of a known type."""
    if len(data) < 2 or data[0] != 1 or data[1] not in FRAME_FIELDS:
        return None
    pos = 2
    fields = {}
    try:
        for fname, kind in FRAME_FIELDS[data[1]]:
            if isinstance(kind, int):
                if pos + kind > len(data):
                    return None
                fields[fname] = bytes(data[pos:pos + kind])
                pos += kind
            elif kind == "blob":
                (n,) = struct.unpack_from(">I", data, pos)
                pos += 4
                if pos + n > len(data):
                    return None
                fields[fname] = bytes(data[pos:pos + n])
                pos += n
            elif kind == "records":
                (count,) = struct.unpack_from(">I", data, pos)
                pos += 4
                recs = []
                for _ in range(count):
                    (n,) = struct.unpack_from(">I", data, pos)
                    pos += 4
                    if pos + n > len(data):
                        return None
                    recs.append(bytes(data[pos:pos + n]))
                    pos += n
                fields[fname] = recs
            else:
                fmt = INT_FORMATS[kind]
                (fields[fname],) = struct.unpack_from(fmt, data, pos)
                pos += struct.calcsize(fmt)
    except struct.error:
        return None
    if pos != len(data):
        return None
    return Frame(data[1], data[0], **fields)


# Offsets of a Deliver frame's fields (for byte-level tampering).
DELIVER_ROOM = 2
DELIVER_GENESIS = 34
DELIVER_SEQ = 66
DELIVER_LEN = 74
DELIVER_ENVELOPE = 78

# --------------------------------------------------------------------------- envelopes (§5)

ENV_VERSION, ENV_TYPE, ENV_ROOM, ENV_EPOCH, ENV_RECORD_HASH = 0, 1, 2, 34, 42
ENV_SENDER, ENV_SESSION, ENV_COUNTER, ENV_TIMESTAMP, ENV_NONCE = 74, 106, 122, 130, 138
ENV_HEADER_BYTES = 162
SIG_BYTES = 64


@dataclass
class Envelope:
    header: bytes
    ciphertext: bytes
    signature: bytes

    @staticmethod
    def parse(data: bytes) -> "Envelope":
        (n,) = struct.unpack_from(">I", data, ENV_HEADER_BYTES)
        ct = data[ENV_HEADER_BYTES + 4:ENV_HEADER_BYTES + 4 + n]
        sig = data[ENV_HEADER_BYTES + 4 + n:]
        assert len(sig) == SIG_BYTES, "envelope: trailing bytes"
        return Envelope(bytes(data[:ENV_HEADER_BYTES]), bytes(ct), bytes(sig))

    def encode(self) -> bytes:
        return self.header + struct.pack(">I", len(self.ciphertext)) + self.ciphertext + self.signature

    def signed_message(self) -> bytes:
        return b"parley/v1/sig/envelope" + self.header + struct.pack(">I", len(self.ciphertext)) + self.ciphertext

    @property
    def epoch(self) -> int:
        return struct.unpack_from(">Q", self.header, ENV_EPOCH)[0]

    @property
    def sender(self) -> bytes:
        return self.header[ENV_SENDER:ENV_SENDER + 32]

    @property
    def counter(self) -> int:
        return struct.unpack_from(">Q", self.header, ENV_COUNTER)[0]

    def with_header_field(self, offset: int, value: bytes) -> "Envelope":
        h = self.header[:offset] + value + self.header[offset + len(value):]
        return Envelope(h, self.ciphertext, self.signature)


# --------------------------------------------------------------------------- epoch records (§4)

REC_ROOM, REC_EPOCH, REC_PREV, REC_SALT, REC_KDF_OPS, REC_KDF_MEM = 1, 33, 41, 73, 89, 93
REC_CREATED, REC_AUTHOR, REC_N = 97, 105, 137
# crypto_box_seal overhead (48) + label (27) + room 32 + epoch 8 + previous 32 + author 32
# + recipient 32 + secret 32 = 243. (PROTOCOL.md §4 says 206 + 48 = 254; the code,
# lib/wire/record.h sealed_box_bytes, is 243.)
SEALED_BOX_BYTES = 48 + len("parley/v1/seal/epoch-secret") + 32 + 8 + 32 + 32 + 32 + 32


@dataclass
class Record:
    """An epoch record split into its parts (body fields, signature)."""
    head: bytes          # version .. author (137 bytes)
    roster: list
    ops: list            # [(kind, key)]
    token_hash: bytes
    commitment: bytes
    boxes: list
    signature: bytes

    @staticmethod
    def parse(data: bytes) -> "Record":
        head = bytes(data[:REC_N])
        pos = REC_N
        (n,) = struct.unpack_from(">H", data, pos)
        pos += 2
        roster = [bytes(data[pos + 32 * i:pos + 32 * (i + 1)]) for i in range(n)]
        pos += 32 * n
        (m,) = struct.unpack_from(">H", data, pos)
        pos += 2
        ops = []
        for _ in range(m):
            ops.append((data[pos], bytes(data[pos + 1:pos + 33])))
            pos += 33
        token_hash = bytes(data[pos:pos + 32])
        commitment = bytes(data[pos + 32:pos + 64])
        pos += 64
        boxes = [bytes(data[pos + SEALED_BOX_BYTES * i:pos + SEALED_BOX_BYTES * (i + 1)]) for i in range(n)]
        pos += SEALED_BOX_BYTES * n
        signature = bytes(data[pos:])
        assert len(signature) == SIG_BYTES, "record: bad length"
        return Record(head, roster, ops, token_hash, commitment, boxes, signature)

    def body(self) -> bytes:
        out = bytearray(self.head)
        out += struct.pack(">H", len(self.roster)) + b"".join(self.roster)
        out += struct.pack(">H", len(self.ops)) + b"".join(bytes([k]) + key for k, key in self.ops)
        out += self.token_hash + self.commitment + b"".join(self.boxes)
        return bytes(out)

    def encode(self) -> bytes:
        return self.body() + self.signature

    def hash(self) -> bytes:
        return hashlib.blake2b(b"parley/v1/hash/record" + self.body(), digest_size=32).digest()

    def signed_message(self) -> bytes:
        return b"parley/v1/sig/record" + self.body()

    @property
    def epoch(self) -> int:
        return struct.unpack_from(">Q", self.head, REC_EPOCH)[0]

    @property
    def author(self) -> bytes:
        return self.head[REC_AUTHOR:REC_AUTHOR + 32]

    def with_head_field(self, offset: int, value: bytes) -> "Record":
        r = Record(**self.__dict__)
        r.head = self.head[:offset] + value + self.head[offset + len(value):]
        return r


def key_id(public_key: bytes) -> bytes:
    return hashlib.blake2b(b"parley/v1/key-id" + public_key, digest_size=32).digest()


def room_id(name: str) -> bytes:
    """The room id older versions derived from a room's name (only for migration now:
    a new room's id is random; tests take it from the room's invite)."""
    return hashlib.blake2b(b"parley/v1/room-id" + name.encode(), digest_size=32).digest()


# --------------------------------------------------------------------------- Ed25519 (RFC 8032)
# A small, slow, textbook implementation so tests can play a member who signs
# (re-signing someone's ciphertext, forking a record). Not constant time: test use only.

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_I = pow(2, (_P - 1) // 4, _P)


def _xrecover(y: int) -> int:
    xx = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    x = pow(xx, (_P + 3) // 8, _P)
    if (x * x - xx) % _P != 0:
        x = (x * _I) % _P
    if x % 2 != 0:
        x = _P - x
    return x


_BY = 4 * pow(5, _P - 2, _P) % _P
_B = (_xrecover(_BY), _BY, 1, _xrecover(_BY) * _BY % _P)


def _add(p, q):
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = t1 * 2 * _D * t2 % _P
    d = z1 * 2 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(s: int, p):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _encode_point(p) -> bytes:
    x, y, z, _ = p
    zi = pow(z, _P - 2, _P)
    x, y = x * zi % _P, y * zi % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def ed25519_public_key(seed: bytes) -> bytes:
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return _encode_point(_mul(a, _B))


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    public = _encode_point(_mul(a, _B))
    r = int.from_bytes(hashlib.sha512(h[32:] + message).digest(), "little") % _L
    big_r = _encode_point(_mul(r, _B))
    k = int.from_bytes(hashlib.sha512(big_r + public + message).digest(), "little") % _L
    s = (r + k * a) % _L
    return big_r + s.to_bytes(32, "little")


def _pem_der(text: str) -> bytes:
    lines = [ln for ln in text.strip().splitlines() if not ln.startswith("-----")]
    return base64.b64decode("".join(lines))


def load_private_seed(pem_path) -> bytes:
    """The 32-byte seed of an Ed25519 PKCS#8 PEM (the 48-byte RFC 8410 form)."""
    der = _pem_der(open(pem_path).read())
    assert der[-34:-32] == b"\x04\x20", "not an Ed25519 PKCS#8 key"
    return der[-32:]


def load_public_key(pem_path) -> bytes:
    """The 32-byte key of an Ed25519 SubjectPublicKeyInfo PEM."""
    der = _pem_der(open(pem_path).read())
    assert len(der) == 44, "not an Ed25519 public key"
    return der[-32:]


# --------------------------------------------------------------------------- WebSocket (RFC 6455)

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def encode_ws(opcode: int, payload: bytes, mask: bool) -> bytes:
    head = bytearray([0x80 | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head.append(mbit | n)
    elif n < 65536:
        head.append(mbit | 126)
        head += struct.pack(">H", n)
    else:
        head.append(mbit | 127)
        head += struct.pack(">Q", n)
    if mask:
        key = os.urandom(4)
        head += key
        payload = _xor_mask(payload, key)
    return bytes(head) + payload


def _xor_mask(data: bytes, key: bytes) -> bytes:
    n = len(data)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


async def read_ws_frame(reader: asyncio.StreamReader, expect_masked: Optional[bool]):
    """One WebSocket frame: (fin, opcode, payload)."""
    b0, b1 = await reader.readexactly(2)
    fin, opcode = bool(b0 & 0x80), b0 & 0x0F
    masked, n = bool(b1 & 0x80), b1 & 0x7F
    if expect_masked is not None and masked != expect_masked:
        raise ConnectionError("WebSocket masking rule broken")
    if n == 126:
        (n,) = struct.unpack(">H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack(">Q", await reader.readexactly(8))
    if n > MAX_MESSAGE:
        raise ConnectionError("WebSocket frame too large")
    key = await reader.readexactly(4) if masked else b""
    payload = await reader.readexactly(n)
    if masked:
        payload = _xor_mask(payload, key)
    return fin, opcode, payload


class WsEndpoint:
    """One side of a WebSocket: reads whole messages, answers pings, writes frames."""

    def __init__(self, reader, writer, is_client: bool):
        self.reader = reader
        self.writer = writer
        self.is_client = is_client  # we are the client side: we mask
        self.closed = False
        self.lock = asyncio.Lock()

    async def send(self, opcode: int, payload: bytes) -> None:
        if self.closed and opcode != OP_CLOSE:
            return
        async with self.lock:
            try:
                self.writer.write(encode_ws(opcode, payload, mask=self.is_client))
                await self.writer.drain()
            except (ConnectionError, OSError):
                self.closed = True

    async def recv(self):
        """(opcode, payload) of the next data or close message; None at EOF."""
        parts, first_op = [], None
        while True:
            try:
                fin, opcode, payload = await read_ws_frame(self.reader, expect_masked=not self.is_client)
            except (asyncio.IncompleteReadError, ConnectionError, OSError):
                return None
            if opcode == OP_PING:
                await self.send(OP_PONG, payload)
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                return OP_CLOSE, payload
            if opcode != OP_CONT:
                first_op = opcode
            parts.append(payload)
            if fin:
                return first_op, b"".join(parts)

    def abort(self) -> None:
        self.closed = True
        try:
            self.writer.close()
        except Exception:
            pass


async def read_http_head(reader: asyncio.StreamReader) -> tuple:
    data = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = data.decode("latin-1").split("\r\n")
    start = lines[0]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return start, headers


# --------------------------------------------------------------------------- the proxy


@dataclass
class Delayed:
    seconds: float
    frame: bytes


@dataclass
class LogEntry:
    time: float
    direction: str   # "c2r" or "r2c"
    stage: str       # "got" (what the sender sent) or "sent" (what the proxy passed on)
    data: bytes

    @property
    def frame(self) -> Optional[Frame]:
        return parse_frame(self.data)


@dataclass
class Conn:
    proxy: "HostileProxy"
    id: int
    label: str
    client: WsEndpoint = None
    relay: WsEndpoint = None
    log: list = field(default_factory=list)
    room: Optional[bytes] = None
    genesis: Optional[bytes] = None
    reader: Optional[bool] = None     # set by the first Join: False for a sender (no backlog)
    open: bool = True
    state: dict = field(default_factory=dict)  # for hooks

    def inject_to_client(self, data: bytes, delay: float = 0.0) -> None:
        self.proxy._threadsafe(self._emit("r2c", data, delay))

    def inject_to_relay(self, data: bytes, delay: float = 0.0) -> None:
        self.proxy._threadsafe(self._emit("c2r", data, delay))

    async def _emit(self, direction: str, data: bytes, delay: float = 0.0) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        self.log.append(LogEntry(time.monotonic(), direction, "sent", data))
        target = self.client if direction == "r2c" else self.relay
        if direction == "r2c":
            data = self.proxy._densify(self, data)
        if target is not None:
            await target.send(OP_BINARY, data)

    def cut(self) -> None:
        """Drop the connection both ways at once (from a hook): nothing more passes."""
        for ep in (self.client, self.relay):
            if ep is not None:
                ep.abort()

    def frames(self, direction: str, stage: str = "sent", ftype: Optional[int] = None) -> list:
        out = []
        for e in list(self.log):
            if e.direction == direction and e.stage == stage:
                f = e.frame
                if f is not None and (ftype is None or f.type == ftype):
                    out.append(f)
        return out


Hook = Callable[[Conn, bytes], Optional[list]]


class SeqView:
    """One client's numbering of one chain through the proxy: stride-space
    numbers (see the module's docstring) to the dense ones on the wire."""

    def __init__(self, stride: int):
        self.stride = stride
        self.sent: list = []   # (stride-space number, dense number) sent, sorted by the first

    def _below(self, x: int) -> tuple:
        i = bisect.bisect_right(self.sent, (x, float("inf"))) - 1
        return self.sent[i] if i >= 0 else (0, 0)

    def dense(self, x: int, record: bool = True) -> int:
        x0, d0 = self._below(x)
        if x0 == x and self.sent:
            return d0
        if x % self.stride == 0:
            d = d0 + (x // self.stride - x0 // self.stride)  # a real item: its distance from the one below
        elif not self.sent or x > self.sent[-1][0]:
            d = max(d for _, d in self.sent) + 1 if self.sent else 1  # injected after all sent: the next number
        else:
            d = d0  # injected among what was sent: an old number
        if record:
            bisect.insort(self.sent, (x, d))
        return d

    def relay_after(self, after: int) -> int:
        """The relay's number to resume after, for a client that handled `after`."""
        best = None
        for x, d in self.sent:
            if d <= after and (best is None or d >= best[1]):
                best = (x, d)
        if best is None:
            return after
        return best[0] // self.stride + (after - best[1])


class HostileProxy:
    def __init__(self, relay_host: str, relay_port: int, seq_stride: int = SEQ_STRIDE):
        self.relay_host = relay_host
        self.relay_port = relay_port
        self.seq_stride = seq_stride
        self.on_client_frame: Optional[Hook] = None
        self.on_relay_frame: Optional[Hook] = None
        self.conns: list = []
        self.errors: list = []
        self.gone_before_upgrade: list = []  # ids of client connections closed before sending a byte
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._servers: list = []
        self._next_id = 0
        self._views: dict = {}   # (label, genesis) -> SeqView

    # ---- lifecycle (called from the test thread)

    def start(self) -> "HostileProxy":
        ready = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            ready.set()
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, name="hostile-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("proxy thread did not start")
        return self

    def listen(self, label: str = "") -> str:
        """A new listening port whose connections carry `label`; returns its ws:// URL."""
        async def open_server():
            server = await asyncio.start_server(
                lambda r, w: self._serve(r, w, label), "127.0.0.1", 0)
            self._servers.append(server)
            return server.sockets[0].getsockname()[1]
        port = asyncio.run_coroutine_threadsafe(open_server(), self._loop).result(10)
        return f"ws://127.0.0.1:{port}"

    def stop(self) -> None:
        if self._loop is None:
            return

        async def shutdown():
            for s in self._servers:
                s.close()
            for c in self.conns:
                for ep in (c.client, c.relay):
                    if ep is not None:
                        ep.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        except Exception:
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def __enter__(self) -> "HostileProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset_hooks(self) -> None:
        self.on_client_frame = None
        self.on_relay_frame = None

    def call(self, fn: Callable[[], None]) -> None:
        """Run fn on the proxy thread (to touch hook state without races) and wait."""
        async def run():
            fn()
        asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def _threadsafe(self, coro) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._loop.create_task(coro)
        else:
            asyncio.run_coroutine_threadsafe(coro, self._loop)

    # ---- queries (test thread)

    def connections(self, label: Optional[str] = None, reader: Optional[bool] = None) -> list:
        return [c for c in list(self.conns)
                if (label is None or c.label == label) and (reader is None or c.reader == reader)]

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"proxy: timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(0.05)

    # ---- per connection (proxy thread)

    async def _serve(self, reader, writer, label: str) -> None:
        self._next_id += 1
        conn = Conn(self, self._next_id, label)
        self.conns.append(conn)
        try:
            try:
                start, headers = await read_http_head(reader)
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    raise
                # Closed before the first byte of its upgrade request: the client
                # went away (a test stopped it while it was connecting again), which
                # is no failure of the proxy's. Counted, not an error.
                self.gone_before_upgrade.append(conn.id)
                return
            key = headers.get("sec-websocket-key")
            if not start.startswith("GET ") or not key or headers.get("upgrade", "").lower() != "websocket":
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                writer.close()
                return
            path = start.split(" ")[1]
            # Upstream first, so a relay that is down shows as a failed handshake.
            r_reader, r_writer = await asyncio.wait_for(
                asyncio.open_connection(self.relay_host, self.relay_port), 10)
            up_key = base64.b64encode(os.urandom(16)).decode()
            r_writer.write((f"GET {path} HTTP/1.1\r\nHost: {self.relay_host}:{self.relay_port}\r\n"
                            f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                            f"Sec-WebSocket-Key: {up_key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
            await r_writer.drain()
            r_start, r_headers = await read_http_head(r_reader)
            if " 101 " not in r_start + " " or r_headers.get("sec-websocket-accept") != accept_key(up_key):
                raise ConnectionError(f"relay refused the WebSocket handshake: {r_start}")
            writer.write((f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept_key(key)}\r\n\r\n").encode())
            await writer.drain()
            conn.client = WsEndpoint(reader, writer, is_client=False)
            conn.relay = WsEndpoint(r_reader, r_writer, is_client=True)
            await asyncio.gather(self._pump(conn, "c2r"), self._pump(conn, "r2c"))
        except Exception as exc:  # a proxy failure must show in the test, not hang it
            self.errors.append(f"conn {conn.id} ({label}): {exc!r}")
        finally:
            conn.open = False
            for ep in (conn.client, conn.relay):
                if ep is not None:
                    ep.abort()
            try:
                writer.close()
            except Exception:
                pass

    async def _pump(self, conn: Conn, direction: str) -> None:
        src = conn.client if direction == "c2r" else conn.relay
        dst = conn.relay if direction == "c2r" else conn.client
        while True:
            msg = await src.recv()
            if msg is None:
                dst.abort()
                return
            opcode, payload = msg
            if opcode == OP_CLOSE:
                await dst.send(OP_CLOSE, payload)
                dst.abort()
                return
            if opcode != OP_BINARY:
                await dst.send(opcode, payload)
                continue
            conn.log.append(LogEntry(time.monotonic(), direction, "got", payload))
            payload = self._renumber(conn, direction, payload)
            hook = self.on_client_frame if direction == "c2r" else self.on_relay_frame
            out = [payload]
            if hook is not None:
                try:
                    result = hook(conn, payload)
                except Exception as exc:
                    self.errors.append(f"hook failed on conn {conn.id}: {exc!r}")
                    result = None
                if result is not None:
                    out = result
            for item in out:
                if isinstance(item, Delayed):
                    self._loop.create_task(conn._emit(direction, item.frame, item.seconds))
                else:
                    await conn._emit(direction, item)

    def _view(self, conn: Conn) -> SeqView:
        key = (conn.label, conn.genesis)
        if key not in self._views:
            self._views[key] = SeqView(self.seq_stride)
        return self._views[key]

    def _densify(self, conn: Conn, data: bytes) -> bytes:
        f = parse_frame(data)
        if f is None or f.type not in (DELIVER, NEW_HEAD, ACK, JOINED):
            return data
        view = self._view(conn)
        if f.type == JOINED:
            last = f.last_seq
            f.last_seq = view.dense(last, record=False) if last else 0
            if f.first_seq > 0:
                # Stride space sends first_seq as (F - 1) * stride + 1: F's own number, predicted.
                real_first = (f.first_seq - 1) // self.seq_stride + 1
                f.first_seq = view.dense(real_first * self.seq_stride, record=False)
        else:
            f.seq = view.dense(f.seq)
        return f.encode()

    def _renumber(self, conn: Conn, direction: str, data: bytes) -> bytes:
        f = parse_frame(data)
        if f is None:
            return data
        if direction == "c2r":
            if f.type in (JOIN, GET_CHAIN, SEND, RESEND):
                conn.room, conn.genesis = f.room, f.genesis
            if f.type == JOIN:
                if conn.reader is None:
                    conn.reader = f.after_seq != NO_BACKLOG
                if f.after_seq != NO_BACKLOG:
                    f.after_seq = self._view(conn).relay_after(f.after_seq)
                    return f.encode()
            return data
        s = self.seq_stride
        if s == 1:
            return data
        if f.type in (DELIVER, NEW_HEAD, ACK):
            f.seq *= s
        elif f.type == JOINED:
            f.last_seq *= s
            f.first_seq = (f.first_seq - 1) * s + 1 if f.first_seq > 0 else 0
        else:
            return data
        return f.encode()


def flip(data: bytes, pos: int, mask: int = 0x01) -> bytes:
    b = bytearray(data)
    b[pos] ^= mask
    return bytes(b)


class RelayRefusal(Exception):
    """The relay answered a request with an Error frame."""

    def __init__(self, what: str, code: int):
        super().__init__(f"{what}: the relay answered Error code {code}")
        self.code = code


class RawClient:
    """A blocking WebSocket client that speaks raw Parley frames to a relay (ws:// only):
    what a hostile member or a curious stranger can send without the real client.

        with RawClient("127.0.0.1", relay.port) as c:
            reply = c.request(Frame(GET_CHAIN, room=..., genesis=..., after=ZERO32))
    """

    def __init__(self, host: str, port: int, timeout: float = 10.0):
        import socket
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self._next_request = 0
        try:
            key = base64.b64encode(os.urandom(16)).decode()
            self.sock.sendall((f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                               f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise ConnectionError("relay closed during the handshake")
                buf += chunk
            head, self._rest = buf.split(b"\r\n\r\n", 1)
            if not head.startswith(b"HTTP/1.1 101") or accept_key(key).encode() not in head:
                raise ConnectionError(f"relay refused the WebSocket handshake: {head[:80]!r}")
        except BaseException:
            self.sock.close()
            raise

    def __enter__(self) -> "RawClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.sock.sendall(encode_ws(OP_CLOSE, struct.pack(">H", 1000), mask=True))
        except OSError:
            pass
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(encode_ws(OP_BINARY, data, mask=True))

    def _need(self, n: int) -> bytes:
        while len(self._rest) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the relay closed the connection")
            self._rest += chunk
        out, self._rest = self._rest[:n], self._rest[n:]
        return out

    def recv(self) -> bytes:
        """The next binary message (pings answered; the relay sends whole frames)."""
        while True:
            b0, b1 = self._need(2)
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack(">H", self._need(2))
            elif n == 127:
                (n,) = struct.unpack(">Q", self._need(8))
            payload = self._need(n)
            opcode = b0 & 0x0F
            if opcode == OP_PING:
                self.sock.sendall(encode_ws(OP_PONG, payload, mask=True))
            elif opcode == OP_CLOSE:
                raise ConnectionError(f"the relay closed the WebSocket: {payload[:40]!r}")
            elif opcode == OP_BINARY:
                return payload

    def request(self, frame: Frame) -> Frame:
        """Send a request frame (its request id set here) and return the relay's answer
        to it (a Chain, Published, Joined, Ack or Error with that id); other frames
        (Deliver, NewHead) are skipped."""
        self._next_request += 1
        frame.request = self._next_request
        self.send(frame.encode())
        while True:
            data = self.recv()
            f = parse_frame(data)
            if f is None:
                raise AssertionError(f"the relay sent a frame that does not decode: {data[:40].hex()}")
            if getattr(f, "request", None) == frame.request and f.type in (CHAIN, PUBLISHED, JOINED, ACK, ERROR):
                return f

    def get_chain(self, room: bytes, genesis: bytes, after: bytes = ZERO32) -> Frame:
        """One GetChain: the Chain page or the Error the relay answered."""
        return self.request(Frame(GET_CHAIN, request=0, room=room, genesis=genesis, after=after))

    def fetch_chain(self, room: bytes, genesis: bytes, after: bytes = ZERO32) -> tuple:
        """Every page of a chain from `after` (all-zero: from the genesis) up to its head:
        (records, pages), pages being the Chain frames in order. An Error answer raises
        RelayRefusal."""
        records, pages = [], []
        while True:
            f = self.get_chain(room, genesis, after)
            if f.type == ERROR:
                raise RelayRefusal(f"GetChain (page {len(pages) + 1})", f.code)
            assert f.room == room and f.genesis == genesis, "a Chain page for another chain"
            # Empty only when `after` named the head (PROTOCOL.md §6).
            assert f.records or f.complete, "an empty Chain page that is not the last"
            pages.append(f)
            records += f.records
            if f.complete:
                return records, pages
            assert len(pages) < 10000, "the relay never said complete"
            after = Record.parse(f.records[-1]).hash()

    def publish(self, room: bytes, record: bytes, token: bytes = ZERO32) -> Frame:
        """A Publish: the relay's Published or Error."""
        return self.request(Frame(PUBLISH, request=0, room=room, token=token, record=record))


def fetch_chain(host: str, port: int, room: bytes, genesis: bytes, timeout: float = 10.0) -> list:
    """A room's chain straight from a relay (a one-shot raw client following every
    page): the list of record bytes, genesis first. An Error answer raises RelayRefusal."""
    with RawClient(host, port, timeout) as c:
        return c.fetch_chain(room, genesis)[0]


def forge_genesis(record: bytes, room: bytes, seed: bytes, below: Optional[bytes] = None) -> bytes:
    """An epoch-0 record re-addressed to `room` and signed again with `seed` (its
    author's key): what a member who knows a room id (from an invite) can make for it
    without any client's help. Structurally valid and correctly signed, so a relay
    cannot tell it from a genuine genesis; its sealed boxes were made for another room.
    With `below`, its creation time is ground until its hash sorts below `below`: the
    prize of the old rule under which a new device followed the smallest genesis."""
    rec = Record.parse(record)
    assert rec.epoch == 0, "not a genesis record"
    assert rec.author == ed25519_public_key(seed), "the seed is not the record's author's key"
    rec = rec.with_head_field(REC_ROOM, room)
    created = struct.unpack_from(">Q", rec.head, REC_CREATED)[0]
    while below is not None and rec.hash() >= below:
        created += 1
        rec = rec.with_head_field(REC_CREATED, struct.pack(">Q", created))
    rec.signature = ed25519_sign(seed, rec.signed_message())
    return rec.encode()
