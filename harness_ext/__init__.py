"""reportbench: an incident-report generation benchmark for lm-evaluation-harness."""

__version__ = "0.1.0"
