"""The prompts ReasonFlux-V2's proposer and reasoner were trained and evaluated with.

Copied from the seed's code (Gen-Verse/ReasonFlux ``ReasonFlux_v2/eval/eval.py``; see
../shared/reference/reasonflux.md section 1.3), byte for byte: the U+2011 hyphen in "High‑Level" of
PROMPT_EXTRACT and the doubled braces of PROMPT_SOLVE are what the models saw.
"""
from __future__ import annotations

PROMPT_EXTRACT = (
    "Please analyze the problem below and first give **Problem Abstraction and Generalization**, then based on "
    "the abstraction and initial analysis, give **Special Conditions and Applicability Analysis**. Finally give "
    "**High\u2011Level Solution Strategy**."
)

PROMPT_SOLVE = (
    "Please follow the High-Level Steps below to solve the problem step by step, and give the final answer "
    "within \\boxed{{}}."
)

_STRATEGY_HEADERS = ("High-Level Solution Strategy", "High\u2011Level Solution Strategy")


def template_steps(template: str) -> tuple[str, bool]:
    """The part of a proposed template the reasoner is given, and whether the strategy header was found.

    Like eval.py's ``extract_template_steps``: the text after the last "High-Level Solution Strategy"
    header, without what is left of the header line (its closing ``**``). A template without the header
    (a model that does not follow the format, e.g. a tiny random one) is passed whole: the reasoner's
    success with it is then what decides whether it is a good template.
    """
    at, header = -1, ""
    for h in _STRATEGY_HEADERS:
        i = template.rfind(h)
        if i > at:
            at, header = i, h
    if at < 0:
        return template.strip(), False
    rest = template[at + len(header):].strip()
    if "\n\n" in rest:
        rest = rest.split("\n\n", 1)[1]
    elif "\n" in rest:
        rest = rest.split("\n", 1)[1]
    rest = rest.strip()
    return (rest, True) if rest else (template.strip(), False)


def proposer_messages(problem: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": PROMPT_EXTRACT}, {"role": "user", "content": problem}]


def solve_user_message(problem: str, steps: str) -> str:
    # eval.py's layout (inference.py puts both on one line each; eval.py is what the numbers come from)
    return f"Problem:\n{problem}\nHigh-Level Steps:\n{steps}"


def reasoner_messages(problem: str, steps: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": PROMPT_SOLVE}, {"role": "user", "content": solve_user_message(problem, steps)}]
