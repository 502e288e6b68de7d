#!/usr/bin/env python3
"""Every command in the EXAMPLES section of every man page runs.

Each page's examples (the lines between .nf/.fi or .EX/.EE, roff escapes
undone, '#' lines being comments) run in page order, with bash -o pipefail,
in a fresh temp dir per page (relative paths and files such as full.tar.zst
live there, so an example can use what an earlier one of its page wrote).
What the examples name is replaced by what this test has, all through the
explicit tables below:

  PATHS        absolute paths (/srv/prom-a/data, /mnt/shared, ...) -> copies
               of the committed testdata, a Thanos bucket made from it, or
               empty / absent dirs, under the page's temp dir;
  RELATIVE     relative dirs (data/, prom-a/data, blocks/*) -> the same kinds,
               in the page's temp dir;
  PLACEHOLDER  an abbreviated ULID ("01HX...") -> the first block of the dir
               it is in;
  PROGRAMS     the programs examples may run; `promblock` is the binary under
               test, `ssh HOST CMD` runs CMD with sh in a local dir standing
               for HOST (REMOTE_HOSTS), `parallel CMD ::: ARGS` runs CMD once
               per ARG ({} replaced), at once, as GNU parallel does;
  CRON         a crontab line runs its command (after the five time fields).

An example the tables do not cover (an unknown program, path, host, roff
escape or placeholder) FAILS the test: a new example must come with a way to
run it. An example must exit 0 on the (clean) testdata -- also `... || exit
1`. Where an example shows an exit code (a comment "exits 75", `|| exit 1`),
a CHECK must assert that code in a situation that gives it (a held lock,
a damaged block); the test fails when none does. CHECKS also look at what
examples produce (blocks, archives, JSON fields). An example using a
promblock option that `promblock SUB --help` does not list fails, except for
the subcommands in OPTIONS_IN_PROGRESS, where it is skipped with a message
(options being added).
"""

import fcntl
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

MAN = os.path.join(h.REPO, "man")
EXAMPLE_TIMEOUT = 120  # seconds; each example takes well under one on the testdata

# ------------------------------------------------------------- the tables

# Kinds of things a path in an example stands for.
EMPTY = ("empty",)            # an empty directory
ABSENT = ("absent",)          # nothing (the example creates it)
THANOS_BUCKET = ("thanos",)   # a Thanos filesystem bucket, see make_thanos_bucket


def COPY(rel):                # a copy of testdata/<rel>
    return ("copy", rel)


# Absolute paths -> what the test puts at <page temp dir>/fs/<path>.
PATHS = {
    "/srv/prom-a/data": COPY("realworld/replica_a"),   # an HA pair's Prometheus data dirs
    "/srv/prom-b/data": COPY("realworld/replica_b"),
    "/var/lib/prometheus/metrics2": COPY("realworld/replica_a"),
    "/srv/thanos-bucket": THANOS_BUCKET,
    "/srv/bucket": THANOS_BUCKET,
    "/mnt/shared": EMPTY,       # shared storage, filled by the examples
    "/mnt/restored": ABSENT,    # restore creates it
    "/srv/new": ABSENT,         # rewrite --out creates it
}

# Relative dirs -> what the test puts at <page temp dir>/cwd/<path>.
RELATIVE = {
    "data": COPY("realworld/replica_a"),
    "prom-a/data": COPY("blocks/replica_a"),   # two replicas' blocks of one 2h window
    "prom-b/data": COPY("blocks/replica_b"),
    "blocks": THANOS_BUCKET,
    "copy": ABSENT,                            # promtool create-blocks-from writes it
}

# Where a page needs something else at a path than PATHS says.
PAGE_PATHS = {
    # restore installs blocks: into empty dirs, from archives made by PAGE_SETUP.
    "promblock-restore.1": {"/var/lib/prometheus/metrics2": EMPTY, "/srv/thanos-bucket": EMPTY},
}

# An abbreviated ULID: the first block (in ULID order) of the dir it is in.
PLACEHOLDER = re.compile(r"^01[0-9A-Z]*\.\.\.$")

# A crontab line: five time fields, then the command.
CRON = re.compile(r"^(?:[0-9*/,-]+\s+){5}(\S.*)$")

