"""What a metric key may be. Devices own the metric definitions; ingestion refuses any other key
with the same rule. Pure: no Django, so the pure payload parser can import it."""

import re

# 1-64 letters, digits, _ . - starting with a letter or digit. Anchored with \A and \Z, not ^ and
# $: `$` also matches before a trailing newline, which would let "temp\n" through `match`.
METRIC_KEY = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}\Z")


def is_metric_key(key: str) -> bool:
    """Whether ``key`` may name a metric."""
    return METRIC_KEY.match(key) is not None
