"""lm-eval task configs for reportbench; the folder is passed to ``--include_path``."""
