"""Long work as a job: a stored row with durable progress, a log, a heartbeat and a cancel flag.

- `runner`: the reporter that writes a job's progress, and `run_as_job`, which ends a job the way its work
  went (done, cancelled, failed); `run_iterate_job` runs an iteration as one.
- `preflight`: the checks made before an iteration starts.
- `progress`: stage, percent, elapsed time and ETA of a job row.
- `commands`: the `python -m selflengthen ...` command lines of long work, and how they are shown.
- `serving`: the `vllm serve` command that serves both roles' LoRA adapters on one base, or why none can.

The dashboard's worker that launches these commands is the app's (`ui.worker`), not the library's.
May import: `selflengthen.stages`, `selflengthen.runs`, `selflengthen.config`, `selflengthen.errors`,
`selflengthen.shapes`.
"""
