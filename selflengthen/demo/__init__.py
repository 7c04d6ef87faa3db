"""The offline demo model: `corpus` (a synthetic corpus in the pipeline's own prompt formats) and `model` (a
tiny Llama and a BPE tokenizer trained on it, deterministically, in about 30 s on a CPU).

May import: `selflengthen.method` and the `Prompt` shape of `selflengthen.backends`; torch, transformers and
tokenizers only inside functions.
"""
