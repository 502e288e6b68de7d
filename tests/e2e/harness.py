"""Shared helpers for promblock's end-to-end tests (python3 stdlib only).

Environment (set by CTest; the defaults fit a checkout built into ./build):
  PROMBLOCK_BIN       the promblock binary      (default <repo>/build/promblock)
  PROMBLOCK_BUILD     the build directory       (default <repo>/build); holds
                      tests/roundtrip_block and the cache of generated data
                      (<build>/e2e-cache) -- only when the variable is set
  PROMBLOCK_TESTDATA  the testdata directory    (default <repo>/testdata)
  PROMBLOCK_KEEP_TMP  if set, temporary dirs of Prometheus servers are kept

Oracles: promtool and prometheus (2.42) from PATH, and a small independent
reader of the block format (read_block) that gives exact sample bits, which
promtool dump cannot (it prints stale markers and other NaNs alike as "NaN").

Nothing here talks to any address but 127.0.0.1 (proxies are bypassed).
"""

import atexit
import ctypes
import decimal
import hashlib
import json
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))


def _env_path(var, default):
    v = os.environ.get(var)
    return os.path.abspath(v) if v else default


BIN = _env_path("PROMBLOCK_BIN", os.path.join(REPO, "build", "promblock"))
BUILD = _env_path("PROMBLOCK_BUILD", os.path.join(REPO, "build"))
BUILD_IS_SET = bool(os.environ.get("PROMBLOCK_BUILD"))
TESTDATA = _env_path("PROMBLOCK_TESTDATA", os.path.join(REPO, "testdata"))
ROUNDTRIP_BIN = os.path.join(BUILD, "tests", "roundtrip_block")
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"

STALE_NAN_BITS = 0x7FF0000000000002   # Prometheus value.StaleNaN
NORMAL_NAN_BITS = 0x7FF8000000000001  # Prometheus value.NormalNaN (math.NaN())
BLOCK_RANGE_MS = 2 * 3600 * 1000

_CROCKFORD = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

# Everything a test could not clean up itself (servers, temp dirs) is cleaned at exit.
_LIVE_PROCS = []
_TMP_DIRS = []


@atexit.register
def _cleanup_at_exit():
    for p in list(_LIVE_PROCS):
        _kill_proc(p)
    for d in list(_TMP_DIRS):
        shutil.rmtree(d, ignore_errors=True)


