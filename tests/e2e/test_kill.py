#!/usr/bin/env python3
"""kill -9 at random moments of `restore` and `rewrite` (compact has
its own, event-driven kill test in test_compact.py).

Each trial starts the command, SIGKILLs it after a random delay spread over
a normal run's duration, and checks the output directory: any block in it
is complete (it verifies), nothing else but temporary directories. The next
run without a kill then succeeds, removes those temporary directories, and
its output dumps the same as an uninterrupted run's. Sources never change.
"""

import os
import random
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

REPLICA = os.path.join(h.TESTDATA, "realworld", "replica_a")
TRIALS = 16
MIN_KILLS = 5


def run_killed(args, delay):
    """Starts promblock ARGS, SIGKILLs it after `delay` s unless done: (killed, rc, stderr)."""
    p = subprocess.Popen([h.BIN] + args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        p.wait(delay)
    except subprocess.TimeoutExpired:
        p.kill()
    _, err = p.communicate(timeout=120)
    return p.returncode == -9, p.returncode, err.decode(errors="replace")


class KillTest(unittest.TestCase):

    dump = staticmethod(h.promblock_dump)

    def check_killed_output(self, out, what):
        for d in os.listdir(out):
            p = os.path.join(out, d)
            if h.is_block_dir(p):
                rc, so, se = h.run_promblock(["verify", p])
                self.assertEqual(rc, 0, "%s: published block %s is damaged: %s" % (what, d, so + se))
            else:
                self.assertTrue(d.startswith(".") or ".tmp" in d, "%s: unexpected %s" % (what, d))

    def kill_trials(self, name, make_args, sources):
        before = {s: h.snapshot_tree(s) for s in sources}
        ref = os.path.join(h.mkdtemp(prefix="promblock-kill-"), "out")
        t0 = time.monotonic()
        rc, so, se = h.run_promblock(make_args(ref), timeout=300)
        duration = time.monotonic() - t0
        self.assertEqual(rc, 0, se)
        want = self.dump(ref)
        rng = random.Random("promblock-kill-" + name)
        kills = 0
        for trial in range(TRIALS):
            out = os.path.join(h.mkdtemp(prefix="promblock-kill-"), "out")
            delay = rng.uniform(0, 1.2 * duration)
            killed, rc, err = run_killed(make_args(out), delay)
            what = "%s trial %d, kill after %.1f ms" % (name, trial, delay * 1e3)
            self.assertTrue(killed or rc == 0, "%s: exited %d: %s" % (what, rc, err))
            kills += killed
            if os.path.isdir(out):
                self.check_killed_output(out, what)
            rc, so, se = h.run_promblock(make_args(out), timeout=300)
            self.assertEqual(rc, 0, "%s: the next run failed: %s" % (what, se))
            left = [d for d in os.listdir(out)
                    if not d.startswith(".") and not h.is_block_dir(os.path.join(out, d))]
            self.assertEqual(left, [], "%s: leftovers after the next run" % what)
            self.assertEqual(self.dump(out), want, "%s: resumed output differs" % what)
        self.assertGreaterEqual(kills, MIN_KILLS, "%s: too few runs were killed mid-way" % name)
        for s in sources:
            self.assertEqual(h.snapshot_tree(s), before[s], "source %s changed" % s)

    def test_restore(self):
        archive = os.path.join(h.mkdtemp(prefix="promblock-kill-"), "b.tar.zst")
        with open(archive, "wb") as f:
            p = subprocess.run([h.BIN, "backup", REPLICA], stdout=f, stderr=subprocess.PIPE,
                               timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.kill_trials("restore", lambda out: ["restore", "--into", out, archive], [archive])

    def test_rewrite(self):
        block = h.block_dirs(REPLICA)[0]
        self.kill_trials("rewrite", lambda out: ["rewrite", "--drop-label", "instance",
                                                 "--out", out, block], [block])


if __name__ == "__main__":
    h.main()
