"""The CRM path from the shell, one summary line per command.

    python -m python_udfs.crm extract [--api-url URL]
    python -m python_udfs.crm push [--api-url URL]

The API's address comes from `--api-url` or `CRM_API_URL`, its token from `CRM_API_TOKEN`. Without an
address, `extract` loads the mock users and says so; `push` stops, having nowhere to push to.
"""

from __future__ import annotations

import argparse
import sys

from python_udfs.crm.api import CrmSettings
from python_udfs.crm.push import push_tips
from python_udfs.crm.source import extract
from python_udfs.errors import MarketingError

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m python_udfs.crm", description=__doc__)
    parser.add_argument("command", choices=["extract", "push"])
    parser.add_argument("--api-url", help="the CRM API's base URL (default: CRM_API_URL)")
    args = parser.parse_args(argv)

    try:
        settings = CrmSettings.from_environment(api_url=args.api_url)
        if args.command == "extract":
            print(extract(settings).line(), flush=True)
            return 0
        summary = push_tips(settings)
        print(summary.line(), flush=True)
        return 1 if summary.has_failures else 0
    except MarketingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
