"""The pipeline's runners: one module per stage of an iteration (augment, generate, expand, filter), and
`pipeline`, which runs them in order up to human review and decides which iteration is next.

Each runner is short: it builds prompts with `selflengthen.method`, calls the backend, applies the gates and
stores every finished step through the store it is handed, so a re-run does only what is missing. `reporter`
is how a runner reports progress and learns it should stop; `common` holds their seeds and sampling.

May import: `selflengthen.method`, `selflengthen.backends`, `selflengthen.config`, `selflengthen.errors`,
`selflengthen.shapes`. Never the storage package, the dashboard or the job machinery.
"""
