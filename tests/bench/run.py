#!/usr/bin/env python3
"""promblock merge vs Prometheus's own compactor, and long-range compactions.

Usage:
  tests/bench/run.py [small|large|day|fortnight|long|all] [--replicas 2|3]
                     [--runs N] [--dedup chain|penalty|both] [--promblock PATH]
                     [--cache DIR] [--no-prometheus] [--json] [--baseline PATH]
  tests/bench/run.py --quick [--promblock PATH]

small: 100 targets x 200 metrics = 20 000 series; large: 1000 x 200 =
200 000 series; 480 samples per series and replica in one 2h block, replica 1
missing 10 minutes (tests/bench/gen_om.py).
day: 20 000 series, 2 replicas x 13 2h blocks (a day and the next day's first
block), `compact --ranges 2h,24h`. fortnight: 2 000 series, 2 x 169 2h blocks
(two weeks and one more), `compact` with Thanos's ranges 2h,8h,2d,14d. Both
every 15 s (tests/bench/gen_long.py), in 2h blocks as a Prometheus with a
Thanos sidecar cuts them. long: day and fortnight; all: every case.

Steps, for small and large:
  1. Build a Release promblock in build-bench/ (make decides what is stale),
     unless --promblock is given.
  2. Generate OpenMetrics per replica and turn it into one block with
     `promtool tsdb create-blocks-from openmetrics`, cached in
     ~/.cache/promblock-bench/<size>-r<R>/ (keyed by the parameters and a
     hash of gen_om.py); the .om text is deleted after conversion.
  3. Floor: read every input block file once with cat (warm cache).
  4. Prometheus: start the real `prometheus` on a copy of the replicas'
     blocks; it vertically compacts them about a minute after start. Its
     `msg="compact blocks" ... duration=` log line gives the time, VmHWM from
     /proc right after gives the memory (the whole server's peak).
  5. promblock merge --dedup chain (and penalty) under /usr/bin/time -v:
     wall time of the whole process and peak RSS. Its runs come in sets
     (for small 5 runs of each mode taking turns, for large 1: --set-runs),
     one set before each Prometheus run and one after the last; a set's
     median stands for it, as one 0.2 s run can catch a spike of the host
     that a Prometheus run of seconds averages out. The host's speed also
     drifts within minutes, so each Prometheus run is set against the mean
     of the sets just before and after it ("paired"; the goals use the
     median of those).
  6. Check: `promblock dump` of Prometheus's block and of the chain output
     must be byte-identical (Prometheus's vertical compaction is the chain
     rule). Exit 1 when they differ.
For day and fortnight: blocks made window by window (promtool, two at a
time), then `promblock compact` under /usr/bin/time -v, 3 runs per mode,
checked: chain keeps every input sample (the replicas never share a
timestamp), penalty fewer, and the top range's block is written. A set of
small's chain merge (5 runs, its median) runs before and after each chain
run of theirs: their time per sample and RSS are set against those sets'
("paired").
Prometheus is not run on them: its compactor has no 24h or 14d range.
Times and memory are medians over the runs (--runs, default 3 for small and
1 for large; promblock's times over its sets' medians, at least 3 sets, it
is cheap). MB are
MiB (2^20 bytes). Results are also stored in <cache>/results.json, which
gives the small->large scaling once both sizes have been measured; with
--no-prometheus the stored Prometheus numbers and compacted block are reused
(quick iterations on promblock); a case's headline ratio (paired) is set
against the stored previous run's when both come from the same binary on
the same day (issue 21 wants two runs within 10 %). --baseline PATH
measures a second promblock binary (say, one built from an older commit)
in the same run, each of its runs right after the measured binary's, so
that an A/B of a change is not skewed by the machine's load drifting
between two runs. Before each case the bench waits, up to 3 minutes, for
the 1-minute load average to fall under 0.5 (--settle LOAD; 0 does not
wait): its own runs leave it above 1.
--quick runs small, day and fortnight at toy size in a temporary cache,
without Prometheus, and checks every output against `promtool tsdb dump` of
the inputs (the union of the replicas' samples): seconds; the test command
runs it so that the bench cannot rot.
"""

import argparse
import concurrent.futures
import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GEN = os.path.join(HERE, "gen_om.py")
GEN_LONG = os.path.join(HERE, "gen_long.py")
BUILD_DIR = os.path.join(REPO, "build-bench")
SIZES = {"small": (100, 200), "large": (1000, 200)}  # targets, metrics per target
SAMPLES = 480
# Long ranges (gen_long.py): few series, many samples, in 2h blocks as a
# Prometheus with a Thanos sidecar cuts them (local compaction off), with
# one more block, of the next period, so that the last full range is
# compacted (the planner leaves the newest block out, as Prometheus's and
# Thanos's do).
LONG_CASES = {
    # 2 x 12 blocks of one day -> one 24h block, plus the next day's first.
    "day": {"targets": 100, "metrics": 200, "window_hours": 2, "windows": 13, "ranges": "2h,24h"},
    # 2 x 168 blocks of two weeks -> 8h, 2d and one 14d block (Thanos's
    # default ranges), plus the next fortnight's first block.
    "fortnight": {"targets": 10, "metrics": 200, "window_hours": 2, "windows": 169,
                  "ranges": "2h,8h,2d,14d"},
}
# The speed and memory goals the tool was built to.
GOAL_TIME_RATIO = 20.0
GOAL_RSS_RATIO = 0.25
GOAL_LONG_RSS_RATIO = 1.5  # long cases' peak RSS over the small case's


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def die(msg):
    log("bench: " + msg)
    sys.exit(1)


def fmt_s(seconds):
    return "%.0fs" % seconds if seconds >= 100 else "%.1fs" % seconds


# ---------------------------------------------------------------- promblock build

def ensure_promblock(path):
    if path:
        if not os.access(path, os.X_OK):
            die("--promblock %s is not an executable" % path)
        return os.path.abspath(path)
    # Configure every time: sources are globbed, so a new file needs it.
    # make then decides what is stale; a no-op build takes a second.
    steps = [["cmake", "-S", REPO, "-B", BUILD_DIR, "-DCMAKE_BUILD_TYPE=Release",
              "-DPROMBLOCK_TESTS=OFF"],
             ["cmake", "--build", BUILD_DIR, "--target", "promblock", "-j2"]]
    log("building promblock (Release) in %s (a full build takes minutes)" % BUILD_DIR)
    for cmd in steps:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            log(p.stdout[-4000:])
            die("build failed: " + " ".join(cmd))
    return os.path.join(BUILD_DIR, "promblock")


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def code_version():
    p = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                       capture_output=True, text=True)
    return p.stdout.strip() or "unknown"


