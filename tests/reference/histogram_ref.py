"""Reference decoder for Prometheus's native histogram chunks (stdlib only).

Written from prometheus/prometheus v3.14.0 `tsdb/docs/format/chunks.md` and
`tsdb/chunkenc/{histogram,float_histogram,histogram_meta,varbit,bstream,
st,histogram_st,float_histogram_st}.go`, independently of promblock's C++
decoders, to check them. Encodings:

  2 histogram, 3 float histogram: 2-byte sample count, flags byte (counter
    reset header in its top two bits);
  5 histogram-ST, 6 float-histogram-ST: counter reset header in the top two
    bits of a 16-bit word whose low 14 bits count the samples, then the ST
    header byte, and each sample's payload followed by its optional ST.

Then the layout (zero threshold, schema, spans, custom bounds for schema
-53) and the samples. `decode(encoding, data)` returns
{"header": name, "samples": [{"t", "st", "h": {...}}]} with absolute bucket
counts, and raises DecodeError on malformed data (with `strict`, also on
a whole byte or more after the last sample).
"""

import math
import struct

STALE_NAN_BITS = 0x7FF0000000000002
CUSTOM_BUCKETS_SCHEMA = -53
HEADERS = {0: "unknown", 1: "not_reset", 2: "reset", 3: "gauge"}


class DecodeError(ValueError):
    pass


def f64(bits):
    return struct.unpack(">d", struct.pack(">Q", bits))[0]


def bits_of(x):
    return struct.unpack(">Q", struct.pack(">d", x))[0]


