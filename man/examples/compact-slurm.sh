#!/bin/sh
# promblock compact as a Slurm job array: task I of N takes the groups whose
# hash mod N is I (--shard I/N). Submit with `sbatch compact-slurm.sh`; the
# tasks need no coordination (group locks in the shared dir keep them apart)
# and a task that dies is simply run again.
#SBATCH --job-name=promblock-compact
#SBATCH --array=0-3
#SBATCH --cpus-per-task=4
#SBATCH --mem=2G
#SBATCH --time=02:00:00
set -eu
SHARED=${SHARED:-/mnt/shared}
SOURCES=${SOURCES:-/mnt/prom-a /mnt/prom-b}
: "${SLURM_ARRAY_TASK_ID:?submit with sbatch (a job array)}"
: "${SLURM_ARRAY_TASK_COUNT:?submit with sbatch (a job array)}"
# SOURCES is a list: word splitting wanted.
# shellcheck disable=SC2086
exec promblock compact --shard "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT" \
  --threads "${SLURM_CPUS_PER_TASK:-1}" --replica-label replica --out "$SHARED" $SOURCES