# Programs examples may run (their first words); the values say how.
PROGRAMS = {
    "promblock": "the binary under test (PROMBLOCK_BIN), first in PATH",
    "jq": "from PATH", "zstd": "from PATH", "tar": "from PATH", "sort": "from PATH",
    "cat": "from PATH", "promtool": "from PATH",
    "ssh": "a shim: ssh HOST CMD runs sh -c CMD in <page temp dir>/remote/HOST",
    "parallel": "emulated: parallel CMD ::: ARGS runs CMD per ARG at once",
    "exit": "the shell's (after ||)",
}
REMOTE_HOSTS = {"backup"}
GLOBAL_OPTIONS_WITH_VALUE = {"--log-format"}  # promblock --log-format json SUB ...

# promblock subcommands whose options are being added: an example using an
# option their --help does not list yet is skipped, not failed.
OPTIONS_IN_PROGRESS = {"compact"}

SSH_SHIM = """#!/bin/sh
# ssh HOST COMMAND... for man page examples: COMMAND runs with sh in a local
# directory standing for HOST.
host=$1; shift
dir="$PROMBLOCK_EXAMPLES_REMOTE/$host"
mkdir -p "$dir" && cd "$dir" && exec sh -c "$*"
"""


class Unrunnable(AssertionError):
    """An example the tables above do not say how to run."""


# ------------------------------------------------------------- reading pages

ROFF_ESCAPES = [("\\-", "-"), ("\\e", "\\"), ("\\(aq", "'"), ("\\(dq", '"'), ("\\(ti", "~"),
                ("\\(ha", "^"), ("\\(rs", "\\"), ("\\&", ""), ("\\ ", " "), ("\\|", ""),
                ("\\^", "")]


def unroff(line, where):
    """A line of a no-fill block as the shell sees it."""
    line = re.sub(r"\\f(\[[A-Z]*\]|\([A-Z]{2}|[BIRP])", "", line)  # font changes
    out, i = [], 0
    while i < len(line):
        if line[i] != "\\":
            out.append(line[i])
            i += 1
            continue
        for esc, rep in ROFF_ESCAPES:
            if line.startswith(esc, i):
                out.append(rep)
                i += len(esc)
                break
        else:
            raise Unrunnable("%s: roff escape %r: add it to ROFF_ESCAPES" % (where, line[i:i + 4]))
    return "".join(out)


class Example:
    def __init__(self, page, lineno, command, comment):
        self.page, self.lineno, self.command, self.comment = page, lineno, command, comment

    def __repr__(self):
        return "%s:%d: %s" % (self.page, self.lineno, self.command)


def page_examples(path):
    """The EXAMPLES section's commands, in order, each with the comment lines
    just before it (a blank line ends a comment)."""
    name = os.path.basename(path)
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out, in_section, in_block, comment = [], False, False, []
    pending = None  # a command continued with a trailing backslash
    for no, raw in enumerate(lines, 1):
        if raw.startswith(".SH"):
            in_section = raw.split(None, 1)[1:] == ["EXAMPLES"]
            continue
        if not in_section:
            continue
        if raw in (".nf", ".EX"):
            in_block = True
            continue
        if raw in (".fi", ".EE"):
            in_block = False
            continue
        if not in_block or raw.startswith('.\\"'):
            continue
        where = "%s:%d" % (name, no)
        if raw.startswith((".", "'")):
            raise Unrunnable("%s: roff request %r in an example block" % (where, raw))
        line = unroff(raw, where).strip()
        if pending is not None:
            line, pending = pending + " " + line, None
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        if not line:
            comment = []
        elif line.startswith("#"):
            comment.append(line.lstrip("#").strip())
        else:
            out.append(Example(name, no, line, " ".join(comment)))
            comment = []
    return out


# ------------------------------------------------------------- fixtures

def make_thanos_bucket(dst):
    """A Thanos filesystem bucket: both real-world replicas' blocks (of recent
    times: examples pick blocks by date), with a `thanos` section (labels
    replica="a" / "b", resolution 0, files)."""
    os.makedirs(dst, exist_ok=True)
    for rep in ("a", "b"):
        for b in h.block_dirs(os.path.join(h.TESTDATA, "realworld", "replica_" + rep)):
            d = h.copy_block(b, dst)
            meta = h.read_meta(d)
            files = []
            for dirpath, _, names in os.walk(d):
                for n in names:
                    rel = os.path.relpath(os.path.join(dirpath, n), d)
                    if rel != "meta.json":
                        files.append({"rel_path": rel,
                                      "size_bytes": os.path.getsize(os.path.join(d, rel))})
            meta["thanos"] = {"labels": {"replica": rep}, "downsample": {"resolution": 0},
                              "source": "sidecar", "files": sorted(files,
                                                                    key=lambda f: f["rel_path"])}
            with open(os.path.join(d, "meta.json"), "w", encoding="utf-8") as f:
                json.dump(meta, f, indent="\t")


