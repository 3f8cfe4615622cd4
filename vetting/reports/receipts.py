"""Re-check a findings report against the audit log: its receipts, then every field it shows.

A findings report embeds, for each finding, the ``item.validated`` (and ``item.concurred``)
audit events with RFC 6962 inclusion proofs against a signed checkpoint, and the
``candidate.added`` event of the candidate it names. :func:`verify_receipts` checks:

1. the checkpoint note is signed by this workspace's key and states the tree the report shows,
   and the log still has that tree;
2. each receipt's event hashes to its leaf, sits at its sequence number in the workspace log,
   and proves its inclusion under the signed root;
3. every value the report *displays* is the one its events bound: categories, decider and
   time, concurrer, identity level and identifiers matched, the evidence hashes in the clear;
   the reviewers' words, the title, address and excerpt and the candidate's name through
   their commitments (the value is recomputed into an HMAC with the candidate's secret).

A problem names the finding (its item id) and the field. After a candidate's erasure the
commitments can no longer be recomputed: the report is then said to be *disposed*, and only
the fields bound in the clear are checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vetting.screening.firewall import mask_protected
from vetting.screening.safetext import visible
from vetting.store.personal import Revealer, is_commitment
from vetting.store.workspace import Workspace

RECEIPTS_FORMAT = "vetting-receipts/1"


@dataclass
class ReceiptCheck:
    """The result of re-checking a findings report's receipts against the workspace log."""

    checked: int = 0
    problems: list[str] | None = field(default_factory=list)
    disposed: str = ""  # the candidate was erased: personal fields could not be checked

    @property
    def ok(self) -> bool:
        return not self.problems


def read_receipts(html: str) -> dict[str, Any]:
    """The receipts block of a rendered findings report (a JSON data block, never executed)."""
    from bs4 import BeautifulSoup

    block = BeautifulSoup(html, "html.parser").find("script", id="receipts")
    if block is None or block.get("type") != "application/json":
        raise ValueError("the report has no receipts block (<script type=\"application/json\" id=\"receipts\">)")
    from vetting.domain.yamlsource import InputError, load_json_bytes

    try:  # the one JSON parser: depth, numbers and duplicate keys bounded (block text quotes content)
        data = load_json_bytes((block.string or "").encode("utf-8"), "receipts block",
                               max_bytes=100 * 1024 * 1024, check_strings=False)
    except InputError as exc:
        raise ValueError(exc.problems[0].message) from None
    if not isinstance(data, dict) or data.get("format") != RECEIPTS_FORMAT:
        raise ValueError(f"the receipts block is not in the {RECEIPTS_FORMAT} format")
    return data