# ---------------------------------------------------------------- input blocks

def block_dirs(source):
    """Block directories (with meta.json) directly inside source."""
    if not os.path.isdir(source):
        return []
    return sorted(os.path.join(source, d) for d in os.listdir(source)
                  if os.path.exists(os.path.join(source, d, "meta.json")))


def meta(block):
    with open(os.path.join(block, "meta.json")) as f:
        return json.load(f)


def cached(case_dir, name, params, sources, blocks):
    """True (and says so) when case_dir holds the blocks that params make:
    its params.json has them and each source dir holds `blocks` blocks."""
    try:
        with open(os.path.join(case_dir, "params.json")) as f:
            stored = json.load(f)
        if stored.get("params") == params and all(len(block_dirs(s)) == blocks for s in sources):
            log("%s: using cached blocks in %s (generated in %s)"
                % (name, case_dir, fmt_s(stored.get("generate_seconds", 0))))
            return True
    except (OSError, ValueError):
        pass
    return False


def mark_cached(case_dir, params, seconds):
    """Writes the params.json that cached() reads; last, so that a generation
    cut short leaves none."""
    with open(os.path.join(case_dir, "params.json"), "w") as f:
        json.dump({"params": params, "generate_seconds": round(seconds, 1)}, f, indent=1)


def om_to_block(om, tmp, flags, what):
    """Turns the OpenMetrics file om into one block in the new dir tmp with
    promtool; returns the block's path. what names the input in errors."""
    p = subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics"] + flags + [om, tmp],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise RuntimeError("promtool failed on %s:\n%s" % (what, p.stdout[-4000:]))
    blocks = block_dirs(tmp)
    if len(blocks) != 1:
        raise RuntimeError("promtool made %d blocks for %s, expected one" % (len(blocks), what))
    return blocks[0]


def ensure_blocks(case_dir, size, replicas):
    """One source dir (holding one block) per replica, generated unless cached."""
    targets, metrics = SIZES[size]
    with open(GEN, "rb") as f:
        gen_hash = hashlib.sha256(f.read()).hexdigest()
    params = {"targets": targets, "metrics": metrics, "samples": SAMPLES,
              "replicas": replicas, "generator_sha256": gen_hash}
    sources = [os.path.join(case_dir, "replica-%d" % r) for r in range(replicas)]
    if cached(case_dir, size, params, sources, 1):
        return sources
    shutil.rmtree(case_dir, ignore_errors=True)
    os.makedirs(case_dir)
    t0 = time.monotonic()
    for r, src in enumerate(sources):
        om = src + ".om"
        log("%s: generating replica %d: %d targets x %d metrics x %d samples"
            % (size, r, targets, metrics, SAMPLES))
        t1 = time.monotonic()
        subprocess.run([sys.executable, GEN, "--targets", str(targets), "--metrics", str(metrics),
                        "--replica", str(r), "--samples", str(SAMPLES), om], check=True)
        t2 = time.monotonic()
        log("%s:   %.1f GB of OpenMetrics in %s; promtool tsdb create-blocks-from openmetrics"
            % (size, os.path.getsize(om) / 1e9, fmt_s(t2 - t1)))
        tmp = src + ".tmp"
        try:
            om_to_block(om, tmp, [], "replica %d" % r)
        except RuntimeError as e:
            die(str(e))
        finally:
            os.remove(om)  # several GB for large
        os.rename(tmp, src)
        log("%s:   block in %s" % (size, fmt_s(time.monotonic() - t2)))
    elapsed = time.monotonic() - t0
    mark_cached(case_dir, params, elapsed)
    log("%s: generated %d replicas in %s" % (size, replicas, fmt_s(elapsed)))
    return sources


def ensure_long_blocks(case_dir, name, replicas):
    """One source dir per replica holding one block per window, generated
    (two windows at a time) unless cached."""
    spec = LONG_CASES[name]
    h = hashlib.sha256()
    for path in (GEN, GEN_LONG):
        with open(path, "rb") as f:
            h.update(f.read())
    params = dict(spec, replicas=replicas, generator_sha256=h.hexdigest())
    sources = [os.path.join(case_dir, "replica-%d" % r) for r in range(replicas)]
    if cached(case_dir, name, params, sources, spec["windows"]):
        try:
            align_to_windows(sources, spec["window_hours"])
            return sources
        except (OSError, ValueError):
            pass  # a cached meta.json that cannot be read or rewritten: generate anew
    shutil.rmtree(case_dir, ignore_errors=True)
    for s in sources:
        os.makedirs(s)
    t0 = time.monotonic()
    log("%s: generating %d replicas x %d blocks of %dh: %d targets x %d metrics, every 15 s"
        % (name, replicas, spec["windows"], spec["window_hours"], spec["targets"], spec["metrics"]))

    def one(task):
        r, w = task
        om = os.path.join(case_dir, "r%d-w%d.om" % (r, w))
        tmp = os.path.join(case_dir, "r%d-w%d.tmp" % (r, w))
        try:
            subprocess.run([sys.executable, GEN_LONG, "--targets", str(spec["targets"]),
                            "--metrics", str(spec["metrics"]), "--replica", str(r),
                            "--window-hours", str(spec["window_hours"]), "--window", str(w),
                            "--windows", str(spec["windows"]), om],
                           check=True)
            block = om_to_block(om, tmp, ["--max-block-duration=%dh" % spec["window_hours"]],
                                "replica %d window %d" % (r, w))
            os.rename(block, os.path.join(sources[r], os.path.basename(block)))
        finally:
            if os.path.exists(om):
                os.remove(om)
            shutil.rmtree(tmp, ignore_errors=True)
        return task

    tasks = [(r, w) for r in range(replicas) for w in range(spec["windows"])]
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for done, (r, w) in enumerate(pool.map(one, tasks), 1):
            log("%s:   replica %d window %d done (%d/%d, %s)"
                % (name, r, w, done, len(tasks), fmt_s(time.monotonic() - t0)))
    align_to_windows(sources, spec["window_hours"])
    elapsed = time.monotonic() - t0
    mark_cached(case_dir, params, elapsed)
    log("%s: generated in %s" % (name, fmt_s(elapsed)))
    return sources


