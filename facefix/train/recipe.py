"""What a backend gives the :class:`~facefix.train.loop.Trainer`.

A recipe owns the networks and the losses of one method; the Trainer owns everything else (data,
optimisers, mixed precision, EMA, checkpoints, logging). Keeping the two apart means the loop is
written once and each paper's recipe reads like the paper.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from facefix.quality.degradation import DegradationConfig
from facefix.train.config import TrainConfig


class TrainRecipe(ABC):
    """One method's training: networks, parameter groups, losses, and the exported inference weights.

    Batches are dicts with ``"lq"`` and ``"gt"``: float RGB in [0, 1], (B, 3, size, size).

    Methods with discriminators also implement the three ``discriminator*`` members; the Trainer then
    alternates a generator step (discriminators frozen) and a discriminator step on the same batches.
    """

    name: ClassVar[str]
    config_class: ClassVar[type[TrainConfig]]
    degradation: ClassVar[DegradationConfig | None]
    #: the backend's Restorer class (anything with ``from_exported(weights, device=)``), None if it only inpaints
    restorer_class: ClassVar[Any] = None

    def __init_subclass__(cls, *, name: str | None = None, config_class: type[TrainConfig] | None = None,
                          degradation: DegradationConfig | None = None, restorer_class: Any = None,
                          **kwargs: Any) -> None:
        """``class FusionRecipe(TrainRecipe, name="fusion", config_class=..., degradation=..., restorer_class=...)``."""
        super().__init_subclass__(**kwargs)
        if name is not None:
            cls.name, cls.config_class, cls.degradation = name, config_class or TrainConfig, degradation
            cls.restorer_class = restorer_class

    def __init__(self, config: TrainConfig, device: torch.device):
        self.config = config
        self.device = device

    @property
    @abstractmethod
    def generator(self) -> nn.Module:
        """The network that is trained, averaged (EMA) and exported."""

    @abstractmethod
    def param_groups(self) -> list[dict]:
        """Optimiser parameter groups of the generator, each with its ``lr``."""

    @abstractmethod
    def generator_loss(self, batch: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """The total generator loss and its named parts (for logs)."""

    # -- adversarial training (optional) -------------------------------------------------------------
    @property
    def discriminator(self) -> nn.Module | None:
        """All discriminators of the method in one module (checkpointed with the generator), or None."""
        return None

    def discriminator_param_groups(self) -> list[dict]:
        """Optimiser parameter groups of the discriminators; frozen parameters are left out."""
        return []

    def discriminator_loss(self, batch: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """The discriminators' loss on ``batch``; :meth:`generator_loss` has put its (detached) output
        into ``batch["output"]``."""
        raise NotImplementedError

    def discriminators_train(self, step: int) -> bool:
        """Whether the discriminators take a step at ``step`` (recipes that start the GAN late say no)."""
        return True

    def export(self, generator: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """Inference weights and safetensors metadata for ``facefix restore --weights``."""
        return generator.state_dict(), {"facefix_method": self.name}

    def validation_restorer(self, generator: nn.Module) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """How validation restores faces with ``generator`` (the EMA copy): a function from ``lq`` batches
        to restored ones, both RGB in [0, 1] on :attr:`device`; None skips validation.

        By default it is the method's inference backend (:attr:`restorer_class`) built from the exported
        weights, so validation scores what ``facefix restore --weights`` would give; methods with no
        restoring backend (inpainting) get None. A recipe whose backend cannot be built from its exported
        weights alone overrides this.
        """
        if self.restorer_class is None:
            return None
        weights, _ = self.export(generator)
        return self.restorer_class.from_exported(weights, device=self.device).restore
