#!/bin/bash
# Entry point of the HDFS containers of docker/docker-compose.yml; works with
# Apache's image (apache/hadoop:3) and with the test image of test/docker/
# (both put `hdfs` on PATH). The configuration is ./core-site.xml and
# ./hdfs-site.xml beside this script, mounted at $HADOOP_CONF_DIR.
#
#   hdfs-node.sh namenode            format on first start, then run the NameNode
#   hdfs-node.sh datanode HOST       run a DataNode that calls itself HOST (the
#                                    name imageflight workers give as --host)
#   hdfs-node.sh load SRC DEST:R...  once the NameNode sees 2 live DataNodes, put the
#                                    folder SRC at each HDFS path DEST that does not
#                                    exist yet, with replication R (R=1 written from
#                                    a DataNode's host: every block lands on that
#                                    DataNode, which makes locality observable)
#   hdfs-node.sh health-namenode     healthy when out of safe mode
#   hdfs-node.sh health-datanode     healthy when registered with the NameNode
set -euo pipefail

# METHOD http://HOST:PORT/PATH with bash alone (no curl in slim images).
http() {
  local method=$1 host=$2 port=$3 path=$4
  exec 3<>"/dev/tcp/$host/$port"
  printf '%s %s HTTP/1.0\r\nHost: %s\r\nContent-Length: 0\r\n\r\n' "$method" "$path" "$host" >&3
  cat <&3
  exec 3<&-
}
http_get() { http GET "$@"; }

# WebHDFS on the NameNode (one JVM less per step than `hdfs dfs`).
webhdfs() {
  local method=$1 path=$2 op=$3
  http "$method" namenode 9870 "/webhdfs/v1$path?op=$op&user.name=${HADOOP_USER_NAME:-$(id -un)}"
}

live_datanodes() {
  http_get namenode 9870 '/jmx?qry=Hadoop:service=NameNode,name=FSNamesystemState' 2>/dev/null |
    sed -n 's/.*"NumLiveDataNodes" *: *\([0-9]*\).*/\1/p'
}

case "${1:-}" in
  namenode)
    if [ ! -d /tmp/hadoop-data/name/current ]; then
      hdfs namenode -format -nonInteractive -force
    fi
    exec hdfs namenode
    ;;
  datanode)
    exec hdfs datanode -D "dfs.datanode.hostname=${2:?datanode HOST}"
    ;;
  load)
    src=${2:?load SRC DEST:R...}
    shift 2
    for i in $(seq 1 120); do
      [ "$(live_datanodes)" = 2 ] && break
      [ "$i" = 120 ] && { echo "load: the NameNode did not see 2 live DataNodes" >&2; exit 1; }
      sleep 1
    done
    for target in "$@"; do
      dest=${target%:*} repl=${target##*:}
      if [[ "$(webhdfs GET "$dest" GETFILESTATUS)" == *'"DIRECTORY"'* ]]; then
        echo "load: $dest already there"
        continue
      fi
      webhdfs DELETE "$dest.tmp" 'DELETE&recursive=true' >/dev/null   # an interrupted load
      [[ "$(webhdfs PUT "$(dirname "$dest")" MKDIRS)" == *true* ]] || { echo "load: mkdir failed" >&2; exit 1; }
      hdfs dfs -D "dfs.replication=$repl" -put -t 8 "$src" "$dest.tmp"
      [[ "$(webhdfs PUT "$dest.tmp" "RENAME&destination=$dest")" == *true* ]] || { echo "load: rename failed" >&2; exit 1; }
      echo "load: $src -> $dest (replication $repl)"
    done
    ;;
  health-namenode)
    [[ "$(http_get 127.0.0.1 9870 '/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo')" =~ \"Safemode\"\ *:\ *\"\" ]]
    ;;
  health-datanode)
    [[ "$(http_get 127.0.0.1 9864 '/jmx?qry=Hadoop:service=DataNode,name=DataNodeInfo')" == *RUNNING* ]]
    ;;
  *)
    sed -n '2,20p' "$0" >&2
    exit 2
    ;;
esac
