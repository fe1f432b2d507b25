"""What a run reads besides its config: traffic, eval sets, load modes, the model folder."""
