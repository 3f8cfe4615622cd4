"""What the findings report displays of an item, computed one way for the decision and the report.

The decision event records a commitment to each displayed value (see ``vetting.review.validation``),
and the report recomputes the same values to show them; ``vet report verify-receipts`` then
checks what the report shows against the event. Both sides must compute the display with this
one function, so it lives apart from both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from vetting.domain.models import Assessment, Item
from vetting.screening.firewall import mask_protected

EXCERPT_CHARS = 600
#: The artifact kinds whose sha256 the report shows (and the decision binds).
SHOWN_ARTIFACTS = ("screenshot", "response")


@dataclass(frozen=True)
class Displayed:
    """An item's values as the findings report shows them (masked where the firewall says)."""

    url: str
    kind: str
    captured_at: str  # ISO 8601
    title: str
    excerpt: str
    masked_count: int
    identity_level: str
    identifiers_matched: list[str]
    artifacts: list[dict[str, str]]  # kind, path, sha256


def excerpt_window(text: str, spans: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """A window of the text around the first kept span (or its start), and spans shifted into it."""
    if not spans:
        return text[:EXCERPT_CHARS], []
    start = max(0, spans[0][0] - EXCERPT_CHARS // 3)
    line_start = text.rfind("\n", 0, start)  # begin at a line, not mid-word
    if line_start != -1 and spans[0][0] - line_start < EXCERPT_CHARS:
        start = line_start + 1
    end = min(len(text), start + EXCERPT_CHARS)
    line_end = text.rfind("\n", spans[-1][1], end)
    if line_end > spans[0][1]:
        end = line_end
    inside = [(a - start, b - start) for a, b in spans if a >= start and b <= end]
    return text[start:end], inside


def displayed(item: Item, assessment: Assessment | None, found: list[str], protected_cats: set[str]) -> Displayed:
    """The displayed values of ``item`` validated with the categories ``found``."""
    flags = json.loads(assessment.flags_json) if assessment else []
    found_set = set(found)
    # Keep only the words that ARE the conduct found (bias speech); everything else is masked.
    keep = [(f["start"], f["end"]) for f in flags if f["category_id"] in found_set
            and f["category_id"] in protected_cats]
    focus = sorted([(f["start"], f["end"]) for f in flags if f["category_id"] in found_set] or keep)
    window, _ = excerpt_window(item.text, focus)
    offset = item.text.find(window) if window else 0
    keep_in_window = [(a - offset, b - offset) for a, b in keep if a >= offset and b <= offset + len(window)]
    masked = mask_protected(window, keep_spans=keep_in_window)
    title = mask_protected(item.title, keep_spans=[])
    matched = sorted({m["kind"] for m in json.loads(assessment.matches_json)}) if assessment else []
    return Displayed(
        url=item.final_url or item.url, kind=item.kind, captured_at=item.captured_at.isoformat(),
        title=title.text, excerpt=masked.text,
        masked_count=len(masked.masks) + len(title.masks),
        identity_level=assessment.identity_level if assessment else "not_attributable",
        identifiers_matched=matched,
        artifacts=[{"kind": a["kind"], "path": a["path"], "sha256": a["sha256"]} for a in item.artifacts()
                   if a["kind"] in SHOWN_ARTIFACTS])
