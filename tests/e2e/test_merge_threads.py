#!/usr/bin/env python3
"""promblock merge --threads and compact --threads: the output does not depend
on the thread count, nor on whether chunks are decoded in AVX-512 lanes.

Series are merged in batches on worker threads and written in order by the
main thread; a merge with one thread and merges with several must write the
same index and chunk bytes (only the ULID differs). The committed real-world
HA pair (4 blocks per replica, about a thousand series each) gives several
batches per run.
"""

import filecmp
import json
import os
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

SOURCES = [os.path.join(h.TESTDATA, "realworld", r) for r in ("replica_a", "replica_b")]


class ThreadsTest(unittest.TestCase):

    def merge(self, dedup, threads, env=None):
        out = os.path.join(h.mkdtemp(prefix="promblock-threads-"), "out")
        rc, so, se = h.run([h.BIN, "merge", "--json", "--dedup", dedup, "--threads",
                            str(threads), "--out", out] + SOURCES, timeout=300, env=env)
        self.assertEqual(rc, 0, se)
        summary = json.loads(so)
        return summary, summary["path"]

    def assertSameBlock(self, a, b):
        for rel in ["index", "chunks/000001"]:
            self.assertTrue(filecmp.cmp(os.path.join(a, rel), os.path.join(b, rel), shallow=False),
                            "%s differs between %s and %s" % (rel, a, b))
        self.assertEqual(h.read_meta(a)["stats"], h.read_meta(b)["stats"])

    def test_thread_counts_give_identical_blocks(self):
        for dedup in ("penalty", "chain"):
            with self.subTest(dedup=dedup):
                one, one_path = self.merge(dedup, 1)
                # Enough input chunks for several batches, or this proves nothing.
                self.assertGreater(one["chunks_in"], 3 * 2048, one)
                for threads in (2, 5):
                    s, path = self.merge(dedup, threads)
                    self.assertSameBlock(one_path, path)
                    for k in ("series_out", "samples_in", "samples_out", "chunks_copied",
                              "chunks_reencoded"):
                        self.assertEqual(s[k], one[k], k)

    def test_lanes_and_one_by_one_decoding_give_identical_blocks(self):
        # PROMBLOCK_NO_AVX512=1 decodes every chunk one by one, as on a CPU
        # without AVX-512 (tsdb/chunkenc/xor_lanes.h); where the CPU has it,
        # the default run decodes in lanes.
        plain = dict(os.environ, PROMBLOCK_NO_AVX512="1")
        for dedup in ("penalty", "chain"):
            with self.subTest(dedup=dedup):
                one, one_path = self.merge(dedup, 2, env=plain)
                lanes, lanes_path = self.merge(dedup, 2)
                self.assertGreater(one["chunks_in"], 5000, one)  # most decoded
                self.assertSameBlock(one_path, lanes_path)
                self.assertEqual(lanes["samples_out"], one["samples_out"])

    def compact(self, threads):
        out = os.path.join(h.mkdtemp(prefix="promblock-threads-"), "out")
        rc, so, se = h.run_promblock(["compact", "--json", "--consistency-delay", "0s",
                                      "--threads", str(threads), "--out", out] + SOURCES,
                                     timeout=300)
        self.assertEqual(rc, 0, se)
        blocks = {}
        for name in os.listdir(out):
            path = os.path.join(out, name)
            if os.path.isfile(os.path.join(path, "meta.json")):
                meta = h.read_meta(path)
                if not os.path.exists(os.path.join(path, "deletion-mark.json")):
                    blocks[meta["minTime"], meta["maxTime"]] = path
        return blocks

    def test_compact_thread_counts_give_identical_blocks(self):
        one = self.compact(1)
        two = self.compact(2)
        self.assertTrue(one, "compact wrote no blocks")
        self.assertEqual(sorted(one), sorted(two))
        for key in one:
            self.assertSameBlock(one[key], two[key])

    def test_threads_option_is_checked(self):
        for command in ("merge", "compact"):
            for bad in ("0", "-1", "x"):
                rc, _, se = h.run_promblock([command, "--threads", bad, "--out",
                                             h.mkdtemp() + "/o"] + SOURCES)
                self.assertEqual(rc, 2, (command, bad, se))


if __name__ == "__main__":
    h.main()
