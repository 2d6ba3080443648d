"""Environment construction for the harness, and randbench's own tasks.

Importing ``envs`` registers randbench's tasks with gymnasium (``randbench/Go1-v0``); the
registration names an entry point, so the MuJoCo model is only built when the task is made.
"""

from envs import go1
from envs.make import make_eval_env, make_train_env

go1.register()

__all__ = ["make_eval_env", "make_train_env"]
