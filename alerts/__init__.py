"""Alert rules and the alarm lifecycle (``models.py``, ``rules.py``, ``alarms.py``,
``selectors.py``, ``api/``); the rule evaluation on ingested batches, notifications (email, SMS,
webhook) and scheduled CSV report emails come with the next parts of the alerting capability."""
