"""The parts of a case that metrics read: shared by the metrics and the harness's case loader.

It lives in `metrics/` because `metrics/` imports nothing from the harness; the harness's
case validation (`reportbench.cases`) builds its required columns from these names.
"""

from __future__ import annotations

# The seven key fields of an incident, in prompt order.
KEY_FIELDS = ("what", "when", "where", "who", "how", "why", "contingency_actions")
TITLE_FIELD = "report_name"  # the reference title
REFERENCE_FIELD = "event_description"  # the reference report
