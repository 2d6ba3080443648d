"""RAT: the transformed-advantage step is the regularized natural gradient; SB3 and harness contract."""

from __future__ import annotations

import inspect
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch as th
from omegaconf import OmegaConf
from stable_baselines3.common.env_util import make_vec_env

from algos.rat import RAT, RATPolicy
from algos.rat.transform import adapt_learning_rate, clamped_ratios, transform_advantages
from baselines.build import build_algorithm
from tests.conftest import CONF, make_config, randbench

TINY_NET = {"net_arch": {"pi": [5, 4], "vf": [4]}}  # P = 3*5+5 + 5*4+4 + 4*1+1 + 1 = 50 on Pendulum
ENVS = ("pendulum", "lunarlander", "bipedalwalker", "hopper", "humanoid")


def _model(policy_kwargs=None, **kwargs) -> RAT:
    kwargs.setdefault("n_steps", 64)
    kwargs.setdefault("n_epochs", 2)
    kwargs.setdefault("n_minibatches", 2)
    return RAT(
        "RATPolicy",
        make_vec_env("Pendulum-v1", n_envs=1, seed=0),
        policy_kwargs=TINY_NET if policy_kwargs is None else policy_kwargs,
        seed=0,
        device="cpu",
        **kwargs,
    )


def _batch(model: RAT, n: int, seed: int = 0) -> tuple[th.Tensor, th.Tensor, th.Tensor, th.Tensor]:
    """obs, actions, old log-probs (perturbed so that ratios vary and some hit the clamp), advantages."""
    gen = th.Generator().manual_seed(seed)
    obs = th.randn(n, 3, generator=gen)
    actions = th.randn(n, 1, generator=gen)
    with th.no_grad():
        log_prob = model.policy.actor_log_prob(obs, actions)
    old_log_prob = log_prob + 0.5 * th.randn(n, generator=gen)
    old_log_prob[:2] = log_prob[:2] + th.tensor([5.0, -5.0])  # ratios e^-5 and e^5: clamped to 0.1 and 10
    advantages = th.randn(n, generator=gen)
    return obs, actions, old_log_prob, advantages


def _dense(model: RAT, obs, actions, old_log_prob) -> tuple[th.Tensor, th.Tensor]:
    """H (n x P, float64) by one autograd call per sample, and the clamped ratios."""
    params = model.policy.actor_parameters()
    rows = []
    for i in range(obs.shape[0]):
        log_prob = model.policy.actor_log_prob(obs[i : i + 1], actions[i : i + 1]).sum()
        rows.append(th.cat([g.flatten() for g in th.autograd.grad(log_prob, params)]))
    with th.no_grad():
        rho = clamped_ratios(model.policy.actor_log_prob(obs, actions), old_log_prob, *model.ratio_clip)
    return th.stack(rows).double(), rho.double()


def _flat(direction: dict[str, th.Tensor], model: RAT) -> th.Tensor:
    return th.cat([direction[name].flatten() for name in model.policy.actor_named_parameters()]).double()


def _natural_gradient(H, rho, A, lam, x_prev=None) -> th.Tensor:
    """(F + lambda I)^-1 (g - F x_prev) + x_prev with F = H^T D H / n, g = H^T D A / n: a dense P x P solve."""
    n, P = H.shape
    fisher = H.T @ (rho[:, None] * H) / n
    g = H.T @ (rho * A) / n
    if x_prev is None:
        return th.linalg.solve(fisher + lam * th.eye(P, dtype=H.dtype), g)
    return x_prev + th.linalg.solve(fisher + lam * th.eye(P, dtype=H.dtype), g - fisher @ x_prev)


