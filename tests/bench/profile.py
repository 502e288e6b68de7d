#!/usr/bin/env python3
"""Where promblock's time goes, per benchmark case: a CPU profile by stage.

Usage:
  tests/bench/profile.py [small|large|day|fortnight ...] [--dedup chain|penalty]
                         [--threads N] [--promblock PATH] [--cache DIR] [--json]

Runs the case's promblock command (run.py's: merge for small and large,
compact for the long ranges) on run.py's cached blocks under `perf record`
(Debian's linux-perf), then sorts the CPU samples of every thread by the
function they landed in (self time) into stages:
  decode   XOR and histogram decoding of overlapping chunks (in lanes too)
  merge    dedup (chain, penalty), the whole-chunk test, per-series bookkeeping
  encode   re-encoding merged samples into chunks (in lanes too)
  index    reading input indexes, label merging, writing the output index
  io       reading and writing chunk segments: CRCs, the kernel (page faults,
           read/write, madvise, fsync), buffer copies
  other    allocation, start-up, planning, everything else
Shares are of all CPU samples; "cpu/wall" is CPU time over wall time (2.0
means both cores busy the whole run). Run the case with run.py first: it
makes the blocks.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  (the cases, their cache and the build)

STAGES = ("decode", "merge", "encode", "index", "io", "other")
# First match wins; patterns are searched in the demangled symbol.
RULES = [
    ("decode", r"SeriesMerger::decode|xor_decode|XorIterator|Xor2Iterator|HistogramIterator|"
               r"read_uvarint|xor_chunk_error|XorLaneDecoder|decode_groups|LaneScheduler"),
    ("encode", r"Rechunker::(encode|emit|reserve|write_float|stored_float)|xor_encode|XorEncoder|"
               r"Xor2Encoder|XorLaneEncoder|encode_lanes|encode_step|append_bits|"
               r"encode_histogram|HistogramEncoder|plan_histogram_chunks"),
    ("merge", r"chain_merge|penalty_|merge_chain|merge_penalty|SeriesMerger|Rechunker|"
              r"is_whole_chunk|decode_runs|dedup"),
    ("io", r"crc32c|ChunkReader|SegmentWriter|ChunkWriter|FileWriter|MappedFile|"
           r"Decbuf::be32|release_before|__madvise|__libc_pwrite|__libc_write|fsync|"
           r"__memmove|__memcpy"),
    ("index", r"index::|Index(Reader|Writer)|Postings|postings|symbol|LabelMerge|SeriesStream|"
              r"BatchProducer|Labels|labels|decode_series_body|Decbuf"),
]
KERNEL_STAGE = "io"  # page faults, read/write, madvise, writeback


def classify(symbol, kernel):
    for stage, pattern in RULES:
        if re.search(pattern, symbol):
            return stage
    return KERNEL_STAGE if kernel else "other"


def command(case, mode, threads, promblock, sources, out):
    """run.py's command line of the case; without --json: the profile does
    not read promblock's summary."""
    ranges = run.LONG_CASES[case]["ranges"] if case in run.LONG_CASES else None
    return run.case_command(promblock, mode, sources, out, ranges=ranges, threads=threads,
                            summary=False)


def profile(case, args, promblock):
    case_dir = os.path.join(args.cache, "%s-r2" % case)
    sources = [os.path.join(case_dir, "replica-%d" % r) for r in range(2)]
    if not all(run.block_dirs(s) for s in sources):
        run.die("%s: no cached blocks in %s; run tests/bench/run.py %s first" % (case, case_dir, case))
    with tempfile.TemporaryDirectory(prefix="profile-", dir=case_dir) as work:
        out = os.path.join(work, "out")
        os.mkdir(out)
        data = os.path.join(work, "perf.data")
        cmd = command(case, args.dedup, args.threads, promblock, sources, out)
        # /usr/bin/time inside perf: the wall time of promblock alone.
        p = subprocess.run(["perf", "record", "-q", "-F", str(args.frequency), "-o", data, "--",
                            "/usr/bin/time", "-f", "wall %e"] + cmd,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            run.die("%s: %s failed:\n%s" % (case, " ".join(cmd), p.stderr[-2000:]))
        wall = float(re.findall(r"^wall ([\d.]+)$", p.stderr, re.M)[-1])
        # The process's name is the binary's file name (15 characters at
        # most): a --promblock of another name must not leave no samples.
        comm = os.path.basename(promblock)[:15]
        rep = subprocess.run(["perf", "report", "-i", data, "--comm", comm, "--no-children",
                              "--sort", "dso,sym",
                              "--stdio", "-q", "-F", "overhead,sample,dso,sym"],
                             capture_output=True, text=True)
    shares = dict.fromkeys(STAGES, 0.0)
    samples = 0
    top = []
    for line in rep.stdout.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\d+)\s+(\S+)\s+\[([.k])\]\s+(.*)", line)
        if not m:
            continue
        pct, n, _, kind, sym = float(m.group(1)), int(m.group(2)), m.group(3), m.group(4), m.group(5)
        shares[classify(sym, kind == "k")] += pct
        samples += n
        top.append((pct, sym.strip()[:90]))
    cpu = samples / args.frequency
    # Percentages of promblock's samples alone (perf's are of all, `time` included).
    total = sum(shares.values()) or 1.0
    shares = {k: v * 100.0 / total for k, v in shares.items()}
    top = sorted(((pct * 100.0 / total, sym) for pct, sym in top), reverse=True)[:12]
    return {"case": case, "dedup": args.dedup, "threads": args.threads or "default",
            "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "shares": {k: round(v, 1) for k, v in shares.items()}, "top": top,
            "command": " ".join(["perf", "record", "-F", str(args.frequency), "--"] + cmd[:1] +
                                [c for c in cmd[1:] if not c.startswith("/")])}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    ap.add_argument("cases", nargs="*", default=["small"],
                    choices=["small", "large", "day", "fortnight"], help="default small")
    ap.add_argument("--dedup", default="chain", choices=["chain", "penalty"])
    ap.add_argument("--threads", type=int, help="promblock --threads (default: its default)")
    ap.add_argument("--frequency", type=int, default=4000, help="perf samples per second (4000)")
    ap.add_argument("--promblock", help="binary (default: build build-bench/promblock)")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/promblock-bench"))
    ap.add_argument("--json", action="store_true", help="one JSON object per case")
    ap.add_argument("--top", action="store_true", help="also list the top functions")
    args = ap.parse_args(argv)
    promblock = run.ensure_promblock(args.promblock)
    rows = [profile(c, args, promblock) for c in args.cases]
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return 0
    head = ["case", "threads", "wall s", "cpu/wall"] + list(STAGES)
    print("  ".join(head))
    for r in rows:
        cells = [r["case"], str(r["threads"]), "%.2f" % r["wall_s"], "%.2f" % (r["cpu_s"] / r["wall_s"])]
        cells += ["%.0f%%" % r["shares"][s] for s in STAGES]
        print("  ".join(c.ljust(len(h)) for c, h in zip(cells, head)))
        if args.top:
            for pct, sym in r["top"]:
                print("    %5.1f%%  %s" % (pct, sym))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
