"""Real architectures for the model tests, in plain torch.nn (torchvision is not installed:
its wheel pins one torch version exactly and pip would replace the suite's torch):
ResNet-18 (He et al. 2015, torchvision's ``resnet18``) and MobileNetV3-Small (Howard et al.
2019, torchvision's ``mobilenet_v3_small``), layer for layer as torchvision builds them (the
parameter counts equal torchvision's: test_model_archs.py checks them), with seeded weights
and seeded BatchNorm statistics (so normalisation is not the identity), exported to ONNX with
``torch.onnx.export`` -- no download.

Each model's ONNX graph has one input ``input`` [N, 3, H, W] and two outputs: ``features``
(the pooled, flattened activations before the classifier: 512 floats for ResNet-18, 576
for MobileNetV3-Small) and ``logits`` (1000 classes).

Run as a script it writes one model: ``python test/python/archs.py resnet18 OUT.onnx``.
"""

from __future__ import annotations

import os
import sys
from typing import List, Tuple

import torch
from torch import nn

# torchvision.models.resnet18().parameters() and mobilenet_v3_small(): 11,689,512 and 2,542,856.
PARAMS = {"resnet18": 11_689_512, "mobilenet_v3_small": 2_542_856}
FEATURES = {"resnet18": 512, "mobilenet_v3_small": 576}


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    def __init__(self, classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        layers, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers.append(nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, classes)

    def forward(self, x) -> Tuple[torch.Tensor, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        features = torch.flatten(self.avgpool(x), 1)
        return features, self.fc(features)


def _div8(v: float) -> int:
    """torchvision's _make_divisible(v, 8)."""
    new = max(8, int(v + 4) // 8 * 8)
    return new + 8 if new < 0.9 * v else new


class SqueezeExcitation(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        squeeze = _div8(c // 4)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, c, 1)
        self.relu = nn.ReLU()
        self.scale = nn.Hardsigmoid()

    def forward(self, x):
        return x * self.scale(self.fc2(self.relu(self.fc1(self.avgpool(x)))))


def _conv_bn(cin: int, cout: int, k: int, stride: int, groups: int, act) -> nn.Sequential:
    layers: List[nn.Module] = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout, eps=0.001, momentum=0.01)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, k: int, expanded: int, cout: int, se: bool, hs: bool, stride: int):
        super().__init__()
        act = nn.Hardswish if hs else nn.ReLU
        self.use_res = stride == 1 and cin == cout
        layers: List[nn.Module] = []
        if expanded != cin:
            layers.append(_conv_bn(cin, expanded, 1, 1, 1, act))
        layers.append(_conv_bn(expanded, expanded, k, stride, expanded, act))
        if se:
            layers.append(SqueezeExcitation(expanded))
        layers.append(_conv_bn(expanded, cout, 1, 1, 1, None))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        out = self.block(x)
        return out + x if self.use_res else out


# torchvision's _mobilenet_v3_conf("mobilenet_v3_small"): kernel, expanded, out, SE, hardswish, stride.
SMALL = [(3, 16, 16, True, False, 2), (3, 72, 24, False, False, 2), (3, 88, 24, False, False, 1),
         (5, 96, 40, True, True, 2), (5, 240, 40, True, True, 1), (5, 240, 40, True, True, 1),
         (5, 120, 48, True, True, 1), (5, 144, 48, True, True, 1), (5, 288, 96, True, True, 2),
         (5, 576, 96, True, True, 1), (5, 576, 96, True, True, 1)]


class MobileNetV3Small(nn.Module):
    def __init__(self, classes: int = 1000):
        super().__init__()
        layers: List[nn.Module] = [_conv_bn(3, 16, 3, 2, 1, nn.Hardswish)]
        cin = 16
        for k, exp, cout, se, hs, stride in SMALL:
            layers.append(InvertedResidual(cin, k, exp, cout, se, hs, stride))
            cin = cout
        layers.append(_conv_bn(cin, 6 * cin, 1, 1, 1, nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(576, 1024), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(1024, classes))

    def forward(self, x) -> Tuple[torch.Tensor, torch.Tensor]:
        features = torch.flatten(self.avgpool(self.features(x)), 1)
        return features, self.classifier(features)


def build(name: str, seed: int = 0) -> nn.Module:
    """The architecture in eval mode with weights from torch's default initialisation under
    ``seed``, and seeded BatchNorm running statistics."""
    torch.manual_seed(seed)
    model = {"resnet18": ResNet18, "mobilenet_v3_small": MobileNetV3Small}[name]()
    g = torch.Generator().manual_seed(seed + 1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return model.eval()


def export(name: str, path: str, side: int = 224, seed: int = 0) -> nn.Module:
    """Writes the seeded architecture to path as ONNX (input [N, 3, side, side], batch
    dynamic) with torch.onnx.export's default exporter (torch.export + onnxscript); returns
    the torch module."""
    model = build(name, seed)
    x = torch.zeros(2, 3, side, side)
    batch = torch.export.Dim("batch", min=1, max=1024)
    with torch.no_grad():
        prog = torch.onnx.export(model, (x,), input_names=["input"], output_names=["features", "logits"],
                                 dynamic_shapes=({0: batch},), dynamo=True, verbose=False)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    prog.save(path)
    return model


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in PARAMS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(PARAMS)}}} OUT.onnx")
    export(sys.argv[1], sys.argv[2])