def _cosine(a: th.Tensor, b: th.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


# -- the math ----------------------------------------------------------------------------------
@pytest.mark.parametrize("lam", [0.1, 1.0])
def test_one_block_rat_step_equals_dense_regularized_natural_gradient(lam):
    model = _model(tikhonov_lambda=lam)
    obs, actions, old_log_prob, A = _batch(model, n=40)
    H, rho = _dense(model, obs, actions, old_log_prob)
    assert H.shape == (40, 50) and rho.min() == pytest.approx(0.1) and rho.max() == pytest.approx(10.0)

    step = model.rat_direction(obs, actions, old_log_prob, A, condition_number=True)
    x = _flat(step.direction, model)
    expected = _natural_gradient(H, rho, A.double(), lam)
    assert th.allclose(x, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))
    assert step.used_cholesky
    # The logged Fisher norm is sqrt(x^T F x) and the condition number that of D^1/2 K D^1/2 / n + lambda I.
    fisher = H.T @ (rho[:, None] * H) / 40
    assert step.fisher_norm == pytest.approx(float(expected @ fisher @ expected) ** 0.5, rel=1e-4)
    system = (rho.sqrt()[:, None] * (H @ H.T) * rho.sqrt()[None, :]) / 40 + lam * th.eye(40, dtype=H.dtype)
    assert step.condition_number == pytest.approx(float(np.linalg.cond(system.numpy())), rel=1e-3)
    assert step.clamped_fraction == pytest.approx(2 / 40)


def test_kaczmarz_memory_step_equals_dense_solve_with_the_previous_direction():
    model = _model()
    obs, actions, old_log_prob, A = _batch(model, n=24, seed=1)
    H, rho = _dense(model, obs, actions, old_log_prob)
    names = model.policy.actor_named_parameters()
    gen = th.Generator().manual_seed(2)
    memory = {name: 0.1 * th.randn(p.shape, generator=gen) for name, p in names.items()}
    x_prev = _flat(memory, model)
    x = _flat(model.rat_direction(obs, actions, old_log_prob, A, memory).direction, model)
    expected = _natural_gradient(H, rho, A.double(), model.tikhonov_lambda, x_prev)
    assert th.allclose(x, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))


def test_zero_gram_gives_the_advantages_over_lambda():
    A = th.tensor([1.5, -2.0, 0.25, 3.0])
    rho = th.tensor([0.1, 1.0, 2.0, 10.0])
    one = transform_advantages(th.zeros(4, 4), rho, A, tikhonov_lambda=1.0)
    assert th.equal(one.advantages, A) or th.allclose(one.advantages, A, rtol=1e-6, atol=0)
    tenth = transform_advantages(th.zeros(4, 4), rho, A, tikhonov_lambda=0.1, condition_number=True)
    assert th.allclose(tenth.advantages, A / 0.1, rtol=1e-6)
    assert tenth.condition_number == pytest.approx(1.0)


def test_symmetric_cholesky_solve_and_general_fallback_solve_the_same_system():
    gen = th.Generator().manual_seed(0)
    n = 16
    Hrows = th.randn(n, 30, generator=gen, dtype=th.float64)
    gram, rho, A = (
        Hrows @ Hrows.T,
        th.rand(n, generator=gen, dtype=th.float64) * 5 + 0.1,
        th.randn(n, generator=gen, dtype=th.float64),
    )
    solved = transform_advantages(gram, rho, A, 0.1)
    system = gram * rho[None, :] / n + 0.1 * th.eye(n, dtype=th.float64)
    assert solved.used_cholesky and th.allclose(system @ solved.advantages, A, atol=1e-9)
    # A "Gram" matrix that is not positive semi-definite makes the symmetric form indefinite:
    # the general solve takes over and still solves K D / n + lambda I.
    bad = -gram
    fallback = transform_advantages(bad, rho, A, 0.1)
    bad_system = bad * rho[None, :] / n + 0.1 * th.eye(n, dtype=th.float64)
    assert not fallback.used_cholesky and th.allclose(bad_system @ fallback.advantages, A, atol=1e-8)
    with pytest.raises(ValueError, match="tikhonov_lambda must be > 0, got 0.0"):
        transform_advantages(gram, rho, A, 0.0)
    with pytest.raises(ValueError, match="ratios must be > 0"):
        transform_advantages(gram, th.zeros(n, dtype=th.float64), A, 0.1)


