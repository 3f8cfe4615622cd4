"""``vet``: the command line of the vetting toolkit.

Each command is a few lines over library functions. Errors in input files exit 2 with every
problem listed (file, line, field, what is wrong), one line each; a name that does not exist
exits 2 saying how to list the real ones; refusals (no authorization, unapproved procedure,
foreign workspace) exit 1 with the reason; a case busy in another process exits 3; none of
them changes the workspace. docs/cli.md lists every exit code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.table import Table

from vetting import __version__
from vetting.cli.support import acting, console, echo_error, handles_errors, shown, state
from vetting.cli.views import readable
from vetting.domain.yamlsource import InputError
from vetting.screening.safetext import visible

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(help="Lawful, uniform, validated pre-employment internet vetting (policy 261-1 IV.B.8).",
                  no_args_is_help=True, add_completion=False)
procedure_app = typer.Typer(help="Check, approve and list written processes (procedures).", no_args_is_help=True)
candidate_app = typer.Typer(help="Add, list and erase candidates.", no_args_is_help=True)
case_app = typer.Typer(help="List cases and their steps.", no_args_is_help=True)
audit_app = typer.Typer(help="Verify, show and export the tamper-evident audit log.", no_args_is_help=True)
sites_app = typer.Typer(help="Import site manifests for account discovery and check their health.",
                        no_args_is_help=True)
evidence_app = typer.Typer(help="Package a case's evidence for others (signed WACZ).", no_args_is_help=True)
app.add_typer(procedure_app, name="procedure")
app.add_typer(candidate_app, name="candidate")
app.add_typer(case_app, name="case")
app.add_typer(audit_app, name="audit")
app.add_typer(sites_app, name="sites")
app.add_typer(evidence_app, name="evidence")


def _mount_reports() -> None:
    from vetting.cli.reports import report_app

    app.add_typer(report_app, name="report", help="Render the findings, written-process and audit reports.")


_mount_reports()


def _mount_queue() -> None:
    from vetting.cli.queue import queue_app, worker

    app.add_typer(queue_app, name="queue")
    app.command("worker")(worker)


def _mount_records() -> None:
    from vetting.cli.records import mount

    mount(app, candidate_app=candidate_app)


def _mount_people() -> None:
    from vetting.cli.people import mount
    from vetting.cli.reports import report_app

    mount(app, case_app=case_app, report_app=report_app)


def _mount_web() -> None:
    from vetting.cli.web import mount

    mount(app)


def _print_version() -> None:
    """``vet --version`` needs no command (an eager option ends before the command is looked for)."""
    console.print(f"vet {__version__}")
    raise typer.Exit(0)


@app.callback()
def _main(
    workspace: Path = typer.Option(None, "--workspace", "-w", envvar="VETTING_HOME",
                                   help="Workspace folder (default ./vetting-workspace)."),
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=lambda shown: _print_version() if shown else None),
) -> None:
    from vetting.cli.support import check_arguments

    try:
        check_arguments(_main, {"workspace": workspace})
    except InputError as exc:
        echo_error(str(exc.problems[0]))
        raise typer.Exit(2) from None
    state.workspace = workspace


# -- procedures ------------------------------------------------------------------------------
@procedure_app.command("check")
@handles_errors
def procedure_check(file: Path = typer.Argument(..., help="Procedure YAML file.")) -> None:
    """Validate a procedure file and print its fingerprint."""
    from vetting.domain.procedure import load_procedure

    loaded = load_procedure(file)
    proc = loaded.procedure
    console.print(f"[green]valid[/]: {shown(proc.id)} version {proc.version}: {shown(proc.title)}")
    console.print(f"steps: {len(proc.steps)}, review categories: {len(proc.categories)}, "
                  f"network: {proc.settings.network}")
    typer.echo(f"fingerprint: {loaded.fingerprint}")


@procedure_app.command("approve")
@handles_errors
def procedure_approve(file: Path = typer.Argument(..., help="Procedure YAML file.")) -> None:
    """Record your approval, as a commander, of this exact procedure (by fingerprint)."""
    from vetting.services.procedures import approve_procedure

    version, new = approve_procedure(*acting(), file)
    word = "approved" if new else "already approved"
    console.print(f"{word}: {shown(version.procedure_id)} version {version.version} by {shown(version.approved_by)}")
    typer.echo(f"fingerprint: {version.fingerprint}")


@procedure_app.command("list")
@handles_errors
def procedure_list() -> None:
    """List approved procedure versions."""
    from vetting.services.procedures import list_procedures

    table = Table("procedure", "version", "approved by", "approved at", "fingerprint")
    for v in list_procedures(*acting()):
        table.add_row(readable(v.procedure_id), str(v.version), readable(v.approved_by),
                      v.approved_at.isoformat(timespec="seconds"), v.fingerprint)
    console.print(table)


# -- candidates ------------------------------------------------------------------------------
@candidate_app.command("add")
@handles_errors
def candidate_add(
    file: Path = typer.Option(None, "--file", "-f", help="Candidate YAML file (see docs/candidates.md)."),
    full_name: str = typer.Option(None, "--name", help="Full legal name."),
    candidate_id: str = typer.Option(None, "--id", help="Candidate id (default: from the name)."),
    alias: list[str] = typer.Option([], "--alias", help="Other names used (repeatable)."),
    dob: str = typer.Option(None, "--dob", help="Date of birth, YYYY-MM-DD."),
    city: str = typer.Option(None, "--city"),
    region: str = typer.Option(None, "--state"),
    email: list[str] = typer.Option([], "--email", help="E-mail address (repeatable)."),
    phone: list[str] = typer.Option([], "--phone", help="Phone number (repeatable)."),
    username: list[str] = typer.Option([], "--username", help="Disclosed username or handle (repeatable)."),
    url: list[str] = typer.Option([], "--url", help="Disclosed profile URL (repeatable)."),
    authorization: Path = typer.Option(None, "--authorization", help="The signed authorization file."),
    signed_on: str = typer.Option(None, "--signed-on", help="Date the authorization was signed, YYYY-MM-DD."),
) -> None:
    """Add a candidate with identifiers and the signed authorization (no authorization, no search)."""
    from vetting.domain.candidates import CandidateInput, load_candidate_file
    from vetting.domain.yamlsource import Problem
    from vetting.services.candidates import add_candidate

    ws, account = acting()  # before reading any file: who adds is known first
    if file is not None:
        cand, auth_path = load_candidate_file(file)
        source = str(file)
    else:
        if not full_name:
            raise InputError([Problem("command line", None, "--name", "give --name or --file")])
        raw: dict[str, Any] = {"id": candidate_id, "full_name": full_name, "aliases": alias,
                               "date_of_birth": dob, "city": city, "state": region, "emails": email,
                               "phones": phone, "usernames": username, "profile_urls": url}
        if authorization is not None and signed_on is None:
            raise InputError([Problem("command line", None, "--signed-on",
                                      "required with --authorization: the date the candidate signed it "
                                      "(YYYY-MM-DD)")])
        if signed_on is not None and authorization is None:
            raise InputError([Problem("command line", None, "--authorization",
                                      "--signed-on was given without the signed authorization file")])
        if authorization is not None:
            raw["authorization"] = {"file": str(authorization), "signed_on": signed_on}
        from vetting.domain.yamlsource import LocatedDocument, validate_model

        cand = validate_model(CandidateInput, LocatedDocument("command line", raw))
        auth_path = authorization
        source = "command line"
    row = add_candidate(ws, account, cand, auth_path, source=source)
    console.print(f"added candidate [bold]{shown(row.id)}[/] ({shown(cand.full_name)}); authorization sha256 "
                  f"{row.authorization_sha256[:16]}…, signed {row.authorization_signed_on}")


@candidate_app.command("erase")
@handles_errors
def candidate_erase(candidate: str = typer.Argument(..., help="Candidate id."),
                    reason: str = typer.Option("", "--reason", help="Why (e.g. the retention period ended).")) -> None:
    """Erase a candidate's personal data (values, secret, collected content, evidence files).

    The audit log keeps verifying: it holds commitments, never the values. Irreversible.
    """
    from vetting.services.candidates import erase_candidate
    from vetting.store.erasure import ErasureError

    try:
        result = erase_candidate(*acting(), candidate, reason)
    except ErasureError as exc:
        echo_error(str(exc))
        raise typer.Exit(1) from None
    if result.objects_removed or result.objects_retained:
        typer.echo(f"evidence bucket: {len(result.objects_removed)} object(s) removed"
                   + (f", {len(result.objects_retained)} retained by the bucket (e.g. Object Lock retention): "
                      + "; ".join(result.objects_retained) if result.objects_retained else ""))
    if result.already_erased:
        typer.echo(f"candidate {candidate} was already erased; {len(result.files_removed)} leftover file(s) removed")
        return
    typer.echo(f"erased candidate {candidate}: {result.values_erased} personal value(s), "
               f"{len(result.files_removed)} evidence file(s) removed"
               + (f", {len(result.files_kept_shared)} kept (shared with another candidate)"
                  if result.files_kept_shared else "")
               + f"; audit event {result.event_seq}")


@candidate_app.command("list")
@handles_errors
def candidate_list() -> None:
    """List candidates."""
    from vetting.domain.candidates import candidate_name
    from vetting.services.candidates import list_candidates

    ws, account = acting()
    table = Table("id", "name", "authorization signed", "added by")
    for c in list_candidates(ws, account):
        table.add_row(readable(c.id), readable(candidate_name(ws, c)), str(c.authorization_signed_on),
                      readable(c.added_by))
    console.print(table)


# -- running ---------------------------------------------------------------------------------
@app.command("run")
@handles_errors
def run(candidates: list[str] = typer.Argument(..., help="Candidate id(s)."),
        procedure: str = typer.Option(..., "--procedure", "-p", help="Approved procedure id."),
        wait: bool = typer.Option(False, "--wait", help="If another process is running a case, wait for it "
                                                        "instead of refusing."),
        queue: bool = typer.Option(False, "--queue", help="Queue one job per case for `vet worker` "
                                                         "(PostgreSQL workspaces).")) -> None:
    """Run (or resume) every step of the approved procedure for the candidate(s).

    Exits 1 when a case is incomplete or any step ended ``failed`` (named above the exit).
    """
    from vetting.engine.steps import step_runs
    from vetting.services.cases import run_cases

    ws, account = acting()
    if queue:
        from vetting.cli.queue import needs_postgres, queue_run

        needs_postgres(queue_run)(ws, account, candidates, procedure)
        return
    cases = run_cases(ws, account, candidates, procedure, console=console, wait=wait)
    incomplete = [c for c in cases if c.status != "complete"]
    failed = [(c.id, r.step_id) for c in cases for r in step_runs(ws, c.id) if r.status == "failed"]
    if failed:
        typer.echo(f"error: {len(failed)} step(s) failed: "
                   + ", ".join(f"{case} {step}" for case, step in failed)
                   + "; the case is complete but not a full search: see 'vet uniformity'", err=True)
    raise typer.Exit(1 if incomplete or failed else 0)


@case_app.command("list")
@handles_errors
def case_list(candidate: str = typer.Option(None, "--candidate", help="Only this candidate's cases.")) -> None:
    """Every case: candidate, procedure version, status, and how many items await a decision."""
    from vetting.cli.views import print_cases
    from vetting.services.cases import list_cases

    print_cases(console, list_cases(*acting(), candidate), candidate)


@app.command("uniformity")
@handles_errors
def uniformity(procedure: str = typer.Option(..., "--procedure", "-p", help="Procedure id.")) -> None:
    """Print the candidates x steps matrix; exit 1 naming any deviation from the procedure."""
    from vetting.cli.views import print_uniformity
    from vetting.services.procedures import check_uniformity

    report = check_uniformity(*acting(), procedure)
    print_uniformity(console, report)
    raise typer.Exit(0 if report.uniform else 1)


# -- review and validation -------------------------------------------------------------------
@app.command("review")
@handles_errors
def review(case: str = typer.Argument(..., help="Case id."),
           all_items: bool = typer.Option(False, "--all", help="Also items already decided.")) -> None:
    """Show each collected item awaiting a decision: identity evidence, leads, screenshot, damage."""
    from vetting.cli.views import print_review
    from vetting.services.review import review_queue

    ws, account = acting()
    entries, collected = review_queue(ws, account, case, pending_only=not all_items)
    print_review(console, ws, case, entries, collected)


@app.command("validate")
@handles_errors
def validate(item: str = typer.Argument(None, help="Item id (or use --file)."),
             decision: str = typer.Option(None, "--decision", help="validated | rejected | unverifiable"),
             reason: str = typer.Option(None, "--reason", help="Why: what was checked."),
             finding: list[str] = typer.Option([], "--finding", help="Review category the item shows (repeatable)."),
             discredit: str = typer.Option("", "--discredit", help="How lawful off-duty conduct brings discredit."),
             mitigating: str = typer.Option("", "--mitigating",
                                            help="Mitigating context, recorded beside the finding."),
             supersedes: int = typer.Option(None, "--supersedes", help="The decision this one revises."),
             evidence_image: list[str] = typer.Option(
                 [], "--evidence-image", help="An image of the page hiring staff may see as the finding's evidence "
                 "(CSS selector or address; repeatable). Every other image is covered in their report."),
             file: Path = typer.Option(None, "--file", "-f",
                                       help="A decisions file: a batch, all or nothing."),
             wait: bool = typer.Option(False, "--wait", help="Wait for a case another process is writing.")) -> None:
    """Record your decision on an item (or a file of them), after re-hashing its evidence."""
    from vetting.domain.yamlsource import Problem
    from vetting.review.validation import DecisionRequest
    from vetting.services.review import apply_decisions_file, decide

    ws, account = acting()
    if file is not None:
        rows = apply_decisions_file(ws, account, file, wait=wait)
        typer.echo(f"applied {len(rows)} decision(s) from {file} as {account.login}")
        return
    missing = [n for n, v in (("ITEM", item), ("--decision", decision), ("--reason", reason)) if not v]
    if missing:
        raise InputError([Problem("command line", None, m, "required (or give --file)") for m in missing])
    row = decide(ws, account, DecisionRequest(item, decision, reason, account.actor, tuple(finding), discredit,
                                              mitigating, supersedes, tuple(evidence_image)), wait=wait)
    note = " (adverse: needs a second person's concurrence: vet concur)" if row.adverse else ""
    typer.echo(f"decision {row.id}: {row.decision} {row.item_id} by {row.decided_by}{note}")


@app.command("concur")
@handles_errors
def concur_cmd(decision: int = typer.Argument(..., help="Decision id."),
               reason: str = typer.Option("", "--reason"),
               wait: bool = typer.Option(False, "--wait", help="Wait for a case another process is writing.")) -> None:
    """Concur, as a supervisor, with another account's adverse finding (the two-person rule)."""
    from vetting.services.review import concur

    row = concur(*acting(), decision, reason, wait=wait)
    typer.echo(f"decision {decision}: concurred by {row.concurred_by}")


