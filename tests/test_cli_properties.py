"""Property-based tests (Hypothesis) of every `vet` command's arguments.

Random and adversarial values in every slot of every command (control characters, invalid
UTF-8, huge strings, huge numbers, impossible dates, devices, folders, unknown ids): `vet`
answers with an exit code of 0-3 and at most a few short lines; it never raises, never
prints a traceback, never reports an internal error (exit 4), never takes more than a few
seconds; and when it refuses, the workspace is unchanged (database dump and evidence tree), but
for the audit event a refused act is (``access.refused``, or ``item.validation_refused``).

Each example acts as one account of the team (tests/team.py): mostly the one whose role the
command needs, sometimes any other (whose refusal is then the answer).
"""

from __future__ import annotations

import contextlib
import io
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from team import CAST, Team, make_team

from vetting.cli.main import main

PROC = "kcpd-261-1-preemployment"
GENERATED = {"cli": 0}
#: Per command (its first one or two words): how many examples ended with each exit code.
TALLY: dict[str, dict[int, int]] = {}
FLAG = st.just(None)
#: Set if an example ever started the reactor (a crawl: the network); none may.
REACTOR: list[list[str]] = []

HOSTILE = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8", blacklist_categories=("Cs",)), max_size=12),
    st.sampled_from(["", "   ", "\x00", "a\x00b", "\x1b[31mred", "\u202eevil", "x\ny", "case-\udcff", "\udcfe\udcff",
                     "99999999999999999999999", "-1", "0", "1e400", "NaN", "1995-02-30", "2999-01-01", "/dev/null",
                     "/etc/passwd", "/", "..", "../../etc/passwd", "case-nope", "nobody", "item-nope", "[bold]x[/]",
                     "[/]", "%s%n", "{full_name}", "--help", "-", "pdf"]),
    st.builds(lambda c, n: c * n, st.sampled_from(["A", "é", "[", "\u202e"]), st.integers(1_000, 200_000)),
)


def slot(known: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(known), HOSTILE) if known else HOSTILE


#: Who usually gives each command (its first one or two words): the account whose role it needs.
USUAL = {"procedure approve": "dwhitfield", "procedure list": "dwhitfield", "audit export": "dwhitfield",
         "report process": "dwhitfield", "report audit": "dwhitfield", "candidate erase": "dwhitfield",
         "concur": "amoreno", "queue cancel": "amoreno", "case assign": "amoreno", "case unassign": "amoreno",
         "report release": "amoreno", "report revoke": "amoreno", "report findings": "amoreno",
         "report verify-receipts": "hjones", "queue status": "bot", "candidate outcome": "amoreno",
         "retention status": "amoreno", "retention dispose": "dwhitfield", "hold place": "dwhitfield",
         "hold release": "dwhitfield", "notice record": "sortiz", "notice respond": "sortiz"}
AUDIT_TABLES = ("audit_event", "audit_node", "audit_checkpoint")


def words_of(argv: list[str]) -> str:
    return " ".join(argv[:1] if argv[0] in ("run", "review", "validate", "concur", "uniformity", "whoami")
                    else argv[:2])


def usual_login(argv: list[str]) -> str:
    words = words_of(argv)
    if words.startswith("user "):
        return "root-admin"
    return USUAL.get(words, "sortiz")


