"""Training: typed configs, on-the-fly degraded patches, the trainer, export to .safetensors."""
