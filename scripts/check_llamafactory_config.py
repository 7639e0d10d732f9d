#!/usr/bin/env python3
"""Checks LLaMA-Factory training configs with LLaMA-Factory's own argument parser, without training.

usage: python check_llamafactory_config.py CONFIG.yaml [CONFIG.yaml ...]
Prints one JSON object per config: {"config", "ok", "errors": [...]}; exit 1 if any config fails.

1. Unknown keys: the HfArgumentParser over LLaMA-Factory's train dataclasses (the same _TRAIN_ARGS list
   llamafactory.hparams.parser uses) is asked which fields it accepts; anything else is what
   `parse_dict(..., allow_extra_keys=False)` rejects with "Some keys are not used by the HfArgumentParser".
2. Types: each value is checked against the dataclass field's annotation (parse_dict does not coerce).
3. The dataclasses' own __post_init__ checks run through parse_dict itself, with the settings that need
   a GPU or a distributed launch (bf16/fp16, deepspeed) neutralised, so this runs on a CPU-only machine.
"""
import dataclasses
import json
import sys
import types
import typing

import yaml


def train_parser():
    from transformers import HfArgumentParser
    from llamafactory.hparams import parser as lfp

    arg_types = getattr(lfp, "_TRAIN_ARGS", None)
    if arg_types is None:
        from llamafactory.hparams import DataArguments, FinetuningArguments, GeneratingArguments, ModelArguments, TrainingArguments
        arg_types = [ModelArguments, DataArguments, TrainingArguments, FinetuningArguments, GeneratingArguments]
    return HfArgumentParser(arg_types), arg_types


def fits(value, tp):
    if tp is typing.Any:
        return True
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, getattr(types, "UnionType", typing.Union)):
        return any(fits(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin in (list, typing.List):
        return isinstance(value, list)
    if origin in (dict, typing.Dict) or tp is dict:
        return isinstance(value, dict)
    if isinstance(tp, type):
        import enum
        if issubclass(tp, enum.Enum):
            return isinstance(value, str) and value in {m.value for m in tp}
        return isinstance(value, tp) or isinstance(value, str)
    return True


def check(path, parser, arg_types):
    with open(path) as f:
        cfg = yaml.safe_load(f)
    errors = []
    fields = {}
    for dt in arg_types:
        hints = typing.get_type_hints(dt)
        for fld in dataclasses.fields(dt):
            if fld.init:
                fields[fld.name] = hints.get(fld.name, fld.type)
    unknown = sorted(k for k in cfg if k not in fields)
    if unknown:
        errors.append(f"Some keys are not used by the HfArgumentParser: {unknown}")
    for k, v in cfg.items():
        if k in fields and not fits(v, fields[k]):
            errors.append(f"{k}: {v!r} does not fit the declared type {fields[k]}")
    if not errors:
        probe = dict(cfg)
        for k in ("bf16", "fp16", "pure_bf16"):
            if probe.get(k):
                probe[k] = False
        probe.pop("deepspeed", None)
        probe["use_cpu"] = True if "use_cpu" in fields else probe.get("use_cpu")
        probe = {k: v for k, v in probe.items() if v is not None or k in cfg}
        try:
            parser.parse_dict(probe, allow_extra_keys=False)
        except Exception as e:  # the dataclasses' own validation
            errors.append(f"{type(e).__name__}: {e}")
    return errors


def main():
    parser, arg_types = train_parser()
    failed = False
    for path in sys.argv[1:]:
        errors = check(path, parser, arg_types)
        failed = failed or bool(errors)
        print(json.dumps({"config": path, "ok": not errors, "errors": errors}))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
