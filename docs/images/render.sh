#!/bin/sh
# Regenerates the diagrams shown in the README. Run from anywhere:
#   sh docs/images/render.sh
# Needs Graphviz's `dot` (apt-get install graphviz / brew install graphviz) and, for the GIF and
# the cost plot, the plot extra (pip install '.[plot]').
set -e
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python}"
run() { "$PY" -c 'import sys; from archcalc.cli import main; sys.argv[0] = "archcalc"; main()' "$@"; }
run draw specs/alexnet.yaml -o docs/images/alexnet.svg --params
run draw specs/alexnet.yaml -o docs/images/alexnet.png --params
run draw specs/resnet50.yaml -o docs/images/resnet50.svg
run draw specs/resnet50.yaml -o docs/images/resnet50.png
run draw specs/unet.yaml -o docs/images/unet.svg
run animate conv 7x7 --kernel 3 --stride 2 --pad 1 -o docs/images/conv.svg
run animate conv 7x7 --kernel 3 --stride 3 -o docs/images/conv-misfit.gif
run plot specs/resnet50.yaml --vs input 32:512 -o docs/images/resnet50-cost.svg
