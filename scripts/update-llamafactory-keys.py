#!/usr/bin/env python3
"""Regenerates the key set of one LLaMA-Factory version (the argument keys it accepts) from an installed
LLaMA-Factory, so that flux-train's plan-time key check follows the version a pipeline pins
(`llamafactory.version`). flux-train keeps one set per supported version: configs/llamafactory-keys/<version>.json.

usage: VENV/bin/python scripts/update-llamafactory-keys.py [OUT.json]
       (default OUT: configs/llamafactory-keys/<installed version>.json; run it with the python that has LLaMA-Factory)
The file keeps the shape flux-train reads: {"_meta": {...}, "<ArgumentGroup>": {"key": {"type", "default", "choices"?}}}.
"""
import dataclasses
import enum
import json
import sys
import typing


def type_name(tp):
    if isinstance(tp, str):
        return tp
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return "Literal[" + ", ".join(repr(a) for a in typing.get_args(tp)) + "]"
    if origin is not None and typing.get_args(tp):
        args = typing.get_args(tp)
        if origin is typing.Union or type(tp).__name__ == "UnionType":
            return " | ".join(type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(type_name(a) for a in args)}]"
    if tp is type(None):
        return "None"
    return getattr(tp, "__name__", str(tp))


def choices(tp):
    if typing.get_origin(tp) is typing.Literal:
        return [a for a in typing.get_args(tp) if isinstance(a, str)]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return [m.value for m in tp]
    return None


def default(f):
    if f.default is not dataclasses.MISSING:
        d = f.default
    elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        d = f.default_factory()  # type: ignore[misc]
    else:
        return None
    if isinstance(d, enum.Enum):
        return d.value
    try:
        json.dumps(d)
        return d
    except TypeError:
        return str(d)


def main(out):
    import llamafactory
    import transformers
    from llamafactory.hparams import DataArguments, FinetuningArguments, GeneratingArguments, ModelArguments, TrainingArguments

    groups = {
        "ModelArguments": ModelArguments,
        "DataArguments": DataArguments,
        "FinetuningArguments": FinetuningArguments,
        "GeneratingArguments": GeneratingArguments,
        "Seq2SeqTrainingArguments_HF": TrainingArguments,
    }
    data = {
        "_meta": {
            "source_repo": "hiyouga/LLaMA-Factory",
            "commit": f"pypi-{getattr(llamafactory, '__version__', 'unknown')}",
            "llamafactory_version": getattr(llamafactory, "__version__", "unknown"),
            # the HF TrainingArguments keys depend on it (4.x-only keys are unknown on 5.x)
            "transformers_version": getattr(transformers, "__version__", "unknown"),
            "generated_by": "scripts/update-llamafactory-keys.py (dataclass fields of the installed package)",
        }
    }
    for name, dc in groups.items():
        hints = typing.get_type_hints(dc)
        entries = {}
        for f in dataclasses.fields(dc):
            if not f.init:
                continue
            tp = hints.get(f.name, f.type)
            e = {"type": type_name(tp), "default": default(f)}
            c = choices(tp)
            if c:
                e["choices"] = c
            entries[f.name] = e
        data[name] = entries
    if out is None:
        out = f"configs/llamafactory-keys/{data['_meta']['llamafactory_version']}.json"
    with open(out, "w") as fh:
        json.dump(data, fh, indent=1)
        fh.write("\n")
    print(f"wrote {out}: {sum(len(v) for k, v in data.items() if k != '_meta')} keys from LLaMA-Factory {data['_meta']['llamafactory_version']}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