def casework(ws: Path) -> tuple[str, list[tuple[int, str]]]:
    """A digest of the workspace but its audit log (``test_cli.casework_digest`` without the log's
    tables, checkpoints.log and the case locks' files), and the log's (seq, action) list: what a
    refusal may add."""
    import hashlib
    import sqlite3
    from contextlib import closing

    h = hashlib.sha256()
    events: list[tuple[int, str]] = []
    for path in sorted(ws.rglob("*")):
        # locks/: a case lock's file is made by the first command that takes the lock (even one
        # that is then refused) and emptied when it is freed: coordination, not casework
        if not path.is_file() or path.name.endswith(("-wal", "-shm")) or path.name == "checkpoints.log" \
                or path.relative_to(ws).parts[0] == "locks":
            continue
        h.update(str(path.relative_to(ws)).encode() + b"\0")
        if path.suffix != ".db":
            h.update(path.read_bytes())
            continue
        with closing(sqlite3.connect(path)) as db, closing(sqlite3.connect(":memory:")) as copy:
            db.backup(copy)
            events = list(copy.execute("SELECT seq, action FROM audit_event ORDER BY seq"))
            for (trigger,) in list(copy.execute("SELECT name FROM sqlite_master WHERE type='trigger'")):
                copy.execute(f'DROP TRIGGER "{trigger}"')
            for table in AUDIT_TABLES:
                copy.execute(f'DELETE FROM "{table}"')
            for table in ("authsession", "account"):  # the idle clocks
                copy.execute(f'UPDATE "{table}" SET last_used_at = \'\'')
            h.update("\n".join(copy.iterdump()).encode())
    return h.hexdigest(), events


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from case_fixtures import REPO, add_item, build_case
    from conftest import AUTH_PDF

    root = tmp_path_factory.mktemp("cliprops")
    b = build_case(root)
    item = add_item(b, "a", "A post.")
    (root / "auth.pdf").write_bytes(AUTH_PDF)
    (root / "cand.yaml").write_text("full_name: Pat Example\nauthorization: {file: auth.pdf, signed_on: 2026-10-01}\n")
    (root / "dec.yaml").write_text(f"decisions:\n  - item: {item.id}\n    decision: rejected\n    reason: not hers\n")
    from vetting.domain.candidates import CandidateInput, add_candidate

    add_candidate(b.ws, CandidateInput(id="sam-erase", full_name="Sam Erase",
                                       authorization={"file": "auth.pdf", "signed_on": "2026-10-01"}),
                  root / "auth.pdf", "Inv. Lee")  # the candidate `candidate erase` may erase
    from vetting.people.assignments import assign_case

    team = make_team(b.ws, root)
    assign_case(b.ws, b.plan.case.id, "sortiz", actor=team.account("amoreno"))  # sortiz's decisions can succeed
    for login in CAST:
        team.account(login)  # each session's first use (an audit event) is behind us
    b.ws.engine.dispose()
    files = [str(root / "auth.pdf"), str(root / "cand.yaml"), str(root / "dec.yaml"),
             str(REPO / "procedures" / "kcpd-261-1.yaml"), str(root)]
    with pytest.MonkeyPatch.context() as mp:
        def no_reactor(*args, **kwargs):  # type: ignore[no-untyped-def]
            REACTOR.append(["reactor started"])
            raise RuntimeError("an example started the reactor (a crawl)")

        mp.setattr("vetting.engine.reactor.run_in_reactor", no_reactor)
        mp.setattr("vetting.engine.runs.run_in_reactor", no_reactor)
        yield {"ws": b.ws.root, "root": root, "case": b.plan.case.id, "item": item.id, "files": files,
               "team": team}


