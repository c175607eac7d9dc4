#!/usr/bin/env python3
"""The relay as a packaged service (issue 12): the .deb that `make package` builds
holds both programs, their man pages and completions, the relay's systemd unit
and /etc/parley/relay.toml as a conffile, with the right modes and no
maintainer script that makes a user or a folder; the unit passes `systemd-analyze
verify` and rates "OK" or better in `systemd-analyze security`; the unit's own
command line starts the packaged relay (TLS, founders, its data folder a symlink
as StateDirectory= with DynamicUser= makes it); the relay tells systemd READY=1
once it listens, RELOADING=1 and READY=1 around a SIGHUP, STOPPING=1 on SIGTERM;
and both programs print the project's version.

The .deb is built from the tree under test without compiling anything: `cmake
--install --strip` into a staging folder, then cpack with the tree's own
CPackConfig.cmake on that folder. Only the systemd-analyze checks are skipped,
with a note, where systemd-analyze is missing.
"""
import atexit
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True
import harness  # noqa: E402

ROOT = harness.REPO_ROOT
UNIT = "usr/lib/systemd/system/parley-relay.service"
CONFIG = "etc/parley/relay.toml"
# Every regular file of the package, with its mode.
EXPECTED_FILES = {
    "usr/bin/parley": 0o755,
    "usr/bin/parley-relay": 0o755,
    "usr/share/man/man1/parley.1": 0o644,
    "usr/share/man/man8/parley-relay.8": 0o644,
    "usr/share/bash-completion/completions/parley": 0o644,
    "usr/share/bash-completion/completions/parley-relay": 0o644,
    "usr/share/zsh/vendor-completions/_parley": 0o644,
    "usr/share/zsh/vendor-completions/_parley-relay": 0o644,
    UNIT: 0o644,
    CONFIG: 0o644,
}
# What a maintainer script must not do: the unit makes its user and folders.
MAKES_USERS_OR_FOLDERS = re.compile(r"\b(useradd|adduser|groupadd|addgroup|mkdir|install\s+-d|chown|"
                                    r"systemd-sysusers|systemd-tmpfiles)\b")
# systemd-analyze security: exposure 0.0-10.0, "OK" below 5.0 (src/analyze/analyze-security.c).
EXPOSURE_RE = re.compile(r"Overall exposure level for parley-relay\.service: (\d+\.\d+) (\w+)")
GOOD_RATINGS = ("OK", "SAFE", "PERFECT")
NOTIFY_TIMEOUT_S = 20.0


def project_version():
    m = re.search(r"^project\(parley VERSION (\d+\.\d+\.\d+)", (ROOT / "CMakeLists.txt").read_text(), re.M)
    assert m, "CMakeLists.txt has no project(parley VERSION X.Y.Z)"
    return m.group(1)


def run(argv, env=None, timeout=120):
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    assert result.returncode == 0, (f"{' '.join(map(str, argv))}: exit {result.returncode}\n"
                                    f"{harness.tail(result.stdout)}\n{harness.tail(result.stderr)}")
    return result


# --------------------------------------------------------------------------- the .deb


class Package:
    """The .deb built once for this file's tests, unpacked."""

    def __init__(self, work):
        self.work = work
        self.deb = None
        self.root = work / "root"          # dpkg-deb -x
        self.control = work / "control"    # dpkg-deb -e
        self.fields = {}
        self.listing = ""


_package = None


def build_dir():
    """The CMake build tree holding the binaries under test."""
    build = Path(harness.args().parley).parent
    while not (build / "CMakeCache.txt").exists() and build != build.parent:
        build = build.parent
    assert (build / "CPackConfig.cmake").exists(), (
        f"no CMake build tree with CPackConfig.cmake around {harness.args().parley} "
        f"(re-run cmake's configure step if CMakeLists.txt changed)")
    return build


