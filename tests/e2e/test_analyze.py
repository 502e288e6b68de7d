#!/usr/bin/env python3
"""promblock analyze == promtool tsdb analyze (cardinality and churn:
series and label counts equal `promtool tsdb analyze`'s).

For every committed block (testdata/blocks/*/*, testdata/realworld/replica_a/*)
promtool 2.42 analyzes a copy of the block (a data dir with an empty wal/, the
block ID given) and promblock analyzes the block dir:
  - the header lines (Block ID, Duration, Series, Label names, Postings,
    Postings entries) are equal, text for text;
  - with --limit large enough to print every entry, each of the six lists
    holds the same (count, key) pairs, sorted by count;
  - with the default --limit 20, each list has the same counts in the same
    order, and the same keys wherever promtool's order is deterministic
    (counts above the last printed count; at that count promtool picks among
    ties at random, so ours must be some of promtool's full list's keys with
    that count); ties in ours are sorted by name, then value.
--json carries the same numbers. --match (which promtool 2.42 lacks) is
checked against a Python reference of promtool's algorithm over the
matching series of the harness block reader; the per-metric chunk section
against chunk sizes and sample-count headers read by the harness reader.
Several sources: one report per block in ls order. Bad usage exits 2.
"""

import json
import os
import re
import shutil
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

HEADER = ["Block ID", "Duration", "Series", "Label names", "Postings (unique label pairs)",
          "Postings entries (total label pairs)"]
LISTS = ["Label pairs most involved in churning", "Label names most involved in churning",
         "Most common label pairs", "Label names with highest cumulative label value length",
         "Highest cardinality labels", "Highest cardinality metric names"]
JSON_LISTS = [("churn_label_pairs", "churn", True), ("churn_label_names", "churn", False),
              ("common_label_pairs", "series", True), ("label_value_lengths", "bytes", False),
              ("label_cardinality", "values", False), ("metric_cardinality", "series", False)]
ALL = 1000000


def committed_blocks():
    blocks = h.all_committed_blocks()
    blocks += h.block_dirs(os.path.join(h.TESTDATA, "realworld", "replica_a"))
    if not blocks:
        raise AssertionError("no committed blocks")
    return blocks


def parse_report(text):
    """promtool's analyze text -> (header {name: value}, {list title: [(count, key)]}).
    The list titles delimit the sections (label values may hold newlines:
    a line that does not start with "<count> " continues the previous key)."""
    header = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines) and lines[i]:
        name, _, value = lines[i].partition(": ")
        header[name] = value
        i += 1
    body = "\n".join(lines[i:])
    lists = {}
    positions = []
    for title in LISTS:
        marker = "\n" + title + ":\n"
        p = body.find(marker)
        if p < 0:
            raise AssertionError("section %r missing in:\n%s" % (title, text[:3000]))
        positions.append((p, p + len(marker), title))
    positions.sort()
    for k, (start, content, title) in enumerate(positions):
        end = positions[k + 1][0] if k + 1 < len(positions) else len(body)
        section = body[content:end]
        if k + 1 == len(positions):
            # Ours has one more section after the last list.
            cut = section.find("\n\nMetric names with the most chunk bytes:\n")
            if cut >= 0:
                section = section[:cut + 1]
        entries = []
        for line in section.split("\n"):
            m = re.match(r"^(\d+) (.*)$", line, re.S)
            if m:
                entries.append([int(m.group(1)), m.group(2)])
            elif entries:
                entries[-1][1] += "\n" + line
        # The section ends with "\n" (and a blank line before the next one).
        while entries and entries[-1][1].endswith("\n"):
            entries[-1][1] = entries[-1][1][:-1]
        lists[title] = [tuple(e) for e in entries]
    return header, lists


