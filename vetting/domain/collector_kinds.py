"""The collector kinds a procedure may name, and what each needs from a step.

Kept apart from the collectors themselves so that validating a procedure does not import
Scrapy or Playwright.
"""

from __future__ import annotations

#: collector kind -> the step fields it requires (checked by vetting.domain.procedure).
COLLECTOR_KINDS: dict[str, frozenset[str]] = {
    # Capture pages: the candidate's disclosed profile URLs and any URL list the step names.
    "pages": frozenset({"inputs_or_sources"}),
    # Account discovery: check each username against every site of a manifest.
    "accounts": frozenset({"inputs", "sites"}),
    # Web search through the agency's search backend; results are kept with rank and query.
    "search": frozenset({"queries", "search"}),
}


def check_manifest(data: bytes) -> list[str]:
    """Problems with a site manifest referenced by a step (empty when it is usable)."""
    from spiders.sites import parse_manifest_problems

    return parse_manifest_problems(data)
