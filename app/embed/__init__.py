"""Embed: the MiniLM encoders, the reference sentence-transformers model and the ONNX query encoders exported
from it."""
