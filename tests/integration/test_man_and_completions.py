#!/usr/bin/env python3
"""The man pages (docs/man) and the shell completions (scripts/completions) keep up
with the programs: every command and every long option that the real binaries'
`--help` prints is documented in the man page (in that command's section) and
offered by the bash and zsh completions, and nothing else is; the pages are
well-formed man(7) and render without warnings (groff, mandoc and man, each when
installed); bash (and zsh, when installed) really complete them; and
`cmake --install` puts them where README.md says.

A new flag without docs or completions fails here.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.dont_write_bytecode = True
import harness  # noqa: E402

ROOT = harness.REPO_ROOT
MAN = ROOT / "docs" / "man"
COMPLETIONS = ROOT / "scripts" / "completions"
PARLEY_MAN = MAN / "parley.1"
RELAY_MAN = MAN / "parley-relay.8"
PARLEY_BASH = COMPLETIONS / "parley.bash"
RELAY_BASH = COMPLETIONS / "parley-relay.bash"
PARLEY_ZSH = COMPLETIONS / "_parley"
RELAY_ZSH = COMPLETIONS / "_parley-relay"

# An option line of CLI11's help: two spaces, maybe "-h,", then the long name.
HELP_OPTION = re.compile(r"^  (?:-[A-Za-z],)?(--[A-Za-z0-9][A-Za-z0-9-]*)")
# A command line of the "Subcommands:" list.
HELP_COMMAND = re.compile(r"^  ([a-z][a-z0-9-]*)\s")


# --------------------------------------------------------------------------- the programs' help


def run_help(t, argv):
    result = t.run(argv, name="help")
    result.expect_ok(" ".join(argv))
    return result.stdout


def help_sections(text):
    """{'Options': [lines], 'Subcommands': [lines], ...} of a CLI11 help text."""
    sections, current = {}, None
    for line in text.splitlines():
        if re.match(r"^[A-Z][A-Za-z ]*:$", line):
            current = line[:-1]
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return sections


def help_options(text):
    """The long options of a CLI11 help text, in order."""
    options = []
    for line in help_sections(text).get("Options", []):
        m = HELP_OPTION.match(line)
        if m:
            options.append(m.group(1))
    assert options, f"no options found in this help text:\n{harness.tail(text)}"
    return options


def parley_help(t):
    """(top-level options, {command: [options]}, [exit codes]) from the real parley's --help."""
    top = run_help(t, [harness.args().parley, "--help"])
    commands = []
    for line in help_sections(top).get("Subcommands", []):
        m = HELP_COMMAND.match(line)
        if m:
            commands.append(m.group(1))
    assert len(commands) >= 5, f"parley --help lists too few commands:\n{harness.tail(top)}"
    per_command = {c: help_options(run_help(t, [harness.args().parley, c, "--help"])) for c in commands}
    footer = re.search(r"^exit codes: (.*)$", top, re.M)
    assert footer, f"parley --help has no 'exit codes:' line:\n{harness.tail(top)}"
    codes = [int(n) for n in re.findall(r"(?:^|, )(\d+) ", footer.group(1))]
    return help_options(top), per_command, codes


def relay_help(t):
    return help_options(run_help(t, [harness.args().relay, "--help"]))


# --------------------------------------------------------------------------- man pages


HYPHEN = r"(?:\\-|-)"  # a hyphen in roff source: \- or -


def roff_has_option(text, option):
    """`--name` written as \\-\\-name or --name, and not as the start of a longer name."""
    name = HYPHEN.join(re.escape(part) for part in option[2:].split("-"))
    return re.search(HYPHEN * 2 + name + r"(?![A-Za-z0-9_]|\\-|-)", text) is not None


def roff_options(text):
    """The long options a roff source names, in order."""
    found = re.findall(HYPHEN * 2 + r"([A-Za-z0-9](?:[A-Za-z0-9]|" + HYPHEN + r"(?=[A-Za-z0-9]))*)", text)
    return ["--" + m.replace("\\-", "-") for m in found]


