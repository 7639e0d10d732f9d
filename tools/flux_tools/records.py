"""Reading problem files and writing preference pairs in LLaMA-Factory's formats."""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any, Iterable, Optional


class InputError(Exception):
    """Bad input (a file, a column, a flag): exit 2 with this message."""


@dataclass(frozen=True)
class Problem:
    id: str
    problem: str
    answer: Optional[str]  # None: the row has no reference answer (skipped, counted)


def read_rows(path: str) -> list[dict[str, Any]]:
    """Rows of a .jsonl file (one object a line) or a .json file holding a list of objects."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from e
    rows: list[Any]
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}: not valid JSON ({e})") from e
    else:
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{n}: not valid JSON ({e.msg}); expected one JSON object a line") from e
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise InputError(f"{path}: record {n} is not a JSON object")
    return rows


def read_problems(path: str, problem_col: str = "problem", answer_col: str = "answer",
                  id_col: Optional[str] = None) -> list[Problem]:
    rows = read_rows(path)
    if not rows:
        raise InputError(f"{path} has no records")
    if not any(problem_col in r for r in rows):
        raise InputError(f"{path}: no record has a {problem_col!r} column (the first has: {', '.join(rows[0])}); "
                         f"pass --problem-column")
    if not any(answer_col in r for r in rows):
        raise InputError(f"{path}: no record has a {answer_col!r} column (the first has: {', '.join(rows[0])}); "
                         f"pass --answer-column")
    out = []
    for i, r in enumerate(rows):
        pid = str(r[id_col]) if id_col and id_col in r else str(r.get("id", r.get("unique_id", i)))
        ans = r.get(answer_col)
        ans = None if ans is None or str(ans).strip() == "" else str(ans)
        text = r.get(problem_col)
        out.append(Problem(pid, "" if text is None else str(text), ans))
    return out


@dataclass(frozen=True)
class PairFormat:
    """How a pair becomes a record: the pipeline's declared ``formatting`` and ``columns`` for the dataset."""
    formatting: str  # alpaca | sharegpt
    columns: dict[str, str]

    @staticmethod
    def make(formatting: str, columns: Optional[dict[str, str]] = None) -> "PairFormat":
        if formatting == "alpaca":
            base = {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected", "system": "system"}
        elif formatting == "sharegpt":
            base = {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}
        else:
            raise InputError(f"unknown --format {formatting!r}: alpaca or sharegpt")
        given = dict(columns or {})
        allowed = set(base) | ({"system"} if formatting == "sharegpt" else set())
        unknown = sorted(set(given) - allowed)
        if unknown:
            raise InputError(f"--columns: {', '.join(unknown)} is not a {formatting} preference column "
                             f"(known: {', '.join(sorted(allowed))})")
        base.update(given)
        return PairFormat(formatting, base)

    def record(self, system: str, user: str, chosen: str, rejected: str) -> dict[str, Any]:
        c = self.columns
        if self.formatting == "alpaca":
            rec: dict[str, Any] = {c["prompt"]: user, c["query"]: ""}
            if c.get("system"):
                rec[c["system"]] = system
            rec[c["chosen"]] = chosen
            rec[c["rejected"]] = rejected
            return rec
        # sharegpt preference data: the conversation ends on the user turn, the answers are message objects;
        # the system prompt is the first message unless a system column is mapped
        turns = [{"from": "human", "value": user}]
        rec = {}
        if c.get("system"):
            rec[c["system"]] = system
        else:
            turns.insert(0, {"from": "system", "value": system})
        rec[c["messages"]] = turns
        rec[c["chosen"]] = {"from": "gpt", "value": chosen}
        rec[c["rejected"]] = {"from": "gpt", "value": rejected}
        return rec


def parse_columns(text: Optional[str]) -> dict[str, str]:
    """``--columns`` as JSON (``{"prompt": "question"}``) or ``key=value,key=value``."""
    if not text:
        return {}
    text = text.strip()
    if text.startswith("{"):
        try:
            v = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"--columns is not valid JSON: {e}") from e
        if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
            raise InputError("--columns must map column roles to names, e.g. {\"prompt\": \"instruction\"}")
        return v
    out = {}
    for part in text.split(","):
        if "=" not in part:
            raise InputError(f"--columns: {part!r} is not role=name (e.g. prompt=instruction,system=system)")
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def write_jsonl_atomic(path: str, rows: Iterable[dict[str, Any]]) -> int:
    """Writes rows to path via a temporary file and rename, so a reader never sees half a file."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".")
    n = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
                n += 1
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return n


def write_json_atomic(path: str, value: Any) -> None:
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)
