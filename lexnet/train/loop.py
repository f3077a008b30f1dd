"""The training loop: the recipe's schedule, step by step, with a resumable state after every step.

Each step seeds its own shuffling from the run's seed and its index, and the state written after it holds the
model and every optimizer's moments, so a run resumed after a kill ends with the same weights, bit for bit on
CPU, as one that was never interrupted.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, Sampler

from lexnet.checkpoint import (
    METADATA_FILE,
    Checkpoint,
    PrototypeSource,
    check_replaceable,
    load_checkpoint,
    save_checkpoint,
)
from lexnet.data.format import FlowDataset
from lexnet.errors import CheckpointError
from lexnet.evaluate import predict, summarize
from lexnet.models import PrototypeClassifier, PrototypeOutput, create_model, is_prototype_model
from lexnet.spec import ModelConfig, Scaling
from lexnet.train.config import Step, TrainConfig, plan_schedule
from lexnet.train.distributed import DistributedContext, process_group
from lexnet.train.losses import prototype_loss
from lexnet.train.push import push_prototypes
from lexnet.train.state import STATE_FILE, TrainingState, load_state, save_state

__all__ = ["TrainOptions", "train"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class TrainOptions:
    """How a run executes (as opposed to what it computes, which is the ``TrainConfig``).

    Attributes:
        device: "cpu", "cuda" or "cuda:N"; nothing assumes CUDA.
        resume: continue from the training state in the output directory.
        progress: show a progress bar per epoch.
        workers: data-loading worker processes (0: load in the training process).
        data_source: the data's source description, stored in the checkpoint so later steps can reload it.
        distributed: this process's place among torchrun's processes.
        stop_after: stop once this many steps are done, leaving the state for a resume (tests use it as a
            stand-in for a kill).
    """

    device: str = "cpu"
    resume: bool = False
    progress: bool = True
    workers: int = 0
    data_source: dict[str, Any] = field(default_factory=dict)
    distributed: DistributedContext = field(default_factory=DistributedContext)
    stop_after: int | None = None


class _Flows(torch.utils.data.Dataset):
    """Tensors sharing their first axis (flows, or cached similarities, and labels), fetched a batch at a time."""

    def __init__(self, *tensors: torch.Tensor) -> None:
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        index = torch.as_tensor(indices)
        return tuple(t[index] for t in self.tensors)


def _batch(batch: Any) -> Any:
    """collate_fn: ``_Flows.__getitems__`` already returns stacked tensors."""
    return batch


@contextmanager
def _deterministic(device: torch.device) -> Iterator[None]:
    """Deterministic kernels for the run (CUDA only warns where none exists), restored afterwards."""
    previous, warn_only = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    torch.use_deterministic_algorithms(True, warn_only=device.type != "cpu")
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=warn_only)


class _Run:
    """One training run: the model, its optimizers, the data, and how to execute each kind of step."""

    def __init__(
        self, model_config: ModelConfig, config: TrainConfig, train_data: FlowDataset, options: TrainOptions
    ) -> None:
        self.config, self.options, self.context = config, options, options.distributed
        self.device = self.context.device(options.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.model = create_model(model_config).to(self.device)
        self.prototypes = is_prototype_model(self.model)
        self.schedule = plan_schedule(config, self.prototypes)
        self.scaling = Scaling.fit(train_data.x)
        self.raw = train_data.x
        self.inputs = torch.from_numpy(self.scaling.apply(train_data.x))
        self.labels = torch.from_numpy(np.asarray(train_data.y, dtype=np.int64))
        self.optimizers = self._optimizers()
        self.log: list[dict[str, Any]] = []
        self.sources: list[PrototypeSource] = []
        self._head_cache: tuple[torch.Tensor, torch.Tensor] | None = None

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        config, model = self.config, self.model
        if not self.prototypes:
            return {
                "plain": torch.optim.Adam(
                    model.parameters(), lr=config.plain_lr, weight_decay=config.plain_weight_decay
                )
            }
        model = self._prototype_model()
        add_on = list(model.add_on.parameters())
        prototypes = [model.prototype_layer.prototypes]

        def groups(*entries: tuple[Sequence[torch.Tensor], float, float]) -> list[dict[str, Any]]:
            # base_lr travels with the optimizer's state, so the step decay is recomputed from it on resume.
            return [{"params": p, "lr": lr, "base_lr": lr, "weight_decay": wd} for p, lr, wd in entries if p]

        decay = config.features_weight_decay
        return {
            "warmup": torch.optim.Adam(groups((add_on, config.addon_lr, decay), (prototypes, config.warmup_lr, 0.0))),
            "joint": torch.optim.Adam(
                groups(
                    (list(model.backbone.parameters()), config.features_lr, decay),
                    (add_on, config.addon_lr, decay),
                    (prototypes, config.prototypes_lr, 0.0),
                )
            ),
            "last_layer": torch.optim.Adam(groups(([model.last_layer.weight], config.last_layer_lr, 0.0))),
        }

    def _set_stage(self, step: Step) -> torch.optim.Optimizer:
        """Switch gradients and modes on for what ``step`` trains; returns its optimizer."""
        model = self.model
        model.train()
        if step.stage == "plain":
            model.requires_grad_(True)
            return self.optimizers["plain"]
        model = self._prototype_model()
        model.requires_grad_(False)
        if step.stage == "warmup":
            model.add_on.requires_grad_(True)
            model.prototype_layer.requires_grad_(True)
        elif step.stage == "joint":
            model.backbone.requires_grad_(True)
            model.add_on.requires_grad_(True)
            model.prototype_layer.requires_grad_(True)
        else:
            # The backbone's BatchNorm statistics stay as they were at the projection, so the final
            # prototypes remain exact feature vectors of their source flows (ProtoPNet let them drift).
            model.last_layer.requires_grad_(True)
            model.backbone.eval()
            model.add_on.eval()
        optimizer = self.optimizers[step.stage]
        factor = self.config.lr_gamma ** (step.joint_epoch // self.config.lr_step_epochs)
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * (factor if step.stage == "joint" else 1.0)
        return optimizer

    def _sampler(self, step: Step, dataset: _Flows) -> Sampler[int]:
        if self.context.enabled:
            sampler: DistributedSampler[int] = DistributedSampler(
                dataset, self.context.world_size, self.context.rank, seed=self.config.seed
            )
            sampler.set_epoch(step.index)
            return sampler
        generator = torch.Generator().manual_seed(self.config.seed * 1_000_003 + step.index)
        return RandomSampler(dataset, generator=generator)

    def _wrap(self, module: nn.Module) -> nn.Module:
        """``module`` itself, or wrapped in DistributedDataParallel under torchrun.

        Wrapped anew for every pass: DDP fixes at construction which parameters expect gradients, and each stage
        trains different ones.
        """
        if not self.context.enabled:
            return module
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=device_ids)

    def _head_inputs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Similarities and smallest distances of every training flow, computed once per projection.

        In the last-layer stage the backbone and the prototypes are frozen (BatchNorm in eval mode too), so these
        are constants: training the last layer on them gives the gradients of a full forward pass at a fraction
        of its cost.
        """
        if self._head_cache is None:
            similarities, distances = [], []
            self.model.eval()
            with torch.no_grad():
                for start in range(0, len(self.labels), self.config.batch_size):
                    output = self.model(self.inputs[start : start + self.config.batch_size].to(self.device))
                    similarities.append(output.similarities.cpu())
                    distances.append(output.min_distances.cpu())
            self._head_cache = (torch.cat(similarities), torch.cat(distances))
        return self._head_cache

    def _forward(self, step: Step, network: nn.Module, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """(loss, logits, labels) of one batch."""
        batch = tuple(t.to(self.device) for t in batch)
        if step.stage == "plain":
            inputs, labels = batch
            logits = network(inputs)
            return F.cross_entropy(logits, labels), logits, labels
        if step.stage == "last_layer":
            similarities, distances, labels = batch
            no_positions = torch.zeros(0, dtype=torch.long, device=self.device)
            output = PrototypeOutput(network(similarities), similarities, no_positions, distances)
        else:
            inputs, labels = batch
            output = network(inputs)
        model = self._prototype_model()
        parts = prototype_loss(
            output,
            labels,
            model.prototype_class,
            model.prototype_layer.prototypes,
            model.last_layer.weight,
            self.config,
        )
        return parts.total, output.logits, labels

    def train_pass(self, step: Step) -> dict[str, Any]:
        optimizer = self._set_stage(step)
        if step.stage == "last_layer":
            network = self._wrap(self._prototype_model().last_layer)
            dataset = _Flows(*self._head_inputs(), self.labels)
        else:
            network = self._wrap(self.model)
            dataset = _Flows(self.inputs, self.labels)
        loader = DataLoader(
            dataset,
            batch_size=self.config.batch_size,
            sampler=self._sampler(step, dataset),
            num_workers=self.options.workers,
            collate_fn=_batch,
        )
        totals = torch.zeros(3, dtype=torch.float64, device=self.device)  # loss sum, correct, flows
        description = f"{step.stage} {step.epoch + 1}/{self.config.epochs}"
        bar = _progress(loader, description, self.options.progress and self.context.is_main)
        for batch in bar:
            loss, logits, labels = self._forward(step, network, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                totals[0] += loss.detach().double() * len(labels)
                totals[1] += (logits.argmax(1) == labels).sum().double()
                totals[2] += len(labels)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{totals[0] / totals[2]:.4f}", acc=f"{totals[1] / totals[2]:.4f}", refresh=False)
        loss_sum, correct, flows = self.context.sum(totals).tolist()
        return {"loss": loss_sum / flows, "accuracy": correct / flows, "lr": optimizer.param_groups[0]["lr"]}

    def _prototype_model(self) -> PrototypeClassifier:
        if not isinstance(self.model, PrototypeClassifier):
            raise TypeError(f"{type(self.model).__name__} has no prototypes")
        return self.model

    def push(self) -> dict[str, Any]:
        model = self._prototype_model()
        self._head_cache = None
        if self.context.is_main:
            self.sources = push_prototypes(model, self.inputs, self.labels, self.raw, self.config.batch_size)
        self.context.broadcast(model.prototype_layer.prototypes.data)
        projected = sum(s.flow_index >= 0 for s in self.sources)
        return {"projected": projected} if self.context.is_main else {}

    def run_step(self, step: Step) -> dict[str, Any]:
        started = time.perf_counter()
        result = self.push() if step.stage == "push" else self.train_pass(step)
        entry = {
            "step": step.index,
            "stage": step.stage,
            "epoch": step.epoch,
            **result,
            "seconds": round(time.perf_counter() - started, 3),
        }
        self.log.append(entry)
        return entry


def _progress(loader: DataLoader, description: str, enabled: bool) -> Any:
    if not enabled:
        return loader
    from tqdm.auto import tqdm

    return tqdm(loader, desc=description, leave=False, unit="batch")


def _identity(
    arch: str, model_config: ModelConfig, config: TrainConfig, options: TrainOptions, train_data: FlowDataset
) -> dict[str, Any]:
    """What a resumed run must share with the run that wrote the state."""
    return {
        "arch": arch,
        "model": model_config.to_dict(),
        "recipe": config.to_dict(),
        "data": options.data_source,
        "train_flows": len(train_data),
    }


def _restore(run: _Run, state: TrainingState, identity: dict[str, Any], out: Path) -> tuple[int, float]:
    if state.info.get("identity") != identity:
        raise CheckpointError(
            f"{out / STATE_FILE} belongs to a different run (architecture, recipe, data or model differ);"
            " rerun without --resume into another directory"
        )
    run.model.load_state_dict(state.model)
    for name, optimizer in run.optimizers.items():
        optimizer.load_state_dict(state.optimizers[name])
    run.log = list(state.info["log"])
    run.sources = [PrototypeSource.from_dict(s) for s in state.info["sources"]]
    logger.info("resuming %s at step %d of %d", out, state.next_step, len(run.schedule))
    return state.next_step, float(state.info["seconds"])


def _save(run: _Run, next_step: int, identity: dict[str, Any], seconds: float, out: Path) -> None:
    info = {"identity": identity, "log": run.log, "sources": [s.to_dict() for s in run.sources], "seconds": seconds}
    optimizers = {name: optimizer.state_dict() for name, optimizer in run.optimizers.items()}
    save_state(TrainingState(next_step, run.model.state_dict(), optimizers, info), out)


def train(
    arch: str,
    train_data: FlowDataset,
    test_data: FlowDataset | None,
    out: str | os.PathLike[str],
    config: TrainConfig | None = None,
    options: TrainOptions | None = None,
    model_config: ModelConfig | None = None,
) -> Checkpoint | None:
    """Train ``arch`` on ``train_data`` and write a checkpoint to ``out``; evaluate on ``test_data`` if given.

    Returns the checkpoint (``None`` on ranks other than 0, and when ``options.stop_after`` stopped the run). With
    ``options.resume`` on a finished checkpoint, nothing is trained and that checkpoint is returned.

    Example:
        >>> ckpt = train("lexnet", splits["train"], splits["test"], "ckpt", RECIPES["short"])  # doctest: +SKIP
        >>> ckpt.metrics["test_accuracy"]  # doctest: +SKIP
    """
    config, options = config or TrainConfig(), options or TrainOptions()
    out = Path(out)
    check_replaceable(out)
    model_config = model_config or ModelConfig(arch=arch, num_classes=len(train_data.classes))
    if options.resume and load_state(out) is None and (out / METADATA_FILE).is_file():
        logger.info("%s is a finished checkpoint; nothing to resume", out)
        return load_checkpoint(out)
    if not options.resume and (out / STATE_FILE).is_file():
        raise CheckpointError(f"{out} holds an unfinished run; pass --resume to continue it or choose another --out")
    device = options.distributed.device(options.device)
    with process_group(options.distributed, device), _deterministic(device):
        return _train(arch, train_data, test_data, out, config, options, model_config)


def _train(
    arch: str,
    train_data: FlowDataset,
    test_data: FlowDataset | None,
    out: Path,
    config: TrainConfig,
    options: TrainOptions,
    model_config: ModelConfig,
) -> Checkpoint | None:
    run = _Run(model_config, config, train_data, options)
    identity = _identity(arch, model_config, config, options, train_data)
    first, seconds = 0, 0.0
    state = load_state(out, "cpu") if options.resume else None
    if state is not None:
        first, seconds = _restore(run, state, identity, out)
    elif options.resume:
        logger.warning("no training state in %s; starting from the beginning", out)
    for step in run.schedule[first:]:
        started = time.perf_counter()
        entry = run.run_step(step)
        seconds += time.perf_counter() - started
        if run.context.is_main:
            _log_step(entry, len(run.schedule), config.epochs)
            _save(run, step.index + 1, identity, seconds, out)
        if options.stop_after is not None and step.index + 1 >= options.stop_after:
            logger.info("stopping after step %d as asked; resume with --resume", step.index + 1)
            return None
    _check_in_sync(run)
    if not run.context.is_main:
        return None
    return _finish(run, arch, model_config, train_data, test_data, identity, seconds, out)


def _check_in_sync(run: _Run) -> None:
    """Every rank must end with rank 0's parameters; a difference means the processes trained different models.

    BatchNorm statistics are updated locally by each rank's last batches (DDP broadcasts rank 0's at the start
    of every forward pass only), so rank 0's are copied to every rank first.
    """
    if not run.context.enabled:
        return
    for buffer in run.model.buffers():
        run.context.broadcast(buffer.data)
    local = torch.cat([p.detach().double().flatten() for p in run.model.parameters()])
    reference = local.clone()
    run.context.broadcast(reference)
    differs = run.context.sum((local != reference).any().double().reshape(1)).item()
    if differs:
        raise RuntimeError(f"{int(differs)} training process(es) ended with weights different from rank 0's")


def _log_step(entry: dict[str, Any], steps: int, epochs: int) -> None:
    if entry["stage"] == "push":
        logger.info(
            "step %d/%d push after epoch %d: %s prototypes projected (%.1f s)",
            entry["step"] + 1,
            steps,
            entry["epoch"] + 1,
            entry.get("projected", "?"),
            entry["seconds"],
        )
        return
    logger.info(
        "step %d/%d %s epoch %d/%d: loss %.4f accuracy %.4f lr %.3g (%.1f s)",
        entry["step"] + 1,
        steps,
        entry["stage"],
        entry["epoch"] + 1,
        epochs,
        entry["loss"],
        entry["accuracy"],
        entry["lr"],
        entry["seconds"],
    )


def _finish(
    run: _Run,
    arch: str,
    model_config: ModelConfig,
    train_data: FlowDataset,
    test_data: FlowDataset | None,
    identity: dict[str, Any],
    seconds: float,
    out: Path,
) -> Checkpoint:
    metrics: dict[str, Any] = {}
    if run.log and "accuracy" in run.log[-1]:
        metrics["train_accuracy_last_pass"] = run.log[-1]["accuracy"]
    if test_data is not None and len(test_data):
        inputs = torch.from_numpy(run.scaling.apply(test_data.x))
        report = summarize(test_data.y, predict(run.model, inputs, run.config.batch_size), test_data.class_names)
        metrics.update(test_accuracy=report.accuracy, test_flows=report.flows)
        logger.info("%s: test accuracy %.4f on %d flows", arch, report.accuracy, report.flows)
    training = {
        "recipe": run.config.to_dict(),
        "seed": run.config.seed,
        "data": identity["data"],
        "train_flows": len(train_data),
        "device": str(run.device),
        "world_size": run.context.world_size,
        "torch": torch.__version__,
        "wall_seconds": round(seconds, 1),
        "log": run.log,
    }
    checkpoint = Checkpoint(
        config=model_config,
        classes=list(train_data.classes),
        scaling=run.scaling,
        state_dict={k: v.detach().cpu() for k, v in run.model.state_dict().items()},
        prototype_sources=run.sources,
        training=training,
        metrics=metrics,
    )
    save_checkpoint(checkpoint, out)
    return checkpoint
