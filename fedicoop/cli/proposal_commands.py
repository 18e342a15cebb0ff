"""`fedicoop proposal verify URL`: recount a closed proposal from its signed records."""

import argparse
import sys
from typing import Any

from fedicoop import __version__
from fedicoop.activitypub.fetch import FetchError, SafeFetcher
from fedicoop.errors import Unavailable
from fedicoop.governance.verify import Report, verify_proposal

BAR_WIDTH = 30


def register(commands: Any) -> None:
    """Add the proposal commands."""
    proposal = commands.add_parser(
        "proposal",
        help="check co-op proposals",
        description="Check a co-op proposal published by any fedicoop instance.",
    )
    actions = proposal.add_subparsers(dest="proposal_command", metavar="ACTION", required=True)
    verify = actions.add_parser(
        "verify",
        help="fetch a closed proposal, check every signature and recount it",
        description="Fetch a closed proposal, its co-ops' signed rosters and its signed "
        "ballots; check every proof and every voter's eligibility; recount; print OK or "
        "exactly what disagrees (exit status 1). Trusts nothing the host computed.",
    )
    verify.add_argument("url", help="the proposal's ActivityPub id (https://host/proposals/ID)")
    verify.add_argument(
        "--dev", action="store_true", help="allow http and loopback hosts (local test networks)"
    )
    verify.set_defaults(run=run_verify)


def _bars(totals: dict[str, Any], labels: dict[str, str]) -> list[str]:
    most = max([float(v) for v in totals.values()] + [1.0])
    lines = []
    for option, value in totals.items():
        width = round(BAR_WIDTH * float(value) / most)
        lines.append(
            f"  {labels.get(option, option)[:24]:<24} {'█' * width:<{BAR_WIDTH}} {value:g}"
        )
    return lines


def print_report(report: Report, labels: dict[str, str]) -> None:
    """Print what was checked, a bar per option, and OK or the problems."""
    rosters = ", ".join(f"{coop} ({size} members)" for coop, size in report.rosters.items())
    print(f"proposal {report.proposal}")
    print(f"rosters: {rosters or 'none'}")
    print(f"signed ballots checked: {report.ballots}; plain poll answers: {report.poll_ballots}")
    if report.recount is not None:
        print(f"recount ({report.recount['outcome']}):")
        for line in _bars(report.recount["total"], labels):
            print(line)
    for note in report.notes:
        print(f"note: {note}")
    if report.ok:
        print("OK: every proof is valid and the recount matches the published tallies")
        return
    for problem in report.problems:
        print(f"MISMATCH: {problem}")


async def run_verify(args: argparse.Namespace) -> int:
    """Verify a proposal and print the report; exit 1 when anything disagrees."""
    fetcher = SafeFetcher(dev=args.dev, user_agent=f"fedicoop-verify/{__version__}")
    labels: dict[str, str] = {}

    async def fetch(url: str) -> dict[str, Any]:
        print(f"  fetching {url}", file=sys.stderr)
        try:
            document = await fetcher.get_activity(url, signed=False)
        except FetchError as error:
            raise Unavailable(f"cannot fetch {url}: {error}") from error
        if "proposalOptions" in document.data:
            labels.update({o["id"]: o["label"] for o in document.data["proposalOptions"]})
        return document.data

    try:
        report = await verify_proposal(args.url, fetch)
    finally:
        await fetcher.close()
    print_report(report, labels)
    return 0 if report.ok else 1
