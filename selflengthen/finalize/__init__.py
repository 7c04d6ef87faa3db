"""The final stage's pure pieces: a length constraint for each pooled row, and that constraint written into
its query; plain data in, plain data out.

- `constraints`: the spec (type mix, rounding, bounds) and a constraint each row's own response meets,
  checked with LonGen's interval; `constraint_interval` re-checks any row, Chinese numerals included.
- `numerals`: Chinese numerals (3000 <-> 三千), as the reference writes half of its Chinese constraints.
- `insert`: the constraint put into the query, by template (varied phrasings and places) or by the model
  rewriting the query, each rewrite checked and replaced by a template where it fails.

May import: `selflengthen.method`, `selflengthen.evaluation`, `selflengthen.backends`, `selflengthen.stages`,
`selflengthen.jobs` (a top-up is an iterate job), `selflengthen.errors`, `selflengthen.config`, `selflengthen.inputs`,
`selflengthen.shapes`. Never the storage package, the dashboard or gradio.
"""
