#!/usr/bin/env bash
# Structure checks (part of `make lint`): no import breaks the layers, no import cycle.
# Uses the workplace's tools in ../shared/tools when that folder is there (CI has it);
# without it, says so and checks nothing (the tools are not ours to copy).
set -uo pipefail
cd "$(dirname "$0")/.."
TOOLS=../shared/tools
if [ ! -f "$TOOLS/layers.py" ] || [ ! -f "$TOOLS/cycles.py" ]; then
    echo "lint_structure: $TOOLS not found; layer and cycle checks skipped"
    exit 0
fi
status=0
layers=$(python3 "$TOOLS/layers.py" .)
if [ -n "$layers" ]; then
    echo "lint_structure: imports that break the layers:"
    echo "$layers"
    status=1
fi
cycles=$(python3 "$TOOLS/cycles.py" .)
count=$(echo "$cycles" | sed -n 's/^cycles: \([0-9]*\)$/\1/p' | tail -1)
if [ -z "$count" ]; then
    echo "lint_structure: could not read cycles.py's output:"
    echo "$cycles"
    status=1
elif [ "$count" != "0" ]; then
    echo "lint_structure: import cycles:"
    echo "$cycles"
    status=1
fi
[ $status -eq 0 ] && echo "lint_structure: layers hold, no import cycles"
exit $status