def man_tags(text):
    """The options that head a .TP paragraph (the line after .TP names them)."""
    tags = set()
    for m in re.finditer(r"^\.TP\n(.*)$", text, re.M):
        tags.update(roff_options(m.group(1)))
    return tags


def man_sections(text, macro):
    """{title: body} of each .SH (macro 'SH') or each .SS (macro 'SS') of a roff
    source; a .SS ends at the next .SS or .SH."""
    out, title, body = {}, None, []
    for line in text.splitlines():
        m = re.match(r"^\.(SH|SS)\s+(.*)$", line)
        if m and (m.group(1) == macro or m.group(1) == "SH"):
            if title is not None:
                out[title] = "\n".join(body)
            title, body = None, []
            if m.group(1) == macro:
                title = m.group(2).strip().strip('"')
            continue
        if title is not None:
            body.append(line)
    if title is not None:
        out[title] = "\n".join(body)
    return out


# Requests and macros of plain man(7) (and the few roff requests it allows).
MAN_REQUESTS = {
    "TH", "SH", "SS", "PP", "LP", "P", "TP", "IP", "HP", "RS", "RE",
    "B", "I", "BR", "BI", "IB", "IR", "RB", "RI", "SM", "SB",
    "nf", "fi", "br", "sp", "nh", "hy", "ad", "na", "in", "ti", "ne",
    "EX", "EE", "UR", "UE", "MT", "ME",
}
# Escapes the pages may use: \- \e \& \~ \| \^ \% \(xx \fB \fI \fR \fP \" and "\ ".
MAN_ESCAPE = re.compile(r"\\(?:[-e&~|^% \"]|\([A-Za-z0-9]{2}|f[BIRP])")


def check_man_structure(path, name, section, required_sections):
    text = path.read_text()
    lines = [ln for ln in text.splitlines() if not ln.startswith('.\\"')]
    assert lines and lines[0].startswith(".TH "), f"{path.name}: the first request is not .TH"
    th = re.findall(r'"[^"]*"|\S+', lines[0])
    assert len(th) >= 3 and th[1].lower() == name and th[2] == section, (
        f"{path.name}: .TH names {th[1:3]}, expected {name.upper()} {section}")
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("'"):
            raise AssertionError(f"{path.name}:{number}: a line starting with ' is a roff request: {line!r}")
        if line.startswith("."):
            request = re.match(r"^\.\s*([^\s\\]*)", line).group(1)
            if line.startswith('.\\"') or line == ".":
                continue
            assert request in MAN_REQUESTS, (
                f"{path.name}:{number}: unknown or non-man(7) request .{request}: {line!r}")
        for m in re.finditer(r"\\.", line):
            if line.startswith('.\\"'):
                break
            assert MAN_ESCAPE.match(line, m.start()), (
                f"{path.name}:{number}: unknown escape {line[m.start():m.start() + 3]!r} "
                f"(a backslash is \\e): {line!r}")
    sections = man_sections(text, "SH")
    for want in required_sections:
        assert want in sections, f"{path.name}: no .SH {want} (has {list(sections)})"
    name_line = sections["NAME"].strip().splitlines()
    assert name_line and re.match(re.escape(name).replace(r"\-", "-").replace("-", r"\\-")
                                  + r" \\- \S", name_line[0]), (
        f"{path.name}: the NAME section should read '{name} \\- what it is', not {name_line[:1]}")
    return text


def render_tools():
    return [tool for tool in ("groff", "mandoc", "man") if shutil.which(tool)]


def check_man_renders(t, path):
    """Each formatter that is installed formats the page with no warning."""
    env = t.env(MANWIDTH="80", MANPAGER="cat", PAGER="cat")
    commands = {
        "groff": ["groff", "-man", "-Tutf8", "-ww", "-z", str(path)],
        "mandoc": ["mandoc", "-Tlint", "-Wwarning", str(path)],
        "man": ["man", "--warnings", "-E", "UTF-8", "-l", str(path)],
    }
    tools = render_tools()
    if not tools:
        print(f"  note: none of groff, mandoc, man is installed: {path.name} only checked for structure",
              flush=True)
    for tool in tools:
        proc = subprocess.run(commands[tool], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, timeout=60)
        said = (proc.stderr.decode(errors="replace") +
                (proc.stdout.decode(errors="replace") if tool == "mandoc" else "")).strip()
        assert proc.returncode == 0 and not said, (
            f"{' '.join(commands[tool])}: exit {proc.returncode}, warnings:\n{harness.tail(said)}")
        if tool == "man":
            out = proc.stdout.decode(errors="replace")
            assert path.stem.split(".")[0] in out.lower(), f"man -l {path.name} printed nothing useful"


