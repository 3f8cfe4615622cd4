"""The written process (policy 261-1 IV.B.8.e) as a validated, fingerprinted procedure.

A procedure file is what a commander reads and approves. Its fingerprint is the sha256 of a
canonical form, so that reformatting the YAML, reordering mapping keys or re-wrapping prose
does not change it, while any change of meaning (a step, an input, a limit, a rule, the
content of a referenced site manifest) does. Cases run under a fingerprint, never under a
file name, which is what makes uniformity (IV.B.8.c) checkable.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from string import Formatter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from spiders.sites import MAX_MANIFEST_BYTES
from vetting.domain.collector_kinds import COLLECTOR_KINDS
from vetting.domain.yamlsource import (
    InputError,
    LocatedDocument,
    Problem,
    clip,
    dotted,
    load_yaml_text,
    read_bytes_file,
    read_text_file,
    validate_model,
)
from vetting.screening.leads import check_categories, screening_categories

#: Largest site manifest a step may reference (WhatsMyName's whole list is about 0.5 MB).

#: Candidate identifiers a procedure may template its inputs from.
IDENTIFIERS = (
    "full_name", "aliases", "date_of_birth", "city", "state",
    "emails", "phones", "usernames", "profile_urls",
)
#: Identifiers holding several values: a template naming one yields one input per value.
LIST_IDENTIFIERS = {"aliases", "emails", "phones", "usernames", "profile_urls"}

IDENTITY_LEVELS = ("not_attributable", "possible", "probable", "confirmed")
#: The levels a procedure may set as its minimum: never below "probable".
MIN_IDENTITY_ALLOWED = ("probable", "confirmed")
SLUG = r"^[a-z0-9][a-z0-9._-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(_Strict):
    """How gently the collectors treat each site."""

    delay_seconds: float = Field(1.0, ge=0, le=60)
    concurrency_per_domain: int = Field(2, ge=1, le=16)
    concurrency_total: int = Field(16, ge=1, le=256)


class Limits(_Strict):
    """Caps that bound every request, whatever the page does."""

    max_bytes: int = Field(5_000_000, ge=1_000, le=200_000_000)
    timeout_seconds: float = Field(30, gt=0, le=600)
    max_redirects: int = Field(5, ge=0, le=20)


class SearchBackend(_Strict):
    """The web-search service, e.g. an agency's own SearXNG instance."""

    backend: Literal["searxng"] = "searxng"
    url: str

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("must be an http(s) URL")
        return v


class Settings(_Strict):
    """Procedure-wide settings; every candidate's case runs under the same ones."""

    lookback_years: int = Field(7, ge=1, le=50)
    # Older items stay out of findings unless the written process says otherwise.
    findings_outside_lookback: bool = False
    network: Literal["public", "loopback"] = "public"
    min_identity: str = "confirmed"
    user_agent: str = Field(min_length=8)
    contact: str = Field(min_length=3)
    rate_limit: RateLimit = RateLimit()
    limits: Limits = Limits()
    retries: int = Field(2, ge=0, le=5)
    allow_domains: list[str] = []
    deny_domains: list[str] = []
    search: SearchBackend | None = None

    @field_validator("min_identity")
    @classmethod
    def _floor(cls, v: str) -> str:
        # Policy floor (invariant 3): no written process may let a weaker attribution than
        # "probable" be validated as the candidate's.
        if v not in MIN_IDENTITY_ALLOWED:
            raise ValueError(f"cannot be {v!r}: the minimum identity level is at least 'probable' "
                             f"(allowed: {', '.join(MIN_IDENTITY_ALLOWED)}); no procedure can lower this floor")
        return v

    @field_validator("user_agent")
    @classmethod
    def _honest(cls, v: str) -> str:
        if not re.search(r"https?://|@", v):
            raise ValueError("must name a contact URL or e-mail so site operators can reach the agency")
        if re.search(r"Mozilla|Chrome|Safari|Firefox|Edg/", v):
            raise ValueError("must be the agency's own honest User-Agent, not a browser disguise")
        return v


class StepLimits(_Strict):
    """Per-step bounds: how much one step may collect."""

    max_pages: int = Field(50, ge=1, le=10_000)
    max_depth: int = Field(0, ge=0, le=3)
    timeout_seconds: float = Field(600, gt=0, le=7200)


