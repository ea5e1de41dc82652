"""The lifting network: the HoT model, its data, training, export and runtimes."""
