#!/bin/bash
# Makes testdata/histograms/: blocks holding native histograms, written by two
# real Prometheus 2.42 servers (--enable-feature=native-histograms) of an HA
# pair, both scraping serve_histograms.py on 127.0.0.1 every 5 s and
# recording float histograms from them by rules.
#
#   testdata/histograms/make_fixtures.sh        (about 6-7 minutes, no arguments)
#
# Needs: prometheus, promtool (Debian package `prometheus`), python3, curl.
# Installs nothing. KEEP_WORK=1 keeps the temporary work dir for inspection.
#
# Both replicas run until each has compacted the two 2-minute windows ending at
# B1 and B1 + W (B1 = the first W boundary >= start + 3 min); those blocks are
# copied to replica_a/ and replica_b/. Block ULIDs, timestamps and values
# differ on every run; README.md describes the series.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
W=120000                    # block range in ms
RUN_LIMIT=900               # hard limit for the whole run, seconds

for cmd in prometheus promtool python3 curl; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "missing: $cmd" >&2; exit 1; }
done

work=$(mktemp -d /tmp/promblock-histograms.XXXXXX)
PIDS=()
log() { echo "$(date -u +%H:%M:%S) $*" >&2; }
now_ms() { date +%s%3N; }
cleanup() {
  local rc=$? p
  trap - EXIT INT TERM HUP
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ -n ${KEEP_WORK:-} ]]; then log "work dir kept: $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

read -r PORT_T PORT_A PORT_B < <(python3 "$here/../free_ports.py" 3)

# Recording rules over native histograms give float histograms, which
# Prometheus stores in float histogram chunks (encoding 3).
cat >"$work/rules.yml" <<'YML'
groups:
  - name: float_histograms
    interval: 5s
    rules:
      - record: hist_latency_seconds:sum
        expr: sum(hist_latency_seconds)
      - record: hist_signed_delta:rate30s
        expr: rate(hist_signed_delta[30s])
YML

write_config() {          # write_config REPLICA
  cat >"$work/$1.yml" <<YML
global:
  scrape_interval: 5s
  scrape_timeout: 4s
  evaluation_interval: 5s
  external_labels:
    cluster: test
    replica: $1
rule_files: ['$work/rules.yml']
scrape_configs:
  - job_name: histograms
    static_configs:
      - targets: ['127.0.0.1:$PORT_T']
YML
  promtool check config "$work/$1.yml" >/dev/null
}

wait_ready() {            # wait_ready URL
  local i
  for ((i = 0; i < 300; i++)); do
    curl -fsS --noproxy '*' -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  log "$1 not ready after 30 s"; tail -20 "$work"/*.log >&2; exit 1
}

complete_blocks() {       # complete_blocks DATADIR: "maxTime ulid" per complete block
  python3 - "$1" <<'PY'
import json, os, re, sys
d = sys.argv[1]
for n in sorted(os.listdir(d)) if os.path.isdir(d) else []:
    p = os.path.join(d, n, "meta.json")
    if re.fullmatch(r"[0-7][0-9A-HJKMNP-TV-Z]{25}", n) and os.path.isfile(p):
        print(json.load(open(p))["maxTime"], n)
PY
}

python3 "$here/serve_histograms.py" "$PORT_T" >>"$work/target.log" 2>&1 &
PIDS+=($!)
wait_ready "http://127.0.0.1:$PORT_T/metrics"
T_START=$(now_ms)
for r in a b; do
  write_config $r
  port=$([[ $r == a ]] && echo "$PORT_A" || echo "$PORT_B")
  prometheus --config.file="$work/$r.yml" --storage.tsdb.path="$work/data_$r" \
    --enable-feature=native-histograms \
    --storage.tsdb.min-block-duration=2m --storage.tsdb.max-block-duration=2m \
    --storage.tsdb.retention.time=1d --web.listen-address="127.0.0.1:$port" \
    >>"$work/prometheus_$r.log" 2>&1 &
  PIDS+=($!)
  wait_ready "http://127.0.0.1:$port/-/ready"
  sleep 2.5                 # the replicas scrape at different phases
done

B1=$(( (T_START + 180000 + W - 1) / W * W ))
log "waiting for the windows ending at $B1 and $((B1 + W)) on both replicas"
while :; do
  ok=1
  for r in a b; do
    have=$(complete_blocks "$work/data_$r" | cut -d' ' -f1)
    for t in $B1 $((B1 + W)); do grep -qx "$t" <<<"$have" || ok=; done
  done
  [[ -n $ok ]] && break
  (( $(now_ms) / 1000 - T_START / 1000 > RUN_LIMIT )) && { log "timed out"; exit 1; }
  sleep 5
done
log "blocks complete; stopping"
for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
PIDS=()

for r in a b; do
  rm -rf "$here/replica_$r"
  mkdir -p "$here/replica_$r"
  complete_blocks "$work/data_$r" | while read -r max ulid; do
    if [[ $max == "$B1" || $max == "$((B1 + W))" ]]; then
      cp -r "$work/data_$r/$ulid" "$here/replica_$r/"
    fi
  done
done
du -sh "$here"/replica_a "$here"/replica_b >&2
log "done"
