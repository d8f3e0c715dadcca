"""The CRM path from the shell, one summary line per command.

    marketing-extract [--api-url URL] [--mock | --no-mock]    (python -m python_udfs.crm extract ...)
    marketing-push [--api-url URL]                            (python -m python_udfs.crm push ...)

The API's address comes from `--api-url` or `CRM_API_URL`, its token from `CRM_API_TOKEN`. Whether
the mock users may stand in for an absent or unreachable CRM follows dbt_project.yml's vars (a demo,
`client_source: seed`, may; a real run, `client_source: csv`, may not; `crm_mock` decides when set),
unless `--mock` or `--no-mock` says otherwise. `push` needs an address: it has nowhere else to push to.
"""

from __future__ import annotations

import argparse
import sys

from python_udfs.client_files import project_vars
from python_udfs.crm.api import CrmSettings, mock_allowed
from python_udfs.crm.push import push_tips
from python_udfs.crm.source import extract
from python_udfs.errors import MarketingError

__all__ = ["extract_main", "main", "push_main"]


def _parser(prog: str, command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    if command is None:
        parser.add_argument("command", choices=["extract", "push"])
    parser.add_argument("--api-url", help="the CRM API's base URL (default: CRM_API_URL)")
    if command in (None, "extract"):
        parser.add_argument(
            "--mock",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="let the mock users stand in for an absent or unreachable CRM (default: from dbt vars)",
        )
    return parser


def _run(command: str, args: argparse.Namespace) -> int:
    allow_mock = args.mock if getattr(args, "mock", None) is not None else mock_allowed(project_vars())
    try:
        settings = CrmSettings.from_environment(api_url=args.api_url, allow_mock=allow_mock)
        if command == "extract":
            print(extract(settings).line(), flush=True)
            return 0
        summary = push_tips(settings)
        print(summary.line(), flush=True)
        return 1 if summary.has_failures else 0
    except MarketingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    """`python -m python_udfs.crm extract|push`."""
    args = _parser("python -m python_udfs.crm").parse_args(argv)
    return _run(args.command, args)


def extract_main(argv: list[str] | None = None) -> int:
    """The `marketing-extract` console script."""
    return _run("extract", _parser("marketing-extract", "extract").parse_args(argv))


def push_main(argv: list[str] | None = None) -> int:
    """The `marketing-push` console script."""
    return _run("push", _parser("marketing-push", "push").parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