# --------------------------------------------------------------------------- completions


def bash_complete(t, script, function, words):
    """COMPREPLY of `function` for the command line `words` (the last word is being typed)."""
    program = ('source "$1"; shift; fn=$1; shift; COMP_WORDS=("$@"); '
               'COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE="${COMP_WORDS[*]}"; '
               'COMP_POINT=${#COMP_LINE}; "$fn" || exit 1; printf "%s\\n" "${COMPREPLY[@]}"')
    result = t.run(["bash", "--norc", "--noprofile", "-c", program, "bash", str(script), function] + words,
                   timeout=30, name="bash-complete")
    result.expect_ok(f"bash completion of {words!r}")
    assert not result.stderr.strip(), (
        f"bash completion of {words!r} wrote to stderr:\n{harness.tail(result.stderr)}")
    return [w for w in result.stdout.splitlines() if w]


# zsh: complete a line in a pseudo-terminal and print each match. Adapted from
# github.com/Valodim/zsh-capture-completion (MIT licence); $1 is put first in fpath.
ZSH_CAPTURE = r"""
zmodload zsh/zpty || exit 3
zpty z zsh -f -i
local line
setopt rcquotes
() {
    zpty -w z source $1
    repeat 4; do
        zpty -r z line
        [[ $line == ok* ]] && return
    done
    echo 'error initializing' >&2
    exit 2
} =( <<< "
PROMPT=
fpath=(${(qq)1} \$fpath)
" <<< '
autoload -U compinit
compinit -u -D
bindkey ''^M'' undefined
bindkey ''^J'' undefined
bindkey ''^I'' complete-word
null-line () { echo -E - $''\0'' }
compprefuncs=( null-line )
comppostfuncs=( null-line exit )
zstyle '':completion:*'' list-grouped false
zstyle '':completion:*'' insert-tab false
zstyle '':completion:*'' list-separator ''''
zmodload zsh/zutil
compadd () {
    if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
        builtin compadd "$@"
        return $?
    fi
    typeset -a __hits __dscr __tmp
    if (( $@[(I)-d] )); then
        __tmp=${@[$[${@[(i)-d]}+1]]}
        if [[ $__tmp == \(* ]]; then
            eval "__dscr=$__tmp"
        else
            __dscr=( "${(@P)__tmp}" )
        fi
    fi
    builtin compadd -A __hits -D __dscr "$@"
    setopt localoptions norcexpandparam extendedglob
    typeset -A apre hpre hsuf asuf
    zparseopts -E P:=apre p:=hpre S:=asuf s:=hsuf
    if [[ -n $__hits ]]; then
        local dsuf dscr
        for i in {1..$#__hits}; do
            (( $#__dscr >= $i )) && dscr=" -- ${${__dscr[$i]}##$__hits[$i] #}" || dscr=
            echo -E - $IPREFIX$apre$hpre$__hits[$i]$dsuf$hsuf$asuf$dscr
        done
    fi
}
echo ok')
zpty -w z "$2"$'\t'
integer tog=0
while zpty -r z; do :; done | while IFS= read -r line; do
    if [[ $line == *$'\0\r' ]]; then
        (( tog++ )) && exit 0 || continue
    fi
    (( tog )) && echo -E - $line
done
exit 2
"""


