#!/usr/bin/env python3
"""Inputs that fail under a running promblock.

Source files are mapped into memory, so a read the file can no longer back
(another process truncated it, or the disk failed) arrives as SIGBUS, not
as an error code. tests/tools/sigbus_probe maps a file with the same
MappedFile the readers use, truncates it, then reads: the process must
print one line naming the file and exit 1 -- no "Bus error", no core, no
sanitizer report.

Files that are read rather than mapped (meta.json, deletion marks, the
block files `backup` streams, the archive `restore` reads) get read errors
from an LD_PRELOAD shim (tests/tools/fail_io.c): EIO after N bytes, for N
from none to most of what the command reads. The command exits 1 with a
line naming the file and "Input/output error" (not, say, "invalid JSON"),
publishes nothing partial, and leaves the sources as they were.
"""

import os
import shutil
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

PROBE = os.path.join(h.BUILD, "tests", "sigbus_probe")


class InputFaultTest(unittest.TestCase):

    def test_truncated_while_mapped_is_a_clean_error(self):
        block = h.block_dirs(os.path.join(h.TESTDATA, "realworld", "replica_a"))[0]
        for name in ("chunks/000001", "index"):
            with self.subTest(file=name):
                path = os.path.join(h.mkdtemp(prefix="promblock-sigbus-"), "f")
                shutil.copyfile(os.path.join(block, name), path)
                self.assertGreater(os.path.getsize(path), 4096)
                p = subprocess.run([PROBE, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   timeout=60)
                err = p.stderr.decode(errors="replace")
                self.assertEqual(p.returncode, 1, err + p.stdout.decode())
                self.assertEqual(err.strip().splitlines(),
                                 ["promblock: %s: cannot read: the file shrank or the disk failed "
                                  "while it was in use" % path])


SHIM = os.environ.get("PROMBLOCK_FAIL_IO", "")
EIO = "Input/output error"


def run_with_read_faults(args, prefix, after):
    env = h.fail_io_env(PROMBLOCK_FAIL_READ_PREFIX=os.path.realpath(prefix),
                        PROMBLOCK_FAIL_READ_AFTER=after)
    p = subprocess.run([h.BIN] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=300)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


@unittest.skipUnless(SHIM and os.path.exists(SHIM), "PROMBLOCK_FAIL_IO shim not built")
class ReadErrorTest(unittest.TestCase):

    def copy_sources(self):
        tmp = h.mkdtemp(prefix="promblock-readerr-")
        srcs = [os.path.join(tmp, "src", r) for r in ("replica_a", "replica_b")]
        for r, dst in zip(("replica_a", "replica_b"), srcs):
            shutil.copytree(os.path.join(h.TESTDATA, "realworld", r), dst)
        return tmp, srcs

    def assert_eio_line(self, err, prefix, what):
        lines = [line for line in err.strip().splitlines() if EIO in line]
        self.assertEqual(len(lines), 1, "%s: %s" % (what, err))
        self.assertIn(os.path.realpath(prefix), lines[0], what)
        self.assertNotIn("JSON", lines[0], what)

    def test_merge_and_dump(self):
        tmp, srcs = self.copy_sources()
        before = h.snapshot_tree(os.path.join(tmp, "src"))
        for after in (0, 1, 100, 1000):
            out = os.path.join(tmp, "out%d" % after)
            for args in (["merge", "--dedup", "chain", "--out", out] + srcs,
                         ["dump", srcs[0]], ["verify", "--json", srcs[0]]):
                what = "%s with %d bytes readable" % (args[0], after)
                rc, so, se = run_with_read_faults(args, os.path.join(tmp, "src"), after)
                self.assertEqual(rc, 1, "%s: %s" % (what, se))
                text = se if args[0] != "verify" else so.decode()
                self.assertIn(EIO, text, what)
                if args[0] != "verify":
                    self.assert_eio_line(se, os.path.join(tmp, "src"), what)
            if os.path.isdir(out):
                self.assertEqual([d for d in os.listdir(out) if d != ".promblock.lock"], [],
                                 "merge left something in its output")
        self.assertEqual(h.snapshot_tree(os.path.join(tmp, "src")), before)

    def test_backup(self):
        tmp, srcs = self.copy_sources()
        total = sum(os.path.getsize(os.path.join(d, f))
                    for d, _, fs in os.walk(srcs[0]) for f in fs)
        for after in (0, 1000, total // 2, total - 100):
            what = "backup with %d of %d bytes readable" % (after, total)
            rc, so, se = run_with_read_faults(["backup", srcs[0]], srcs[0], after)
            self.assertEqual(rc, 1, "%s: %s" % (what, se))
            self.assert_eio_line(se, srcs[0], what)

    def test_restore(self):
        tmp, srcs = self.copy_sources()
        archive = os.path.join(tmp, "b.tar.zst")
        with open(archive, "wb") as f:
            p = subprocess.run([h.BIN, "backup", srcs[0]], stdout=f, stderr=subprocess.PIPE,
                               timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        size = os.path.getsize(archive)
        for after in (0, 5000, size // 2, size - 10):
            what = "restore with %d of %d bytes readable" % (after, size)
            into = os.path.join(tmp, "into%d" % after)
            rc, so, se = run_with_read_faults(["restore", "--into", into, archive], archive, after)
            self.assertEqual(rc, 1, "%s: %s" % (what, se))
            self.assert_eio_line(se, archive, what)
            # Blocks restored before the fault are whole; nothing else is left.
            for d in os.listdir(into) if os.path.isdir(into) else []:
                if d == ".promblock.lock":
                    continue
                self.assertTrue(h.is_ulid(d), "%s: left %s" % (what, d))
                rc, vo, ve = h.run_promblock(["verify", os.path.join(into, d)])
                self.assertEqual(rc, 0, "%s: %s" % (what, vo + ve))


if __name__ == "__main__":
    h.main()
