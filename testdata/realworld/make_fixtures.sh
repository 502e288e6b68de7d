#!/bin/bash
# Makes testdata/realworld/: genuine blocks of a highly-available Prometheus pair,
# written by two real Prometheus 2.42 servers that scrape each other, themselves
# and a node exporter, all on 127.0.0.1.
#
#   testdata/realworld/make_fixtures.sh        (about 8-10 minutes, no arguments)
#
# Needs: prometheus, promtool (Debian package `prometheus`), prometheus-node-exporter
# (Debian package `prometheus-node-exporter`), python3, curl. Installs nothing.
# KEEP_WORK=1 keeps the temporary work dir (data dirs, logs) for inspection.
#
# Timeline (W = 2 min = the block range; B1 = the first W boundary >= start + 3 min):
#   start        node exporter, replica a; replica b 2.5 s later (scrape phases differ)
#   B1 - 60 s    replica b stopped (SIGTERM)       } gap in b across the windows
#   B1 + 60 s    replica b started again           } ending at B1 and at B1 + W
#   B1 + 150 s   node exporter stopped (SIGTERM)   } stale markers for its series,
#   B1 + 210 s   node exporter started again       } in window ending at B1 + 2W
#   then wait until both replicas have compacted the windows ending at B1, B1+W,
#   B1+2W (Prometheus compacts its head once it spans 1.5 W), stop both (SIGTERM).
# Copied out: the complete blocks (ULID dirs with meta.json) of every 2m window that
# both replicas have, up to B1 + 2W, newest first while the total stays < 3 MB.
# events.json records ports and the ms timestamps of every step; describe.py then
# writes README.md from the blocks and events.json.
#
# Block ULIDs, timestamps and values differ on every run.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
W=120000                    # block range in ms (--storage.tsdb.min/max-block-duration=2m)
MAX_KB=3000                 # size budget of the copied blocks
RUN_LIMIT=1200              # hard limit for the whole run, seconds