def align_to_windows(sources, window_hours):
    """Widens each block's time range in meta.json to its whole window, as
    blocks cut from Prometheus's head have it ([start, start + 2h)); promtool
    makes it tight around the samples instead. The planner then sees full
    windows as Prometheus's and Thanos's do. Idempotent."""
    window = window_hours * 3600 * 1000
    for s in sources:
        for b in block_dirs(s):
            path = os.path.join(b, "meta.json")
            m = meta(b)
            start = m["minTime"] // window * window
            if (m["minTime"], m["maxTime"]) == (start, start + window):
                continue
            if m["maxTime"] > start + window:
                raise RuntimeError("%s spans more than its %dh window" % (b, window_hours))
            m["minTime"], m["maxTime"] = start, start + window
            with open(path + ".tmp", "w") as f:
                json.dump(m, f, indent="\t")
            os.replace(path + ".tmp", path)


def dir_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


# ---------------------------------------------------------------- measurements

def read_inputs(sources):
    """Reads every input block file once; returns the seconds it took."""
    files = sorted(os.path.join(d, f) for s in sources for d, _, fs in os.walk(s) for f in fs)
    t0 = time.monotonic()
    subprocess.run(["cat"] + files, stdout=subprocess.DEVNULL, check=True)
    return time.monotonic() - t0


def recache_inputs(sources):
    """Drops every input block file from the page cache and reads it back.

    Reading from the page cache runs at the speed of the folios a file was
    cached in, which depends on how it got there: the blocks as promtool
    wrote them read at 4.2 GB/s on the Intel VM (kernel 6.18, ext4), read
    back by read-ahead at 6-7 GB/s, and small's chain merge took 4 ms more.
    Every case starts from the same state so, whatever its blocks' history."""
    for s in sources:
        for d, _, fs in os.walk(s):
            for f in fs:
                fd = os.open(os.path.join(d, f), os.O_RDONLY)
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(fd)
    read_inputs(sources)


def floor_seconds(sources):
    """Seconds to read every input block file once, page cache warm."""
    recache_inputs(sources)  # warms the cache; the second read counts
    return read_inputs(sources)


GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(s):
    parts = GO_DURATION.findall(s)
    if not parts or "".join(n + u for n, u in parts) != s:
        raise ValueError("not a Go duration: %r" % s)
    return sum(float(n) * GO_UNITS[u] for n, u in parts)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError("no %s in /proc/%d/status" % (field, pid))


def run_prometheus(sources, work, timeout):
    """Lets Prometheus compact copies of the sources; returns (seconds, peak
    RSS kB, path of the compacted block inside work)."""
    data = os.path.join(work, "data")
    os.makedirs(data)
    for src in sources:
        for b in block_dirs(src):
            shutil.copytree(b, os.path.join(data, os.path.basename(b)))
    os.sync()  # the copies on disk: Prometheus's own fsyncs do not wait for them
    config = os.path.join(work, "prometheus.yml")
    with open(config, "w") as f:
        f.write("scrape_configs: []\n")  # nothing but the TSDB at work
    logpath = os.path.join(work, "prometheus.log")
    cmd = ["prometheus", "--config.file=" + config, "--storage.tsdb.path=" + data,
           "--storage.tsdb.retention.time=100y",  # the blocks are from 2023
           "--web.listen-address=127.0.0.1:%d" % free_port()]
    line_re = re.compile(r'msg="compact blocks".* ulid=(\S+) .*duration=(\S+)')
    with open(logpath, "w") as logf:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
    try:
        deadline = time.monotonic() + timeout
        found = None
        with open(logpath) as logf:
            buf = ""
            while found is None:
                chunk = logf.read()
                if not chunk:
                    if proc.poll() is not None:
                        raise RuntimeError("prometheus exited (%d) before compacting:\n%s"
                                           % (proc.returncode, tail(logpath)))
                    if time.monotonic() > deadline:
                        raise RuntimeError("no 'compact blocks' log line after %ds:\n%s"
                                           % (timeout, tail(logpath)))
                    time.sleep(0.05)
                    continue
                buf += chunk
                *lines, buf = buf.split("\n")
                for line in lines:
                    m = line_re.search(line)
                    if m:
                        found = m
                        break
        hwm = proc_status_kb(proc.pid, "VmHWM")  # peak so far: the compaction's
        seconds = parse_go_duration(found.group(2))
        block = os.path.join(data, found.group(1))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if not os.path.exists(os.path.join(block, "meta.json")):
        raise RuntimeError("compacted block %s missing" % block)
    return seconds, hwm, block


def tail(path, n=20):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-n:])


_launch_seconds = None


def launch_seconds():
    """What timed() measures of a command that does nothing: starting
    /usr/bin/time from here and /bin/true under it (median of 7, once a
    run). 2-10 ms on this VM, as much as 5 % of small's run."""
    global _launch_seconds
    if _launch_seconds is None:
        runs = []
        for _ in range(7):
            t0 = time.monotonic()
            subprocess.run(["/usr/bin/time", "-v", "/bin/true"], capture_output=True)
            runs.append(time.monotonic() - t0)
        _launch_seconds = statistics.median(runs)
        log("timing: launching a process under /usr/bin/time takes %.1f ms, "
            "taken off each run" % (_launch_seconds * 1000))
    return _launch_seconds


def timed(cmd, env=None):
    """Runs cmd under /usr/bin/time -v (in env, default this process's);
    returns (wall seconds of the whole process, peak RSS kB, its stdout).
    The wall time is taken around /usr/bin/time, whose own figure comes in
    10 ms steps (5 % of a 0.2 s run), less launch_seconds()."""
    launch = launch_seconds()
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, env=env)
    seconds = max(0.0, time.monotonic() - t0 - launch)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s" % (" ".join(cmd), p.returncode, p.stderr[-4000:]))
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    if not rss:
        raise RuntimeError("no /usr/bin/time -v output:\n" + p.stderr[-2000:])
    return seconds, int(rss.group(1)), p.stdout


def case_command(promblock, mode, sources, out, ranges=None, threads=None, summary=True):
    """The promblock command line of a case: merge of the sources into out,
    or with ranges compact to them (--consistency-delay 0s: the blocks are
    all new); summary adds --json. profile.py builds its commands here too,
    so that it profiles what run.py measures."""
    cmd = [promblock]
    if ranges:
        cmd += ["compact", "--ranges", ranges, "--consistency-delay", "0s"]
    else:
        cmd += ["merge"]
    cmd += ["--dedup", mode]
    if summary:
        cmd += ["--json"]
    cmd += ["--out", out]
    if threads:
        cmd += ["--threads", str(threads)]
    return cmd + sources


