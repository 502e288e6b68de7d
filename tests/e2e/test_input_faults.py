#!/usr/bin/env python3
"""Inputs that fail under a running promblock (issue 8).

Source files are mapped into memory, so a read the file can no longer back
(another process truncated it, or the disk failed) arrives as SIGBUS, not
as an error code. tests/tools/sigbus_probe maps a file with the same
MappedFile the readers use, truncates it, then reads: the process must
print one line naming the file and exit 1 -- no "Bus error", no core, no
sanitizer report.
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


if __name__ == "__main__":
    h.main()
