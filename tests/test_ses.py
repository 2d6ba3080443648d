"""Structured ES (algos/ses): samplers, estimators, Toeplitz and Hadamard hot paths, policies, the
algorithm's life cycle and its config."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import scipy.linalg
import scipy.stats
import torch as th
from gymnasium import spaces
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from sb3_contrib import ARS
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

from algos.ses import (
    SAMPLERS,
    GaussianSampler,
    HadamardSampler,
    LinearPolicy,
    MlpPolicy,
    OrthogonalSampler,
    StructuredES,
    ToeplitzLinear,
    ToeplitzPolicy,
    antithetic_gradient,
    forward_gradient,
    fwht,
    make_sampler,
    next_power_of_two,
    toeplitz_matrix,
)

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def gen(seed: int) -> th.Generator:
    return th.Generator().manual_seed(seed)


def box(n: int, low: float = -1.0, high: float = 1.0) -> spaces.Box:
    return spaces.Box(low, high, shape=(n,), dtype=np.float32)


class ConstantRewardEnv(gym.Env):
    """Reward 1 per step, 10 steps per episode, whatever the action."""

    observation_space = box(2)
    action_space = box(1)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.normal(size=2).astype(np.float32), {}

    def step(self, action):
        self.t += 1
        return self.np_random.normal(size=2).astype(np.float32), 1.0, False, self.t >= 10, {}


# -- fast Walsh-Hadamard transform -------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 4, 8, 64, 256])
def test_fwht_equals_dense_hadamard_product(n):
    x = th.randn(3, 5, n, generator=gen(n), dtype=th.float64)
    dense = th.as_tensor(scipy.linalg.hadamard(n), dtype=th.float64)
    assert th.allclose(fwht(x, normalized=False), x @ dense, atol=1e-10)
    assert th.allclose(fwht(x), x @ dense / np.sqrt(n), atol=1e-12)
    assert th.allclose(fwht(fwht(x)), x, atol=1e-12)  # normalized H is orthogonal and symmetric


def test_fwht_and_padding_refuse_bad_sizes():
    with pytest.raises(ValueError, match="power of two, got 12"):
        fwht(th.zeros(2, 12))
    with pytest.raises(ValueError, match="n >= 1"):
        next_power_of_two(0)
    assert [next_power_of_two(n) for n in (1, 2, 3, 33, 64, 257)] == [1, 2, 4, 64, 64, 512]


# -- Toeplitz matrices -------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (41, 11), (3, 41), (41, 41)])
def test_toeplitz_matrix_equals_scipy(shape):
    n_rows, n_cols = shape
    diagonals = th.randn(n_rows + n_cols - 1, generator=gen(0), dtype=th.float64)
    d = diagonals.numpy()
    expected = scipy.linalg.toeplitz(d[n_cols - 1 :], d[n_cols - 1 :: -1])  # first column, first row
    np.testing.assert_array_equal(toeplitz_matrix(diagonals, n_rows, n_cols).numpy(), expected)


def test_toeplitz_layer_product_equals_dense_product():
    layer = ToeplitzLinear(11, 41).double()
    x = th.randn(6, 11, generator=gen(1), dtype=th.float64)
    diagonals = layer.diagonals.detach().numpy()
    dense = scipy.linalg.toeplitz(diagonals[10:], diagonals[10::-1])
    expected = x.numpy() @ dense.T + layer.bias.detach().numpy()
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, atol=1e-12)
    assert sum(p.numel() for p in layer.parameters()) == 11 + 41 - 1 + 41
    assert "_index" not in layer.state_dict()  # rebuilt from the sizes, not saved


def test_toeplitz_matrix_refuses_wrong_number_of_diagonals():
    with pytest.raises(ValueError, match="needs 5 diagonals, got 4"):
        toeplitz_matrix(th.zeros(4), 3, 3)


# -- samplers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(SAMPLERS))
@pytest.mark.parametrize("n_directions,dim", [(3, 16), (16, 16), (40, 16), (5, 13)])
def test_sampler_shapes_and_dtype(name, n_directions, dim):
    directions = make_sampler(name).sample(n_directions, dim, gen(0), th.float32)
    assert directions.shape == (n_directions, dim) and directions.dtype == th.float32
    assert th.isfinite(directions).all()


def test_orthogonal_blocks_are_orthogonal_with_chi_norms():
    dim = 16
    directions = OrthogonalSampler().sample(3 * dim + 5, dim, gen(0), th.float64)
    for start in range(0, len(directions), dim):
        block = directions[start : start + dim]
        unit = block / block.norm(dim=1, keepdim=True)
        gram = unit @ unit.T
        assert th.allclose(gram, th.eye(len(block), dtype=th.float64), atol=1e-12)
    # Different blocks are independent, hence not orthogonal to each other.
    assert (directions[:dim] @ directions[dim : 2 * dim].T).abs().max() > 1.0


def test_hadamard_blocks_are_exactly_orthogonal():
    dim = 64  # a power of two: no padding
    directions = HadamardSampler(rounds=3).sample(2 * dim, dim, gen(0), th.float64)
    for block in (directions[:dim], directions[dim:]):
        assert th.allclose(block @ block.T, dim * th.eye(dim, dtype=th.float64), atol=1e-9)


def test_hadamard_padding_keeps_identity_covariance():
    # d = 24 pads to p = 32; the truncated rows keep E[eps eps^T] = I_d.
    directions = HadamardSampler().sample(20_000, 24, gen(0), th.float64)
    covariance = directions.T @ directions / len(directions)
    assert th.allclose(covariance, th.eye(24, dtype=th.float64), atol=0.05)


@pytest.mark.parametrize("sampler", [GaussianSampler(), OrthogonalSampler()])
def test_gaussian_and_orthogonal_rows_are_marginally_standard_normal(sampler):
    dim = 16
    directions = sampler.sample(20_000, dim, gen(1), th.float64).numpy()
    # Each coordinate is N(0, 1) and each squared norm chi-squared with d degrees of freedom.
    assert scipy.stats.kstest(directions[:, 3], "norm").pvalue > 1e-3
    assert scipy.stats.kstest((directions**2).sum(axis=1), "chi2", args=(dim,)).pvalue > 1e-3
    covariance = directions.T @ directions / len(directions)
    np.testing.assert_allclose(covariance, np.eye(dim), atol=0.05)


def test_hadamard_rows_have_gaussian_moments_after_three_rounds():
    dim = 64
    entries = HadamardSampler(rounds=3).sample(4_000, dim, gen(2), th.float64).numpy()
    np.testing.assert_allclose(np.linalg.norm(entries, axis=1), np.sqrt(dim), rtol=1e-12)
    assert abs(entries.mean()) < 0.01 and abs(entries.var() - 1) < 0.01
    assert abs(scipy.stats.kurtosis(entries.ravel())) < 0.3  # Gaussian: 0 excess kurtosis
    assert scipy.stats.kstest(entries[:, 5], "norm").statistic < 0.05
    # One round gives +-1 entries (excess kurtosis -2): the rounds are what makes it Gaussian.
    one_round = HadamardSampler(rounds=1).sample(4_000, dim, gen(2), th.float64).numpy()
    assert scipy.stats.kurtosis(one_round.ravel()) < -1.9


def test_samplers_refuse_bad_arguments():
    with pytest.raises(ValueError, match="unknown sampler 'sobol'; accepted: gaussian, orthogonal, hadamard"):
        make_sampler("sobol")
    with pytest.raises(ValueError, match="hadamard_rounds must be an integer >= 1, got 0"):
        HadamardSampler(rounds=0)
    with pytest.raises(ValueError, match="n_directions >= 1"):
        GaussianSampler().sample(0, 4)


def test_samplers_are_reproducible_from_the_generator():
    for name in SAMPLERS:
        sampler = make_sampler(name)
        assert th.equal(sampler.sample(7, 10, gen(5)), sampler.sample(7, 10, gen(5)))


# -- estimators --------------------------------------------------------------------------------
def quadratic(dim: int):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(dim, dim))
    a = th.as_tensor(a @ a.T / dim)
    b = th.as_tensor(rng.normal(size=dim))
    theta = th.as_tensor(rng.normal(size=dim))

    def f(x):
        return 0.5 * ((x @ a) * x).sum(-1) + x @ b

    return f, theta, a @ theta + b


def test_antithetic_estimator_is_exact_on_a_quadratic_with_a_full_hadamard_block():
    # f(x + s e) - f(x - s e) = 2 s grad.e for a quadratic, and a full Hadamard block has
    # sum_i e_i e_i^T = d I, so the estimate equals the gradient up to rounding.
    f, theta, gradient = quadratic(32)
    sigma = 0.1
    directions = HadamardSampler().sample(32, 32, gen(0), th.float64)
    estimate = antithetic_gradient(
        f(theta + sigma * directions), f(theta - sigma * directions), directions, sigma
    )
    assert th.allclose(estimate, gradient, atol=1e-10)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_estimators_recover_the_gradient_of_a_quadratic_with_many_directions(name):
    # Unbiased for every sampler: with N = 20 000 directions the relative error is within 5 %.
    f, theta, gradient = quadratic(8)
    sigma = 0.05
    directions = make_sampler(name).sample(20_000, 8, gen(1), th.float64)
    plus, minus = f(theta + sigma * directions), f(theta - sigma * directions)
    for estimate in (
        antithetic_gradient(plus, minus, directions, sigma),
        forward_gradient(plus, f(theta), directions, sigma),
    ):
        assert (estimate - gradient).norm() / gradient.norm() < 0.05


@pytest.mark.parametrize("estimator", ["antithetic", "forward"])
def test_structured_samplers_have_lower_mean_squared_error_than_gaussian(estimator):
    # The paper's claim (Choromanski et al. 2018, Theorems 3-4), measured: N = d = 16 directions,
    # 300 repetitions, a fixed smooth non-quadratic function; mean squared error to the true gradient.
    dim, sigma, repetitions = 16, 1e-2, 300
    weights = th.randn(dim, dim, generator=gen(1), dtype=th.float64) / 4
    theta = th.randn(dim, generator=gen(2), dtype=th.float64)

    def f(x):
        return th.sin(x @ weights.T).sum(-1) + 0.1 * (x**2).sum(-1)

    x = theta.clone().requires_grad_()
    f(x).backward()
    gradient = x.grad
    mse = {}
    for name in SAMPLERS:
        sampler, generator, errors = make_sampler(name), gen(3), []
        for _ in range(repetitions):
            directions = sampler.sample(dim, dim, generator, th.float64)
            plus = f(theta + sigma * directions)
            if estimator == "antithetic":
                estimate = antithetic_gradient(plus, f(theta - sigma * directions), directions, sigma)
            else:
                estimate = forward_gradient(plus, f(theta), directions, sigma)
            errors.append(((estimate - gradient) ** 2).sum().item())
        mse[name] = np.mean(errors)
    assert mse["orthogonal"] < 0.5 * mse["gaussian"]
    assert mse["hadamard"] < 0.5 * mse["gaussian"]


def test_estimators_refuse_bad_arguments():
    directions = th.zeros(4, 3)
    with pytest.raises(ValueError, match="sigma must be > 0, got 0"):
        antithetic_gradient(th.zeros(4), th.zeros(4), directions, 0.0)
    with pytest.raises(ValueError, match=r"returns of shape \(N,\), got \(4, 3\) and \(5,\)"):
        forward_gradient(th.zeros(5), 0.0, directions, 0.1)


# -- policies ----------------------------------------------------------------------------------
@pytest.mark.parametrize("s,a,h", [(11, 3, 41), (3, 1, 16), (24, 4, 41), (8, 2, 7), (376, 17, 64)])
def test_toeplitz_parameter_count_formula(s, a, h):
    policy = ToeplitzPolicy(box(s, -np.inf, np.inf), box(a), net_arch=[h, h])
    assert policy.n_parameters == s + a + 6 * h - 3
    dense = MlpPolicy(box(s, -np.inf, np.inf), box(a), net_arch=[h, h])
    assert dense.n_parameters == s * h + h + h * h + h + h * a
    assert LinearPolicy(box(s, -np.inf, np.inf), box(a)).n_parameters == s * a


def test_toeplitz_policy_on_hopper_has_257_parameters():
    model = StructuredES("ToeplitzPolicy", gym.make("Hopper-v5"), policy_kwargs={"net_arch": [41, 41]})
    assert model.parameter_counts() == {"total": 257, "trainable": 257}


def test_toeplitz_policy_computes_the_paper_network_and_scales_to_the_action_bounds():
    action_space = spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32))
    policy = ToeplitzPolicy(box(5, -np.inf, np.inf), action_space, net_arch=[6, 6])
    obs = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    layers = [m for m in policy.action_net if isinstance(m, ToeplitzLinear)]

    def dense(layer):
        d = layer.diagonals.detach().numpy()
        return scipy.linalg.toeplitz(d[layer.in_features - 1 :], d[layer.in_features - 1 :: -1])

    hidden = np.tanh(obs @ dense(layers[0]).T + layers[0].bias.detach().numpy())
    hidden = np.tanh(hidden @ dense(layers[1]).T + layers[1].bias.detach().numpy())
    squashed = np.tanh(hidden @ dense(layers[2]).T)
    expected = action_space.low + (squashed + 1) / 2 * (action_space.high - action_space.low)
    actions, _ = policy.predict(obs, deterministic=True)
    np.testing.assert_allclose(actions, expected, rtol=1e-5, atol=1e-5)
    assert layers[2].bias is None


def test_linear_policy_clips_like_ars():
    policy = LinearPolicy(box(2, -np.inf, np.inf), box(1))
    policy.load_from_vector(np.array([10.0, 0.0]))
    actions, _ = policy.predict(np.array([[1.0, 0.0], [-0.01, 3.0]], dtype=np.float32))
    np.testing.assert_allclose(actions[:, 0], [1.0, -0.1], atol=1e-6)


def test_policies_refuse_bad_options():
    obs = box(3, -np.inf, np.inf)
    with pytest.raises(ValueError, match="LinearPolicy has no hidden layers, got net_arch=\\[16\\]"):
        LinearPolicy(obs, box(1), net_arch=[16])
    with pytest.raises(ValueError, match="needs a continuous \\(Box\\) action space, got Discrete"):
        ToeplitzPolicy(obs, spaces.Discrete(3))
    with pytest.raises(ValueError, match="net_arch must be a list of positive integers"):
        ToeplitzPolicy(obs, box(1), net_arch=[0, 4])
    with pytest.raises(ValueError, match="must be finite"):
        ToeplitzPolicy(obs, box(1, -np.inf, np.inf))


# -- the algorithm -----------------------------------------------------------------------------
def test_gaussian_antithetic_sgd_on_a_linear_policy_is_ars():
    kwargs = {
        "n_delta": 4,
        "n_top": 2,
        "learning_rate": 0.02,
        "delta_std": 0.05,
        "alive_bonus_offset": -0.5,
        "zero_policy": True,
        "seed": 3,
    }
    ars = ARS("LinearPolicy", gym.make("Pendulum-v1"), **kwargs).learn(2_000)
    ses = StructuredES("LinearPolicy", gym.make("Pendulum-v1"), sampler="gaussian", **kwargs).learn(2_000)
    assert ses.num_timesteps == ars.num_timesteps == 3_200
    assert th.allclose(ses.weights, ars.weights, atol=1e-6)
    assert not th.equal(ses.weights, th.zeros_like(ses.weights))


class LifeCycleProbe(BaseCallback):
    """Records what the harness relies on: unperturbed weights at rollout start, one on_step per env step."""

    def __init__(self):
        super().__init__()
        self.starts_match, self.steps, self.episodes_per_update = [], 0, []

    def _on_rollout_start(self):
        policy_vector = th.nn.utils.parameters_to_vector(self.model.policy.parameters())
        self.starts_match.append(bool(th.equal(policy_vector, self.model.weights)))

    def _on_step(self):
        self.steps += 1
        return True

    def _on_rollout_end(self):
        self.episodes_per_update.append(len(self.model.ep_info_buffer))


@pytest.mark.parametrize("estimator,episodes", [("antithetic", 10), ("forward", 6)])
@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_life_cycle_follows_ars_for_every_sampler_and_estimator(sampler, estimator, episodes):
    probe = LifeCycleProbe()
    model = StructuredES(
        "ToeplitzPolicy",
        ConstantRewardEnv(),
        n_delta=5,
        sampler=sampler,
        estimator=estimator,
        policy_kwargs={"net_arch": [4, 4]},
        seed=0,
    )
    initial = model.weights.clone()
    model.learn(3 * episodes * 10, callback=probe)
    assert probe.starts_match == [True, True, True]
    assert probe.steps == model.num_timesteps == 3 * episodes * 10
    assert probe.episodes_per_update == [episodes] * 3
    assert model.pop_size == episodes
    # Reward 1 per step: every candidate has the same return, so no update moves theta.
    assert th.equal(model.weights, initial)


def test_alive_bonus_offset_is_training_only():
    # With the offset cancelling the bonus every training return is 0 (no step); the recorded
    # episode returns are still the env's.
    model = StructuredES("LinearPolicy", ConstantRewardEnv(), n_delta=2, alive_bonus_offset=-1, seed=0)
    model.learn(40)
    assert [info["r"] for info in model.ep_info_buffer] == [10.0] * 4


def test_structured_es_improves_a_quadratic_reward():
    # One-step episodes with reward -|a - 0.5|^2: the update must move the action towards 0.5.
    class Target(ConstantRewardEnv):
        def step(self, action):
            return np.zeros(2, np.float32), -float(((action - 0.5) ** 2).sum()), True, False, {}

        def reset(self, *, seed=None, options=None):
            return np.ones(2, np.float32), {}

    for optimizer in ("sgd", "adam"):
        model = StructuredES(
            "LinearPolicy",
            Target(),
            n_delta=4,
            sampler="orthogonal",
            optimizer=optimizer,
            learning_rate=0.05,
            delta_std=0.05,
            zero_policy=True,
            seed=0,
        )
        model.learn(400)
        action, _ = model.predict(np.ones(2, np.float32), deterministic=True)
        assert abs(action[0] - 0.5) < 0.1, optimizer


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_save_load_round_trip_keeps_the_search_state(tmp_path, optimizer):
    env = make_vec_env("Pendulum-v1", n_envs=1, seed=0)
    model = StructuredES(
        "ToeplitzPolicy",
        VecNormalize(env, norm_reward=False),
        n_delta=2,
        sampler="hadamard",
        estimator="forward",
        optimizer=optimizer,
        policy_kwargs={"net_arch": [8, 8]},
        seed=0,
    )
    model.learn(1_200)
    model.save(tmp_path / "model.zip")
    loaded = StructuredES.load(tmp_path / "model.zip")
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(obs)[0], model.predict(obs)[0])
    assert th.equal(loaded.weights, model.weights)  # training goes on from the loaded theta
    assert (loaded.sampler, loaded.estimator, loaded.optimizer_name) == ("hadamard", "forward", optimizer)
    if optimizer == "adam":
        assert (
            loaded.optimizer.state_dict()["state"][0]["step"]
            == model.optimizer.state_dict()["state"][0]["step"]
        )


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"sampler": "sobol"}, "unknown sampler 'sobol'; accepted: gaussian, orthogonal, hadamard"),
        ({"estimator": "central"}, "unknown estimator 'central'; accepted: antithetic, forward"),
        ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'; accepted: sgd, adam"),
        ({"n_delta": 0}, "n_delta must be an integer >= 1, got 0"),
        ({"n_delta": 4, "n_top": 5}, r"n_top must be an integer in \[1, n_delta=4\] or None, got 5"),
        ({"delta_std": 0.0}, "delta_std must be > 0"),
        ({"learning_rate": -1.0}, "learning_rate must be > 0"),
        ({"hadamard_rounds": 0}, "hadamard_rounds must be an integer >= 1, got 0"),
        ({"n_eval_episodes": 0}, "n_eval_episodes must be an integer >= 1, got 0"),
    ],
)
def test_bad_options_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StructuredES("ToeplitzPolicy", "Pendulum-v1", **kwargs)


def test_discrete_action_space_is_refused():
    with pytest.raises(ValueError, match="needs a continuous \\(Box\\) action space, got Discrete"):
        StructuredES("ToeplitzPolicy", "CartPole-v1")


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="CirculantPolicy"):
        StructuredES("CirculantPolicy", "Pendulum-v1")


# -- config ------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_name", ["pendulum", "lunarlander", "bipedalwalker", "hopper", "humanoid"])
def test_config_builds_structured_es_with_sampler_override(env_name):
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose("config", overrides=["algo=ses", f"env={env_name}", "algo.model.sampler=hadamard"])
    assert cfg.algo.name == "ses" and cfg.algo.family == "evolution" and "action_noise" not in cfg.algo
    assert cfg.env.normalize.norm_obs and not cfg.env.normalize.norm_reward
    venv = make_vec_env(cfg.env.id, n_envs=1, seed=0)
    model = instantiate(cfg.algo.model, env=venv, seed=0, device="cpu", verbose=0, _convert_="all")
    venv.close()
    assert isinstance(model, StructuredES) and isinstance(model.policy, ToeplitzPolicy)
    assert model.sampler == "hadamard"
    h = cfg.algo.model.policy_kwargs.net_arch[0]
    s, a = venv.observation_space.shape[0], venv.action_space.shape[0]
    assert model.parameter_counts()["total"] == s + a + 6 * h - 3