class Step(_Strict):
    """One step of the written process: what is searched, why, and under which section."""

    id: str = Field(pattern=SLUG)
    title: str = Field(min_length=3)
    purpose: str = Field(min_length=20)
    collector: str
    policy: str = Field(min_length=3)
    inputs: list[str] = []
    sources: list[str] = []
    queries: list[str] = []
    sites: str | None = None
    limits: StepLimits = StepLimits()

    @field_validator("inputs", "sources", "queries", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("collector")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in COLLECTOR_KINDS:
            raise ValueError(f"unknown collector {v!r}; known: {', '.join(sorted(COLLECTOR_KINDS))}")
        return v

    @model_validator(mode="after")
    def _depth_is_followed(self) -> Step:
        # a setting nothing reads is a defect: only the pages collector follows links
        if self.limits.max_depth and self.collector != "pages":
            raise ValueError(f"limits.max_depth: only a pages step follows links; "
                             f"a {self.collector} step must leave it at 0")
        return self


class Rule(_Strict):
    """A screening rule: terms, phrases and patterns that raise a lead, with exceptions."""

    id: str = Field(pattern=SLUG)
    terms: list[str] = []
    patterns: list[str] = []
    unless: list[str] = []

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, v: list[str]) -> list[str]:
        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from None
        return v


class Category(_Strict):
    """A review category: conduct the policy names, screened for as leads, never verdicts."""

    id: str = Field(pattern=SLUG)
    title: str = Field(min_length=3)
    policy: str = Field(min_length=3)
    description: str = ""
    requires_discredit: bool = False
    protected_conduct: bool = False
    rules: list[Rule] = Field(min_length=1)


class Procedure(_Strict):
    """A whole written process, as approved by a commander."""

    id: str = Field(pattern=SLUG)
    title: str = Field(min_length=3)
    version: int = Field(ge=1, le=2_147_483_647)  # a 32-bit INTEGER column on PostgreSQL
    author: str = Field(min_length=2)
    policy: list[str] = Field(min_length=1)
    description: str = ""
    identifiers: list[str] = Field(min_length=1)
    settings: Settings
    steps: list[Step] = Field(min_length=1)
    categories: list[Category] = []

    @field_validator("identifiers")
    @classmethod
    def _known_identifiers(cls, v: list[str]) -> list[str]:
        unknown = [i for i in v if i not in IDENTIFIERS]
        if unknown:
            raise ValueError(f"unknown identifier(s) {unknown}; known: {', '.join(IDENTIFIERS)}")
        return v

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)


#: Fields whose text is prose for people: whitespace is folded before fingerprinting.
PROSE_FIELDS = {"title", "purpose", "description"}

POLITICAL_WORDS = re.compile(r"\b(politic\w*|partisan|democrat\w*|republican\w*|vot(e|ing|er))\b", re.I)


@dataclass(frozen=True)
class LoadedProcedure:
    """A validated procedure, its fingerprint, and the files it references (frozen on approval)."""

    procedure: Procedure
    fingerprint: str
    canonical: str
    source_text: str
    source_path: Path
    manifests: dict[str, bytes]  # step id -> manifest bytes

    @property
    def resolved(self) -> str:
        """The canonical form with every default spelled out (what documents show)."""
        return canonical_form(self.procedure, self.manifests, with_defaults=True)


def template_fields(template: str) -> list[str]:
    """The identifier names a template like ``'"{full_name}" {city}'`` refers to."""
    return [name for _, name, _, _ in Formatter().parse(template) if name]


