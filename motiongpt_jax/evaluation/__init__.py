"""Evaluation: metric functions the SeqIO tasks carry (more arrive with the evaluator)."""
