"""The Trainer: one loop for every recipe.

It owns the data order, the optimiser, mixed precision, gradient accumulation and clipping, the EMA of
the generator, checkpoints, validation and logs. A checkpoint stores the step, the epoch and the position
in it, and every process's random state, so ``resume`` continues exactly: the resumed run's losses equal
those of an uninterrupted run, step for step.

With several processes (:mod:`facefix.train.distributed`) each step takes ``batch_size`` faces per
process: process ``r`` gets the ``r``-th slice of every global batch of the epoch's seeded order, so the
data seen does not depend on timing, and resuming with the same number of processes is exact.
"""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from facefix import hub
from facefix.errors import FacefixError
from facefix.train import distributed
from facefix.train.data import DegradedFaces, batch_loader, list_faces
from facefix.train.distributed import DistributedContext
from facefix.train.recipe import TrainRecipe
from facefix.train.run_log import RunLog
from facefix.train.validation import Validator

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _random_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_random_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def newest_checkpoint(out: Path) -> Path | None:
    """The newest complete checkpoint folder of the run in ``out`` (complete: :meth:`Trainer.save` wrote
    its ``state.pt``, which comes last)."""
    done = sorted(p for p in (out / "checkpoints").glob("step_*") if (p / "state.pt").exists())
    return done[-1] if done else None