def commands(e: dict) -> st.SearchStrategy[list[str]]:
    case, item, files = slot([e["case"]]), slot([e["item"]]), slot(e["files"])
    name, proc, cand = slot(["Inv. Lee", "Capt. Rao"]), slot([PROC]), slot(["jane-doe"])
    investigator, hiring = slot(["sortiz", "kosei"]), slot(["hjones", "hr.lee"])
    out = HOSTILE.map(lambda s: str(e["root"] / "out" / s.replace("/", "_")[:100]) if s else "")
    fmt = slot(["html"]).filter(lambda s: s.strip().lower() != "pdf")
    date = slot(["2026-10-01", "1990-05-06"])
    number = st.one_of(slot(["1", "2"]), st.integers(-(2**70), 2**70).map(str))

    def opts(*pairs: tuple[str, st.SearchStrategy[str | None]]) -> st.SearchStrategy[list[str]]:
        """Any subset of the options, in any order; a FLAG is given without a value."""
        return st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs)).flatmap(
            lambda chosen: st.tuples(*[v.map(lambda x, f=f: [f] if x is None else [f, x]) for f, v in chosen]).map(
                lambda parts: [x for p in parts for x in p]))

    def cmd(*head: str | st.SearchStrategy[str], options: st.SearchStrategy[list[str]] | None = None):
        fixed = st.tuples(*[st.just(h) if isinstance(h, str) else h for h in head])
        return st.tuples(fixed, options if options is not None else st.just([])).map(
            lambda t: list(t[0]) + list(t[1]))

    return st.one_of(
        cmd("procedure", "check", files),
        cmd("procedure", "approve", files),
        cmd("procedure", "list"),
        cmd("candidate", "add", options=opts(("--name", name), ("--id", cand), ("--dob", date), ("--email", HOSTILE),
                                             ("--phone", HOSTILE), ("--username", HOSTILE), ("--url", HOSTILE),
                                             ("--authorization", files), ("--signed-on", date),
                                             ("--file", files), ("--city", HOSTILE))),
        cmd("candidate", "list"),
        cmd("case", "list", options=opts(("--candidate", cand))),
        cmd("uniformity", options=opts(("--procedure", proc))),
        cmd("review", case, options=st.sampled_from([[], ["--all"]])),
        cmd("validate", item, options=opts(("--decision", slot(["rejected", "validated", "unverifiable"])),
                                           ("--reason", HOSTILE), ("--finding", HOSTILE),
                                           ("--supersedes", number), ("--mitigating", HOSTILE))),
        cmd("validate", options=opts(("--file", files))),
        cmd("concur", number, options=opts(("--reason", HOSTILE))),
        cmd("audit", "verify", options=opts(("--case", case), ("--expect-key", HOSTILE))),
        cmd("audit", "show", case),
        cmd("audit", "export", options=opts(("--out", out))),
        cmd("report", "findings", case, options=opts(("-o", out), ("--format", fmt), ("--paper", HOSTILE))),
        cmd("report", "process", proc, options=opts(("-o", out), ("--format", fmt))),
        cmd("report", "audit", options=opts(("--procedure", proc), ("-o", out), ("--format", fmt))),
        cmd("report", "verify-receipts", files),
        cmd("sites", "import", files, options=opts(("--out", out))),
        # never a real run: the reactor cannot start twice in one process (and runs are tested for real)
        cmd("run", HOSTILE.filter(lambda s: s != "jane-doe"), options=opts(("--procedure", proc))),
        # erasing the case's candidate would empty every later example: only a candidate kept for it
        cmd("candidate", "erase", slot(["sam-erase"]).filter(lambda s: s != "jane-doe"),
            options=opts(("--reason", HOSTILE))),
        cmd("evidence", "export", case, options=opts(("--out", out), ("-o", out))),
        # never a real check (the network, and the reactor): none of these files is a site list
        cmd("sites", "health", files, options=opts(("--procedure", files), ("--all", FLAG))),
        cmd("queue", "status"),
        cmd("queue", "cancel", case, options=opts(("--reason", HOSTILE), ("--wait", number))),
        cmd("case", "assign", case, investigator),
        cmd("case", "unassign", case, investigator),
        cmd("report", "release", case, hiring),
        cmd("report", "revoke", case, hiring),
        cmd("user", "add", slot(["hr.lee", "admin"]),
            options=opts(("--name", name), ("--role", slot(["hiring", "admin", "investigator"])),
                         ("--badge", HOSTILE), ("--email", HOSTILE), ("--oidc-issuer", HOSTILE),
                         ("--oidc-subject", HOSTILE), ("--bootstrap-admin", FLAG))),
        cmd("user", "list", options=st.sampled_from([[], ["--roles"]])),
        # one strategy per command: four commands behind one draw left one of them without examples in 1% of runs
        *[cmd("user", verb, slot(["hr.lee", "admin"])) for verb in ("disable", "enable", "reset", "unlock")],
        cmd("user", "roles", slot(["hr.lee", "admin"]),
            options=opts(("--grant", slot(["hiring", "admin"])), ("--revoke", slot(["hiring", "admin"])))),
        cmd("user", "idp", options=opts(("--issuer", HOSTILE), ("--client-id", HOSTILE))),
        cmd("whoami"),
        # records over time (docs/records.md); nothing is due in this fresh workspace, so a disposal
        # run disposes of nothing
        cmd("candidate", "outcome", cand, slot(["hired", "not-hired"]), options=opts(("--on", date))),
        cmd("retention", "status"),
        cmd("retention", "dispose", options=opts(("--due", FLAG))),
        *[cmd("hold", verb, case, options=opts(("--reason", HOSTILE))) for verb in ("place", "release")],
        cmd("notice", "record", case, options=opts(("--on", date), ("--how", HOSTILE))),
        cmd("notice", "respond", case, options=opts(("--finding", item), ("--text", HOSTILE), ("--text-file", files),
                                                    ("--attach", files), ("--received", date))),
    )


