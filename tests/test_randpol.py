"""RANDPOL: fixed random layers, head-only training, cached features, solvers, SB3 contract."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
import torch as th
from omegaconf import OmegaConf
from scipy.optimize import lsq_linear
from stable_baselines3.common.distributions import DiagGaussianDistribution
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecNormalize

from algos.randpol import RANDPOL, RandomFeaturePolicy
from algos.randpol.policies import RandomFeatureNet
from algos.randpol.solvers import solve_box_least_squares

CONF = Path(__file__).resolve().parents[1] / "conf"
SMALL = {"net_arch": [16, 24]}  # small random layers keep the tests fast


def _env(n_envs: int = 1, normalize: bool = False, seed: int = 0):
    env = make_vec_env("Pendulum-v1", n_envs=n_envs, seed=seed)
    return VecNormalize(env) if normalize else env


def _model(env=None, policy_kwargs=None, **kwargs) -> RANDPOL:
    kwargs.setdefault("n_steps", 64)
    kwargs.setdefault("batch_size", 32)
    kwargs.setdefault("n_epochs", 2)
    kwargs.setdefault("critic_epochs", 2)
    return RANDPOL(
        "RandomFeaturePolicy",
        env if env is not None else _env(),
        policy_kwargs=SMALL if policy_kwargs is None else policy_kwargs,
        seed=0,
        device="cpu",
        **kwargs,
    )


def _random_layers(model: RANDPOL) -> dict[str, th.Tensor]:
    return {name: buf.clone() for name, buf in model.policy.random_buffers().items()}


def _assert_identical(a: dict[str, th.Tensor], b: dict[str, th.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name, tensor in a.items():
        assert th.equal(tensor, b[name]), f"random layer {name} changed"


def test_random_layers_are_buffers_with_the_default_init():
    model = _model(policy_kwargs={})
    policy = model.policy
    buffers = policy.random_buffers()
    # [500, 800] for actor and critic, separate by default: 2 nets x 2 layers x (weight, bias).
    assert len(buffers) == 8
    w0, w1 = buffers["pi_net.weight_0"], buffers["pi_net.weight_1"]
    assert w0.shape == (500, 3) and w1.shape == (800, 500)
    assert float(w0.abs().max()) <= 1 / np.sqrt(3) and float(w1.abs().max()) <= 1 / np.sqrt(500)
    # Uniform on +-1/sqrt(fan_in): the standard deviation is bound / sqrt(3).
    assert float(w1.std()) == pytest.approx(1 / np.sqrt(500) / np.sqrt(3), rel=0.02)
    assert not th.equal(buffers["pi_net.weight_1"], buffers["vf_net.weight_1"])
    param_ids = {id(p) for p in policy.parameters()}
    assert all(id(b) not in param_ids and not b.requires_grad for b in buffers.values())
    assert set(policy.state_dict()) >= {f"mlp_extractor.{name}" for name in buffers}


def test_gaussian_init_tanh_and_shared_features():
    model = _model(policy_kwargs={"net_arch": [400, 300], "weight_init": "gaussian", "activation": "tanh", "share_features": True})
    extractor = model.policy.mlp_extractor
    assert extractor.pi_net is extractor.vf_net
    w1 = model.policy.random_buffers()["pi_net.weight_1"]
    assert float(w1.std()) == pytest.approx(1 / np.sqrt(400), rel=0.03)
    obs = th.randn(5, 3)
    features = model.policy.actor_features(obs)
    assert float(features.abs().max()) < 1 and float(features.min()) < 0  # tanh, not relu
    assert th.equal(features, model.policy.critic_features(obs))


def test_parameter_counts_count_random_layers_in_total_only():
    separate = _model(policy_kwargs={}).parameter_counts()
    # Pendulum: 3 observations, 1 action. Heads: actor 800 + 1, log-std 1, critic 800 + 1.
    trainable = 800 + 1 + 1 + 800 + 1
    random_net = 3 * 500 + 500 + 500 * 800 + 800
    assert separate == {"total": trainable + 2 * random_net, "trainable": trainable}
    shared = _model(policy_kwargs={"share_features": True}).parameter_counts()
    assert shared == {"total": trainable + random_net, "trainable": trainable}


def test_optimizers_hold_only_head_parameters():
    model = _model()
    policy = model.policy
    actor = {id(p) for group in policy.optimizer.param_groups for p in group["params"]}
    critic = {id(p) for group in model.critic_optimizer.param_groups for p in group["params"]}
    assert actor == {id(policy.action_net.weight), id(policy.action_net.bias), id(policy.log_std)}
    assert critic == {id(policy.value_net.weight), id(policy.value_net.bias)}
    assert {id(p) for p in policy.parameters()} == actor | critic


def test_log_std_learning_rate_scale_follows_the_schedule():
    model = _model(learning_rate=lambda progress: 1e-3 * progress, policy_kwargs={**SMALL, "log_std_lr_scale": 10.0})
    head_group, log_std_group = model.policy.optimizer.param_groups
    assert log_std_group["params"] == [model.policy.log_std]
    assert head_group["lr"] == pytest.approx(1e-3) and log_std_group["lr"] == pytest.approx(1e-2)
    model.learn(64)
    model._current_progress_remaining = 0.5
    model._update_learning_rate(model.policy.optimizer)
    assert head_group["lr"] == pytest.approx(5e-4) and log_std_group["lr"] == pytest.approx(5e-3)


def test_random_layers_unchanged_by_learn_and_save_load(tmp_path):
    model = _model()
    before = _random_layers(model)
    model.learn(256)
    _assert_identical(before, _random_layers(model))
    model.save(tmp_path / "randpol.zip")
    loaded = RANDPOL.load(tmp_path / "randpol.zip", device="cpu")
    _assert_identical(before, _random_layers(loaded))
    for name, value in model.policy.state_dict().items():
        assert th.equal(value, loaded.policy.state_dict()[name]), name
    obs = model.env.reset()
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    # The policy alone (BasePolicy.save / load) keeps its random layers too.
    model.policy.save(tmp_path / "policy.pth")
    policy = RandomFeaturePolicy.load(tmp_path / "policy.pth", device="cpu")
    _assert_identical(before, {name: buf for name, buf in policy.random_buffers().items()})
    assert policy.activation == "relu" and policy.share_features is False


def test_train_never_runs_the_random_layers(monkeypatch):
    model = _model()
    calls = {"train": 0}
    original_train = model.train

    def forbidden(self, x):
        raise AssertionError("train() ran a random layer")

    def guarded_train():
        with monkeypatch.context() as patch:
            patch.setattr(RandomFeatureNet, "forward", forbidden)
            original_train()
        calls["train"] += 1

    monkeypatch.setattr(model, "train", guarded_train)
    model.learn(192)
    assert calls["train"] == 3
    assert all(b.grad is None for b in model.policy.random_buffers().values())


@pytest.mark.parametrize("solver", ["adam", "ridge", "lsq"])
def test_head_weights_stay_in_the_linf_ball_after_every_update(monkeypatch, solver):
    # Small C so that the bound is active; the actor bound is checked too.
    model = _model(C=0.5, actor_C=0.5, critic_solver=solver, learning_rate=1e-2, critic_learning_rate=1e-2)
    policy = model.policy
    critic_bound, actor_bound = 0.5 / 24, 0.5 / 24
    assert model.critic_bound == critic_bound and model.actor_bound == actor_bound
    seen = {"updates": 0, "at_bound": 0}
    original_train = model.train

    def checked_train():
        original_train()
        alpha = policy.value_net.weight.detach()
        assert float(alpha.abs().max()) <= critic_bound
        assert float(policy.action_net.weight.detach().abs().max()) <= actor_bound
        seen["updates"] += 1
        seen["at_bound"] += int((alpha.abs() >= critic_bound * (1 - 1e-6)).sum())

    if solver == "adam":
        # Also after every single projected-Adam step, not only at the end of train().
        from algos.randpol import randpol as randpol_module

        original_project = randpol_module.project_linf_

        def project_and_check(weight, bound):
            out = original_project(weight, bound)
            assert float(weight.detach().abs().max()) <= bound
            seen["steps"] = seen.get("steps", 0) + 1
            return out

        monkeypatch.setattr(randpol_module, "project_linf_", project_and_check)
    monkeypatch.setattr(model, "train", checked_train)
    model.learn(256)
    assert seen["updates"] == 4 and seen["at_bound"] > 0
    if solver == "adam":
        # 4 updates of: critic 2 epochs x 1 minibatch (128 > 64), actor 2 epochs x 2 minibatches of 32.
        assert seen["steps"] == 4 * (2 + 4)


@pytest.mark.parametrize("method", ["bvls", "trf"])
@pytest.mark.parametrize("n", [40, 7])  # more samples than unknowns (reduced form), and fewer
def test_exact_solver_matches_scipy_lsq_linear(method, n):
    rng = np.random.default_rng(0)
    J, bound = 6, 0.3
    features = rng.random((n, J))
    targets = features @ rng.normal(0, 2, J) + 1.5 + rng.normal(0, 0.1, n)
    alpha, bias = solve_box_least_squares(features, targets, bound, solver="lsq", method=method)
    reference = lsq_linear(
        np.c_[features, np.ones(n)],
        targets,
        bounds=(np.r_[np.full(J, -bound), -np.inf], np.r_[np.full(J, bound), np.inf]),
        method="bvls",
        tol=1e-12,
    )
    assert np.any(np.abs(reference.x[:J]) >= bound - 1e-9), "the bound should be active in this problem"
    np.testing.assert_allclose(np.r_[alpha, bias], reference.x, atol=1e-5)


def test_ridge_solver_clamps_and_refits_bias():
    rng = np.random.default_rng(1)
    features = rng.random((50, 5))
    targets = features @ np.array([3.0, -3.0, 0.1, 0.0, 2.0]) + 4.0
    alpha, bias = solve_box_least_squares(features, targets, 1.0, solver="ridge", ridge=1e-9)
    np.testing.assert_allclose(alpha, [1.0, -1.0, 0.1, 0.0, 1.0], atol=1e-6)
    assert bias == pytest.approx(float(np.mean(targets - features @ alpha)))


def test_solver_rejects_bad_input():
    with pytest.raises(ValueError, match="solver must be one of"):
        solve_box_least_squares(np.ones((3, 2)), np.ones(3), 1.0, solver="cvx")
    with pytest.raises(ValueError, match="bound must be > 0"):
        solve_box_least_squares(np.ones((3, 2)), np.ones(3), 0.0)
    with pytest.raises(ValueError, match="features must be"):
        solve_box_least_squares(np.ones((3, 2)), np.ones(4), 1.0)


def _collect(model: RANDPOL):
    _, callback = model._setup_learn(model.n_steps * model.n_envs, None)
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    return model.rollout_buffer


@pytest.mark.parametrize("share_features", [False, True])
def test_cached_features_and_values_equal_a_fresh_forward_pass(share_features):
    model = _model(env=_env(n_envs=2, normalize=True), policy_kwargs=dict(SMALL, share_features=share_features))
    with th.no_grad():
        model.policy.value_net.weight.uniform_(-0.01, 0.01)
        model.policy.value_net.bias.fill_(0.3)
    buffer = _collect(model)
    obs = th.as_tensor(buffer.observations.reshape(-1, 3))
    policy = model.policy
    np.testing.assert_allclose(buffer.pi_features.reshape(-1, 24), policy.actor_features(obs).numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(buffer.vf_features.reshape(-1, 24), policy.critic_features(obs).numpy(), rtol=1e-6, atol=1e-6)
    with th.no_grad():
        values, log_prob, _ = policy.evaluate_actions(obs, th.as_tensor(buffer.actions.reshape(-1, 1)))
    np.testing.assert_allclose(buffer.values.reshape(-1), values.flatten().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(buffer.log_probs.reshape(-1), log_prob.numpy(), rtol=1e-5, atol=1e-5)
    samples = next(buffer.get(batch_size=None))
    np.testing.assert_allclose(samples.pi_features.numpy(), policy.actor_features(samples.observations).numpy(), atol=1e-6)


def test_numpy_obs_converter_equals_sb3_preprocessing():
    policy = _model().policy
    obs = np.random.default_rng(0).normal(size=(5, 3))  # float64, as VecNormalize returns
    fast = policy.numpy_obs_converter()(obs)
    reference = policy.preprocess_obs(obs_as_tensor(obs, policy.device))
    assert fast.dtype == th.float32 and fast.shape == (5, 3)
    assert th.equal(fast, reference)


def test_truncation_is_bootstrapped_with_the_critic():
    # Pendulum episodes are truncated at 200 steps; with V == 5 the reward of the truncated step
    # gets gamma * 5 added, and no other reward changes.
    model = _model(n_steps=256, gamma=0.9)
    with th.no_grad():
        model.policy.value_net.bias.fill_(5.0)
    raw_rewards = []
    original_step = model.env.step

    def recording_step(actions):
        out = original_step(actions)
        raw_rewards.append(out[1].copy())
        return out

    model.env.step = recording_step
    buffer = _collect(model)
    difference = buffer.rewards[:, 0] - np.array(raw_rewards)[:, 0]
    expected = np.zeros(256, dtype=np.float32)
    expected[199] = 0.9 * 5.0
    np.testing.assert_allclose(difference, expected, atol=1e-5)


def test_log_prob_matches_sb3_diag_gaussian():
    policy = _model().policy
    with th.no_grad():
        policy.log_std.fill_(-0.3)
        policy.action_net.weight.normal_()
    features, actions = th.rand(10, 24), th.randn(10, 1)
    log_prob, entropy = policy.log_prob_from_features(features, actions)
    reference = DiagGaussianDistribution(1).proba_distribution(policy.mean_actions(features), policy.log_std)
    np.testing.assert_allclose(log_prob.detach().numpy(), reference.log_prob(actions).detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(entropy.detach().numpy(), reference.entropy().detach().numpy(), rtol=1e-6)


def test_predict_returns_the_clipped_mean_when_deterministic():
    model = _model()
    with th.no_grad():
        model.policy.action_net.weight.normal_(0, 3)
    obs = model.env.reset()
    action, _ = model.predict(obs, deterministic=True)
    mean = model.policy.mean_actions(model.policy.actor_features(th.as_tensor(obs)))
    np.testing.assert_allclose(action, np.clip(mean.detach().numpy(), -2, 2), rtol=1e-6)
    single, _ = model.predict(obs[0], deterministic=True)
    assert single.shape == (1,)
    stochastic = np.stack([model.predict(obs, deterministic=False)[0] for _ in range(20)])
    assert stochastic.std() > 0


def test_vecnormalize_multi_env_learn_save_load_and_evaluate(tmp_path):
    env = _env(n_envs=3, normalize=True)
    model = _model(env=env, clip_range=0.2, target_kl=0.05, max_grad_norm=0.5)
    model.learn(3 * 64 * 2)
    assert model.num_timesteps == 384
    for key in ("train/critic_loss", "train/approx_kl", "train/clip_fraction", "train/explained_variance"):
        assert np.isfinite(model.logger.name_to_value[key]), key
    model.save(tmp_path / "m.zip")
    env.save(str(tmp_path / "vecnormalize.pkl"))
    eval_env = VecNormalize.load(str(tmp_path / "vecnormalize.pkl"), _env(n_envs=1))
    eval_env.training, eval_env.norm_reward = False, False
    loaded = RANDPOL.load(tmp_path / "m.zip", env=eval_env, device="cpu")
    mean, _ = evaluate_policy(loaded, eval_env, n_eval_episodes=2)
    assert np.isfinite(mean) and -2000 < mean <= 0
    loaded.learn(64, reset_num_timesteps=False)  # a loaded model trains on
    assert loaded.num_timesteps == 384 + 64


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"C": -1.0}, "C .* must be > 0, got -1.0"),
        ({"critic_solver": "newton"}, "critic_solver must be one of .*'adam', 'lsq', 'ridge'.*got 'newton'"),
        ({"lsq_method": "qr"}, "lsq_method must be one of"),
        ({"clip_range": 0.0}, "clip_range must be > 0 or None"),
        ({"actor_C": 0.0}, "actor_C must be > 0 or None"),
        ({"gamma": 1.5}, "gamma must be in"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"learning_rate": -1e-3}, "learning_rate must be > 0"),
        ({"policy_kwargs": {"activation": "gelu"}}, "activation must be one of"),
        ({"policy_kwargs": {"weight_init": "orthogonal"}}, "weight_init must be one of"),
        ({"policy_kwargs": {"net_arch": [500, 0]}}, "positive ints"),
        ({"policy_kwargs": {"net_arch": {"pi": [8], "vf": [9]}, "share_features": True}}, "equal actor and critic widths"),
        ({"policy_kwargs": {"use_sde": True}}, "gSDE"),
        ({"policy_kwargs": {"log_std_lr_scale": 0.0}}, "log_std_lr_scale must be > 0"),
    ],
)
def test_bad_constructor_values_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RANDPOL("RandomFeaturePolicy", _env(), device="cpu", **kwargs)


def test_discrete_actions_are_refused():
    with pytest.raises(AssertionError, match="only supports"):
        RANDPOL("RandomFeaturePolicy", make_vec_env("CartPole-v1"), device="cpu")
    with pytest.raises(TypeError, match="Box action space"):
        RandomFeaturePolicy(make_vec_env("CartPole-v1").observation_space, make_vec_env("CartPole-v1").action_space, lambda _: 1e-3)


def _defaults(function) -> dict:
    return {
        name: p.default
        for name, p in inspect.signature(function).parameters.items()
        if p.default is not inspect.Parameter.empty and not name.startswith("_")
    }


def test_algo_config_carries_the_class_defaults():
    conf = OmegaConf.to_container(OmegaConf.load(CONF / "algo" / "randpol.yaml"))
    assert conf["name"] == "randpol" and conf["family"] == "on_policy" and "action_noise" not in conf
    model = conf["model"]
    assert model.pop("_target_") == "algos.randpol.RANDPOL"
    assert model.pop("policy") == "RandomFeaturePolicy"
    policy_kwargs = model.pop("policy_kwargs")
    algo_defaults = _defaults(RANDPOL.__init__)
    for key, value in model.items():
        assert algo_defaults[key] == value, key
    policy_defaults = _defaults(RandomFeaturePolicy.__init__)
    policy_defaults["net_arch"] = [500, 800]  # None in the signature means the paper's widths
    for key, value in policy_kwargs.items():
        assert policy_defaults[key] == value, key


@pytest.mark.parametrize("env_name", ["pendulum", "lunarlander", "bipedalwalker", "hopper", "humanoid", "go1"])
def test_tuned_configs_vectorize_like_tuned_ppo(env_name):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        randpol = compose("config", overrides=["algo=randpol", f"env={env_name}"])
        ppo = compose("config", overrides=["algo=ppo", f"env={env_name}"])
    assert randpol.env.n_envs == ppo.env.n_envs
    assert randpol.env.normalize == ppo.env.normalize
    assert randpol.algo.model._target_ == "algos.randpol.RANDPOL"
    # Every tuned key is a constructor argument.
    accepted = set(inspect.signature(RANDPOL.__init__).parameters)
    assert set(randpol.algo.model) - {"_target_"} <= accepted
