#!/usr/bin/env bash
# The client generators test/integration/generated-client.test.ts runs, pinned, into .cache/clients:
# openapi-python-client and mypy (PyPI, in a virtualenv) and openapi-generator's CLI (Maven
# Central). Does nothing when they are there; fails (never skips) when it cannot install them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY_CLIENT=0.29.1
MYPY=1.19.1
JAVA_GENERATOR=7.27.0
dir=.cache/clients
mkdir -p "$dir"
marker="$dir/py/installed-$PY_CLIENT-$MYPY"
if [ ! -f "$marker" ]; then
  rm -rf "$dir/py"
  python3 -m venv "$dir/py"
  "$dir/py/bin/pip" install -q --disable-pip-version-check "openapi-python-client==$PY_CLIENT" "mypy==$MYPY"
  touch "$marker"
fi
jar="$dir/openapi-generator-cli-$JAVA_GENERATOR.jar"
if [ ! -f "$jar" ]; then
  mvn -q -B -Dmaven.repo.local="$dir/m2" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
    "-Dartifact=org.openapitools:openapi-generator-cli:$JAVA_GENERATOR" "-DoutputDirectory=$dir"
fi
echo "$jar"
