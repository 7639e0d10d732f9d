"""Final-answer extraction and comparison for math problems.

The seed's evaluation takes the last ``\\boxed{...}`` of a solution (brace-depth matching) and compares it
with the reference answer. Exact string equality marks many right answers wrong (``\\dfrac12`` vs
``\\frac{1}{2}``, ``90^\\circ`` vs ``90``, ``x = 3`` vs ``3``), so both sides are normalised first. Numbers
are compared as exact rationals only where both sides are plain rationals: ``0.5`` equals ``1/2``, but
``0.333`` does not equal ``1/3``.
"""
from __future__ import annotations

import re
from fractions import Fraction
from typing import Optional

_BOX_COMMANDS = ("\\boxed", "\\fbox")


def last_boxed(text: str) -> Optional[str]:
    """The content of the last ``\\boxed{...}`` or ``\\fbox{...}`` (nested braces kept), or None.

    ``\\boxed 5`` (no braces, TeX's single-token argument) is read up to the next space or ``$``.
    A box whose braces never close (a truncated solution) does not count.
    """
    best: Optional[tuple[int, str]] = None
    for cmd in _BOX_COMMANDS:
        start = 0
        while True:
            at = text.find(cmd, start)
            if at < 0:
                break
            start = at + len(cmd)
            content = _argument(text, start)
            if content is not None and (best is None or at > best[0]):
                best = (at, content)
    return None if best is None else best[1]


def _argument(text: str, i: int) -> Optional[str]:
    if i < len(text) and text[i].isalpha():
        return None  # \boxedfoo is another command, not a box
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        return None
    if text[i] != "{":
        m = re.match(r"[^\s$]+", text[i:])
        return m.group(0) if m else None
    depth = 0
    for j in range(i, len(text)):
        ch = text[j]
        if ch == "\\" and j + 1 < len(text):
            continue
        if ch == "{" and (j == 0 or text[j - 1] != "\\"):
            depth += 1
        elif ch == "}" and (j == 0 or text[j - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None


_UNIT_WORDS = (
    "degrees", "degree", "deg", "units", "unit", "square units", "sq units", "cm", "centimeters", "meters",
    "meter", "km", "inches", "inch", "feet", "foot", "ft", "miles", "mile", "hours", "hour", "minutes",
    "minute", "seconds", "second", "dollars", "dollar", "cents", "cent", "mph", "pounds", "kg", "grams",
)
_UNIT_RE = re.compile(r"(?<=\d)\s*(?:\\(?:text|mbox|mathrm)\{\s*)?(?:%s)\s*\}?\s*(?:\^\{?[23]\}?)?$" % "|".join(
    re.escape(u) for u in sorted(_UNIT_WORDS, key=len, reverse=True)))


def normalize(answer: str) -> str:
    """A canonical string for an answer: what two equal answers have in common."""
    s = str(answer).strip()
    s = s.replace("\n", " ")
    # math-mode delimiters and spacing commands carry no value
    s = s.replace("$", "").replace("\\(", "").replace("\\)", "").replace("\\[", "").replace("\\]", "")
    for cmd in ("\\!", "\\,", "\\;", "\\:", "\\quad", "\\qquad", "~"):
        s = s.replace(cmd, " ")
    s = re.sub(r"\\(?:left|right|big|Big|bigg|Bigg)(?![A-Za-z])", "", s)
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = s.replace("\\displaystyle", "")
    # degrees and percent signs: 90^\circ, 90^{\circ}, 90°, 50\%
    s = re.sub(r"\^\s*\{?\s*\\circ\s*\}?", "", s)
    s = s.replace("°", "").replace("\\%", "").replace("%", "")
    s = _UNIT_RE.sub("", s.strip())
    # \text{...}, \textbf{...}, \mbox{...}, \mathrm{...}: keep the words
    s = re.sub(r"\\(?:text|textbf|textit|mbox|mathrm|mathbf)\s*\{([^{}]*)\}", r"\1", s)
    # a single assignment like "x = 3" or "k=\frac12" is its right-hand side
    m = re.fullmatch(r"\s*[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(.+)", s)
    if m and "=" not in m.group(1):
        s = m.group(1)
    # \frac12 -> \frac{1}{2}, \frac1{2} -> \frac{1}{2}, \sqrt2 -> \sqrt{2}
    s = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\s*(\d)\s*\{", r"\\frac{\1}{", s)
    s = re.sub(r"\\frac\s*\{([^{}]*)\}\s*(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\sqrt\s*(\d+|[A-Za-z])", r"\\sqrt{\1}", s)
    s = re.sub(r"\s+", "", s)
    # thousands separators: 1{,}000, 1,000, 1\,000 (already a space, removed above)
    s = s.replace("{,}", ",")
    if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):
        s = s.replace(",", "")
    s = s.rstrip(".")
    # trailing zeros of a decimal: 2.0 -> 2, 2.50 -> 2.5
    if re.fullmatch(r"-?\d+\.\d+", s):
        s = s.rstrip("0").rstrip(".")
    if re.fullmatch(r"-?0+\d+", s):
        s = str(int(s))
    if s.startswith("+") and re.fullmatch(r"\+\d+(?:\.\d+)?", s):
        s = s[1:]
    return s


def as_rational(s: str) -> Optional[Fraction]:
    """The exact value of a normalised answer that is a plain rational (3, -2.5, 7/8, \\frac{7}{8}), else None."""
    m = re.fullmatch(r"(-?)\\frac\{(-?\d+)\}\{(-?\d+)\}", s)
    try:
        if m:
            v = Fraction(int(m.group(2)), int(m.group(3)))
            return -v if m.group(1) else v
        if re.fullmatch(r"-?\d+(?:\.\d+)?", s):
            return Fraction(s)
        m = re.fullmatch(r"(-?\d+)/(-?\d+)", s)
        if m:
            return Fraction(int(m.group(1)), int(m.group(2)))
    except ZeroDivisionError:
        return None
    return None


def same_answer(given: str, reference: str) -> bool:
    a, b = normalize(given), normalize(reference)
    if a == b:
        return a != ""
    ra, rb = as_rational(a), as_rational(b)
    if ra is not None and rb is not None:
        return ra == rb
    # \text{(B)} vs B: a multiple-choice letter in parentheses
    strip = lambda x: x[1:-1] if re.fullmatch(r"\([A-Ea-e]\)", x) else x
    return strip(a).upper() == strip(b).upper() and re.fullmatch(r"[A-Ea-e]", strip(a)) is not None


def _numbers_and_words(text: str) -> list[str]:
    return re.findall(r"(?<![\d.])-?\d+(?:\.\d+)?(?![\d])|[A-Za-z]+", text)


def check(response: str, reference: str, verifier: str) -> tuple[bool, Optional[str]]:
    """Whether a response answers ``reference`` correctly under ``verifier``; also the answer it gave.

    ``boxed``: the last box is the answer; a response without a box is wrong (the seed's rule).
    ``mentions``: for tiny random models in tests only (see tools/README.md): the last box if there is one,
    otherwise right when any number or word of the response equals the reference.
    """
    boxed = last_boxed(response)
    if verifier == "boxed":
        return (boxed is not None and same_answer(boxed, reference), boxed)
    if verifier == "mentions":
        if boxed is not None:
            return (same_answer(boxed, reference), boxed)
        ref = normalize(reference)
        for tok in _numbers_and_words(response):
            if same_answer(tok, ref):
                return (True, tok)
        return (False, None)
    raise ValueError(f"unknown verifier {verifier!r}")


VERIFIERS = ("boxed", "mentions")
