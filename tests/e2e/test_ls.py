#!/usr/bin/env python3
"""promblock ls: one row per complete block.

`ls --json` prints one JSON object per line per block with these fields (the
contract the implementation follows; all times in ms):
  ulid             str   the block's ULID (= its directory name)
  min_time         int   meta.json minTime
  max_time         int   meta.json maxTime (exclusive)
  duration_ms      int   max_time - min_time
  num_series       int   meta.json stats.numSeries
  num_samples      int   meta.json stats.numSamples
  num_chunks       int   meta.json stats.numChunks
  size_bytes       int   total size of all regular files under the block dir
  level            int   meta.json compaction.level
  external_labels  obj   meta.json thanos.labels, {} when there is none
  marks            list  sorted names of the Thanos marks present:
                         "deletion" (deletion-mark.json), "no-compact" (no-compact-mark.json)
  path             str   the block directory
Sources may be a block, a dir of blocks, or a Prometheus data dir, whose
wal/, chunks_head/, lock, queries.active, *.tmp-for-creation dirs and partial
blocks (ULID dir without meta.json) are not blocks.
"""

import json
import os
import shutil
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

FIELDS = {"ulid", "min_time", "max_time", "duration_ms", "num_series", "num_samples",
          "num_chunks", "size_bytes", "level", "external_labels", "marks", "path"}
PARTIAL_ULID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def dir_size(path):
    return sum(os.path.getsize(os.path.join(dp, f))
               for dp, _, files in os.walk(path) for f in files)


class LsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sets = h.committed_block_sets()

    def ls_json(self, *sources):
        rc, out, err = h.run_promblock(["ls", "--json"] + list(sources))
        self.assertEqual(rc, 0, err)
        lines = [l for l in out.splitlines() if l.strip()]
        rows = [json.loads(l) for l in lines]
        for r in rows:
            self.assertIsInstance(r, dict)
        return rows

    def check_row(self, row, block):
        self.assertEqual(set(row), FIELDS, "fields of %s" % row)
        m = h.read_meta(block)
        self.assertEqual(row["ulid"], os.path.basename(block))
        self.assertEqual(row["ulid"], m["ulid"])
        for k in ("min_time", "max_time", "duration_ms", "num_series", "num_samples",
                  "num_chunks", "size_bytes", "level"):
            self.assertIs(type(row[k]), int, k)
        self.assertEqual(row["min_time"], m["minTime"])
        self.assertEqual(row["max_time"], m["maxTime"])
        self.assertEqual(row["duration_ms"], m["maxTime"] - m["minTime"])
        self.assertEqual(row["num_series"], m["stats"]["numSeries"])
        self.assertEqual(row["num_samples"], m["stats"]["numSamples"])
        self.assertEqual(row["num_chunks"], m["stats"]["numChunks"])
        self.assertEqual(row["level"], m["compaction"]["level"])
        self.assertEqual(row["size_bytes"], dir_size(block))
        self.assertEqual(row["external_labels"], m.get("thanos", {}).get("labels", {}))
        self.assertTrue(os.path.samefile(row["path"], block), (row["path"], block))

    def test_json_rows_match_meta(self):
        for name, src in self.sets.items():
            with self.subTest(set=name):
                blocks = h.block_dirs(src)
                rows = self.ls_json(src)
                self.assertEqual(sorted(r["ulid"] for r in rows),
                                 sorted(os.path.basename(b) for b in blocks))
                # promblock-ls(1): blocks of each source sorted by minimum time.
                self.assertEqual([r["min_time"] for r in rows], sorted(r["min_time"] for r in rows))
                by_ulid = {r["ulid"]: r for r in rows}
                for b in blocks:
                    self.check_row(by_ulid[os.path.basename(b)], b)
                    self.assertEqual(by_ulid[os.path.basename(b)]["marks"], [])

    def test_json_single_block_and_several_sources(self):
        b = h.block_dirs(self.sets["basic"])[2]
        rows = self.ls_json(b)
        self.assertEqual(len(rows), 1)
        self.check_row(rows[0], b)
        rows = self.ls_json(self.sets["basic"], self.sets["long"], self.sets["stale"])
        want = h.block_dirs(self.sets["basic"]) + h.block_dirs(self.sets["long"]) + \
            h.block_dirs(self.sets["stale"])
        self.assertEqual(sorted(r["ulid"] for r in rows),
                         sorted(os.path.basename(b) for b in want))

    def test_thanos_labels_and_marks(self):
        tmp = h.mkdtemp()
        b1, b2, b3 = [h.copy_block(b, tmp) for b in h.block_dirs(self.sets["basic"])]
        for b, labels in ((b1, {"cluster": "eu-1", "replica": "r0"}), (b2, {"tenant": "ü€"})):
            m = h.read_meta(b)
            m["thanos"] = {"labels": labels, "downsample": {"resolution": 0},
                           "source": "sidecar", "segment_files": ["000001"]}
            with open(os.path.join(b, "meta.json"), "w", encoding="utf-8") as f:
                json.dump(m, f, indent="\t", ensure_ascii=False)
        with open(os.path.join(b1, "deletion-mark.json"), "w") as f:
            json.dump({"id": os.path.basename(b1), "version": 1, "details": "test",
                       "deletion_time": 1700000000}, f)
        with open(os.path.join(b2, "no-compact-mark.json"), "w") as f:
            json.dump({"id": os.path.basename(b2), "version": 1, "details": "test",
                       "no_compact_time": 1700000000, "reason": "manual"}, f)
        with open(os.path.join(b3, "deletion-mark.json"), "w") as f:
            json.dump({"id": os.path.basename(b3), "version": 1, "details": "",
                       "deletion_time": 1700000001}, f)
        with open(os.path.join(b3, "no-compact-mark.json"), "w") as f:
            json.dump({"id": os.path.basename(b3), "version": 1, "details": "",
                       "no_compact_time": 1700000001, "reason": "manual"}, f)
        rows = {r["ulid"]: r for r in self.ls_json(tmp)}
        self.assertEqual(len(rows), 3)
        r1, r2, r3 = (rows[os.path.basename(b)] for b in (b1, b2, b3))
        for r, b in ((r1, b1), (r2, b2), (r3, b3)):
            self.check_row(r, b)
        self.assertEqual(r1["external_labels"], {"cluster": "eu-1", "replica": "r0"})
        self.assertEqual(r2["external_labels"], {"tenant": "ü€"})
        self.assertEqual(r3["external_labels"], {})
        self.assertEqual(r1["marks"], ["deletion"])
        self.assertEqual(r2["marks"], ["no-compact"])
        self.assertEqual(r3["marks"], ["deletion", "no-compact"])

    def make_prometheus_data_dir(self):
        """2 complete blocks + the rest of what a Prometheus data dir holds."""
        d = h.mkdtemp()
        basic = h.block_dirs(self.sets["basic"])
        good = [h.copy_block(b, d) for b in basic[:2]]
        os.makedirs(os.path.join(d, "wal"))
        with open(os.path.join(d, "wal", "00000000"), "wb") as f:
            f.write(os.urandom(4096))
        os.makedirs(os.path.join(d, "wal", "checkpoint.00000001"))
        os.makedirs(os.path.join(d, "chunks_head"))
        with open(os.path.join(d, "chunks_head", "000001"), "wb") as f:
            f.write(b"\x01\x30\xbc\x91\x01\x00\x00\x00" + os.urandom(100))
        open(os.path.join(d, "lock"), "w").close()
        with open(os.path.join(d, "queries.active"), "w") as f:
            f.write('[{"query":"up","timestamp_sec":1700000000}]' + " " * 200)
        # An unfinished compaction output (a full copy of a block, meta.json too).
        shutil.copytree(basic[2], os.path.join(d, os.path.basename(basic[2]) + ".tmp-for-creation"))
        # A partial block: a ULID dir without meta.json.
        part = os.path.join(d, PARTIAL_ULID)
        shutil.copytree(basic[2], part)
        os.unlink(os.path.join(part, "meta.json"))
        return d, good

    def test_prometheus_data_dir(self):
        d, good = self.make_prometheus_data_dir()
        rows = self.ls_json(d)
        self.assertEqual(sorted(r["ulid"] for r in rows), sorted(os.path.basename(b) for b in good))
        for r in rows:
            self.check_row(r, os.path.join(d, r["ulid"]))

    def test_partial_block_is_not_listed(self):
        d = h.mkdtemp()
        b = h.copy_block(h.block_dirs(self.sets["long"])[0], d)
        part = os.path.join(d, PARTIAL_ULID)
        shutil.copytree(b, part)
        os.unlink(os.path.join(part, "meta.json"))
        rows = self.ls_json(d)
        self.assertEqual([r["ulid"] for r in rows], [os.path.basename(b)])

    def test_text_output(self):
        for src in (self.sets["basic"], self.make_prometheus_data_dir()[0]):
            with self.subTest(source=src):
                rc, out, err = h.run_promblock(["ls", src])
                self.assertEqual(rc, 0, err)
                lines = [l for l in out.splitlines() if l.strip()]
                ulids = [os.path.basename(b) for b in h.block_dirs(src)]
                self.assertEqual(len(ulids), 3 if src == self.sets["basic"] else 2)
                self.assertEqual(len(lines), 1 + len(ulids), out)  # header + one row per block
                self.assertFalse(any(u in lines[0] for u in ulids), "header line: " + lines[0])
                for u in ulids:
                    self.assertEqual(sum(u in l for l in lines), 1, u)
                by_time = sorted(ulids, key=lambda u: h.read_meta(os.path.join(src, u))["minTime"])
                self.assertEqual([next(u for u in ulids if u in l) for l in lines[1:]], by_time)
                self.assertNotIn(PARTIAL_ULID, out)
                # Times appear in ms and RFC 3339 (promblock-ls(1)).
                m = h.read_meta(h.block_dirs(src)[0])
                self.assertIn(str(m["minTime"]), out)

    def test_missing_source_fails(self):
        # promblock-ls(1): exit 1 when a source is missing, one line naming it.
        missing = os.path.join(h.mkdtemp(), "no-such-dir")
        rc, out, err = h.run_promblock(["ls", "--json", missing])
        self.assertEqual(rc, 1, err)
        lines = [l for l in err.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, err)
        self.assertIn("no-such-dir", lines[0])

    def test_empty_dir_lists_nothing(self):
        # promblock-ls(1): exit 0 also when there are no blocks.
        rc, out, err = h.run_promblock(["ls", "--json", h.mkdtemp()])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.strip(), "")
        rc, out, err = h.run_promblock(["ls", "--json", self.sets["long"]])
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(out.splitlines()), 1)


if __name__ == "__main__":
    h.main()
