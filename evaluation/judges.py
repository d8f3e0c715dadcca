"""Independent judges of finished messages: they share no code or word list with the validator.

The pipeline's validator (python_udfs/generation/validation.py and compliance.py) decides what is
kept; these judges grade what it kept, so a gap in its rules shows up here as a violation in an ok
message instead of passing unseen. They are deliberately written another way (folded word lists
instead of regular expressions) and are stricter: any digit the offer does not carry, any sentence
without final punctuation.

Besides compliance: offer grounding (does the message name its offer), the share of words a
Portuguese dictionary does not know (pyspellchecker), the detected language (lingua) and duplicate
shares (rapidfuzz).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from rapidfuzz import fuzz, process

__all__ = [
    "DuplicateShares",
    "compliance_violations",
    "duplicate_shares",
    "is_fragment",
    "is_grounded",
    "is_portuguese",
    "non_words",
]

# Folded (lower case, no accents) phrases a bank's message must not contain, by kind.
_FORBIDDEN = {
    "promise": (
        "garantid", "garantim", "garantia de", "lucro", "ganho certo", "retorno cert", "alto retorno",
        "retorno alto", "alta rentabilidade", "rentabilidade alta", "dinheiro de volta", "dobrar",
        "multiplicar", "enriquec", "ficar rico", "fique rico", "sem risco", "risco zero",
        "livre de risco", "sem perigo", "100%", "cem por cento", "bonus", "premio em dinheiro",
    ),
    "phishing": (
        "senha", "codigo", "token", "cvv", "dados bancarios", "seus dados", "numero do cartao",
        "dados do cartao", "clique", "whatsapp", "ligue", "telefone", "sms", "pix", "http", "www.", ".com",
    ),
    "competitor": (
        "itau", "bradesco", "santander", "caixa economica", "banco do brasil", "nubank", "banco inter",
        "btg", "xp", "c6 bank", "safra", "sicredi", "sicoob", "picpay", "mercado pago", "pagbank",
        "banrisul", "neon", "bcp", "hsbc", "citibank",
    ),
}  # fmt: skip

# Words a sentence cannot end on.
_FUNCTION_WORDS = frozenset(
    {
        "o", "a", "os", "as", "um", "uma", "de", "da", "do", "das", "dos", "em", "no", "na", "nos",
        "nas", "para", "pra", "por", "pelo", "pela", "com", "sem", "ao", "aos", "e", "ou", "que",
        "se", "seu", "sua", "seus", "suas", "mais",
    }
)  # fmt: skip
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_DIGIT_RUN = re.compile(r"\d+")


def fold(text: str) -> str:
    """Lower case without accents."""
    decomposed = unicodedata.normalize("NFKD", (text or "").casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def compliance_violations(message: str, offer: str | None = None) -> list[str]:
    """Every rule the message breaks, as "kind: phrase"; digits are allowed only from the offer.

    A phrase of letters matches at the start of a word ("garantid" in "garantido", not "xp" in
    "expresso"); one with other characters ("100%", ".com") anywhere.
    """
    folded = fold(message)
    words = " " + " ".join(_WORD.findall(folded))
    found = [
        f"{kind}: {phrase}"
        for kind, phrases in _FORBIDDEN.items()
        for phrase in phrases
        if (f" {phrase}" in words if re.fullmatch(r"[a-z ]+", phrase) else phrase in folded)
    ]
    allowed = set(_DIGIT_RUN.findall(offer or ""))
    found += [f"figure: {digits}" for digits in _DIGIT_RUN.findall(message) if digits not in allowed]
    if is_fragment(message):
        found.append("fragment")
    return found


def is_fragment(message: str) -> bool:
    """Not a finished sentence: no final punctuation, or it ends on an article or preposition."""
    text = message.strip().rstrip("\"'”»)")
    words = _WORD.findall(fold(text))
    return not text.endswith((".", "!", "?", "…")) or not words or words[-1] in _FUNCTION_WORDS


def is_grounded(message: str, product: str | None) -> bool:
    """Whether the message names its offer's product (every word of it, accents aside)."""
    if not product:
        return False
    wanted = _WORD.findall(fold(product))
    have = set(_WORD.findall(fold(message)))
    return bool(wanted) and all(word in have for word in wanted)


@cache
def _spelling():
    from spellchecker import SpellChecker

    return SpellChecker(language="pt")


def non_words(message: str, known: Sequence[str] = ()) -> tuple[int, list[str]]:
    """How many words the message has, and those a Portuguese dictionary does not know.

    `known` are words that are right by definition: the client's name, the offer's phrase.
    """
    words = [word for word in _WORD.findall(message.casefold()) if "-" not in word]
    skip = {word for text in known for word in _WORD.findall((text or "").casefold())}
    checked = [word for word in words if word not in skip]
    unknown = _spelling().unknown(checked)
    return len(words), [word for word in checked if word in unknown]


@cache
def _detector():
    from lingua import Language, LanguageDetectorBuilder

    languages = (Language.PORTUGUESE, Language.SPANISH, Language.ENGLISH, Language.ITALIAN, Language.FRENCH)
    return LanguageDetectorBuilder.from_languages(*languages).build()


def is_portuguese(message: str) -> bool:
    from lingua import Language

    return _detector().detect_language_of(message) == Language.PORTUGUESE


@dataclass(frozen=True)
class DuplicateShares:
    exact: float
    near: float


def duplicate_shares(
    messages: Sequence[str], names: Sequence[str], threshold: float = 85.0
) -> DuplicateShares:
    """Shares of messages identical to another, or at least `threshold` similar, once names are removed."""
    texts = [fold(message).replace(fold(name), "") for message, name in zip(messages, names, strict=True)]
    if len(texts) < 2:
        return DuplicateShares(0.0, 0.0)
    counts: dict[str, int] = {}
    for text in texts:
        counts[text] = counts.get(text, 0) + 1
    exact = sum(counts[text] > 1 for text in texts)
    scores = process.cdist(texts, texts, scorer=fuzz.ratio, workers=1)
    near = sum(any(scores[i][j] >= threshold for j in range(len(texts)) if j != i) for i in range(len(texts)))
    return DuplicateShares(exact / len(texts), near / len(texts))