def zsh_complete(t, lines):
    """{line: the matches zsh offers for it (completed at its end)}, with _parley and
    _parley-relay from scripts/completions first in fpath. The lines run at once:
    each zsh runs compinit, which can take a second or two."""
    script = t.tmp / "zsh-capture.zsh"
    script.write_text(ZSH_CAPTURE)
    procs = {line: harness.Proc(t, "zsh-complete", ["zsh", "-f", str(script), str(COMPLETIONS), line], t.env())
             for line in lines}
    out = {}
    for line, proc in procs.items():
        result = proc.wait(90, f"zsh completion of {line!r}").expect_ok(f"zsh completion of {line!r}")
        out[line] = [w.split(" -- ")[0].strip() for w in result.stdout.replace("\r", "").splitlines() if w.strip()]
    return out


# An option spec of _arguments: '--name=[...', "--name[...", '*--name=...', '(--x)--name...'
ZSH_SPEC = re.compile(r"""['"]\*?(?:\([^)]*\))?(--[A-Za-z0-9][A-Za-z0-9-]*)[=\[]|\{-h,(--help)\}""")


def zsh_spec_options(text):
    return {a or b for a, b in ZSH_SPEC.findall(text)}


def zsh_branches(text):
    """{command: the text of its `(cmd|...)` case branch, up to its ;;} in _parley."""
    branches = {}
    for m in re.finditer(r"^\s*\(([a-z|]+)\)\s*$", text, re.M):
        end = text.find(";;", m.end())
        for name in m.group(1).split("|"):
            branches[name] = text[m.end():end]
    return branches


def diff(what, want, have):
    """An assertion message naming what is missing and what is extra."""
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    return f"{what}: missing {missing}, not in --help {extra}"


# --------------------------------------------------------------------------- tests


def test_man_pages_document_every_command_and_option(t):
    top, commands, codes = parley_help(t)
    text = check_man_structure(PARLEY_MAN, "parley", "1", [
        "NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "CHAT COMMANDS", "FILES",
        "ENVIRONMENT", "EXIT STATUS", "EXAMPLES", "SEE ALSO"])
    for option in top:
        assert roff_has_option(text, option), f"parley.1 does not mention {option} (parley --help)"
    # Each command has its own .SS, which opens with its synopsis: every option of
    # its --help, in the same order (--help itself is described once, under OPTIONS).
    subsections = man_sections(text, "SS")
    for command, options in commands.items():
        assert command in subsections, f"parley.1 has no '.SS {command}' (has {list(subsections)})"
        synopsis = subsections[command].split("\n.PP\n", 1)[0]
        want = [o for o in options if o != "--help"]
        have = roff_options(synopsis)
        assert have == want, (
            diff(f"parley.1, the synopsis that opens '.SS {command}'", want, have)
            + f"; it should list parley {command} --help's options in order: {want}, not {have}")
        assert re.search(r"^\.B parley " + re.escape(command) + r"\s*$", man_sections(text, "SH")["SYNOPSIS"], re.M), (
            f"parley.1: the SYNOPSIS has no '.B parley {command}' line")
    known = set(top).union(*commands.values())
    undescribed = known - man_tags(text)
    assert not undescribed, f"parley.1 has no .TP paragraph describing {sorted(undescribed)}"
    stale = set(roff_options(text)) - known
    assert not stale, f"parley.1 documents options that no parley --help lists: {sorted(stale)}"
    exit_status = man_sections(text, "SH")["EXIT STATUS"]
    documented = [int(n) for n in re.findall(r"^\.B (\d+)\s*$", exit_status, re.M)]
    assert documented == codes, (
        f"parley.1 EXIT STATUS lists {documented}; parley --help's 'exit codes:' line has {codes}")
    for var in ("PARLEY_PASSWORD",):
        assert var in man_sections(text, "SH")["ENVIRONMENT"], f"parley.1 ENVIRONMENT does not name {var}"
    files = man_sections(text, "SH")["FILES"]
    for path in ("NAME .pem", "/public_keys/", "/parley.toml", "/.parley/"):
        assert path in files, f"parley.1 FILES does not name {path!r}"

    relay = relay_help(t)
    text = check_man_structure(RELAY_MAN, "parley-relay", "8", [
        "NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "FILES", "ENVIRONMENT", "EXIT STATUS",
        "EXAMPLES", "SEE ALSO"])
    undescribed = set(relay) - man_tags(man_sections(text, "SH")["OPTIONS"])
    assert not undescribed, (
        f"parley-relay.8 OPTIONS has no .TP paragraph describing {sorted(undescribed)} (parley-relay --help)")
    stale = set(roff_options(text)) - set(relay)
    assert not stale, f"parley-relay.8 documents options that parley-relay --help does not list: {sorted(stale)}"
    documented = [int(n) for n in re.findall(r"^\.B (\d+)\s*$", man_sections(text, "SH")["EXIT STATUS"], re.M)]
    assert documented == [0, 1, 2], f"parley-relay.8 EXIT STATUS lists {documented}, expected 0, 1, 2"
    assert "relay.sqlite" in man_sections(text, "SH")["FILES"], "parley-relay.8 FILES does not name relay.sqlite"


