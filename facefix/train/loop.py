"""The Trainer: one loop for every recipe.

It owns the data order, the optimiser, mixed precision, gradient accumulation and clipping, the EMA of
the generator, checkpoints and logs. A checkpoint stores the step, the epoch and the position in it,
and every random state, so ``resume`` continues exactly: the resumed run's losses equal those of an
uninterrupted run, step for step.
"""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from facefix import hub
from facefix.console import console, progress
from facefix.errors import FacefixError
from facefix.train.data import DegradedFaces
from facefix.train.recipe import TrainRecipe

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Trainer:
    """Runs ``recipe`` on ``dataset`` until ``config.max_steps``, writing into ``config.out``."""

    def __init__(self, recipe: TrainRecipe, dataset: DegradedFaces):
        self.recipe, self.dataset, self.config = recipe, dataset, recipe.config
        self.out = Path(self.config.out)
        self.optimizer = torch.optim.Adam(recipe.param_groups(), lr=self.config.lr, betas=self.config.betas)
        self.ema = copy.deepcopy(recipe.generator).eval().requires_grad_(False)
        self.scaler = torch.amp.GradScaler(enabled=self.config.mixed_precision == "fp16")
        d_groups = recipe.discriminator_param_groups()
        self.d_params = [p for group in d_groups for p in group["params"]]
        self.d_optimizer = (torch.optim.Adam(d_groups, lr=self.config.lr, betas=self.config.betas)
                            if d_groups else None)
        self.d_scaler = torch.amp.GradScaler(enabled=self.config.mixed_precision == "fp16")
        for optimizer in (self.optimizer, self.d_optimizer):
            for group in optimizer.param_groups if optimizer else []:
                group.setdefault("initial_lr", group["lr"])
        self.step = self.epoch = self.position = 0
        torch.manual_seed(self.config.seed)

    # -- data ---------------------------------------------------------------------------------------
    def _epoch_order(self, epoch: int) -> list[int]:
        return np.random.default_rng([self.config.seed, epoch]).permutation(len(self.dataset)).tolist()

    def _batches(self):
        """Batches in a seeded order per epoch, starting at the saved position."""
        size = self.config.batch_size
        while True:
            self.dataset.epoch = self.epoch
            order = self._epoch_order(self.epoch)
            usable = len(order) - len(order) % size or len(order)
            loader = DataLoader(Subset(self.dataset, order[self.position:usable]), batch_size=size,
                                num_workers=self.config.workers, pin_memory=self.recipe.device.type == "cuda")
            for batch in loader:
                self.position += len(batch["gt"])
                yield {k: v.to(self.recipe.device, non_blocking=True) for k, v in batch.items()}
            self.epoch, self.position = self.epoch + 1, 0

    # -- one optimisation step ------------------------------------------------------------------------
    def _train_step(self, batches) -> dict[str, float]:
        dtype = _DTYPES.get(self.config.mixed_precision)
        micro_batches = [next(batches) for _ in range(self.config.grad_accumulation)]

        def accumulate(loss_fn, parameters, optimizer, scaler) -> dict[str, float]:
            optimizer.zero_grad(set_to_none=True)
            logs: dict[str, float] = {}
            for batch in micro_batches:
                with torch.autocast(self.recipe.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                    loss, parts = loss_fn(batch, self.step)
                scaler.scale(loss / len(micro_batches)).backward()
                for name, value in parts.items():
                    logs[name] = logs.get(name, 0.0) + value / len(micro_batches)
            if self.config.grad_clip > 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(parameters, self.config.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            return logs

        self._set_learning_rates()
        # the discriminators take no gradient from the generator's losses
        for parameter in self.d_params:
            parameter.requires_grad_(False)
        logs = accumulate(self.recipe.generator_loss, self.recipe.generator.parameters(), self.optimizer, self.scaler)
        self._update_ema()
        if self.d_optimizer is not None:
            for parameter in self.d_params:
                parameter.requires_grad_(True)
            logs.update(accumulate(self.recipe.discriminator_loss, self.d_params, self.d_optimizer, self.d_scaler))
        return logs

    def _set_learning_rates(self) -> None:
        if self.config.lr_schedule == "constant":
            return
        if self.config.lr_schedule != "cosine":
            raise FacefixError(f"lr_schedule {self.config.lr_schedule!r}: expected constant or cosine")
        factor = 0.5 * (1 + math.cos(math.pi * min(self.step / max(self.config.max_steps, 1), 1.0)))
        for optimizer in (self.optimizer, self.d_optimizer):
            for group in optimizer.param_groups if optimizer else []:
                group["lr"] = group["initial_lr"] * factor

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.config.ema_decay
        for ema, live in zip(self.ema.state_dict().values(), self.recipe.generator.state_dict().values()):
            if ema.dtype.is_floating_point:
                ema.lerp_(live, 1 - decay)
            else:
                ema.copy_(live)

    # -- checkpoints ----------------------------------------------------------------------------------
    def checkpoint_dir(self, step: int) -> Path:
        return self.out / "checkpoints" / f"step_{step:07d}"

    def save(self) -> Path:
        folder = self.checkpoint_dir(self.step)
        folder.mkdir(parents=True, exist_ok=True)
        metadata = {"config": json.dumps(self.config.to_dict()), "method": self.recipe.name, "step": str(self.step)}
        hub.save_state_dict(self.recipe.generator.state_dict(), folder / "generator.safetensors", metadata)
        hub.save_state_dict(self.ema.state_dict(), folder / "ema.safetensors", metadata)
        state = {"step": self.step, "epoch": self.epoch, "position": self.position,
                 "optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
                 "torch_rng": torch.get_rng_state()}
        if self.d_optimizer is not None:
            hub.save_state_dict(self.recipe.discriminator.state_dict(), folder / "discriminator.safetensors", metadata)
            state.update(d_optimizer=self.d_optimizer.state_dict(), d_scaler=self.d_scaler.state_dict())
        tmp = folder / "state.pt.partial"
        torch.save(state, tmp)
        tmp.replace(folder / "state.pt")
        (self.out / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2))
        return folder

    def latest_checkpoint(self) -> Path | None:
        done = sorted(p for p in (self.out / "checkpoints").glob("step_*") if (p / "state.pt").exists())
        return done[-1] if done else None

    def resume(self, folder: Path) -> None:
        self.recipe.generator.load_state_dict(hub.load_state_dict(folder / "generator.safetensors"))
        self.ema.load_state_dict(hub.load_state_dict(folder / "ema.safetensors"))
        state = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        if self.d_optimizer is not None:
            self.recipe.discriminator.load_state_dict(hub.load_state_dict(folder / "discriminator.safetensors"))
            self.d_optimizer.load_state_dict(state["d_optimizer"])
            self.d_scaler.load_state_dict(state["d_scaler"])
        torch.set_rng_state(state["torch_rng"])
        self.step, self.epoch, self.position = state["step"], state["epoch"], state["position"]
        console.print(f"resumed from {folder} (step {self.step})")

    # -- the loop -------------------------------------------------------------------------------------
    def train(self, *, resume: bool = False) -> list[dict[str, float]]:
        """Train to ``max_steps``; returns the logged losses of every step run in this call."""
        self.out.mkdir(parents=True, exist_ok=True)
        if resume:
            latest = self.latest_checkpoint()
            if latest is None:
                raise FacefixError(f"{self.out}: --resume given but no checkpoint found there")
            self.resume(latest)
        history = []
        batches = self._batches()
        log_path = self.out / "log.jsonl"
        with progress() as bar, log_path.open("a") as log:
            task = bar.add_task(f"training {self.recipe.name}", total=self.config.max_steps, completed=self.step,
                                status="")
            started = time.perf_counter()
            first = self.step
            while self.step < self.config.max_steps:
                logs = self._train_step(batches)
                self.step += 1
                history.append(logs)
                rate = (self.step - first) / (time.perf_counter() - started)
                if self.step % self.config.log_every == 0 or self.step == self.config.max_steps:
                    log.write(json.dumps({"step": self.step, **logs, "it_per_s": rate}) + "\n")
                    log.flush()
                bar.update(task, completed=self.step,
                           status=f"loss {logs.get('total', 0.0):.4f}, {rate:.2f} it/s")
                if self.step % self.config.checkpoint_every == 0 or self.step == self.config.max_steps:
                    self.save()
        return history
