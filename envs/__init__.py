"""Environment construction for the harness, and randbench's own tasks.

Importing ``envs`` registers randbench's tasks with gymnasium (``randbench/Go1-v0``, and the
sparse-reward variants of :mod:`envs.sparse` such as ``randbench/LunarLanderContinuousSparse-v3``);
each registration names an entry point, so nothing is built until the task is made.
"""

from envs import go1, sparse
from envs.make import make_eval_env, make_train_env

go1.register()
sparse.register()

__all__ = ["make_eval_env", "make_train_env"]