def run_promblock(promblock, mode, sources, out):
    """promblock merge; returns (seconds, peak RSS kB, its JSON summary)."""
    s, kb, stdout = timed(case_command(promblock, mode, sources, out))
    return s, kb, json.loads(stdout.strip().splitlines()[-1])


def run_compact(promblock, mode, ranges, sources, out):
    """promblock compact from the sources into out; returns (seconds, peak
    RSS kB, its JSON summary)."""
    s, kb, stdout = timed(case_command(promblock, mode, sources, out, ranges=ranges))
    summary = json.loads(stdout.strip().splitlines()[-1])
    if summary["jobs_failed"]:
        raise RuntimeError("compact: %d jobs failed:\n%s" % (summary["jobs_failed"], stdout[-4000:]))
    return s, kb, summary


def live_blocks(out):
    """The blocks in out that are not marked for deletion."""
    return [b for b in block_dirs(out) if not os.path.exists(os.path.join(b, "deletion-mark.json"))]


def compare_dumps(promblock, block_a, block_b):
    """Streams `promblock dump` of both blocks and compares them byte by byte.
    Returns (lines, None) when equal, else (line number, description)."""
    procs = [subprocess.Popen([promblock, "dump", b], stdout=subprocess.PIPE) for b in (block_a, block_b)]
    size = 1 << 20
    lines = 0
    problem = None
    try:
        while True:
            a = procs[0].stdout.read(size)
            b = procs[1].stdout.read(size)
            if a == b:
                if not a:
                    break
                lines += a.count(b"\n")
                continue
            # First difference: finish both lines (they may go on past this read).
            i = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
            start = a.rfind(b"\n", 0, i) + 1
            lines += a.count(b"\n", 0, start)
            la, lb = [restofline(buf[start:], p.stdout) for buf, p in zip((a, b), procs)]
            problem = ("first difference at dump line %d:\n  prometheus: %s\n  promblock:  %s"
                       % (lines + 1, la or "<end of dump>", lb or "<end of dump>"))
            break
    finally:
        for p in procs:
            if problem:
                p.kill()  # stopped reading early; the rest does not matter
            p.stdout.close()
            p.wait()
    if not problem:
        for p, b in zip(procs, (block_a, block_b)):
            if p.returncode != 0:
                raise RuntimeError("promblock dump %s failed (%d)" % (b, p.returncode))
    return lines, problem


def restofline(buf, stream):
    while b"\n" not in buf:
        more = stream.read(4096)
        if not more:
            break
        buf += more
    return buf.split(b"\n", 1)[0].decode(errors="replace")


# ---------------------------------------------------------------- one size

def settle(name, limit, max_wait=180):
    """Waits, up to max_wait seconds, for the 1-minute load average to fall
    under `limit` (0: no wait): the bench's own runs leave it at 1.1-1.6
    before the long cases, and the figures are wanted from a quiet machine.
    The inputs are read again (the floor) after the wait, so the page cache
    is warm whatever the wait let the kernel reclaim. Returns seconds waited."""
    if limit <= 0:
        return 0.0
    t0 = time.monotonic()
    while os.getloadavg()[0] >= limit and time.monotonic() - t0 < max_wait:
        time.sleep(5)
    waited = time.monotonic() - t0
    if waited >= 1:
        log("%s: waited %.0fs for the load average to fall under %.2f: %.2f"
            % (name, waited, limit, os.getloadavg()[0]))
    return waited


def run_facts(promblock, name):
    """When, with what binary and on how loaded a machine a case is measured;
    warns when the load is high enough to skew the numbers."""
    facts = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "repo_version": code_version(), "promblock_sha256": file_sha256(promblock)[:16],
             "cores": os.cpu_count(), "loadavg_before": os.getloadavg()[0]}
    if facts["loadavg_before"] > 0.5:
        log("%s: warning: load average %.2f, other work on the machine skews the numbers"
            % (name, facts["loadavg_before"]))
    return facts


def set_runs_of(args, size):
    """Runs in a set of promblock's beside a reference run: --set-runs, else
    5 for small (0.2 s a run, within which the host's speed swings by a
    quarter) and 1 for the rest (seconds a run); 1 with --quick."""
    if args.quick:
        return 1
    return args.set_runs or (5 if size == "small" else 1)


def mean_around(times, i):
    """The mean of the runs just before and after the i-th measured one.

    The host's speed drifts within minutes, so a run is set against the
    reference runs taken right around it: times[i] before, times[i + 1] after.
    """
    return (times[i] + times[i + 1]) / 2