#: Commands the property test leaves out, and why: each reads a secret from the terminal, runs a
#: crawl or a server (worker, web), or makes a whole workspace (each is tested for real elsewhere).
NOT_GENERATED = {"login", "logout", "password", "demo", "worker", "web"}


def run_vet(team: Team, login: str, argv: list[str]) -> tuple[int, str, str]:
    """`vet` in this process as ``login``, in a scratch folder (reports without -o land in the current one)."""
    ws = team.ws.root
    out, err = io.StringIO(), io.StringIO()
    with team.acting(login), contextlib.chdir(ws.parent), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        code = main(["--workspace", str(ws), *argv])
    return code, out.getvalue(), err.getvalue()


@settings(max_examples=800, deadline=timedelta(seconds=15), database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(data=st.data())
def test_every_command_answers_every_argument(env, data) -> None:  # type: ignore[no-untyped-def]
    argv = data.draw(commands(env), label="argv")
    login = data.draw(st.one_of(st.just(usual_login(argv)), st.sampled_from(sorted(CAST))), label="login")
    GENERATED["cli"] += 1
    (env["root"] / "out").mkdir(exist_ok=True)
    before, log_before = casework(env["ws"])
    code, out, err = run_vet(env["team"], login, argv)
    assert not REACTOR, f"{argv!r} started a crawl"
    words = words_of(argv)
    TALLY.setdefault(words, {}).setdefault(code, 0)
    TALLY[words][code] += 1
    assert code in (0, 1, 2, 3), (code, err[-500:])
    assert "Traceback" not in out + err and "internal error" not in err, err[-500:]
    assert len(err) < 20_000, "refusals are short: long values are clipped"
    after, log_after = casework(env["ws"])
    assert log_after[:len(log_before)] == log_before, "the audit log only grows"
    added = {action for _, action in log_after[len(log_before):]}
    if code in (2, 3):
        assert (after, added) == (before, set()), f"a refusal changed the workspace: {added}"
        assert err.strip(), "a refusal says why on stderr"
    elif code == 1:
        # A refused act is an audit event (access.refused; a refused validation item.validation_refused),
        # and nothing else changes; a failed check changes nothing at all.
        allowed = {"access.refused"} | ({"item.validation_refused"} if argv[0] == "validate" else set())
        assert after == before, "a refusal or a failed check changed the workspace"
        assert added <= allowed, f"a refusal or a failed check recorded {added - allowed}"
        assert not added or err.strip(), "a refusal says why on stderr"


def test_every_command_got_examples() -> None:
    """How many examples ran, per command and exit code (-s shows it), and that every command of
    the CLI but those of NOT_GENERATED got some."""
    print("hypothesis CLI examples generated:", GENERATED)
    for words, codes in sorted(TALLY.items()):
        print(f"  {words}: {sum(codes.values())} ({', '.join(f'exit {c}: {n}' for c, n in sorted(codes.items()))})")
    if not TALLY:
        pytest.skip("run with test_every_command_answers_every_argument")  # e.g. -k on this test alone
    # Every command of the CLI got examples: a new command without a strategy above fails here.
    import typer.main

    from vetting.cli.main import app

    def leaves(command, path=()):  # type: ignore[no-untyped-def]
        subs = getattr(command, "commands", None)
        if not subs:
            yield words_of(list(path))
        for name, sub in (subs or {}).items():
            yield from leaves(sub, (*path, name))

    every = set(leaves(typer.main.get_command(app)))
    assert every - set(TALLY) - NOT_GENERATED == set(), "commands without examples"
