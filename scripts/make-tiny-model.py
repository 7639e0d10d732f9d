#!/usr/bin/env python3
"""Writes a tiny random-weight Qwen3 causal LM in Hugging Face format, for CPU tests of real LLaMA-Factory
(no model hub is reachable from CI). A few hundred thousand parameters, and a small BPE tokenizer trained
on the spot that knows the special tokens LLaMA-Factory's `qwen3` template uses.

usage: python make-tiny-model.py OUT_DIR   (run it with the LLaMA-Factory venv's python)
"""
import json
import os
import sys

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders
from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]

# the chat template of Qwen3 (simplified): LLaMA-Factory's qwen3 template formats prompts itself,
# this one only lets the tokenizer stand alone (e.g. for sglang sampling in a command stage)
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def corpus():
    words = "problem template step answer add subtract multiply divide number equation solve think proposer reasoner good bad chosen rejected what is the sum of and".split()
    for i in range(400):
        yield " ".join(words[(i * 7 + j) % len(words)] for j in range(12)) + f" {i} {i * 2}"


def main(out):
    os.makedirs(out, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<think>", "</think>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)

    torch.manual_seed(0)
    config = Qwen3Config(
        vocab_size=len(fast),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=fast.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=fast.convert_tokens_to_ids("<|endoftext|>"),
        torch_dtype="float32",
    )
    model = Qwen3ForCausalLM(config)
    model.save_pretrained(out, safe_serialization=True)
    n = sum(p.numel() for p in model.parameters())
    with open(os.path.join(out, "flux-tiny-model.json"), "w") as f:
        json.dump({"parameters": n, "vocab": len(fast)}, f)
    # safetensors writes model.safetensors with mode 0600: a container running as another uid could not
    # load it. A model folder is for reading by whoever trains on it.
    os.chmod(out, 0o755)
    for name in os.listdir(out):
        os.chmod(os.path.join(out, name), 0o644)
    print(f"tiny Qwen3 model with {n} parameters and a {len(fast)}-token tokenizer in {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".cache/tiny-qwen3")