def measure(args, promblock, size, root, results):
    replicas = args.replicas
    case_dir = os.path.join(root, "%s-r%d" % (size, replicas))
    sources = ensure_blocks(case_dir, size, replicas)
    metas = [meta(block_dirs(s)[0]) for s in sources]
    runs = args.runs or (3 if size == "small" else 1)
    with_prometheus = not args.quick and not args.no_prometheus
    # A set of promblock runs before each Prometheus run and one after the last.
    pb_runs = max(3, runs + 1 if with_prometheus else runs)
    set_runs = set_runs_of(args, size)
    res = {"size": size, "replicas": replicas, "series": metas[0]["stats"]["numSeries"],
           "samples_in": sum(m["stats"]["numSamples"] for m in metas),
           "input_bytes": sum(dir_bytes(s) for s in sources)}
    res["settled_s"] = round(settle(size, 0 if args.quick else args.settle), 1)
    res.update(run_facts(promblock, size))

    res["floor_s"] = floor_seconds(sources)
    log("%s: floor (cat of %.0f MB of blocks, warm cache): %.3fs"
        % (size, res["input_bytes"] / 2**20, res["floor_s"]))

    # Prometheus's compacted block of the first run is kept for the check,
    # so that --no-prometheus can still check.
    prom_block_dir = os.path.join(case_dir, "prometheus-block")
    key = "%s-r%d" % (size, replicas)
    if args.no_prometheus and not args.quick:
        stored = results.get(key, {})
        if "prometheus_s" not in stored or len(block_dirs(prom_block_dir)) != 1:
            die("--no-prometheus: no stored Prometheus result for %s; run once without it" % key)
        for k in ("prometheus_s", "prometheus_rss_kb", "prometheus_runs", "prometheus_date"):
            res[k] = stored[k]
        log("%s: Prometheus: stored result of %s" % (size, res["prometheus_date"]))

    def prometheus_run(i):
        work = tempfile.mkdtemp(prefix="prometheus-", dir=case_dir)
        try:
            s, kb, block = run_prometheus(sources, work, timeout=600 if size == "small" else 3600)
            log("%s: Prometheus run %d/%d: compaction %.2fs, VmHWM %.0f MB"
                % (size, i + 1, runs, s, kb / 1024))
            if i == 0:
                shutil.rmtree(prom_block_dir, ignore_errors=True)
                os.makedirs(prom_block_dir)
                os.rename(block, os.path.join(prom_block_dir, os.path.basename(block)))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        # Prometheus's runs leave the disk writing back their copies and the
        # load raised (small chain ran 10-15 % slower right after them): the
        # same quiet start for promblock as Prometheus had.
        os.sync()
        settle(size, args.settle)
        read_inputs(sources)
        return s, kb

    modes = ["chain", "penalty"] if args.dedup == "both" else [args.dedup]
    times = {m: [] for m in modes}
    rss = {m: [] for m in modes}
    base_times = {m: [] for m in modes}
    base_rss = {m: [] for m in modes}
    summaries = {}
    chain_out = None

    set_times = {m: [] for m in modes}  # every run, by set

    def promblock_set(i):
        """set_runs runs of each mode, taking turns, each with the baseline's
        right after it; a set's median stands for it (one run of 0.2 s can
        catch a spike of the host that a Prometheus run of seconds averages
        out)."""
        nonlocal chain_out
        runs_now = {m: [] for m in modes}
        base_now = {m: [] for m in modes}
        for k in range(set_runs):
            for mode in modes:
                out = tempfile.mkdtemp(prefix="promblock-%s-" % mode, dir=case_dir)
                s, kb, summaries[mode] = run_promblock(promblock, mode, sources, out)
                runs_now[mode].append(s)
                rss[mode].append(kb)
                log("%s: promblock merge --dedup %s set %d/%d run %d/%d: %.3fs, max RSS %.0f MB"
                    % (size, mode, i + 1, pb_runs, k + 1, set_runs, s, kb / 1024))
                if mode == "chain" and chain_out is None:
                    chain_out = out  # kept for the check
                else:
                    shutil.rmtree(out)
                if not args.baseline:
                    continue
                out = tempfile.mkdtemp(prefix="baseline-%s-" % mode, dir=case_dir)
                try:
                    s, kb, base_summary = run_promblock(args.baseline, mode, sources, out)
                finally:
                    shutil.rmtree(out)
                if base_summary["samples_out"] != summaries[mode]["samples_out"]:
                    raise RuntimeError("--baseline wrote %d samples, the measured binary %d"
                                       % (base_summary["samples_out"], summaries[mode]["samples_out"]))
                base_now[mode].append(s)
                base_rss[mode].append(kb)
                log("%s: baseline merge --dedup %s set %d/%d run %d/%d: %.3fs, max RSS %.0f MB"
                    % (size, mode, i + 1, pb_runs, k + 1, set_runs, s, kb / 1024))
        for mode in modes:
            times[mode].append(statistics.median(runs_now[mode]))
            set_times[mode].append([round(x, 4) for x in runs_now[mode]])
            if args.baseline:
                base_times[mode].append(statistics.median(base_now[mode]))

    try:
        # The host's speed drifts by a quarter within minutes, and a
        # Prometheus run takes over a minute: each of its runs stands
        # between two sets of promblock's, and each pair's ratio is taken
        # against the mean of the two around it.
        prom_times, prom_rss = [], []
        promblock_set(0)
        for i in range(runs if with_prometheus else 0):
            s, kb = prometheus_run(i)
            prom_times.append(s)
            prom_rss.append(kb)
            promblock_set(i + 1)
        for i in range(1 + len(prom_times), pb_runs):  # the sets not yet run
            promblock_set(i)
        if with_prometheus:
            res.update(prometheus_s=statistics.median(prom_times),
                       prometheus_rss_kb=statistics.median(prom_rss),
                       prometheus_runs=runs, prometheus_date=res["date"])
            if "chain" in times:
                chain = times["chain"]
                res["paired_ratios"] = [round(p / mean_around(chain, i), 2)
                                        for i, p in enumerate(prom_times)]
                res["paired_ratio"] = statistics.median(res["paired_ratios"])
        if not args.quick:
            prom_block = block_dirs(prom_block_dir)[0]
            res["prometheus_samples_out"] = meta(prom_block)["stats"]["numSamples"]
        for mode in modes:
            res[mode + "_s"] = statistics.median(times[mode])
            res[mode + "_rss_kb"] = statistics.median(rss[mode])
            res[mode + "_samples_out"] = summaries[mode]["samples_out"]
            res[mode + "_runs"] = len(times[mode])
            res[mode + "_set_runs_s"] = set_times[mode]
            if args.baseline:
                res["baseline_" + mode + "_s"] = statistics.median(base_times[mode])
                res["baseline_" + mode + "_rss_kb"] = statistics.median(base_rss[mode])

        if chain_out and args.quick:
            problem = check_union(sources, [block_dirs(chain_out)[0]])
            res["check"] = "equal" if problem is None else "DIFFERENT"
            if problem:
                res["check_detail"] = problem
        elif chain_out:
            log("%s: checking: promblock dump of Prometheus's block vs of the chain output" % size)
            lines, problem = compare_dumps(promblock, prom_block, block_dirs(chain_out)[0])
            res["check"] = "equal" if problem is None else "DIFFERENT"
            if problem:
                res["check_detail"] = problem
                log("%s: MISMATCH: promblock --dedup chain and Prometheus disagree; %s"
                    % (size, problem))
            else:
                log("%s: dumps equal: %d samples" % (size, lines))
        else:
            res["check"] = "skipped (no chain run)"
    finally:
        if chain_out:
            shutil.rmtree(chain_out, ignore_errors=True)

    res["cache_bytes"] = dir_bytes(case_dir)
    return res


# ---------------------------------------------------------------- long ranges

