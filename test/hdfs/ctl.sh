#!/usr/bin/env bash
# Sends one command to a cluster started by start.sh and prints its answer.
#   test/hdfs/ctl.sh WORKDIR stopDataNode 1 | restartDataNode 1 | stopNameNode | restartNameNode | info
set -euo pipefail
work="$1"; shift
n=$(wc -l < "$work/out")
echo "$*" > "$work/ctl"
for (( i = 0; i < 900; i++ )); do
  if (( $(wc -l < "$work/out") > n )); then
    line=$(sed -n "$((n + 1))p" "$work/out")
    echo "$line"
    [[ "$line" == OK* ]]; exit $?
  fi
  sleep 0.1
done
echo "no answer in 90s" >&2; exit 1
