"""Realistic tasks for measuring what an answer costs (issue 26): a title of 30-50 characters,
a 250-character description, a priority and one label. Shared by tests/e2e/test_compact_answers.py
and bench/answer_bytes.py, so the test's bound and the bench's figures are about the same page."""
from __future__ import annotations

TITLES = [
    "Migrate the billing webhook to the new queue", "Fix flaky checkout test on Safari", "Review the onboarding email copy",
    "Export the quarterly revenue report as CSV", "Investigate slow search queries in the admin panel",
    "Document the release process for the mobile app", "Upgrade the payment gateway client library",
    "Triage the customer feedback from last sprint", "Add retries to the shipment importer", "Rename the legacy invoice fields",
]
DESCRIPTION = (
    "The current behaviour confuses customers and support alike: reproduce it on staging, write down the steps, "
    "find the cause in the logs and the code, fix it with a test that fails before the change, and note anything "
    "that needs a follow-up task for the team. "
)[:250]
PRIORITIES = ["low", "normal", "high", "urgent"]
LABELS = ["backend", "frontend", "docs"]


def realistic_task(n: int) -> dict:
    """tasks_create's arguments for the n-th task."""
    return {
        "title": TITLES[n % len(TITLES)], "description": DESCRIPTION, "priority": PRIORITIES[n % len(PRIORITIES)],
        "labels": [LABELS[n % len(LABELS)]],
    }
