#!/usr/bin/env python3
"""XOR2 chunks read by an independent decoder (tests/reference/xor2_ref.py).

  - every chunk in tests/fixtures/chunks_xor2/*.txt, written by
    Prometheus v3.14.0's own appender, decodes to the case's samples;
  - promblock's XOR2 encoder (driven through $PROMBLOCK_BUILD/tests/xor2_codec)
    writes exactly those chunks, and the big cases' digests;
  - random sample sets (fixed seeds) encoded by promblock decode, with the
    reference, to the same samples.
"""

import hashlib
import os
import random
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "reference"))
import xor2_ref  # noqa: E402

BUILD = os.environ.get("PROMBLOCK_BUILD") or os.path.join(REPO, "build")
CODEC = os.path.join(BUILD, "tests", "xor2_codec")
FIXTURES = os.path.join(REPO, "tests", "fixtures", "chunks_xor2")
STALE = 0x7FF0000000000002


def load_cases():
    cases = []
    for name in ("cases.txt", "st_grid.txt"):
        load_file(os.path.join(FIXTURES, name), cases)
    return cases


def load_file(path, cases):
    with open(path) as f:
        for line in f:
            w = line.split()
            if not w or w[0].startswith("#"):
                continue
            if w[0] == "case":
                cases.append({"name": w[1], "samples": [], "chunk": None, "digest": None})
            elif w[0] == "s":
                cases[-1]["samples"].append((int(w[1]), int(w[2], 16), int(w[3])))
            elif w[0] == "gen":
                n, t0, dt, v, st = int(w[1]), int(w[2]), int(w[3]), int(w[4], 16), int(w[5])
                cases[-1]["samples"] += [(t0 + i * dt, v, st) for i in range(n)]
            elif w[0] == "chunk":
                cases[-1]["chunk"] = bytes.fromhex(w[1])
            elif w[0] == "chunk_digest":
                cases[-1]["digest"] = (int(w[1]), w[3])


def encode_with_promblock(sample_sets):
    """One chunk (bytes) per sample set, from our encoder."""
    text = "".join(
        "".join("%d %016x %d\n" % s for s in samples) + "end\n" for samples in sample_sets)
    p = subprocess.run([CODEC], input=text, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError("xor2_codec failed (%d): %s" % (p.returncode, p.stderr[-2000:]))
    return [bytes.fromhex(line) for line in p.stdout.split()]


class ReferenceXor2Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cases = load_cases()

    def test_reference_decodes_go_chunks(self):
        self.assertGreaterEqual(len(self.cases), 1100)
        for c in self.cases:
            if c["chunk"] is None:
                continue
            with self.subTest(case=c["name"]):
                self.assertEqual(xor2_ref.decode(c["chunk"]), c["samples"])

    def test_reference_rejects_truncated_go_chunks(self):
        for c in self.cases:
            if c["chunk"] is None or len(c["chunk"]) > 400:
                continue
            for n in range(len(c["chunk"])):
                with self.assertRaises(ValueError, msg="%s cut to %d" % (c["name"], n)):
                    xor2_ref.decode(c["chunk"][:n])

    def test_promblock_encoder_writes_go_chunks(self):
        got = encode_with_promblock([c["samples"] for c in self.cases])
        self.assertEqual(len(got), len(self.cases))
        for c, chunk in zip(self.cases, got):
            with self.subTest(case=c["name"]):
                if c["chunk"] is not None:
                    self.assertEqual(chunk.hex(), c["chunk"].hex())
                else:
                    size, sha = c["digest"]
                    self.assertEqual((len(chunk), hashlib.sha256(chunk).hexdigest()), (size, sha))
                    self.assertEqual(xor2_ref.decode(chunk), c["samples"])

    def test_promblock_random_chunks_decode_to_their_samples(self):
        sets = []
        for seed in range(40):
            r = random.Random(seed)
            n = r.randint(1, 400)
            t = r.randint(-(1 << 40), 1 << 42)
            st = 0 if seed % 4 == 0 else t - r.randint(-100, 10 ** 6)
            v = r.getrandbits(64)
            samples = []
            for _ in range(n):
                k = r.random()
                if k < 0.1:
                    v = STALE
                elif k < 0.3:
                    v = r.getrandbits(64)
                elif k < 0.5:
                    v = (v ^ (r.getrandbits(20) << r.randint(0, 44))) & ((1 << 64) - 1)
                if seed % 4 == 1 and r.random() < 0.2:
                    st = r.choice([0, t - r.randint(-10 ** 3, 10 ** 9)])
                samples.append((t, v, st))
                if v == STALE:
                    v = r.getrandbits(64)
                t += r.choice([15000, 15000 + r.randint(-200, 200), 0, r.randint(1, 1 << 30)])
            sets.append(samples)
        for seed, (samples, chunk) in enumerate(zip(sets, encode_with_promblock(sets))):
            with self.subTest(seed=seed):
                self.assertEqual((chunk[0] << 8) | chunk[1], len(samples))
                self.assertEqual(xor2_ref.decode(chunk), samples)


if __name__ == "__main__":
    unittest.main()
