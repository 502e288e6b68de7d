#!/usr/bin/env python3
"""Makes testdata/prom3/: committed 2.42 blocks as Prometheus 3.14 writes them.

No Prometheus 3.x can be installed here (Debian ships 2.42), so the blocks
are the committed ones of Prometheus 2.42 with each file changed exactly as
3.14's writer would have written it:
  - index: laid out as 3.7+ lays it out (to_prom3_index.py: no label
    indices, TOC as ensureStage(idxStageDone) records it); version byte 2,
    as 3.14 writes, or 3 for the basic_v3 set (readers since 2.55 accept 3);
  - meta.json: stats gain numFloatSamples and numHistogramSamples (3.6+;
    tsdb/compact.go counts them by chunk encoding, omitempty), in the field
    order of 3.14's BlockStats, tab-indented as Prometheus writes it;
  - chunks/ and tombstones unchanged (their formats did not change).

  replica_b/  testdata/realworld/replica_b (the real HA pair's replica b)
  basic_v3/   testdata/blocks/basic (promtool-made), index version byte 3

Run from anywhere: python3 testdata/prom3/make_fixtures.py
"""

import json
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import to_prom3_index  # noqa: E402

SETS = [
    ("replica_b", os.path.join(TESTDATA, "realworld", "replica_b"), 2),
    ("basic_v3", os.path.join(TESTDATA, "blocks", "basic"), 3),
]


def chunk_encodings(block):
    """Samples per encoding byte over the block's segments (num_samples header)."""
    counts = {}
    for seg in sorted(os.listdir(os.path.join(block, "chunks"))):
        data = open(os.path.join(block, "chunks", seg), "rb").read()
        pos = 8
        while pos < len(data):
            n, pos = to_prom3_index.uvarint(data, pos)
            if n == 0:
                break
            enc = data[pos]
            samples = struct.unpack(">H", data[pos + 1:pos + 3])[0]
            counts[enc] = counts.get(enc, 0) + samples
            pos += 1 + n + 4
    return counts


def prom3_meta(block):
    meta = json.load(open(os.path.join(block, "meta.json")))
    counts = chunk_encodings(block)
    floats = sum(v for k, v in counts.items() if k in (1, 4))
    hists = sum(v for k, v in counts.items() if k in (2, 3, 5, 6))
    old = meta["stats"]
    assert floats + hists == old.get("numSamples", 0), (block, counts, old)
    stats = {}
    for key in ("numSamples", "numFloatSamples", "numHistogramSamples", "numSeries",
                "numChunks", "numTombstones"):
        value = {"numFloatSamples": floats, "numHistogramSamples": hists}.get(key, old.get(key, 0))
        if value:
            stats[key] = value
    meta["stats"] = stats
    return json.dumps(meta, indent="\t")


def main():
    for name, src, version in SETS:
        dst = os.path.join(HERE, name)
        shutil.rmtree(dst, ignore_errors=True)
        for ulid in sorted(os.listdir(src)):
            block = os.path.join(src, ulid)
            if not os.path.isfile(os.path.join(block, "meta.json")):
                continue
            out = os.path.join(dst, ulid)
            shutil.copytree(os.path.join(block, "chunks"), os.path.join(out, "chunks"))
            if os.path.exists(os.path.join(block, "tombstones")):
                shutil.copy(os.path.join(block, "tombstones"), os.path.join(out, "tombstones"))
            with open(os.path.join(block, "index"), "rb") as f:
                index = to_prom3_index.convert(f.read(), version)
            with open(os.path.join(out, "index"), "wb") as f:
                f.write(index)
            with open(os.path.join(out, "meta.json"), "w") as f:
                f.write(prom3_meta(block))
        print("%s: %d blocks" % (dst, len(os.listdir(dst))))


if __name__ == "__main__":
    main()
