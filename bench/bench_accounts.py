"""Benchmark of account discovery (issue 4): our toolkit vs Sherlock vs Maigret on one loopback farm.
Not a test: run it by hand or with `make bench`.

    .venv/bin/python bench/bench_accounts.py [--sites 500] [--latency 0.05] [--concurrency 4]
                                             [--repeat 3] [--render-pages 20] [--diagnose]
                                             [--skip ours,sherlock,maigret,pages,replay] [--keep DIR]

What it does, and why this way:

* Starts the site farm (``bench/farm.py``) in a process of its own: N sites, each on its own
  127.x address, 50 ms per response. Only the client should compete for this machine's CPUs.
* (a) OUR toolkit through the real product path, as an investigator would: a fresh workspace,
  the shipped procedure reduced to its account-discovery step (``network: loopback``,
  ``delay_seconds: 0``, ``concurrency_per_domain`` = ``--concurrency``), a ``vetting-sites/1``
  manifest of the farm, ``vet procedure approve``, ``vet candidate add`` with an
  authorization file, then ``vet run`` timed as a subprocess. Rendering cannot be switched off
  by a procedure, so the benchmark username exists on only every 50th site: most verdicts
  are negatives and only the found profiles are rendered in Chromium. Our run does more per
  site than the others: robots.txt per host, a health check per site (known account + random
  name), every response written to WARC and to the evidence store, every request an audit event.
* (a') warm: right after each (a), a second candidate in the same workspace: site health and
  robots.txt are reused within the day (``vetting/engine/daycache.py``), one request per site.
* The replay: ``bench/replay_farm.py`` serves 100 entries of the shipped WhatsMyName list on
  loopback; one candidate with 28 usernames through ``vet run``; wall time against
  requests x latency / concurrency, precision and recall against the replay's truth.
* (b) Sherlock and (c) Maigret, each from its own venv under /tmp (never the project's), each
  with a site file of its own format describing the same farm, timed the same way.
* The render cost: ``vet run`` of a pages step over 20 farm pages served as HTML (rendered in
  Chromium) and over the same 20 served as text/plain (not rendered); the difference per page.
* ``--diagnose``: (a) again, with the workspace on tmpfs and with Scrapy settings overridden
  by a ``sitecustomize`` (what-ifs only, the product is untouched), to say which cause costs
  what. Each tool and what-if runs ``--repeat`` times; the median wall time is reported,
  because a shared machine makes single runs unreliable.

The third-party tools phone home on start (Sherlock: a GitHub release check and an exclusions
list; Maigret: a database update check). Nothing may leave 127.0.0.0/8, so they run inside a
"loopback jail": a ``sitecustomize`` that refuses any socket connection or name lookup outside
loopback, plus proxy variables pointing at a closed loopback port. What they tried is reported.

Whole-process wall time comes from the parent's clock around the subprocess; peak memory is
``ru_maxrss`` from ``wait4`` (the largest single process of the tree: Python, or Chromium;
which one it was, and the client's own peak, from each process's sampled ``VmHWM``) and,
sampled every 200 ms from /proc, the peak sum of PSS over the whole process tree (Chromium
included; shared pages divided among the processes sharing them).
Results go to bench/results/accounts.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from farm import known_account, site_address, username_exists  # noqa: E402

USERNAME = "benchuser"
FOUND_EVERY = 50
VENVS = {"sherlock": Path("/tmp/bench-sherlock"), "maigret": Path("/tmp/bench-maigret")}
PACKAGES = {"sherlock": "sherlock-project", "maigret": "maigret"}
#: The demo's fictional accounts (vetting/demo/accounts.py) act in every benchmark workspace.
INVESTIGATOR = "sortiz"
COMMANDER = "dwhitfield"
SHERLOCK_WORKERS = 20  # hard-coded in sherlock_project/sherlock.py
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port, closed: any proxied request fails at once
FOUND_LINE = re.compile(r"^\[\+\] site\d+: ", re.M)  # Sherlock's and Maigret's line for a hit

JAIL = '''"""Loopback jail for benchmarked third-party tools: no connection or lookup outside 127/8."""
import ipaddress, os, socket, sys

_LOG = os.environ.get("BENCH_JAIL_LOG")


def _note(what):
    if _LOG:
        with open(_LOG, "a") as fh:
            fh.write(what + "\\n")


def _loopback(host):
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


_getaddrinfo = socket.getaddrinfo


def getaddrinfo(host, *args, **kwargs):
    if host is not None and not _loopback(host if isinstance(host, str) else host.decode()):
        _note(f"lookup refused: {host}")
        raise socket.gaierror(socket.EAI_NONAME, f"loopback jail: lookup of {host} refused")
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = getaddrinfo
_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def _check(sock, address):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
        _note(f"connect refused: {address[0]}")
        raise ConnectionRefusedError(f"loopback jail: connection to {address[0]} refused")


def connect(self, address):
    _check(self, address)
    return _connect(self, address)


def connect_ex(self, address):
    _check(self, address)
    return _connect_ex(self, address)


socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
'''


# -- processes and measurement -----------------------------------------------------------
def tree_pss_kib(root: int, peaks: dict[int, tuple[str, int]] | None = None) -> int:
    """Sum of PSS over ``root`` and its descendants, from /proc (PSS shares each shared page
    out among the processes that map it, so Chromium's many processes are not over-counted).

    ``peaks``, when given, is updated with each process's name and peak RSS (``VmHWM``, KiB):
    ``ru_maxrss`` only says how large the largest descendant was, not which one it was."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
            if peaks is not None:
                with open(f"/proc/{pid}/status") as fh:
                    status = dict(line.split(":", 1) for line in fh if ":" in line)
                hwm = int(status["VmHWM"].split()[0])
                if hwm > peaks.get(pid, ("", 0))[1]:
                    peaks[pid] = (status["Name"].strip(), hwm)
        except (OSError, KeyError, ValueError):
            continue
    return total


def largest_process(peaks: dict[int, tuple[str, int]]) -> dict[str, Any]:
    """The process of the tree with the largest sampled peak RSS: its name and MiB."""
    if not peaks:
        return {}
    name, kib = max(peaks.values(), key=lambda v: v[1])
    return {"name": name, "peak_rss_mib": round(kib / 1024, 1)}


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` alone, children excluded: is the client CPU-bound?"""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def measure(cmd: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 1800) -> dict[str, Any]:
    """Run ``cmd``; its wall time, exit code, ru_maxrss (wait4), sampled process-tree peak PSS,
    and the CPU time of the client process alone (sampled, so up to 200 ms short)."""
    peak, cpu = [0], [0.0]
    peaks: dict[int, tuple[str, int]] = {}  # pid -> (name, peak RSS KiB), sampled
    load_before = os.getloadavg()[0]
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                stdin=subprocess.DEVNULL)
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                peak[0] = max(peak[0], tree_pss_kib(proc.pid, peaks))
                cpu[0] = max(cpu[0], process_cpu_s(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        killer.cancel()
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall_s": round(wall, 2), "exit": proc.returncode, "maxrss_mib": round(usage.ru_maxrss / 1024, 1),
            "tree_peak_pss_mib": round(peak[0] / 1024, 1),
            # which process was the largest, and the client's own peak (sampled VmHWM)
            "largest_process": largest_process(peaks),
            "client_peak_rss_mib": round(peaks.get(proc.pid, ("", 0))[1] / 1024, 1), "user_s": round(usage.ru_utime, 2),
            "sys_s": round(usage.ru_stime, 2), "client_cpu_s": round(cpu[0], 2), "log": str(log),
            # The machine is shared: a high load average means the figures are pessimistic.
            "loadavg_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)]}


class FarmProcess:
    """The site farm in a child process: started, waited for until every site listens, stopped."""

    def __init__(self, sites: int, latency: float, lifetime: float):
        self.args = [sys.executable, str(ROOT / "bench" / "farm.py"), "--sites", str(sites),
                     "--latency", str(latency), "--username", USERNAME, "--found-every", str(FOUND_EVERY),
                     "--lifetime", str(lifetime), "--watch-stdin"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def __enter__(self) -> FarmProcess:
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().split()  # blocks until all sites listen
        if not line or line[0] != "READY":
            raise RuntimeError(f"the farm did not start: {line!r}")
        self.port = int(line[1])
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()  # the farm exits when its stdin closes
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def base(self, i: int) -> str:
        return f"http://{site_address(i)}:{self.port}"

    def stats(self, reset: bool = False) -> dict[str, Any]:
        path = "/__farm/reset" if reset else "/__farm/stats"
        with self.opener.open(f"http://{site_address(0)}:{self.port}{path}", timeout=10) as resp:
            return json.loads(resp.read())


# -- site files in each tool's format ----------------------------------------------------
def our_manifest(farm: FarmProcess, sites: int) -> dict[str, Any]:
    return {"format": "vetting-sites/1", "sites": [
        {"name": f"site{i}", "check_url": f"{farm.base(i)}/u/{{account}}",
         "profile_url": f"{farm.base(i)}/u/{{account}}",
         "exists": {"status": [200], "contains": "profile of"},
         "missing": {"status": [404], "contains": "not found"},
         "known_account": known_account(i), "category": "bench", "protection": [], "method": "GET"}
        for i in range(sites)]}


def sherlock_data(farm: FarmProcess, sites: int) -> dict[str, Any]:
    return {f"site{i}": {"errorType": "status_code", "url": f"{farm.base(i)}/u/{{}}",
                         "urlMain": f"{farm.base(i)}/", "username_claimed": known_account(i)}
            for i in range(sites)}


def maigret_db(farm: FarmProcess, sites: int) -> dict[str, Any]:
    return {"sites": {f"site{i}": {"checkType": "status_code", "url": f"{farm.base(i)}/u/{{username}}",
                                   "urlMain": f"{farm.base(i)}/", "usernameClaimed": known_account(i),
                                   "usernameUnclaimed": "noonewouldeverusethis7", "tags": ["bench"]}
                      for i in range(sites)},
            "engines": {}, "tags": ["bench"]}


# -- (a) our toolkit ---------------------------------------------------------------------
def write_authorization(work: Path) -> None:
    """The candidate's signed authorization: ``vet candidate add`` accepts only a document
    (PDF, picture) judged by its first bytes, so the fictional one is a minimal PDF."""
    (work / "authorization.pdf").write_bytes(b"%PDF-1.4\n% Signed authorization (benchmark, fictional).\n")


_SESSIONS: dict[Path, dict[str, dict[str, str]]] = {}


def logged_in(work: Path, login: str) -> dict[str, str]:
    """The environment of a ``vet`` acting as ``login`` in ``work``'s workspace, made (with the
    demo's people, each through the real login) the first time it is asked for."""
    if work not in _SESSIONS:
        from vetting.demo.accounts import create_demo_people, session_folders
        from vetting.store.workspace import Workspace

        ws = Workspace.open(work / "workspace")
        _SESSIONS[work] = session_folders(ws, create_demo_people(ws), work)
        ws.engine.dispose()
    return dict(os.environ, **_SESSIONS[work][login])


def vet(work: Path, *args: str, login: str = INVESTIGATOR) -> None:
    cmd = [str(ROOT / ".venv" / "bin" / "vet"), "--workspace", str(work / "workspace"), *args]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=work, env=logged_in(work, login))


def procedure_for(step_ids: list[str], args: argparse.Namespace, proc_id: str,
                  extra_steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The shipped procedure with only ``step_ids`` kept, on the loopback profile, no delay."""
    data = yaml.safe_load((ROOT / "procedures" / "kcpd-261-1.yaml").read_text(encoding="utf-8"))
    data["id"] = proc_id
    data["description"] = "BENCHMARK ADAPTATION (loopback site farm). " + data["description"]
    settings = data["settings"]
    settings["network"] = "loopback"
    settings["rate_limit"] = {"delay_seconds": 0, "concurrency_per_domain": args.concurrency,
                              "concurrency_total": args.total}
    data["steps"] = [s for s in data["steps"] if s["id"] in step_ids] + (extra_steps or [])
    return data


def approve_procedure(work: Path, proc: dict[str, Any]) -> None:
    """``proc`` written to ``work/procedure.yaml`` and approved by the commander, with the
    candidate authorization file every benchmark candidate is added with."""
    (work / "procedure.yaml").write_text(yaml.safe_dump(proc, sort_keys=False), encoding="utf-8")
    write_authorization(work)
    vet(work, "procedure", "approve", "procedure.yaml", login=COMMANDER)


def db_figures(work: Path, step_id: str) -> dict[str, Any]:
    """Outcomes, renders and the step's own duration, read from the workspace database."""
    db = sqlite3.connect(work / "workspace" / "vetting.db")
    try:
        outcomes = dict(db.execute("select outcome, count(*) from item where step_id=? group by outcome",
                                   (step_id,)).fetchall())
        renders = db.execute("select count(*) from item where step_id=? and artifacts_json like ?",
                             (step_id, '%"screenshot"%')).fetchone()[0]
        row = db.execute("select started_at, finished_at, status, requests_allowed, requests_refused, error "
                         "from steprun where step_id=? order by id desc limit 1", (step_id,)).fetchone()
        audit = db.execute("select count(*) from audit_event").fetchone()[0]
    finally:
        db.close()
    from datetime import datetime

    step_s = None
    if row and row[0] and row[1]:
        step_s = round((datetime.fromisoformat(str(row[1])) - datetime.fromisoformat(str(row[0]))).total_seconds(), 2)
    warc = sum(p.stat().st_size for p in (work / "workspace" / "evidence" / "warc").rglob("*.warc.gz"))
    return {"outcomes": outcomes, "renders": renders, "step_s": step_s, "step_status": row[2] if row else None,
            "requests_allowed": row[3] if row else None, "requests_refused": row[4] if row else None,
            "step_error": row[5] if row else None, "audit_events": audit, "warc_bytes": warc}


def run_ours(farm: FarmProcess, args: argparse.Namespace, work: Path,
             patch: dict[str, Any] | None = None) -> dict[str, Any]:
    """(a): the real product path; ``patch`` (diagnosis only) overrides spiders/settings.py values."""
    work.mkdir(parents=True)
    (work / "sites.json").write_text(json.dumps(our_manifest(farm, args.sites)), encoding="utf-8")
    proc = procedure_for(["account-discovery"], args, "bench-accounts")
    proc["steps"][0]["sites"] = "sites.json"
    approve_procedure(work, proc)
    vet(work, "candidate", "add", "--name", "Bench Candidate", "--username", USERNAME,
        "--authorization", "authorization.pdf", "--signed-on", "2026-11-01")
    farm.stats(reset=True)
    cmd = [str(ROOT / ".venv" / "bin" / "vet"), "--workspace", str(work / "workspace"), "run",
           "bench-candidate", "--procedure", "bench-accounts"]
    print(f"  ours: {' '.join(cmd[-6:])}" + (f" (patched: {patch})" if patch else ""), flush=True)
    env = logged_in(work, INVESTIGATOR)
    if patch:
        # A what-if, never the product: a sitecustomize sets Scrapy settings before vet starts.
        (work / "patch").mkdir()
        (work / "patch" / "sitecustomize.py").write_text(
            "import spiders.settings as s\n" + "".join(f"s.{k} = {v!r}\n" for k, v in patch.items()))
        env = dict(env, PYTHONPATH=str(work / "patch"))
    result = measure(cmd, work / "vet-run.log", env=env, cwd=work)
    result["farm"] = farm.stats()
    result.update(db_figures(work, "account-discovery"))
    result["found"] = result["outcomes"].get("exists", 0)
    result["does"] = ("robots.txt per host, health check per site (known account + random name), "
                      "every response to WARC + evidence store + audit log, found profiles rendered "
                      "in Chromium, screening")
    result["concurrency"] = {"per_domain": args.concurrency,
                             "global_cap": (patch or {}).get("CONCURRENT_REQUESTS", args.total)}
    if not patch:
        result["warm"] = run_ours_warm(farm, work, env)
    return result


def run_ours_warm(farm: FarmProcess, work: Path, env: dict[str, str] | None) -> dict[str, Any]:
    """A second candidate in the same workspace the same day: site health and robots.txt are
    reused (vetting/engine/daycache.py), so each site costs one request, the username's."""
    vet(work, "candidate", "add", "--name", "Bench Candidate Two", "--username", USERNAME,
        "--authorization", "authorization.pdf", "--signed-on", "2026-11-01")
    farm.stats(reset=True)
    cmd = [str(ROOT / ".venv" / "bin" / "vet"), "--workspace", str(work / "workspace"), "run",
           "bench-candidate-two", "--procedure", "bench-accounts"]
    print(f"  ours (warm): {' '.join(cmd[-6:])}", flush=True)
    result = measure(cmd, work / "vet-run-warm.log", env=env, cwd=work)
    result["farm"] = farm.stats()
    db = sqlite3.connect(work / "workspace" / "vetting.db")
    try:
        case = db.execute("select id from \"case\" where candidate_id='bench-candidate-two'").fetchone()[0]
        result["outcomes"] = dict(db.execute("select outcome, count(*) from item where case_id=? group by outcome",
                                             (case,)).fetchall())
        result["reuse_events"] = dict(db.execute(
            "select action, count(*) from audit_event where case_id=? and action in "
            "('sites.health_reused', 'robots.reused', 'sites.health_checked') group by action", (case,)).fetchall())
    finally:
        db.close()
    result["found"] = result["outcomes"].get("exists", 0)
    return result


#: What-if runs of (a) for --diagnose: the same product path, one cause removed at a time.
DIAGNOSES = (
    ("tmpfs", "workspace on tmpfs (fsync costs nothing)", {}),
    ("tmpfs+items1", "tmpfs, CONCURRENT_ITEMS=1", {"CONCURRENT_ITEMS": 1}),
    ("tmpfs+items1+c64", "tmpfs, CONCURRENT_ITEMS=1, CONCURRENT_REQUESTS=64",
     {"CONCURRENT_ITEMS": 1, "CONCURRENT_REQUESTS": 64}),
    ("disk+items1+c64", "disk, CONCURRENT_ITEMS=1, CONCURRENT_REQUESTS=64",
     {"CONCURRENT_ITEMS": 1, "CONCURRENT_REQUESTS": 64}),
)


def run_diagnoses(farm: FarmProcess, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Which cause costs how much: (a) again with the evidence disk and Scrapy settings varied
    (each what-if run ``--repeat`` times, the median kept, like the main runs)."""
    out: dict[str, Any] = {}
    for name, label, patch in DIAGNOSES:
        def one(farm: FarmProcess, args: argparse.Namespace, where: Path,
                name: str = name, patch: dict[str, Any] = patch) -> dict[str, Any]:
            if not name.startswith("tmpfs"):
                return run_ours(farm, args, where, patch=patch or None)
            base = Path(tempfile.mkdtemp(prefix="bench-accounts-", dir="/dev/shm"))
            try:
                return run_ours(farm, args, base / "ours", patch=patch or None)
            finally:
                shutil.rmtree(base, ignore_errors=True)

        res = median_run(one, farm, args, work / name)
        out[name] = {"label": label, "wall_s": res["wall_s"], "runs_wall_s": res.get("runs_wall_s"),
                     "step_s": res["step_s"], "inflight_max": res["farm"]["inflight_max"],
                     "found": res["found"], "client_cpu_s": res["client_cpu_s"], "exit": res["exit"],
                     "loadavg_1min": res["loadavg_1min"]}
    return out


def run_pages(farm: FarmProcess, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Render cost: a pages step over N HTML pages vs the same N as text/plain, per page."""
    work.mkdir(parents=True)
    step = {"id": "bench-pages", "title": "Capture the benchmark pages",
            "purpose": "Every listed page is captured as served and, for HTML, as rendered.",
            "collector": "pages", "inputs": "{profile_urls}", "policy": "IV.B.8.a",
            "limits": {"max_pages": max(25, args.render_pages), "timeout_seconds": 900}}
    proc = procedure_for([], args, "bench-pages", [step])
    approve_procedure(work, proc)
    out: dict[str, Any] = {"pages": args.render_pages}
    for ext in ("txt", "html"):
        urls = []
        for n in range(args.render_pages):
            urls += ["--url", f"{farm.base(n % args.sites)}/page/{n}.{ext}"]
        vet(work, "candidate", "add", "--name", f"Pages {ext}", "--username", f"pages{ext}", *urls,
            "--authorization", "authorization.pdf", "--signed-on", "2026-11-01")
        cmd = [str(ROOT / ".venv" / "bin" / "vet"), "--workspace", str(work / "workspace"), "run",
               f"pages-{ext}", "--procedure", "bench-pages"]
        print(f"  pages: {' '.join(cmd[-6:])}", flush=True)
        res = measure(cmd, work / f"vet-run-{ext}.log", env=logged_in(work, INVESTIGATOR), cwd=work)
        db = sqlite3.connect(work / "workspace" / "vetting.db")
        res["renders"] = db.execute("select count(*) from item where found_by like 'profile_urls%' and url like ? "
                                    "and artifacts_json like ?", (f"%.{ext}", '%"screenshot"%')).fetchone()[0]
        db.close()
        out[ext] = res
    out["render_s_per_page"] = round((out["html"]["wall_s"] - out["txt"]["wall_s"]) / args.render_pages, 3)
    return out


def run_replay(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """100 real WhatsMyName entries replayed on loopback (bench/replay_farm.py), 28 usernames,
    one candidate, through `vet run`: wall time against requests x latency / concurrency, and
    precision / recall against the replay's truth."""
    work.mkdir(parents=True)
    manifest = work / "replay-sites.json"
    farm = subprocess.Popen([sys.executable, str(ROOT / "bench" / "replay_farm.py"), "--sites", str(args.replay_sites),
                             "--usernames", str(args.replay_usernames), "--latency", str(args.latency),
                             "--manifest", str(manifest)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert farm.stdout is not None
        line = farm.stdout.readline().decode().split()
        if not line or line[0] != "READY":
            raise RuntimeError(f"the replay farm did not start: {line!r}")
        port = int(line[1])
        truth = json.loads(manifest.with_suffix(".truth.json").read_text(encoding="utf-8"))
        proc = procedure_for(["account-discovery"], args, "bench-replay")
        proc["steps"][0]["sites"] = manifest.name
        proc["steps"][0]["limits"] = {"max_pages": 10_000, "timeout_seconds": 1800}
        approve_procedure(work, proc)
        names = truth["usernames"]
        vet(work, "candidate", "add", "--name", "Replay Candidate", *[a for n in names for a in ("--username", n)],
            "--authorization", "authorization.pdf", "--signed-on", "2026-11-01")
        cmd = [str(ROOT / ".venv" / "bin" / "vet"), "--workspace", str(work / "workspace"), "run",
               "replay-candidate", "--procedure", "bench-replay"]
        print(f"  replay: {' '.join(cmd[-6:])}", flush=True)
        result = measure(cmd, work / "vet-run.log", env=logged_in(work, INVESTIGATOR), cwd=work)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{port}/__farm/stats", timeout=10) as resp:
            counts = json.loads(resp.read())["counts"]
    finally:
        if farm.stdin is not None:
            farm.stdin.close()
        try:
            farm.wait(10)
        except subprocess.TimeoutExpired:
            farm.kill()
    db = sqlite3.connect(work / "workspace" / "vetting.db")
    try:
        items = db.execute("select key, outcome from item where step_id='account-discovery'").fetchall()
        renders = db.execute("select count(*) from item where step_id='account-discovery' and artifacts_json like ?",
                             ('%"screenshot"%',)).fetchone()[0]
    finally:
        db.close()
    outcomes: dict[str, int] = {}
    correct = wrong = 0
    for key, outcome in items:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if outcome == "exists":
            _, site, user = key.split(":", 2)
            if user in truth["truth"].get(site, []):
                correct += 1
            else:
                wrong += 1
    true_pairs = sum(1 for holders in truth["truth"].values() for u in holders if u in names)
    requests = counts.get("robots", 0) + counts.get("account", 0)
    limit = requests * args.latency / args.total
    result.update({"counts": counts, "requests": requests, "outcomes": outcomes, "renders": renders,
                   "sites": args.replay_sites, "usernames": len(names),
                   "precision": f"{correct}/{correct + wrong}", "recall": f"{correct}/{true_pairs}",
                   "limit": {"requests": requests, "concurrency": args.total, "limit_s": round(limit, 2)},
                   "vs_limit": round(result["wall_s"] / limit, 1) if limit else None})
    result["within_3x_of_limit"] = bool(limit) and result["wall_s"] <= 3 * limit
    return result


def run_floor(farm: FarmProcess, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """What no run of ours can go below on this machine, measured, not assumed:

    * ``case_fixed_s``: ``vet run`` of a case whose account step checks ONE site (warm: one
      request): start-up, the procedure's checks, the case's events, the WARC seal, screening.
    * ``chromium``: Chromium alone rendering the farm's found profiles (``bench/render_floor.py``:
      launch, one fresh context per page, load, network idle, full-page screenshot, DOM, 8 at
      once), no crawl beside it. Every found profile is rendered inside the case, so a case
      that finds them cannot end sooner. Run with the renderer's binary and with the full
      ``chromium`` when both are installed.
    """
    work.mkdir(parents=True)
    found = [i for i in range(args.sites) if username_exists(i, FOUND_EVERY)]
    manifest = our_manifest(farm, args.sites)
    manifest["sites"] = [manifest["sites"][next(i for i in range(args.sites) if i not in found)]]
    (work / "sites.json").write_text(json.dumps(manifest), encoding="utf-8")
    proc = procedure_for(["account-discovery"], args, "bench-fixed")
    proc["steps"][0]["sites"] = "sites.json"
    approve_procedure(work, proc)
    walls = []
    for n in range(max(2, args.repeat) + 1):  # the first run is cold (robots.txt, health): not kept
        vet(work, "candidate", "add", "--name", f"Fixed Cost {n}", "--username", USERNAME,
            "--authorization", "authorization.pdf", "--signed-on", "2026-11-01")
        cmd = [str(ROOT / ".venv" / "bin" / "vet"), "--workspace", str(work / "workspace"), "run",
               f"fixed-cost-{n}", "--procedure", "bench-fixed"]
        res = measure(cmd, work / f"vet-run-{n}.log", env=logged_in(work, INVESTIGATOR), cwd=work)
        if n:
            walls.append(res["wall_s"])
    out: dict[str, Any] = {"case_fixed_s": sorted(walls)[len(walls) // 2], "case_fixed_runs_s": walls}
    urls = [f"{farm.base(i)}/u/{USERNAME}" for i in found]
    from spiders.browser import find_chromium

    binaries = list(dict.fromkeys(b for b in (find_chromium(), "/usr/bin/chromium") if Path(b).is_file()))
    out["chromium"] = {}
    for binary in binaries:
        runs = []
        for _ in range(max(1, args.repeat)):
            done = subprocess.run([sys.executable, str(ROOT / "bench" / "render_floor.py"), *urls, "--binary", binary],
                                  capture_output=True, text=True, timeout=600, check=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        runs.sort(key=lambda r: r["wall_s"])
        chosen = dict(runs[len(runs) // 2], runs_wall_s=[r["wall_s"] for r in runs], loadavg_1min=_load())
        out["chromium"][Path(binary).name] = chosen
    # The replay renders its 78 found profiles: as many small farm pages, rendered the same way
    # by the renderer's binary (the replay's own pages are as small; a lower bound either way).
    pages = [f"{farm.base(n % args.sites)}/page/{n}.html" for n in range(args.replay_renders)]
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "render_floor.py"), *pages, "--binary", binaries[0]],
                          capture_output=True, text=True, timeout=900, check=True)
    out["replay_chromium"] = dict(json.loads(done.stdout.strip().splitlines()[-1]), loadavg_1min=_load())
    return out


def _load() -> float:
    return round(os.getloadavg()[0], 1)


# -- (b) Sherlock, (c) Maigret -----------------------------------------------------------
def ensure_venv(tool: str) -> Path | None:
    """The tool's own venv under /tmp (never the project's), created with pip if missing."""
    venv = VENVS[tool]
    exe = venv / "bin" / tool
    if not exe.exists():
        print(f"  installing {PACKAGES[tool]} into {venv} ...", flush=True)
        try:
            subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "pip"), "install", "-q", PACKAGES[tool]], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except (subprocess.CalledProcessError, OSError) as exc:
            print(f"  could not install {PACKAGES[tool]}: {exc}", flush=True)
            return None
    return exe if exe.exists() else None


def jailed_env(work: Path, proxies: bool = True) -> dict[str, str]:
    """The jail on PYTHONPATH; with ``proxies``, also the dead-proxy variables (requests honours
    ``NO_PROXY=127.0.0.0/8``; aiohttp does not understand a CIDR there, so Maigret gets none)."""
    jail = work / "jail"
    jail.mkdir(exist_ok=True)
    (jail / "sitecustomize.py").write_text(JAIL, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update({"PYTHONPATH": str(jail), "BENCH_JAIL_LOG": str(work / "jail.log"), "HOME": str(work),
                "NO_COLOR": "1", "TERM": "dumb"})
    if proxies:
        env.update({name: DEAD_PROXY for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                                                   "http_proxy", "https_proxy", "all_proxy")})
        env.update({"NO_PROXY": "127.0.0.0/8,localhost", "no_proxy": "127.0.0.0/8,localhost"})
    return env


def jail_notes(work: Path) -> list[str]:
    log = work / "jail.log"
    return sorted(set(log.read_text().splitlines())) if log.exists() else []


def run_sherlock(farm: FarmProcess, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    exe = ensure_venv("sherlock")
    if exe is None:
        return {"skipped": "sherlock-project could not be installed"}
    work.mkdir(parents=True)
    (work / "data.json").write_text(json.dumps(sherlock_data(farm, args.sites)), encoding="utf-8")
    # --ignore-exclusions: do not download the upstream exclusion list; no txt file; found only.
    cmd = [str(exe), USERNAME, "--json", str(work / "data.json"), "--ignore-exclusions", "--no-color",
           "--print-found", "--timeout", "30", "--output", str(work / "found.txt"), "--txt"]
    print(f"  sherlock: {' '.join(cmd[1:])}", flush=True)
    farm.stats(reset=True)
    result = measure(cmd, work / "sherlock.log", env=jailed_env(work), cwd=work)
    result["farm"] = farm.stats()
    text = (work / "sherlock.log").read_text(errors="replace")
    result["found"] = len(FOUND_LINE.findall(text))
    result["jail"] = jail_notes(work) + [line for line in text.splitlines() if "checking for an update" in line]
    result["concurrency"] = {"workers": SHERLOCK_WORKERS}
    result["does"] = "one GET per site, status code only; nothing stored but the list of hits"
    return result


def run_maigret(farm: FarmProcess, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    exe = ensure_venv("maigret")
    if exe is None:
        return {"skipped": "maigret could not be installed"}
    work.mkdir(parents=True)
    (work / "db.json").write_text(json.dumps(maigret_db(farm, args.sites)), encoding="utf-8")
    cmd = [str(exe), USERNAME, "--db", str(work / "db.json"), "--no-autoupdate", "-a",
           "--no-recursion", "--no-extracting", "--dns-resolver", "threaded", "--no-progressbar",
           "--no-color", "--timeout", "30", "-n", str(args.maigret_connections),
           "--folderoutput", str(work / "reports"), "-J", "simple"]
    print(f"  maigret: {' '.join(cmd[1:])}", flush=True)
    farm.stats(reset=True)
    result = measure(cmd, work / "maigret.log", env=jailed_env(work, proxies=False), cwd=work)
    result["farm"] = farm.stats()
    text = (work / "maigret.log").read_text(errors="replace")
    result["found"] = len(FOUND_LINE.findall(text))
    result["jail"] = jail_notes(work)
    result["concurrency"] = {"connections": args.maigret_connections}
    result["does"] = "one GET per site, status code only; JSON report"
    return result


# -- report ------------------------------------------------------------------------------
def summarize(results: dict[str, Any], args: argparse.Namespace) -> None:
    sites, lat = args.sites, args.latency
    expected_found = sum(1 for i in range(sites) if username_exists(i, FOUND_EVERY))
    results["expected_found"] = expected_found
    ours = results.get("ours")
    if ours and "wall_s" in ours:
        requests = ours["farm"]["counts"].get("robots", 0) + ours["farm"]["counts"].get("account", 0)
        limit = requests * lat / args.total
        chain = 3 * lat  # robots.txt, then the health checks, then the username: per site, in sequence
        ours["limit"] = {"requests": requests, "concurrency": args.total, "limit_s": round(limit, 2),
                         "limit_per_domain_only_s": round(max(chain, requests * lat / (sites * args.concurrency)), 2)}
        ours["vs_limit"] = round(ours["wall_s"] / limit, 1) if limit else None
        ours["step_vs_limit"] = round(ours["step_s"] / limit, 1) if limit and ours.get("step_s") else None
        ours["within_2x_of_limit"] = ours["wall_s"] <= 2 * limit
        sher = results.get("sherlock", {})
        if "wall_s" in sher:
            ours["faster_than_sherlock"] = ours["wall_s"] < sher["wall_s"]
            ours["cold_vs_sherlock"] = round(ours["wall_s"] / sher["wall_s"], 2)
            ours["cold_within_2x_sherlock"] = ours["wall_s"] <= 2 * sher["wall_s"]
        warm = ours.get("warm") or {}
        if "wall_s" in warm:
            counts = warm["farm"]["counts"]
            wreq = counts.get("robots", 0) + counts.get("account", 0)
            warm["limit"] = {"requests": wreq, "concurrency": args.total,
                             "limit_s": round(wreq * lat / args.total, 2)}
            if "wall_s" in sher:
                warm["faster_than_sherlock"] = warm["wall_s"] < sher["wall_s"]
                warm["vs_sherlock"] = round(warm["wall_s"] / sher["wall_s"], 2)
    for tool, workers in (("sherlock", SHERLOCK_WORKERS), ("maigret", args.maigret_connections)):
        res = results.get(tool, {})
        if "wall_s" in res:
            requests = res["farm"]["counts"].get("account", 0) + res["farm"]["counts"].get("robots", 0)
            res["limit"] = {"requests": requests, "concurrency": workers,
                            "limit_s": round(requests * lat / workers, 2)}


def _largest(r: dict[str, Any]) -> str:
    largest = r.get("largest_process") or {}
    return f"{largest['name']} {largest['peak_rss_mib']:.0f}" if largest else "?"


def print_table(results: dict[str, Any]) -> None:
    rows = [("tool", "wall s (median)", "step s", "limit s", "client CPU s", "peak MiB (maxrss / tree PSS)",
             "largest process MiB / client MiB", "load (1 min)", "requests", "found", "renders", "exit")]
    tools = [("ours", results.get("ours"))]
    if (results.get("ours") or {}).get("warm"):
        tools.append(("ours (warm)", results["ours"]["warm"]))
    tools += [("sherlock", results.get("sherlock")), ("maigret", results.get("maigret"))]
    for tool, r in tools:
        if not r:
            continue
        if "wall_s" not in r:
            rows.append((tool, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", r.get("skipped", "not run")))
            continue
        counts = r["farm"]["counts"]
        rows.append((tool, f"{r['wall_s']:.1f}", f"{r.get('step_s') or '-'}",
                     f"{r['limit']['limit_s']}" if "limit" in r else "-",
                     f"{r['client_cpu_s']:.1f}",
                     f"{r['maxrss_mib']:.0f} / {r['tree_peak_pss_mib']:.0f}",
                     f"{_largest(r)} / {r.get('client_peak_rss_mib', '?')}",
                     "/".join(str(x) for x in r.get("loadavg_1min", [])),
                     str(counts.get("robots", 0) + counts.get("account", 0)),
                     f"{r['found']}/{results['expected_found']}", str(r.get("renders", "-")), str(r["exit"])))
    pages = results.get("pages")
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    ours = results.get("ours", {})
    if "vs_limit" in ours:
        print(f"ours: {ours['vs_limit']}x the limit ({ours['limit']['requests']} requests x "
              f"{results['latency']} s / {ours['limit']['concurrency']}); within 2x: {ours['within_2x_of_limit']}; "
              f"faster than Sherlock: {ours.get('faster_than_sherlock')}; cold / Sherlock: "
              f"{ours.get('cold_vs_sherlock')} (target <= 2); warm / Sherlock: "
              f"{(ours.get('warm') or {}).get('vs_sherlock')} (target < 1)")
    for d in (results.get("diagnosis") or {}).values():
        if "wall_s" in d:
            print(f"what-if {d['label']}: wall {d['wall_s']} s (runs {d['runs_wall_s']}), step {d['step_s']} s, "
                  f"client CPU {d['client_cpu_s']} s, in flight at most {d['inflight_max']}")
    replay = results.get("replay") or {}
    if "wall_s" in replay:
        print(f"replay: {replay['sites']} WhatsMyName sites x {replay['usernames']} usernames: {replay['wall_s']} s, "
              f"{replay['requests']} requests, limit {replay['limit']['limit_s']} s -> {replay['vs_limit']}x "
              f"(target <= 3x: {replay['within_3x_of_limit']}); precision {replay['precision']}, recall "
              f"{replay['recall']}, {replay['renders']} renders, client CPU {replay['client_cpu_s']} s, "
              f"peak {replay['maxrss_mib']} MiB (largest {_largest(replay)}, client "
              f"{replay.get('client_peak_rss_mib', '?')} MiB), load {replay['loadavg_1min']}")
    elif replay:
        print(f"replay: {replay.get('skipped')}")
    floor = results.get("floor") or {}
    if "case_fixed_s" in floor:
        chromium = "; ".join(f"{name} {c['wall_s']} s (launch {c['launch_s']} s, {c['pages']} renders "
                             f"{c['renders_s']} s; runs {c['runs_wall_s']})" for name, c in floor["chromium"].items())
        print(f"floor: a case checking one site {floor['case_fixed_s']} s (runs {floor['case_fixed_runs_s']}); "
              f"Chromium alone rendering the found profiles: {chromium}")
        rc = floor.get("replay_chromium") or {}
        if rc:
            print(f"floor of the replay: {Path(rc['binary']).name} alone renders {rc['pages']} pages in "
                  f"{rc['wall_s']} s (launch {rc['launch_s']} s, renders {rc['renders_s']} s)")
    elif floor:
        print(f"floor: {floor.get('skipped')}")
    if pages and "html" in pages:
        print(f"render: {pages['pages']} pages html {pages['html']['wall_s']} s ({pages['html']['renders']} renders) "
              f"vs text {pages['txt']['wall_s']} s -> {pages['render_s_per_page']} s per rendered page")


def median_run(fn: Any, farm: FarmProcess, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """``fn`` run ``--repeat`` times; the run with the median wall time, with every wall time.
    The machine may be shared: one run can land on a busy moment."""
    runs = [fn(farm, args, work / f"run{i + 1}") for i in range(max(1, args.repeat))]
    timed = sorted((r for r in runs if "wall_s" in r), key=lambda r: r["wall_s"])
    if not timed:
        return runs[0]
    chosen = timed[len(timed) // 2]
    chosen["runs_wall_s"] = [r.get("wall_s") for r in runs]
    return chosen


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sites", type=int, default=500, help="sites in the farm and in every site list")
    p.add_argument("--latency", type=float, default=0.05, help="seconds per response on the farm")
    p.add_argument("--total", type=int, default=64,
                   help="our procedure's rate_limit.concurrency_total: requests in flight over all hosts")
    p.add_argument("--concurrency", type=int, default=4,
                   help="our procedure's rate_limit.concurrency_per_domain (1-16)")
    p.add_argument("--maigret-connections", type=int, default=100, help="Maigret -n (its default: 100)")
    p.add_argument("--render-pages", type=int, default=20, help="pages in the render-cost measurement")
    p.add_argument("--skip", default="", help="comma-separated: ours, sherlock, maigret, pages, floor, replay")
    p.add_argument("--replay-sites", type=int, default=100, help="WhatsMyName entries in the replay")
    p.add_argument("--replay-usernames", type=int, default=28, help="usernames of the replay's candidate")
    p.add_argument("--replay-renders", type=int, default=78,
                   help="pages in the replay's render floor (the replay finds 78 profiles)")
    p.add_argument("--diagnose", action="store_true",
                   help="also run (a) with the workspace on tmpfs and with Scrapy settings patched")
    p.add_argument("--repeat", type=int, default=3,
                   help="runs of each tool; the median wall time is reported (shared machines are noisy)")
    p.add_argument("--keep", type=Path, help="keep the working files in this folder")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "accounts.json")
    args = p.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-accounts-"))
    if args.keep and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"sites": args.sites, "latency": args.latency, "username": USERNAME,
                               "found_every": FOUND_EVERY, "work": str(work),
                               "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                           "platform": platform.platform()}}
    print(f"account-discovery benchmark: {args.sites} sites, {args.latency * 1000:.0f} ms per response, "
          f"work in {work}", flush=True)
    with FarmProcess(args.sites, args.latency, lifetime=3600) as farm:
        results["farm_port"] = farm.port
        for name, fn in (("ours", run_ours), ("sherlock", run_sherlock), ("maigret", run_maigret),
                         ("pages", run_pages), ("floor", run_floor), ("diagnosis", run_diagnoses)):
            if name in skip or (name == "diagnosis" and not args.diagnose):
                continue
            try:
                if name in ("ours", "sherlock", "maigret"):
                    results[name] = median_run(fn, farm, args, work / name)
                else:
                    results[name] = fn(farm, args, work / name)
            except Exception as exc:  # noqa: BLE001 - one tool's failure is a result, not the end
                results[name] = {"skipped": f"{type(exc).__name__}: {exc}"}
            print(f"  {name}: done", flush=True)
    if "replay" not in skip:
        try:
            results["replay"] = run_replay(args, work / "replay")
        except Exception as exc:  # noqa: BLE001 - a failed part is a result, not the end
            results["replay"] = {"skipped": f"{type(exc).__name__}: {exc}"}
        print("  replay: done", flush=True)
    summarize(results, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print_table(results)
    print(f"results: {args.out}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
