"""Benchmark of authentication costs: what one login and one command's token check cost.

    .venv/bin/python bench/bench_people.py [--rounds N]

argon2id at the shipped parameters (t=3, m=64 MiB, p=4) is deliberately slow: it is the
price an attacker pays per guess against a stolen database, and a person pays once per login.
The token check (`account_for_token`, run by every command) must stay cheap. Figures are
medians over N rounds, in a temporary workspace; results go to bench/results/people.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyotp

from vetting.people import passwords
from vetting.people.accounts import add_account
from vetting.people.sessions import account_for_token, login_password
from vetting.store.workspace import Workspace


def timed(fn, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=10)
    args = p.parse_args()
    stored = passwords.hash_password("correct horse battery staple")
    hash_s = timed(lambda: passwords.hash_password("correct horse battery staple"), args.rounds)
    verify_s = timed(lambda: passwords.verify_password(stored, "correct horse battery staple"), args.rounds)
    at = [datetime.now(UTC)]
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.open(Path(tmp) / "ws")
        admin, _ = add_account(ws, login="root", name="Pat Admin", roles=["admin"], actor=None, bootstrap=True,
                               now=lambda: at[0])
        _, creds = add_account(ws, login="sortiz", name="Sam Ortiz", roles=["investigator"], actor=admin,
                               now=lambda: at[0])
        totp = pyotp.TOTP(creds.totp_secret)
        new_password = "seven purple lanterns drift east"
        first = True

        def login() -> None:
            nonlocal first
            at[0] += timedelta(seconds=30)  # a fresh TOTP step each time (no replay)
            login_password(ws, "sortiz", creds.password if first else new_password, totp.at(at[0]),
                           choose_password=(lambda: new_password) if first else None, now=lambda: at[0])
            first = False

        login_s = timed(login, args.rounds)
        issued = login_password(ws, "sortiz", new_password, totp.at(at[0] + timedelta(seconds=30)),
                                now=lambda: at[0] + timedelta(seconds=30))
        check_s = timed(lambda: account_for_token(ws, issued.token, now=lambda: at[0] + timedelta(seconds=31)),
                        args.rounds * 10)
    result = {
        "rounds": args.rounds, "cpus": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 2),
        "argon2id": passwords.parameters(stored),
        "hash_s_p50": round(statistics.median(hash_s), 3), "verify_s_p50": round(statistics.median(verify_s), 3),
        "login_s_p50": round(statistics.median(login_s), 3),
        "token_check_ms_p50": round(statistics.median(check_s) * 1000, 2),
    }
    out = ROOT / "bench" / "results" / "people.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
