"""pcclip: finetune CLIP to reason about pairwise differences (PC-CLIP), and study it."""

import os

# With OpenMP's default busy-waiting, every small op costs milliseconds on a 2-core machine, and a
# second thread slows small models down ~20x; passive waiting makes 2 threads a gain (measured in
# benchmarks/RESULTS.md). It must be set before torch starts its thread pool; a user's value wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
