"""Lean versions of SB3's per-step env wrappers: the same arithmetic, less Python per step.

At batch 1 the wrappers SB3 puts around every training env cost about as much as the simulator
(a profile of RANDPOL on Hopper-v5: ``DummyVecEnv.step_wait`` deep-copies the infos of every
step, ``DummyVecEnv._obs_from_buf`` and ``VecNormalize.normalize_obs`` deep-copy the
observations, and ``RunningMeanStd.update`` goes through ``np.mean``/``np.var``'s Python layers
twice a step). The classes here remove that overhead and nothing else:

- :class:`LeanDummyVecEnv` returns the same observations, rewards, dones and infos as
  :class:`~stable_baselines3.common.vec_env.DummyVecEnv`; the infos are fresh dicts with
  top-level arrays copied (SB3 deep-copies them; the values a gymnasium env returns are new
  objects each step, so the copy is only needed for arrays an env might reuse).
- :func:`update_running_moments` computes a batch's mean and variance with the ufunc calls that
  numpy's ``_mean``/``_var`` make, so :class:`RunningMeanStd` ends bitwise equal to
  ``RunningMeanStd.update``.
- :class:`LeanVecNormalize` is :class:`~stable_baselines3.common.vec_env.VecNormalize` for Box
  observations with those moments, no defensive deep copy of arrays it replaces anyway, and
  ``np.minimum(np.maximum(...))`` for ``np.clip``'s wrapper. It saves itself as a plain
  ``VecNormalize`` so that ``vecnormalize.pkl`` loads without randbench.

Every algorithm of the harness gets these wrappers alike (envs/make.py), so the gain is not
RANDPOL's; ``benchmarks/throughput.py`` measures SB3's stock stack beside them.
"""

from __future__ import annotations

import pickle
from copy import deepcopy
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn


def _copy_info(info: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in info.items()}


class LeanDummyVecEnv(DummyVecEnv):
    """``DummyVecEnv`` without the per-step deep copies (same constructor, same results).

    :param env_fns: callables that each build one gymnasium env (SB3's contract).
    """

    def step_wait(self) -> VecEnvStepReturn:
        """Step every env with the stored actions; reset those that finished.

        :return: observations ``(n_envs, *obs_shape)`` (a copy of the buffer), rewards
            ``(n_envs,)`` float32, dones ``(n_envs,)`` bool, and one info dict per env with
            ``"TimeLimit.truncated"`` and, at episode end, ``"terminal_observation"`` (a copy).
        """
        for env_idx in range(self.num_envs):
            obs, self.buf_rews[env_idx], terminated, truncated, info = self.envs[env_idx].step(
                self.actions[env_idx]
            )
            info = _copy_info(info)
            done = terminated or truncated
            self.buf_dones[env_idx] = done
            info["TimeLimit.truncated"] = truncated and not terminated
            if done:
                info["terminal_observation"] = obs.copy() if isinstance(obs, np.ndarray) else deepcopy(obs)
                obs, self.reset_infos[env_idx] = self.envs[env_idx].reset()
            self.buf_infos[env_idx] = info
            self._save_obs(env_idx, obs)
        return (
            self._obs_from_buf(),
            np.copy(self.buf_rews),
            np.copy(self.buf_dones),
            [dict(info) for info in self.buf_infos],
        )

    def _obs_from_buf(self) -> VecEnvObs:
        if self.keys == [None]:
            return self.buf_obs[None].copy()
        return super()._obs_from_buf()


