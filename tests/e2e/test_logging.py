#!/usr/bin/env python3
"""What promblock prints on stderr (promblock(1), PROGRESS and EXIT STATUS).

- a progress line (carriage returns, "merging series N/M") when stderr is a
  terminal (a pty from script(1)), and none when it is a pipe;
- the same for backup ("backing up blocks N/M", while the archive goes to
  stdout, byte for byte the archive made without a terminal) and restore
  ("restoring blocks N", no total: a stream has none), and none on a
  terminal under --quiet;
- --quiet leaves nothing on stderr but errors, before or after the command;
- --log-format logfmt and json: every stderr line is one record with ts,
  level and msg; errors have level=error; the results on stdout do not
  change.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

SOURCES = [os.path.join(h.TESTDATA, "realworld", r) for r in ("replica_a", "replica_b")]
MISSING = "/nonexistent/promblock-logging-test"


class LoggingTest(unittest.TestCase):

    def out_dir(self):
        return os.path.join(h.mkdtemp(prefix="promblock-logging-"), "out")

    @unittest.skipUnless(shutil.which("script"), "script(1) not installed")
    def test_progress_only_on_a_terminal(self):
        args = ["merge", "--dedup", "chain", "--threads", "1", "--out", self.out_dir()] + SOURCES
        tty = self.on_terminal(" ".join([h.BIN] + args))
        self.assertRegex(tty, r"\rmerging series \d+/\d+")
        # Cleared before the result line.
        self.assertRegex(tty, r"\r\x1b\[Kmerged ")

        rc, so, se = h.run_promblock(["merge", "--dedup", "chain", "--out", self.out_dir()] +
                                     SOURCES)
        self.assertEqual(rc, 0, se)
        self.assertNotIn("\r", se)
        self.assertNotIn("merging series", se)

    @unittest.skipUnless(shutil.which("script"), "script(1) not installed")
    def test_compact_progress_only_on_a_terminal(self):
        args = ["compact", "--consistency-delay", "0s", "--out", self.out_dir()] + SOURCES
        tty = self.on_terminal(" ".join([h.BIN] + args))
        self.assertRegex(tty, r"\rcompaction jobs \d+/[1-9]\d*")
        # Cleared before each job line (stdout shares the terminal).
        self.assertRegex(tty, r"\r\x1b\[Kjob 1: ")
        rc, so, se = h.run_promblock(["compact", "--consistency-delay", "0s", "--out",
                                      self.out_dir()] + SOURCES)
        self.assertEqual(rc, 0, se)
        self.assertIn("job 1: ", so)
        self.assertNotIn("\r", se + so)
        self.assertNotIn("compaction jobs", se)

    def on_terminal(self, cmd):
        """Runs the shell command line cmd with stdin, stdout and stderr on a pty
        (script(1)); returns what the terminal got. Fails unless it exits 0."""
        env = dict(os.environ, TERM="dumb")
        p = subprocess.run(["script", "-qec", cmd, "/dev/null"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
                           timeout=300)
        tty = p.stdout.decode(errors="replace")
        self.assertEqual(p.returncode, 0, tty)
        return tty

    def backup_to_file(self, path, *extra):
        """promblock backup SOURCES[0] > path with stderr a pipe; returns stderr."""
        with open(path, "wb") as out:
            p = subprocess.run([h.BIN] + list(extra) + ["backup", SOURCES[0]], stdout=out,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=300)
        se = p.stderr.decode(errors="replace")
        self.assertEqual(p.returncode, 0, se)
        return se

    @unittest.skipUnless(shutil.which("script"), "script(1) not installed")
    def test_backup_restore_progress_only_on_a_terminal(self):
        tmp = h.mkdtemp(prefix="promblock-logging-")
        blocks = [os.path.basename(b) for b in h.block_dirs(SOURCES[0])]
        self.assertEqual(len(blocks), 4)

        # stderr a terminal, stdout the archive file.
        tty_archive = os.path.join(tmp, "tty.tar.zst")
        tty = self.on_terminal("%s backup %s > %s" % (
            shlex.quote(h.BIN), shlex.quote(SOURCES[0]), shlex.quote(tty_archive)))
        self.assertRegex(tty, r"\rbacking up blocks [0-4]/4")
        self.assertIn("\rbacking up blocks 4/4", tty)  # the last state is drawn
        self.assertRegex(tty, r"\r\x1b\[Kpromblock: backed up 4 blocks")  # cleared first

        # stderr a pipe: no progress; the archive is the same, byte for byte.
        pipe_archive = os.path.join(tmp, "pipe.tar.zst")
        se = self.backup_to_file(pipe_archive)
        self.assertIn("backed up 4 blocks", se)
        self.assertNotIn("\r", se)
        self.assertNotIn("backing up", se)
        with open(tty_archive, "rb") as a, open(pipe_archive, "rb") as b:
            tty_bytes, pipe_bytes = a.read(), b.read()
        self.assertGreater(len(tty_bytes), 1000)
        self.assertEqual(tty_bytes, pipe_bytes)
        if shutil.which("zstd") and shutil.which("tar"):
            rc, so, se = h.run(["sh", "-c", "zstd -dc %s | tar -t" % shlex.quote(tty_archive)])
            self.assertEqual(rc, 0, se)
            self.assertEqual(sorted({n.split("/")[0] for n in so.split()}), blocks)

        # --quiet: nothing on the terminal.
        quiet_archive = os.path.join(tmp, "quiet.tar.zst")
        tty = self.on_terminal("%s --quiet backup %s > %s" % (
            shlex.quote(h.BIN), shlex.quote(SOURCES[0]), shlex.quote(quiet_archive)))
        self.assertEqual(tty.strip(), "")

        # restore on a terminal (stdin the archive): blocks and bytes, no total.
        into = os.path.join(tmp, "restored-tty")
        tty = self.on_terminal("%s restore --into %s < %s" % (
            shlex.quote(h.BIN), shlex.quote(into), shlex.quote(tty_archive)))
        lines = re.findall(r"\rrestoring blocks ([^\r\x1b]*)", tty)
        self.assertTrue(lines, tty)
        for line in lines:
            size = r"\d+(\.\d)? (B|[KMGT]iB)"
            self.assertRegex(line, r"^[0-4](, %s, %s/s)?$" % (size, size))
        self.assertRegex(tty, r"\rrestoring blocks 4\b")
        self.assertRegex(tty, r"\r\x1b\[Kpromblock: restored 4 blocks")
        self.assertEqual(sorted(n for n in os.listdir(into) if not n.startswith(".")), blocks)

        # restore with stderr a pipe: no progress.
        into = os.path.join(tmp, "restored-pipe")
        with open(pipe_archive, "rb") as f:
            rc, so, se = h.run_promblock(["restore", "--into", into], input=f.read())
        self.assertEqual(rc, 0, se)
        self.assertIn("restored 4 blocks", se)
        self.assertNotIn("\r", se)
        self.assertNotIn("restoring blocks", se)
        rc, so, se = h.run_promblock(["verify", into])
        self.assertEqual(rc, 0, se)

    def test_quiet(self):
        empty = h.mkdtemp(prefix="promblock-logging-")  # merge: "nothing to do"
        for args in (["--quiet", "verify"] + SOURCES, ["verify", "-q"] + SOURCES,
                     ["merge", "--quiet", "--out", self.out_dir(), empty]):
            rc, so, se = h.run_promblock(args)
            self.assertEqual(rc, 0, se)
            self.assertEqual(se, "", args)
        rc, so, se = h.run_promblock(["verify", "--quiet", MISSING])
        self.assertEqual(rc, 1)
        self.assertEqual(se, "promblock: %s: no such file or directory\n" % MISSING)

    def check_records(self, fmt, parse):
        for args, rc_want in ((["verify"] + SOURCES, 0), (["verify", MISSING], 1),
                              (["dump", "--min-time", "yesterday", SOURCES[0]], 2)):
            rc, so, se = h.run_promblock(["--log-format", fmt] + args)
            self.assertEqual(rc, rc_want, se)
            lines = se.splitlines()
            self.assertTrue(lines, args)
            for line in lines:
                rec = parse(line)
                self.assertRegex(rec["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", line)
                self.assertIn(rec["level"], ("info", "error"), line)
                self.assertTrue(rec["msg"], line)
            levels = [parse(line)["level"] for line in lines]
            self.assertEqual("error" in levels, rc_want != 0, se)

    def test_json(self):
        self.check_records("json", json.loads)

    def test_logfmt(self):
        def parse(line):
            m = re.fullmatch(r'ts=(\S+) level=(\w+) msg=("(?:[^"\\]|\\.)*"|\S+)', line)
            self.assertIsNotNone(m, line)
            msg = m.group(3)
            return {"ts": m.group(1), "level": m.group(2),
                    "msg": json.loads(msg) if msg.startswith('"') else msg}
        self.check_records("logfmt", parse)

    def test_results_do_not_change(self):
        outs = []
        for extra in ([], ["--log-format", "json", "--quiet"]):
            rc, so, se = h.run_promblock(extra + ["ls", "--json"] + SOURCES)
            self.assertEqual(rc, 0, se)
            outs.append(so)
        self.assertEqual(outs[0], outs[1])


if __name__ == "__main__":
    h.main()