def package():
    """Stage with `cmake --install --strip` (DESTDIR, prefix /usr), then cpack -G DEB
    with the tree's CPackConfig.cmake on the staged files: no build step runs."""
    global _package
    if _package is not None:
        return _package
    for tool in ("cmake", "cpack", "dpkg-deb", "dpkg-shlibdeps"):
        assert shutil.which(tool), f"{tool} is not installed (scripts/setup.sh installs it)"
    build = build_dir()
    work = Path(tempfile.mkdtemp(prefix="parley-deb-"))
    atexit.register(shutil.rmtree, work, True)
    pkg = Package(work)
    stage = work / "stage"
    start = time.monotonic()
    run(["cmake", "--install", str(build), "--prefix", "/usr", "--strip"],
        env=dict(os.environ, DESTDIR=str(stage)))
    out = work / "out"
    run(["cpack", "--config", str(build / "CPackConfig.cmake"), "-G", "DEB", "-B", str(out),
         "-D", "CPACK_INSTALL_CMAKE_PROJECTS=", "-D", f"CPACK_INSTALLED_DIRECTORIES={stage};."])
    debs = sorted(out.glob("*.deb"))
    assert len(debs) == 1, f"cpack made {[d.name for d in debs]}, not one .deb"
    pkg.deb = debs[0]
    print(f"  built {pkg.deb.name} ({pkg.deb.stat().st_size} bytes) in {time.monotonic() - start:.1f}s",
          flush=True)
    info = run(["dpkg-deb", "-f", str(pkg.deb)]).stdout
    pkg.fields = dict(re.findall(r"^([A-Za-z-]+): (.*)$", info, re.M))
    pkg.listing = run(["dpkg-deb", "-c", str(pkg.deb)]).stdout
    run(["dpkg-deb", "-x", str(pkg.deb), str(pkg.root)])
    run(["dpkg-deb", "-e", str(pkg.deb), str(pkg.control)])
    _package = pkg
    return pkg


def listed_entries(listing):
    """{path: (type, mode, owner)} from `dpkg-deb -c` lines like
    '-rwxr-xr-x root/root 12 2026-01-01 00:00 ./usr/bin/parley'."""
    entries = {}
    for line in listing.splitlines():
        parts = line.split(None, 5)
        assert len(parts) == 6, f"unexpected dpkg-deb -c line: {line!r}"
        perms, owner, path = parts[0], parts[1], parts[5]
        mode = 0
        for i, ch in enumerate(perms[1:10]):
            if ch != "-":
                mode |= 1 << (8 - i)
        entries[path.removeprefix("./").rstrip("/")] = (perms[0], mode, owner)
    return entries


def test_deb_holds_the_programs_docs_unit_and_conffile(t):
    pkg = package()
    version = project_version()
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    assert pkg.deb.name == f"parley_{version}_{arch}.deb", pkg.deb.name
    assert pkg.fields.get("Package") == "parley", pkg.fields
    assert pkg.fields.get("Version") == version, pkg.fields
    assert pkg.fields.get("Architecture") == arch, pkg.fields
    # dpkg-shlibdeps' libraries, and the group the unit reads the TLS key as.
    depends = [d.strip().split()[0] for d in pkg.fields.get("Depends", "").split(",")]
    for needed in ("libc6", "libssl3", "libsodium23", "libsqlite3-0", "libsystemd0", "ssl-cert"):
        assert needed in depends, f"Depends lacks {needed}: {pkg.fields.get('Depends')}"

    entries = listed_entries(pkg.listing)
    files = {path: mode for path, (kind, mode, _) in entries.items() if kind == "-"}
    assert files == EXPECTED_FILES, (
        f"the .deb's files differ:\n  missing {sorted(set(EXPECTED_FILES) - set(files))}"
        f"\n  extra {sorted(set(files) - set(EXPECTED_FILES))}\n  modes "
        f"{ {p: oct(m) for p, m in files.items() if EXPECTED_FILES.get(p) != m} }")
    for path, (kind, mode, owner) in entries.items():
        assert kind in "-d", f"{path}: neither a file nor a folder ({kind})"
        assert owner == "root/root", f"{path} is owned by {owner}"
        if kind == "d":
            assert mode == 0o755, f"folder {path} is {oct(mode)}"
    print("  files: " + ", ".join(f"/{p} {oct(m)[2:]}" for p, m in sorted(files.items())), flush=True)

    # The programs are the stripped builds of the tree under test, and they run.
    for name in ("parley", "parley-relay"):
        sections = run(["readelf", "-S", "-W", str(pkg.root / "usr/bin" / name)]).stdout
        assert ".debug_info" not in sections, f"/usr/bin/{name} is not stripped"
    got = run([str(pkg.root / "usr/bin/parley-relay"), "--version"]).stdout.strip()
    assert got == f"parley-relay {version}", got
    for rel in ("usr/share/man/man1/parley.1", "usr/share/man/man8/parley-relay.8"):
        assert (pkg.root / rel).read_bytes() == (ROOT / "docs/man" / Path(rel).name).read_bytes(), rel
    assert (pkg.root / UNIT).read_bytes() == (ROOT / "packaging/parley-relay.service").read_bytes()

    # The config is a conffile; no maintainer script makes a user or a folder.
    conffiles = (pkg.control / "conffiles").read_text().split()
    assert conffiles == ["/" + CONFIG], f"conffiles lists {conffiles}"
    scripts = sorted(p.name for p in pkg.control.iterdir()
                     if p.name in ("preinst", "postinst", "prerm", "postrm", "config"))
    assert "preinst" not in scripts and "postinst" not in scripts and "config" not in scripts, (
        f"the package runs {scripts} at install time; the unit makes what the relay needs")
    for name in scripts:
        text = (pkg.control / name).read_text()
        m = MAKES_USERS_OR_FOLDERS.search(text)
        assert not m, f"maintainer script {name} runs {m.group(0)}"
        assert stat.S_IMODE((pkg.control / name).stat().st_mode) == 0o755, f"{name} is not 0755"