def measure_long(args, promblock, name, root):
    """promblock compact of a long-range case (no Prometheus: its compactor
    cannot be told to compact these blocks to 24h or 14d in one run)."""
    spec = LONG_CASES[name]
    replicas = args.replicas
    case_dir = os.path.join(root, "%s-r%d" % (name, replicas))
    sources = ensure_long_blocks(case_dir, name, replicas)
    metas = [meta(b) for s in sources for b in block_dirs(s)]
    res = {"size": name, "replicas": replicas, "ranges": spec["ranges"],
           "series": max(m["stats"]["numSeries"] for m in metas),
           "samples_in": sum(m["stats"]["numSamples"] for m in metas),
           "blocks_in": len(metas), "input_bytes": sum(dir_bytes(s) for s in sources)}
    res["settled_s"] = round(settle(name, 0 if args.quick else args.settle), 1)
    res.update(run_facts(promblock, name))
    res["floor_s"] = floor_seconds(sources)
    log("%s: floor (cat of %.0f MB in %d blocks, warm cache): %.3fs"
        % (name, res["input_bytes"] / 2**20, len(metas), res["floor_s"]))
    top = range_ms(spec["ranges"].split(",")[-1]) / 1000.0
    problems = []
    modes = ["chain", "penalty"] if args.dedup == "both" else [args.dedup]
    # The goals compare chain's time per sample and RSS with the small
    # case's, and the host's speed drifts within minutes: small's chain
    # merge runs before and after each of chain's runs here.
    small_times, small_rss = [], []
    if "chain" in modes:
        small_sources = ensure_blocks(os.path.join(root, "small-r%d" % replicas), "small", replicas)
        small_samples = sum(meta(block_dirs(s)[0])["stats"]["numSamples"] for s in small_sources)
        recache_inputs(small_sources)

    small_set_runs = set_runs_of(args, "small")

    def small_chain_run():
        """A set of small's runs; its median stands for it (see set_runs_of)."""
        runs_now = []
        for k in range(small_set_runs):
            out = tempfile.mkdtemp(prefix="small-chain-", dir=case_dir)
            try:
                s, kb, _ = run_promblock(promblock, "chain", small_sources, out)
            finally:
                shutil.rmtree(out)
            runs_now.append(s)
            small_rss.append(kb)
            log("%s: small's promblock merge --dedup chain beside it, run %d/%d: %.3fs, "
                "max RSS %.0f MB" % (name, k + 1, small_set_runs, s, kb / 1024))
        small_times.append(statistics.median(runs_now))

    runs = max(3, args.runs or 3)
    for mode in modes:
        times, rss = [], []
        if mode == "chain":
            small_chain_run()
        for i in range(runs):
            out = tempfile.mkdtemp(prefix="promblock-%s-" % mode, dir=case_dir)
            try:
                s, kb, summary = run_compact(promblock, mode, spec["ranges"], sources, out)
                outs = [meta(b) for b in live_blocks(out)]
                if args.quick and mode == "chain" and i == 0:
                    problem = check_union(sources, live_blocks(out))
                    if problem:
                        problems.append(problem)
            finally:
                shutil.rmtree(out)
            times.append(s)
            rss.append(kb)
            log("%s: promblock compact --dedup %s run %d/%d: %.3fs, max RSS %.0f MB, %d jobs"
                % (name, mode, i + 1, runs, s, kb / 1024, summary["jobs_done"]))
            if mode == "chain":
                small_chain_run()
        if mode == "chain":
            per = [(t / res["samples_in"]) / (mean_around(small_times, i) / small_samples)
                   for i, t in enumerate(times)]
            res["per_sample_vs_small_runs"] = [round(x, 2) for x in per]
            res["per_sample_vs_small"] = statistics.median(per)
            res["small_chain_s"] = statistics.median(small_times)
            res["small_chain_rss_kb"] = statistics.median(small_rss)
        samples_out = sum(m["stats"]["numSamples"] for m in outs)
        longest = max((m["maxTime"] - m["minTime"]) / 1000.0 for m in outs)
        res[mode + "_s"] = statistics.median(times)
        res[mode + "_rss_kb"] = statistics.median(rss)
        res[mode + "_samples_out"] = samples_out
        res[mode + "_jobs"] = summary["jobs_done"]
        res[mode + "_blocks_out"] = len(outs)
        # The replicas never share a timestamp (gen_long.py): chain keeps
        # every sample; penalty drops the second replica's where both have one.
        if mode == "chain" and samples_out != res["samples_in"]:
            problems.append("chain wrote %d samples, the inputs hold %d" % (samples_out, res["samples_in"]))
        if mode == "penalty" and not res["samples_in"] / replicas <= samples_out < res["samples_in"]:
            problems.append("penalty wrote %d of %d samples" % (samples_out, res["samples_in"]))
        if longest < top - 2 * 3600:
            problems.append("%s: the longest output block spans %.0fh, not the top range %.0fh"
                            % (mode, longest / 3600, top / 3600))
    res["check"] = "ok" if not problems else "WRONG"
    if problems:
        res["check_detail"] = "; ".join(problems)
        log("%s: WRONG: %s" % (name, res["check_detail"]))
    res["cache_bytes"] = dir_bytes(case_dir)
    return res