def materialize(kind, dst):
    if os.path.lexists(dst):
        return
    if kind == EMPTY:
        os.makedirs(dst)
    elif kind == ABSENT:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
    elif kind == THANOS_BUCKET:
        make_thanos_bucket(dst)
    elif kind[0] == "copy":
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copytree(os.path.join(h.TESTDATA, kind[1]), dst, symlinks=True)
    else:
        raise AssertionError("unknown fixture kind %r" % (kind,))


def damaged_copy(src, dst):
    """A copy of the blocks of src with one byte of the first block's first
    chunk segment flipped (a chunk CRC error). Returns the damaged block's ULID."""
    shutil.copytree(src, dst)
    block = h.block_dirs(dst)[0]
    seg = os.path.join(block, "chunks", "000001")
    with open(seg, "r+b") as f:
        f.seek(os.path.getsize(seg) // 2)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 0xFF]))
    return os.path.basename(block)


def ulids(d):
    return [os.path.basename(b) for b in h.block_dirs(d)] if os.path.isdir(d) else []


# ------------------------------------------------------------- one page's run

_HELP_OPTIONS = {}


def help_options(sub):
    """Long options that `promblock [SUB] --help` lists."""
    if sub not in _HELP_OPTIONS:
        rc, out, err = h.run_promblock(([sub] if sub else []) + ["--help"])
        assert rc == 0, err
        _HELP_OPTIONS[sub] = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*)", out))
    return _HELP_OPTIONS[sub]


