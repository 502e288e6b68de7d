#!/usr/bin/env python3
"""Disk full and failing writes (fault injection).

An LD_PRELOAD shim (tests/tools/fail_io.c) makes every write to files
under the output directory fail with ENOSPC (or EIO) once N bytes have
been written, and fsync fail from then on. For N over the whole range of a
run's output (nothing, a few bytes, fractions, all but the last byte),
`merge`, `compact`, `rewrite` and `restore`:
- exit 1 with one line on stderr naming a file under the output directory
  and the OS error ("No space left on device", "Input/output error");
- publish no block (no complete block directory appears in the output);
- leave the sources byte for byte as they were;
and the next run without the fault succeeds and leaves nothing else behind
(temporary directories of the failed runs are gone).
"""

import os
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

SHIM = os.environ.get("PROMBLOCK_FAIL_IO", "")
SOURCES = [os.path.join(h.TESTDATA, "realworld", r) for r in ("replica_a", "replica_b")]
ERRORS = {"ENOSPC": "No space left on device", "EIO": "Input/output error"}


def tree_bytes(root):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)


def run_with_faults(args, out_dir, after, err="ENOSPC"):
    env = h.fail_io_env(PROMBLOCK_FAIL_PREFIX=os.path.realpath(out_dir),
                        PROMBLOCK_FAIL_AFTER=after, PROMBLOCK_FAIL_ERRNO=err)
    p = subprocess.run([h.BIN] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=300)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


@unittest.skipUnless(SHIM and os.path.exists(SHIM), "PROMBLOCK_FAIL_IO shim not built")
class DiskFullTest(unittest.TestCase):

    dump = staticmethod(h.promblock_dump)

    @staticmethod
    def budgets(total):
        """Bytes allowed before the fault: none, a few, fractions, all but the end."""
        return sorted(b for b in {0, 1, 100, total // 100, total // 10, total // 2,
                                  total * 9 // 10, total - 4096, total - 1} if 0 <= b < total)

    def check_command(self, name, make_args, sources, errors=("ENOSPC",), one_block=True):
        """make_args(out) -> argv. Fails at every budget, then succeeds.
        one_block: the command writes one block, so a failed run publishes
        none; else (compact jobs, restored blocks) blocks finished before the
        fault may stay, and each must be whole."""
        before = {s: h.snapshot_tree(s) for s in sources}
        # The size of a successful run's output sets the budgets.
        ref = os.path.join(h.mkdtemp(prefix="promblock-full-"), "out")
        os.makedirs(ref)
        rc, so, se = run_with_faults(make_args(ref), ref, 1 << 40)
        self.assertEqual(rc, 0, se)
        total = tree_bytes(ref)
        self.assertGreater(total, 10000)
        want = self.dump(ref)
        for err in errors:
            for after in self.budgets(total):
                out = os.path.join(h.mkdtemp(prefix="promblock-full-"), "out")
                os.makedirs(out)
                with self.subTest(command=name, error=err, after=after):
                    rc, so, se = run_with_faults(make_args(out), out, after, err)
                    self.assertEqual(rc, 1, "%s\n%s" % (so, se))
                    lines = se.strip().splitlines()
                    failures = [line for line in lines if ERRORS[err] in line]
                    if one_block:
                        self.assertEqual(len(lines), 1, se)
                    # One line per failure (compact: per failed job); other
                    # lines are notices of blocks finished before the fault.
                    self.assertTrue(failures, se)
                    if name != "compact":
                        self.assertEqual(len(failures), 1, se)
                    for line in failures:
                        self.assertTrue(out in line or os.path.realpath(out) in line,
                                        "the error does not name a file in the output: " + line)
                    for line in set(lines) - set(failures):
                        self.assertRegex(line, r"restored|^job \d+: ", se)
                    blocks = [d for d in os.listdir(out) if h.is_block_dir(os.path.join(out, d))]
                    if one_block:
                        self.assertEqual(blocks, [], "a block was published")
                    elif blocks:
                        rc, vo, ve = h.run_promblock(["verify", out])
                        self.assertEqual(rc, 0, "published blocks are damaged: " + vo + ve)
                    # The next run without the fault finishes the job and
                    # clears what the failed one left behind.
                    rc, so, se = run_with_faults(make_args(out), out, 1 << 40)
                    self.assertEqual(rc, 0, se)
                    left = sorted(os.listdir(out))
                    self.assertEqual([d for d in left if not d.startswith(".") and
                                      not h.is_block_dir(os.path.join(out, d))], [],
                                     "leftovers of the failed run")
                    self.assertEqual(self.dump(out), want, "recovered output differs")
                    rc, vo, ve = h.run_promblock(["verify", out])
                    self.assertEqual(rc, 0, vo + ve)
        for s in sources:
            self.assertEqual(h.snapshot_tree(s), before[s], "source %s changed" % s)

    def test_merge(self):
        self.check_command("merge", lambda out: ["merge", "--out", out] + SOURCES, SOURCES,
                           errors=("ENOSPC", "EIO"))

    def test_compact(self):
        self.check_command("compact", lambda out: ["compact", "--consistency-delay", "0s",
                                                   "--out", out] + SOURCES, SOURCES,
                           one_block=False)

    def test_rewrite(self):
        block = h.block_dirs(SOURCES[0])[0]
        self.check_command("rewrite", lambda out: ["rewrite", "--delete", '{job="node"}',
                                                   "--out", out, block], [block])

    def test_restore(self):
        archive = os.path.join(h.mkdtemp(prefix="promblock-full-"), "b.tar.zst")
        with open(archive, "wb") as f:
            p = subprocess.run([h.BIN, "backup", SOURCES[0]], stdout=f, stderr=subprocess.PIPE,
                               timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.check_command("restore", lambda out: ["restore", "--into", out, archive],
                           [archive], one_block=False)


if __name__ == "__main__":
    h.main()
