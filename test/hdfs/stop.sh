#!/usr/bin/env bash
# Stops a cluster started by start.sh and removes its WORKDIR.
#   test/hdfs/stop.sh WORKDIR
set -uo pipefail
work="$1"
[[ -f "$work/pid" ]] || { echo "no $work/pid" >&2; exit 1; }
pid=$(cat "$work/pid")
if kill -0 "$pid" 2>/dev/null; then
  echo shutdown > "$work/ctl" &
  for (( i = 0; i < 300 && $(kill -0 "$pid" 2>/dev/null; echo $?) == 0; i++ )); do sleep 0.1; done
  # Still there: kill its process group (start.sh ran it under setsid).
  kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
fi
[[ -f "$work/holder.pid" ]] && kill "$(cat "$work/holder.pid")" 2>/dev/null
wait 2>/dev/null
rm -rf "$work"
echo stopped