def test_man_page_lists_every_chat_command(t):
    """The /commands of `parley chat` (its /help texts, in the binary: the room's and the
    full-screen windows') are in CHAT COMMANDS."""
    binary = Path(harness.args().parley).read_bytes()
    found = re.findall(rb"commands:\n((?:  /[^\n\x00]*(?:\n|(?=\x00)))+)", binary)
    assert len(found) >= 2, "cannot find chat's two /help texts ('commands:' then '  /...' lines) in the parley binary"
    commands = [c for text in found for c in re.findall(rb"^  (/[a-z]+(?: [A-Z]+)?)", text, re.M)]
    assert len(commands) >= 8, f"chat's /help texts list too few commands: {commands}"
    assert b"/join NAME" in commands and b"/part" in commands, f"no window commands among {commands}"
    section = man_sections(PARLEY_MAN.read_text(), "SH")["CHAT COMMANDS"]
    for command in commands:
        words = command.decode().split()
        if len(words) == 1:
            pattern = r"^\.B " + re.escape(words[0]) + r"\s*$"
        else:
            pattern = r'^\.BI ' + re.escape(words[0]) + r' " ' + re.escape(words[1]) + r'"\s*$'
        assert re.search(pattern, section, re.M), (
            f"parley.1 CHAT COMMANDS has no entry for {command.decode()} (from chat's /help)")


def test_man_pages_render_without_warnings(t):
    for path in (PARLEY_MAN, RELAY_MAN):
        check_man_renders(t, path)


def test_bash_completion_offers_every_command_and_option(t):
    top, commands, _ = parley_help(t)
    got = bash_complete(t, PARLEY_BASH, "_parley", ["parley", ""])
    assert got == list(commands), diff("bash: parley <TAB>", commands, got) + f" (got {got})"
    got = bash_complete(t, PARLEY_BASH, "_parley", ["parley", "--"])
    assert sorted(got) == sorted(top), diff("bash: parley --<TAB>", top, got)
    for command, options in commands.items():
        got = bash_complete(t, PARLEY_BASH, "_parley", ["parley", command, "--"])
        assert sorted(got) == sorted(options), diff(f"bash: parley {command} --<TAB>", options, got)
    # The two the issue names.
    assert bash_complete(t, PARLEY_BASH, "_parley", ["parley", "li"]) == ["listen"]
    assert "--count" in bash_complete(t, PARLEY_BASH, "_parley", ["parley", "listen", "--co"])

    relay = relay_help(t)
    got = bash_complete(t, RELAY_BASH, "_parley_relay", ["parley-relay", "--"])
    assert sorted(got) == sorted(relay), diff("bash: parley-relay --<TAB>", relay, got)
    assert bash_complete(t, RELAY_BASH, "_parley_relay", ["parley-relay", "--sync", ""]) == ["normal", "full"]