class Bits:
    """Big-endian bit stream over bytes, most significant bit first."""

    def __init__(self, data):
        self.data = bytes(data)
        self.pos = 0  # in bits

    def left(self):
        return len(self.data) * 8 - self.pos

    def bit(self):
        if self.pos >= len(self.data) * 8:
            raise DecodeError("stream ends")
        b = (self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1
        self.pos += 1
        return b

    def read(self, n):
        if n > self.left():
            raise DecodeError("stream ends")
        v = 0
        for _ in range(n):
            v = (v << 1) | self.bit()
        return v


# varbit: a prefix of up to eight 1-bits ended by a 0 (none after eight)
# picks the payload width.
VARBIT_WIDTHS = [0, 3, 6, 9, 12, 18, 25, 56, 64]


def varbit_width(r):
    ones = 0
    while ones < 8 and r.bit() == 1:
        ones += 1
    return VARBIT_WIDTHS[ones]


def varbit_int(r):
    width = varbit_width(r)
    if width == 0:
        return 0
    v = r.read(width)
    if width == 64:
        return v - (1 << 64) if v >= 1 << 63 else v
    # Lopsided two's complement: 2^(w-1) itself is positive.
    if v > 1 << (width - 1):
        v -= 1 << width
    return v


def varbit_uint(r):
    width = varbit_width(r)
    return r.read(width) if width else 0


def signed_varint(r):
    """Zigzag varint, 8-bit groups anywhere in the bit stream (Go reads at
    most 10 of them and drops what overflows 64 bits)."""
    x = 0
    for i in range(10):
        b = r.read(8)
        x |= (b & 0x7F) << (7 * i) if b >= 0x80 else b << (7 * i)
        if b < 0x80:
            x &= (1 << 64) - 1
            v = x >> 1
            return ~v if x & 1 else v
    raise DecodeError("varint longer than 10 bytes")


def wrap64(v):
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


class XorValue:
    """A float read as the XOR with its previous value (Gorilla style)."""

    def __init__(self, bits=0):
        self.bits = bits
        self.leading = 0
        self.trailing = 0

    def read(self, r):
        if r.bit() == 0:
            return
        if r.bit() == 1:
            self.leading = r.read(5)
            sig = r.read(6) or 64
            if self.leading + sig > 64:
                raise DecodeError("invalid XOR window")
            self.trailing = 64 - self.leading - sig
        sig = 64 - self.leading - self.trailing
        self.bits ^= r.read(sig) << self.trailing


def read_layout(r):
    b = r.read(8)
    if b == 0:
        zt = 0.0
    elif b == 255:
        zt = f64(r.read(64))
    else:
        zt = math.ldexp(0.5, b - 243)
    schema = varbit_int(r)
    spans = []
    for _ in range(2):
        n = varbit_uint(r)
        if n > r.left():
            raise DecodeError("span count beyond the chunk")
        side = []
        for _ in range(n):
            length = varbit_uint(r)
            offset = varbit_int(r)
            side.append([offset, length])
        spans.append(side)
    custom = []
    if schema == CUSTOM_BUCKETS_SCHEMA:
        n = varbit_uint(r)
        if n > r.left():
            raise DecodeError("custom bound count beyond the chunk")
        for _ in range(n):
            v = varbit_uint(r)
            custom.append(f64(r.read(64)) if v == 0 else (v - 1) / 1000)
    return {"schema": schema, "zero_threshold": zt, "pos_spans": spans[0],
            "neg_spans": spans[1], "custom_values": custom}


def bucket_total(spans):
    return sum(length for _, length in spans)


def decode(encoding, data, strict=True):
    if encoding not in (2, 3, 5, 6):
        raise DecodeError(f"not a histogram encoding: {encoding}")
    data = bytes(data)
    if len(data) < 3:
        raise DecodeError("shorter than the header")
    with_st = encoding in (5, 6)
    is_float = encoding in (3, 6)
    word = (data[0] << 8) | data[1]
    if with_st:
        header = data[0] >> 6
        total = word & 0x3FFF
        first_st_known = data[2] & 0x80 != 0
        first_st_change_on = data[2] & 0x7F
    else:
        header = data[2] >> 6
        total = word
        first_st_known, first_st_change_on = False, 0
    r = Bits(data[3:])
    samples = []
    layout = None
    t = t_delta = 0
    st = st_diff = 0
    # Integer histograms: count, zero count and each bucket (stored as the
    # difference to the bucket before) with their last delta.
    cnt = zcnt = cnt_delta = zcnt_delta = 0
    sum_ = XorValue()
    fvals = []  # float histograms: count, zero count, sum, buckets
    pos = neg = pos_delta = neg_delta = None
    for i in range(total):
        prev_t = t
        stale = False
        if i == 0:
            layout = read_layout(r)
            npos, nneg = bucket_total(layout["pos_spans"]), bucket_total(layout["neg_spans"])
            if npos + nneg > r.left():
                raise DecodeError("more buckets than the chunk can hold")
            t = varbit_int(r)
            if is_float:
                fvals = [XorValue(r.read(64)) for _ in range(3 + npos + nneg)]
            else:
                cnt = varbit_uint(r)
                zcnt = varbit_uint(r)
                sum_ = XorValue(r.read(64))
                pos = [varbit_int(r) for _ in range(npos)]
                neg = [varbit_int(r) for _ in range(nneg)]
                pos_delta, neg_delta = [0] * npos, [0] * nneg
        else:
            t_delta = wrap64(t_delta + varbit_int(r))
            t = wrap64(t + t_delta)
            if is_float:
                for v in fvals[:3]:
                    v.read(r)
                stale = fvals[2].bits == STALE_NAN_BITS
                if not stale:
                    for v in fvals[3:]:
                        v.read(r)
            else:
                cnt_delta = wrap64(cnt_delta + varbit_int(r))
                cnt = (cnt + cnt_delta) & ((1 << 64) - 1)
                zcnt_delta = wrap64(zcnt_delta + varbit_int(r))
                zcnt = (zcnt + zcnt_delta) & ((1 << 64) - 1)
                sum_.read(r)
                stale = sum_.bits == STALE_NAN_BITS
                if not stale:
                    for vals, deltas in ((pos, pos_delta), (neg, neg_delta)):
                        for k in range(len(vals)):
                            deltas[k] = wrap64(deltas[k] + varbit_int(r))
                            vals[k] = wrap64(vals[k] + deltas[k])
        if with_st:
            n = i + 1  # samples read, this one included
            if n == 1:
                if first_st_known:
                    st_diff = signed_varint(r)
                    st = wrap64(t - st_diff)
            elif first_st_change_on and n - 1 >= first_st_change_on:
                v = varbit_int(r)
                st_diff = v if n - 1 == first_st_change_on else wrap64(st_diff + v)
                st = wrap64(prev_t - st_diff)
        sum_bits = fvals[2].bits if is_float else sum_.bits
        if sum_bits == STALE_NAN_BITS:
            h = {"sum_bits": sum_bits, "stale": True}
        else:
            h = dict(layout)
            h["sum_bits"] = sum_bits
            h["stale"] = False
            if is_float:
                h["count"] = f64(fvals[0].bits)
                h["zero_count"] = f64(fvals[1].bits)
                h["pos"] = [f64(v.bits) for v in fvals[3:3 + npos]]
                h["neg"] = [f64(v.bits) for v in fvals[3 + npos:]]
            else:
                h["count"], h["zero_count"] = cnt, zcnt
                h["pos"] = absolute(pos)
                h["neg"] = absolute(neg)
        samples.append({"t": t, "st": st, "h": h})
    if strict and r.left() >= 8:
        raise DecodeError(f"{r.left()} bits left after the last sample")
    return {"header": HEADERS[header], "samples": samples}


def absolute(diffs):
    out, cur = [], 0
    for d in diffs:
        cur = wrap64(cur + d)
        out.append(cur)
    return out
