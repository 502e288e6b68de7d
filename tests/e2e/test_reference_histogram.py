#!/usr/bin/env python3
"""Histogram chunks (encodings 2, 3, 5, 6) against an independent reference.

tests/reference/histogram_ref.py decodes histogram chunks from Prometheus's
format documentation and Go code, independently of promblock's C++. Here:
  - it decodes every chunk in tests/fixtures/chunks_histogram_st (made by
    Prometheus v3.14.0's own appenders) to the samples Prometheus's
    iterators read back, bit for bit;
  - promblock's encoders (driven through `<build>/tests/histogram_codec`)
    encode fixed-seed random histograms -- exponential and custom-bucket
    schemas, integer and float counts, start timestamps absent, constant,
    changing, longer than 127 samples, stale markers at the end -- and the
    reference decodes their output to the same samples.
"""

import json
import os
import random
import struct
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import histogram_ref as ref  # noqa: E402

FIXTURES = os.path.join(HERE, "..", "fixtures", "chunks_histogram_st", "cases.json")
STALE = "StaleNaN"


def to_float(x):
    if isinstance(x, (int, float)):
        return float(x)
    if x == STALE:
        return ref.f64(ref.STALE_NAN_BITS)
    if x == "+Inf":
        return float("inf")
    if x == "-Inf":
        return float("-inf")
    if x == "-0":
        return -0.0
    if x.startswith("NaN:"):
        return ref.f64(int(x[4:], 16))
    raise ValueError(x)


def fbits(x):
    return struct.unpack(">Q", struct.pack(">d", to_float(x)))[0]


class ReferenceHistogramTest(unittest.TestCase):
    def assert_sample(self, got, want, is_float, where):
        self.assertEqual(got["t"], want["t"], where)
        self.assertEqual(got["st"], want["st"], where)
        g, w = got["h"], want["h"]
        self.assertEqual(g["sum_bits"], fbits(w["sum"]), where)
        if g["stale"]:
            return
        self.assertEqual(g["schema"], w["schema"], where)
        self.assertEqual(ref.bits_of(g["zero_threshold"]), fbits(w["zero_threshold"]), where)
        self.assertEqual(g["pos_spans"], [list(s) for s in w["pos_spans"]], where)
        self.assertEqual(g["neg_spans"], [list(s) for s in w["neg_spans"]], where)
        self.assertEqual([ref.bits_of(v) for v in g["custom_values"]],
                         [fbits(v) for v in w.get("custom_values", [])], where)
        if is_float:
            for k in ("count", "zero_count"):
                self.assertEqual(ref.bits_of(g[k]), fbits(w[k]), where)
            for k in ("pos", "neg"):
                self.assertEqual([ref.bits_of(v) for v in g[k]], [fbits(v) for v in w[k]], where)
        else:
            for k in ("count", "zero_count"):
                self.assertEqual(g[k], int(to_float(w[k])), where)
            for k in ("pos", "neg"):
                self.assertEqual(g[k], [int(to_float(v)) for v in w[k]], where)

    def assert_chunk(self, encoding, data, header, samples, where):
        got = ref.decode(encoding, data)
        self.assertEqual(got["header"], header, where)
        self.assertEqual(len(got["samples"]), len(samples), where)
        for i, (g, w) in enumerate(zip(got["samples"], samples)):
            self.assert_sample(g, w, encoding in (3, 6), f"{where} sample {i}")

    def test_fixtures(self):
        with open(FIXTURES) as f:
            cases = json.load(f)
        n = 0
        for c in cases:
            for i, chunk in enumerate(c["chunks"]):
                self.assert_chunk(chunk["encoding"], bytes.fromhex(chunk["hex"]), chunk["header"],
                                  chunk["samples"], f"{c['name']} chunk {i}")
                n += 1
        self.assertGreater(n, 150)

    def test_reference_refuses_garbage(self):
        for data in (b"", b"\x00", b"\x00\x01\x00", b"\x00\x02\x80\xff"):
            for encoding in (2, 3, 5, 6):
                with self.assertRaises(ref.DecodeError):
                    ref.decode(encoding, data)

    def test_our_encoders(self):
        rnd = random.Random(20260)
        chunks = [random_chunk(rnd, encoding) for encoding in (2, 3, 5, 6) for _ in range(40)]
        tool = os.path.join(os.environ["PROMBLOCK_BUILD"], "tests", "histogram_codec")
        out = subprocess.run([tool], input=json.dumps(chunks), capture_output=True, text=True,
                             check=True).stdout.split()
        self.assertEqual(len(out), len(chunks))
        for i, (chunk, hexdata) in enumerate(zip(chunks, out)):
            self.assert_chunk(chunk["encoding"], bytes.fromhex(hexdata), chunk["header"],
                              chunk["samples"], f"random chunk {i} (encoding {chunk['encoding']})")


