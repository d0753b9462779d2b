"""The network: a 1-D squeeze-and-excite ResNet-18 with an age/sex branch, and its inputs.

``SEResNet(SEResNetConfig())`` maps a batch of 12-lead windows ``(B, 12, L)`` in mV at
``signal.TARGET_FS`` (257 Hz) and the demographics vector ``(B, 5)``
(``signal.encode_demographics``) to 24 logits, one per scored SNOMED CT class of 2020. With the
default settings it is the seed's network, 8,837,060 parameters. ``network_for(config)``
builds the network a ``config.Config`` describes: C logits for its class set (26 for
2021) and, for a model of reduced lead sets, side features ``(B, 17)``: the five
demographic values, then the 12-value lead-presence vector (``leads.presence``; absent
leads are zero in the windows).

- Zhao Z, Fang H, Relton SD, et al. "Adaptive lead weighted ResNet trained with
  different duration signals for classifying 12-lead ECGs". Computing in Cardiology
  2020, paper 112 (the challenge entry: architecture, age/sex branch, windows).
- Zhao Z, Murphy D, Gifford H, et al. "Analysis of an adaptive lead weighted ResNet for
  multiclass classification of 12-lead ECGs". Physiological Measurement, 2022
  (arXiv:2112.01496; the journal analysis of the same network).
- He K, Zhang X, Ren S, Sun J. "Deep residual learning for image recognition". CVPR
  2016 (the basic block and the four-stage ResNet-18 layout, here in 1-D).
- Hu J, Shen L, Sun G. "Squeeze-and-excitation networks". CVPR 2018 (the channel gate).

The squeeze-excite gate of each block is the papers' "adaptive lead weighting": it
rescales the block's channels from their global average. Slot 1 of the demographics
vector, unused (always 0) in the seed, carries the missing-age flag here, so the
parameter count is unchanged. The settings live in ``config.SEResNetConfig`` (plain data, no torch)
so that tests can build a network with a few thousand parameters.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torch.utils.flop_counter import FlopCounterMode

from ecgnet.challenge.classes import NUM_CLASSES
from ecgnet.config import Config, SEResNetConfig
from ecgnet.leads import LEADS
from ecgnet.signal import DEMOGRAPHIC_FEATURES, WINDOW

LEADS_IN = len(LEADS)
DEMOGRAPHIC_EMBEDDING = 10


class SqueezeExcite(nn.Module):
    """Channel gate from the global average (Hu et al. 2018): C -> C/r -> C, no biases (as the seed)."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.gate = nn.Sequential(
            nn.Linear(channels, hidden, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, L) -> (B, C, L)``: each channel scaled by its gate in (0, 1)."""
        return x * self.gate(x.mean(dim=2)).unsqueeze(2)


class BasicBlock(nn.Module):
    """conv-BN-ReLU-dropout-conv-BN-SE plus shortcut, then ReLU (He et al. 2016, with the SE gate)."""

    def __init__(self, in_channels: int, channels: int, stride: int, network: SEResNetConfig):
        super().__init__()
        kernel, pad = network.kernel, network.kernel // 2
        self.body = nn.Sequential(
            nn.Conv1d(in_channels, channels, kernel, stride=stride, padding=pad, bias=False),
            nn.BatchNorm1d(channels),
            nn.ReLU(inplace=True),
            nn.Dropout(network.dropout),
            nn.Conv1d(channels, channels, kernel, stride=1, padding=pad, bias=False),
            nn.BatchNorm1d(channels),
            SqueezeExcite(channels, network.se_reduction),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(
                nn.Conv1d(in_channels, channels, 1, stride=stride, bias=False),
                nn.BatchNorm1d(channels),
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, L) -> (B, C, ceil(L / stride))``."""
        return self.relu(self.body(x) + self.shortcut(x))


def _blocks(network: SEResNetConfig) -> Iterator[BasicBlock]:
    """Every stage's blocks in order: stage s is ``width * 2**s`` wide, stride 2 on entry after the first."""
    in_channels = network.width
    for stage, count in enumerate(network.blocks):
        channels = network.width * 2**stage
        for block in range(count):
            yield BasicBlock(in_channels, channels, 2 if stage > 0 and block == 0 else 1, network)
            in_channels = channels


