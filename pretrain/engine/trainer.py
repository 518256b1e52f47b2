"""The training loop shared by pretraining and WePrompt fine-tuning.

    trainer = Trainer(cfg, model_config, batch_source, val_batches=..., tokenizer_dir=...)
    result = trainer.fit()

The caller brings the data as a *batch source*: any object with
    next_batch() -> {"input_ids": LongTensor[B, T], "targets": LongTensor[B, T] (-100 = ignored),
                     optional "doc_ids": LongTensor[B, T]}
    state_dict() -> dict  (plain Python values / tensors)     load_state_dict(d)
    skip(n_batches)       (advance without producing; used by loss-spike recovery)
Each rank owns its own source (it knows its rank); the trainer never looks inside a batch.

Per optimizer step: lr from the schedule (× the spike factor) → `grad_accum` forward/backward → spike check
on the rank-averaged loss (a spike rolls back instead of stepping) → clip + AdamW step → log / eval /
checkpoint. Resume (`checkpoint.resume: auto`) continues the latest checkpoint of `run_dir` bit-exactly.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn

from weprompt.common.atomic import atomic_write_text
from weprompt.common.config import dump_config, to_dict
from weprompt.common.errors import UserError
from weprompt.pretrain import checkpoint as ckpt
from weprompt.pretrain.engine import spike as spk
from weprompt.pretrain.engine.config import TrainerConfig
from weprompt.pretrain.engine.distributed import DistEnv, setup
from weprompt.pretrain.engine.grouploss import GroupLogging, GroupLossLog, model_loss
from weprompt.pretrain.engine.logger import JsonlLogger, plot_curves, plot_group_curves
from weprompt.pretrain.engine.loop import BatchSource, EvalHook, TrainResult, _Loop, _Step, _Window
from weprompt.pretrain.engine.metrics import mfu, peak_flops, peak_memory_mib
from weprompt.pretrain.engine.optim import lr_at
from weprompt.pretrain.engine.precision import autocast
from weprompt.pretrain.engine.resume import check_init_from, find_resume
from weprompt.pretrain.engine.runlock import lock_run_dir
from weprompt.pretrain.engine.sinks import Sink, TensorBoardSink, WandbSink
from weprompt.pretrain.engine.state import (
    TrainerState,
    load_rank_state,
    save_rank_state,
    seed_everything,
    set_rng_state,
)
from weprompt.pretrain.model import ModelConfig, WeLM

if TYPE_CHECKING:
    from weprompt.pretrain.engine.backend import TorchBackend
    from weprompt.pretrain.engine.backend_ds import DeepSpeedBackend


log = logging.getLogger(__name__)
__all__ = ["BatchSource", "EvalHook", "TrainResult", "Trainer"]


class Trainer:
    def __init__(
        self,
        cfg: TrainerConfig,
        model_config: ModelConfig,
        source: BatchSource,
        *,
        val_batches: Callable[[], Iterable[dict]] | list[dict] | None = None,
        tokenizer_dir: str | Path | None = None,
        tokenizer_fingerprint: str | None = None,
        model: nn.Module | None = None,
        metrics_hook: Callable[[int], dict] | None = None,
        run_meta: dict | None = None,
        flops_per_token: float | None = None,
        env: DistEnv | None = None,
        group_logging: GroupLogging | None = None,
        eval_hooks: dict[str, EvalHook] | None = None,
        checkpoint_hook: Callable[[int], None] | None = None,
    ):
        self.cfg, self.model_config, self.source = cfg, model_config, source
        # Group losses (grouploss.py): each rank logs its own micro-batches' (rank 0's reach the log).
        self.groups = GroupLossLog(
            group_logging or GroupLogging(), lambda: list(getattr(source, "loss_group_names", []))
        )
        self.eval_hooks = eval_hooks or {}
        self.checkpoint_hook = checkpoint_hook  # rank 0, after each checkpoint is published (its step)
        self.val_batches, self.metrics_hook = val_batches, metrics_hook
        self.tokenizer_dir = tokenizer_dir
        self._tokenizer_fingerprint = tokenizer_fingerprint
        self.run_meta = run_meta or {}
        self._flops_per_token = flops_per_token
        self.run_dir = Path(cfg.run_dir)
        self.ckpt_dir = Path(cfg.checkpoint_dir)
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        if cfg.flush_denormal:
            torch.set_flush_denormal(True)
        self.env = env or setup(cfg.deepspeed.enabled)
        self._lock = lock_run_dir(self.run_dir, self.env)
        try:
            self._setup(cfg, model_config, model, tokenizer_fingerprint)
        except BaseException:
            self._lock.release(undo=True)  # a refused run leaves the run dir as it was
            raise

    # -- setup -------------------------------------------------------------------------------------

    def _setup(
        self, cfg: TrainerConfig, model_config: ModelConfig, model: nn.Module | None, fingerprint: str | None
    ) -> None:
        # Checks before any write: a refused resume must leave the run dir as it was.
        resume_from = find_resume(cfg, model_config, self.env.world_size, fingerprint)
        init_dir = None
        if cfg.init_from and resume_from is None:
            welm = model is None or isinstance(model, WeLM)
            init_dir = check_init_from(cfg, model_config if welm else None)
        if self.env.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)
            ckpt.clean_stale(self.ckpt_dir)
            self.tokenizer_dir = ckpt.snapshot_tokenizer(self.run_dir, self.tokenizer_dir, fingerprint)
        self.env.barrier()

        seed_everything(cfg.seed)  # identical initial weights on every rank
        model = model if model is not None else WeLM(model_config)
        if init_dir is not None:
            ckpt.load_weights(model, init_dir)
        self.backend: TorchBackend | DeepSpeedBackend
        if cfg.deepspeed.enabled:
            from weprompt.pretrain.engine.backend_ds import DeepSpeedBackend

            self.backend = DeepSpeedBackend(model, cfg, self.env)
        else:
            from weprompt.pretrain.engine.backend import TorchBackend

            self.backend = TorchBackend(model, cfg, self.env)
        seed_everything(cfg.seed + 1 + self.env.rank)  # dropout etc. differ per rank

        self.state = TrainerState(
            backend=self.backend.name, precision=cfg.precision, world_size=self.env.world_size,
            tokenizer_fingerprint=fingerprint,
        )  # fmt: skip
        self.detector = spk.SpikeDetector(cfg.spike)
        self.logger = JsonlLogger(self.run_dir, enabled=self.env.is_main)
        self.resumed_from = None
        if resume_from is not None:
            self._restore(resume_from)
            self.resumed_from = resume_from
            if self.env.is_main:
                self.logger.truncate_after(self.state.step)
        if self.env.is_main:
            self.logger.sinks = self._sinks(resumed=resume_from is not None)
            dump_config(cfg, self.run_dir / "trainer_config.yaml")
            (self.run_dir / "model_config.json").write_text(
                json.dumps(to_dict(model_config), indent=1) + "\n"
            )

    def _sinks(self, resumed: bool) -> list[Sink]:
        """TensorBoard and W&B beside the JSONL log, as `logging` asks (rank 0)."""
        lc, step = self.cfg.logging, self.state.step
        sinks: list[Sink] = []
        if lc.tensorboard:
            sinks.append(TensorBoardSink(self.run_dir, purge_step=step + 1 if resumed else None))
        if lc.wandb.enabled:
            config = {
                "train": to_dict(self.cfg),
                "model": to_dict(self.model_config),
                "run_meta": self.run_meta,
            }
            sinks.append(WandbSink(lc.wandb, self.run_dir, config, step))
        return sinks

    def _restore(self, step_dir: Path) -> None:
        """Everything from a checkpoint: weights, optimizer, scaler, RNG, data position, counters."""
        self.backend.load(step_dir)
        self.state = TrainerState.read(step_dir)
        self.backend.load_scaler_state(self.state.loss_scaler)
        self.detector.load_state_dict(self.state.detector)
        rank_state = load_rank_state(step_dir, self.env.rank)
        set_rng_state(rank_state["rng"])
        self.source.load_state_dict(rank_state["data"])

    # -- checkpoints ---------------------------------------------------------------------------------

    def save_checkpoint(self) -> Path:
        step = self.state.step
        tmp = self.ckpt_dir / f".tmp_{ckpt.step_name(step)}"
        if self.env.is_main:
            ckpt.begin(self.ckpt_dir, step)
        self.env.barrier()
        self.backend.save(tmp)
        save_rank_state(tmp, self.env.rank, self.source.state_dict())
        self.env.barrier()
        final = self.ckpt_dir / ckpt.step_name(step)
        if self.env.is_main:
            self.state.loss_scaler = self.backend.scaler_state()
            self.state.detector = self.detector.state_dict()
            self.state.data_state_rank0 = self.source.state_dict()
            self.state.write(tmp)
            ckpt.write_model_config(tmp, self.model_config)
            ckpt.copy_tokenizer(tmp, self.tokenizer_dir)
            final = ckpt.publish(self.ckpt_dir, tmp, step)
            keep = set()
            if self.cfg.spike.enabled:
                steps = [s for s, _ in ckpt.list_checkpoints(self.ckpt_dir)]
                anchor = spk.rollback_anchor(steps, step, self.cfg.spike.rollback_steps)
                keep = {anchor} if anchor is not None else set()
            ckpt.prune(self.ckpt_dir, self.cfg.checkpoint.keep_last, keep)
            if self.checkpoint_hook is not None:
                self.checkpoint_hook(step)
        self.env.barrier()
        return final

    # -- spike recovery ------------------------------------------------------------------------------

    def _recover(self, spike_step: int, loss: float, reason: str, moving_average: float | None) -> None:
        sc = self.cfg.spike
        if len(self.state.spike_events) >= sc.max_events:
            raise UserError(
                f"loss spike at step {spike_step} ({reason}) after {sc.max_events} recoveries in this run; "
                "giving up (raise train.spike.max_events, or lower the learning rate)"
            )
        available = [s for s, _ in ckpt.list_checkpoints(self.ckpt_dir)]
        target = spk.choose_rollback(available, spike_step, sc.rollback_steps)
        if target is None:
            raise UserError(f"loss spike at step {spike_step} ({reason}) and no checkpoint to roll back to")
        before: dict[str, Any] = {"lr_scale": self.state.lr_scale, "loss_scale": self.backend.loss_scale,
                  "events": list(self.state.spike_events), "data": self.source.state_dict()}  # fmt: skip
        anchor = self.ckpt_dir / ckpt.step_name(target)
        ckpt.verify(anchor, hashes=self.cfg.checkpoint.verify)
        self._restore(anchor)
        data_at_ckpt = self.source.state_dict()
        self.source.skip(sc.skip_batches * self.cfg.grad_accum)
        self.backend.reset_loss_scale()
        self.detector.reset()
        self.state.lr_scale = before["lr_scale"] * sc.lr_factor
        event = {
            "kind": "spike", "step": spike_step, "loss": loss, "reason": reason,
            "moving_average": moving_average,
            "rollback_to_step": target, "skipped_batches": sc.skip_batches,
            "skipped_micro_batches": sc.skip_batches * self.cfg.grad_accum,
            "data_state_at_spike": before["data"], "data_state_at_checkpoint": data_at_ckpt,
            "data_state_after_skip": self.source.state_dict(),
            "lr_scale_before": before["lr_scale"], "lr_scale_after": self.state.lr_scale,
            "loss_scale_before": before["loss_scale"], "loss_scale_after": self.backend.loss_scale,
        }  # fmt: skip
        self.state.spike_events = before["events"] + [event]
        if self.env.is_main:
            # `latest` goes back to the anchor first, then the abandoned branch is deleted: a crash in
            # between replays the same rollback deterministically.
            ckpt.point_latest(self.ckpt_dir, self.ckpt_dir / ckpt.step_name(target))
            ckpt.remove_newer(self.ckpt_dir, target)
            spk.append_event(self.run_dir, event)
            self.logger.log(event)
            log.warning(
                "loss spike at step %d: %s; rolled back to step %d, skipped %d batches, lr x%g",
                spike_step, reason, target, sc.skip_batches, self.state.lr_scale,
            )  # fmt: skip
        self.env.barrier()

    # -- evaluation ----------------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self) -> float | None:
        if self.val_batches is None:
            return None
        batches = self.val_batches() if callable(self.val_batches) else self.val_batches
        module = self.backend.module
        was_training = module.training
        module.eval()
        total, n = 0.0, 0
        ctx_precision = self.cfg.precision if self.backend.name == "torch" else "fp32"
        for batch in batches:
            with autocast(ctx_precision, self.env.device):
                loss, _ = model_loss(module, self._to_device(batch), self.backend.loss_chunk)
            total += float(loss)
            n += 1
        module.train(was_training)
        return total / n if n else None

    # -- the loop ------------------------------------------------------------------------------------

    def _to_device(self, batch: dict) -> dict:
        return {k: v.to(self.env.device, non_blocking=True) for k, v in batch.items()}

    def fit(self) -> TrainResult:
        """Train to `total_steps` (or the time budget); the run dir's lock is released at the end."""
        try:
            return self._fit()
        finally:
            self._lock.release()

    def _fit(self) -> TrainResult:
        cfg = self.cfg
        loop = _Loop(wall0=time.perf_counter(), flops_tok=self._flops_per_token)
        if cfg.spike.enabled and cfg.checkpoint.every and not ckpt.list_checkpoints(self.ckpt_dir):
            self.save_checkpoint()  # step 0: the rollback anchor for a spike in the first steps
        loop.peak, loop.peak_source = peak_flops(self.env.device, cfg.precision, cfg.logging.peak_flops)
        bar = self._progress_bar()
        try:
            while self.state.step < cfg.total_steps:
                step = self.state.step + 1
                done = self._train_step(step, loop)
                if done is None:  # a loss spike rolled the run back
                    bar.n = self.state.step
                    loop.window = _Window()
                    continue
                bar.update(1)
                self._after_step(step, done, loop, bar)
                if self._out_of_time(step, bar):
                    loop.stopped_early = True
                    break
        except KeyboardInterrupt:
            if not self.env.distributed and self.state.step > 0:
                log.warning("interrupted: saving a checkpoint at step %d", self.state.step)
                self.save_checkpoint()
            raise
        finally:
            bar.close()
        return self._finish(loop)

    def _progress_bar(self) -> Any:
        from tqdm.auto import tqdm

        show = self.cfg.logging.progress and self.env.is_main
        return tqdm(total=self.cfg.total_steps, initial=self.state.step, disable=not show,
                    dynamic_ncols=True, mininterval=1.0, desc="train")  # fmt: skip

    def _train_step(self, step: int, loop: _Loop) -> _Step | None:
        """One optimizer step (grad_accum micro-steps); None when a loss spike rolled the run back instead."""
        cfg, env = self.cfg, self.env
        lr = lr_at(step, cfg.optim, cfg.total_steps) * self.state.lr_scale
        self.backend.set_lr(lr)
        t0 = time.perf_counter()
        losses, tokens = [], 0
        for micro in range(cfg.grad_accum):
            batch = self._to_device(self.source.next_batch())
            tokens += batch["input_ids"].numel() * env.world_size
            losses.append(self.backend.forward_backward(batch, last=micro == cfg.grad_accum - 1))
            self.groups.add(self.backend.group_loss)
        if loop.flops_tok is None:
            loop.flops_tok = self.model_config.flops_per_token(batch["input_ids"].shape[1])
        loss = float(env.mean(torch.stack(losses).mean()))  # the same value on every rank
        reason = self.detector.check(loss) if cfg.spike.enabled else None
        if reason is not None:
            avg = self.detector.moving_average
            self.backend.discard_grads()
            self._recover(step, loss, reason, avg)
            return None
        result = self.backend.step()
        if cfg.spike.enabled and not result.skipped:
            self.detector.accept(loss)
        dt = time.perf_counter() - t0
        self.state.step = step
        self.state.tokens_seen += tokens
        self.state.train_seconds += dt
        loop.window.add(tokens, dt, loss)
        loop.last_loss = loss
        return _Step(loss=loss, lr=lr, result=result)

    def _after_step(self, step: int, done: _Step, loop: _Loop, bar: Any) -> None:
        """Log, evaluate and checkpoint on their schedules (the final eval and checkpoint come in `_finish`)."""
        cfg = self.cfg
        if step % cfg.logging.every == 0 or step == cfg.total_steps:
            self._log_train(step, done, loop, bar)
        detail = self.groups.detail_record(step, step == cfg.total_steps)
        if detail is not None:
            self.logger.log(detail)
        if cfg.eval.every and step % cfg.eval.every == 0 and step != cfg.total_steps:
            self._log_eval(step)
        if cfg.checkpoint.every and step % cfg.checkpoint.every == 0 and step != cfg.total_steps:
            self.save_checkpoint()

    def _log_train(self, step: int, done: _Step, loop: _Loop, bar: Any) -> None:
        w, res = loop.window, done.result
        assert loop.flops_tok is not None  # set by the first step
        tps = w.tokens / w.seconds if w.seconds else 0.0
        step_mfu = mfu(loop.flops_tok, tps / self.env.world_size, loop.peak)
        record = {
            "kind": "train", "step": step, "loss": done.loss, "loss_avg": sum(w.losses) / len(w.losses),
            "lr": done.lr, "grad_norm": res.grad_norm, "loss_scale": res.loss_scale,
            "skipped_steps": self.backend.skipped_steps, "tokens": self.state.tokens_seen,
            "tokens_per_s": tps, "mfu": step_mfu, "elapsed_s": self.state.train_seconds,
        }  # fmt: skip
        if self.metrics_hook is not None:
            record.update(self.metrics_hook(step))
        record.update(self.groups.rollups())
        self.logger.log(record)
        bar.set_postfix(
            loss=f"{done.loss:.3f}", lr=f"{done.lr:.2e}", tok_s=f"{tps:.0f}", mfu=f"{step_mfu:.1%}"
        )
        loop.window = _Window()

    def _out_of_time(self, step: int, bar: Any) -> bool:
        """True when `max_train_minutes` of training time is spent before `total_steps` (logged)."""
        cfg = self.cfg
        if (
            not cfg.max_train_minutes
            or step >= cfg.total_steps
            or self._elapsed() < cfg.max_train_minutes * 60
        ):
            return False
        if self.env.is_main:
            bar.write(f"time budget of {cfg.max_train_minutes:g} min reached at step {step}; stopping")
            self.logger.log({"kind": "stop", "step": step, "reason": "max_train_minutes"})
        return True

    def _finish(self, loop: _Loop) -> TrainResult:
        """The final eval and checkpoint, the result, summary.json and the plots."""
        cfg, env, st = self.cfg, self.env, self.state
        last_val = self._log_eval(st.step)
        latest = ckpt.latest_checkpoint(self.ckpt_dir)
        if latest is not None and latest.name == ckpt.step_name(st.step):
            final = latest  # nothing ran since (a finished run resumed): keep the checkpoint as it is
        else:
            final = self.save_checkpoint()
        tps = st.tokens_seen / st.train_seconds if st.train_seconds else 0.0
        flops_tok = loop.flops_tok
        train_result = TrainResult(
            run_dir=str(self.run_dir), step=st.step, tokens=st.tokens_seen, final_loss=loop.last_loss,
            val_loss=last_val, tokens_per_s=tps,
            mfu=mfu(flops_tok, tps / env.world_size, loop.peak) if flops_tok else float("nan"),
            peak_source=loop.peak_source, peak_memory_mib=peak_memory_mib(env.device),
            train_seconds=st.train_seconds, wall_seconds=time.perf_counter() - loop.wall0,
            skipped_steps=self.backend.skipped_steps, spike_events=len(st.spike_events),
            checkpoint=str(final), stopped_early=loop.stopped_early,
        )  # fmt: skip
        if env.is_main:
            summary = {**asdict(train_result), "run_meta": self.run_meta, "flops_per_token": flops_tok,
                       "peak_flops": loop.peak}  # fmt: skip
            atomic_write_text(
                self.run_dir / "summary.json", json.dumps(summary, indent=1, default=str) + "\n"
            )
            if cfg.logging.plot:
                plot_curves(self.run_dir)
                plot_group_curves(self.run_dir)
        self.logger.close()
        return train_result

    def _elapsed(self) -> float:
        """Training seconds so far, the same on every rank (ranks must agree on when to stop)."""
        return float(self.env.mean(torch.tensor(self.state.train_seconds, dtype=torch.float64)))

    def _log_eval(self, step: int) -> float | None:
        val = self.evaluate()
        if val is not None:
            self.logger.log(
                {"kind": "eval", "step": step, "val_loss": val, "val_ppl": math.exp(min(val, 50))}
            )
        if self.env.is_main:
            for name, hook in self.eval_hooks.items():
                t0 = time.perf_counter()
                metrics = self._run_hook(hook)
                seconds = round(time.perf_counter() - t0, 3)
                self.logger.log(
                    {"kind": "heldout", "step": step, "source": name, "metrics": metrics, "seconds": seconds}
                )
        return val

    @torch.no_grad()
    def _run_hook(self, hook: EvalHook) -> dict[str, float]:
        module = self.backend.module
        was_training = module.training
        module.eval()
        try:
            with autocast(self.cfg.precision if self.backend.name == "torch" else "fp32", self.env.device):
                return hook(module)
        finally:
            module.train(was_training)

    def close(self) -> None:
        self._lock.release()
        self.env.close()