def test_ratio_clamping_on_constructed_log_probs():
    old = th.zeros(5)
    new = th.tensor([-10.0, math.log(0.5), 0.0, math.log(3.0), 10.0], requires_grad=True)
    rho = clamped_ratios(new, old, 0.1, 10.0)
    assert th.allclose(rho, th.tensor([0.1, 0.5, 1.0, 3.0, 10.0]))
    assert not rho.requires_grad  # rho is stopgrad in the surrogate


@pytest.mark.parametrize(
    ("lr", "kl", "expected"),
    [
        (0.03, 0.0161, 0.02),  # KL > 2 x 0.008: divide by 1.5
        (0.00012, 0.5, 1e-4),  # ... not below the floor
        (0.02, 0.0039, 0.03),  # KL < 0.008 / 2: multiply by 1.5
        (0.04, 0.0, 0.05),  # ... not above the cap
        (0.02, 0.004, 0.02),  # in [target / 2, 2 x target]: unchanged
        (0.02, 0.016, 0.02),
    ],
)
def test_kl_adaptive_learning_rate_rule(lr, kl, expected):
    assert adapt_learning_rate(lr, kl, 0.008, 1.5, 1e-4, 0.05) == pytest.approx(expected)


def test_train_adapts_the_learning_rate_down_when_the_kl_overshoots():
    # A huge starting learning rate drives the minibatch KL far above 2 x target_kl: the rule
    # must cut the learning rate by 1.5 per minibatch until the floor, never raise it.
    model = _model(
        learning_rate=50.0, max_learning_rate=50.0, max_grad_norm=100.0, n_minibatches=4, n_epochs=3
    )
    model.learn(64)
    assert model.actor_learning_rate < 50.0 / 1.5**3
    assert model.policy.optimizer.param_groups[0]["lr"] <= 50.0 / 1.5**3
    logged = model.logger.name_to_value
    for key in (
        "train/approx_kl",
        "train/fisher_norm",
        "train/condition_number",
        "train/update_time_s",
        "train/learning_rate",
    ):
        assert np.isfinite(logged[key]) and logged[key] >= 0, key
    assert logged["train/learning_rate"] == model.actor_learning_rate
    assert logged["train/condition_number"] >= 1.0