def simple_commands(text):
    """[(operator before it, [words])] of a shell line; redirections dropped."""
    lex = shlex.shlex(text, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    out, words, op, skip = [], [], "", False
    for tok in lex:
        if skip:
            skip = False
            continue
        if tok in ("|", "||", "&&", ";", "&"):
            out.append((op, words))
            words, op = [], tok
        elif tok in (">", ">>", "<", ">&", "<&"):
            if words and words[-1].isdigit():
                words.pop()  # 2> file
            skip = True
        else:
            words.append(tok)
    out.append((op, words))
    return out


class Result:
    def __init__(self, rc, out, err, seconds):
        self.rc, self.out, self.err, self.seconds = rc, out, err, seconds

    def __repr__(self):
        return "rc %d\nstdout: %s\nstderr: %s" % (self.rc, self.out[-3000:], self.err[-3000:])


class PageRun:
    """Runs the examples of one page in one temp dir."""

    def __init__(self, page):
        self.page = page
        self.root = h.mkdtemp(prefix="promblock-man-examples-")
        self.cwd = os.path.join(self.root, "cwd")
        self.remote = os.path.join(self.root, "remote")
        bindir = os.path.join(self.root, "bin")
        for d in (self.cwd, self.remote, bindir):
            os.makedirs(d)
        os.symlink(h.BIN, os.path.join(bindir, "promblock"))
        with open(os.path.join(bindir, "ssh"), "w") as f:
            f.write(SSH_SHIM)
        os.chmod(os.path.join(bindir, "ssh"), 0o755)
        self.env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
                        PROMBLOCK_EXAMPLES_REMOTE=self.remote, LC_ALL="C")
        self.paths = dict(PATHS, **PAGE_PATHS.get(page, {}))
        self.state = {}  # what PAGE_SETUP leaves for CHECKS

    # -- paths
    def path(self, p, overrides=None):
        """Where an example's path (absolute or relative) is, materialized."""
        base, rest = self.split_path(p, overrides)
        return base + rest

    def split_path(self, p, overrides=None):
        """(the materialized dir a table names, the rest of p below it: its
        placeholders resolved, globs left for the shell)."""
        overrides = overrides or {}
        if p.startswith("/"):
            table, base = self.paths, os.path.join(self.root, "fs")
        else:
            table, base = RELATIVE, self.cwd
        parts = p.strip("/").split("/")
        for n in range(len(parts), 0, -1):
            key = ("/" if p.startswith("/") else "") + "/".join(parts[:n])
            if key in table:
                break
        else:
            raise Unrunnable("no substitution for the path %r: add it to %s" %
                             (p, "PATHS" if p.startswith("/") else "RELATIVE"))
        if key in overrides:
            where = overrides[key]
        else:
            where = os.path.join(base, key.lstrip("/"))
            materialize(table[key], where)
        rest = ""
        for part in parts[n:]:
            if PLACEHOLDER.match(part):
                blocks = ulids(where)
                if not blocks:
                    raise AssertionError("%s: no block in %s for %s" % (self.page, where, part))
                part = blocks[0]
            elif "..." in part:
                raise Unrunnable("placeholder %r in %r: only abbreviated ULIDs (01HX...) are "
                                 "known" % (part, p))
            if not ("*" in part or "?" in part):
                where = os.path.join(where, part)
            else:
                rest += "/" + part
        return where, rest

    def substitute(self, text, overrides=None):
        """The example's text with its paths replaced (PATHS, RELATIVE, PLACEHOLDER)."""
        def repl(m):
            base, rest = self.split_path(m.group(0), overrides)
            return shlex.quote(base) + rest
        return re.sub(r"(?<![\w.~/{}$:-])(?:/[\w.*-][\w./*-]*|[A-Za-z][\w.-]*/[\w./*-]*)",
                      repl, text)

    # -- programs and options
    def check_programs(self, text, where, top=True):
        """Raises Unrunnable for what PROGRAMS does not cover; returns the
        promblock (subcommand, option) pairs used."""
        used = []
        for op, words in simple_commands(text):
            if not words:
                raise Unrunnable("%s: empty command in %r" % (where, text))
            prog = words[0]
            if prog not in PROGRAMS:
                raise Unrunnable("%s: no rule to run %r: add it to PROGRAMS" % (where, prog))
            if prog == "exit" and op != "||":
                raise Unrunnable("%s: exit only after ||" % where)
            if prog == "parallel":
                if not top or op or ":::" not in words:
                    raise Unrunnable("%s: only `parallel CMD ::: ARGS` is emulated" % where)
                cmd = words[1:words.index(":::")]
                if not cmd or cmd[0].startswith("-"):
                    raise Unrunnable("%s: parallel options are not emulated" % where)
                used += self.check_programs(shlex.join(cmd), where, top=False)
            if prog == "ssh":
                if len(words) < 3 or words[1] not in REMOTE_HOSTS:
                    raise Unrunnable("%s: ssh to %r: add the host to REMOTE_HOSTS" %
                                     (where, words[1:2]))
                used += self.check_programs(" ".join(words[2:]), where, top=False)
            if prog == "promblock":
                args = words[1:]
                while args and args[0].startswith("-"):  # global options
                    opt = args.pop(0)
                    used.append((None, opt.split("=")[0]))
                    if opt in GLOBAL_OPTIONS_WITH_VALUE and args:
                        args.pop(0)
                sub = args[0] if args else None
                used += [(sub, w.split("=")[0]) for w in args[1:] if w.startswith("--")]
            elif shutil.which(prog) is None and prog not in ("exit", "ssh", "parallel"):
                raise unittest.SkipTest("%s: %s not installed" % (where, prog))
        return used

    def check_options(self, used, where):
        for sub, opt in used:
            if opt in help_options(None) or opt in help_options(sub):
                continue
            msg = "%s: `promblock %s --help` lists no %s" % (where, sub, opt)
            if sub in OPTIONS_IN_PROGRESS:
                raise unittest.SkipTest(msg + " (yet: options in progress)")
            raise AssertionError(msg)

    # -- running
    def command_text(self, ex):
        text = ex.command
        m = CRON.match(text)
        if m:
            text = m.group(1)
        return text

    def prepare(self, ex):
        """Checks that the tables cover the example; raises Unrunnable (not
        covered) or SkipTest (a program not installed, an option in progress)."""
        where = "%s:%d" % (ex.page, ex.lineno)
        text = self.command_text(ex)
        used = self.check_programs(text, where)
        self.check_options(used, where)
        return text

    def run(self, ex, overrides=None):
        text = self.substitute(self.command_text(ex), overrides)
        words = shlex.split(text)
        if words and words[0] == "parallel":
            i = words.index(":::")
            tmpl = shlex.join(words[1:i])
            lines = [tmpl.replace("{}", a) if "{}" in tmpl else tmpl + " " + shlex.quote(a)
                     for a in words[i + 1:]]
        else:
            lines = [text]
        results = [None] * len(lines)
        t0 = time.monotonic()

        def one(i):
            results[i] = h.run(["bash", "-o", "pipefail", "-c", lines[i]], cwd=self.cwd,
                               env=self.env, timeout=EXAMPLE_TIMEOUT)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(lines))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        secs = time.monotonic() - t0
        for r in results:
            if r is None:
                raise AssertionError("%r: a run did not finish" % ex)
        rc = next((r[0] for r in results if r[0] != 0), 0)
        return Result(rc, "".join(r[1] for r in results), "".join(r[2] for r in results), secs)


# ------------------------------------------------------------- page setups and checks

