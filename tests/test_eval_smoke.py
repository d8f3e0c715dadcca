"""The quality benchmark in small: its judges and its report (a handful of clients through the real
pipeline on the embedded model is in tests/embedded/)."""

from __future__ import annotations

import pytest

from evaluation import judges
from evaluation.report import END, START, write_report

# -- judges -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("Ana, conheça o CDB com rendimento garantido.", "promise"),
        ("Ana, o fundo é sem risco!", "promise"),
        ("Ana, informe a senha do app.", "phishing"),
        ("Ana, fale no WhatsApp com a gente.", "phishing"),
        ("Ana, traga seu dinheiro do Itaú.", "competitor"),
        ("Ana, ganhe 15 reais de volta.", "figure"),
        ("Ana, que tal um kit de chás para", "fragment"),
    ],
)
def test_the_independent_judge_flags(message, kind):
    assert any(found.startswith(kind) for found in judges.compliance_violations(message))


def test_the_independent_judge_passes_a_clean_message_and_offered_figures():
    assert judges.compliance_violations("Ana, que tal um kit de chás para as noites de festa?") == []
    # Digits the offer carries are not invented figures.
    assert judges.compliance_violations("Ana, conheça o fundo 2030.", "o fundo 2030") == []
    assert judges.compliance_violations("Ana, conheça o fundo 2031.", "o fundo 2030") == ["figure: 2031"]
    # A word that merely starts like a forbidden one is not it ("xp" is no "expresso").
    assert judges.compliance_violations("Ana, que tal uma máquina de café expresso?") == []


def test_grounding_non_words_language_and_duplicates():
    assert judges.is_grounded("Maria, que tal uma cafeteira elétrica?", "cafeteira elétrica")
    assert not judges.is_grounded("Maria, que tal um livro?", "cafeteira elétrica")
    total, unknown = judges.non_words("Maria, que tal um colar de joelhox?", ["Maria"])
    assert total == 7 and unknown == ["joelhox"]
    assert judges.is_portuguese("Maria, que tal uma cafeteira elétrica para o Natal?")
    assert not judges.is_portuguese("Maria, how about a coffee maker for Christmas?")
    shares = judges.duplicate_shares(
        ["Ana, um livro de receitas!", "João, um livro de receitas!", "Rui, uma manta de lã para o frio."],
        ["Ana", "João", "Rui"],
    )
    assert shares.exact == pytest.approx(2 / 3) and shares.near == pytest.approx(2 / 3)


def test_the_report_keeps_what_is_written_outside_its_markers(tmp_path):
    path = tmp_path / "QUALITY.md"
    path.write_text(f"# Quality\n\nA human read.\n\n{START}\nold figures\n{END}\n\nMore prose.\n")
    pipeline = {
        "messages": 2,
        "final_ok_share": 1.0,
        "first_try_ok_share": 0.5,
        "compliance_violations": 0,
        "grounded_share": 1.0,
        "non_word_share": 0.0,
        "fragments": 0,
        "messages_per_second": 3.0,
        "rejection_reasons": {"fragment": 1},
        "non_words": {},
        "violation_examples": [],
        "samples": ["Ana, que tal um kit de chás para as noites de festa?"],
        "generation_seconds": 0.7,
        "model_calls": 3,
        "dbt_build_seconds": 9.0,
    }
    conditions = {"cores": 2, "load_average_before": (0.5,), "load_average_after": (0.7,)}
    write_report({"conditions": conditions, "pipeline": pipeline, "baseline_v1": None}, path)
    text = path.read_text()
    assert text.startswith("# Quality\n\nA human read.") and text.endswith("More prose.\n")
    assert "old figures" not in text and "`fragment`: 1" in text
    assert "| final ok | >= 97% | 100.0% | yes |" in text