@pytest.mark.parametrize("advantages", ["compatible", "noise"])
def test_per_minibatch_rat_direction_against_the_exact_regularized_natural_gradient(advantages):
    """Per-minibatch directions against the whole-batch (F + lambda I)^-1 g, with the numbers.

    What the math guarantees, and is asserted: (1) one block = the whole batch gives the exact
    direction (cosine 1); (2) every minibatch direction x_b = (F_b + lambda I)^-1 g_b is an
    ascent direction of its own minibatch objective, g_b . x_b > 0; (3) as lambda grows, x_b
    turns into the vanilla minibatch gradient (cosine -> 1). The cosine between x_b and the
    exact whole-batch direction has no guaranteed value; it is printed, for advantages that a
    linear function of the scores explains up to noise ("compatible", the setting of natural
    gradients) and for pure noise.
    """
    model = _model(policy_kwargs={"net_arch": {"pi": [16, 16], "vf": [4]}})
    n, blocks = 256, 8
    obs, actions, old_log_prob, A = _batch(model, n=n, seed=3)
    H, rho = _dense(model, obs, actions, old_log_prob)
    if advantages == "compatible":
        gen = th.Generator().manual_seed(5)
        A = H @ th.randn(H.shape[1], generator=gen, dtype=th.float64)
        A = (A / A.std() + 0.5 * th.randn(n, generator=gen, dtype=th.float64)).float()
    lam = model.tikhonov_lambda
    exact = _natural_gradient(H, rho, A.double(), lam)
    whole = _flat(model.rat_direction(obs, actions, old_log_prob, A).direction, model)
    assert _cosine(whole, exact) > 1 - 1e-5

    cos_rat, cos_vanilla = [], []
    for idx in th.randperm(n, generator=th.Generator().manual_seed(4)).split(n // blocks):
        x_b = _flat(model.rat_direction(obs[idx], actions[idx], old_log_prob[idx], A[idx]).direction, model)
        g_b = H[idx].T @ (rho[idx] * A[idx].double()) / len(idx)
        assert float(g_b @ x_b) > 0
        cos_rat.append(_cosine(x_b, exact))
        cos_vanilla.append(_cosine(g_b, exact))
        model.tikhonov_lambda = 1e6
        x_big = _flat(model.rat_direction(obs[idx], actions[idx], old_log_prob[idx], A[idx]).direction, model)
        model.tikhonov_lambda = lam
        assert _cosine(x_big, g_b) > 1 - 1e-4
    print(
        f"\n{advantages} advantages, cosine to exact (F + {lam} I)^-1 g (n={n}, P={H.shape[1]}, "
        f"{blocks} blocks of {n // blocks}): whole batch {_cosine(whole, exact):.6f}; per-minibatch RAT "
        f"mean {np.mean(cos_rat):.3f} (min {np.min(cos_rat):.3f}); per-minibatch vanilla gradient "
        f"mean {np.mean(cos_vanilla):.3f}"
    )


# -- the policy and the SB3 contract ------------------------------------------------------------
def test_actor_and_critic_share_no_parameter_and_the_default_network_is_the_authors():
    model = _model(policy_kwargs={})
    policy = model.policy
    actor = {id(p) for p in policy.actor_parameters()}
    critic = {id(p) for p in policy.critic_parameters()}
    assert not actor & critic and actor | critic == {id(p) for p in policy.parameters()}
    assert id(policy.log_std) in actor and policy.log_std.shape == (1,)
    assert [m.out_features for m in policy.mlp_extractor.policy_net if isinstance(m, th.nn.Linear)] == [
        256,
        256,
    ]
    assert [m.out_features for m in policy.mlp_extractor.value_net if isinstance(m, th.nn.Linear)] == [
        256,
        256,
    ]
    assert any(isinstance(m, th.nn.ReLU) for m in policy.mlp_extractor.policy_net)
    assert isinstance(policy.optimizer, th.optim.SGD) and isinstance(model.critic_optimizer, th.optim.Adam)
    # actor_log_prob is SB3's DiagGaussian log-likelihood.
    obs, actions = th.randn(7, 3), th.randn(7, 1)
    with th.no_grad():
        expected = policy.get_distribution(obs).log_prob(actions)
        assert th.allclose(policy.actor_log_prob(obs, actions), expected, atol=1e-5)


def test_save_load_round_trip_and_predict(tmp_path):
    model = _model(learning_rate=0.05)
    model.learn(128)
    assert model.num_timesteps == 128
    model.save(tmp_path / "rat.zip")
    loaded = RAT.load(tmp_path / "rat.zip", env=make_vec_env("Pendulum-v1", n_envs=1, seed=1), device="cpu")
    assert loaded.actor_learning_rate == model.actor_learning_rate
    for (name, a), b in zip(
        model.policy.state_dict().items(), loaded.policy.state_dict().values(), strict=True
    ):
        assert th.equal(a, b), name
    assert isinstance(loaded.policy.optimizer, th.optim.SGD)
    assert (
        loaded.critic_optimizer.state_dict()["state"].keys()
        == model.critic_optimizer.state_dict()["state"].keys()
    )
    obs = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    a1, _ = model.predict(obs, deterministic=True)
    a2, _ = loaded.predict(obs, deterministic=True)
    assert a1.shape == (4, 1) and np.array_equal(a1, a2) and (np.abs(a1) <= 2.0).all()
    loaded.learn(64, reset_num_timesteps=False)  # a loaded model trains on
    assert loaded.num_timesteps == 192


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tikhonov_lambda": 0.0}, "tikhonov_lambda must be > 0, got 0.0"),
        ({"ratio_clip": (1.5, 10.0)}, r"ratio_clip must be \(low, high\) with 0 < low <= 1 <= high"),
        ({"learning_rate": -0.1}, "learning_rate must be > 0, got -0.1"),
        ({"kl_adapt_factor": 1.0}, "kl_adapt_factor must be > 1"),
        ({"max_learning_rate": 1e-5}, "max_learning_rate must be >= min_learning_rate"),
        ({"n_minibatches": 0}, "n_minibatches must be >= 1"),
        ({"target_kl": 0.0}, "target_kl must be > 0"),
        ({"gamma": 1.5}, "gamma must be in"),
        ({"policy_kwargs": {"share_features_extractor": True}}, "share_features_extractor=False"),
        ({"policy_kwargs": {"use_sde": True}}, "gSDE"),
    ],
)
def test_bad_constructor_values_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _model(**kwargs)