def test_bash_completion_of_values(t):
    """--user: the NAME.pem in --dir (not public_keys/); --add, --remove and fingerprint:
    the members in public_keys/; --room: parley.toml's; --dir and files: the file system."""
    drive = t.fresh_dir("drive")
    (drive / "public_keys").mkdir()
    for name in ("alice", "bob"):
        (drive / f"{name}.pem").write_text("")
    for name in ("alice", "carol"):
        (drive / "public_keys" / f"{name}.pem").write_text("")
    (drive / "notes.txt").write_text("")
    (drive / "parley.toml").write_text('server = "wss://relay.example:8443"\nroom = "friends"\n'
                                       'invite = "parley-invite:1:family:' + "a" * 64 + ":" + "b" * 64
                                       + ':wss://relay.example:8443"\n')

    def complete(*words):
        return sorted(bash_complete(t, PARLEY_BASH, "_parley", ["parley"] + list(words)))

    d = str(drive)
    assert complete("chat", "--dir", d, "--user", "") == ["alice", "bob"], complete("chat", "--dir", d, "--user", "")
    assert complete("chat", "--dir", "=", d, "--user", "=", "a") == ["alice"]
    assert complete("rekey", "--dir", d, "--remove", "") == ["alice", "carol"]
    assert complete("rekey", "--dir", d, "--add", "c") == ["carol"]
    assert complete("fingerprint", "--dir", d, "") == ["alice", "carol"]
    assert complete("listen", "--dir", d, "--room", "") == ["family", "friends"]
    assert complete("chat", "--dir", d + "/pub") == [d + "/public_keys"]
    assert complete("chat", "--password-file", d + "/no") == [d + "/notes.txt"]
    assert complete("keygen", "--dir", d, "--user", "") == [], "keygen --user is a new name"
    assert complete("device", "") == ["add", "card", "show"], complete("device", "")
    assert complete("device", "--dir", d, "--user", "alice", "s") == ["show"]
    assert complete("device", "--dir", d, "--user", "") == ["alice", "bob"]
    assert complete("device", "add", "") == [], "device add NAME is a new name"
    cert = t.fresh_dir("certs")
    (cert / "relay.crt").write_text("")
    assert sorted(bash_complete(t, RELAY_BASH, "_parley_relay",
                                ["parley-relay", "--cert", str(cert) + "/r"])) == [str(cert / "relay.crt")]


def test_zsh_completion_offers_every_command_and_option(t):
    top, commands, _ = parley_help(t)
    relay = relay_help(t)
    # Without zsh: the files say it (#compdef, each command's _arguments specs).
    text = PARLEY_ZSH.read_text()
    assert text.startswith("#compdef parley\n"), "_parley does not start with '#compdef parley'"
    array = re.search(r"commands=\((.*?)^\s*\)\s*$", text, re.M | re.S)
    assert array, "_parley has no commands=( ... ) array"
    listed = re.findall(r"^\s*['\"]([a-z]+):", array.group(1), re.M)
    assert listed == list(commands), diff("_parley commands", commands, listed) + f" (order {listed})"
    first = text.split("_arguments -C", 1)[1].split("&& ret=0", 1)[0]
    assert zsh_spec_options(first) == set(top), diff("_parley top level", top, zsh_spec_options(first))
    branches = zsh_branches(text)
    for command, options in commands.items():
        assert command in branches, f"_parley has no ({command}) branch"
        have = zsh_spec_options(branches[command])
        assert have == set(options), diff(f"_parley {command}", options, have)
    text = RELAY_ZSH.read_text()
    assert text.startswith("#compdef parley-relay\n"), "_parley-relay does not start with '#compdef parley-relay'"
    assert zsh_spec_options(text) == set(relay), diff("_parley-relay", relay, zsh_spec_options(text))

    if not shutil.which("zsh"):
        print("  note: zsh is not installed: _parley and _parley-relay checked as text only", flush=True)
        return
    for path in (PARLEY_ZSH, RELAY_ZSH):
        t.run(["zsh", "-n", str(path)], name="zsh-n").expect_ok(f"zsh -n {path.name}")
    drive = t.fresh_dir("drive")
    (drive / "public_keys").mkdir()
    (drive / "alice.pem").write_text("")
    (drive / "public_keys" / "carol.pem").write_text("")
    per_command = {command: f"parley {command} --" for command in commands}
    got = zsh_complete(t, ["parley ", "parley li", "parley listen --co", "parley-relay --",
                           f"parley chat --dir {drive} --user ", f"parley rekey --dir {drive} --remove "]
                       + list(per_command.values()))
    assert sorted(got["parley "]) == sorted(commands), diff("zsh: parley <TAB>", commands, got["parley "])
    assert got["parley li"] == ["listen"], f"zsh: parley li<TAB> offers {got['parley li']}"
    assert "--count" in got["parley listen --co"], f"zsh: parley listen --co<TAB> offers {got['parley listen --co']}"
    for command, options in commands.items():
        have = got[per_command[command]]
        assert sorted(have) == sorted(options), diff(f"zsh: parley {command} --<TAB>", options, have)
    assert sorted(got["parley-relay --"]) == sorted(relay), diff("zsh: parley-relay --<TAB>", relay,
                                                                 got["parley-relay --"])
    assert got[f"parley chat --dir {drive} --user "] == ["alice"], got[f"parley chat --dir {drive} --user "]
    assert got[f"parley rekey --dir {drive} --remove "] == ["carol"], got[f"parley rekey --dir {drive} --remove "]


