"""The prompt and sampling the project used before offers (prompt version v1), kept to be measured.

`make eval` runs it beside the current pipeline on the same clients, so every report shows the old
and the new side by side: free-form few-shot lines rotated per request, a `[perfil …]` tag for
investment tips, llama.cpp's default sampling, 80 tokens, the campaigns' old temperatures. Its
answers are judged by the same judges; "accepted before" is what the v1 validator (everything but
the compliance rules) would have kept.
"""

from __future__ import annotations

from python_udfs.generation.prompts import safe_name
from python_udfs.generation.providers.base import Prompt
from python_udfs.generation.providers.local import Sampling

__all__ = ["V1_SAMPLING", "V1_TEMPERATURES", "v1_prompt"]

V1_TEMPERATURES = {"christmas_gifts": 0.8, "investment_tips": 0.7}
# llama-cpp-python's defaults, which v1 did not change, and its 80-token answers.
V1_SAMPLING = Sampling(top_p=0.95, top_k=40, min_p=0.05, repeat_penalty=1.0, max_tokens=80)

_V1_EXAMPLES = {
    "christmas_gifts": (
        "Mensagens curtas de um marketplace amigável sugerindo presentes de Natal, "
        "uma por linha, cada uma começando pelo nome do cliente:",
        (
            "Beatriz, que tal um kit de cervejas artesanais para relaxar no Natal?",
            "Rafael, um difusor de aromas relaxantes para um Natal tranquilo?",
            "Helena, que tal um jogo de tabuleiro para a família se divertir no Natal?",
            "Otávio, personalize um álbum de fotos com os melhores momentos do ano!",
            "Júlia, um conjunto de pincéis de maquiagem para brilhar nas festas?",
            "Sérgio, que tal um smartwatch para acompanhar seus treinos no ano novo?",
        ),
    ),
    "investment_tips": (
        "Dicas curtas de investimento de um banco, uma por linha, adequadas ao perfil de cada cliente "
        "e começando pelo nome do cliente:",
        (
            "[perfil basico] Beatriz, comece sua reserva de emergência no Tesouro Selic com pouco por mês!",
            "[perfil alta_renda] Rafael, diversifique sua carteira com fundos imobiliários e renda mensal.",
            "[perfil intermediario] Helena, que tal um CDB com liquidez diária para seus objetivos?",
            "[perfil sem_saldo] Otávio, que tal guardar um pouco do seu salário todo mês na poupança?",
            "[perfil intermediario] Júlia, o Tesouro IPCA protege seu dinheiro da inflação a longo prazo.",
            "[perfil alta_renda] Sérgio, conheça nossa previdência privada com vantagens no IR.",
        ),
    ),
}
_EXAMPLES_PER_PROMPT = 3


def v1_prompt(campaign_id: str, first_name: str, segment: str | None, variant: int) -> Prompt:
    """The v1 completion prompt: three examples rotated by `variant`, then "- Name," to finish."""
    header, pool = _V1_EXAMPLES[campaign_id]
    examples = [pool[(variant + offset) % len(pool)] for offset in range(_EXAMPLES_PER_PROMPT)]
    name = safe_name(first_name)
    tag = f"[perfil {safe_name(segment or '')}] " if campaign_id == "investment_tips" else ""
    lines = [header, *(f"- {example}" for example in examples), f"- {tag}{name},"]
    return Prompt(completion="\n".join(lines), answer_prefix=f"{name},")