# -- audit -----------------------------------------------------------------------------------
@audit_app.command("verify")
@handles_errors
def audit_verify(case: str = typer.Option(None, "--case", help="Limit evidence re-hashing to one case."),
                 expect_key: str = typer.Option(None, "--expect-key", envvar="VETTING_EXPECT_KEY",
                                                help="The audit public key's fingerprint (sha256 hex) the log "
                                                     "must be signed with; default: the one pinned in "
                                                     "workspace.json.")) -> None:
    """Recompute every leaf, the chain, the tree and checkpoints, and re-hash evidence; exit 1 on any problem."""
    from vetting.services.reports import verify_audit
    from vetting.store.custody import check_expected_key

    ws, account = acting()
    report, index = verify_audit(ws, account, case)
    key_problem, fingerprint = check_expected_key(ws, expect_key)
    if ws.evidence_store.remote:
        typer.echo(f"evidence read from {ws.evidence_store.url} (the local evidence folder is not trusted)")
    if key_problem:
        typer.echo(f"PROBLEM key: {key_problem}")
    for problem in report.problems:
        typer.echo(f"PROBLEM {visible(problem)}")
    if report.suppressed:
        typer.echo(f"... and {report.suppressed} more problem(s)")
    # The decision tables are the log's index: each row must say what its event says.
    for row_problem in index:
        typer.echo(f"PROBLEM {visible(str(row_problem))}")
    typer.echo(report.summary())
    if index:
        typer.echo(f"{len(index)} row(s) of the decision tables disagree with the log")
    if report.unsigned_tail:
        typer.echo(f"note: the last {report.unsigned_tail} event(s) are not yet covered by a signed checkpoint")
    if fingerprint:
        typer.echo(f"signing key fingerprint: {fingerprint}")
    raise typer.Exit(0 if report.ok and not index and not key_problem else 1)


