"""The preflight's former home, kept for `marketing-check-files` and `python -m python_udfs.imports`.

Everything lives in `python_udfs.client_files`.
"""

from __future__ import annotations

import sys

from python_udfs.client_files import main, project_vars

__all__ = ["main", "project_vars"]

if __name__ == "__main__":
    sys.exit(main())