def promtool_samples(blocks):
    """{(series, t): value} of the blocks, from `promtool tsdb dump`."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="dump-") as d:
        # promtool 2.42 dumps a data dir and wants a WAL directory in it:
        # links to just these blocks (not the ones marked for deletion
        # beside them), with an empty WAL.
        os.mkdir(os.path.join(d, "wal"))
        for b in blocks:
            os.symlink(os.path.abspath(b), os.path.join(d, os.path.basename(b)))
        p = subprocess.run(["promtool", "tsdb", "dump", d], capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("promtool tsdb dump failed:\n" + p.stderr[-2000:])
        for line in p.stdout.splitlines():
            series, value, t = line.rsplit(" ", 2)
            out[(series, t)] = value
    return out


def check_union(sources, outputs):
    """--quick's check, with Prometheus's own reader and none of ours: the
    output blocks hold exactly the union of the sources' samples (chain
    dedup of replicas that never share a timestamp). None when they do."""
    want = {}
    for s in sources:
        for k, v in promtool_samples(block_dirs(s)).items():
            want.setdefault(k, v)
    got = promtool_samples(outputs)
    if got == want:
        return None
    missing = sorted(set(want) - set(got))[:3]
    extra = sorted(set(got) - set(want))[:3]
    changed = sorted(k for k in set(want) & set(got) if want[k] != got[k])[:3]
    return ("outputs differ from the union of the inputs (promtool tsdb dump): %d samples in, "
            "%d out; missing %s, extra %s, changed %s" % (len(want), len(got), missing, extra, changed))


def range_ms(text):
    """'2h', '14d' -> milliseconds."""
    units = {"m": 60e3, "h": 3600e3, "d": 86400e3}
    return int(float(text[:-1]) * units[text[-1]])


# ---------------------------------------------------------------- report

def mb(kb):
    return kb / 1024.0


def table(rows):
    cols = [("size", "%s"), ("R", "%d"), ("series", "%d"), ("samples in", "%s"),
            ("Prometheus s / MB", "%s"), ("chain s / MB", "%s"), ("penalty s / MB", "%s"),
            ("P time / chain", "%s"), ("paired", "%s"), ("chain RSS / P", "%s"), ("floor s", "%s"),
            ("chain / floor", "%s"), ("check", "%s")]
    body = []
    for r in rows:
        def pair(mode):
            if mode + "_s" not in r:
                return "-"
            stored = mode == "prometheus" and r.get("prometheus_date") != r["date"]
            # promblock's runs to the millisecond: 10 ms is 5 % of small's.
            digits = 2 if mode == "prometheus" else 3
            return "%.*f / %.0f%s" % (digits, r[mode + "_s"], mb(r[mode + "_rss_kb"]),
                                      " *" if stored else "")
        has_chain = "chain_s" in r
        has_both = has_chain and "prometheus_s" in r
        body.append([
            r["size"], r["replicas"], r["series"], "%.1fM" % (r["samples_in"] / 1e6),
            pair("prometheus"), pair("chain"), pair("penalty"),
            "%.1f" % (r["prometheus_s"] / r["chain_s"]) if has_both else "-",
            "%.1f" % r["paired_ratio"] if "paired_ratio" in r else "-",
            "%.2f" % (r["chain_rss_kb"] / r["prometheus_rss_kb"]) if has_both else "-",
            "%.3f" % r["floor_s"],
            "%.1f" % (r["chain_s"] / r["floor_s"]) if has_chain else "-",
            r["check"]])
    cells = [[f % v for (_, f), v in zip(cols, row)] for row in body]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (h, _) in enumerate(cols)]
    out = ["  ".join(h.ljust(w) for (h, _), w in zip(cols, widths))]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    for r in rows:
        for mode in ("chain", "penalty"):
            if "baseline_%s_s" % mode in r:
                out.append("%s %s: baseline %.2f s / %.0f MB, measured / baseline time %.2f, RSS %.2f"
                           % (r["size"], mode, r["baseline_%s_s" % mode], mb(r["baseline_%s_rss_kb" % mode]),
                              r[mode + "_s"] / r["baseline_%s_s" % mode],
                              r[mode + "_rss_kb"] / r["baseline_%s_rss_kb" % mode]))
    if any(r.get("prometheus_date", r["date"]) != r["date"] for r in rows):
        out.append("* stored Prometheus result (--no-prometheus), see results.json for its date")
    return "\n".join(line.rstrip() for line in out)


def goals(r):
    """The goals on the paired ratio where there is one: each Prometheus
    run against the promblock runs just before and after it."""
    if "chain_s" not in r or "prometheus_s" not in r:
        return ""
    t = r.get("paired_ratio", r["prometheus_s"] / r["chain_s"])
    m = r["chain_rss_kb"] / r["prometheus_rss_kb"]
    text = ("%s goals: time ratio%s %.1f >= %g: %s; RSS ratio %.2f <= %g: %s"
            % (r["size"], " (paired)" if "paired_ratio" in r else "", t, GOAL_TIME_RATIO,
               "yes" if t >= GOAL_TIME_RATIO else "NO",
               m, GOAL_RSS_RATIO, "yes" if m <= GOAL_RSS_RATIO else "NO"))
    if "penalty_s" in r:
        text += "; penalty no slower than chain: %s" % ("yes" if r["penalty_s"] <= r["chain_s"] else "NO")
    return text


def long_table(rows):
    cols = ["case", "R", "series", "blocks in", "samples in", "ranges", "chain s / MB",
            "penalty s / MB", "chain ns / sample", "per sample / small's", "jobs", "floor s", "check"]
    cells = []
    for r in rows:
        def pair(mode):
            return "-" if mode + "_s" not in r else "%.3f / %.0f" % (r[mode + "_s"], mb(r[mode + "_rss_kb"]))
        cells.append([r["size"], str(r["replicas"]), str(r["series"]), str(r["blocks_in"]),
                      "%.1fM" % (r["samples_in"] / 1e6), r["ranges"], pair("chain"), pair("penalty"),
                      "%.1f" % (r["chain_s"] / r["samples_in"] * 1e9) if "chain_s" in r else "-",
                      "%.2f" % r["per_sample_vs_small"] if "per_sample_vs_small" in r else "-",
                      str(r.get("chain_jobs", r.get("penalty_jobs", "-"))), "%.3f" % r["floor_s"],
                      r["check"]])
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(cols)]
    out = ["  ".join(h.ljust(w) for h, w in zip(cols, widths))]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join(line.rstrip() for line in out)


def long_goals(r, small):
    """Memory flat in samples and time per sample no worse than the small
    case's (issue 21): against small's runs beside this case's where there
    are some, else against the small case's latest stored result."""
    if "small_chain_s" in r:
        m = r["chain_rss_kb"] / r["small_chain_rss_kb"]
        per = r["per_sample_vs_small"]
        against = " (paired)"
    elif "chain_s" in r and small and "chain_s" in small:
        m = r["chain_rss_kb"] / small["chain_rss_kb"]
        per = (r["chain_s"] / r["samples_in"]) / (small["chain_s"] / small["samples_in"])
        against = ""
        if small.get("promblock_sha256") != r.get("promblock_sha256"):
            against = " (small measured by a DIFFERENT binary: rerun with `all`)"
    else:
        return ""
    text = ("%s goals%s: RSS / small's %.2f <= %g: %s; time per sample / small's %.2f <= 1: %s"
            % (r["size"], against, m, GOAL_LONG_RSS_RATIO, "yes" if m <= GOAL_LONG_RSS_RATIO else "NO",
               per, "yes" if per <= 1 else "NO"))
    if "penalty_s" in r:
        text += "; penalty no slower than chain: %s" % ("yes" if r["penalty_s"] <= r["chain_s"] else "NO")
    return text


def headline_ratio(r):
    """The ratio a case's goal is about: Prometheus's time over chain's
    (paired where measured so), or a long case's time per sample over
    small's."""
    if "paired_ratio" in r:
        return r["paired_ratio"]
    if "per_sample_vs_small" in r:
        return r["per_sample_vs_small"]
    if "prometheus_s" in r and "chain_s" in r and r.get("prometheus_date") == r.get("date"):
        return r["prometheus_s"] / r["chain_s"]
    return None


def agrees_with(prev, r):
    """How far this run's headline ratio is from the previous run's of the
    same case, binary and day (issue 21 wants two runs within 10 %)."""
    if not prev or prev.get("promblock_sha256") != r.get("promblock_sha256"):
        return None
    if prev.get("date", "")[:10] != r.get("date", "")[:10]:
        return None
    a, b = headline_ratio(prev), headline_ratio(r)
    if a is None or b is None:
        return None
    diff = abs(b - a) / max(a, b)
    return "%.2f against %.2f in the run of %s: %.1f %% apart, %s" % (
        b, a, prev["date"], 100 * diff, "within 10 %" if diff <= 0.10 else "NOT within 10 %")


