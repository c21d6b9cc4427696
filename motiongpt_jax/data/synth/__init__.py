"""The procedural HumanML3D-format data set (the project's embedded default)."""
