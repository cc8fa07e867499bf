"""The command lines around the recipes: launch on several GPUs, evaluate, plot, benchmark."""
