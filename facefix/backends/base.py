"""The one interface every backend implements.

The pipeline, the CLI, the benchmark and the evaluator only ever talk to a :class:`Restorer` (or an
:class:`Inpainter`); none of them knows which backend it is.

Contract of :meth:`Restorer.restore`: a batch of aligned faces, ``float32`` RGB in ``[0, 1]``, shape
``(B, 3, face_size, face_size)``, on any device; returns the restored faces in the same layout, range
and device. Backends do their own normalisation (e.g. to ``[-1, 1]``), precision casts and clamping.

Backends never print: long work (sampling steps) is reported through :attr:`Restorer.on_step` /
:attr:`Inpainter.on_step`, which the command layer sets to draw a progress bar, and notes for the user go
to the ``facefix.backends`` logger, which the command line prints.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, cast

import torch
from torch import nn

from facefix.device import to_memory_format
from facefix.registry import Checkpoint


#: ``on_step(label, done, total)``: ``done`` of ``total`` steps of the work ``label`` are finished
#: (called with ``done = 0`` first and ``done = total`` last)
StepCallback = Callable[[str, int, int], None]


def counted_steps(on_step: StepCallback | None, label: str, total: int) -> Callable[[], None]:
    """A no-argument function to call after each of ``total`` steps, reporting them to ``on_step``
    (which hears ``done = 0`` now; nothing happens when it is None)."""
    if on_step is None:
        return lambda: None
    done = 0
    on_step(label, done, total)

    def step() -> None:
        nonlocal done
        done += 1
        on_step(label, done, total)

    return step


@dataclass(frozen=True)
class RestoreOptions:
    """Inference options a user can set; a backend uses those that apply to it.

    Attributes:
        fidelity: trade-off between fidelity to the input (1) and realism (0), for backends that have one.
        seed: seed for stochastic backends and random noise; ``None`` means non-repeatable.
        random_noise: draw fresh StyleGAN noise instead of the stored buffers.
        steps: number of sampling steps for diffusion backends (``None``: the backend's default).
        variant: a backend-specific model variant (e.g. InterLCM ``3step``/``1step``).
    """

    fidelity: float | None = None
    seed: int | None = None
    random_noise: bool = False
    steps: int | None = None
    variant: str | None = None


class BackendModel(ABC):
    """What restorers and inpainters share: options, progress reporting, a tiny build and a weights file."""

    name: ClassVar[str]
    #: options of :class:`RestoreOptions` this backend honours (the CLI warns about the others)
    supported_options: ClassVar[frozenset[str]] = frozenset()
    #: the smallest architecture of the backend, for :meth:`from_config` (smoke runs, the contract tests)
    tiny_config: ClassVar[Mapping | None] = None
    #: fp16 / bf16 keep the outputs within ``--precision auto``'s quality gate of fp32 (1.5 grey levels mean,
    #: 12 at the 99.9th percentile; tests/test_precision_quality.py holds every backend that claims it)
    fp16_safe: ClassVar[bool] = False
    bf16_safe: ClassVar[bool] = False
    #: config for :meth:`from_config` of a small network of this architecture, timed by ``--precision auto``'s
    #: CPU probe (fp32 against bf16); ``None``: no probe, fp32 on the CPU
    precision_probe_config: ClassVar[Mapping | None] = None
    face_size: int
    device: torch.device
    #: progress of long work inside ``restore`` / ``inpaint`` (set by the caller; None: nobody listens)
    on_step: StepCallback | None = None

    @classmethod
    def from_config(cls, config: Mapping | None = None, *, device: torch.device | str = "cpu",
                    dtype: torch.dtype = torch.float32, options: RestoreOptions | None = None) -> BackendModel:
        """The architecture of ``config`` (default: the default checkpoint's) with random weights.

        Used by ``facefix bench`` and the contract tests, which must run without downloads.
        """
        raise NotImplementedError(f"backend {cls.name!r} cannot be built from a config alone")

    def weights_file(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """``(state_dict, safetensors metadata)``: a file that ``load`` reads back as this model. By default
        the state dict of ``self.network``, whose architecture the loader infers from the shapes."""
        network = getattr(self, "network", None)
        if not isinstance(network, nn.Module):
            raise NotImplementedError(f"backend {self.name!r} does not say how its weights are written")
        return {key: value.detach().cpu() for key, value in network.state_dict().items()}, {}


class Restorer(BackendModel):
    """A face restoration model ready for inference.

    Subclasses set :attr:`name` and :attr:`default_checkpoint` and implement
    :meth:`from_state_dict` and :meth:`restore`. Backends whose weights are several files (InterLCM)
    override :meth:`load` instead.
    """

    #: run the network channels-last on the CPU (set where ``benchmarks/memory_format.py`` measured a gain)
    channels_last_on_cpu: ClassVar[bool] = False
    memory_format: torch.memory_format = torch.contiguous_format

    def __init__(self, *, face_size: int, device: torch.device, dtype: torch.dtype,
                 options: RestoreOptions):
        self.face_size = face_size
        self.device = device
        self.dtype = dtype
        self.options = options

    @classmethod
    def memory_format_on(cls, device: torch.device) -> torch.memory_format:
        """The activation layout the network runs in on ``device``: channels-last on the CPU for backends
        measured faster so (oneDNN otherwise reorders NCHW around every convolution), else NCHW."""
        return torch.channels_last if cls.channels_last_on_cpu and device.type == "cpu" else torch.contiguous_format

    def _place(self, network: nn.Module) -> nn.Module:
        """``network`` on this restorer's device and dtype, in eval mode, with its convolution weights
        in :attr:`memory_format` (inputs go through :meth:`_network_input` to match)."""
        self.memory_format = self.memory_format_on(self.device)
        return to_memory_format(network.to(device=self.device, dtype=self.dtype), self.memory_format).eval()

    def _network_input(self, faces: torch.Tensor) -> torch.Tensor:
        return faces.to(self.device, self.dtype).contiguous(memory_format=self.memory_format)

    @classmethod
    def load(cls, weights: str | Path | None = None, *, device: torch.device | str = "cpu",
             dtype: torch.dtype = torch.float32, options: RestoreOptions | None = None) -> Restorer:
        """Build the backend from a registry id, a local file, or (``None``) its default checkpoint."""
        from facefix import hub

        checkpoint, path = hub.resolve_weights(weights, group=cls.name)
        state_dict = hub.load_state_dict(path, wrapper=checkpoint.wrapper if checkpoint else None)
        return cls.from_state_dict(
            state_dict,
            config=dict(checkpoint.config) if checkpoint else None,
            device=torch.device(device),
            dtype=dtype,
            options=options or RestoreOptions(),
        )

    @classmethod
    @abstractmethod
    def from_state_dict(cls, state_dict: Mapping[str, torch.Tensor], *, config: Mapping | None,
                        device: torch.device, dtype: torch.dtype, options: RestoreOptions) -> Restorer:
        """Infer the architecture from the tensors (``config`` is a hint from the registry), load
        strictly, and return a ready model."""

    @classmethod
    def from_exported(cls, weights: Mapping[str, torch.Tensor], *, device: torch.device) -> Restorer:
        """The restorer of a training run's exported weights, as validation scores them (fp32, seed 0)."""
        return cls.from_state_dict(weights, config=None, device=device, dtype=torch.float32,
                                   options=RestoreOptions(seed=0))

    @abstractmethod
    def restore(self, faces: torch.Tensor) -> torch.Tensor:
        """Restore a batch of aligned faces (see the module docstring for the contract)."""


class NetworkRestorer(Restorer):
    """A restorer around one network, read from one state dict whose shapes give its architecture.

    Subclasses set :attr:`load_network` and :attr:`build_network` and implement :meth:`restore` on
    :attr:`network`, whose ``config.face_size`` is the face size.
    """

    #: state dict -> the network (architecture inferred from the tensor shapes, loaded strictly)
    load_network: ClassVar[Callable[[Mapping[str, torch.Tensor]], nn.Module]]
    #: config (None: the default checkpoint's architecture) -> the network with random weights
    build_network: ClassVar[Callable[[Mapping | None], nn.Module]]

    def __init__(self, network: nn.Module, *, device: torch.device, dtype: torch.dtype, options: RestoreOptions):
        face_size = int(cast(Any, network).config.face_size)  # every such network's config names its face size
        super().__init__(face_size=face_size, device=device, dtype=dtype, options=options)
        self.network = self._place(network)

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, torch.Tensor], *, config: Mapping | None,
                        device: torch.device, dtype: torch.dtype, options: RestoreOptions) -> NetworkRestorer:
        return cls(cls.load_network(state_dict), device=device, dtype=dtype, options=options)

    @classmethod
    def from_config(cls, config: Mapping | None = None, *, device: torch.device | str = "cpu",
                    dtype: torch.dtype = torch.float32, options: RestoreOptions | None = None) -> NetworkRestorer:
        return cls(cls.build_network(config), device=torch.device(device), dtype=dtype,
                   options=options or RestoreOptions())


class Inpainter(BackendModel):
    """A model that fills masked regions of aligned faces.

    :meth:`inpaint` takes ``faces`` as in :meth:`Restorer.restore` and ``masks`` of shape
    ``(B, 1, H, W)`` with 1 where pixels must be filled and 0 where they are known. The result equals
    the input exactly where the mask is 0.
    """

    @classmethod
    @abstractmethod
    def load(cls, weights: str | Path | None = None, *, device: torch.device | str = "cpu",
             dtype: torch.dtype = torch.float32, options: RestoreOptions | None = None) -> Inpainter:
        ...

    @abstractmethod
    def inpaint(self, faces: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        ...


def checkpoint_config(checkpoint: Checkpoint | None) -> dict:
    return dict(checkpoint.config) if checkpoint else {}
