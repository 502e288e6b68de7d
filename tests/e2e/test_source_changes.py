#!/usr/bin/env python3
"""Source blocks deleted or replaced by another process while a merge runs:
Prometheus's and Thanos's compactors delete blocks they replaced,
renaming each away and removing it file by file.

Each trial copies the real HA pair of testdata/realworld, starts
`merge --dedup chain`, stops it (SIGSTOP) at a random moment of a normal
run, changes a source, and lets it go on (SIGCONT). Whatever the moment:

- either the run succeeds and its output holds exactly the samples of the
  sources as they were (blocks are opened, and mapped, before any merging,
  so a later deletion cannot mix old and new) or, when the change came
  before the run listed its sources, as they are after it; or
- it fails with exit 1 and one line naming the missing file, publishing
  nothing and leaving no temporary directory.

Deterministic cases pin down both outcomes: a block half removed before the
run (its chunks gone) fails cleanly; a block removed once the run has all its
inputs open changes nothing in the output.
"""

import os
import random
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

REPLICAS = [os.path.join(h.TESTDATA, "realworld", r) for r in ("replica_a", "replica_b")]
TRIALS = 12


def remove_like_prometheus(block):
    """Renames the block away, then removes its files one by one."""
    gone = block + ".tmp-for-deletion"
    os.rename(block, gone)
    shutil.rmtree(gone)


def replace_like_a_compactor(block):
    """A new block (other ULID, same data) appears; the old one is removed."""
    parent = os.path.dirname(block)
    name = os.path.basename(block)
    new_name = name[:-1] + ("0" if name[-1] != "0" else "1")
    shutil.copytree(block, os.path.join(parent, new_name))
    remove_like_prometheus(block)


class SourceChangeTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        out = os.path.join(h.mkdtemp(prefix="promblock-srcchange-"), "out")
        rc, so, se = h.run_promblock(["merge", "--dedup", "chain", "--out", out] + REPLICAS)
        assert rc == 0, se
        cls.want = cls.dump(out)

    dump = staticmethod(h.promblock_dump)

    def copy_sources(self):
        tmp = h.mkdtemp(prefix="promblock-srcchange-")
        srcs = []
        for r in REPLICAS:
            dst = os.path.join(tmp, os.path.basename(r))
            shutil.copytree(r, dst)
            srcs.append(dst)
        return tmp, srcs

    def check_outcome(self, rc, err, out, tmp, what, srcs=None):
        """srcs: the changed sources, for a run that may have found them
        already changed (its output is then theirs)."""
        # The lock file stays (it is locked, not created, by each run).
        published = [d for d in os.listdir(out) if d != ".promblock.lock"] \
            if os.path.isdir(out) else []
        if rc == 0:
            got = self.dump(out)
            if got != self.want and srcs:
                ref = os.path.join(h.mkdtemp(prefix="promblock-srcchange-"), "out")
                rc, so, se = h.run_promblock(["merge", "--dedup", "chain", "--out", ref] + srcs)
                self.assertEqual(rc, 0, se)
                self.assertEqual(got, self.dump(ref), "%s: output mixes old and new" % what)
            else:
                self.assertEqual(got, self.want, "%s: output mixes old and new" % what)
            return True
        self.assertEqual(rc, 1, "%s: %s" % (what, err))
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, "%s: %s" % (what, err))
        self.assertIn(tmp, lines[0], what)
        self.assertEqual(published, [], "%s: left %s" % (what, published))
        return False

    def test_half_removed_block_fails_cleanly(self):
        tmp, srcs = self.copy_sources()
        block = h.block_dirs(srcs[1])[0]
        # Removal got as far as the chunks: meta.json and index are left.
        shutil.rmtree(os.path.join(block, "chunks"))
        out = os.path.join(tmp, "out")
        rc, so, se = h.run_promblock(["merge", "--dedup", "chain", "--out", out] + srcs)
        self.assertFalse(self.check_outcome(rc, se, out, tmp, "half removed"))
        self.assertIn("chunks", se)

    def test_removal_after_inputs_are_open_changes_nothing(self):
        tmp, srcs = self.copy_sources()
        out = os.path.join(tmp, "out")
        # Stopped once it has created its output (inputs are open by then).
        p = subprocess.Popen([h.BIN, "merge", "--dedup", "chain", "--out", out] + srcs,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        try:
            stopped = False
            deadline = time.monotonic() + 60
            while p.poll() is None and time.monotonic() < deadline:
                if os.path.isdir(out) and any(".tmp" in d for d in os.listdir(out)):
                    p.send_signal(signal.SIGSTOP)
                    stopped = True
                    break
            if stopped:
                for s in srcs:
                    for b in h.block_dirs(s):
                        remove_like_prometheus(b)
                p.send_signal(signal.SIGCONT)
            _, err = p.communicate(timeout=120)
        finally:
            if p.poll() is None:
                p.kill()
        if not stopped:
            self.skipTest("the merge finished before it could be stopped")
        self.assertTrue(self.check_outcome(p.returncode, err.decode(), out, tmp, "removed"))

    def test_random_moments(self):
        rng = random.Random("promblock-source-changes")
        t0 = time.monotonic()
        tmp, srcs = self.copy_sources()
        rc, so, se = h.run_promblock(["merge", "--dedup", "chain", "--out",
                                      os.path.join(tmp, "out")] + srcs)
        duration = time.monotonic() - t0
        self.assertEqual(rc, 0, se)
        intercepted = 0
        for trial in range(TRIALS):
            tmp, srcs = self.copy_sources()
            out = os.path.join(tmp, "out")
            change = remove_like_prometheus if trial % 2 else replace_like_a_compactor
            victim = rng.choice(h.block_dirs(srcs[rng.randrange(2)]))
            delay = rng.uniform(0, duration)
            what = "trial %d: %s %s after %.1f ms" % (trial, change.__name__,
                                                      os.path.basename(victim), delay * 1e3)
            p = subprocess.Popen([h.BIN, "merge", "--dedup", "chain", "--out", out] + srcs,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
            time.sleep(delay)
            running = p.poll() is None
            if running:
                p.send_signal(signal.SIGSTOP)
            change(victim)
            if running:
                p.send_signal(signal.SIGCONT)
            _, err = p.communicate(timeout=120)
            if running:
                intercepted += 1
                self.check_outcome(p.returncode, err.decode(), out, tmp, what, srcs)
            else:
                # It had finished before the change: it must have succeeded,
                # with the output of the unchanged sources.
                self.assertTrue(self.check_outcome(p.returncode, err.decode(), out, tmp, what),
                                what)
        if intercepted == 0:
            self.skipTest("every merge finished before its source changed")


if __name__ == "__main__":
    h.main()