def test_learning_rate_schedule_is_refused():
    with pytest.raises(TypeError, match="learning_rate must be a number > 0 .*no schedule"):
        _model(learning_rate=lambda _: 0.1)


def test_discrete_actions_are_refused():
    with pytest.raises(AssertionError, match="only supports"):
        RAT("RATPolicy", make_vec_env("CartPole-v1"), device="cpu")


# -- config and harness ------------------------------------------------------------------------
def _defaults(function) -> dict:
    return {
        name: p.default
        for name, p in inspect.signature(function).parameters.items()
        if p.default is not inspect.Parameter.empty and not name.startswith("_")
    }


def test_algo_config_carries_the_class_defaults():
    conf = OmegaConf.to_container(OmegaConf.load(CONF / "algo" / "rat.yaml"))
    assert conf["name"] == "rat" and conf["family"] == "on_policy" and "action_noise" not in conf
    model = conf["model"]
    assert model.pop("_target_") == "algos.rat.RAT" and model.pop("policy") == "RATPolicy"
    policy_kwargs = model.pop("policy_kwargs")
    defaults = _defaults(RAT.__init__)
    for key, value in model.items():
        default = defaults[key]
        assert (list(default) if isinstance(default, tuple) else default) == value, key
    # every constructor argument but the SB3 plumbing is listed
    plumbing = {"stats_window_size", "tensorboard_log", "policy_kwargs", "verbose", "seed", "device"}
    assert set(defaults) - plumbing == set(model)
    assert policy_kwargs["net_arch"] == {"pi": [256, 256], "vf": [256, 256]}
    assert policy_kwargs["activation_fn"]["path"] == "torch.nn.ReLU"
    assert policy_kwargs["log_std_init"] == 0.0


@pytest.mark.parametrize("env_name", ENVS)
def test_config_composes_and_builds_through_the_harness(env_name):
    cfg = make_config("algo=rat", f"env={env_name}")
    assert cfg.algo.model._target_ == "algos.rat.RAT" and cfg.env.normalize.norm_obs
    n_envs = cfg.env.n_envs
    # every task keeps 2048 transitions per update: 8 solves of n = 256
    assert cfg.algo.model.n_steps * n_envs == 2048
    venv = make_vec_env(cfg.env.id, n_envs=1, seed=0)
    model = build_algorithm(cfg.algo, venv, seed=0)
    venv.close()
    assert isinstance(model, RAT) and isinstance(model.policy, RATPolicy)
    assert isinstance(model.policy.mlp_extractor.policy_net[1], th.nn.ReLU)
    assert model.tikhonov_lambda == 0.1 and model.ratio_clip == (0.1, 10.0)
    # the author's gamma, except on Pendulum-v1 where tuned/rat_pendulum.yaml takes the zoo's 0.9
    assert model.gamma == (0.9 if env_name == "pendulum" else 0.999)


@pytest.mark.slow
def test_randbench_train_rat_pendulum_completes(tmp_path):
    result = randbench(
        [
            "train", "algo=rat", "env=pendulum", "budget=1024", "eval.freq=512", "eval.n_episodes=1",
            "algo.model.n_steps=128", "algo.model.n_epochs=1", "algo.model.n_minibatches=2",
            f"output.root={tmp_path}", "sweep_name=tiny", "progress=false",
        ],
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = tmp_path / "tiny" / "pendulum" / "rat" / "seed0"
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["timesteps"] >= 1024
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert len(metrics) >= 2 and np.isfinite(metrics["eval_return_mean"]).all()
    assert (run_dir / "model.zip").stat().st_size > 0 and (run_dir / "vecnormalize.pkl").exists()
