#!/usr/bin/env bash
# Starts the test HDFS (MiniDFSCluster: 1 NameNode + N DataNodes in one JVM,
# 127.0.0.1 only, free ports) in the background and prints its addresses.
#
#   test/hdfs/start.sh [-n DATANODES] [-r REPLICATION] [-w WORKDIR] [-t TIMEOUT_S]
#                      [-s authentication|integrity|privacy] [-D key=value]...
#   test/hdfs/ctl.sh WORKDIR stopDataNode 1     # also restartDataNode I, stopNameNode,
#                                               # restartNameNode, info, protection P [SUITES]
#   test/hdfs/stop.sh WORKDIR                   # shuts down, removes WORKDIR
#
# WORKDIR (default: a new mktemp dir, printed) gets: info.json (the READY
# line: nameNode, http, dataNodes), conf/{core,hdfs}-site.xml for clients
# (HADOOP_CONF_DIR), minihdfs.log, pid. Go tests use pkg/hdfstest instead.
# -s starts a Kerberos-secured cluster (KDC in the JVM); its krb5.conf and
# keytabs are under WORKDIR/data/kerberos, listed in info.json.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dn=2 repl="" work="" timeout=120 extra=()
while getopts "n:r:w:t:s:D:" o; do
  case "$o" in
    n) dn="$OPTARG" ;; r) repl="$OPTARG" ;; w) work="$OPTARG" ;; t) timeout="$OPTARG" ;;
    s) extra+=(-secure "$OPTARG") ;;
    D) extra+=(-D "$OPTARG") ;;
    *) sed -n '2,18p' "$0" >&2; exit 2 ;;
  esac
done
[[ -n "$repl" ]] || repl=$(( dn < 3 ? dn : 3 ))
"$here/setup.sh"
[[ -n "$work" ]] || work="$(mktemp -d /tmp/imageflight-hdfs-XXXXXX)"
mkdir -p "$work/conf"
work="$(cd "$work" && pwd)"
rm -f "$work/ctl" "$work/out"
mkfifo "$work/ctl"
# Keep the control fifo open for writing so the JVM sees EOF (and shuts
# down) only when stop.sh closes it.
sleep infinity > "$work/ctl" &
echo $! > "$work/holder.pid"
setsid java -Djava.net.preferIPv4Stack=true -XX:+UseSerialGC \
  -cp "$(cat "$here/target/classpath")" imageflight.hdfstest.MiniHDFS \
  -basedir "$work/data" -datanodes "$dn" -replication "$repl" \
  -writeConfig "$work/conf/hdfs-site.xml" "${extra[@]}" \
  < "$work/ctl" > "$work/out" 2> "$work/minihdfs.log" &
echo $! > "$work/pid"
for (( i = 0; i < timeout * 10; i++ )); do
  if grep -q '^READY ' "$work/out" 2>/dev/null; then
    sed -n 's/^READY //p' "$work/out" | head -1 > "$work/info.json"
    nn=$(sed -n 's/.*"nameNode":"\([^"]*\)".*/\1/p' "$work/info.json")
    printf '<?xml version="1.0"?>\n<configuration>\n  <property><name>fs.defaultFS</name><value>hdfs://%s</value></property>\n</configuration>\n' "$nn" > "$work/conf/core-site.xml"
    echo "WORKDIR=$work"
    echo "INFO=$(cat "$work/info.json")"
    exit 0
  fi
  if grep -q '^FAILED ' "$work/out" 2>/dev/null || ! kill -0 "$(cat "$work/pid")" 2>/dev/null; then
    echo "MiniDFSCluster failed to start: $(cat "$work/out")" >&2
    tail -40 "$work/minihdfs.log" >&2
    "$here/stop.sh" "$work" >/dev/null 2>&1 || true
    exit 1
  fi
  sleep 0.1
done
echo "MiniDFSCluster not ready after ${timeout}s" >&2
tail -40 "$work/minihdfs.log" >&2
"$here/stop.sh" "$work" >/dev/null 2>&1 || true
exit 1
