#!/usr/bin/env python3
"""UTF-8 metric and label names end to end, as Prometheus 3.x has them.

Prometheus 2.42's promtool cannot write such names (OpenMetrics text takes
only legacy names), so the blocks here are promtool-made blocks with legacy
placeholder names (zz_...) that tests/rename_symbols copies with the
placeholders renamed to UTF-8 names (dots, spaces, quotes, non-ASCII), their
chunks byte for byte.

Oracles:
  - dump (text): promtool 2.42's dump of the original block, with the names
    renamed and printed by an implementation here of Prometheus 3.14's
    labels.String() (model/labels/labels_common.go: a label name that is not
    legacy-valid per prometheus/common's LegacyValidation.IsValidLabelName,
    [a-zA-Z_][a-zA-Z0-9_]*, is strconv.Quote'd; the metric name stays the
    value of __name__), series re-sorted by their new labels (bytes);
  - dump --format seriesjson: the same series as Go's json.Marshal of a
    map[string]string writes them (sorted keys, no spaces, <>& as \\u003c
    etc.), implemented here on top of Python's json;
  - --match with PromQL 3's quoted names selects what a filter here selects;
  - dump --format openmetrics: names quoted as Prometheus 3's encoder
    (prometheus/common expfmt) writes them, spot checks;
  - merge of two replicas with UTF-8 names: the chain union of their samples;
  - rewrite --delete with a quoted selector, --drop-label of a UTF-8 label.
"""

import json
import os
import shutil
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

RENAME_BIN = os.path.join(h.BUILD, "tests", "rename_symbols")

# Placeholder (legacy name in the OpenMetrics input) -> UTF-8 name.
RENAMES = {
    "zz_my_metric": "my.metric",
    "zz_a_b": "a.b",
    "zz_host_name": "host name",
    "zz_e": "\u00e9t\u00e9",
    "zz_temp": "temp\u00e9rature.\u00b0C",
    "zz_q": 'we"ird\\',
    "zz_colon": "k:v",          # ':' is legacy in metric names, not in label names
    "zz_digit": "1st",
    "zz_jp": "\u65e5\u672c.x",
    # Label values that are not UTF-8 (surrogateescape: one byte each); Go's
    # json.Marshal writes both as \ufffd, so seriesjson lists one series.
    "zz_bad1": "a\udcff",
    "zz_bad2": "a\udcfe",
}

T0 = 1700000000  # seconds


def om_text(offset_s, step_s=30, n=20):
    series = [
        ("zz_my_metric", {"zz_a_b": "1", "job": "api", "zz_host_name": "h1"}),
        ("zz_my_metric", {"zz_a_b": "2", "job": "api", "zz_host_name": "h2"}),
        ("zz_my_metric", {"zz_a_b": "<&>", "job": "db", "zz_host_name": "h3"}),
        ("zz_temp", {"zz_e": "summer", "zz_q": "x", "zz_host_name": "h1"}),
        ("zz_temp", {"zz_e": "winter", "zz_colon": "y", "zz_host_name": "h2"}),
        ("up", {"job": "api", "zz_digit": "a", "zz_jp": "\u5024"}),
        ("up", {"job": "db", "instance": "i:9090"}),
        ("zz_bytes", {"v": "zz_bad1"}),
        ("zz_bytes", {"v": "zz_bad2"}),
    ]
    lines = []
    by_name = {}
    for name, labels in series:
        by_name.setdefault(name, []).append(labels)
    for name in by_name:
        lines.append("# TYPE %s gauge" % name)
        for k, labels in enumerate(by_name[name]):
            ls = ",".join('%s="%s"' % (n, v) for n, v in sorted(labels.items()))
            for i in range(n):
                t = T0 + offset_s + i * step_s
                lines.append("%s{%s} %d %d" % (name, ls, i * 10 + k, t))
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------ the oracles

def is_legacy_label_name(name):
    """prometheus/common model.LegacyValidation.IsValidLabelName."""
    if not name:
        return False
    for i, ch in enumerate(name):
        ok = ("a" <= ch <= "z") or ("A" <= ch <= "Z") or ch == "_" or ("0" <= ch <= "9" and i > 0)
        if not ok:
            return False
    return True


def go_quote(s):
    """strconv.Quote; bytes that are not UTF-8 (surrogateescape) as \\xNN."""
    return '"' + "".join("\\x%02x" % (ord(c) - 0xDC00) if 0xDC80 <= ord(c) <= 0xDCFF
                         else h.go_quote(c)[1:-1] for c in s) + '"'