@audit_app.command("show")
@handles_errors
def audit_show(case: str = typer.Argument(..., help="Case id.")) -> None:
    """Print a case's timeline from the audit log."""
    from vetting.cli.views import print_timeline
    from vetting.domain.models import Case
    from vetting.services.cases import case_timeline
    from vetting.store.personal import Revealer

    ws, account = acting()
    events = case_timeline(ws, account, case)
    if not events:
        echo_error(f"no audit events for case {case!r}")
        raise typer.Exit(1)
    with ws.session() as s:
        row = s.get(Case, case)
        print_timeline(console, events, Revealer(s, row.candidate_id) if row else (lambda v: v or ""))


@audit_app.command("export")
@handles_errors
def audit_export(out: Path = typer.Option(..., "--out", help="Folder to write the export into.")) -> None:
    """Write the log as JSON Lines plus checkpoints and the public key, for third-party verification."""
    from vetting.services.reports import export_audit

    ws, account = acting()
    try:
        result = export_audit(ws, account, out)
    except (ValueError, OSError) as exc:
        echo_error(str(exc))
        raise typer.Exit(1) from None
    typer.echo(f"exported {result.events} events to {out}; verify with: python {out}/standalone_verify.py {out}")


# -- evidence --------------------------------------------------------------------------------
@evidence_app.command("export")
@handles_errors
def evidence_export(case: str = typer.Argument(..., help="Case id (see `vet case list`)."),
                    out: Path = typer.Option(..., "-o", "--out", help="The .wacz file to write.")) -> None:
    """Write the case's evidence as a signed WACZ 1.1.1 with its audit events and their proofs."""
    from vetting.reports.evidence_export import ExportError
    from vetting.services.reports import export_evidence

    ws, account = acting()
    try:
        result = export_evidence(ws, account, case, out)
    except (ExportError, OSError) as exc:
        echo_error(str(exc))
        raise typer.Exit(1) from None
    typer.echo(f"wrote {result.path} ({result.warcs} WARC files, {result.pages} pages, {result.events} audit "
               f"events with inclusion proofs in a tree of {result.tree_size}); sha256 {result.sha256}")
    typer.echo(f"check it with: wacz validate -f {result.path}  (and see docs/evidence.md)")