def promtool_analyze(block, limit=None):
    tmp = tempfile.mkdtemp(prefix="promblock-analyze-")
    try:
        os.makedirs(os.path.join(tmp, "wal"))
        h.copy_block(block, tmp)
        cmd = [h.PROMTOOL, "tsdb", "analyze"]
        if limit is not None:
            cmd.append("--limit=%d" % limit)
        cmd += [tmp, os.path.basename(os.path.normpath(block))]
        rc, out, err = h.run(cmd, timeout=300)
        if rc != 0:
            raise AssertionError("promtool tsdb analyze failed (rc %d): %s" % (rc, err))
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def reference(block, match=None):
    """promtool's algorithm in Python over the series of the harness reader
    (restricted to series having every label pair in `match`)."""
    b = h.read_block(block)
    mint, maxt = b.meta["minTime"], b.meta["maxTime"]
    dur = maxt - mint
    mask = (1 << 64) - 1
    pairs_unc, names_unc, pairs_cnt, values = {}, {}, {}, {}
    metrics = {}
    entries = 0
    for labels, chunks in b.series:
        if match and not set(match.items()) <= set(labels):
            continue
        unc = (dur - (chunks[-1].maxt - chunks[0].mint)) & mask
        for n, v in labels:
            names_unc[n] = (names_unc.get(n, 0) + unc) & mask
            pairs_unc[(n, v)] = (pairs_unc.get((n, v), 0) + unc) & mask
            pairs_cnt[(n, v)] = pairs_cnt.get((n, v), 0) + 1
            values.setdefault(n, set()).add(v)
            entries += 1
        name = dict(labels).get("__name__", "")
        m = metrics.setdefault(name, [0, 0, 0, 0])
        m[0] += 1
        m[1] += len(chunks)
        m[2] += sum((c.data[0] << 8 | c.data[1]) for c in chunks)
        m[3] += sum(len(c.data) for c in chunks)
    churn = lambda x: int(x / dur)  # noqa: E731  (Go: uint64(float64(x) / float64(dur)))
    return {
        "label_names": len(values),
        "postings": len(pairs_cnt),
        "postings_entries": entries,
        "churn_label_pairs": {(n, v): churn(x) for (n, v), x in pairs_unc.items()},
        "churn_label_names": {n: churn(x) for n, x in names_unc.items()},
        "common_label_pairs": dict(pairs_cnt),
        "label_value_lengths": {n: sum(len(v.encode()) for v in vs) for n, vs in values.items()},
        "label_cardinality": {n: len(vs) for n, vs in values.items()},
        "metric_cardinality": {v: c for (n, v), c in pairs_cnt.items() if n == "__name__"},
        "metrics": metrics,
    }