def labels_string_3(labels):
    """Prometheus 3.14 labels.Labels.String() for sorted (name, value) pairs."""
    parts = []
    for name, value in labels:
        n = name if is_legacy_label_name(name) else go_quote(name)
        parts.append("%s=%s" % (n, go_quote(value)))
    return "{" + ", ".join(parts) + "}"


def go_json_labels(labels):
    """Go's json.Marshal(map[string]string) (Go >= 1.22, HTML escaping on)."""
    # Go writes each byte that is not UTF-8 as \ufffd (escaped, unlike a
    # real U+FFFD); a private-use stand-in marks them through json.dumps.
    def fix(s):
        return "".join("\ue000" if 0xDC80 <= ord(c) <= 0xDCFF else c for c in s)
    body = json.dumps({fix(n): fix(v) for n, v in labels}, ensure_ascii=False,
                      separators=(",", ":"), sort_keys=True)
    body = body.replace("\ue000", "\\ufffd")
    # Python sorts keys by code point; with UTF-8 text that is the byte order
    # Go sorts by. Go additionally escapes <, >, & and U+2028/2029.
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        body = body.replace(ch, esc)
    return body


def b(s):
    return s.encode("utf-8", "surrogateescape")


def sort_key(labels):
    return [(b(n), b(v)) for n, v in labels]


def renamed(labels):
    out = [(RENAMES.get(n, n), RENAMES.get(v, v)) for n, v in labels]
    return sorted(out, key=lambda l: b(l[0]))


def expected_series(promtool_dump):
    """promtool dump of the original -> [(new labels, [(ts, value)])] in
    the order our dump prints them."""
    series = []
    for s, samples in h.parse_dump(promtool_dump).items():
        series.append((renamed(sorted(h.parse_labels_str(s))), samples))
    series.sort(key=lambda e: sort_key(e[0]))
    return series


def dump_lines(series):
    return "".join("%s %s %d\n" % (labels_string_3(ls), v, t)
                   for ls, samples in series for t, v in samples)


def hexs(s):
    return b(s).hex()


