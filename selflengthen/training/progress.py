"""A training job's progress: the metrics each trainer log becomes (loss, eval loss, learning rate, tokens per second,
ETA; a preference trainer's reward accuracy and margins), written to the job row, and the cancel flag honoured at
every step. Used by the trainer subprocess (`selflengthen.training.trainer`); transformers is imported inside.
"""

from __future__ import annotations

import time

from selflengthen.shapes import Store


class TrainingProgress:
    """The latest training metrics of a job (what its row shows) and the line printed for each trainer log.

    >>> clock = iter([0.0, 10.0, 20.0]).__next__
    >>> progress = TrainingProgress(clock)
    >>> progress.start(step=0)
    >>> progress.update({"loss": 2.0, "learning_rate": 1e-4, "num_tokens": 500}, step=5, total=20)
    {'step': 5, 'total': 20, 'train_loss': 2.0, 'eval_loss': None, 'learning_rate': 0.0001,
     'tokens_per_second': 50.0, 'eta_seconds': 30.0}
    >>> progress.line()
    'step 5/20 loss 2 lr 0.0001 tokens/s 50 eta 30s'
    >>> progress.update({"eval_loss": 2.5}, step=5, total=20)["train_loss"]
    2.0
    """

    def __init__(self, clock=time.monotonic):
        self.clock, self.metrics, self.logs, self.rate = clock, {}, {}, None
        self.first_step, self.t0, self.tokens, self.t_tokens = 0, 0.0, 0, 0.0

    def start(self, step: int) -> None:
        self.first_step, self.t0 = step, self.clock()
        self.tokens, self.t_tokens = 0, self.t0  # trl counts the tokens trained by this process only

    def update(self, logs: dict, step: int, total: int) -> dict:
        """Take one trainer log; a value a log lacks (an eval log has no training loss) keeps its last one."""
        now, self.logs, self.rate = self.clock(), logs, None
        if "num_tokens" in logs:
            self.rate = (logs["num_tokens"] - self.tokens) / max(now - self.t_tokens, 1e-9)
            self.tokens, self.t_tokens = logs["num_tokens"], now
        latest = {"train_loss": logs.get("loss"), "eval_loss": logs.get("eval_loss"),
                  "learning_rate": logs.get("learning_rate"), "tokens_per_second": self.rate}
        done = step - self.first_step
        self.metrics = {"step": step, "total": total,
                        **{k: self.metrics.get(k) if v is None else v for k, v in latest.items()},
                        "eta_seconds": (now - self.t0) / done * (total - step) if done > 0 else None}
        return self.metrics

    def line(self) -> str:
        m, logs = self.metrics, self.logs
        shown = [("loss", logs.get("loss")), ("eval_loss", logs.get("eval_loss")), ("lr", logs.get("learning_rate"))]
        return (f"step {m['step']}/{m['total']}" + "".join(f" {k} {v:.4g}" for k, v in shown if v is not None)
                + (f" tokens/s {self.rate:.0f}" if self.rate is not None else "")
                + (f" eta {m['eta_seconds']:.0f}s" if m["eta_seconds"] is not None else ""))


def reward_metrics(logs: dict) -> dict:
    """A preference trainer's rewards in a log (train or eval): how often the chosen text out-scored the rejected
    one, and by how much. KTO logs no accuracy.

    >>> reward_metrics({"loss": 0.6, "rewards/accuracies": 0.75, "rewards/margins": 0.2})
    {'reward_accuracy': 0.75, 'reward_margin': 0.2}
    >>> reward_metrics({"eval_loss": 0.7, "eval_rewards/margins": -0.1})
    {'eval_reward_margin': -0.1}
    """
    names = {"rewards/accuracies": "reward_accuracy", "rewards/margins": "reward_margin"}
    found = {}
    for key, name in names.items():
        for prefix in ("", "eval_"):
            if prefix + key in logs:
                found[prefix + name] = logs[prefix + key]
    return found


def progress_callback(store: Store, job_id: int, log=print):
    """A TrainerCallback that writes durable progress and metrics and honours the job's cancel flag."""
    from transformers import TrainerCallback

    class JobProgress(TrainerCallback):
        def __init__(self):
            self.progress, self.cancelled, self.last_write = TrainingProgress(), False, 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            self.progress.start(state.global_step)
            if state.global_step:
                log(f"resumed at step {state.global_step}/{state.max_steps}")
            self._write(done=state.global_step, total=state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
            if self._cancel_requested(args):
                self.cancelled = control.should_save = control.should_training_stop = True
                log(f"cancel requested: saving a checkpoint at step {state.global_step} and stopping")
            if time.monotonic() - self.last_write >= 1.0:
                self._write(done=state.global_step, total=state.max_steps)

        def on_train_end(self, args, state, control, **kwargs):
            self._write(done=state.global_step, total=state.max_steps)  # the last step, however fast it came

        def on_log(self, args, state, control, logs=None, **kwargs):
            if store is None or not {"loss", "eval_loss"} & set(logs or {}):
                return  # another rank, or the end-of-training summary
            metrics = self.progress.update(logs, state.global_step, state.max_steps)
            store.record_metrics(job_id, step=state.global_step, train_loss=logs.get("loss"),
                                 eval_loss=logs.get("eval_loss"), learning_rate=logs.get("learning_rate"),
                                 tokens_per_second=self.progress.rate, **reward_metrics(logs))
            self._write(done=state.global_step, total=state.max_steps, metrics=metrics)
            log(self.progress.line())

        def _cancel_requested(self, args) -> bool:
            flag = store is not None and store.cancel_requested(job_id)
            if args.world_size > 1:  # every process must stop at the same step
                from accelerate.utils import broadcast_object_list

                flag = broadcast_object_list([flag])[0]
            return flag

        def _write(self, **fields) -> None:
            if store is not None:
                store.update_job(job_id, **fields)
                self.last_write = time.monotonic()

    return JobProgress()
