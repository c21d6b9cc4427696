"""The T5 (T5X-compatible): layers, network, decoding, checkpoint import, its TrainTask."""