def _time(value: Any) -> datetime | None:
    try:
        t = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _utc_text(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _humanize(value: str) -> str:
    return value.replace("_", " ")


class _FieldCheck:
    """Compares one finding's displayed fields with the payloads of its verified events."""

    def __init__(self, section: Any, item_id: str, reveal: Revealer, problems: list[str],
                 label: str = "finding") -> None:
        self.section = section
        self.item_id = item_id
        self.reveal = reveal
        self.problems = problems
        self.label = label

    def problem(self, name: str, message: str) -> None:
        self.problems.append(f"{self.label} {self.item_id}: field {name}: {message}")

    def shown(self, name: str) -> Any:
        return self.section.find(attrs={"data-field": name})

    def text(self, name: str) -> str:
        el = self.shown(name)
        return el.get_text() if el is not None else ""

    def clear(self, name: str, logged: Any, seq: int) -> None:
        """A value bound in the clear: the report must show exactly it."""
        shown = self.text(name)
        if shown != visible(logged or ""):
            self.problem(name, f"the report shows {shown!r}, the log's event {seq} says {logged!r}")

    def committed(self, name: str, commitment: Any, seq: int, *, masked: bool) -> None:
        """A personal value bound by its commitment: recompute it from what the report shows.

        ``masked`` values (reviewers' words) are committed as written and shown through the
        protected-characteristics firewall: the committed value is read back, checked, masked,
        and compared; the other displayed values are committed exactly as displayed.
        """
        shown = self.text(name)
        if not commitment:
            if shown:
                self.problem(name, f"the report shows {shown!r}, the log's event {seq} records none")
            return
        if not is_commitment(commitment):  # recorded in the clear (before values were committed)
            if visible(mask_protected(str(commitment)).text if masked else str(commitment)) != shown:
                self.problem(name, f"the report shows {shown!r}, the log's event {seq} says {commitment!r}")
            return
        if self.reveal.erased:
            return  # disposed: nothing left to recompute with
        if masked:
            value = self.reveal.value_or_none(str(commitment))
            if value is None:
                self.problem(name, f"the value committed by event {seq} is missing from the workspace")
            elif visible(mask_protected(value).text) != shown:
                self.problem(name, f"the report shows {shown!r}, which is not the value event {seq} committed to")
        elif not _shows(self.reveal, str(commitment), shown):
            self.problem(name, f"the report shows {shown!r}, which is not the value event {seq} committed to")


def _shows(reveal: Revealer, commitment: str, shown: str) -> bool | None:
    """Whether ``shown`` is how the reports display the committed value: reports print every
    value through ``vetting.screening.safetext.visible`` (controls as ``⟨U+202E⟩``), so that is compared;
    a value with no control character is checked against its commitment directly."""
    if reveal.matches(commitment, shown):
        return True
    value = reveal.value_or_none(commitment) if is_commitment(commitment) else commitment
    return value is not None and visible(value) == shown


def _check_time(f: _FieldCheck, name: str, logged: Any, seq: int) -> None:
    """A time shown (``data-value`` ISO, text ``YYYY-MM-DD HH:MM:SS UTC``) against the event's."""
    when = f.shown(name)
    logged_at = _time(logged)
    shown_at = _time(when.get("data-value")) if when is not None else None
    if logged_at is None or shown_at != logged_at or when.get_text() != _utc_text(logged_at):
        f.problem(name, f"the report shows {when.get_text() if when is not None else None!r}, "
                        f"the log's event {seq} says {logged!r}")


def _check_finding(section: Any, item_id: str, validated: Any, concurred: Any | None, reveal: Revealer,
                   problems: list[str]) -> None:
    """Every displayed field of one finding against its ``item.validated`` / ``item.concurred`` events."""
    f = _FieldCheck(section, item_id, reveal, problems)
    p = validated.get("payload") or {}
    seq = int(validated.get("seq", -1))
    categories = [li.get("data-category") for li in section.select("li[data-category]")]
    if categories != list(p.get("findings") or []):
        f.problem("categories", f"the report shows {categories}, the log's event {seq} says {p.get('findings')}")
    f.clear("validated_by", validated.get("actor"), seq)
    if "shown" not in p:
        # Decided before the report's fields were bound (an upgraded workspace): the categories,
        # the decider and the reviewers' words are what its event can vouch for.
        for name in ("reason", "mitigating", "discredit_justification"):
            f.committed(name, p.get(name), seq, masked=True)
        _check_concurrence(f, p, concurred)
        return
    shown_meta = p.get("shown") or {}
    _check_time(f, "validated_at", p.get("decided_at"), seq)
    _check_time(f, "captured_at", shown_meta.get("captured_at"), seq)
    kind = f.shown("kind")
    if kind is None or kind.get("data-value") != shown_meta.get("kind") \
            or kind.get_text() != _humanize(str(shown_meta.get("kind"))):
        f.problem("kind", f"the report shows {kind.get_text() if kind is not None else None!r}, "
                          f"the log's event {seq} says {shown_meta.get('kind')!r}")
    level = f.shown("identity_level")
    if level is None or level.get("data-value") != p.get("identity_level") \
            or level.get_text() != _humanize(str(p.get("identity_level"))):
        f.problem("identity_level", f"the report shows {level.get_text() if level is not None else None!r}, "
                                    f"the log's event {seq} says {p.get('identity_level')!r}")
    matched_el = f.shown("identifiers_matched")
    matched = matched_el.get("data-value").split(",") if matched_el is not None else []
    logged_matched = list(p.get("identifiers_matched") or [])
    if matched != logged_matched or (matched_el is not None and matched_el.get_text()
                                     != ", ".join(_humanize(m) for m in matched)):
        f.problem("identifiers_matched", f"the report shows {matched}, the log's event {seq} says {logged_matched}")
    artifacts = [(dd.get("data-artifact"), dd.get_text()) for dd in section.select("dd[data-artifact]")]
    logged_artifacts = [(a.get("kind"), a.get("sha256")) for a in shown_meta.get("artifacts") or []]
    if artifacts != logged_artifacts:
        f.problem("evidence sha256", f"the report shows {artifacts}, the log's event {seq} says {logged_artifacts}")
    for name in ("reason", "mitigating", "discredit_justification"):
        f.committed(name, p.get(name), seq, masked=True)
    for name in ("title", "url", "excerpt"):
        f.committed(name, shown_meta.get(name), seq, masked=False)
    _check_concurrence(f, p, concurred)


def _check_concurrence(f: _FieldCheck, p: dict[str, Any], concurred: Any | None) -> None:
    """The concurrer shown, against the ``item.concurred`` receipt (required for an adverse finding)."""
    concurrer = f.text("concurred_by")
    if concurred is None:
        if p.get("findings"):
            f.problem("concurred_by", "an adverse finding is shown without an item.concurred receipt")
        elif concurrer:
            f.problem("concurred_by", f"the report shows {concurrer!r}, the log records no concurrence")
        return
    cp = concurred.get("payload") or {}
    if cp.get("decision_id") != p.get("decision_id"):
        f.problem("concurred_by", f"the concurrence (event {concurred.get('seq')}) is with decision "
                                  f"{cp.get('decision_id')}, not {p.get('decision_id')}")
    f.clear("concurred_by", concurred.get("actor"), int(concurred.get("seq", -1)))


def verify_receipts(ws: Workspace, report: Path | str) -> ReceiptCheck:
    """Re-check every receipt of a findings report (a path, or the HTML text), then every shown field."""
    from bs4 import BeautifulSoup

    from audit import verify_inclusion
    from audit.checkpoints import load_public_key, parse_note, public_key_fingerprint, signature_problem
    from audit.events import canonical_json
    from audit.merkle import leaf_hash

    result = ReceiptCheck()
    problems = result.problems
    assert problems is not None
    if isinstance(report, Path):
        from vetting.domain.yamlsource import InputError, read_text_file

        try:
            html = read_text_file(report, max_bytes=200 * 1024 * 1024)
        except InputError as exc:  # a binary, huge or unreadable file is a problem, not a traceback
            problems.append(f"receipts: {exc.problems[0].message}")
            return result
    else:
        html = report
    try:
        data = read_receipts(html)
        cp = data["checkpoint"]
        size, root = int(cp["tree_size"]), bytes.fromhex(cp["root"])
        note = parse_note(cp["note"])
    except (ValueError, KeyError, TypeError) as exc:
        problems.append(f"receipts: {exc}")
        return result
    if note.origin != ws.audit.origin or data.get("origin") != ws.audit.origin:
        problems.append(f"checkpoint: origin {note.origin!r} is not this workspace's log ({ws.audit.origin})")
    if (note.size, note.root) != (size, root):
        problems.append("checkpoint: the signed note does not state the tree size and root the report shows")
    key = load_public_key(ws.key_dir)
    why = signature_problem(note, key)
    if why:
        problems.append(f"checkpoint: {why}")
    if data.get("public_key_sha256") != public_key_fingerprint(key):
        problems.append("checkpoint: the report names another public key than this workspace's")
    if size > ws.audit.size() or ws.audit.root(size) != root:
        problems.append(f"checkpoint: the workspace log no longer has the tree of size {size} with this root")
    good: dict[tuple[str, str], dict[str, Any]] = {}
    for n, r in enumerate(data.get("receipts") or [], 1):
        where = f"receipt {n} ({r.get('role')} {r.get('item_id')})" if isinstance(r, dict) else f"receipt {n}"
        try:
            event, seq, proof = r["event"], int(r["seq"]), [bytes.fromhex(h) for h in r["proof"]]
            leaf = leaf_hash(canonical_json(event).encode("utf-8"))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            problems.append(f"{where}: malformed: {exc}")
            continue
        result.checked += 1
        sound = True
        if leaf.hex() != r.get("leaf_hash") or event.get("seq") != seq:
            problems.append(f"{where}: the event does not hash to the stated leaf at seq {seq}")
            sound = False
        if not verify_inclusion(leaf, seq, size, proof, root):
            problems.append(f"{where}: inclusion proof does not lead to the signed root")
            sound = False
        try:
            stored = ws.audit.get(seq)
        except KeyError:
            stored = None
        if stored is None or stored.leaf_hash != leaf:
            problems.append(f"{where}: event {seq} in the workspace log differs from the receipt")
            sound = False
        payload = event.get("payload") if isinstance(event.get("payload"), dict) else {}
        role = r.get("role")
        if role == "candidate":
            if event.get("action") != "candidate.added" or event.get("subject") != data.get("candidate_id"):
                problems.append(f"{where}: the event is not the addition of candidate {data.get('candidate_id')}")
            elif sound:
                good[("candidate", "")] = event
            continue
        if role == "captured":
            if event.get("action") != "item.captured" or event.get("subject") != r.get("item_id") \
                    or event.get("case_id") != data.get("case_id"):
                problems.append(f"{where}: the event is not the capture of {r.get('item_id')} in this case")
            elif sound:
                good[("captured", str(r.get("item_id")))] = event
            continue
        if role == "step":
            if event.get("action") != "step.finished" or event.get("subject") != r.get("item_id") \
                    or event.get("case_id") != data.get("case_id"):
                problems.append(f"{where}: the event is not the end of step {r.get('item_id')} in this case")
            elif sound:
                good[("step", str(r.get("item_id")))] = event
            continue
        if role == "procedure":
            if event.get("action") != "procedure.approved":
                problems.append(f"{where}: the event is not the approval of a procedure")
            elif sound:
                good[("procedure", "")] = event
            continue
        if (event.get("action") != f"item.{role}" or event.get("subject") != r.get("item_id")
                or event.get("case_id") != data.get("case_id") or not isinstance(payload.get("decision_id"), int)):
            problems.append(f"{where}: the event is not the {role} decision on {r.get('item_id')}")
        elif sound:
            good[(str(role), str(r.get("item_id")))] = event
    soup = BeautifulSoup(html, "html.parser")
    with ws.session() as s:
        reveal = Revealer(s, str(data.get("candidate_id") or ""))
        if reveal.erased:
            from vetting.reports.findings import disposal_note

            result.disposed = disposal_note(ws, str(data.get("candidate_id") or ""))
        _check_candidate(soup, good.get(("candidate", "")), reveal, problems)
        _check_procedure(soup, good.get(("procedure", "")), problems)
        for row in soup.select("tr[data-unreached]"):
            item_id = str(row.get("data-unreached"))
            captured = good.get(("captured", item_id))
            if captured is None:
                problems.append(f"unreached {item_id}: shown without a valid item.captured receipt")
                continue
            _check_unreached(row, item_id, captured, reveal, problems)
        for row in soup.select("tr[data-failed-step]"):
            step = str(row.get("data-failed-step"))
            finished = good.get(("step", step))
            if finished is None or (finished.get("payload") or {}).get("status") != "failed":
                problems.append(f"failed step {step}: shown as failed without a step.finished receipt saying so")
                continue
            _FieldCheck(row, step, reveal, problems, label="failed step").committed(
                "error", (finished.get("payload") or {}).get("error"), int(finished.get("seq", -1)), masked=False)
        for section in soup.select("section.finding"):
            item_id = str(section.get("data-item"))
            validated = good.get(("validated", item_id))
            if validated is None:
                problems.append(f"finding {item_id}: shown without a valid item.validated receipt")
                continue
            _check_finding(section, item_id, validated, good.get(("concurred", item_id)), reveal, problems)
    return result


def _check_unreached(row: Any, item_id: str, captured: dict[str, Any], reveal: Revealer,
                     problems: list[str]) -> None:
    """A row of "what the search could not reach" against the item's ``item.captured`` event."""
    f = _FieldCheck(row, item_id, reveal, problems, label="unreached")
    p = captured.get("payload") or {}
    seq = int(captured.get("seq", -1))
    f.clear("step", p.get("step"), seq)
    outcome = f.shown("outcome")
    if outcome is None or outcome.get("data-value") != p.get("outcome") \
            or outcome.get_text() != _humanize(str(p.get("outcome"))):
        f.problem("outcome", f"the report shows {outcome.get_text() if outcome is not None else None!r}, "
                             f"the log's event {seq} says {p.get('outcome')!r}")
    f.committed("url", p.get("url"), seq, masked=False)
    f.committed("reason", p.get("reason"), seq, masked=False)


def _check_procedure(soup: Any, approved: dict[str, Any] | None, problems: list[str]) -> None:
    """The procedure the report names (fingerprint, id, version, title, approver) against its approval."""
    if approved is None:
        problems.append("procedure: no valid procedure.approved receipt for the procedure the report names")
        return
    p = approved.get("payload") or {}
    logged = {"fingerprint": approved.get("subject"), "approved_by": approved.get("actor"),
              "procedure_id": p.get("procedure_id"), "procedure_version": str(p.get("version")),
              "procedure_title": p.get("title")}
    for name, value in logged.items():
        el = soup.find(attrs={"data-field": name})
        shown = el.get_text() if el is not None else None
        if shown != value:
            problems.append(f"procedure: field {name}: the report shows {shown!r}, the log's event "
                            f"{approved.get('seq')} says {value!r}")


def _check_candidate(soup: Any, added: dict[str, Any] | None, reveal: Revealer, problems: list[str]) -> None:
    """The candidate's name, wherever the report shows it, against the ``candidate.added`` event."""
    shown = {el.get_text() for el in soup.select("[data-field=candidate_name]")}
    title = soup.title.get_text() if soup.title is not None else ""
    named = {name for name in shown if title.startswith(f"Findings report: {name} (")}
    if shown and not named:
        problems.append(f"candidate: field candidate_name: the page title {title!r} names someone the report "
                        "does not show")
    if added is None:
        problems.append("candidate: no valid candidate.added receipt for the candidate the report names")
        return
    commitment = (added.get("payload") or {}).get("full_name")
    if reveal.erased:
        return
    for name in shown:
        if not _shows(reveal, str(commitment), name):
            problems.append(f"candidate: field candidate_name: the report shows {name!r}, which is not the name "
                            f"event {added.get('seq')} committed to")