class Trainer:
    """Runs ``recipe`` on ``dataset`` until ``config.max_steps``, writing into ``config.out``."""

    def __init__(self, recipe: TrainRecipe, dataset: DegradedFaces, *,
                 context: DistributedContext | None = None):
        context = context or DistributedContext()
        self.recipe, self.dataset, self.config, self.context = recipe, dataset, recipe.config, context
        self.out = Path(self.config.out)
        distributed.broadcast_module(recipe.generator, context)
        distributed.broadcast_module(recipe.discriminator, context)
        self.optimizer = torch.optim.Adam(recipe.param_groups(), lr=self.config.lr, betas=self.config.betas)
        self.g_params = [p for group in self.optimizer.param_groups for p in group["params"]]
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
        self.validator = None
        if self.config.val_data and context.is_main:
            self.validator = Validator(recipe, list_faces(self.config.val_data), lpips=self.config.pretrained_losses)
        # Each process draws its own noise, masks and time steps, repeatably.
        torch.manual_seed(int(np.random.SeedSequence([self.config.seed, context.rank]).generate_state(1)[0]))

    # -- data ---------------------------------------------------------------------------------------
    def _epoch_order(self, epoch: int) -> list[int]:
        return np.random.default_rng([self.config.seed, epoch]).permutation(len(self.dataset)).tolist()

    def _usable(self, count: int) -> int:
        """How many faces of an epoch make whole global batches (the remainder waits for the next epoch)."""
        per_step = self.config.batch_size * self.context.world_size
        usable = count - count % per_step
        if usable:
            return usable
        if not self.context.active:
            return count  # a set smaller than one batch: one short batch per epoch
        raise FacefixError(f"{self.config.data}: {count} images are fewer than one step needs "
                           f"({self.config.batch_size} per process x {self.context.world_size} processes)")

    def _batches(self):
        """This process's batches, in a seeded order per epoch, starting at the saved position."""
        size = self.config.batch_size
        while True:
            self.dataset.epoch = self.epoch
            order = self._epoch_order(self.epoch)
            usable = self._usable(len(order))
            per_step = min(size * self.context.world_size, usable)
            mine = distributed.shard(order, start=self.position, stop=usable, batch_size=min(size, usable),
                                     context=self.context)
            loader = batch_loader(self.dataset, mine, batch_size=size, workers=self.config.workers,
                                  pin_memory=self.recipe.device.type == "cuda",
                                  seed=(self.config.seed, self.epoch, self.context.rank))
            for batch in loader:
                self.position += per_step
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
            distributed.average_gradients(parameters, self.context)
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
        logs = accumulate(self.recipe.generator_loss, self.g_params, self.optimizer, self.scaler)
        self._update_ema()
        if self.d_optimizer is not None and self.recipe.discriminators_train(self.step):
            for parameter in self.d_params:
                parameter.requires_grad_(True)
            logs.update(accumulate(self.recipe.discriminator_loss, self.d_params, self.d_optimizer, self.d_scaler))
        return distributed.average_logs(logs, self.context, self.recipe.device)

    def _set_learning_rates(self) -> None:
        c = self.config
        if c.lr_schedule == "constant":
            return
        if c.lr_schedule == "cosine":
            factor = 0.5 * (1 + math.cos(math.pi * min(self.step / max(c.max_steps, 1), 1.0)))
        elif c.lr_schedule == "piecewise":
            factor = c.lr_factor ** sum(self.step >= milestone for milestone in c.lr_milestones)
        else:
            raise FacefixError(f"lr_schedule {c.lr_schedule!r}: expected constant, cosine or piecewise")
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
        """Write a checkpoint (rank 0; every process must call this, to hand over its random state)."""
        folder = self.checkpoint_dir(self.step)
        random_states = distributed.gather(_random_state(self.recipe.device), self.context)
        if self.context.is_main:
            folder.mkdir(parents=True, exist_ok=True)
            metadata = {"config": json.dumps(self.config.to_dict()), "method": self.recipe.name,
                        "step": str(self.step)}
            hub.save_state_dict(self.recipe.generator.state_dict(), folder / "generator.safetensors", metadata)
            hub.save_state_dict(self.ema.state_dict(), folder / "ema.safetensors", metadata)
            state = {"step": self.step, "epoch": self.epoch, "position": self.position,
                     "optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
                     "random_states": random_states, "world_size": self.context.world_size}
            if self.d_optimizer is not None:
                hub.save_state_dict(self.recipe.discriminator.state_dict(), folder / "discriminator.safetensors",
                                    metadata)
                state.update(d_optimizer=self.d_optimizer.state_dict(), d_scaler=self.d_scaler.state_dict())
            # state.pt last, and by rename: a checkpoint with a state.pt is complete
            partial = folder / "state.pt.partial"
            torch.save(state, partial)
            partial.replace(folder / "state.pt")
            (self.out / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2))
        distributed.barrier(self.context)
        return folder

    def latest_checkpoint(self) -> Path | None:
        return newest_checkpoint(self.out)

    def resume(self, folder: Path) -> str:
        """Load the checkpoint in ``folder``; returns a note for the log."""
        self.recipe.generator.load_state_dict(hub.load_state_dict(folder / "generator.safetensors"))
        self.ema.load_state_dict(hub.load_state_dict(folder / "ema.safetensors"))
        try:
            state = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same one-line message
            raise FacefixError(f"{folder / 'state.pt'}: cannot read this checkpoint state ({exc})") from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        if self.d_optimizer is not None:
            self.recipe.discriminator.load_state_dict(hub.load_state_dict(folder / "discriminator.safetensors"))
            self.d_optimizer.load_state_dict(state["d_optimizer"])
            self.d_scaler.load_state_dict(state["d_scaler"])
        self.step, self.epoch, self.position = state["step"], state["epoch"], state["position"]
        note = f"resumed from {folder} (step {self.step})"
        if state.get("world_size", 1) == self.context.world_size:
            _set_random_state(state["random_states"][self.context.rank], self.recipe.device)
        else:
            # The data continues where it stopped; the random draws of the recipe cannot be matched.
            torch.manual_seed(int(np.random.SeedSequence([self.config.seed, self.context.rank,
                                                          self.step]).generate_state(1)[0]))
            note += (f"; saved by {state.get('world_size', 1)} process(es), resumed by {self.context.world_size}: "
                     "same data order, fresh random state")
        return note

    # -- the loop -------------------------------------------------------------------------------------
    def validate(self) -> None:
        if self.validator is not None:
            result = self.validator.run(self.ema)
            self.log.validation(self.step, result.metrics, result.grid, result.note)

    def _due(self, every: int) -> bool:
        return self.step == self.config.max_steps or (every > 0 and self.step % every == 0)

    def train(self, *, resume: bool = False) -> list[dict[str, float]]:
        """Train to ``max_steps``; returns the logged losses of every step run in this call."""
        if self.context.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        distributed.barrier(self.context)
        note = ""
        if resume:
            latest = self.latest_checkpoint()
            if latest is None:
                raise FacefixError(f"{self.out}: --resume given but no checkpoint found there")
            note = self.resume(latest)
        history = []
        deadline = time.monotonic() + 60 * self.config.max_minutes if self.config.max_minutes > 0 else None
        batches = self._batches()
        self.log = RunLog(self.out, description=f"training {self.recipe.name}", total=self.config.max_steps,
                          completed=self.step, enabled=self.context.is_main, tensorboard=self.config.tensorboard)
        with self.log:
            if note:
                self.log.note(note)
            while self.step < self.config.max_steps:
                logs = self._train_step(batches)
                self.step += 1
                history.append(logs)
                self.log.step(self.step, logs, lr=self.optimizer.param_groups[0]["lr"],
                              logged=self._due(self.config.log_every))
                out_of_time = deadline is not None and distributed.any_process(
                    time.monotonic() > deadline, self.context, self.recipe.device)
                if self._due(self.config.val_every) or out_of_time:
                    self.validate()
                if self._due(self.config.checkpoint_every) or out_of_time:
                    self.save()
                if out_of_time:
                    self.log.note(f"stopped at step {self.step}: max_minutes = {self.config.max_minutes:g} reached")
                    break
        return history