def _kill_proc(proc, grace=10.0):
    if proc.poll() is None:
        try:
            proc.terminate()
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                proc.kill()
            proc.wait()
    if proc in _LIVE_PROCS:
        _LIVE_PROCS.remove(proc)


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when the test process dies (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def mkdtemp(prefix="promblock-e2e-"):
    """A temp dir removed at interpreter exit (tests may remove it earlier)."""
    d = tempfile.mkdtemp(prefix=prefix)
    _TMP_DIRS.append(d)
    return d


# ---------------------------------------------------------------- processes

def _decode(b):
    # surrogateescape keeps the text reversible: str equality == byte equality.
    return b.decode("utf-8", "surrogateescape")


def fail_io_env(**settings):
    """The environment that loads the fault-injecting shim (tests/tools/fail_io.c,
    PROMBLOCK_FAIL_IO) with `settings` (its PROMBLOCK_FAIL_* variables)."""
    env = dict(os.environ, LD_PRELOAD=os.environ.get("PROMBLOCK_FAIL_IO", ""))
    env.update({k: str(v) for k, v in settings.items()})
    # The shim is loaded ahead of the sanitizer runtime of a sanitized build.
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0").lstrip(":")
    return env


def run(cmd, timeout=120, input=None, cwd=None, env=None):
    """Runs cmd; returns (rc, stdout, stderr) as str. A timeout kills the whole
    process group and fails the test (it never hangs)."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env,
                            start_new_session=True, preexec_fn=_die_with_parent)
    _LIVE_PROCS.append(proc)
    try:
        out, err = proc.communicate(input.encode() if isinstance(input, str) else input,
                                    timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        out, err = proc.communicate()
        raise AssertionError("timed out after %ss: %s\nstderr: %s" %
                             (timeout, " ".join(map(str, cmd)), _decode(err)[-2000:]))
    finally:
        if proc in _LIVE_PROCS:
            _LIVE_PROCS.remove(proc)
    return proc.returncode, _decode(out), _decode(err)


def run_promblock(args, timeout=120, input=None, cwd=None):
    """Runs the promblock binary under test: (rc, stdout, stderr)."""
    if not os.path.isfile(BIN):
        raise AssertionError("promblock binary not found at %s (set PROMBLOCK_BIN)" % BIN)
    return run([BIN] + [str(a) for a in args], timeout=timeout, input=input, cwd=cwd)


def promblock_dump(*args, timeout=300):
    """stdout of `promblock dump ARGS`; an AssertionError with its stderr if
    it fails."""
    rc, out, err = run_promblock(["dump"] + [str(a) for a in args], timeout=timeout)
    if rc != 0:
        raise AssertionError("promblock dump %s failed (exit %d): %s"
                             % (" ".join(map(str, args)), rc, err[-2000:]))
    return out


def run_roundtrip(src_block, out_parent, timeout=120):
    """tests/roundtrip_block SRC_BLOCK_DIR OUT_PARENT_DIR -> (rc, stdout, stderr)."""
    if not os.path.isfile(ROUNDTRIP_BIN):
        raise AssertionError("roundtrip_block not found at %s (set PROMBLOCK_BUILD)" % ROUNDTRIP_BIN)
    return run([ROUNDTRIP_BIN, src_block, out_parent], timeout=timeout)


# ---------------------------------------------------------------- blocks on disk

def is_ulid(name):
    return len(name) == 26 and name[0] in "01234567" and set(name) <= _CROCKFORD


def is_block_dir(path):
    return is_ulid(os.path.basename(os.path.normpath(path))) and \
        os.path.isfile(os.path.join(path, "meta.json"))


def block_dirs(source):
    """The complete blocks of a source: the dir itself if it is a block, else its
    ULID-named subdirs holding a meta.json (what Prometheus loads), sorted."""
    if os.path.isfile(os.path.join(source, "meta.json")):
        return [os.path.normpath(source)]
    return sorted(os.path.join(source, n) for n in os.listdir(source)
                  if is_block_dir(os.path.join(source, n)))


def read_meta(block):
    with open(os.path.join(block, "meta.json"), encoding="utf-8") as f:
        return json.load(f)


def committed_block_sets():
    """{set name: dir of blocks} for testdata/blocks/*."""
    root = os.path.join(TESTDATA, "blocks")
    sets = {n: os.path.join(root, n) for n in sorted(os.listdir(root))
            if os.path.isdir(os.path.join(root, n))}
    if not sets:
        raise AssertionError("no block sets under %s" % root)
    return sets


def all_committed_blocks():
    return [b for s in committed_block_sets().values() for b in block_dirs(s)]


def copy_block(block, parent):
    dst = os.path.join(parent, os.path.basename(os.path.normpath(block)))
    shutil.copytree(block, dst)
    return dst


def snapshot_tree(root):
    """{relative path: (kind, size, mtime_ns, mode)} for root and everything under it."""
    st = os.lstat(root)
    snap = {".": ("d", 0, st.st_mtime_ns, st.st_mode)}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            kind = "d" if os.path.isdir(p) and not os.path.islink(p) else "f"
            snap[os.path.relpath(p, root)] = (kind, st.st_size if kind == "f" else 0,
                                              st.st_mtime_ns, st.st_mode)
    return snap


def file_digests(root):
    """{relative path: sha256 hex} of every file under root: its content only."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for n in files:
            p = os.path.join(dirpath, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def live_layout(directory, dumps=True):
    """{(thanos labels as JSON, minTime, maxTime, sorted sources): promblock
    dump (or None)} of the blocks of directory without a deletion mark: what
    two runs that wrote blocks under other ULIDs must agree on."""
    out = {}
    for b in block_dirs(directory):
        if os.path.exists(os.path.join(b, "deletion-mark.json")):
            continue
        m = read_meta(b)
        key = (json.dumps((m.get("thanos") or {}).get("labels"), sort_keys=True),
               m["minTime"], m["maxTime"], tuple(sorted(m["compaction"]["sources"])))
        if key in out:
            raise AssertionError("%s: two live blocks %s" % (directory, key))
        out[key] = promblock_dump(b) if dumps else None
    return out


def assert_same_layout(tc, got_dir, want_dir):
    """live_layout(got_dir) == live_layout(want_dir), failing with the keys
    that differ or the first differing dump line (not a diff of whole dumps,
    which takes unittest minutes to compute)."""
    got, want = live_layout(got_dir), live_layout(want_dir)
    tc.assertEqual(sorted(got), sorted(want), "live blocks of %s vs %s" % (got_dir, want_dir))
    for key, dump in want.items():
        if got[key] != dump:
            a, b = got[key].splitlines(), dump.splitlines()
            i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            tc.fail("block %s: dump line %d: %r vs %r (%d vs %d lines)" % (
                key, i + 1, a[i] if i < len(a) else None, b[i] if i < len(b) else None,
                len(a), len(b)))


def make_blocks(om, outdir, timeout=300):
    """promtool tsdb create-blocks-from openmetrics. om: a path to an existing
    file or the OpenMetrics text itself. Returns the new block dirs, sorted."""
    os.makedirs(outdir, exist_ok=True)
    before = set(os.listdir(outdir))
    tmp = None
    if isinstance(om, bytes) or not os.path.isfile(om):
        tmp = tempfile.NamedTemporaryFile("wb", suffix=".om", delete=False)
        tmp.write(om if isinstance(om, bytes) else om.encode("utf-8"))
        tmp.close()
        path = tmp.name
    else:
        path = om
    try:
        rc, out, err = run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "--quiet",
                            path, outdir], timeout=timeout)
    finally:
        if tmp:
            os.unlink(tmp.name)
    if rc != 0:
        raise AssertionError("promtool create-blocks-from failed (rc %d): %s" % (rc, err))
    return sorted(os.path.join(outdir, n) for n in set(os.listdir(outdir)) - before
                  if is_block_dir(os.path.join(outdir, n)))


_PROCESS_CACHE = None


def _cache_base():
    """Where generated blocks are cached: $PROMBLOCK_BUILD/e2e-cache when set
    (kept between runs), else one temp dir for this process."""
    global _PROCESS_CACHE
    if BUILD_IS_SET:
        base = os.path.join(BUILD, "e2e-cache")
        os.makedirs(base, exist_ok=True)
        return base
    if _PROCESS_CACHE is None:
        _PROCESS_CACHE = mkdtemp(prefix="promblock-cache-")
    return _PROCESS_CACHE


def _cached_blocks(name, make):
    """<cache>/<name>/blocks, made once by make(work_dir) -> list of blocks
    (into work_dir/blocks); safe when several tests make it at once."""
    base = _cache_base()
    final = os.path.join(base, name)
    if os.path.isfile(os.path.join(final, "DONE")):
        return os.path.join(final, "blocks")
    work = tempfile.mkdtemp(prefix=name + ".tmp-", dir=base)
    try:
        if not make(work):
            raise AssertionError("promtool made no blocks for %s" % name)
        open(os.path.join(work, "DONE"), "w").close()
        try:
            os.rename(work, final)
        except OSError:  # another run finished first (or left an incomplete dir)
            if not os.path.isfile(os.path.join(final, "DONE")):
                shutil.rmtree(final, ignore_errors=True)
                os.rename(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return os.path.join(final, "blocks")


def cached_blocks_from_om(name, om_text):
    """The dir of the blocks promtool makes from om_text (it holds only block
    dirs), made once per content and cached."""
    key = hashlib.sha256(om_text.encode("utf-8")).hexdigest()[:16]
    return _cached_blocks("%s-%s" % (name, key),
                          lambda work: make_blocks(om_text, os.path.join(work, "blocks")))


def _sources_to_datadir(sources, datadir):
    """Copies the complete blocks of the sources into datadir (plus an empty wal/,
    which promtool's read-only DB needs). promtool writes into the dir it reads
    (chunks_head/), so it never sees the originals."""
    os.makedirs(os.path.join(datadir, "wal"), exist_ok=True)
    seen = set()
    for src in sources:
        for b in block_dirs(src):
            name = os.path.basename(b)
            if name in seen:
                raise AssertionError("block %s given twice" % name)
            seen.add(name)
            shutil.copytree(b, os.path.join(datadir, name))
    if not seen:
        raise AssertionError("no blocks in %s" % (sources,))


def promtool_dump(path, match=None, min_time=None, max_time=None, timeout=300):
    """stdout of `promtool tsdb dump` for the blocks of path (a block, a dir of
    blocks, or a list of those). min_time/max_time: ms, both inclusive."""
    sources = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    tmp = tempfile.mkdtemp(prefix="promblock-dump-")
    try:
        _sources_to_datadir(sources, tmp)
        cmd = [PROMTOOL, "tsdb", "dump"]
        if match is not None:
            cmd.append("--match=" + match)
        if min_time is not None:
            cmd.append("--min-time=%d" % min_time)
        if max_time is not None:
            cmd.append("--max-time=%d" % max_time)
        cmd.append(tmp)
        rc, out, err = run(cmd, timeout=timeout)
        if rc != 0:
            raise AssertionError("promtool tsdb dump failed (rc %d): %s" % (rc, err))
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def gen_om(what, out_path, *extra):
    rc, out, err = run([sys.executable, os.path.join(TESTDATA, "gen_om.py"), what, out_path]
                       + list(extra), timeout=300)
    if rc != 0:
        raise AssertionError("gen_om.py %s failed: %s" % (what, err))
    return out_path


def big_block_set(series=50000, samples=2):
    """The many-series block set (not committed): generated by gen_om.py big and
    promtool; cached in $PROMBLOCK_BUILD/e2e-cache when that is set (keyed by
    the generator's content), else built into a temp dir for this process."""
    with open(os.path.join(TESTDATA, "gen_om.py"), "rb") as f:
        key = hashlib.sha256(f.read() + b"|%d|%d" % (series, samples)).hexdigest()[:16]

    def make(work):
        om = gen_om("big", os.path.join(work, "big.om"), "--series", str(series),
                    "--samples", str(samples))
        blocks = make_blocks(om, os.path.join(work, "blocks"))
        os.unlink(om)
        return blocks

    return _cached_blocks("big-%dx%d-%s" % (series, samples, key), make)


# ---------------------------------------------------------------- text formats

def split_dump_line(line):
    """One dump line -> (series string, value string, ts_ms). A histogram's
    value is its '{count:...}' text, which has spaces of its own."""
    rest, ts = line.rsplit(" ", 1)
    if " {count:" in rest:
        series, body = rest.split(" {count:", 1)
        return series, "{count:" + body, int(ts)
    series, value = rest.rsplit(" ", 1)
    return series, value, int(ts)


def parse_dump(text):
    """promtool dump text -> {series string: [(ts_ms, value string)]}, in order."""
    out = {}
    for line in text.splitlines():
        if not line:
            continue
        series, value, ts = split_dump_line(line)
        out.setdefault(series, []).append((ts, value))
    return out


def go_quote(s):
    """Go's strconv.Quote (what Labels.String() uses), for valid UTF-8 text."""
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif _go_isprint(ch):
            out.append(ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                        "\t": "\\t", "\v": "\\v"}[ch])
        elif c < 0x80:
            out.append("\\x%02x" % c)
        elif c < 0x10000:
            out.append("\\u%04x" % c)
        else:
            out.append("\\U%08x" % c)
    out.append('"')
    return "".join(out)


def _go_isprint(ch):
    if ch == " ":
        return True
    return unicodedata.category(ch)[0] in "LMNPS"


def go_unquote(s):
    """Inverse of go_quote (Go's strconv.Unquote for double-quoted strings)."""
    assert s[0] == '"' and s[-1] == '"', s
    s = s[1:-1]
    out, i = [], 0
    simple = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
              "\\": "\\", '"': '"', "'": "'"}
    while i < len(s):
        ch = s[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        e = s[i + 1]
        if e in simple:
            out.append(simple[e])
            i += 2
        elif e == "x":
            out.append(chr(int(s[i + 2:i + 4], 16)))
            i += 4
        elif e == "u":
            out.append(chr(int(s[i + 2:i + 6], 16)))
            i += 6
        elif e == "U":
            out.append(chr(int(s[i + 2:i + 10], 16)))
            i += 10
        else:  # octal \NNN
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
    return "".join(out)


def labels_str(labels):
    """Prometheus Labels.String(): {a="b", c="d"} with labels sorted by name."""
    return "{" + ", ".join("%s=%s" % (k, go_quote(v)) for k, v in sorted(labels)) + "}"


def parse_labels_str(s):
    """Labels.String() text -> frozenset of (name, value)."""
    assert s[0] == "{" and s[-1] == "}", s
    s = s[1:-1]
    out, i = [], 0
    while i < len(s):
        eq = s.index("=", i)
        name = s[i:eq]
        j = eq + 2  # past ="
        while s[j] != '"':
            j += 2 if s[j] == "\\" else 1
        out.append((name, go_unquote(s[eq + 1:j + 1])))
        i = j + 1
        if s.startswith(", ", i):
            i += 2
    return frozenset(out)


def go_format_g(v):
    """Go's fmt.Sprintf("%g", v) (= strconv.FormatFloat(v, 'g', -1, 64) plus "+Inf"):
    the shortest digits that round-trip; %e form when the decimal exponent is
    < -4 or >= 6 (Go uses 6 as the precision for that decision in shortest mode),
    with at least two exponent digits; NaN, +Inf, -Inf; "-0" for negative zero."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    neg = math.copysign(1.0, v) < 0
    if v == 0:
        return "-0" if neg else "0"
    # repr() is the shortest round-trip form too (same digits as Go's).
    _, digits, exp10 = decimal.Decimal(repr(abs(v))).normalize().as_tuple()
    digs = "".join(map(str, digits))
    nd = len(digs)
    dp = nd + exp10  # position of the decimal point relative to digs
    exp = dp - 1
    if exp < -4 or exp >= 6:
        s = digs[0] + ("." + digs[1:] if nd > 1 else "") + \
            "e%s%02d" % ("-" if exp < 0 else "+", abs(exp))
    elif dp <= 0:
        s = "0." + "0" * (-dp) + digs
    elif dp >= nd:
        s = digs + "0" * (dp - nd)
    else:
        s = digs[:dp] + "." + digs[dp:]
    return ("-" if neg else "") + s


def value_key(v):
    """A comparable canonical text for a float sample value (NaN == NaN; -0 != 0).
    v: float, API string ("NaN", "+Inf", "1.5", ...), or 64-bit pattern (int)."""
    if isinstance(v, int) and not isinstance(v, bool):
        v = bits_to_float(v)
    elif isinstance(v, str):
        v = float(v)
    if math.isnan(v):
        return "NaN"
    return repr(v)


def bits_to_float(bits):
    return struct.unpack(">d", struct.pack(">Q", bits))[0]


def float_to_bits(v):
    return struct.unpack(">Q", struct.pack(">d", v))[0]


# ---------------------------------------------------------------- block reader

class FormatError(Exception):
    pass


_CRC_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c(data):
    c = 0xFFFFFFFF
    tbl = _CRC_TABLE
    for b in data:
        c = tbl[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _uvarint(buf, pos):
    x = shift = 0
    while True:
        if pos >= len(buf):
            raise FormatError("varint past end")
        b = buf[pos]
        pos += 1
        x |= (b & 0x7F) << shift
        if b < 0x80:
            return x, pos
        shift += 7
        if shift > 63:
            raise FormatError("varint overflow")


def _varint(buf, pos):
    ux, pos = _uvarint(buf, pos)
    x = ux >> 1
    return (~x if ux & 1 else x), pos


def _be32(buf, pos):
    if pos + 4 > len(buf):
        raise FormatError("read past end at %d" % pos)
    return struct.unpack_from(">I", buf, pos)[0]


class _Bits:
    def __init__(self, data):
        self.n = len(data) * 8
        self.v = int.from_bytes(data, "big")
        self.pos = 0

    def read(self, k):
        if self.pos + k > self.n:
            raise FormatError("bit stream past end")
        self.pos += k
        return (self.v >> (self.n - self.pos)) & ((1 << k) - 1)

    def uvarint(self):
        x = shift = 0
        while True:
            b = self.read(8)
            x |= (b & 0x7F) << shift
            if b < 0x80:
                return x
            shift += 7

    def varint(self):
        ux = self.uvarint()
        return ~(ux >> 1) if ux & 1 else ux >> 1


def decode_xor(data):
    """An XOR chunk's data (after the encoding byte) -> [(ts_ms, 64-bit value)]."""
    if len(data) < 2:
        raise FormatError("chunk shorter than its header")
    n = struct.unpack_from(">H", data, 0)[0]
    br = _Bits(data[2:])
    out = []
    t = tdelta = val = leading = trailing = 0
    for i in range(n):
        if i == 0:
            t = br.varint()
            val = br.read(64)
        else:
            if i == 1:
                tdelta = br.uvarint()
            else:
                d = 0
                for _ in range(4):
                    d <<= 1
                    if br.read(1) == 0:
                        break
                    d |= 1
                sz = {0: 0, 0b10: 14, 0b110: 17, 0b1110: 20, 0b1111: 64}[d]
                dod = 0
                if sz == 64:
                    dod = br.read(64)
                    if dod >= 1 << 63:
                        dod -= 1 << 64
                elif sz:
                    dod = br.read(sz)
                    if dod > (1 << (sz - 1)):
                        dod -= 1 << sz
                tdelta += dod
            t += tdelta
            if br.read(1):
                if br.read(1):
                    leading = br.read(5)
                    mbits = br.read(6) or 64
                    trailing = 64 - leading - mbits
                mbits = 64 - leading - trailing
                val ^= br.read(mbits) << trailing
        out.append((t, val))
    return out


class Chunk:
    __slots__ = ("mint", "maxt", "ref", "encoding", "data")

    def __init__(self, mint, maxt, ref, encoding=None, data=None):
        self.mint, self.maxt, self.ref, self.encoding, self.data = mint, maxt, ref, encoding, data

    def samples(self):
        if self.encoding != 1:
            raise FormatError("chunk encoding %d is not XOR" % self.encoding)
        return decode_xor(self.data)


class Block:
    """A minimal, independent reader of a TSDB block (index v2, chunks v1), for
    checking promblock's output below what promtool shows.

    .meta     parsed meta.json
    .symbols  list of str
    .series   list of (labels tuple ((name, value), ...) sorted, [Chunk])
    With verify=True every CRC32-C (TOC, symbols, postings tables, series, chunks)
    is checked and a FormatError raised on the first mismatch."""

    def __init__(self, path, verify=True):
        self.path = path
        self.meta = read_meta(path)
        with open(os.path.join(path, "index"), "rb") as f:
            idx = f.read()
        self.index_bytes = idx
        if len(idx) < 5 + 52 or _be32(idx, 0) != 0xBAAAD700:
            raise FormatError("index: bad magic or too short")
        if idx[4] != 2:
            raise FormatError("index: version %d" % idx[4])
        toc = idx[-52:]
        if verify and crc32c(toc[:48]) != struct.unpack(">I", toc[48:])[0]:
            raise FormatError("index: TOC checksum")
        self.toc = struct.unpack(">6Q", toc[:48])
        sym_off, _series_off, _li, _lot, _post, post_tab = self.toc
        body = self._section(idx, sym_off, verify, "symbols")
        n = _be32(body, 0)
        pos = 4
        self.symbols = []
        for _ in range(n):
            ln, pos = _uvarint(body, pos)
            self.symbols.append(body[pos:pos + ln].decode("utf-8"))
            pos += ln
        # Postings offset table -> the all-postings list (name "", value "").
        body = self._section(idx, post_tab, verify, "postings offset table")
        n, pos = _be32(body, 0), 4
        self.postings_offsets = []
        for _ in range(n):
            k, pos = _uvarint(body, pos)
            if k != 2:
                raise FormatError("postings offset table: key count %d" % k)
            ln, pos = _uvarint(body, pos)
            name = body[pos:pos + ln].decode("utf-8")
            pos += ln
            ln, pos = _uvarint(body, pos)
            value = body[pos:pos + ln].decode("utf-8")
            pos += ln
            off, pos = _uvarint(body, pos)
            self.postings_offsets.append((name, value, off))
        allp = [off for name, value, off in self.postings_offsets if name == "" and value == ""]
        if len(allp) != 1:
            raise FormatError("no all-postings list")
        body = self._section(idx, allp[0], verify, "postings")
        cnt = _be32(body, 0)
        refs = struct.unpack_from(">%dI" % cnt, body, 4)
        self.series = []
        segs = {}
        for ref in refs:
            off = ref * 16
            ln, pos = _uvarint(idx, off)
            ent = idx[pos:pos + ln]
            if verify and crc32c(ent) != _be32(idx, pos + ln):
                raise FormatError("index: series checksum at %d" % off)
            p = 0
            nl, p = _uvarint(ent, p)
            labels = []
            for _ in range(nl):
                a, p = _uvarint(ent, p)
                b, p = _uvarint(ent, p)
                labels.append((self.symbols[a], self.symbols[b]))
            nc, p = _uvarint(ent, p)
            chunks = []
            t0 = cref = 0
            for i in range(nc):
                if i == 0:
                    mint, p = _varint(ent, p)
                    d, p = _uvarint(ent, p)
                    maxt = mint + d
                    cref, p = _uvarint(ent, p)
                else:
                    d, p = _uvarint(ent, p)
                    mint = t0 + d
                    d, p = _uvarint(ent, p)
                    maxt = mint + d
                    dr, p = _varint(ent, p)
                    cref += dr
                t0 = maxt
                chunks.append(self._chunk(Chunk(mint, maxt, cref), segs, verify))
            self.series.append((tuple(labels), chunks))

    @staticmethod
    def _section(buf, off, verify, what):
        ln = _be32(buf, off)
        body = buf[off + 4:off + 4 + ln]
        if len(body) != ln:
            raise FormatError("index: %s past end" % what)
        if verify and crc32c(body) != _be32(buf, off + 4 + ln):
            raise FormatError("index: %s checksum" % what)
        return body

    def _chunk(self, c, segs, verify):
        seq, off = c.ref >> 32, c.ref & 0xFFFFFFFF
        if seq not in segs:
            with open(os.path.join(self.path, "chunks", "%06d" % (seq + 1)), "rb") as f:
                seg = f.read()
            if len(seg) < 8 or _be32(seg, 0) != 0x85BD40DD or seg[4] != 1:
                raise FormatError("chunks/%06d: bad header" % (seq + 1))
            segs[seq] = seg
        seg = segs[seq]
        ln, pos = _uvarint(seg, off)
        if pos + 1 + ln + 4 > len(seg):
            raise FormatError("chunk %d past segment end" % c.ref)
        c.encoding = seg[pos]
        c.data = seg[pos + 1:pos + 1 + ln]
        if verify and crc32c(seg[pos:pos + 1 + ln]) != _be32(seg, pos + 1 + ln):
            raise FormatError("chunk %d checksum" % c.ref)
        return c

    def samples(self):
        """{frozenset(labels): [(ts_ms, bits)]} (all samples, stale markers too)."""
        return {frozenset(lbls): [s for c in chunks for s in c.samples()]
                for lbls, chunks in self.series}


def read_block(path, verify=True):
    return Block(path, verify=verify)


def block_samples(blocks, mint=None, maxt=None, drop_stale=False):
    """Samples of several blocks merged per series (later duplicates dropped):
    {frozenset(labels): [(ts_ms, bits)]}, mint <= ts < maxt when given."""
    out = {}
    for b in blocks:
        for lbls, samples in read_block(b).samples().items():
            out.setdefault(lbls, []).extend(samples)
    res = {}
    for lbls, samples in out.items():
        samples.sort(key=lambda s: s[0])
        seen, keep = set(), []
        for t, v in samples:
            if t in seen or (mint is not None and t < mint) or (maxt is not None and t >= maxt):
                continue
            if drop_stale and v == STALE_NAN_BITS:
                continue
            seen.add(t)
            keep.append((t, v))
        if keep:
            res[lbls] = keep
    return res


def dump_from_samples(samples):
    """What promtool dump prints for {frozenset(labels): [(ts, bits)]}."""
    lines = []
    for lbls in sorted(samples, key=lambda l: sorted(l)):
        s = labels_str(lbls)
        for t, v in samples[lbls]:
            lines.append("%s %s %d\n" % (s, go_format_g(bits_to_float(v)), t))
    return "".join(lines)


# ---------------------------------------------------------------- Prometheus

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Never a proxy: only 127.0.0.1 is ever contacted.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _fmt_time(t):
    """API time parameter: a number of seconds, or a string passed through
    (use ms_to_api_time for exact milliseconds)."""
    return t if isinstance(t, str) else repr(float(t))


def ms_to_api_time(ms):
    return "%d.%03d" % (ms // 1000, ms % 1000)


class PrometheusServer:
    """A real Prometheus serving copies of the given block dirs.

        with PrometheusServer([block1, block2]) as prom:
            prom.query('up', time=1700000000)

    Data dir, config and log live in a fresh temp dir (removed afterwards unless
    PROMBLOCK_KEEP_TMP is set). The server is always stopped: SIGTERM, then
    SIGKILL after a grace period; it also dies with the test process."""

    def __init__(self, blocks=(), extra_args=(), remote_write=False, ready_timeout=60):
        self.blocks = list(blocks)
        self.extra_args = list(extra_args)
        self.remote_write = remote_write
        self.ready_timeout = ready_timeout
        self.proc = None
        self.tmp = None

    def __enter__(self):
        self.tmp = tempfile.mkdtemp(prefix="promblock-prom-")
        try:
            self._start()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *exc):
        self._stop()
        return False

    def _start(self):
        self.data_dir = os.path.join(self.tmp, "data")
        os.makedirs(self.data_dir)
        for b in self.blocks:
            copy_block(b, self.data_dir)
        self.config = os.path.join(self.tmp, "prometheus.yml")
        with open(self.config, "w") as f:
            f.write("global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\n")
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(self.tmp, "prometheus.log")
        cmd = [PROMETHEUS, "--config.file=" + self.config,
               "--storage.tsdb.path=" + self.data_dir,
               "--web.listen-address=127.0.0.1:%d" % self.port,
               "--storage.tsdb.retention.time=100y",
               "--log.level=info"]
        if self.remote_write:
            cmd.append("--web.enable-remote-write-receiver")
        cmd += self.extra_args
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=self.tmp,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        _LIVE_PROCS.append(self.proc)
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("prometheus exited with %s before ready:\n%s" %
                                     (self.proc.returncode, self.log()))
            try:
                with _OPENER.open(self.url + "/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError("prometheus not ready after %ss:\n%s" %
                                     (self.ready_timeout, self.log()))
            time.sleep(0.1)

    def log(self, tail=8000):
        try:
            with open(self.log_path, "rb") as f:
                return _decode(f.read())[-tail:]
        except OSError:
            return "(no log)"

    def _stop(self):
        if self.proc is not None:
            _kill_proc(self.proc, grace=15)
            self.proc = None
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None
        if self.tmp and not os.environ.get("PROMBLOCK_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- HTTP API
    def _get(self, path, params, timeout=60):
        url = self.url + path + "?" + urllib.parse.urlencode(params)
        try:
            with _OPENER.open(url, timeout=timeout) as r:
                body = r.read()
        except urllib.error.HTTPError as e:
            raise AssertionError("%s -> HTTP %d: %s" % (url, e.code, e.read()[:2000]))
        resp = json.loads(body)
        if resp.get("status") != "success":
            raise AssertionError("%s -> %s" % (url, resp))
        return resp

    def query(self, promql, time=None):
        """Instant query; time in seconds (number) or API time string. Parsed JSON."""
        params = {"query": promql}
        if time is not None:
            params["time"] = _fmt_time(time)
        return self._get("/api/v1/query", params)

    def query_range(self, promql, start, end, step):
        return self._get("/api/v1/query_range", {"query": promql, "start": _fmt_time(start),
                                                 "end": _fmt_time(end), "step": _fmt_time(step)})

    def post(self, path, body, headers, timeout=60):
        req = urllib.request.Request(self.url + path, data=body, headers=headers, method="POST")
        try:
            with _OPENER.open(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()


def raw_samples(server, selector, mint_ms, maxt_ms):
    """Raw samples with mint_ms <= ts < maxt_ms (maxt exclusive, as in meta.json)
    through the query API: an instant query SELECTOR[range] at maxt-1, whose range
    reaches one ms before mint (so both the left-open and the closed range
    semantics include mint; anything earlier is filtered here).
    Prometheus leaves stale markers out of range selections.
    Returns {frozenset(labels): [(ts_ms, value string)]}."""
    end = maxt_ms - 1
    rng = end - mint_ms + 1
    resp = server.query("%s[%dms]" % (selector, rng), time=ms_to_api_time(end))
    data = resp["data"]
    if data["resultType"] != "matrix":
        raise AssertionError("expected a matrix, got %s" % data["resultType"])
    out = {}
    for s in data["result"]:
        vals = []
        for t, v in s["values"]:
            ts = int(round(float(t) * 1000))
            if mint_ms <= ts < maxt_ms:
                vals.append((ts, v))
        if vals:
            out[frozenset(s["metric"].items())] = vals
    return out


def canonical_samples(samples, drop_stale=False):
    """{labels: [(ts, value as bits/float/str)]} -> {labels: [(ts, value_key)]}."""
    out = {}
    for lbls, vals in samples.items():
        keep = [(t, value_key(v)) for t, v in vals
                if not (drop_stale and isinstance(v, int) and v == STALE_NAN_BITS)]
        if keep:
            out[lbls] = keep
    return out


# ---------------------------------------------------------------- remote write

def _pb_varint(x):
    out = bytearray()
    while True:
        b = x & 0x7F
        x >>= 7
        if x:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _pb_field(num, wire, payload):
    key = _pb_varint((num << 3) | wire)
    if wire == 2:
        return key + _pb_varint(len(payload)) + payload
    return key + payload


def encode_write_request(series):
    """prometheus.WriteRequest protobuf. series: [(labels [(name, value)], [(ts_ms,
    value bits)])]; values are 64-bit patterns so any NaN payload survives."""
    out = bytearray()
    for labels, samples in series:
        ts = bytearray()
        for name, value in sorted(labels):
            lab = _pb_field(1, 2, name.encode()) + _pb_field(2, 2, value.encode())
            ts += _pb_field(1, 2, lab)
        for t, bits in samples:
            smp = _pb_field(1, 1, struct.pack("<Q", bits)) + \
                _pb_field(2, 0, _pb_varint(t & 0xFFFFFFFFFFFFFFFF))
            ts += _pb_field(2, 2, smp)
        out += _pb_field(1, 2, bytes(ts))
    return bytes(out)


def snappy_block_literal(data):
    """Snappy block format using literals only (valid, uncompressed)."""
    out = bytearray(_pb_varint(len(data)))
    for i in range(0, len(data), 65536):
        lit = data[i:i + 65536]
        n = len(lit) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + struct.pack("<H", n)
        out += lit
    return bytes(out)


def remote_write(server, series):
    body = snappy_block_literal(encode_write_request(series))
    status, resp = server.post("/api/v1/write", body, {
        "Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
        "X-Prometheus-Remote-Write-Version": "0.1.0"})
    if status // 100 != 2:
        raise AssertionError("remote write -> HTTP %d: %s" % (status, resp[:2000]))


# ---------------------------------------------------------------- unittest glue

def main():
    """unittest.main() that exits non-zero on failure (for CTest)."""
    import unittest
    unittest.main(module="__main__", verbosity=2)