class AnalyzeTest(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.blocks = committed_blocks()

    def analyze(self, *args):
        rc, out, err = h.run_promblock(["analyze"] + [str(a) for a in args], timeout=300)
        self.assertEqual(rc, 0, "promblock analyze %s failed: %s" % (args, err[-2000:]))
        return out

    def analyze_json(self, *args):
        return [json.loads(l) for l in self.analyze("--json", *args).splitlines()]

    def test_header_and_full_lists_equal_promtool(self):
        for block in self.blocks:
            with self.subTest(block=block):
                want_h, want_l = parse_report(promtool_analyze(block, ALL))
                got_h, got_l = parse_report(self.analyze("--limit", ALL, block))
                for name in HEADER:
                    self.assertEqual(got_h.get(name), want_h.get(name), name)
                self.assertEqual(set(got_h) - set(HEADER), set(), "no extra header lines")
                for title in LISTS:
                    got, want = got_l[title], want_l[title]
                    self.assertEqual(sorted(got), sorted(want), title)
                    counts = [c for c, _ in got]
                    self.assertEqual(counts, sorted(counts, reverse=True), title)

    def test_default_limit_lists_where_promtool_is_deterministic(self):
        for block in self.blocks:
            with self.subTest(block=block):
                _, full = parse_report(promtool_analyze(block, ALL))
                _, want_l = parse_report(promtool_analyze(block))
                _, got_l = parse_report(self.analyze(block))
                for title in LISTS:
                    got, want = got_l[title], want_l[title]
                    self.assertEqual([c for c, _ in got], [c for c, _ in want], title)
                    if not got:
                        continue
                    last = got[-1][0]
                    self.assertEqual(sorted(k for c, k in got if c > last),
                                     sorted(k for c, k in want if c > last), title)
                    ties = [k for c, k in got if c == last]
                    self.assertLessEqual(set(ties), {k for c, k in full[title] if c == last}, title)
                    # Ours breaks ties deterministically: by key.
                    for c in set(c for c, _ in got):
                        keys = [k for cc, k in got if cc == c]
                        self.assertEqual(keys, sorted(keys, key=lambda k: k.split("=", 1)),
                                         "%s: ties at %d in name, value order" % (title, c))
                        self.assertLessEqual(set(keys), {k for cc, k in full[title] if cc == c})

    def test_limit_option(self):
        block = self.blocks[0]
        _, want_l = parse_report(promtool_analyze(block, 3))
        _, got_l = parse_report(self.analyze("--limit", 3, block))
        for title in LISTS:
            self.assertEqual([c for c, _ in got_l[title]], [c for c, _ in want_l[title]], title)
            self.assertLessEqual(len(got_l[title]), 3)

    def test_json_equals_text_and_reference(self):
        for block in self.blocks:
            with self.subTest(block=block):
                (j,) = self.analyze_json("--limit", ALL, block)
                want_h, want_l = parse_report(promtool_analyze(block, ALL))
                meta = h.read_meta(block)
                self.assertEqual(j["ulid"], want_h["Block ID"])
                self.assertEqual(j["min_time"], meta["minTime"])
                self.assertEqual(j["max_time"], meta["maxTime"])
                self.assertEqual(j["duration_ms"], meta["maxTime"] - meta["minTime"])
                self.assertEqual(j["series"], int(want_h["Series"]))
                self.assertEqual(j["label_names"], int(want_h["Label names"]))
                self.assertEqual(j["postings"], int(want_h["Postings (unique label pairs)"]))
                self.assertEqual(j["postings_entries"],
                                 int(want_h["Postings entries (total label pairs)"]))
                self.assertNotIn("matcher", j)
                for (field, count, pair), title in zip(JSON_LISTS, LISTS):
                    got = sorted((e[count], e["name"] + "=" + e["value"] if pair else e["name"])
                                 for e in j[field])
                    self.assertEqual(got, sorted(want_l[title]), field)
                self.check_chunks(j, block)

    def check_chunks(self, j, block, match=None):
        ref = reference(block, match)["metrics"]
        self.assertEqual(len(j["metrics"]), len(ref))
        for m in j["metrics"]:
            series, chunks, samples, nbytes = ref[m["name"]]
            self.assertEqual((m["series"], m["chunks"], m["samples"], m["bytes"]),
                             (series, chunks, samples, nbytes), m["name"])
            self.assertAlmostEqual(m["bytes_per_sample"], nbytes / samples if samples else 0)
        by_bytes = [m["bytes"] for m in j["metrics"]]
        self.assertEqual(by_bytes, sorted(by_bytes, reverse=True))
        total = j["chunks"]
        self.assertEqual(total["series"], sum(r[0] for r in ref.values()))
        self.assertEqual(total["chunks"], sum(r[1] for r in ref.values()))
        self.assertEqual(total["samples"], sum(r[2] for r in ref.values()))
        self.assertEqual(total["bytes"], sum(r[3] for r in ref.values()))
        if not match:
            meta = h.read_meta(block)
            self.assertEqual(total["samples"], meta["stats"]["numSamples"])
            self.assertEqual(total["chunks"], meta["stats"]["numChunks"])

    def test_match_restricts_to_matching_series(self):
        blocks = h.block_dirs(os.path.join(h.TESTDATA, "realworld", "replica_a"))
        for block in blocks[:2]:
            for match in ({"job": "node"}, {"__name__": "up"}, {"job": "prometheus",
                                                                  "__name__": "up"}):
                sel = "{" + ",".join('%s="%s"' % kv for kv in sorted(match.items())) + "}"
                with self.subTest(block=block, match=sel):
                    (j,) = self.analyze_json("--limit", ALL, "--match", sel, block)
                    ref = reference(block, match)
                    self.assertEqual(j["matcher"], sel)
                    self.assertEqual(j["series"], h.read_meta(block)["stats"]["numSeries"])
                    self.assertEqual(j["matched_series"], sum(r[0] for r in ref["metrics"].values()))
                    self.assertGreater(j["matched_series"], 0)
                    for field in ("label_names", "postings", "postings_entries"):
                        self.assertEqual(j[field], ref[field], field)
                    for field, count, pair in JSON_LISTS:
                        if field == "metric_cardinality":
                            got = {e["name"]: e[count] for e in j[field]}
                        elif pair:
                            got = {(e["name"], e["value"]): e[count] for e in j[field]}
                        else:
                            got = {e["name"]: e[count] for e in j[field]}
                        self.assertEqual(got, ref[field], field)
                    self.check_chunks(j, block, match)
                    text = self.analyze("--match", sel, block)
                    self.assertIn("\nMatcher: %s\n" % sel, text)
                    self.assertIn("\nMatched series: %d\n" % j["matched_series"], text)

    def test_unmatched_selector_gives_empty_lists(self):
        (j,) = self.analyze_json("--match", '{job="no-such-job"}', self.blocks[0])
        self.assertEqual(j["matched_series"], 0)
        self.assertEqual(j["label_names"], 0)
        self.assertEqual(j["postings"], 0)
        self.assertEqual(j["metrics"], [])

    def test_one_report_per_block_of_several_sources(self):
        srcs = [os.path.join(h.TESTDATA, "blocks", "basic"),
                os.path.join(h.TESTDATA, "realworld", "replica_a")]
        want = [os.path.basename(b) for s in srcs for b in
                sorted(h.block_dirs(s), key=lambda b: (h.read_meta(b)["minTime"], b))]
        self.assertEqual([j["ulid"] for j in self.analyze_json(*srcs)], want)
        text = self.analyze(*srcs)
        self.assertEqual(re.findall(r"^Block ID: (\S+)$", text, re.M), want)
        # Each report as promtool's, one empty line between reports.
        for b in h.block_dirs(srcs[0]):
            want_h, _ = parse_report(promtool_analyze(b))
            self.assertIn("Block ID: %s\nDuration: %s\nSeries: %s\n" %
                          (want_h["Block ID"], want_h["Duration"], want_h["Series"]), text)
        self.assertIn("\n\nBlock ID: ", text)

    def test_data_dir_with_wal_and_nothing_to_do(self):
        # A Prometheus data dir (wal/, chunks_head/ skipped).
        out = self.analyze(os.path.join(h.TESTDATA, "blocks", "long"))
        self.assertEqual(len(re.findall(r"^Block ID: ", out, re.M)), 1)
        empty = h.mkdtemp()
        rc, out, err = h.run_promblock(["analyze", empty])
        self.assertEqual((rc, out), (0, ""))
        self.assertIn("no blocks", err)

    def test_bad_usage_exits_2(self):
        block = self.blocks[0]
        for args in (["--match", "{job=~\"(\"}", block], ["--match", "{", block],
                     ["--limit", "-1", block], ["--no-such-flag", block], []):
            with self.subTest(args=args):
                rc, out, err = h.run_promblock(["analyze"] + args)
                self.assertEqual(rc, 2, err)
                self.assertEqual(out, "")

    def test_missing_source_exits_1(self):
        rc, out, err = h.run_promblock(["analyze", "/nonexistent/promblock-analyze"])
        self.assertEqual(rc, 1)
        self.assertIn("/nonexistent/promblock-analyze", err)


if __name__ == "__main__":
    h.main()
