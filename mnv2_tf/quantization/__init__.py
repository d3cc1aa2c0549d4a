"""Quantization-aware training (issue 26): fake quantization as the TFLite converter reads it."""
