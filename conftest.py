"""Puts the work tree root on sys.path so ``import archcalc`` works without installing."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
