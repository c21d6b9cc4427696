"""The motion VQ-VAE: model, quantiser, its TrainTask, the tokenizer and token files."""