# -- sites -----------------------------------------------------------------------------------
@sites_app.command("import")
@handles_errors
def sites_import(file: Path = typer.Argument(..., help="wmn-data.json, Sherlock data.json or vetting-sites/1 file."),
                 out: Path = typer.Option(..., "--out", "-o",
                                          help="Where to write the vetting-sites/1 manifest."),
                 source: str = typer.Option(None, "--source",
                                            help="Where the file came from (repository, commit, date), "
                                                 "kept in the output beside its licence.")) -> None:
    """Convert a WhatsMyName or Sherlock manifest to the project's format, listing refused entries."""
    import json

    from spiders.sites import MAX_MANIFEST_BYTES, ManifestError, parse_manifest
    from vetting.domain.yamlsource import Problem, read_bytes_file

    data = read_bytes_file(file, max_bytes=MAX_MANIFEST_BYTES)  # a regular file: /dev/zero is refused
    try:
        manifest = parse_manifest(data)
    except ManifestError as exc:
        raise InputError([Problem(str(file), None, "", str(exc))]) from None
    if source:
        manifest.header["source"] = source
    text = json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n"
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError([Problem(str(out), None, "--out", f"cannot write: {exc.strerror}")]) from None
    typer.echo(f"{len(manifest.sites)} site(s) imported from {manifest.source_format} into {out}; "
               f"{len(manifest.rejected)} refused")
    for name, reason in manifest.rejected:
        typer.echo(f"  refused {visible(name)}: {visible(reason)}")