def scaling(small, large):
    """small->large growth, from results that may come from different runs."""
    x = large["series"] / small["series"]
    parts = ["small->large (series x%.1f):" % x]
    for mode, name in (("chain", "promblock chain"), ("penalty", "penalty"), ("prometheus", "Prometheus")):
        if mode + "_s" in small and mode + "_s" in large:
            parts.append("%s time x%.1f, RSS x%.1f;" % (
                name, large[mode + "_s"] / small[mode + "_s"],
                large[mode + "_rss_kb"] / small[mode + "_rss_kb"]))
    parts.append("(small measured %s, large %s%s)" % (
        small["date"], large["date"],
        "" if small.get("promblock_sha256") == large.get("promblock_sha256")
        else "; DIFFERENT promblock binaries, rerun with `all`"))
    return " ".join(parts)


QUICK_SIZES = {"small": (2, 20)}
QUICK_LONG_CASES = {
    "day": {"targets": 2, "metrics": 20, "window_hours": 2, "windows": 3, "ranges": "2h,4h"},
    "fortnight": {"targets": 1, "metrics": 20, "window_hours": 2, "windows": 5,
                  "ranges": "2h,4h,8h"},
}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    ap.add_argument("size", nargs="?", choices=["small", "large", "day", "fortnight", "long", "all"],
                    help="small: 20 000 series (default), large: 200 000; day, fortnight: long "
                    "ranges; long: both of those; all: every case")
    ap.add_argument("--replicas", type=int, default=2, choices=[2, 3], help="default 2")
    ap.add_argument("--runs", type=int, help="runs per tool (default 3 small, 1 large; promblock >= 3)")
    ap.add_argument("--dedup", default="both", choices=["chain", "penalty", "both"],
                    help="promblock modes to measure (default both; chain is the one checked)")
    ap.add_argument("--promblock", help="binary to measure (default: build build-bench/promblock)")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/promblock-bench"),
                    help="blocks and results (default ~/.cache/promblock-bench)")
    ap.add_argument("--no-prometheus", action="store_true",
                    help="reuse the stored Prometheus result and block instead of running it")
    ap.add_argument("--set-runs", type=int, metavar="N",
                    help="promblock runs per set beside each reference run, whose median stands "
                         "for the set (default 5 for small and for small's runs beside the long "
                         "cases, 1 for the rest)")
    ap.add_argument("--baseline", help="a second promblock binary, measured in the same run, interleaved")
    ap.add_argument("--settle", type=float, default=0.5, metavar="LOAD",
                    help="before each case, wait up to 3 minutes for the 1-minute load average to "
                    "fall under LOAD (default 0.5; 0: no wait; --quick never waits)")
    ap.add_argument("--json", action="store_true", help="print one JSON object per size instead of the table")
    ap.add_argument("--quick", action="store_true",
                    help="every case at toy size in a temporary cache, without Prometheus, checked "
                    "against promtool's dumps of the inputs: seconds, for the test command")
    args = ap.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        ap.error("--runs must be >= 1")
    if args.set_runs is not None and args.set_runs < 1:
        ap.error("--set-runs must be >= 1")
    size = args.size or ("all" if args.quick else "small")
    for tool in ("promtool", "prometheus", "/usr/bin/time"):
        if not shutil.which(tool):
            die("%s not found (Debian packages: prometheus, time)" % tool)

    promblock = ensure_promblock(args.promblock)
    if args.baseline and not os.access(args.baseline, os.X_OK):
        die("--baseline %s is not an executable" % args.baseline)
    quick_dir = None
    if args.quick:
        SIZES.update(QUICK_SIZES)
        LONG_CASES.update(QUICK_LONG_CASES)
        quick_dir = tempfile.mkdtemp(prefix="promblock-bench-quick-")
        args.cache = quick_dir
    os.makedirs(args.cache, exist_ok=True)
    results_path = os.path.join(args.cache, "results.json")
    try:
        with open(results_path) as f:
            results = json.load(f)
    except (OSError, ValueError):
        results = {}

    cases = {"all": ["small", "large", "day", "fortnight"], "long": ["day", "fortnight"]}.get(size, [size])
    if args.quick:
        cases = [c for c in cases if c != "large"]  # the same code path as small
    t0 = time.monotonic()
    rows = []
    try:
        for case in cases:
            try:
                if case in LONG_CASES:
                    res = measure_long(args, promblock, case, args.cache)
                else:
                    res = measure(args, promblock, case, args.cache, results)
            except (RuntimeError, subprocess.CalledProcessError) as e:
                die("%s: %s" % (case, e))
            key = "%s-r%d" % (case, args.replicas)
            agreement = agrees_with(results.get(key), res)
            if agreement:
                res["agreement"] = agreement
            rows.append(res)
            results[key] = res
            with open(results_path + ".tmp", "w") as f:
                json.dump(results, f, indent=1, sort_keys=True)
            os.replace(results_path + ".tmp", results_path)
        log("bench: done in %s; cache %s holds %.0f MB" % (
            fmt_s(time.monotonic() - t0), args.cache, dir_bytes(args.cache) / 2**20))
    finally:
        if quick_dir:
            shutil.rmtree(quick_dir, ignore_errors=True)

    small = results.get("small-r%d" % args.replicas)
    large = results.get("large-r%d" % args.replicas)
    short_rows = [r for r in rows if r["size"] not in LONG_CASES]
    long_rows = [r for r in rows if r["size"] in LONG_CASES]
    if args.json:
        for r in rows:
            print(json.dumps(r, sort_keys=True))
    else:
        if short_rows:
            print(table(short_rows))
            for r in short_rows:
                if goals(r):
                    print(goals(r))
            if small and large and not args.quick:
                print(scaling(small, large))
        if long_rows:
            print(long_table(long_rows))
            for r in long_rows:
                if long_goals(r, small):
                    print(long_goals(r, small))
        for r in rows:
            if "agreement" in r:
                print("%s: %s" % (r["size"], r["agreement"]))
        for r in rows:
            if r["check"] not in ("equal", "ok"):
                print("%s: CHECK FAILED: %s" % (r["size"], r.get("check_detail", r["check"])))
    return 1 if any(r["check"] not in ("equal", "ok") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
