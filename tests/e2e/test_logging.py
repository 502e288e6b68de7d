#!/usr/bin/env python3
"""What promblock prints on stderr (issue 9, cli.md "Output and exit codes").

- a progress line (carriage returns, "merging series N/M") when stderr is a
  terminal (a pty from script(1)), and none when it is a pipe;
- --quiet leaves nothing on stderr but errors, before or after the command;
- --log-format logfmt and json: every stderr line is one record with ts,
  level and msg; errors have level=error; the results on stdout do not
  change.
"""

import json
import os
import re
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
        cmd = " ".join([h.BIN] + args)
        env = dict(os.environ, TERM="dumb")
        p = subprocess.run(["script", "-qec", cmd, "/dev/null"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
                           timeout=300)
        tty = p.stdout.decode(errors="replace")
        self.assertEqual(p.returncode, 0, tty)
        self.assertRegex(tty, r"\rmerging series \d+/\d+")
        # Cleared before the result line.
        self.assertRegex(tty, r"\r\x1b\[Kmerged ")

        rc, so, se = h.run_promblock(["merge", "--dedup", "chain", "--out", self.out_dir()] +
                                     SOURCES)
        self.assertEqual(rc, 0, se)
        self.assertNotIn("\r", se)
        self.assertNotIn("merging series", se)

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
