"""The RANDPOL study's swap experiments: a trained critic network under the RANDPOL actor
(``critic_net``), and RANDPOL's random-feature critic under PPO's actor (``RandomCriticPolicy``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from algos.randpol import RANDPOL
from algos.randpol.policies import InputFeatures
from algos.randpol.swaps import RandomCriticPolicy
from baselines.build import build_algorithm
from tests.conftest import make_config


def _randpol(**policy_kwargs) -> RANDPOL:
    return RANDPOL("RandomFeaturePolicy", make_vec_env("Pendulum-v1", n_envs=1, seed=0), n_steps=64,
                   policy_kwargs={"net_arch": [16, 12], **policy_kwargs}, seed=0, device="cpu")


def _state(module: th.nn.Module) -> dict[str, th.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def test_critic_net_replaces_the_random_critic_with_a_trained_network():
    model = _randpol(critic_net=[32, 32])
    policy = model.policy
    assert isinstance(policy.mlp_extractor.vf_net, InputFeatures)
    assert model.rollout_buffer.vf_features.shape[-1] == 3  # the observation itself
    # 3 -> 32 -> 32 -> 1, every weight trained by the critic optimizer
    assert sum(p.numel() for p in policy.critic_parameters()) == (3 * 32 + 32) + (32 * 32 + 32) + (32 + 1)
    optimized = {id(p) for group in model.critic_optimizer.param_groups for p in group["params"]}
    assert optimized == {id(p) for p in policy.critic_parameters()}
    actor_random = {name: buffer.clone() for name, buffer in policy.random_buffers().items()}
    critic_before = [p.detach().clone() for p in policy.critic_parameters()]
    model.learn(256)
    assert all(not th.equal(before, after) for before, after in zip(critic_before, policy.critic_parameters(),
                                                                   strict=True))
    assert all(th.equal(buffer, policy.random_buffers()[name]) for name, buffer in actor_random.items())


def test_critic_net_fit_lowers_the_error_on_the_returns():
    model = _randpol(critic_net=[32, 32])
    gen = th.Generator().manual_seed(0)
    obs = th.rand(512, 3, generator=gen) * 2 - 1
    returns = 3.0 * obs[:, 0] - 2.0 * obs[:, 1] ** 2 + 1.0
    with th.no_grad():
        before = float(th.nn.functional.mse_loss(model.policy.values_from_features(obs).flatten(), returns))
    model.critic_epochs = 50
    for group in model.critic_optimizer.param_groups:
        group["lr"] = 3e-3
    after = model._fit_critic(obs, returns)
    assert after < 0.1 * before


@pytest.mark.parametrize(
    ("options", "message"),
    [({"critic_solver": "ridge"}, "critic_solver='adam'"), ({"policy_kwargs": {"share_features": True}}, "share")],
)
def test_critic_net_refuses_what_it_cannot_do(options, message):
    policy_kwargs = {"net_arch": [16, 12], "critic_net": [8], **options.pop("policy_kwargs", {})}
    with pytest.raises(ValueError, match=message):
        RANDPOL("RandomFeaturePolicy", make_vec_env("Pendulum-v1", n_envs=1, seed=0), n_steps=64,
                policy_kwargs=policy_kwargs, seed=0, device="cpu", **options)


@pytest.mark.parametrize("widths", [[0], [4, -1], ["8"]])
def test_critic_net_refuses_bad_widths(widths):
    with pytest.raises(ValueError, match="critic_net"):
        _randpol(critic_net=widths)


def test_random_critic_policy_trains_only_the_value_head_of_its_critic(tmp_path):
    env = make_vec_env("Pendulum-v1", n_envs=2, seed=0)
    model = PPO(RandomCriticPolicy, env, n_steps=64, batch_size=64, n_epochs=2, seed=0, device="cpu",
                policy_kwargs={"critic_widths": [20, 10]})
    policy = model.policy
    critic = policy.mlp_extractor.value_net
    assert policy.mlp_extractor.latent_dim_vf == 10 and policy.value_net.in_features == 10
    assert not list(critic.parameters())  # buffers only: no optimizer ever sees them
    random_before = _state(critic)
    head_before = _state(policy.value_net)
    actor_before = _state(policy.mlp_extractor.policy_net)
    model.learn(256)
    assert all(th.equal(value, critic.state_dict()[name]) for name, value in random_before.items())
    assert any(not th.equal(value, policy.value_net.state_dict()[name]) for name, value in head_before.items())
    assert any(not th.equal(value, policy.mlp_extractor.policy_net.state_dict()[name])
               for name, value in actor_before.items())
    obs = th.as_tensor(np.stack([env.observation_space.sample() for _ in range(5)]))
    model.save(tmp_path / "model.zip")
    loaded = PPO.load(tmp_path / "model.zip", device="cpu")
    assert isinstance(loaded.policy, RandomCriticPolicy) and loaded.policy.critic_widths == [20, 10]
    with th.no_grad():
        assert th.allclose(loaded.policy.predict_values(obs), policy.predict_values(obs))


@pytest.mark.parametrize(("swap", "algo", "label"), [("ppo_random_critic", "ppo", "ppo_random_critic"),
                                                     ("randpol_mlp_critic", "randpol", "randpol_mlp_critic")])
def test_swap_configs_build_on_the_task_s_tuned_algorithm(swap, algo, label):
    cfg = make_config("env=lunarlander", f"+swap={swap}")
    assert cfg.algo.name == algo and cfg.algo_label == label
    tuned = make_config("env=lunarlander", f"algo={algo}")
    assert cfg.algo.model.n_steps == tuned.algo.model.n_steps  # the tuned file stays under the swap
    model = build_algorithm(cfg.algo, make_vec_env("LunarLanderContinuous-v3", n_envs=int(cfg.env.n_envs), seed=0),
                            seed=0)
    if algo == "ppo":
        assert isinstance(model.policy, RandomCriticPolicy)
        assert model.policy.mlp_extractor.latent_dim_vf == 800
    else:
        assert model.policy.critic_net == [64, 64] and model.max_kl == tuned.algo.model.max_kl
