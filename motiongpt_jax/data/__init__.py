"""Motion data: real HumanML3D/KIT-ML folders and the procedural data set."""
