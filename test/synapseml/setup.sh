#!/usr/bin/env bash
# Installs the transforms oracle: the real SynapseML 1.1.0 ImageTransformer
# on Spark 3.5 (Java 17). Idempotent, and offline after the first run.
#   .venv/                 PyPI pyspark==3.5.9 (Spark 3.5.9's own jars in
#                          .venv/lib/python*/site-packages/pyspark/jars) and
#                          synapseml==1.1.0 (the Python wrapper)
#   target/lib/            the SynapseML jars from Maven Central with the
#                          runtime dependencies Spark does not bundle,
#                          org.openpnp:opencv:3.2.0-1 (OpenCV 3.2.0) among them
#   target/spark-jars      one line: the path of Spark 3.5.9's jar directory
#   target/synapseml-jars  one line: target/lib's jars, comma separated (spark.jars)
# Needs python3 (venv), Java 17 and Maven 3. Network only on the first run
# (PyPI, Maven Central; jars are cached in ~/.m2 as usual).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
py="${PYTHON:-python3}"
mkdir -p target
exec 9>target/.setup.lock
flock 9

venv="$here/.venv"
want="pyspark==3.5.9 synapseml==1.1.0 numpy"
if [[ ! -x "$venv/bin/python" || "$(cat "$venv/.stamp" 2>/dev/null)" != "$want" ]]; then
  rm -rf "$venv"
  "$py" -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $want
  echo "$want" > "$venv/.stamp"
fi

lib="target/lib"
if [[ ! -f "$lib/.stamp" || pom.xml -nt "$lib/.stamp" ]]; then
  command -v mvn >/dev/null || { echo "setup.sh: mvn not found (apt-get install -y maven)" >&2; exit 1; }
  rm -rf "$lib"
  # Spark, Scala and logging come from pyspark's own jars; older copies of
  # the commons/http jars Spark already bundles would shadow its newer ones.
  mvn -B -q dependency:copy-dependencies -DoutputDirectory="$lib" -DincludeScope=runtime \
    -DexcludeGroupIds=org.scala-lang,org.slf4j,org.apache.spark \
    -DexcludeArtifactIds=commons-lang,commons-codec,commons-logging,httpclient,httpcore,xz
  touch "$lib/.stamp"
fi

"$venv/bin/python" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))' > target/spark-jars
ls "$here/$lib"/*.jar | paste -sd, > target/synapseml-jars
