#!/usr/bin/env bash
# Rewrites core/proto/testdata/mesos-v1-facts.tsv from Mesos's published jar
# (org.apache.mesos:mesos:1.11.0 on Maven Central) and Corral's .proto files.
# Run it after adding Mesos messages or fields to core/proto; then read the
# diff: every changed line is a fact about Mesos that Corral now claims.
# PYTHON names an interpreter with the protobuf package (build/venv/bin/python).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mvn -q dependency:get -Dartifact=org.apache.mesos:mesos:1.11.0 -Dtransitive=false
mvn -q dependency:get -Dartifact=com.google.protobuf:protobuf-java:3.5.1 -Dtransitive=false
repo=$(mvn -q help:evaluate -Dexpression=settings.localRepository -DforceStdout)
cp="$repo/org/apache/mesos/mesos/1.11.0/mesos-1.11.0.jar:$repo/com/google/protobuf/protobuf-java/3.5.1/protobuf-java-3.5.1.jar"
javac -d "$work" -cp "$cp" "$root/scripts/mesos-facts/DumpMesosDescriptors.java"
java -cp "$cp:$work" DumpMesosDescriptors "$work/mesos.pb"
(cd "$root/core/proto" && protoc -I. --include_imports --descriptor_set_out="$work/corral.pb" corral/v1/*.proto)
"${PYTHON:-python3}" "$root/scripts/mesos-facts/facts.py" "$work/mesos.pb" "$work/corral.pb" > "$root/core/proto/testdata/mesos-v1-facts.tsv"
