"""Fail when a model, seed, source or column is undocumented, or a public mart has no contract.

    python tools/check_dbt_docs.py [target_dir]

Reads dbt's `manifest.json` (what the YAML documents) and `catalog.json` (the columns the database really
has; `dbt docs generate` writes both after a build), so a column added to a model's SQL but not to its
YAML fails here. Run by `make test` after the full build.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Gap", "find_gaps", "main"]

# Marts analysts and the CRM read: their columns and types are a promise, enforced by a contract.
# Python models and external (file) exports cannot carry one in dbt-duckdb: they are listed apart.
PUBLIC_FOLDERS = ("marts",)
CONTRACT_EXEMPT_MATERIALIZATIONS = ("external", "incremental")


@dataclass(frozen=True)
class Gap:
    node: str
    problem: str

    def __str__(self) -> str:
        return f"{self.node}: {self.problem}"


def _documented_nodes(manifest: dict) -> dict[str, dict]:
    nodes = {
        key: node
        for key, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "seed")
        and node["package_name"] == manifest["metadata"].get("project_name", node["package_name"])
    }
    nodes.update(manifest["sources"])
    return nodes


def _column_gaps(key: str, node: dict, catalog: dict) -> list[Gap]:
    entry = catalog["nodes"].get(key) or catalog["sources"].get(key)
    # Ephemeral models and sources never built here have no catalog entry: their YAML is all we know.
    actual = {name.lower() for name in (entry or node)["columns"]}
    # dlt's own bookkeeping columns, documented by dlt.
    actual = {name for name in actual if not name.startswith("_dlt_")}
    documented = {name.lower(): column for name, column in node["columns"].items()}
    gaps = [Gap(key, f"column `{name}` is not in the YAML") for name in sorted(actual - set(documented))]
    gaps += [
        Gap(key, f"column `{name}` has no description")
        for name, column in sorted(documented.items())
        if not (column.get("description") or "").strip()
    ]
    return gaps


def find_gaps(manifest: dict, catalog: dict) -> list[Gap]:
    gaps: list[Gap] = []
    for key, node in sorted(_documented_nodes(manifest).items()):
        if not (node.get("description") or "").strip():
            gaps.append(Gap(key, "no description"))
        gaps += _column_gaps(key, node, catalog)
        config = node.get("config") or {}
        is_public_mart = node["resource_type"] == "model" and node["fqn"][1:2] == list(PUBLIC_FOLDERS)
        if (
            is_public_mart
            and node.get("language") == "sql"
            and config.get("materialized") not in CONTRACT_EXEMPT_MATERIALIZATIONS
            and not (config.get("contract") or {}).get("enforced")
        ):
            gaps.append(Gap(key, "a public mart without an enforced contract"))
    return gaps


def main(argv: list[str] | None = None) -> int:
    target = Path((argv or sys.argv[1:] or ["target"])[0])
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    catalog = json.loads((target / "catalog.json").read_text(encoding="utf-8"))
    gaps = find_gaps(manifest, catalog)
    for gap in gaps:
        print(gap)
    if gaps:
        print(f"{len(gaps)} documentation gap(s): document them in the YAML beside each model or seed")
        return 1
    print("every model, seed, source and column is documented; every public SQL mart has a contract")
    return 0


if __name__ == "__main__":
    sys.exit(main())
