"""pcclip: finetune CLIP to reason about pairwise differences (PC-CLIP), and study it."""

__version__ = "0.1.0"
