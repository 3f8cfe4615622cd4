"""The collector interface and the context a step runs in.

A collector turns one step's inputs into captures, through Scrapy and the lawful guard.
The :class:`StepContext` is the only thing a spider sees of the engine: it stores each
capture as evidence (content-addressed files and WARC records, sha256 of the captured bytes),
writes the item row, and turns every guard decision into an audit event.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from scrapy.settings import Settings
from sqlmodel import select

from spiders.capture import Capture, Exchange
from spiders.extract import extract
from vetting import __version__
from vetting.inputs import StepInput
from vetting.models import Case, Item, dumps, utcnow
from vetting.procedure import LoadedProcedure, Step
from vetting.workspace import Workspace

REQUEST_BATCH = 200


class StepFailed(Exception):
    """A step could not do its work (retried, then recorded ``failed`` with this reason)."""


@dataclass
class StepContext:
    """Everything one attempt of one step of one case needs; implements the spiders' context."""

    ws: Workspace
    case: Case
    loaded: LoadedProcedure
    step: Step
    position: int
    inputs: list[StepInput]
    operator: str
    render: bool = True
    requests_allowed: int = 0
    requests_refused: int = 0
    items_saved: int = 0
    errors: list[str] = field(default_factory=list)
    outcomes: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (kind, outcome) -> reasons
    _captured: set[str] = field(default_factory=set)
    _pending_requests: list[tuple[str, str, str | None, str | None, dict[str, Any]]] = field(default_factory=list)
    _warc: Any = None
    _records: list[dict[str, Any]] = field(default_factory=list)  # WARC records of the capture being saved

    def __post_init__(self) -> None:
        with self.ws.session() as s:
            rows = s.exec(select(Item.key).where(Item.case_id == self.case.id))
            self._captured = set(rows)

    @property
    def actor(self) -> str:
        return f"collector:{self.step.collector}/{__version__}"

    # -- the spiders' CollectionContext ---------------------------------------------------
    def is_captured(self, key: str) -> bool:
        return key in self._captured

    def record_request(self, url: str, method: str, allowed: bool, reason: str,
                       status: int | None = None) -> None:
        """The guard's sink: every allowed and refused request is an audit event.

        Request events are written in batches (one transaction per :data:`REQUEST_BATCH`
        events, and always before the next captured item and at the end of the attempt):
        one fsync'd transaction per request was a fifth of the collector's time. A kill can
        lose the request events of the current batch, never a captured item or its event.
        """
        if allowed:
            self.requests_allowed += 1
        else:
            self.requests_refused += 1
        self._pending_requests.append(
            ("request.allowed" if allowed else "request.refused", self.actor, self.case.id, url,
             {"step": self.step.id, "method": method, "reason": reason, "status": status}))
        if len(self._pending_requests) >= REQUEST_BATCH:
            self.flush_requests()

    def flush_requests(self) -> None:
        if self._pending_requests:
            batch, self._pending_requests = self._pending_requests, []
            # A requested URL can carry the candidate's username or query: events get commitments,
            # the values are stored in the same transaction.
            with self.ws.transaction() as tx:
                values = tx.commit_values(self.case.candidate_id, [v for _, _, _, url, p in batch
                                                                   for v in (url, p["reason"])])
                tx.record_many([(action, actor, case_id, values[2 * n], dict(p, reason=values[2 * n + 1]))
                                for n, (action, actor, case_id, _, p) in enumerate(batch)])

    def save_capture(self, capture: Capture) -> None:
        """Store one capture as evidence and as an item; idempotent per key."""
        try:
            self._save(capture)
        except Exception as exc:  # a pipeline error must fail the step, not vanish in a log
            self.errors.append(f"saving {capture.url}: {type(exc).__name__}: {exc}")
            raise

    def _save(self, capture: Capture) -> None:
        self.outcomes.setdefault((capture.kind, capture.outcome), []).append(capture.reason)
        if capture.key in self._captured:
            return
        self._records = []
        artifacts = self._store_evidence(capture)
        text_source = capture.rendered_dom if capture.rendered_dom is not None else capture.body
        page = extract(text_source or b"", capture.final_url or capture.url) if text_source else None
        if page is not None and page.text:
            rel, digest = self.ws.store_bytes(page.text.encode("utf-8"), ".txt")
            entry = {"kind": "text", "path": rel, "sha256": digest}
            entry.update(self._warc_resource(capture, "text", "text/plain; charset=utf-8",
                                             page.text.encode("utf-8")))
            artifacts.append(entry)
        item_id = "item-" + hashlib.sha256(f"{self.case.id}\n{capture.key}".encode()).hexdigest()[:16]
        meta = dict(capture.meta)
        meta.update({"step_position": self.position})
        item = Item(
            id=item_id, case_id=self.case.id, step_id=self.step.id, key=capture.key, kind=capture.kind,
            url=capture.url, final_url=capture.final_url, status=capture.status, outcome=capture.outcome,
            reason=capture.reason, title=page.title if page else "", author=page.author if page else "",
            published=page.published if page else None, text=page.text if page else "",
            found_by=capture.found_by, links_json=json.dumps(page.links if page else []),
            artifacts_json=json.dumps(artifacts), meta_json=dumps(meta), captured_at=utcnow(),
            collector=self.actor,
        )
        self.flush_requests()  # the requests behind an item are in the log before the item
        # The item row and its event commit together: a kill never leaves one without the other.
        with self.ws.transaction() as tx:
            tx.session.add(item)
            url_c, reason_c, found_by_c = tx.commit_values(
                self.case.candidate_id, [capture.url, capture.reason, capture.found_by])
            tx.record("item.captured", actor=self.actor, case_id=self.case.id, subject=item_id,
                      payload={"step": self.step.id, "kind": capture.kind, "url": url_c,
                               "outcome": capture.outcome, "reason": reason_c,
                               "status": capture.status, "found_by": found_by_c,
                               "artifacts": [{"path": a["path"], "sha256": a["sha256"], "kind": a["kind"]}
                                             for a in artifacts],
                               "warc_records": self._records})
        self._captured.add(capture.key)
        self.items_saved += 1

    # -- evidence -------------------------------------------------------------------------
    def _store_evidence(self, capture: Capture) -> list[dict[str, Any]]:
        artifacts: list[dict[str, Any]] = []
        if capture.body is not None:
            received = capture.received or Exchange(
                url=capture.final_url or capture.url, method="GET",
                request_headers=list(capture.request_headers.items()), status=capture.status or 0,
                response_headers=list(capture.response_headers), body=capture.body)
            rel, digest = self.ws.store_bytes(received.body, ".body")  # the payload as received
            entry: dict[str, Any] = {"kind": "response", "path": rel, "sha256": digest}
            entry.update(self._warc_exchange(capture, received))
            artifacts.append(entry)
        for exchange in capture.exchanges:  # redirect hops and the rendered page's subresources
            self._write_exchange(exchange)
        if capture.rendered_dom is not None:
            data = capture.rendered_dom.encode("utf-8")
            rel, digest = self.ws.store_bytes(data, ".html")
            entry = {"kind": "dom", "path": rel, "sha256": digest}
            entry.update(self._warc_resource(capture, "dom", "text/html; charset=utf-8", data))
            artifacts.append(entry)
        if capture.screenshot is not None:
            rel, digest = self.ws.store_bytes(capture.screenshot, ".png")
            entry = {"kind": "screenshot", "path": rel, "sha256": digest}
            entry.update(self._warc_resource(capture, "screenshot", "image/png", capture.screenshot))
            artifacts.append(entry)
        return artifacts

    @property
    def warc(self) -> Any:
        """The case's WARC writer for this step attempt (opened lazily, appended on resume)."""
        if self._warc is None:
            from spiders.warc import WarcEvidenceWriter

            path = self.ws.evidence_root / "warc" / self.case.id / f"{self.position:02d}-{self.step.id}.warc.gz"
            path.parent.mkdir(parents=True, exist_ok=True)
            self._warc = WarcEvidenceWriter(path, {
                "software": f"vetting/{__version__}", "operator": self.operator,
                "procedure-fingerprint": self.case.fingerprint, "case": self.case.id,
                "step": self.step.id, "format": "WARC File Format 1.1",
            })
        return self._warc

    def _warc_rel(self, path: str | Path) -> str:
        return Path(path).resolve().relative_to(self.ws.evidence_root.resolve()).as_posix()

    def _warc_fields(self, ref: Any) -> dict[str, Any]:
        """Where the record is (for the item) and, for the capture event, every record written."""
        rel = self._warc_rel(ref.warc_path)
        for span in ref.records:
            self._records.append({"file": rel, "offset": span.offset, "length": span.length,
                                  "sha256": span.sha256, "type": span.record_type})
        return {"warc": rel, "record_id": ref.record_id, "offset": ref.offset, "length": ref.length,
                "record_sha256": ref.records[0].sha256 if ref.records else None}

    def _write_exchange(self, exchange: Exchange) -> Any:
        ref = self.warc.write_exchange(
            exchange.url, exchange.request_headers, exchange.status, exchange.response_headers, exchange.body,
            method=exchange.method, ip_address=exchange.ip_address, protocol=exchange.protocol)
        self._warc_fields(ref)
        return ref

    def _warc_exchange(self, capture: Capture, received: Exchange) -> dict[str, Any]:
        ref = self.warc.write_exchange(
            received.url, received.request_headers, received.status, received.response_headers, received.body,
            method=received.method, ip_address=received.ip_address, protocol=received.protocol)
        capture.meta["warc_response_id"] = ref.record_id
        return self._warc_fields(ref)

    def _warc_resource(self, capture: Capture, kind: str,
                       content_type: str, data: bytes) -> dict[str, Any]:
        refers_to = capture.meta.get("warc_response_id")
        # Under its own URI (urn:screenshot:URL...), never the page's: replay tools look pages up
        # by URI and must find the response, not the picture of it.
        page = capture.meta.get("rendered_url") or capture.final_url or capture.url  # what was rendered
        ref = self.warc.write_resource(f"urn:{kind}:{page}", content_type, data, refers_to=refers_to, kind=kind)
        return self._warc_fields(ref)

    def close(self) -> None:
        self.flush_requests()
        if self._warc is not None:
            self._warc.close()
            self.seal(self._warc.path)
            self._warc = None

    def seal(self, path: Path) -> None:
        """Record the closed WARC file's sha256 and size (``evidence.warc_sealed``): a resumed
        run appends to the file and seals it again; verification checks the latest seal."""
        from spiders.warc import sha256_prefix

        size = path.stat().st_size
        self.ws.record("evidence.warc_sealed", actor=self.actor, case_id=self.case.id, subject=self._warc_rel(path),
                       payload={"step": self.step.id,
                                "sealed_file": {"path": self._warc_rel(path), "size": size,
                                                "sha256": sha256_prefix(path, size)}})

    # -- Scrapy settings ------------------------------------------------------------------
    def scrapy_settings(self, **overrides: Any) -> Settings:
        """The step's Scrapy settings: shared defaults + the procedure's guard, caps and limits."""
        from spiders.guard import guard_settings

        cfg = self.loaded.procedure.settings
        settings = Settings()
        settings.setmodule("spiders.settings", priority="project")
        limits = {
            "max_bytes": cfg.limits.max_bytes, "timeout_seconds": cfg.limits.timeout_seconds,
            "max_redirects": cfg.limits.max_redirects, "delay_seconds": cfg.rate_limit.delay_seconds,
            "concurrency_per_domain": cfg.rate_limit.concurrency_per_domain,
        }
        from spiders.browser import BrowserNotFound, launch_options

        try:
            browser = launch_options()
        except BrowserNotFound as exc:
            raise StepFailed(str(exc)) from None
        settings.setdict(guard_settings(cfg.network, cfg.user_agent, list(cfg.allow_domains),
                                        list(cfg.deny_domains), self, limits, launch_options=browser),
                         priority="cmdline")
        settings.set("CONCURRENT_REQUESTS", cfg.rate_limit.concurrency_total, priority="cmdline")
        from vetting.queue.hostslots import shared_pacing  # PostgreSQL: the limits hold across workers

        settings.setdict(shared_pacing(self.ws, cfg.rate_limit.delay_seconds, cfg.rate_limit.concurrency_per_domain,
                                       cfg.limits.timeout_seconds), priority="cmdline")
        settings.set("CLOSESPIDER_TIMEOUT", self.step.limits.timeout_seconds, priority="cmdline")
        settings.set("LOG_LEVEL", "WARNING", priority="cmdline")
        for key, value in overrides.items():
            settings.set(key, value, priority="cmdline")
        return settings


