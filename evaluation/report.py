"""The measured part of docs/QUALITY.md, rewritten by every `make eval` between two markers.

Everything outside the markers (the human read, the discussion) is the authors' and stays as is.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["render", "write_report"]

START = "<!-- eval:start (written by make eval; edit outside these markers) -->"
END = "<!-- eval:end -->"

_TARGETS = (
    ("final ok", "final_ok_share", ">= 97%", lambda value: value >= 0.97),
    ("compliance violations in ok messages", "compliance_violations", "0", lambda value: value == 0),
    ("offer grounding", "grounded_share", ">= 98%", lambda value: value is not None and value >= 0.98),
    ("non-word rate", "non_word_share", "<= 2% of words", lambda value: value <= 0.02),
    ("fragments in ok messages", "fragments", "0", lambda value: value == 0),
    ("messages per second", "messages_per_second", ">= 2.5", lambda value: (value or 0) >= 2.5),
)


def _show(value, key: str = "") -> str:
    """Shares as percentages, other numbers with two decimals."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.1%}" if key.endswith("_share") else f"{value:.2f}"
    return str(value)


_COMPARED = (
    ("messages", "messages", "messages"),
    ("first-try pass (current rules)", "current_rules_first_try_ok_share", "first_try_ok_share"),
    ("kept (v1 rules / final ok)", "v1_rules_kept_share", "final_ok_share"),
    ("independent compliance violations in kept", "compliance_violations", "compliance_violations"),
    ("fragments in kept", "fragments", "fragments"),
    ("offer grounding", "grounded_share", "grounded_share"),
    ("non-word rate", "non_word_share", "non_word_share"),
    ("detected Portuguese", "portuguese_share", "portuguese_share"),
    ("exact duplicates", "exact_duplicate_share", "exact_duplicate_share"),
    ("near duplicates (ratio >= 85)", "near_duplicate_share", "near_duplicate_share"),
    ("seconds per message", "seconds_per_message", "seconds_per_message"),
)


def render(results: dict) -> str:
    pipeline, baseline = results["pipeline"], results.get("baseline_v1")
    lines = [START, "", "### Targets (pipeline, default embedded model)", ""]
    lines += ["| measure | target | measured | met |", "| --- | --- | --- | --- |"]
    for label, key, target, met in _TARGETS:
        value = pipeline.get(key)
        lines.append(f"| {label} | {target} | {_show(value, key)} | {'yes' if met(value) else 'NO'} |")
    lines += ["", "### Old prompt (v1) and new, same clients, same run", ""]
    lines += ["| | v1 prompt, first try | current pipeline |", "| --- | --- | --- |"]
    for label, old, new in _COMPARED:
        old_value = _show(baseline.get(old), old) if baseline else "not run"
        lines.append(f"| {label} | {old_value} | {_show(pipeline.get(new), new)} |")
    lines += _findings(pipeline)
    lines += ["", "### 20 messages, verbatim (every n-th ok message)", ""]
    lines += [f"{number}. {message}" for number, message in enumerate(pipeline["samples"], 1)]
    if baseline:
        lines += ["", "The v1 prompt on the same clients (every n-th kept):", ""]
        lines += [f"- {message}" for message in baseline["samples"]]
    lines += ["", _conditions(results), "", END]
    return "\n".join(lines)


def _findings(pipeline: dict) -> list[str]:
    reasons = pipeline["rejection_reasons"].items()
    words = pipeline["non_words"].items()
    lines = ["", "Rejection reasons (every rejected answer, regenerated or not):", ""]
    lines += [f"- `{reason}`: {count}" for reason, count in reasons] or ["- none"]
    lines += ["", "Words the Portuguese dictionary did not know (pipeline):", ""]
    lines.append(", ".join(f"{word} ({count})" for word, count in words) or "none")
    lines += ["", "Independent judge's findings in ok messages (pipeline):", ""]
    examples = pipeline["violation_examples"]
    lines += [f"- {item['message']} — {', '.join(item['violations'])}" for item in examples] or ["- none"]
    return lines


def _conditions(results: dict) -> str:
    conditions, pipeline = results["conditions"], results["pipeline"]
    return (
        f"Conditions: {conditions['cores']} cores, load average "
        f"{conditions['load_average_before'][0]:.2f} before and "
        f"{conditions['load_average_after'][0]:.2f} after; generation "
        f"{_show(pipeline['generation_seconds'])} s for {pipeline['messages']} messages "
        f"({pipeline['model_calls']} model calls), dbt build {pipeline['dbt_build_seconds']:.1f} s."
    )


def write_report(results: dict, path: Path) -> None:
    """Replace the text between the markers (or append it) and keep the rest of the file."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Message quality\n\n"
    block = render(results)
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")
