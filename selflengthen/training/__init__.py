"""Fine-tuning the generator and the extender on the accepted samples, and chatting with the result.

- `config`: the training settings and presets, the spec a training subprocess runs from, and its command.
- `data`: the rows each role learns from (pure).
- `job`: prepares data and spec, runs the trainer subprocess and follows it (what `train` runs).
- `trainer`: the subprocess itself (`python -m selflengthen.training.trainer SPEC`): trl, progress into the
  store, checkpoints. It is an entry point, so it may open the storage package.
- `chat`: one reply from a model or checkpoint, in-process (`chat`, the dashboard's "try it").

May import: `selflengthen.method`, `selflengthen.backends`, `selflengthen.config`, `selflengthen.errors`,
`selflengthen.shapes`; torch, transformers, trl and peft only inside the functions that need them.
"""
