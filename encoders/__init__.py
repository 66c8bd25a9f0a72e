"""Encoders: the ``Encoder`` protocol, preprocessing configs and the model registry."""

from pjbench.encoders.base import Encoder, ModelInfo, PredictiveEncoder, Preprocessing
from pjbench.encoders.registry import MODELS

__all__ = ["Encoder", "PredictiveEncoder", "ModelInfo", "Preprocessing", "MODELS"]
