#!/usr/bin/env bash
# Installs the test-only HDFS (MiniDFSCluster from Maven Central) for
# imageflight's integration tests: jars into test/hdfs/target/lib, the
# launcher into test/hdfs/target/classes. Idempotent; a second run that finds
# everything in place takes well under a second.
#
# Needs: Java 17+ (javac) and Maven 3 (network access to Maven Central only on
# the first run; jars are cached in ~/.m2 as usual).
# Env: HADOOP_VERSION (default 3.5.0; 3.4.x works as a fallback).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
ver="${HADOOP_VERSION:-3.5.0}"
lib="target/lib"
stamp="$lib/.hadoop-$ver"
mkdir -p target
# Several test packages may run this at once on a fresh machine.
exec 9>target/.setup.lock
flock 9

if [[ ! -f "$stamp" || pom.xml -nt "$stamp" ]]; then
  command -v mvn >/dev/null || { echo "setup.sh: mvn not found (apt-get install -y maven)" >&2; exit 1; }
  rm -rf "$lib"
  mvn -B -q -Dhadoop.version="$ver" dependency:copy-dependencies \
    -DoutputDirectory="$lib" -DincludeScope=runtime
  touch "$stamp"
fi

srcs=(src/main/java/imageflight/hdfstest/*.java)
cls="target/classes/imageflight/hdfstest/MiniHDFS.class"
stale=0
[[ -f "$cls" && "$stamp" -ot "$cls" && src/main/resources/log4j.properties -ot "$cls" ]] || stale=1
for s in "${srcs[@]}"; do [[ "$s" -nt "$cls" ]] && stale=1; done
if (( stale )); then
  command -v javac >/dev/null || { echo "setup.sh: javac not found (apt-get install -y openjdk-17-jdk-headless)" >&2; exit 1; }
  mkdir -p target/classes
  rm -rf target/classes/imageflight
  javac -nowarn -d target/classes -cp "$lib/*" "${srcs[@]}"
  cp src/main/resources/log4j.properties target/classes/
fi

# The classpath the launcher runs with, for start.sh and pkg/hdfstest.
echo "$here/target/classes:$here/$lib/*" > target/classpath
