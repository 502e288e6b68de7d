#!/usr/bin/env python3
"""promblock compact on an S3 bucket vs the same compaction on directories.

Usage:
  tests/bench/bucket.py [small|large|all] [--runs N] [--promblock PATH]
                        [--cache DIR] [--json] [--part-size BYTES]

The input is run.py's case (the two replicas' blocks, generated and cached
the same way). Directory run: `compact --out DIR A B` on the replicas' source
directories. Bucket run: the same blocks uploaded (sidecar order, meta.json
last) to bucket:in-a/ and bucket:in-b/ of an s3rver on 127.0.0.1, then
`compact --out bucket:out-N bucket:in-a bucket:in-b`: every byte read is
downloaded and every byte written uploaded. Both under /usr/bin/time -v:
wall time and peak RSS, medians over the runs; the outputs' series, samples
and chunks must be equal. The server is Node (s3rver) on the same two cores:
its own time is in the bucket figure. The transfer floor is what moving the
same bytes costs with curl alone, 4 requests at a time as promblock makes
them: GET of every input object, PUT of every file of the directory run's
output; "overhead" is the bucket time beyond directory time + that floor.
"""

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
sys.dont_write_bytecode = True
import run  # noqa: E402
from s3_server import ACCESS_KEY, BUCKET, SECRET_KEY, S3Client, S3rver, config_yaml, \
    tool_env  # noqa: E402

COMPACT = ["compact", "--consistency-delay", "0s", "--json"]


def timed(cmd):
    """(seconds, peak RSS kB, stdout) of cmd under /usr/bin/time -v, without
    proxies or AWS settings in its environment."""
    return run.timed(cmd, env=tool_env())


def out_stats(promblock, args):
    """Sum of series, samples and chunks of the output blocks, from `ls --json`."""
    p = subprocess.run([promblock, "ls", "--json"] + args, capture_output=True, text=True,
                       env=tool_env())
    if p.returncode != 0:
        raise RuntimeError("ls failed: " + p.stderr[-2000:])
    rows = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    return tuple(sum(r[k] for r in rows) for k in ("num_series", "num_samples", "num_chunks")), len(rows)


def transfer_floor(port, get_keys, put_files):
    """Seconds to GET `get_keys` (to /dev/null) then PUT `put_files`
    ({key: path}) with curl, 4 requests at a time."""
    base = ["curl", "-sf", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user",
            "%s:%s" % (ACCESS_KEY, SECRET_KEY), "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]
    url = "http://127.0.0.1:%d/%s/" % (port, BUCKET)
    cmds = ([base + ["-o", "/dev/null", url + k] for k in get_keys] +
            [base + ["-T", path, url + k] for k, path in put_files.items()])
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for rc in pool.map(lambda c: subprocess.run(c, env=tool_env()).returncode, cmds):
            if rc != 0:
                raise RuntimeError("curl failed (%d)" % rc)
    return time.monotonic() - start


def files_under(root, prefix):
    return {prefix + os.path.relpath(os.path.join(d, f), root): os.path.join(d, f)
            for d, _, fs in os.walk(root) for f in fs}


def measure(args, promblock, size, work):
    sources = run.ensure_blocks(os.path.join(args.cache, "%s-r2" % size), size, 2)
    runs = args.runs or (3 if size == "small" else 1)
    res = {"size": size, "input_bytes": sum(run.dir_bytes(s) for s in sources),
           "loadavg_before": os.getloadavg()[0]}
    dir_runs, bucket_runs, floor_runs = [], [], []
    with S3rver() as server:
        s3 = S3Client(server.port)
        cfg = os.path.join(work, "bucket.yml")
        with open(cfg, "w") as f:
            f.write(config_yaml(server.port) +
                    ("  part_size: %d\n" % args.part_size if args.part_size else ""))
        for name, src in zip(("in-a", "in-b"), sources):
            for b in run.block_dirs(src):
                s3.upload_tree(b, "%s/%s/" % (name, os.path.basename(b)))
        for i in range(runs):
            out = os.path.join(work, "out-%d" % i)
            dir_runs.append(timed([promblock] + COMPACT + ["--out", out] + sources))
            dir_stats = out_stats(promblock, [out])
            bucket_runs.append(timed([promblock, "--objstore.config-file", cfg] + COMPACT +
                                     ["--out", "bucket:out-%d" % i, "bucket:in-a", "bucket:in-b"]))
            bucket_stats = out_stats(promblock, ["--objstore.config-file", cfg, "bucket:out-%d" % i])
            if dir_stats != bucket_stats:
                raise RuntimeError("outputs differ: directory %s, bucket %s"
                                   % (dir_stats, bucket_stats))
            floor_runs.append(transfer_floor(
                server.port, [k for k in s3.list("in-") if not k.endswith("meta.json")],
                files_under(out, "floor-%d/" % i)))
            run.log("%s run %d: directory %.2fs %d MB, bucket %.2fs %d MB, transfer floor %.2fs"
                    % (size, i + 1, dir_runs[-1][0], dir_runs[-1][1] >> 10, bucket_runs[-1][0],
                       bucket_runs[-1][1] >> 10, floor_runs[-1]))
    res["dir_s"] = statistics.median(r[0] for r in dir_runs)
    res["dir_rss_mb"] = statistics.median(r[1] for r in dir_runs) / 1024
    res["bucket_s"] = statistics.median(r[0] for r in bucket_runs)
    res["bucket_rss_mb"] = statistics.median(r[1] for r in bucket_runs) / 1024
    res["floor_s"] = statistics.median(floor_runs)
    res["time_ratio"] = res["bucket_s"] / res["dir_s"]
    res["overhead_s"] = res["bucket_s"] - res["dir_s"] - res["floor_s"]
    res["rss_delta_mb"] = res["bucket_rss_mb"] - res["dir_rss_mb"]
    return res


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("size", nargs="?", default="small", choices=["small", "large", "all"])
    ap.add_argument("--runs", type=int, help="runs per mode (default 3 small, 1 large)")
    ap.add_argument("--promblock", help="binary to measure (default: build build-bench/promblock)")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/promblock-bench"),
                    help="where run.py's cases are cached")
    ap.add_argument("--json", action="store_true", help="one JSON object per size")
    ap.add_argument("--part-size", type=int,
                    help="the bucket config's part_size in bytes (default Thanos's 64 MiB); "
                         "files up to it go in one PUT")
    args = ap.parse_args(argv)
    promblock = run.ensure_promblock(args.promblock)
    sizes = ["small", "large"] if args.size == "all" else [args.size]
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="promblock-bench-bucket-") as work:
            r = measure(args, promblock, size, work)
        if args.json:
            print(json.dumps(r))
        else:
            print("%s (%.0f MB in): directory %.2fs %.0f MB | bucket %.2fs %.0f MB | "
                  "time x%.2f, RSS %+.0f MB | transfer floor %.2fs, overhead %+.2fs" % (
                      size, r["input_bytes"] / 2**20, r["dir_s"], r["dir_rss_mb"], r["bucket_s"],
                      r["bucket_rss_mb"], r["time_ratio"], r["rss_delta_mb"], r["floor_s"],
                      r["overhead_s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
