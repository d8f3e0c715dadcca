"""Compliance and anti-phishing rules: what a bank's marketing message must never say.

One reviewed table, `RULES`: each rule has a reason code (what lands in `error_reason`), what it
forbids and why, and the patterns that catch it. `check_compliance` returns the first rule a message
breaks, as "code: the words that broke it", or None. A message that breaks a rule is regenerated,
never kept (see `validation.validate_message`).

Figures are the one rule that reads the offer: a percentage or an amount of money may appear only
when the offer's catalogue row carries it ("o CDB a 100% do CDI" may say 100%); a model inventing
one ("rendimento de 15% ao mês", "R$ 5.000 de bônus") is rejected.

`RULES_FINGERPRINT` hashes the whole table (codes, patterns, word lists): it is part of
`validation.VALIDATION_VERSION`, so any change to a rule re-judges every cached answer once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

__all__ = [
    "DANGLING_WORDS",
    "RULES",
    "RULES_FINGERPRINT",
    "Rule",
    "check_compliance",
    "figures_in",
]


@dataclass(frozen=True)
class Rule:
    """One thing a message must not do. `patterns` are case-insensitive regular expressions."""

    code: str
    forbids: str
    patterns: tuple[str, ...]

    def search(self, text: str) -> re.Match | None:
        return _compiled(self).search(text)


# Competitors, by the names clients know them by. Words that are also common nouns ("caixa",
# "inter", "next", "original") only count with the word "banco" or their full name.
_COMPETITORS = (
    r"ita[uú]",
    r"bradesco",
    r"santander",
    r"caixa econ[oô]mica",
    r"banco do brasil",
    r"nubank",
    r"banco inter",
    r"c6 ?bank",
    r"btg(?: pactual)?",
    r"xp investimentos",
    r"banco safra",
    r"sicredi",
    r"sicoob",
    r"banco original",
    r"picpay",
    r"mercado pago",
    r"pagbank",
    r"pagseguro",
    r"banrisul",
    r"banco neon",
    r"banco next",
    r"will bank",
    r"bcp",
    r"millennium",
    r"hsbc",
    r"citibank",
)

RULES: tuple[Rule, ...] = (
    Rule(
        "contains_phone",
        "Phone numbers: a message never asks the client to call or text a number (phishing's first move).",
        (
            r"\(?\b\d{2}\)?[\s.-]*9?\d{4}[\s.-]?\d{4}\b",
            r"\b0800[\s.-]?\d{3}[\s.-]?\d{4}\b",
            r"\b\d{4,5}-\d{4}\b",
            r"\bwhats\s?app\b|\bzap\b|\bligue\s+(?:para|j[aá]|agora)\b",
        ),
    ),
    Rule(
        "asks_credentials",
        "Requests for passwords, card data, codes or personal data: the bank never asks for them.",
        (
            r"\bsenhas?\b",
            r"\b(?:c[oó]digos?|tokens?)\s+(?:de\s+)?(?:seguran[cç]a|verifica[cç][aã]o|acesso|sms)\b",
            r"\btoken\b|\bcvv\b|\bpin\b",
            r"\b(?:n[uú]mero|dados|validade|c[oó]digo)\s+d[oe]\s+(?:seu\s+)?cart[aã]o\b",
            r"\b(?:confirm|atualiz|verifiqu|envi|inform|valid)\w*\s+(?:os\s+)?(?:seus\s+)?dados\b",
            r"\bdados\s+(?:banc[aá]rios|pessoais|da\s+conta)\b",
        ),
    ),
    Rule(
        "promised_return",
        "Promised, guaranteed or high returns: investments are never sold on a promise of gain.",
        (
            r"\bgarant\w*\s+(?:(?:de|o|a|seu|sua)\s+)*"
            r"(?:retornos?|rendimentos?|lucros?|ganhos?|renda|rentabilidade)\b",
            r"\b(?:retornos?|rendimentos?|lucros?|ganhos?|rentabilidade|renda)\s+(?:\w+\s+)?"
            r"(?:certos?|certas?|altos?|altas?|alt[ií]ssim[oa]s?|garantid[oa]s?|seguros?|segura)\b",
            r"\b(?:alt[oa]s?|grandes?|enormes?|m[aá]xim[oa]s?|garantid[oa]s?|cert[oa]s?)\s+"
            r"(?:retornos?|rendimentos?|lucros?|ganhos?|rentabilidade)\b",
            r"\bdinheiro\s+de\s+volta\b",
            r"\b(?:dobr|multiplic|triplic)\w*\s+(?:o\s+)?(?:seu\s+)?(?:dinheiro|capital|patrim[oô]nio)\b",
            r"\b(?:fique|ficar|ficará)\s+rico\b|\benriquec\w*",
            r"\blucros?\b|\bganh\w*\s+(?:muito\s+|mais\s+)?dinheiro\b",
            r"\b(?:vai|v[aã]o|ir[aá]|ir[aã]o)\s+(?:ter|dar|render|gerar)\s+(?:um\s+|uma\s+|bons?\s+|boas?\s+)?"
            r"(?:retornos?|rendimentos?|ganhos?|rentabilidade)\b",
            r"\bsem\s+perder\s+nada\b|\bn[aã]o\s+tem\s+como\s+perder\b",
            r"\b(?:o\s+banco|n[oó]s)\s+(?:lhe\s+|te\s+)?(?:dar[aá]|damos|daremos|pagar[aá]|pagamos)\b",
        ),
    ),
    Rule(
        "no_risk_claim",
        "Claims that an investment has no risk or is 100% safe.",
        (
            r"\bsem\s+(?:nenhum\s+|qualquer\s+)?riscos?\b",
            r"\brisco\s+(?:zero|nenhum)\b|\bzero\s+risco\b|\blivre\s+de\s+riscos?\b",
            r"\b100\s?%\s+segur[oa]\b|\b(?:totalmente|mais|super|bem)\s+segur[oa]\b|\bsem\s+perigo\b",
        ),
    ),
    Rule(
        "competitor_bank",
        "Naming another bank or fintech.",
        (r"\b(?:" + "|".join(_COMPETITORS) + r")\b",),
    ),
)

# Percentages and amounts of money, in digits or words: allowed only when the offer carries them.
_FIGURE = re.compile(
    r"R\$\s*\d[\d.,]*(?:\s*(?:mil|milh[aãoõ]\w*|bilh[aãoõ]\w*))?"
    r"|\d[\d.,]*\s*(?:%|por\s*cento\b|reais\b|mil\b|milh[aãoõ]\w*|bilh[aãoõ]\w*|k\b)"
    r"|\b(?:cem|mil|um\s+milh[aã]o)\s+(?:por\s+cento|reais)\b",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")

# A message ending on one of these was cut mid-sentence ("Ana, o", "João, que tal um presente para").
# Only articles, prepositions and conjunctions: "Vale muito!", "É seu!" and "Cuide-se!" are sentences.
DANGLING_WORDS = frozenset(
    {
        "o", "a", "os", "as", "um", "uma", "uns", "umas",
        "de", "da", "do", "das", "dos", "em", "no", "na", "nos", "nas",
        "para", "pra", "pro", "por", "pelo", "pela", "com", "sem", "sobre", "entre", "até",
        "ao", "aos", "à", "às", "e", "ou", "mas", "nem", "que", "como", "quando",
    }
)  # fmt: skip
# Besides the greeting, a sentence needs a few words: "Ana, o" or "Pedro, conheça!" is not one.
MIN_WORDS_AFTER_NAME = 3
_WORD = re.compile(r"\w+")


def figures_in(text: str) -> list[str]:
    """Every percentage or amount of money in the text, as written."""
    return [match.group(0).strip() for match in _FIGURE.finditer(text or "")]


def check_compliance(message: str, first_name: str = "", offer: str | None = None) -> str | None:
    """None when the message breaks no rule; otherwise "code: what broke it"."""
    for rule in RULES:
        match = rule.search(message)
        if match:
            return f"{rule.code}: {match.group(0).strip()}"
    offered = set(_DIGITS.findall(offer or ""))
    for figure in figures_in(message):
        if not set(_DIGITS.findall(figure)) <= offered or not _DIGITS.search(figure):
            return f"unlisted_figure: {figure}"
    return _fragment(message, first_name)


def _fragment(message: str, first_name: str) -> str | None:
    """Why the message is not a complete sentence, if it is not."""
    text = message.rstrip()
    if text.endswith((",", ":", ";", "-", "\u2013", "(")):
        return f"fragment: ends with {text[-1]!r}"
    words = _WORD.findall(text.casefold())
    greeting = _WORD.findall((first_name or "").casefold())[:1]
    after_name = words[1:] if greeting and words[:1] == greeting else words
    if len(after_name) < MIN_WORDS_AFTER_NAME:
        return f"fragment: {len(after_name)} words after the name"
    if words[-1] in DANGLING_WORDS:
        return f"fragment: ends with {words[-1]!r}"
    return None


_PATTERNS: dict[str, re.Pattern] = {}


def _compiled(rule: Rule) -> re.Pattern:
    pattern = _PATTERNS.get(rule.code)
    if pattern is None:
        pattern = _PATTERNS[rule.code] = re.compile("|".join(f"(?:{p})" for p in rule.patterns), re.I)
    return pattern


def _fingerprint() -> str:
    parts = [f"{rule.code}={rule.patterns!r}" for rule in RULES]
    parts += [_FIGURE.pattern, repr(sorted(DANGLING_WORDS)), str(MIN_WORDS_AFTER_NAME)]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:8]


RULES_FINGERPRINT = _fingerprint()
