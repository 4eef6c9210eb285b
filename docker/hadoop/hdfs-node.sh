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

# GET http://127.0.0.1:PORT/PATH with bash alone (no curl in slim images).
http_get() {
  local host=$1 port=$2 path=$3
  exec 3<>"/dev/tcp/$host/$port"
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$host" >&3
  cat <&3
  exec 3<&-
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
      if hdfs dfs -test -d "$dest"; then
        echo "load: $dest already there"
        continue
      fi
      hdfs dfs -mkdir -p "$(dirname "$dest")"
      hdfs dfs -D "dfs.replication=$repl" -put -t 8 "$src" "$dest.tmp"
      hdfs dfs -mv "$dest.tmp" "$dest"
      echo "load: $src -> $dest (replication $repl)"
    done
    ;;
  health-namenode)
    http_get 127.0.0.1 9870 '/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo' | grep -q '"Safemode" *: *""'
    ;;
  health-datanode)
    http_get 127.0.0.1 9864 '/jmx?qry=Hadoop:service=DataNode,name=DataNodeInfo' | grep -q 'RUNNING'
    ;;
  *)
    sed -n '2,20p' "$0" >&2
    exit 2
    ;;
esac