def update_running_moments(rms: RunningMeanStd, batch: np.ndarray) -> None:
    """``rms.update(batch)`` with the same ufunc calls and less Python (bitwise equal result).

    numpy's ``np.mean``/``np.var`` (``numpy/_core/_methods.py``) sum along axis 0, divide by the
    item count as an ``intp`` (``casting="unsafe"`` into the sum's dtype), and for the variance
    sum the squared deviations from a keep-dims mean that ``np.var`` computes again the same way
    (here the mean is reused: the same sum and division give the same values). This does exactly
    that for float32 and float64 arrays with at least one row and hands anything else (integers,
    float16, empty batches) to ``rms.update``.

    :param rms: the running statistics to update (SB3's parallel-moments update,
        ``RunningMeanStd.update_from_moments``).
    :param batch: ``(n, *shape)`` samples; ``shape`` must match ``rms.mean.shape``.
    """
    if not (isinstance(batch, np.ndarray) and batch.ndim >= 1 and batch.shape[0] > 0
            and batch.dtype in (np.float32, np.float64)):
        rms.update(batch)
        return
    n = batch.shape[0]
    count = np.intp(n)
    total = np.add.reduce(batch, axis=0)
    if isinstance(total, np.ndarray):
        mean = np.true_divide(total, count, out=total, casting="unsafe", subok=False)
    else:
        mean = total.dtype.type(total / count)
    dev = np.subtract(batch, np.reshape(mean, (1, *batch.shape[1:])))
    np.square(dev, out=dev)
    sq = np.add.reduce(dev, axis=0)
    if isinstance(sq, np.ndarray):
        var = np.true_divide(sq, count, out=sq, casting="unsafe", subok=False)
    else:
        var = sq.dtype.type(sq / count)
    rms.update_from_moments(mean, var, n)


class LeanVecNormalize(VecNormalize):
    """``VecNormalize`` for Box observations with the per-step overhead removed.

    Same constructor and attributes as SB3's; normalized observations ``(n_envs, *obs_shape)``
    float32 and rewards ``(n_envs,)`` float32 are bitwise equal to its (tests/test_envs_vec.py).

    :raises TypeError: for a Dict observation space (use ``VecNormalize``, which
        ``envs.make`` picks for those).
    """

    def __init__(self, venv: VecEnv, *args: Any, **kwargs: Any) -> None:
        if isinstance(venv.observation_space, spaces.Dict):
            raise TypeError(
                "LeanVecNormalize supports Box observation spaces only; got a Dict space "
                "(use stable_baselines3's VecNormalize for it)"
            )
        super().__init__(venv, *args, **kwargs)

    def step_wait(self) -> VecEnvStepReturn:
        """As ``VecNormalize.step_wait``: update the statistics (when training), normalize."""
        obs, rewards, dones, infos = self.venv.step_wait()
        self.old_obs = obs
        self.old_reward = rewards
        if self.training and self.norm_obs:
            update_running_moments(self.obs_rms, obs)
        obs = self.normalize_obs(obs)
        if self.training:
            self._update_reward(rewards)
        rewards = self.normalize_reward(rewards)
        for idx in np.flatnonzero(dones):
            info = infos[idx]
            if "terminal_observation" in info:
                info["terminal_observation"] = self.normalize_obs(info["terminal_observation"])
        self.returns[dones] = 0
        return obs, rewards, dones, infos

    def _update_reward(self, reward: np.ndarray) -> None:
        self.returns = self.returns * self.gamma + reward
        update_running_moments(self.ret_rms, self.returns)

    def normalize_obs(self, obs: np.ndarray) -> np.ndarray:  # type: ignore[override]
        """Normalized observations as a new float32 array (never a view of ``obs``)."""
        if not self.norm_obs:
            return np.array(obs, copy=True)
        c = self.clip_obs
        scaled = (obs - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + self.epsilon)
        return np.minimum(np.maximum(scaled, -c), c).astype(np.float32)

    def normalize_reward(self, reward: np.ndarray) -> np.ndarray:
        """Rewards divided by the running return's std, clipped, as float32."""
        if self.norm_reward:
            c = self.clip_reward
            reward = np.minimum(np.maximum(reward / np.sqrt(self.ret_rms.var + self.epsilon), -c), c)
        return reward.astype(np.float32)

    def save(self, save_path: str) -> None:
        """Pickle the statistics and settings as a stock ``VecNormalize`` (loadable with SB3's
        ``VecNormalize.load`` and no randbench on the path)."""
        plain = VecNormalize.__new__(VecNormalize)
        plain.__dict__.update(self.__dict__)  # VecNormalize.__getstate__ drops the venv
        with open(save_path, "wb") as file_handler:
            pickle.dump(plain, file_handler)
