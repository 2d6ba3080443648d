"""Environment construction for the harness, and randbench's own tasks."""

from envs.make import make_eval_env, make_train_env

__all__ = ["make_eval_env", "make_train_env"]
