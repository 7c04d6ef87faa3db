"""Curated samples out as training datasets: `formats` (row builders of each trainer format, with provenance),
`final` (the run's final set as rows of those formats, with LonGen's fields), `card` (the dataset card and
LLaMA-Factory's dataset_info.json) and `writer` (JSONL, Parquet or a datasets folder, written atomically;
optional push to the hub).

May import: `selflengthen.curation`, `selflengthen.training.data`, `selflengthen.finalize`, `selflengthen.runs`,
`selflengthen.jobs`, `selflengthen.inputs`, `selflengthen.errors`, `selflengthen.shapes`; datasets, pyarrow and
huggingface_hub only inside functions.
"""