def test_cmake_install_puts_them_where_readme_says(t):
    """`cmake --install BUILD --component man|completions` into a fresh prefix: the man
    pages in share/man/man1 and man8, the completions in
    share/bash-completion/completions (as parley and parley-relay) and
    share/zsh/vendor-completions, each equal to its source."""
    build = Path(harness.args().parley).parent
    while not (build / "CMakeCache.txt").exists() and build != build.parent:
        build = build.parent
    if not (build / "cmake_install.cmake").exists() or not shutil.which("cmake"):
        print(f"  note: no cmake or no CMake build around {harness.args().parley}: install not checked",
              flush=True)
        return
    cache = (build / "CMakeCache.txt").read_text()

    def cached(name, default):
        m = re.search(rf"^{name}:PATH=(.*)$", cache, re.M)
        return m.group(1) if m and m.group(1) else default

    datadir = cached("CMAKE_INSTALL_DATADIR", cached("CMAKE_INSTALL_DATAROOTDIR", "share"))
    mandir = cached("CMAKE_INSTALL_MANDIR", cached("CMAKE_INSTALL_DATAROOTDIR", "share") + "/man")
    prefix = t.fresh_dir("prefix")
    for component in ("man", "completions"):
        t.run(["cmake", "--install", str(build), "--prefix", str(prefix), "--component", component],
              timeout=60, name="cmake-install").expect_ok(f"cmake --install --component {component}")
    expected = {
        f"{mandir}/man1/parley.1": PARLEY_MAN,
        f"{mandir}/man8/parley-relay.8": RELAY_MAN,
        f"{datadir}/bash-completion/completions/parley": PARLEY_BASH,
        f"{datadir}/bash-completion/completions/parley-relay": RELAY_BASH,
        f"{datadir}/zsh/vendor-completions/_parley": PARLEY_ZSH,
        f"{datadir}/zsh/vendor-completions/_parley-relay": RELAY_ZSH,
    }
    installed = sorted(str(p.relative_to(prefix)) for p in prefix.rglob("*") if p.is_file())
    assert installed == sorted(expected), (
        f"cmake --install (man, completions) wrote {installed}, expected {sorted(expected)} "
        f"(re-run cmake's configure step if the install rules changed)")
    for rel, source in expected.items():
        assert (prefix / rel).read_bytes() == source.read_bytes(), f"{rel} differs from {source}"
    readme = (ROOT / "README.md").read_text()
    for where in ("share/man/man1", "share/man/man8", "share/bash-completion/completions",
                  "share/zsh/vendor-completions"):
        assert where in readme, f"README.md does not say that something is installed in {where}"


if __name__ == "__main__":
    harness.main([
        test_man_pages_document_every_command_and_option,
        test_man_page_lists_every_chat_command,
        test_man_pages_render_without_warnings,
        test_bash_completion_offers_every_command_and_option,
        test_bash_completion_of_values,
        test_zsh_completion_offers_every_command_and_option,
        test_cmake_install_puts_them_where_readme_says,
    ])