class Utf8NamesTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not os.path.isfile(RENAME_BIN):
            raise AssertionError("rename_symbols not found at %s (set PROMBLOCK_BUILD)" % RENAME_BIN)
        cls.tmp = h.mkdtemp()
        cls.orig_a = h.cached_blocks_from_om("utf8-a", om_text(0))
        cls.orig_b = h.cached_blocks_from_om("utf8-b", om_text(15))
        cls.block_a = cls.rename(h.block_dirs(cls.orig_a)[0], "a")
        cls.block_b = cls.rename(h.block_dirs(cls.orig_b)[0], "b")
        cls.want_a = expected_series(h.promtool_dump(cls.orig_a))
        cls.want_b = expected_series(h.promtool_dump(cls.orig_b))

    @classmethod
    def rename(cls, block, name):
        out = os.path.join(cls.tmp, name)
        os.makedirs(out)
        args = ["%s=%s" % (hexs(k), hexs(v)) for k, v in RENAMES.items()]
        rc, stdout, err = h.run([RENAME_BIN, block, out] + args)
        if rc != 0:
            raise AssertionError("rename_symbols failed: %s" % err)
        return stdout.strip()

    dump = staticmethod(h.promblock_dump)

    def test_renamed_block_verifies(self):
        rc, out, err = h.run_promblock(["verify", "--deep", self.block_a])
        self.assertEqual(rc, 0, out + err)

    def test_dump_quotes_non_legacy_names(self):
        got = self.dump(self.block_a)
        self.assertEqual(got, dump_lines(self.want_a))
        # Spot checks of the form itself, independent of the oracle.
        self.assertIn('{__name__="my.metric", "a.b"="<&>", "host name"="h3", job="db"} ', got)
        self.assertIn('{__name__="temp\u00e9rature.\u00b0C", "host name"="h1", '
                      '"we\\"ird\\\\"="x", "\u00e9t\u00e9"="summer"} ', got)
        self.assertIn('{"1st"="a", __name__="up", job="api", "\u65e5\u672c.x"="\u5024"} ', got)
        self.assertIn('{__name__="up", instance="i:9090", job="db"} ', got)
        self.assertIn('"k:v"="y"', got)
        self.assertIn('{__name__="zz_bytes", v="a\\xff"} ', got)

    def test_openmetrics_quotes_names_as_prometheus_3(self):
        got = self.dump("--format", "openmetrics", self.block_a)
        lines = got.splitlines()
        self.assertEqual(lines[-1], "# EOF")
        self.assertIn('{"my.metric","a.b"="1","host name"="h1",job="api"} 0 1700000000', lines)
        self.assertIn('{"temp\u00e9rature.\u00b0C","host name"="h2",k:v="y",'
                      '"\u00e9t\u00e9"="winter"} 1 1700000000', lines)
        self.assertIn('up{"1st"="a",job="api","\u65e5\u672c.x"="\u5024"} 0 1700000000', lines)
        self.assertEqual(len(lines), 1 + sum(len(s) for _, s in self.want_a))

    def test_seriesjson(self):
        got = self.dump("--format", "seriesjson", self.block_a)
        want = []
        for ls, _ in self.want_a:
            if go_json_labels(ls) not in want:
                want.append(go_json_labels(ls))
        self.assertEqual(len(want), len(self.want_a) - 1)  # the two zz_bytes series
        want = "".join(j + "\n" for j in want)
        self.assertEqual(got, want)
        self.assertIn('{"__name__":"zz_bytes","v":"a\\ufffd"}\n', got)
        self.assertIn('{"__name__":"my.metric","a.b":"\\u003c\\u0026\\u003e","host name":"h3",'
                      '"job":"db"}\n', got)
        # Two sources with the same series: each series once.
        got2 = self.dump("--format", "seriesjson", self.block_a, self.block_b)
        self.assertEqual(got2, want)

    def test_match_quoted_names(self):
        cases = [
            ('{"my.metric"}', lambda ls: ("__name__", "my.metric") in ls),
            ('{"my.metric", "a.b"=~"1|2"}',
             lambda ls: ("__name__", "my.metric") in ls and dict(ls).get("a.b") in ("1", "2")),
            ('{__name__="up", "\\u65e5\\u672c.x"!=""}',
             lambda ls: ("__name__", "up") in ls and dict(ls).get("\u65e5\u672c.x", "") != ""),
            ("{'host name'='h1'}", lambda ls: ("host name", "h1") in ls),
            ('{"temp\u00e9rature.\u00b0C", "we\\"ird\\\\"="x"}',
             lambda ls: dict(ls).get("we\"ird\\") == "x"),
            ('{`\u00e9t\u00e9`=~"w.*"}', lambda ls: dict(ls).get("\u00e9t\u00e9") == "winter"),
        ]
        for sel, pred in cases:
            with self.subTest(sel=sel):
                want = [e for e in self.want_a if pred(e[0])]
                self.assertTrue(want, sel)
                self.assertEqual(self.dump("--match", sel, self.block_a), dump_lines(want))
        rc, _, err = h.run_promblock(["dump", "--match", '"my.metric"', self.block_a])
        self.assertEqual(rc, 2, err)
        self.assertIn("inside the braces", err)

    def test_merge_replicas(self):
        out = os.path.join(self.tmp, "merged")
        rc, stdout, err = h.run_promblock(["merge", "--out", out, "--dedup", "chain",
                                           self.block_a, self.block_b])
        self.assertEqual(rc, 0, err)
        blocks = h.block_dirs(out)
        self.assertEqual(len(blocks), 1)
        want = {}
        for ls, samples in self.want_a + self.want_b:
            want.setdefault(tuple(ls), {}).update(dict(samples))
        want_series = sorted(((list(ls), sorted(s.items())) for ls, s in want.items()),
                             key=lambda e: sort_key(e[0]))
        self.assertEqual(self.dump(blocks[0]), dump_lines(want_series))
        rc, o, err = h.run_promblock(["verify", "--deep", blocks[0]])
        self.assertEqual(rc, 0, o + err)

    def test_rewrite_delete_and_drop_label(self):
        out = os.path.join(self.tmp, "rewritten")
        rc, stdout, err = h.run_promblock(["rewrite", "--out", out, "--delete",
                                           '{"my.metric", "a.b"="<&>"}', "--drop-label",
                                           "host name", self.block_a])
        self.assertEqual(rc, 0, err)
        blocks = h.block_dirs(out)
        self.assertEqual(len(blocks), 1)
        want = [([l for l in ls if l[0] != "host name"], s) for ls, s in self.want_a
                if not (("__name__", "my.metric") in ls and ("a.b", "<&>") in ls)]
        want.sort(key=lambda e: sort_key(e[0]))
        self.assertEqual(len(want), len(self.want_a) - 1)
        self.assertEqual(self.dump(blocks[0]), dump_lines(want))
        rc, o, err = h.run_promblock(["verify", "--deep", blocks[0]])
        self.assertEqual(rc, 0, o + err)


if __name__ == "__main__":
    h.main()