class Collector(ABC):
    """One kind of collection (``pages``, ``accounts``, ``search``), run by the engine per step."""

    kind: ClassVar[str]

    @abstractmethod
    def plan(self, step: Step, identifiers: dict[str, Any]) -> list[StepInput]:
        """The step's concrete inputs for one candidate; empty means ``no input``."""

    @abstractmethod
    async def collect(self, ctx: StepContext) -> None:
        """Run the step; raise :class:`StepFailed` when the step could not do its work."""

    async def crawl(self, ctx: StepContext, spider_cls: type, **spider_kwargs: Any) -> None:
        """Run one spider inside the process's reactor and fail the step on spider errors."""
        import asyncio

        from scrapy.crawler import AsyncCrawlerRunner

        runner = AsyncCrawlerRunner(ctx.scrapy_settings())
        crawler = runner.create_crawler(spider_cls)
        task = runner.crawl(crawler, context=ctx, **spider_kwargs)
        # CLOSESPIDER_TIMEOUT ends a slow step; this backstop ends one that hangs while closing
        # (a browser page that never settles), so a step can fail and be retried, never stall.
        limit = ctx.step.limits.timeout_seconds + 120
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=limit)
        except TimeoutError:
            await crawler.stop_async()
            ctx.close()
            raise StepFailed(f"the step did not finish within {limit:.0f} s and was stopped") from None
        stats = crawler.stats.get_stats() if crawler.stats else {}
        ctx.close()
        problems = list(ctx.errors)
        exceptions = stats.get("spider_exceptions/count", 0)
        if exceptions:
            problems.append(f"{exceptions} spider exception(s)")
        if stats.get("finish_reason") not in ("finished", "closespider_timeout", None):
            problems.append(f"crawl ended: {stats.get('finish_reason')}")
        if problems:
            raise StepFailed("; ".join(problems))
