# bash completion for promblock; installed as
# share/bash-completion/completions/promblock (tests/e2e/test_package.py
# checks it against every command's --help).
_promblock() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  local commands="ls dump merge compact verify analyze rewrite backup restore"
  if ((COMP_CWORD == 1)); then
    COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
    return
  fi
  local opts=""
  case ${COMP_WORDS[1]} in
    ls) opts="--json" ;;
    dump) opts="--match --min-time --max-time --format" ;;
    merge) opts="--out --external-label --replica-label --dedup --threads --legacy-chunk-encodings --json" ;;
    compact) opts="--out --external-label --replica-label --dedup --ranges --consistency-delay --delete-delay
                   --retention --concurrency --threads --legacy-chunk-encodings --shard
                   --split-shards --lock-expiry
                   --dry-run --json" ;;
    verify) opts="--deep --json --no-overlaps" ;;
    analyze) opts="--limit --match --json" ;;
    rewrite) opts="--out --delete --drop-label --json" ;;
    backup) opts="--since --level --min-compaction-level" ;;
    restore) opts="--into" ;;
  esac
  case $prev in
    --dedup) COMPREPLY=($(compgen -W "penalty chain none" -- "$cur")); return ;;
    --format) COMPREPLY=($(compgen -W "text openmetrics seriesjson" -- "$cur")); return ;;
    --out | --into | --scratch-dir) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --objstore.config-file | --metrics-file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --match | --min-time | --max-time | --replica-label | --threads | --ranges | \
      --consistency-delay | --delete-delay | --retention | --concurrency | --limit | \
      --delete | --drop-label | --since | --level | --min-compaction-level | --shard | \
      --split-shards | --lock-expiry | --external-label | --objstore.config | \
      --pushgateway | --pushgateway-job)
      return ;;  # a value, not a file
  esac
  if [[ $cur == -* ]]; then
    # The global options are taken after the command too.
    COMPREPLY=($(compgen -W "$opts --help --quiet --log-format --objstore.config-file
                             --objstore.config --scratch-dir --metrics-file --pushgateway
                             --pushgateway-job --pushgateway-required" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _promblock promblock
