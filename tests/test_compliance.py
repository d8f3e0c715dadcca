"""Compliance and anti-phishing rules: one test per rule, with what it must catch and let through."""

from __future__ import annotations

import pytest

from python_udfs.generation import compliance, validation
from python_udfs.generation.compliance import RULES, check_compliance
from python_udfs.generation.validation import validate_message

# What an unsafe model wrote (the examples among them), what each rule must answer, and a
# close, safe message the same rule must let through.
CASES = {
    "promised_return": (
        [
            "Ana, conheça o CDB com rendimento garantido de 15% ao mês.",
            "Ana, um plano de saúde com alto retorno para você!",
            "Ana, invista e receba seu dinheiro de volta se não gostar.",
            "Ana, faça o seu primeiro investimento e o banco lhe dará o cheque de 200 mil.",
            "Ana, com a previdência você vai dobrar o seu dinheiro.",
            "Ana, conheça o fundo multimercado, para quem busca lucro no longo prazo.",
            "Ana, conheça a poupança programada, para quem quer ganhar dinheiro.",
            "Ana, conheça o fundo multimercado: com certeza vai ter um retorno no futuro.",
        ],
        "Ana, garanta já o seu presente de Natal com a nossa cesta de vinhos!",
    ),
    "no_risk_claim": (
        [
            "Ana, invista no fundo 200% sem risco!",
            "Ana, conheça a LCI: risco zero para o seu patrimônio.",
            "Ana, conheça o fundo multimercado, mais seguro que a poupança.",
        ],
        "Ana, conheça o Tesouro Selic, para a sua reserva de emergência.",
    ),
    "competitor_bank": (
        [
            "Ana, conheça o Tesouro IPCA+ e o Itaú BCP, para planejar o futuro.",
            "Ana, traga seu dinheiro do Nubank para a nossa poupança programada.",
            "Ana, nosso CDB é melhor que o do Banco do Brasil.",
        ],
        "Ana, que tal uma caixa de bombons finos para a ceia de Natal?",
    ),
    "asks_credentials": (
        [
            "Ana, informe sua senha do cartão para ganhar um brinde.",
            "Ana, confirme seus dados bancários para receber o presente.",
            "Ana, envie o código de verificação que chegou por SMS e ganhe o kit.",
            "Ana, atualize o número do cartão para continuar investindo.",
        ],
        "Ana, conheça a nossa conta digital, para organizar o seu dinheiro em um só lugar.",
    ),
    "contains_phone": (
        [
            "Ana, ligue para (11) 3333-4444 e ganhe um presente!",
            "Ana, fale conosco no 0800 123 4567 e conheça o CDB.",
            "Ana, chame no WhatsApp e conheça o Tesouro Selic.",
        ],
        "Ana, que tal um relógio de pulso para a noite de Natal?",
    ),
    "unlisted_figure": (
        [
            "Ana, ganhe R$ 5.000 de bônus no seu primeiro investimento!",
            "Ana, o CDB rende 120% do CDI para você.",
            "Ana, aproveite 30% de desconto na cafeteira elétrica de Natal!",
            "Ana, invista cem por cento do seu salário na poupança programada.",
        ],
        "Ana, que tal uma cafeteira elétrica para as manhãs de Natal?",
    ),
    "fragment": (
        ["Ana, o", "Ana, que tal um kit de chás para", "Ana, conheça o Tesouro Selic,", "Ana, conheça!"],
        "Ana, que tal um kit de chás para as noites de festa?",
    ),
}


def test_every_rule_has_cases():
    codes = {rule.code for rule in RULES} | {"unlisted_figure", "fragment"}
    assert codes == set(CASES)


@pytest.mark.parametrize(
    ("code", "message"), [(code, message) for code, (bad, _) in CASES.items() for message in bad]
)
def test_rule_rejects(code, message):
    assert (check_compliance(message, "Ana") or "").split(":")[0] == code


@pytest.mark.parametrize(("code", "message"), [(code, good) for code, (_, good) in CASES.items()])
def test_rule_lets_the_safe_neighbour_through(code, message):
    assert check_compliance(message, "Ana") is None, code


def test_a_figure_is_allowed_when_the_offer_carries_it():
    message = "Ana, conheça o CDB a 100% do CDI, para a sua reserva."
    assert check_compliance(message, "Ana").startswith("unlisted_figure: 100%")
    assert check_compliance(message, "Ana", offer="o CDB a 100% do CDI") is None
    # Another figure beside the offered one is still invented.
    assert check_compliance(message + " Ganhe R$ 50.", "Ana", offer="o CDB a 100% do CDI").startswith(
        "unlisted_figure: R$ 50"
    )


def test_the_reason_names_what_broke_the_rule():
    assert check_compliance("Ana, ligue para (11) 3333-4444 já!", "Ana") == "contains_phone: ligue para"
    assert check_compliance("Ana, um CDB com rendimento garantido.", "Ana") == (
        "promised_return: rendimento garantido"
    )


def test_validation_applies_the_rules_after_its_own_checks():
    assert validate_message("Ana, confirme seus dados bancários para o brinde.", "Ana", 160) == (
        "asks_credentials: confirme seus dados"
    )
    assert validate_message("Ana, veja http://x.example já!", "Ana", 160) == "contains_url"
    assert validate_message("Ana, que tal um kit de chás para as noites de festa?", "Ana", 160) is None


def test_the_demo_style_messages_pass():
    for message, name in [
        ("João, que tal um livro de receitas para a ceia de Natal com a família?", "João"),
        ("Maria, conheça o Tesouro IPCA+, para acompanhar a inflação no longo prazo.", "Maria"),
        ("Lucia, conheça a previdência privada, para planejar a sua aposentadoria.", "Lucia"),
        ("Carlos, conheça o nosso planejador de orçamento, para acompanhar os seus gastos do mês.", "Carlos"),
    ]:
        assert validate_message(message, name, 160) is None, message


def test_a_rule_change_changes_the_validation_version(monkeypatch):
    """The rules' fingerprint is part of VALIDATION_VERSION: editing the table re-judges the cache."""
    before = compliance._fingerprint()
    assert before in validation.VALIDATION_VERSION
    edited = (*RULES[:-1], compliance.Rule(RULES[-1].code, RULES[-1].forbids, (*RULES[-1].patterns, "novo")))
    monkeypatch.setattr(compliance, "RULES", edited)
    assert compliance._fingerprint() != before


def test_clients_offered_the_same_product_may_get_close_messages():
    """In-round duplicates are skipped for offer rows (the catalogue's rotation varies them); copies
    of a few-shot example and of the client's own earlier messages are still caught."""
    guard = validation.DuplicateGuard(["Beatriz, que tal um difusor de aromas para deixar a casa perfumada?"])
    guard.add("João, conheça o Tesouro Selic, para a sua reserva de emergência.", "João")
    same_offer = "Ana, conheça o Tesouro Selic, para a sua reserva de emergência."
    assert guard.check(same_offer, "Ana") == "duplicate_in_round"
    assert guard.check(same_offer, "Ana", in_round=False) is None
    copied = "Ana, que tal um difusor de aromas para deixar a casa perfumada?"
    assert guard.check(copied, "Ana", in_round=False) == "copied_example"
    assert guard.check(same_offer, "Ana", [same_offer], in_round=False) == "duplicate_of_earlier_message"
