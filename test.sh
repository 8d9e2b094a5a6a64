#!/usr/bin/env bash
# Second command: the whole test suite. Installs and builds what it needs first, so it works on a
# fresh clone; integration tests start their own berthd on temporary roots and sockets.
set -uo pipefail
top=$(cd "$(dirname "$0")" && pwd)
cd "$top"
scripts/install-deps || exit 1
scripts/build || exit 1
export BERTH_BIN_DIR="$top/bin" BERTH_RUNC_PATH="$top/bin/berth-runc"
# The runtime conformance suite's probe, which scripts/build publishes beside the other programs' builds.
export BERTH_PROBE_PATH="$top/artifacts/publish/Berth.Conformance.Probe/berth-conformance-probe"
results="$top/artifacts/test-results"
rm -rf "$results"; mkdir -p "$results"
status=0
for proj in src/*.Tests/*.Tests.csproj; do
  name=$(basename "$proj" .csproj)
  echo "=== $name"
  dotnet test "$proj" --nologo -v quiet --logger "trx;LogFileName=$name.trx" --results-directory "$results" || status=1
done
# One closing line over all projects.
python3 - "$results" <<'PY'
import sys, glob, xml.etree.ElementTree as ET
p = f = s = 0
for path in glob.glob(sys.argv[1] + "/*.trx"):
    c = ET.parse(path).getroot().find(".//{*}Counters")
    if c is None: continue
    p += int(c.get("passed", 0)); f += int(c.get("failed", 0)) + int(c.get("error", 0)); s += int(c.get("notExecuted", 0))
print(f"{p} passed, {f} failed, {s} skipped")
PY
exit $status