class SEResNet(nn.Module):
    """Stem, the stages of basic blocks, global average pool, then the pooled features with the age/sex embedding.

    ``num_classes`` logits; ``side_features`` inputs to the age/sex branch (5, or 17 with the lead-presence vector).
    """

    def __init__(self, network: SEResNetConfig | None = None, num_classes: int = NUM_CLASSES,
                 side_features: int = DEMOGRAPHIC_FEATURES):
        super().__init__()
        network = network or SEResNetConfig()
        self.network = network
        width = network.width
        self.stem = nn.Sequential(
            nn.Conv1d(LEADS_IN, width, network.stem_kernel, stride=2, padding=network.stem_kernel // 2, bias=False),
            nn.BatchNorm1d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool1d(3, stride=2, padding=1),
        )
        # One flat Sequential (not one per stage): the state-dict keys stay those of saved weights.
        self.stages = nn.Sequential(*_blocks(network))
        self.demographics = nn.Linear(side_features, DEMOGRAPHIC_EMBEDDING)
        features = width * 2 ** (len(network.blocks) - 1)
        self.head = nn.Linear(features + DEMOGRAPHIC_EMBEDDING, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv1d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, signal: torch.Tensor, demographics: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, C)`` from windows ``(B, 12, L)`` (any L >= 1) and side features ``(B, 5)`` (or ``(B, 17)``)."""
        features = self.stages(self.stem(signal)).mean(dim=2)
        return self.head(torch.cat([features, self.demographics(demographics)], dim=1))


def network_for(config: Config) -> SEResNet:
    """A fresh network for ``config``: ``config.network``'s layers, ``config.classes``' logits, the lead-presence
    input when ``config.lead_presence``."""
    side = DEMOGRAPHIC_FEATURES + (LEADS_IN if config.lead_presence else 0)
    return SEResNet(config.network, config.classes.num_classes, side)


def _folded_conv2d(conv: nn.Conv1d, norm: nn.BatchNorm1d) -> nn.Conv2d:
    """``conv`` then eval-mode ``norm`` as one channels-last 2-D convolution with a (1, k) kernel over ``(B, C, 1, L)``."""
    fused = fuse_conv_bn_eval(conv, norm)
    out = nn.Conv2d(fused.in_channels, fused.out_channels, (1, fused.kernel_size[0]), stride=(1, fused.stride[0]),
                    padding=(0, fused.padding[0]), device=fused.weight.device)
    with torch.no_grad():
        out.weight.copy_(fused.weight.unsqueeze(2))
        out.bias.copy_(fused.bias)
    return out.to(memory_format=torch.channels_last).requires_grad_(False)


class _InferenceBlock(nn.Module):
    """A ``BasicBlock`` in eval mode over ``(B, C, 1, L)``: batch norms folded, dropout gone, the SE gate copied."""

    def __init__(self, block: BasicBlock):
        super().__init__()
        conv1, norm1, _, _, conv2, norm2, squeeze = block.body
        self.conv1, self.conv2 = _folded_conv2d(conv1, norm1), _folded_conv2d(conv2, norm2)
        self.gate = copy.deepcopy(squeeze.gate)
        self.shortcut = _folded_conv2d(*block.shortcut) if isinstance(block.shortcut, nn.Sequential) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(torch.relu(self.conv1(x)))
        y = y * self.gate(y.mean(dim=(2, 3)))[:, :, None, None]
        return torch.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class InferenceSEResNet(nn.Module):
    """An inference-only form of a trained ``SEResNet``: the same logits ``(B, C)`` to float tolerance, faster on the CPU.

    Each convolution absorbs the batch norm after it (its running statistics: eval
    mode), and runs as a 2-D convolution with a (1, k) kernel on channels-last tensors
    ``(B, C, 1, L)``, which oneDNN runs faster than 1-D convolutions on contiguous
    tensors (``bench/bench_inference.py --variants`` measures it). Every weight is a copy:
    the form is ``model`` as it was when converted, and later changes to ``model`` (a
    ``load_state_dict``, more training) do not reach it.
    """

    def __init__(self, model: SEResNet):
        super().__init__()
        conv, norm, _, pool = model.stem
        self.stem = _folded_conv2d(conv, norm)
        self.pool = nn.MaxPool2d((1, pool.kernel_size), (1, pool.stride), (0, pool.padding))
        self.stages = nn.Sequential(*(_InferenceBlock(block) for block in model.stages))
        self.demographics, self.head = copy.deepcopy(model.demographics), copy.deepcopy(model.head)
        self.eval()

    def forward(self, signal: torch.Tensor, demographics: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, C)`` from windows ``(B, 12, L)`` and side features, as ``SEResNet.forward``."""
        x = signal.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        features = self.stages(self.pool(torch.relu(self.stem(x)))).mean(dim=(2, 3))
        return self.head(torch.cat([features, self.demographics(demographics)], dim=1))


def parameter_count(model: nn.Module) -> int:
    """Number of trainable and frozen parameters (8,837,060 for the default network)."""
    return sum(p.numel() for p in model.parameters())


def forward_flops(network: SEResNetConfig, length: int = WINDOW) -> int:
    """Floating-point operations (2 per multiply-add) of one forward pass on one ``(12, length)`` window.

    Counted by ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix
    products; batch norm, ReLU and pooling add well under 1%) on the meta device, so
    nothing is allocated or computed: 3,218,278,980 for the default network.
    """
    with torch.device("meta"):
        model = SEResNet(network).eval()
        signal, demographics = torch.zeros(1, LEADS_IN, length), torch.zeros(1, DEMOGRAPHIC_FEATURES)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(signal, demographics)
    return int(counter.get_total_flops())
