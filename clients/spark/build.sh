#!/usr/bin/env bash
# Builds the connector jars, one per Spark line, into target/spark<line>_<scala>/, and for
# the tests writes the classpath of a real Spark of each line (spark-sql + spark-mllib from
# Maven Central) to sparkdeps/target/cp-<line>_<scala>.txt.
#
# Maven runs offline first: after the first resolve (which downloads Spark, grpc-java and
# the build plugins into ~/.m2) nothing is fetched again. A jar newer than every source file
# is not rebuilt. Needs Java 17 (javac) and Maven 3.
#
# Usage: clients/spark/build.sh [LINE...]   LINE: 3.5_2.12 3.5_2.13 4_2.13 (default: all)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
mkdir -p target
exec 9>target/.build.lock
flock 9

version=0.1.0
declare -A profile=([3.5_2.12]=spark35-212 [3.5_2.13]=spark35-213 [4_2.13]=spark40-213)
lines=("$@")
[ ${#lines[@]} -gt 0 ] || lines=(3.5_2.12 3.5_2.13 4_2.13)

# mvn ARGS: offline when everything is in ~/.m2, else online (first run on a machine).
mvn_() {
  mvn -B -q -o -s "$here/maven-settings.xml" "$@" >/dev/null 2>&1 || mvn -B -q -s "$here/maven-settings.xml" "$@"
}

for line in "${lines[@]}"; do
  p=${profile[$line]:?unknown line $line (3.5_2.12, 3.5_2.13 or 4_2.13)}
  jar="target/spark$line/imageflight-spark-$line-$version.jar"
  if [[ ! -f "$jar" ]] || [[ -n "$(find pom.xml src -newer "$jar" -print -quit)" ]]; then
    mvn_ -P "$p" package
  fi
  cp="sparkdeps/target/cp-$line.txt"
  if [[ ! -s "$cp" || sparkdeps/pom.xml -nt "$cp" ]]; then
    (cd sparkdeps && mvn_ -P "$p" dependency:build-classpath -Dmdep.outputFile="target/cp-$line.txt")
    touch "$cp" # Maven leaves an unchanged file as it was
  fi
  echo "$here/$jar"
done