def setup_restore(run):
    """What the restore page's examples read: full.tar.zst (the first two
    blocks of a data dir), incr.tar.zst (--since the second: the others) and,
    on the backup host, b.tar.zst (a Thanos bucket)."""
    src = os.path.join(h.TESTDATA, "realworld", "replica_a")
    blocks = h.block_dirs(src)
    first = os.path.join(run.root, "first-two")
    os.makedirs(first)
    for b in blocks[:2]:
        h.copy_block(b, first)
    bucket = os.path.join(run.root, "bucket")
    make_thanos_bucket(bucket)
    os.makedirs(os.path.join(run.remote, "backup"))
    for args, out in ((["backup", first], os.path.join(run.cwd, "full.tar.zst")),
                      (["backup", "--since", os.path.basename(blocks[1]), src],
                       os.path.join(run.cwd, "incr.tar.zst")),
                      (["backup", bucket], os.path.join(run.remote, "backup", "b.tar.zst"))):
        with open(out, "wb") as f:
            p = subprocess.run([h.BIN] + args, stdout=f, stderr=subprocess.PIPE, timeout=120)
        assert p.returncode == 0, p.stderr
    run.state["replica_a"] = [os.path.basename(b) for b in blocks]
    run.state["bucket"] = ulids(bucket)


PAGE_SETUP = {"promblock-restore.1": setup_restore}


def nonempty_lines(text):
    return [l for l in text.splitlines() if l.strip()]


