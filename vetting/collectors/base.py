"""The collector interface and the context a step runs in.

A collector turns one step's inputs into captures, through Scrapy and the lawful guard.
The :class:`StepContext` is the only thing a spider sees of the engine: it stores each
capture as evidence (content-addressed files and WARC records, sha256 of the captured bytes),
writes the item row, and turns every guard decision into an audit event.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import queue
import threading
from abc import ABC, abstractmethod
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sqlmodel import select

from spiders.capture import Capture, Exchange
from vetting import __version__
from vetting.domain.models import REVIEWABLE_OUTCOMES, Case, Item, dumps, utcnow
from vetting.domain.procedure import LoadedProcedure, Step
from vetting.engine.inputs import StepInput
from vetting.engine.reached import reached_for
from vetting.store.workspace import Workspace

if TYPE_CHECKING:
    from scrapy.settings import Settings

# Scrapy (with Twisted) and the text extractor (BeautifulSoup) are imported by the step that
# crawls, not with this module: the engine imports it, and so does every command that reads a
# workspace (uniformity, views), which would otherwise load Scrapy for nothing (0.3 s).

REQUEST_BATCH = 200
WRITER_BATCH = 64


class EvidenceWriter:
    """The one thread that writes a step attempt's evidence, items and events, in order.

    Captures that are waiting when the thread is free are saved together (at most
    :data:`WRITER_BATCH`), each caller's future resolving once its item is committed.
    """

    def __init__(self, ctx: StepContext):
        self.ctx = ctx
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="evidence-writer", daemon=True)
        self.thread.start()

    def submit(self, capture: Capture) -> Future[None]:
        future: Future[None] = Future()
        self.queue.put(("capture", capture, future))
        return future

    def call(self, fn: Any, *args: Any) -> None:
        self.queue.put(("call", (fn, args), None))

    def stop(self) -> None:
        self.queue.put(("stop", None, None))
        self.thread.join()

    def _run(self) -> None:
        while True:
            jobs = [self.queue.get()]
            while len(jobs) < WRITER_BATCH:
                try:
                    jobs.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            batch: list[tuple[Capture, Future[None]]] = []
            for kind, what, future in jobs:
                if kind == "capture":
                    batch.append((what, future))
                    continue
                self._save(batch)
                batch = []
                if kind == "stop":
                    return
                fn, args = what
                fn(*args)
            self._save(batch)

    def _save(self, batch: list[tuple[Capture, Future[None]]]) -> None:
        if not batch:
            return
        try:
            self.ctx.save_captures([c for c, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every waiting caller gets the failure
            for _, future in batch:
                future.set_exception(exc)
            return
        for _, future in batch:
            future.set_result(None)


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
    robots_cache: Any = None  # robots.txt kept within a day (vetting/engine/daycache.py), read by the guard
    _writer: Any = None  # the one thread doing every write of the attempt during a crawl, in order
    _lock: Any = field(default_factory=threading.Lock)
    _records: list[dict[str, Any]] = field(default_factory=list)  # WARC records of the capture being saved
    _warc_sync: bool = True  # False while a batch is written: one fsync for it (save_captures)
    _warc_rels: dict[str, str] = field(default_factory=dict)  # WARC path -> path in the evidence folder
    _seal_failed: bool = False  # this attempt's WARC could not be sealed (its upload failed)

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
        with self._lock:
            self._pending_requests.append(
                ("request.allowed" if allowed else "request.refused", self.actor, self.case.id, url,
                 {"step": self.step.id, "method": method, "reason": reason, "status": status}))
            full = len(self._pending_requests) >= REQUEST_BATCH
        if full:
            if self._writer is not None:
                self._writer.call(self._guarded, self.flush_requests)
            else:
                self.flush_requests()

    def flush_requests(self) -> None:
        batch = self._take_requests()
        if batch:
            with self.ws.transaction() as tx:
                self._record_requests(tx, batch)

    def _take_requests(self) -> list[tuple[str, str, str | None, str | None, dict[str, Any]]]:
        with self._lock:
            batch, self._pending_requests = self._pending_requests, []
        return batch

    def _record_requests(self, tx: Any, batch: list[tuple[str, str, str | None, str | None, dict[str, Any]]]) -> None:
        # A requested URL can carry the candidate's username or query: events get commitments,
        # the values are stored in the same transaction.
        values = tx.commit_values(self.case.candidate_id, [v for _, _, _, url, p in batch
                                                           for v in (url, p["reason"])])
        tx.record_many([(action, actor, case_id, values[2 * n], dict(p, reason=values[2 * n + 1]))
                        for n, (action, actor, case_id, _, p) in enumerate(batch)])

    def _guarded(self, fn: Any) -> None:
        try:
            fn()
        except Exception as exc:  # recorded: the step fails at its end, nothing vanishes in a thread
            self.errors.append(f"writing the audit log: {type(exc).__name__}: {exc}")

    async def save_capture_async(self, capture: Capture) -> None:
        """:meth:`save_capture` on the attempt's writer thread (the evidence pipeline awaits it).

        Saving a verdict is evidence files, a WARC record and database transactions, each
        fsynced: on the reactor thread that was a third of account discovery's time
        (``docs/benchmarks.md``), during which no response was read. One thread does every
        write of the attempt in order (captures, request-event batches), so the audit log keeps
        one writer and its order, and captures waiting together are committed together
        (:meth:`save_captures`): the pipeline's await returns once its item is committed.
        """
        if self._writer is None:
            self._writer = EvidenceWriter(self)
        await asyncio.wrap_future(self._writer.submit(capture))

    def save_capture(self, capture: Capture) -> None:
        """Store one capture as evidence and as an item; idempotent per key."""
        self.save_captures([capture])

    def save_captures(self, captures: list[Capture]) -> None:
        """Store captures as evidence, then their item rows and ``item.captured`` events in ONE
        transaction (a group commit: the same order and the same records as one by one, a
        fraction of the fsyncs).

        The batch's WARC records are written first and made durable with ONE fsync before the
        transaction that names them commits (an fsync per record was most of the writer's
        time): a crash or kill at any point leaves either no event, or an event whose records
        are on disk. The pending request events commit in the same transaction, before the
        items (the requests behind an item are in the log before it).
        """
        prepared: list[tuple[Item, dict[str, Any]]] = []
        current: Capture | None = None
        try:
            self._warc_sync = False
            try:
                for capture in captures:
                    current = capture
                    self.outcomes.setdefault((capture.kind, capture.outcome), []).append(capture.reason)
                    if capture.key in self._captured or any(i.key == capture.key for i, _ in prepared):
                        continue
                    prepared.append(self._prepare(capture))
            finally:
                self._warc_sync = True
            if not prepared:
                return
            current = None
            if self._warc is not None:
                self._warc.sync()  # every record the events below name is on disk first
            # The item rows, their committed values and their events commit together: a kill
            # never leaves a row without its event, nor an event citing a value not stored.
            with self.ws.transaction() as tx:
                requests = self._take_requests()
                if requests:
                    self._record_requests(tx, requests)
                tx.session.add_all([item for item, _ in prepared])
                values = tx.commit_values(self.case.candidate_id, [v for _, p in prepared
                                                                   for v in (p["url"], p["reason"], p["found_by"])])
                tx.record_many([("item.captured", self.actor, self.case.id, item.id,
                                 dict(p, url=values[3 * n], reason=values[3 * n + 1], found_by=values[3 * n + 2]))
                                for n, (item, p) in enumerate(prepared)])
            for item, _ in prepared:
                self._captured.add(item.key)
            self.items_saved += len(prepared)
        except Exception as exc:  # a pipeline error must fail the step, not vanish in a log
            what = current.url if current is not None else f"{len(prepared)} item(s)"
            self.errors.append(f"saving {what}: {type(exc).__name__}: {exc}")
            raise

    def _prepare(self, capture: Capture) -> tuple[Item, dict[str, Any]]:
        """The evidence written (files, WARC) and the item row and event payload to commit."""
        from spiders.extract import extract

        self._records = []
        artifacts = self._store_evidence(capture)
        text_source = capture.rendered_dom if capture.rendered_dom is not None else capture.body
        # Text is for reading and screening: only the outcomes a person reviews get it (a
        # "missing" account's 404 page is kept as served, in the WARC, and not parsed again).
        if capture.outcome not in REVIEWABLE_OUTCOMES:
            text_source = None
        page = extract(text_source or b"", capture.final_url or capture.url) if text_source else None
        if page is not None and page.text:
            rel, digest = self.ws.store_bytes(page.text.encode("utf-8"), ".txt")
            entry = {"kind": "text", "path": rel, "sha256": digest}
            entry.update(self._warc_resource(capture, "text", "text/plain; charset=utf-8",
                                             page.text.encode("utf-8")))
            artifacts.append(entry)
        item_id = self.item_id(capture.key)
        meta = dict(capture.meta)
        reached = reached_for(capture.kind, capture.found_by, meta, capture.reached)
        if reached.get("from_key"):
            reached["from_item"] = self.item_id(reached.pop("from_key"))
        meta.update({"step_position": self.position})
        if page is not None:
            meta["rel_me_links"] = page.me_links  # identity: the owner's "this is also me" links
        item = Item(
            id=item_id, case_id=self.case.id, step_id=self.step.id, key=capture.key, kind=capture.kind,
            url=capture.url, final_url=capture.final_url, status=capture.status, outcome=capture.outcome,
            reason=capture.reason, title=page.title if page else "", author=page.author if page else "",
            published=page.published if page else None, text=page.text if page else "",
            found_by=capture.found_by, links_json=json.dumps(page.links if page else []),
            reached_json=dumps(reached),
            artifacts_json=json.dumps(artifacts), meta_json=dumps(meta), captured_at=utcnow(),
            collector=self.actor,
        )
        payload = {"step": self.step.id, "kind": capture.kind, "url": capture.url,
                   "outcome": capture.outcome, "reason": capture.reason,
                   "status": capture.status, "found_by": capture.found_by,
                   "reached": {k: reached[k] for k in ("via", "depth", "rank", "from_item", "site")
                               if k in reached},
                   "artifacts": [{"path": a["path"], "sha256": a["sha256"], "kind": a["kind"]}
                                 for a in artifacts],
                   "warc_records": self._records}
        return item, payload

    def item_id(self, key: str) -> str:
        """The item id of a capture key in this case (stable: re-runs find the same item)."""
        return "item-" + hashlib.sha256(f"{self.case.id}\n{key}".encode()).hexdigest()[:16]

    def profile_links_of(self, key: str) -> list[tuple[str, bool, str]]:
        """The profile links a page captured in an earlier attempt recorded (resumed runs
        follow them without fetching the page again)."""
        with self.ws.session() as s:
            item = s.get(Item, self.item_id(key))
        if item is None:
            return []
        return [(str(u), bool(me), str(site)) for u, me, site in item.meta().get("profile_links", [])]

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

            path = self._warc_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            self._warc = WarcEvidenceWriter(path, {
                "software": f"vetting/{__version__}", "operator": self.operator,
                "procedure-fingerprint": self.case.fingerprint, "case": self.case.id,
                "step": self.step.id, "format": "WARC File Format 1.1",
            })
        return self._warc

    def _warc_rel(self, path: str | Path) -> str:
        """``path`` relative to the evidence folder (resolved once per file: every record asks)."""
        key = str(path)
        rel = self._warc_rels.get(key)
        if rel is None:
            rel = self._warc_rels[key] = Path(path).resolve().relative_to(self.ws.evidence_root.resolve()).as_posix()
        return rel

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
            method=exchange.method, ip_address=exchange.ip_address, protocol=exchange.protocol,
            sync=self._warc_sync)
        self._warc_fields(ref)
        return ref

    def _warc_exchange(self, capture: Capture, received: Exchange) -> dict[str, Any]:
        ref = self.warc.write_exchange(
            received.url, received.request_headers, received.status, received.response_headers, received.body,
            method=received.method, ip_address=received.ip_address, protocol=received.protocol,
            sync=self._warc_sync)
        capture.meta["warc_response_id"] = ref.record_id
        return self._warc_fields(ref)

    def _warc_resource(self, capture: Capture, kind: str,
                       content_type: str, data: bytes) -> dict[str, Any]:
        refers_to = capture.meta.get("warc_response_id")
        # Under its own URI (urn:screenshot:URL...), never the page's: replay tools look pages up
        # by URI and must find the response, not the picture of it.
        page = capture.meta.get("rendered_url") or capture.final_url or capture.url  # what was rendered
        ref = self.warc.write_resource(f"urn:{kind}:{page}", content_type, data, refers_to=refers_to, kind=kind,
                                       sync=self._warc_sync)
        return self._warc_fields(ref)

    def close(self) -> None:
        if self._writer is not None:  # every submitted write finishes before the attempt ends
            self._writer.stop()
            self._writer = None
        self.flush_requests()
        if self._warc is not None:
            warc, self._warc = self._warc, None  # closed once, even when sealing fails
            warc.close()
            self._seal_failed = True  # until it is sealed: a failed attempt's cleanup does not try again
            self.seal(warc.path)
            self._seal_failed = False
        elif self.ws.evidence_store.remote and not self._seal_failed:
            self._seal_left_over()

    def _warc_path(self) -> Path:
        return self.ws.evidence_root / "warc" / self.case.id / f"{self.position:02d}-{self.step.id}.warc.gz"

    def _seal_left_over(self) -> None:
        """An earlier attempt wrote records to the step's WARC file and its seal (the upload) failed,
        or the worker died before it: this attempt wrote nothing new, so it seals the file now, or
        the bucket would never hold records that item events name."""
        path = self._warc_path()
        if not path.is_file():
            return
        sealed = self.ws.latest_seal(self._warc_rel(path))
        if sealed is None or sealed.get("size") != path.stat().st_size:
            self.seal(path)

    def seal(self, path: Path) -> None:
        """Record the closed WARC file's sha256 and size (``evidence.warc_sealed``): a resumed
        run appends to the file and seals it again; verification checks the latest seal. With a
        bucket the file is uploaded under its content address first; a failed upload raises and
        nothing is sealed (the step attempt fails)."""
        from spiders.warc import sha256_prefix

        size = path.stat().st_size
        digest = sha256_prefix(path, size)
        self.ws.store_file(path, digest)  # in the bucket (when evidence is kept in one) before it is sealed
        self.ws.record("evidence.warc_sealed", actor=self.actor, case_id=self.case.id, subject=self._warc_rel(path),
                       payload={"step": self.step.id,
                                "sealed_file": {"path": self._warc_rel(path), "size": size,
                                                "sha256": digest}})

    # -- Scrapy settings ------------------------------------------------------------------
    def scrapy_settings(self, **overrides: Any) -> Settings:
        """The step's Scrapy settings: shared defaults + the procedure's guard, caps and limits."""
        from scrapy.settings import Settings

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

    async def crawl(self, ctx: StepContext, spider_cls: type, **spider_kwargs: Any) -> Any:
        """Run one spider inside the process's reactor and fail the step on spider errors;
        return the spider (what it learnt beyond its captures, e.g. site health)."""
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
        return crawler.spider
