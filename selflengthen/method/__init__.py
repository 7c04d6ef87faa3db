"""The method's pure pieces: plain text and data in, plain text and data out; no model, no store, no files.

- `words`, `gates`, `split`, `rouge`: how words are counted, the quality gates, where a text is halved, ROUGE-L.
- `padding`: whether a text's length comes from repeating itself (repeated sentences and word runs, distinct
  pairs, compression), and the padding guard's verdict.
- `numerals`: Chinese numerals of word counts (三千 <-> 3000), as length constraints write them.
- `augment`, `generate`, `expand`, `filter`: one module per pipeline stage, holding that stage's prompt text
  beside the builder that fills it and the parser that reads the model's answer (or, for `filter`, the
  drop-short rule). `selflengthen.stages` runs them against a backend and a store.

May import: `selflengthen.errors` and `selflengthen.backends.base` (the `Prompt` shape). Nothing else of the
project, and nothing heavy: everything here is cheap to import and tested with known answers.
"""
