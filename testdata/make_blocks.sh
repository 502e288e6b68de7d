#!/bin/sh
# Rebuilds the committed test blocks under testdata/blocks/ from the OpenMetrics
# sources, with the real Prometheus tools (promtool/prometheus 2.42 in PATH).
#
#   testdata/make_blocks.sh            all sets
#   testdata/make_blocks.sh basic long only these sets (basic long replica_a replica_b stale)
#
# The .om sources are deterministic (gen_om.py); block ULIDs are not (promtool
# and Prometheus draw them at random), so a rebuild changes directory names.
# om/basic.om is committed; long/replica_*.om are regenerated here into a
# temporary directory (they are large and byte-identical on every run).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
sets=${*:-basic long replica_a replica_b stale}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

python3 gen_om.py basic om/basic.om
for set in $sets; do
  case $set in
    basic) src=om/basic.om ;;
    long|replica_a|replica_b)
      python3 gen_om.py "$set" "$tmp/$set.om"
      src=$tmp/$set.om ;;
    stale)
      # OpenMetrics cannot express a stale marker (promtool canonicalises every
      # NaN to 0x7ff8000000000001), so this block is written by a real
      # Prometheus server from remote-write samples, then head-compacted.
      rm -rf "$tmp/stale"
      python3 make_stale_block.py "$tmp/stale"
      rm -rf blocks/stale
      mkdir -p blocks
      mv "$tmp/stale" blocks/stale
      continue ;;
    *) echo "unknown set: $set" >&2; exit 2 ;;
  esac
  rm -rf "blocks/$set" "$tmp/out"
  mkdir -p "$tmp/out" blocks
  promtool tsdb create-blocks-from openmetrics --quiet "$src" "$tmp/out"
  mv "$tmp/out" "blocks/$set"
  echo "blocks/$set: $(ls "blocks/$set" | wc -l) block(s)"
done
du -sh blocks