def canonical_form(proc: Procedure, manifests: dict[str, bytes], *, with_defaults: bool = False) -> str:
    """The JSON text whose sha256 is the fingerprint: meaning only, not layout.

    Defaults are left out: a later toolkit that adds a setting (with a default) must not
    change the fingerprint of every procedure already approved. The defaults themselves are
    pinned by a test (tests/test_procedure.py), so none can change meaning silently.
    ``with_defaults`` gives the same form with every default spelled out, for documents.
    """
    data = proc.model_dump(mode="json", exclude_defaults=not with_defaults)
    data = _fold_prose(data)
    for step in data["steps"]:
        if step.get("sites") is not None:
            step["sites"] = {"sha256": hashlib.sha256(manifests[step["id"]]).hexdigest()}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint_of(canonical: str) -> str:
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _fold_prose(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _fold_prose(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_fold_prose(v) for v in value]
    if isinstance(value, str) and key in PROSE_FIELDS:
        return " ".join(value.split())
    return value


def load_procedure(path: Path) -> LoadedProcedure:
    """Load, validate and fingerprint a procedure file; raise InputError listing every problem."""
    source_text = read_text_file(path)
    return _validate(load_yaml_text(source_text, str(path)), source_text, path)


def load_procedure_text(text: str, path: Path, manifests: dict[str, bytes] | None = None) -> LoadedProcedure:
    """Validate a procedure held in the workspace (frozen text plus frozen manifests)."""
    return _validate(load_yaml_text(text, str(path)), text, path, manifests)


def _validate(doc: LocatedDocument, source_text: str, path: Path,
              frozen_manifests: dict[str, bytes] | None = None) -> LoadedProcedure:
    problems: list[Problem] = []
    proc = validate_model(Procedure, doc)
    problems.extend(_check_meaning(proc, doc))
    manifests: dict[str, bytes] = {}
    for i, step in enumerate(proc.steps):
        if step.sites is None:
            continue
        if frozen_manifests is not None:
            manifests[step.id] = frozen_manifests[step.id]
            continue
        manifest_path = (path.parent / step.sites).resolve()
        try:
            # A regular file of bounded size: `sites: /dev/zero` must not read forever.
            manifests[step.id] = read_bytes_file(manifest_path, max_bytes=MAX_MANIFEST_BYTES)
        except InputError as exc:
            problems.append(Problem(doc.source, doc.line_of(("steps", i, "sites")), dotted(("steps", i, "sites")),
                                    f"manifest {clip(manifest_path, 200)} cannot be read: {exc.problems[0].message}"))
            continue
        from vetting.domain.collector_kinds import check_manifest

        for message in check_manifest(manifests[step.id]):
            problems.append(Problem(doc.source, doc.line_of(("steps", i, "sites")),
                                    dotted(("steps", i, "sites")), f"{step.sites}: {message}"))
    if problems:
        raise InputError(problems)
    canonical = canonical_form(proc, manifests)
    return LoadedProcedure(proc, fingerprint_of(canonical), canonical, source_text, path, manifests)


def _check_meaning(proc: Procedure, doc: LocatedDocument) -> list[Problem]:
    """Checks that need the whole document: unique ids, templates, collector needs, fairness."""
    problems: list[Problem] = []

    def add(loc: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(doc.source, doc.line_of(loc), dotted(loc), message))

    seen: set[str] = set()
    for i, step in enumerate(proc.steps):
        if step.id in seen:
            add(("steps", i, "id"), f"step id {step.id!r} is used twice")
        seen.add(step.id)
        for field_name in ("inputs", "sources", "queries"):
            for j, template in enumerate(getattr(step, field_name)):
                try:
                    names = template_fields(template)
                except ValueError as exc:
                    add(("steps", i, field_name, j), f"bad template: {exc}")
                    continue
                for name in names:
                    if name not in proc.identifiers:
                        add(("steps", i, field_name, j),
                            f"template uses {{{name}}}, which is not among the procedure's identifiers")
                if sum(1 for n in names if n in LIST_IDENTIFIERS) > 1:
                    add(("steps", i, field_name, j), "a template may name at most one list identifier")
        need = COLLECTOR_KINDS[step.collector]
        if "inputs_or_sources" in need and not (step.inputs or step.sources):
            add(("steps", i), f"collector {step.collector!r} needs inputs or sources")
        if "inputs" in need and not step.inputs:
            add(("steps", i), f"collector {step.collector!r} needs inputs")
        if "sites" in need and not step.sites:
            add(("steps", i), f"collector {step.collector!r} needs a sites manifest")
        if "queries" in need and not step.queries:
            add(("steps", i), f"collector {step.collector!r} needs queries")
        if "search" in need and proc.settings.search is None:
            add(("settings",), f"step {step.id!r} searches the web: settings.search.url is required")
    seen = set()
    for i, cat in enumerate(proc.categories):
        if cat.id in seen:
            add(("categories", i, "id"), f"category id {cat.id!r} is used twice")
        seen.add(cat.id)
        # Policy 261-1 screens conduct, never opinion: political speech is not a category.
        if POLITICAL_WORDS.search(cat.id + " " + cat.title):
            add(("categories", i), "political speech is not a review category")
        for j, rule in enumerate(cat.rules):
            if not (rule.terms or rule.patterns):
                add(("categories", i, "rules", j), "a rule needs terms or patterns")
    problems.extend(_check_rules(proc, doc))
    return problems


def _check_rules(proc: Procedure, doc: LocatedDocument) -> list[Problem]:
    """The screener's own checks (e.g. patterns at risk of catastrophic backtracking)."""
    index = {c.id: i for i, c in enumerate(proc.categories)}
    out = []
    for p in check_categories(screening_categories(proc.categories)):
        i = index.get(p.category_id, 0)
        rules = [r.id for r in proc.categories[i].rules] if proc.categories else []
        j = rules.index(p.rule_id) if p.rule_id in rules else 0
        loc = ("categories", i, "rules", j, p.field)
        out.append(Problem(doc.source, doc.line_of(loc), dotted(loc), f"{p.value!r}: {p.message}"))
    return out
