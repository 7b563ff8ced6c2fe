#!/bin/sh
# Regenerates the diagrams shown in the README. Run from anywhere:
#   sh docs/images/render.sh
# Needs Graphviz's `dot` (apt-get install graphviz / brew install graphviz).
set -e
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python}"
run() { "$PY" -c 'import sys; from archcalc.cli import main; sys.argv[0] = "archcalc"; main()' "$@"; }
run draw specs/alexnet.yaml -o docs/images/alexnet.svg --params
run draw specs/alexnet.yaml -o docs/images/alexnet.png --params
run draw specs/resnet50.yaml -o docs/images/resnet50.svg