@sites_app.command("health")
@handles_errors
def sites_health(sites: Path = typer.Argument(None, help="Site list to check (default: the procedure's)."),
                 procedure: Path = typer.Option(None, "--procedure", "-p",
                                                help="Procedure file whose network profile, User-Agent and "
                                                     "rate limits the check runs under (default: the shipped "
                                                     "one)."),
                 show_all: bool = typer.Option(False, "--all", help="List every site, not only the problems.")
                 ) -> None:
    """Check every site with its known account and a random name; print the sites degraded today."""
    from collections import Counter

    from vetting.domain.bundled import shipped_procedure
    from vetting.engine.site_health import check_health

    rows, random_name = check_health(procedure or shipped_procedure(), sites)
    counts = Counter(r.state for r in rows)
    typer.echo(f"{len(rows)} site(s) checked with their known account and the random name {random_name!r}: "
               + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    for row in rows:
        if show_all or row.state != "ok":
            typer.echo(f"  {row.state:<12} {row.site}: known {row.known}, random {row.random}"
                       + (f"; {row.detail}" if row.detail else ""))


@app.command("demo")
@handles_errors
def demo(out: Path = typer.Option(Path("demo-output"), "--out",
                                  help="Folder for the demo's workspace and outputs.")) -> None:
    """Serve the bundled demo web on loopback and run the whole chain for the sample candidates."""
    from vetting.demo.run import run_demo
    from vetting.domain.yamlsource import Problem

    if out.exists() and not out.is_dir():
        raise InputError([Problem("command line", None, "--out", f"{out} exists and is not a folder")])

    code = run_demo(out, console=console)
    raise typer.Exit(code)


_mount_queue()
_mount_records()
_mount_people()  # after the commands above, so `vet --help` lists the casework first
_mount_web()


def main(argv: list[str] | None = None) -> int:
    """The ``vet`` entry point: usage errors too are one line on stderr (exit 2), never a box."""
    try:
        result = app(args=argv, prog_name="vet", standalone_mode=False)
    except typer.Abort:
        echo_error("aborted")
        return 1
    except typer.TyperException as exc:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        echo_error(f"{message} (see 'vet --help')")
        return int(getattr(exc, "exit_code", 2))
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