def packaged_config(etc: Path, port: int) -> Path:
    """The conffile with /etc/parley moved to `etc` and the port changed."""
    text = (ROOT / "packaging/relay.toml").read_text()
    path = etc / "relay.toml"
    path.write_text(text.replace("/etc/parley", str(etc)).replace(":8443", f":{port}"))
    return path


def etc_with_tls_and_founders(t) -> tuple:
    """A stand-in for /etc/parley: certificate, key (0640) and a founders file."""
    etc = t.fresh_dir("etc-parley")
    cert, key = harness.make_test_cert(t.fresh_dir("tls"))
    shutil.copyfile(cert, etc / "relay.crt")
    shutil.copyfile(key, etc / "relay.key")
    (etc / "relay.key").chmod(0o640)
    (etc / "founders.pem").write_text("# alice: a raw Ed25519 public key\n" + "5a" * 32 + "\n")
    return etc, cert


def test_example_config_names_every_relay_flag(t):
    """relay.toml (the conffile) names every setting `parley-relay --help` has: the
    service's four (listen, cert, key, founders) set, the others commented out with
    their defaults. With its files in place, `--check-config` accepts it, and with
    every default set too; a misspelt line is refused naming the file and the line."""
    text = (ROOT / "packaging/relay.toml").read_text()
    helped = re.findall(r"^  (?:-[A-Za-z],)?--([a-z0-9-]+)", run([harness.args().relay, "--help"]).stdout, re.M)
    settings = [f for f in helped if f not in ("help", "version", "backup", "config", "check-config")]
    assert len(settings) > 20, f"too few flags in --help: {helped}"
    commented = re.findall(r"^# ([a-z0-9-]+) = \S", text, re.M)
    set_here = re.findall(r"^([a-z0-9-]+) = \S", text, re.M)
    assert sorted(set_here) == ["cert", "founders", "key", "listen"], set_here
    assert sorted(commented + set_here) == sorted(settings), (
        f"relay.toml and --help differ: missing {sorted(set(settings) - set(commented + set_here))}, "
        f"extra {sorted(set(commented + set_here) - set(settings))}")

    etc, _ = etc_with_tls_and_founders(t)
    config = packaged_config(etc, harness.free_port())
    checked = run([harness.args().relay, "--check-config", "--config", str(config)])
    assert "configuration OK" in checked.stderr, checked.stderr
    every = etc / "every.toml"  # the commented defaults set: they are the relay's own
    every.write_text(re.sub(r"^# ([a-z0-9-]+ = )", r"\1", config.read_text(), flags=re.M))
    checked = run([harness.args().relay, "--check-config", "--config", str(every)])
    assert "configuration OK" in checked.stderr, checked.stderr
    lines = config.read_text().splitlines()
    number = next(i for i, line in enumerate(lines, 1) if line.startswith("listen = "))
    lines.insert(number, 'listen-on = "0.0.0.0:1"')
    broken = etc / "broken.toml"
    broken.write_text("\n".join(lines) + "\n")
    refused = subprocess.run([harness.args().relay, "--check-config", "--config", str(broken)],
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode == 2, refused
    assert f"{broken}:{number + 1}: unknown setting 'listen-on'" in refused.stderr, refused.stderr


# --------------------------------------------------------------------------- the unit


def unit_lines(path):
    """{key: [values]} of a unit file, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    keys = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            keys.setdefault(m.group(1), []).append(m.group(2).strip())
    return keys


def test_unit_verifies_and_rates_ok(t):
    pkg = package()
    keys = unit_lines(pkg.root / UNIT)
    for key, value in (("Type", "notify"), ("DynamicUser", "yes"), ("StateDirectory", "parley-relay"),
                       ("StateDirectoryMode", "0700"), ("ExecReload", "/bin/kill -HUP $MAINPID"),
                       ("Restart", "on-failure"), ("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"),
                       ("CapabilityBoundingSet", ""), ("UMask", "0077"), ("LimitCORE", "0"),
                       ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX")):
        assert value in keys.get(key, []), f"the unit has {key}={keys.get(key)}, not {value!r}"
    assert keys["ExecStart"][0] == ("/usr/bin/parley-relay --config /etc/parley/relay.toml "
                                    "--data ${STATE_DIRECTORY}"), keys["ExecStart"]

    if not shutil.which("systemd-analyze"):
        print("  note: systemd-analyze is not installed: the unit is not verified or rated", flush=True)
        return
    # The unit as installed, its binary where the package unpacked it; its man page there too.
    units = t.fresh_dir("units")
    unit = units / "parley-relay.service"
    relay = str(pkg.root / "usr/bin/parley-relay")
    unit.write_text((pkg.root / UNIT).read_text().replace("/usr/bin/parley-relay", relay))
    env = dict(os.environ, MANPATH=str(pkg.root / "usr/share/man"))
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, env=env,
                            timeout=60)
    assert verify.returncode == 0 and "parley-relay" not in verify.stderr, (
        f"systemd-analyze verify: exit {verify.returncode}\n{harness.tail(verify.stdout + verify.stderr)}")
    security = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)], capture_output=True,
                              text=True, timeout=60)
    m = EXPOSURE_RE.search(security.stdout + security.stderr)
    assert m, f"no overall exposure in systemd-analyze security's output:\n{harness.tail(security.stdout)}"
    exposure, rating = float(m.group(1)), m.group(2)
    print(f"  systemd-analyze security: exposure {exposure} {rating}", flush=True)
    assert exposure < 5.0 and rating in GOOD_RATINGS, f"exposure {exposure} {rating}, not OK or better"


# --------------------------------------------------------------------------- readiness


class NotifySocket:
    """A Unix datagram socket bound where NOTIFY_SOCKET will point, as systemd's."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))

    def next(self, what, timeout=NOTIFY_TIMEOUT_S):
        """The next notification, as {field: value}; fails after `timeout`."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096).decode()
        except socket.timeout:
            raise AssertionError(f"no notification ({what}) within {timeout:.0f}s")
        return dict(line.split("=", 1) for line in data.splitlines() if "=" in line)

    def nothing_waiting(self):
        self.sock.settimeout(0.5)
        try:
            return self.sock.recv(4096).decode() == ""
        except socket.timeout:
            return True

    def close(self):
        self.sock.close()


def port_of(status):
    m = re.match(r"listening on wss?://[^\s]+:(\d+)$", status)
    assert m, f"STATUS is not 'listening on URL': {status!r}"
    return int(m.group(1))


def expect_ready(notify, proc, what):
    said = notify.next(what)
    assert said.get("READY") == "1", f"{what}: got {said}, not READY=1\n  {proc.result().describe()}"
    return said


def test_relay_tells_systemd_ready_reloading_stopping(t):
    notify = NotifySocket(t.tmp / "notify.sock")
    try:
        argv = [harness.args().relay, "--listen", "127.0.0.1:0", "--data", str(t.fresh_dir("relay-data")),
                "--metrics-listen", "off"]
        relay = harness.Proc(t, "relay", argv, t.env(NOTIFY_SOCKET=str(notify.path)))
        said = expect_ready(notify, relay, "the relay's start")
        port = port_of(said.get("STATUS", ""))
        # READY=1 means a client gets in now: nothing else is waited for.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200"), f"GET /healthz right after READY=1: {answer[:80]!r}"
        assert f"listening on ws://127.0.0.1:{port}" in relay.stderr()

        relay.signal(signal.SIGHUP)
        said = notify.next("SIGHUP")
        assert said.get("RELOADING") == "1" and int(said.get("MONOTONIC_USEC", "0")) > 0, f"on SIGHUP: {said}"
        said = expect_ready(notify, relay, "the end of the reload")
        assert port_of(said.get("STATUS", "")) == port

        relay.signal(signal.SIGTERM)
        said = notify.next("SIGTERM")
        assert said.get("STOPPING") == "1", f"on SIGTERM: {said}"
        result = relay.wait(harness.STOP_TIMEOUT_S, "relay stop")
        assert result.returncode == 0, result.describe()
        assert notify.nothing_waiting(), "a notification after STOPPING=1"
    finally:
        notify.close()


def test_units_command_line_runs_the_packaged_relay(t):
    """ExecStart= as packaged, with /etc/parley and ${STATE_DIRECTORY} moved into
    the test's folder and another port: the relay starts beyond loopback (TLS,
    founders), says READY=1, serves /healthz over TLS (and /metrics on its metrics
    address, another port here, not over TLS on the client port), reloads its
    certificate on SIGHUP and stops on SIGTERM. Its data folder is a symlink to a
    0700 folder, as systemd's StateDirectory= with DynamicUser= is, which is no
    reason to log a tightened folder; --backup reads through it too."""
    pkg = package()
    etc, cert = etc_with_tls_and_founders(t)
    private = t.fresh_dir("private")
    (private / "parley-relay").mkdir(mode=0o700)
    state = t.tmp / "parley-relay"
    state.symlink_to(private / "parley-relay")
    port = harness.free_port()

    command = unit_lines(pkg.root / UNIT)["ExecStart"][0]
    command = (command.replace("/usr/bin/parley-relay", str(pkg.root / "usr/bin/parley-relay"))
               .replace("${STATE_DIRECTORY}", str(state)).replace("/etc/parley", str(etc)))
    argv = shlex.split(command) + ["--metrics-listen", "127.0.0.1:0"]  # not the default 9464: tests run in parallel
    config = packaged_config(etc, port)
    assert argv[1:3] == ["--config", str(config)], f"the unit does not read relay.toml: {command}"
    assert f'\nlisten = "0.0.0.0:{port}"' in config.read_text(), "relay.toml no longer listens on 0.0.0.0:8443"
    notify = NotifySocket(t.tmp / "notify.sock")
    try:
        relay = harness.Proc(t, "relay", argv, t.env(NOTIFY_SOCKET=str(notify.path)))
        said = expect_ready(notify, relay, "the packaged relay's start")
        assert said.get("STATUS") == f"listening on wss://0.0.0.0:{port}", said
        ctx = ssl.create_default_context(cafile=str(cert))
        for path, expect in (("/healthz", b"HTTP/1.1 200"), ("/metrics", b"HTTP/1.1 404")):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                    tls.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
                    answer = b""
                    while chunk := tls.recv(65536):
                        answer += chunk
            assert answer.startswith(expect), f"GET {path} over TLS: {answer[:200]!r}"
        metrics = harness.METRICS_RE.search(relay.stderr())
        assert metrics, f"no metrics address in the log:\n{relay.stderr()}"
        status, _, body = harness.http_get(int(metrics.group(2)), "/metrics")
        assert status == 200 and "# TYPE" in body, f"GET /metrics on the metrics address: {status} {body[:200]!r}"
        log = relay.stderr()
        assert "open to other users" not in log, f"a StateDirectory= symlink was taken for an open folder:\n{log}"
        assert stat.S_IMODE((private / "parley-relay").stat().st_mode) == 0o700

        backup = t.tmp / "backup.sqlite"
        run([str(pkg.root / "usr/bin/parley-relay"), "--backup", str(backup), "--data", str(state)])
        assert backup.is_file()

        relay.signal(signal.SIGHUP)
        assert notify.next("SIGHUP").get("RELOADING") == "1"
        expect_ready(notify, relay, "the end of the reload")
        relay.wait_for_stderr(re.compile(r"reloaded certificate \S+relay\.crt"), 15, "the certificate reload")
        relay.signal(signal.SIGTERM)
        assert notify.next("SIGTERM").get("STOPPING") == "1"
        result = relay.wait(harness.STOP_TIMEOUT_S, "relay stop")
        assert result.returncode == 0, result.describe()
    finally:
        notify.close()


# --------------------------------------------------------------------------- versions


def test_both_programs_print_the_project_version(t):
    version = project_version()
    for path, name in ((harness.args().parley, "parley"), (harness.args().relay, "parley-relay")):
        result = t.run([path, "--version"], name=f"{name}-version")
        result.expect_ok(f"{name} --version")
        assert result.stdout.strip() == f"{name} {version}", (
            f"{name} --version printed {result.stdout.strip()!r}, not '{name} {version}'")


if __name__ == "__main__":
    harness.main([
        test_deb_holds_the_programs_docs_unit_and_conffile,
        test_example_config_names_every_relay_flag,
        test_unit_verifies_and_rates_ok,
        test_relay_tells_systemd_ready_reloading_stopping,
        test_units_command_line_runs_the_packaged_relay,
        test_both_programs_print_the_project_version,
    ])