def random_chunk(rnd, encoding):
    is_float = encoding in (3, 6)
    custom = rnd.random() < 0.3
    if custom:
        bounds = sorted(rnd.sample([0.001, 0.25, 0.5, 1, 1.001, 2.5, 10, 100.125, 1234.5678,
                                    -3, 1e-7, 5e6], rnd.randrange(0, 8)))
        schema, zt = -53, 0
    else:
        bounds = None
        schema = rnd.randrange(-4, 9)
        zt = rnd.choice([0, 2 ** -128, 0.001, 0.5, 1024, 0.0123])

    def random_spans():
        spans, n = [], 0
        for k in range(rnd.randrange(0, 4)):
            length = rnd.randrange(0, 5)
            spans.append([rnd.randrange(-20, 20) if k == 0 else rnd.randrange(0, 6), length])
            n += length
        return spans, n

    pos_spans, npos = random_spans()
    neg_spans, nneg = ([], 0) if custom else random_spans()
    n = rnd.choice([1, 2, 3, 10, 120, 130, 200])
    st_mode = rnd.choice(["absent", "const", "changing", "late", "random"])
    t = rnd.randrange(-(1 << 40), 1 << 41)
    samples = []
    pos = [0] * npos
    neg = [0] * nneg
    count = zcount = 0
    total = 0.0
    stale_from = n - rnd.choice([0, 0, 0, 1, 2]) if n > 2 else n
    for i in range(n):
        t += rnd.choice([15000, 15000, 15001, 30000, 1, rnd.randrange(1, 1 << 30)])
        st = {"absent": 0, "const": 1234567, "changing": t - rnd.randrange(0, 100000),
              "late": 0 if i < n // 2 else t - 60000,
              "random": rnd.choice([0, t, -t, rnd.randrange(-(1 << 62), 1 << 62)])}[st_mode]
        if encoding in (2, 3):
            st = 0
        if is_float:
            pos = [rnd.choice([0.0, rnd.random() * 100, float(rnd.randrange(10))]) for _ in pos]
            neg = [rnd.choice([0.0, rnd.random() * 100, float(rnd.randrange(10))]) for _ in neg]
            zcount = rnd.random() * 10
            count = sum(pos) + sum(neg) + zcount
        else:
            pos = [p + rnd.randrange(0, 50) for p in pos]
            neg = [p + rnd.randrange(0, 50) for p in neg]
            zcount += rnd.randrange(0, 7)
            count = sum(pos) + sum(neg) + zcount
        total += rnd.random() * 1000
        h = {"schema": schema, "zero_threshold": zt, "zero_count": zcount, "count": count,
             "sum": rnd.choice([total, total, -total, 0.0]), "pos_spans": pos_spans,
             "neg_spans": neg_spans, "pos": pos, "neg": neg}
        if custom:
            h["custom_values"] = bounds
        if i >= stale_from:
            h = {"sum": STALE}
        samples.append({"t": t, "st": st, "h": h})
    header = rnd.choice(["unknown", "reset", "not_reset", "gauge"])
    return {"encoding": encoding, "header": header, "samples": samples}


if __name__ == "__main__":
    unittest.main()