def check_lock_exit_75(t, run, ex, res):
    """Compaction into shared storage made verified blocks; a run while
    another promblock holds the lock on --out (flock on .promblock.lock, see
    tsdb/base/dir_lock.h) exits 75 at once and changes nothing."""
    shared = run.path("/mnt/shared")
    t.assertTrue(ulids(shared), "no block in --out")
    rc, out, err = h.run_promblock(["verify", shared])
    t.assertEqual(rc, 0, out + err)
    before = h.snapshot_tree(shared)
    with open(os.path.join(shared, ".promblock.lock"), "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        locked = run.run(ex)
    t.assertEqual(locked.rc, 75, locked)
    t.assertLess(locked.seconds, 10, "a locked run must exit at once")
    after = h.snapshot_tree(shared)
    t.assertEqual({k: v for k, v in after.items() if k != ".promblock.lock"},
                  {k: v for k, v in before.items() if k != ".promblock.lock"})


def check_ci_verify(t, run, ex, res):
    """On clean blocks: exit 0 and no problem; on a damaged block: exit 1 and
    problems.jsonl names it, one JSON object per line."""
    jsonl = os.path.join(run.cwd, "problems.jsonl")
    with open(jsonl) as f:
        t.assertEqual(f.read(), "")
    damaged = os.path.join(run.root, "damaged")
    bad = damaged_copy(run.path("/mnt/shared"), damaged)
    res = run.run(ex, overrides={"/mnt/shared": damaged})
    t.assertEqual(res.rc, 1, res)
    with open(jsonl) as f:
        problems = [json.loads(l) for l in nonempty_lines(f.read())]
    t.assertTrue(problems)
    t.assertIn(bad, {p["block"] for p in problems})


def check_verify_jq(t, run, ex, res):
    """Clean: no block printed; one damaged block: exactly its ULID."""
    t.assertEqual(res.out, "")
    damaged = os.path.join(run.root, "damaged")
    bad = damaged_copy(run.path("/srv/thanos-bucket"), damaged)
    overrides = {"/srv/thanos-bucket": damaged}
    res = run.run(ex, overrides=overrides)
    t.assertEqual(res.rc, 1, res)  # verify's, through pipefail
    t.assertEqual(res.out, bad + "\n")
    t.assertGreater(check_jq_fields(t, run, ex, overrides, want_rc=1), 0)


def check_backup_pipe(t, run, ex, res):
    """The archive arrived on the backup host and holds every block of /mnt/shared."""
    archive = os.path.join(run.remote, "backup", "blocks.tar.zst")
    t.assertGreater(os.path.getsize(archive), 1000)
    rc, out, err = h.run(["sh", "-c", "zstd -dc %s | tar -t" % shlex.quote(archive)])
    t.assertEqual(rc, 0, err)
    t.assertEqual(sorted({l.split("/")[0] for l in nonempty_lines(out)}),
                  ulids(run.path("/mnt/shared")))


def check_restored_equals_shared(t, run, ex, res):
    t.assertEqual(ulids(run.path("/mnt/restored")), ulids(run.path("/mnt/shared")))
    rc, out, err = h.run_promblock(["verify", run.path("/mnt/restored")])
    t.assertEqual(rc, 0, out + err)


def check_archive_lists_blocks(t, run, ex, res):
    want = ulids(run.path("/var/lib/prometheus/metrics2"))
    got = sorted({l.split()[-1].split("/")[0] for l in nonempty_lines(res.out)})
    t.assertEqual(got, want)
    for u in want:
        t.assertIn(u + "/meta.json", res.out)


def check_file(name, min_bytes=1, endswith=None):
    def check(t, run, ex, res):
        p = os.path.join(run.cwd, name)
        t.assertGreaterEqual(os.path.getsize(p), min_bytes, p)
        if endswith:
            with open(p, "rb") as f:
                t.assertTrue(f.read().endswith(endswith), p)
    check.__doc__ = "%s written (at least %d bytes)" % (name, min_bytes)
    return check


def check_remote_file(name):
    def check(t, run, ex, res):
        t.assertGreater(os.path.getsize(os.path.join(run.remote, "backup", name)), 1000)
    return check


def check_dump_match(t, run, ex, res):
    lines = nonempty_lines(res.out)
    t.assertTrue(lines, res)
    for l in lines:
        t.assertIn('__name__="node_cpu_seconds_total"', l)
        t.assertIn('mode="idle"', l)


def check_seriesjson(t, run, ex, res):
    """series.jsonl: one JSON object of labels a line, each series once."""
    with open(os.path.join(run.cwd, "series.jsonl"), encoding="utf-8") as f:
        lines = nonempty_lines(f.read())
    t.assertTrue(lines)
    t.assertEqual(len(lines), len(set(lines)))
    for l in lines:
        t.assertTrue(json.loads(l)["__name__"].startswith("node_"), l)


def check_promtool_copy(t, run, ex, res):
    t.assertEqual(len(ulids(os.path.join(run.cwd, "copy"))), 1)


def check_ls_lists_blocks(t, run, ex, res):
    for u in ulids(run.path("/var/lib/prometheus/metrics2")):
        t.assertIn(u, res.out)


def check_stdout(t, run, ex, res):
    t.assertTrue(nonempty_lines(res.out), res)


def check_analyze_every_block(t, run, ex, res):
    """One report per block of the data dir."""
    want = ulids(run.path("/var/lib/prometheus/metrics2"))
    t.assertEqual(re.findall(r"^Block ID: (\S+)$", res.out, re.M), want)


def check_dir_blocks(path, state_key=None, count=None):
    def check(t, run, ex, res):
        got = ulids(run.path(path))
        if state_key:
            want = run.state[state_key]
            t.assertEqual(got, sorted(want[:count] if count else want))
        else:
            t.assertGreaterEqual(len(got), count, got)
        rc, out, err = h.run_promblock(["verify", run.path(path)])
        t.assertEqual(rc, 0, out + err)
    return check


def check_merge_json(t, run, ex, res):
    j = json.loads(res.out)
    t.assertTrue(h.is_ulid(j["ulid"]), j)
    t.assertIn(j["ulid"], ulids(run.path("/srv/bucket")))


def check_new_block(t, run, ex, res):
    """Each rewrite adds one block to --out."""
    run.state["rewrites"] = run.state.get("rewrites", 0) + 1
    t.assertEqual(len(ulids(run.path("/srv/new"))), run.state["rewrites"])


class Check:
    def __init__(self, page, pattern, fn, exits=(), jq_checked=False):
        self.page, self.pattern, self.fn, self.exits = page, re.compile(pattern), fn, set(exits)
        self.jq_checked = jq_checked  # fn checks the jq stage's fields itself

    def matches(self, ex):
        return (self.page is None or self.page == ex.page) and self.pattern.search(ex.command)


# (page or None for any, regex on the example as the page has it, check, exit codes it asserts)
CHECKS = [
    Check(None, r"^(\S+\s+){5}promblock compact .*--out /mnt/shared\b", check_lock_exit_75,
          exits=[75]),
    Check("promblock.1", r"promblock backup /mnt/shared \| ssh backup", check_backup_pipe),
    Check("promblock.1", r"promblock restore --into /mnt/restored", check_restored_equals_shared),
    Check("promblock.1", r"promblock verify --json /mnt/shared > problems.jsonl \|\| exit 1",
          check_ci_verify, exits=[1]),
    Check("promblock-analyze.1", r"promblock analyze", check_stdout),
    Check("promblock-analyze.1", r"--limit 10 /var/lib/prometheus/metrics2$",
          check_analyze_every_block),
    Check("promblock-backup.1", r"> full\.tar\.zst$", check_file("full.tar.zst", 1000)),
    Check("promblock-backup.1", r"> incr\.tar\.zst$", check_file("incr.tar.zst", 1000)),
    Check("promblock-backup.1", r"ssh backup 'cat > b\.tar\.zst'", check_remote_file("b.tar.zst")),
    Check("promblock-backup.1", r"^zstd -dc full\.tar\.zst \| tar -tv$",
          check_archive_lists_blocks),
    Check("promblock-dump.1", r"> samples\.txt$", check_file("samples.txt", 1000)),
    Check("promblock-dump.1", r"--match 'node_cpu", check_dump_match),
    Check("promblock-dump.1", r"> series\.jsonl$", check_seriesjson),
    Check("promblock-dump.1", r"> block\.om$", check_file("block.om", 1000, endswith=b"# EOF\n")),
    Check("promblock-dump.1", r"^promtool tsdb create-blocks-from", check_promtool_copy),
    Check("promblock-ls.1", r"^promblock ls /var/lib/prometheus/metrics2$", check_ls_lists_blocks),
    Check("promblock-merge.1", r"--out /mnt/shared prom-a",
          check_dir_blocks("/mnt/shared", count=1)),
    Check("promblock-merge.1", r"--json", check_merge_json),
    Check("promblock-restore.1", r"metrics2 full\.tar\.zst$",
          check_dir_blocks("/var/lib/prometheus/metrics2", "replica_a", count=2)),
    Check("promblock-restore.1", r"metrics2 < incr\.tar\.zst$",
          check_dir_blocks("/var/lib/prometheus/metrics2", "replica_a")),
    Check("promblock-restore.1", r"--into /srv/thanos-bucket$",
          check_dir_blocks("/srv/thanos-bucket", "bucket")),
    Check("promblock-rewrite.1", r"^promblock rewrite", check_new_block),
    Check("promblock-verify.1", r"\| jq -r 'select\(.severity == \"error\"\) \| .block'",
          check_verify_jq, jq_checked=True),
]


def promised_exits(ex):
    """Exit codes an example shows: "exits N" in its comment, `|| exit N`."""
    codes = {int(c) for c in re.findall(r"\bexits? (\d+)\b", ex.comment)}
    codes |= {int(c) for c in re.findall(r"\|\|\s*exit\s+(\d+)", ex.command)}
    return codes


def check_jq_fields(t, run, ex, overrides=None, want_rc=0):
    """A jq stage's input has every field its filter names (a renamed field
    would make the example print null or nothing, silently)."""
    m = re.match(r"^(.*?)\s*\|\s*jq\s+(?:-\w+\s+)*('[^']*'|\S+)", run.command_text(ex))
    if not m:
        return None
    fields = set(re.findall(r"(?<![\w\]])\.([A-Za-z_]\w*)", m.group(2)))
    rc, out, err = h.run(["bash", "-o", "pipefail", "-c", run.substitute(m.group(1), overrides)],
                         cwd=run.cwd, env=run.env)
    t.assertEqual(rc, want_rc, err)
    objs = [json.loads(l) for l in nonempty_lines(out)]
    for o in objs:
        t.assertLessEqual(fields, set(o), "%r: jq filter names fields %s not in %s" %
                          (ex, sorted(fields - set(o)), sorted(o)))
    return len(objs)


# ------------------------------------------------------------- the tests

def pages():
    return sorted(n for n in os.listdir(MAN) if n.endswith(".1"))


class ManExamplesTest(unittest.TestCase):

    def run_page(self, page):
        examples = page_examples(os.path.join(MAN, page))
        self.assertTrue(examples, "%s has no example commands" % page)
        run = PageRun(page)
        if page in PAGE_SETUP:
            PAGE_SETUP[page](run)
        for ex in examples:
            with self.subTest(example=repr(ex)):
                run.prepare(ex)  # Unrunnable fails, SkipTest skips
                checks = [c for c in CHECKS if c.matches(ex)]
                missing = promised_exits(ex) - {e for c in checks for e in c.exits}
                self.assertFalse(missing, "%r shows exit %s: add a CHECK that asserts it" %
                                 (ex, sorted(missing)))
                res = run.run(ex)
                self.assertEqual(res.rc, 0, "%r\n%r" % (ex, res))
                self.assertNotIn("null", res.out.split("\n"), "%r printed null" % ex)
                last = simple_commands(run.command_text(ex))[-1][1]
                if last[:1] == ["promblock"] and "--json" in last and ">" not in ex.command:
                    for line in nonempty_lines(res.out):  # JSON Lines on stdout
                        self.assertIsInstance(json.loads(line), dict, line)
                n = check_jq_fields(self, run, ex)
                if n == 0 and not any(c.jq_checked for c in checks):
                    self.fail("%r: jq got no JSON to check the filter's fields on" % ex)
                for c in checks:
                    c.fn(self, run, ex, res)


def _page_test(page):
    def test(self):
        self.run_page(page)
    test.__doc__ = "the examples of man/%s run" % page
    return test


for _page in pages():
    setattr(ManExamplesTest, "test_" + re.sub(r"\W", "_", _page[:-2]), _page_test(_page))


class TablesTest(unittest.TestCase):
    """The guard itself: what the tables do not cover is refused."""

    def test_unknown_examples_are_refused(self):
        run = PageRun("promblock.1")
        for command in ("rsync -a /srv/prom-a/data backup:/x",          # program
                        "promblock ls /opt/unknown",                    # absolute path
                        "promblock ls somewhere/else",                  # relative path
                        "promblock ls /srv/bucket/01HX... | nc backup 9", # program in a pipe
                        "promblock backup /mnt/shared | ssh elsewhere 'cat > x'",  # host
                        "promblock dump /srv/bucket/BLOCK.../",         # placeholder
                        "parallel -j2 promblock ls ::: /mnt/shared"):   # parallel options
            ex = Example("promblock.1", 0, command, "")
            with self.subTest(command=command):
                with self.assertRaises(Unrunnable):
                    run.prepare(ex)
                    run.substitute(run.command_text(ex))
        with self.assertRaises(Unrunnable):
            unroff("promblock ls \\*(Tx", "x")

    def test_known_examples_are_translated(self):
        run = PageRun("promblock.1")
        ex = Example("promblock.1", 0, "*/15 * * * * promblock ls /srv/bucket/01HX... "
                     "prom-a/data | jq -r .ulid", "")
        run.prepare(ex)
        text = run.substitute(run.command_text(ex))
        first = min(os.path.basename(b) for r in ("replica_a", "replica_b")
                    for b in h.block_dirs(os.path.join(h.TESTDATA, "realworld", r)))
        self.assertRegex(text, r"^promblock ls \S+/fs/srv/bucket/%s \S+/cwd/prom-a/data \| jq -r "
                         r"\.ulid$" % first)
        self.assertEqual(promised_exits(Example("p", 0, "x || exit 3", "a run exits 75")),
                         {3, 75})

    def test_options_in_progress_skip_others_fail(self):
        run = PageRun("promblock-compact.1")
        for command in ("promblock compact --no-such-option 1 --out /mnt/shared /srv/prom-a/data",
                        "parallel promblock compact --no-such-option {}/4 --out /mnt/shared "
                        "/srv/prom-a/data ::: 0 1"):
            with self.subTest(command=command):
                with self.assertRaisesRegex(unittest.SkipTest, "lists no --no-such-option"):
                    run.prepare(Example("promblock-compact.1", 0, command, ""))
        with self.assertRaisesRegex(AssertionError, "lists no --no-such-option"):
            run.prepare(Example("promblock-compact.1", 0,
                                "promblock ls --no-such-option /mnt/shared", ""))

    def test_parallel_runs_every_argument(self):
        """`parallel CMD ::: ARGS` runs CMD once per ARG; a failing one fails the example."""
        run = PageRun("promblock.1")
        ex = Example("promblock.1", 0, "parallel promblock ls --json {} ::: /srv/prom-a/data "
                     "/srv/prom-b/data", "")
        run.prepare(ex)
        res = run.run(ex)
        self.assertEqual(res.rc, 0, res)
        want = sorted(ulids(run.path("/srv/prom-a/data")) + ulids(run.path("/srv/prom-b/data")))
        self.assertEqual(sorted(json.loads(l)["ulid"] for l in nonempty_lines(res.out)), want)
        ex = Example("promblock.1", 0,
                     "parallel promblock verify {} ::: /srv/prom-a/data /mnt/none", "")
        with self.assertRaises(Unrunnable):  # /mnt/none is in no table
            run.run(ex)
        ex = Example("promblock.1", 0, "parallel promblock verify {}/x ::: /srv/prom-a/data "
                     "/srv/prom-b/data", "")
        self.assertEqual(run.run(ex).rc, 1)
        self.assertEqual(unroff("a \\-\\-b \\(aqc\\(aq \\fBd\\fR", "x"), "a --b 'c' d")


if __name__ == "__main__":
    h.main()
