"""randbench's Hydra launcher plugin (``hydra/launcher=slurm``): Hydra takes launchers only from
the ``hydra_plugins`` namespace package, and finds them by scanning its modules."""
