"""The shared trainer: jitted step, optimizer, Orbax checkpoints, metrics."""
