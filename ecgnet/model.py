"""The seed's network: a 1-D squeeze-and-excite ResNet-18 with an age/sex branch.

``SEResNet(config)`` maps a batch of 12-lead windows ``(B, 12, L)`` at 257 Hz and the
demographics vector ``(B, 5)`` (``records.demographics``) to 24 logits. With the
default configuration it is exactly the seed's network (METHOD.md): 8,837,060
parameters. Slot 1 of the demographics vector, unused (always 0) in the seed, carries
the missing-age flag here, so the parameter count is unchanged.

The squeeze-excite gate of each block is the "adaptive lead weighting": it rescales
the block's channels from their global average. Width, depth and kernel sizes come
from the configuration so tests can use a model with a few thousand parameters.
"""
from __future__ import annotations

import torch
from torch import nn

from .classes import NUM_CLASSES
from .config import Config

DEMOGRAPHIC_FEATURES = 5  # records.demographics: age/100, age missing, female, male, sex known
DEMOGRAPHIC_EMBEDDING = 10


class SqueezeExcite(nn.Module):
    """Channel gate from the global average: C -> C/r -> C, no biases (as the seed)."""

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
        return x * self.gate(x.mean(dim=2)).unsqueeze(2)


class BasicBlock(nn.Module):
    """conv-BN-ReLU-dropout-conv-BN-SE plus shortcut, then ReLU."""

    def __init__(self, in_channels: int, channels: int, stride: int, kernel: int, dropout: float, reduction: int):
        super().__init__()
        pad = kernel // 2
        self.body = nn.Sequential(
            nn.Conv1d(in_channels, channels, kernel, stride=stride, padding=pad, bias=False),
            nn.BatchNorm1d(channels),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Conv1d(channels, channels, kernel, stride=1, padding=pad, bias=False),
            nn.BatchNorm1d(channels),
            SqueezeExcite(channels, reduction),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(
                nn.Conv1d(in_channels, channels, 1, stride=stride, bias=False),
                nn.BatchNorm1d(channels),
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class SEResNet(nn.Module):
    """Stem, four stages of basic blocks (widths w, 2w, 4w, 8w), pooled features + age/sex."""

    def __init__(self, config: Config):
        super().__init__()
        width = config.width
        self.stem = nn.Sequential(
            nn.Conv1d(12, width, config.stem_kernel, stride=2, padding=config.stem_kernel // 2, bias=False),
            nn.BatchNorm1d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool1d(3, stride=2, padding=1),
        )
        stages = []
        in_channels = width
        for stage, count in enumerate(config.blocks):
            channels = width * 2**stage
            for block in range(count):
                stride = 2 if stage > 0 and block == 0 else 1
                stages.append(BasicBlock(in_channels, channels, stride, config.kernel, config.dropout, config.se_reduction))
                in_channels = channels
        self.stages = nn.Sequential(*stages)
        self.demographics = nn.Linear(DEMOGRAPHIC_FEATURES, DEMOGRAPHIC_EMBEDDING)
        self.head = nn.Linear(in_channels + DEMOGRAPHIC_EMBEDDING, NUM_CLASSES)
        for module in self.modules():
            if isinstance(module, nn.Conv1d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, signal: torch.Tensor, demographics: torch.Tensor) -> torch.Tensor:
        features = self.stages(self.stem(signal)).mean(dim=2)
        return self.head(torch.cat([features, self.demographics(demographics)], dim=1))


def build_model(config: Config) -> SEResNet:
    return SEResNet(config)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def forward_flops(config: Config, length: int | None = None) -> int:
    """Floating-point operations (2 per multiply-add) of one forward pass on one window.

    Counted analytically from the layers that matter (convolutions and linear layers);
    batch norm, ReLU and pooling add well under 1%.
    """
    length = length or config.window
    macs = 0

    def conv(c_in: int, c_out: int, kernel: int, stride: int, n: int) -> int:
        nonlocal macs
        pad = kernel // 2
        out = (n + 2 * pad - kernel) // stride + 1
        macs += c_in * c_out * kernel * out
        return out

    width = config.width
    n = conv(12, width, config.stem_kernel, 2, length)
    n = (n + 2 - 3) // 2 + 1  # max pool
    in_channels = width
    for stage, count in enumerate(config.blocks):
        channels = width * 2**stage
        for block in range(count):
            stride = 2 if stage > 0 and block == 0 else 1
            out = conv(in_channels, channels, config.kernel, stride, n)
            conv(channels, channels, config.kernel, 1, out)
            if stride != 1 or in_channels != channels:
                conv(in_channels, channels, 1, stride, n)
            hidden = max(1, channels // config.se_reduction)
            macs += 2 * channels * hidden
            n, in_channels = out, channels
    macs += DEMOGRAPHIC_FEATURES * DEMOGRAPHIC_EMBEDDING + (in_channels + DEMOGRAPHIC_EMBEDDING) * NUM_CLASSES
    return 2 * macs