missing=()
for cmd in prometheus promtool prometheus-node-exporter python3 curl; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
if ((${#missing[@]})); then
  echo "missing: ${missing[*]}" >&2
  echo "install with: apt-get install --no-install-recommends prometheus prometheus-node-exporter python3 curl" >&2
  exit 1
fi

work=$(mktemp -d /tmp/promblock-realworld.XXXXXX)
PID_A= PID_B= PID_N= PID_SLEEP=

log() { echo "$(date -u +%H:%M:%S) $*" >&2; }
now_ms() { date +%s%3N; }

stop_pid() {              # stop_pid PID SIGNAL: signal, wait up to 60 s, then SIGKILL
  local pid=$1 sig=${2:-TERM} i
  [[ -n $pid ]] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -"$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < 600; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid did not exit after SIG$sig; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  stop_pid "$PID_SLEEP" TERM
  stop_pid "$PID_A" TERM; stop_pid "$PID_B" TERM; stop_pid "$PID_N" TERM
  PID_A= PID_B= PID_N= PID_SLEEP=
  if [[ -n ${KEEP_WORK:-} ]]; then
    log "work dir kept: $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

# Free 127.0.0.1 ports (bound by the kernel, released, then used at once).
read -r PORT_A PORT_B PORT_N < <(python3 "$here/../free_ports.py" 3)
ADDR_A=127.0.0.1:$PORT_A ADDR_B=127.0.0.1:$PORT_B ADDR_N=127.0.0.1:$PORT_N
log "replica a $ADDR_A, replica b $ADDR_B, node exporter $ADDR_N, work dir $work"

# One rules file at one path for both replicas, as in a real HA pair: Prometheus
# offsets a group's evaluations by a hash of (group name, file path), so both
# replicas evaluate at the same millisecond timestamps (with their own values).
cat >"$work/rules.yml" <<'EOF'
groups:
  - name: realworld
    interval: 10s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - record: mode:node_cpu_seconds:rate1m
        expr: sum by (mode) (rate(node_cpu_seconds_total[1m]))
EOF

write_config() {          # write_config REPLICA OWN_ADDR
  cat >"$work/$1.yml" <<EOF
# replica $1 of an HA pair; identical to the other replica except the
# replica external label and the target of job "self".
global:
  scrape_interval: 5s
  scrape_timeout: 4s
  evaluation_interval: 10s
  external_labels:
    cluster: test
    replica: $1
rule_files:
  - $work/rules.yml
scrape_configs:
  # Both replicas scrape both servers: the same targets, the same series labels.
  - job_name: prometheus
    static_configs:
      - targets: ['$ADDR_A', '$ADDR_B']
  - job_name: node
    static_configs:
      - targets: ['$ADDR_N']
  # Each replica also scrapes itself under job "self" (few metrics kept): series
  # whose instance label differs between the replicas, so they never dedup.
  - job_name: self
    static_configs:
      - targets: ['$2']
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'prometheus_build_info|prometheus_tsdb_head_series|process_resident_memory_bytes'
        action: keep
EOF
}
write_config a "$ADDR_A"
write_config b "$ADDR_B"
promtool check config "$work/a.yml" >/dev/null
promtool check config "$work/b.yml" >/dev/null

start_node() {
  prometheus-node-exporter --web.listen-address="$ADDR_N" \
    --collector.disable-defaults --collector.cpu --collector.loadavg \
    --collector.meminfo --collector.time >>"$work/node.log" 2>&1 &
  PID_N=$!
  wait_ready "http://$ADDR_N/metrics" "$PID_N" node
}

start_prom() {            # start_prom REPLICA ADDR; sets PID_<REPLICA>
  prometheus --config.file="$work/$1.yml" --storage.tsdb.path="$work/data_$1" \
    --storage.tsdb.min-block-duration=2m --storage.tsdb.max-block-duration=2m \
    --storage.tsdb.retention.time=1d --web.listen-address="$2" \
    >>"$work/prometheus_$1.log" 2>&1 &
  local pid=$!
  if [[ $1 == a ]]; then PID_A=$pid; else PID_B=$pid; fi
}

wait_ready() {            # wait_ready URL PID NAME
  local i
  for ((i = 0; i < 300; i++)); do
    curl -fsS --noproxy '*' -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { log "$3 exited early; see logs below"; tail -20 "$work"/*.log >&2; exit 1; }
    sleep 0.1
  done
  log "$3 not ready after 30 s"; exit 1
}

nap() {                   # nap SECONDS: a sleep that traps can interrupt
  sleep "$1" & PID_SLEEP=$!
  wait "$PID_SLEEP" || true
  PID_SLEEP=
}

sleep_until() {           # sleep_until MS
  local d=$(($1 - $(now_ms)))
  ((d > 0)) && nap "$(printf '%d.%03d' $((d / 1000)) $((d % 1000)))"
  return 0
}

check_alive() {
  local p
  for p in "$@"; do
    kill -0 "$p" 2>/dev/null || { log "a server died; logs:"; tail -20 "$work"/*.log >&2; exit 1; }
  done
}

ulid_blocks() {           # ulid_blocks DATADIR: "maxTime minTime ulid" of complete blocks
  python3 - "$1" <<'EOF'
import json, os, re, sys
d = sys.argv[1]
for n in sorted(os.listdir(d)):
    p = os.path.join(d, n, "meta.json")
    if re.fullmatch(r"[0-7][0-9A-HJKMNP-TV-Z]{25}", n) and os.path.isfile(p):
        m = json.load(open(p))
        print(m["maxTime"], m["minTime"], n)
EOF
}

T_START=$(now_ms)
start_node
T_NODE_START=$(now_ms)
start_prom a "$ADDR_A"
T_A_START=$(now_ms)
nap 2.5
start_prom b "$ADDR_B"
T_B_START=$(now_ms)
wait_ready "http://$ADDR_A/-/ready" "$PID_A" "replica a"
wait_ready "http://$ADDR_B/-/ready" "$PID_B" "replica b"

B1=$(( (T_A_START + 180000 + W - 1) / W * W ))
DEADLINE=$(( T_START / 1000 + RUN_LIMIT ))
log "B1 = $B1 ($(date -u -d @$((B1 / 1000)) +%H:%M:%S)); done about $(date -u -d @$(((B1 + W + 190000) / 1000)) +%H:%M:%S)"

sleep_until $((B1 - 60000)); check_alive "$PID_A" "$PID_B" "$PID_N"
T_B_STOP=$(now_ms)
log "stopping replica b"
stop_pid "$PID_B" TERM; PID_B=
T_B_STOPPED=$(now_ms)

sleep_until $((B1 + 60000)); check_alive "$PID_A" "$PID_N"
log "starting replica b again"
start_prom b "$ADDR_B"
T_B_RESTART=$(now_ms)
wait_ready "http://$ADDR_B/-/ready" "$PID_B" "replica b"
T_B_READY=$(now_ms)

sleep_until $((B1 + 150000)); check_alive "$PID_A" "$PID_B" "$PID_N"
log "stopping node exporter"
T_N_STOP=$(now_ms)
stop_pid "$PID_N" TERM; PID_N=

sleep_until $((B1 + 210000)); check_alive "$PID_A" "$PID_B"
log "starting node exporter again"
T_N_RESTART=$(now_ms)
start_node

# Wait for both replicas to compact the three windows ending at B1, B1+W, B1+2W.
want="$B1 $((B1 + W)) $((B1 + 2 * W))"
while :; do
  check_alive "$PID_A" "$PID_B" "$PID_N"
  ok=1
  for r in a b; do
    have=$(ulid_blocks "$work/data_$r" | cut -d' ' -f1)
    for t in $want; do grep -qx "$t" <<<"$have" || ok=; done
  done
  [[ -n $ok ]] && break
  if (( $(date +%s) > DEADLINE )); then
    log "timed out waiting for blocks"; for r in a b; do ulid_blocks "$work/data_$r" >&2; done; exit 1
  fi
  nap 5
done
log "blocks complete; stopping servers"
T_END=$(now_ms)
stop_pid "$PID_A" TERM; PID_A=
stop_pid "$PID_B" TERM; PID_B=
stop_pid "$PID_N" TERM; PID_N=

# Copy the blocks of common windows (maxTime <= B1 + 2W), newest first, within budget.
ulid_blocks "$work/data_a" >"$work/blocks_a"
ulid_blocks "$work/data_b" >"$work/blocks_b"
for r in a b; do
  dups=$(cut -d' ' -f1 "$work/blocks_$r" | sort | uniq -d)
  [[ -z $dups ]] || { log "replica $r has several blocks for window(s) $dups"; exit 1; }
done
common=$(comm -12 <(cut -d' ' -f1 "$work/blocks_a" | sort) <(cut -d' ' -f1 "$work/blocks_b" | sort) \
  | awk -v lim=$((B1 + 2 * W)) '$1 <= lim' | sort -rn)
rm -rf "$here/replica_a" "$here/replica_b" "$here/config"
mkdir -p "$here/replica_a" "$here/replica_b" "$here/config"
total=0 n=0
for t in $common; do
  ua=$(awk -v t="$t" '$1 == t {print $3}' "$work/blocks_a")
  ub=$(awk -v t="$t" '$1 == t {print $3}' "$work/blocks_b")
  kb=$(du -sk "$work/data_a/$ua" "$work/data_b/$ub" | awk '{s += $1} END {print s}')
  if ((n >= 3 && total + kb > MAX_KB)); then
    log "skipping window ending $t ($kb KB): over budget"; continue
  fi
  cp -a "$work/data_a/$ua" "$here/replica_a/"
  cp -a "$work/data_b/$ub" "$here/replica_b/"
  total=$((total + kb)) n=$((n + 1))
done
((n >= 3)) || { log "only $n common windows"; exit 1; }
# Configs as used (ports and the work dir path are this run's).
cp "$work/a.yml" "$here/config/replica_a.yml"
cp "$work/b.yml" "$here/config/replica_b.yml"
cp "$work/rules.yml" "$here/config/rules.yml"

cat >"$here/events.json" <<EOF
{
  "comment": "ms timestamps (Unix epoch) of make_fixtures.sh's steps; W = block range",
  "block_range_ms": $W,
  "addr_a": "$ADDR_A", "addr_b": "$ADDR_B", "addr_node": "$ADDR_N",
  "script_start": $T_START,
  "node_start": $T_NODE_START,
  "a_start": $T_A_START,
  "b_start": $T_B_START,
  "B1": $B1,
  "b_stop_sent": $T_B_STOP,
  "b_stopped": $T_B_STOPPED,
  "b_restart": $T_B_RESTART,
  "b_ready": $T_B_READY,
  "node_kill": $T_N_STOP,
  "node_restart": $T_N_RESTART,
  "servers_stop": $T_END
}
EOF
log "copied $n windows, $(du -sh "$here/replica_a" "$here/replica_b" | awk '{print $2 ": " $1}' | paste -sd' ')"
python3 "$here/describe.py" "$here"
du -sh "$here"
