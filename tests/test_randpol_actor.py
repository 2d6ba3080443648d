"""RANDPOL's trust-region options and feature options: the natural step, the KL guard, Fourier
features and frozen observation normalization."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env

from algos.randpol import RANDPOL
from algos.randpol.buffers import FeatureRolloutBufferSamples
from algos.randpol.randpol import _ActorSnapshot, _line_kl, _step_for_kl, _StepState, adam_step


def _model(env_id: str = "LunarLanderContinuous-v3", policy_kwargs=None, **kwargs) -> RANDPOL:
    kwargs.setdefault("n_steps", 64)
    return RANDPOL(
        "RandomFeaturePolicy",
        make_vec_env(env_id, n_envs=1, seed=0),
        policy_kwargs={"net_arch": [6, 5]} if policy_kwargs is None else policy_kwargs,
        seed=0,
        device="cpu",
        **kwargs,
    )


def _rollout(model: RANDPOL, n: int = 200, seed: int = 1, advantage_scale: float = 1.0) -> FeatureRolloutBufferSamples:
    """A synthetic rollout: random non-negative features, actions from the current policy."""
    gen = th.Generator().manual_seed(seed)
    policy = model.policy
    n_features = policy.mlp_extractor.latent_dim_pi
    action_dim = policy.log_std.shape[0]
    psi = th.rand(n, n_features, generator=gen)
    with th.no_grad():
        mean = policy.mean_actions(psi)
        actions = mean + policy.log_std.exp() * th.randn(n, action_dim, generator=gen)
        log_prob, _ = policy.log_prob_from_features(psi, actions)
    advantages = advantage_scale * th.randn(n, generator=gen)
    zeros = th.zeros(n)
    return FeatureRolloutBufferSamples(
        th.zeros(n, 1), actions, zeros, log_prob, advantages, zeros, psi, psi
    )


def _snapshot(model: RANDPOL, rollout: FeatureRolloutBufferSamples) -> _ActorSnapshot:
    policy = model.policy
    with th.no_grad():
        return _ActorSnapshot(
            policy.action_net.weight.detach().clone(),
            policy.action_net.bias.detach().clone(),
            policy.log_std.detach().clone(),
            policy.mean_actions(rollout.pi_features),
        )


def _set_random_head(model: RANDPOL, seed: int = 3) -> None:
    gen = th.Generator().manual_seed(seed)
    with th.no_grad():
        head = model.policy.action_net
        head.weight.copy_(0.3 * th.randn(head.weight.shape, generator=gen))
        head.bias.copy_(0.1 * th.randn(head.bias.shape, generator=gen))
        model.policy.log_std.copy_(th.tensor([-0.4, 0.2]))


def test_natural_step_equals_a_dense_solve_of_the_full_fisher():
    """The block-diagonal solve equals F^{-1} g with F the dense Fisher of all mean-head
    parameters, built from the Jacobian of the mean, and the step's exact KL is the target."""
    model = _model(actor_update="natural", natural_kl=0.03, natural_damping=0.0)
    _set_random_head(model)
    rollout = _rollout(model)
    policy = model.policy
    old = _snapshot(model, rollout)
    psi, actions, adv = rollout.pi_features.double(), rollout.actions.double(), rollout.advantages.double()
    sigma2 = th.exp(2 * old.log_std).double()

    # Dense: parameters theta = [vec(W), b]; mean(s) = W psi(s) + b; Fisher = E[J^T Sigma^-1 J].
    weight0, bias0 = old.weight.double(), old.bias.double()
    n_w = weight0.numel()

    def mean_of(theta: th.Tensor, features: th.Tensor) -> th.Tensor:
        weight = theta[:n_w].reshape(weight0.shape)
        return features @ weight.t() + theta[n_w:]

    theta0 = th.cat([weight0.flatten(), bias0])
    fisher = th.zeros(theta0.numel(), theta0.numel(), dtype=th.float64)
    for row in psi.split(1):
        jac = th.autograd.functional.jacobian(lambda t, row=row: mean_of(t, row)[0], theta0)
        fisher += jac.t() @ th.diag(1 / sigma2) @ jac
    fisher /= psi.shape[0]

    def objective(theta: th.Tensor) -> th.Tensor:
        z = (actions - mean_of(theta, psi)) / sigma2.sqrt()
        return (adv * (-0.5 * z.square()).sum(dim=1)).mean()

    gradient = th.autograd.functional.jacobian(objective, theta0)
    dense_direction = th.linalg.solve(fisher, gradient)

    log_std_before = policy.log_std.detach().clone()
    stats = model._natural_step(rollout, rollout.advantages, old)
    eta = stats["natural_step_size"]
    step = th.cat([(policy.action_net.weight.detach() - old.weight).flatten(), policy.action_net.bias.detach() - old.bias])
    assert eta > 0
    np.testing.assert_allclose(step.double().numpy(), (eta * dense_direction).numpy(), rtol=2e-4, atol=1e-6)
    # the log-std moved by its own natural gradient (Fisher 2 per dimension)
    log_std_gradient = (adv[:, None] * ((actions - old.mean.double()).square() / sigma2 - 1)).mean(dim=0)
    np.testing.assert_allclose(
        (policy.log_std.detach() - log_std_before).double().numpy(), (eta * log_std_gradient / 2).numpy(), rtol=2e-4
    )
    # the exact KL of the step, measured on the rollout's states, is the target
    assert model._kl_from(old, rollout.pi_features) == pytest.approx(0.03, rel=1e-5)


def test_step_for_kl_is_closed_form_for_a_fixed_std_and_exact_otherwise():
    mean_square = th.tensor([0.5, 2.0], dtype=th.float64)
    sigma2 = th.tensor([0.3, 1.5], dtype=th.float64)
    fixed = _step_for_kl(0.07, mean_square, th.zeros(2, dtype=th.float64), sigma2)
    # KL = t^2 / 2 * sum(m / sigma^2) for a fixed std
    assert fixed == pytest.approx((2 * 0.07 / float((mean_square / sigma2).sum())) ** 0.5, rel=1e-12)
    assert _line_kl(fixed, mean_square, th.zeros(2, dtype=th.float64), sigma2) == pytest.approx(0.07, rel=1e-12)
    log_std_change = th.tensor([0.4, -1.1], dtype=th.float64)
    moving = _step_for_kl(0.07, mean_square, log_std_change, sigma2)
    assert _line_kl(moving, mean_square, log_std_change, sigma2) == pytest.approx(0.07, rel=1e-10)
    # the closed form against torch's Gaussian KL at one state
    old = th.distributions.Normal(th.zeros(2, dtype=th.float64), sigma2.sqrt())
    new = th.distributions.Normal(moving * mean_square.sqrt(), (sigma2 * th.exp(2 * moving * log_std_change)).sqrt())
    assert float(th.distributions.kl_divergence(old, new).sum()) == pytest.approx(0.07, rel=1e-10)
    assert _step_for_kl(0.07, th.zeros(2, dtype=th.float64), th.zeros(2, dtype=th.float64), sigma2) == 0.0


@pytest.mark.parametrize("actor_update", ["pg", "clip"])
def test_kl_guard_holds_on_a_rollout_built_to_provoke_a_large_step(actor_update):
    """Advantages in the thousands, unnormalized, and a learning rate of 1: without the guard
    the update moves the policy by a KL far past the limit; with it, by the limit exactly."""
    kwargs = {"actor_update": actor_update, "learning_rate": 1.0, "n_epochs": 5, "normalize_advantage": False}
    if actor_update == "clip":
        kwargs["clip_range"] = 10.0
    free, guarded = _model(**kwargs), _model(max_kl=0.05, **kwargs)
    kls = {}
    for name, model in (("free", free), ("guarded", guarded)):
        _set_random_head(model)
        rollout = _rollout(model, advantage_scale=1000.0)
        old = _snapshot(model, rollout)
        stats = model._update_actor(rollout)
        kls[name] = (model._kl_from(old, rollout.pi_features), stats)
    assert kls["free"][0] > 1.0
    assert kls["guarded"][0] == pytest.approx(0.05, rel=1e-4)
    assert kls["guarded"][1]["kl"] == pytest.approx(0.05, rel=1e-4)
    assert 0 < kls["guarded"][1]["kl_guard_scale"] < 1


def test_actor_update_options_are_checked():
    with pytest.raises(ValueError, match="actor_update must be one of"):
        _model(actor_update="trpo")
    with pytest.raises(ValueError, match="needs clip_range"):
        _model(actor_update="clip")
    with pytest.raises(ValueError, match="only used by actor_update='clip'"):
        _model(actor_update="natural", clip_range=0.2)
    with pytest.raises(ValueError, match="natural_kl must be > 0"):
        _model(actor_update="natural", natural_kl=0.0)
    with pytest.raises(ValueError, match="max_kl must be > 0"):
        _model(max_kl=-1.0)
    assert _model().resolved_actor_update == "pg"
    assert _model(clip_range=0.2).resolved_actor_update == "clip"


def test_natural_randpol_learns_and_logs_its_kl(tmp_path):
    model = _model(actor_update="natural", natural_kl=0.02, n_steps=128)
    model.learn(512)
    logged = model.logger.name_to_value
    assert logged["train/kl"] == pytest.approx(0.02, rel=1e-3)
    assert logged["train/natural_step_size"] > 0


def test_fourier_features_are_fixed_buffers_fitted_on_the_first_rollout_and_saved(tmp_path):
    model = _model(
        policy_kwargs={"net_arch": [32], "activation": "fourier", "normalize_obs": True}, n_steps=128
    )
    net = model.policy.mlp_extractor.pi_net
    assert net.needs_fit and model.policy.features_need_fit
    assert not any(name.endswith(("bandwidth", "input_mean")) for name in model.policy.random_buffers())
    model.learn(128)
    assert not model.policy.features_need_fit
    assert float(net.bandwidth) > 0 and not th.equal(net.input_mean, th.zeros_like(net.input_mean))
    # features are sin(...) of the standardized input, in [-1, 1]
    obs = th.as_tensor(model.rollout_buffer.observations.reshape(128, -1))
    features = model.policy.actor_features(obs)
    assert features.abs().max() <= 1.0
    # the stored rollout features are those of the frozen statistics
    np.testing.assert_allclose(model.rollout_buffer.pi_features.reshape(128, -1), features.numpy(), atol=1e-6)
    buffers = {name: b.clone() for name, b in model.policy.state_dict().items() if "mlp_extractor" in name}
    model.learn(256, reset_num_timesteps=False)
    for name, value in model.policy.state_dict().items():
        if "mlp_extractor" in name:
            assert th.equal(value, buffers[name]), f"{name} changed after the fit"
    model.save(tmp_path / "fourier.zip")
    loaded = RANDPOL.load(tmp_path / "fourier.zip", device="cpu")
    assert not loaded.policy.features_need_fit
    th.testing.assert_close(loaded.policy.actor_features(obs), features)
    with pytest.raises(RuntimeError, match="already fitted"):
        loaded.policy.fit_feature_inputs(obs)


def test_frozen_normalization_is_folded_into_the_first_layer():
    model = _model(policy_kwargs={"net_arch": [7, 5], "normalize_obs": True})
    net = model.policy.mlp_extractor.pi_net
    weight0, bias0 = net.weight_0.clone(), net.bias_0.clone()
    gen = th.Generator().manual_seed(0)
    obs = 3.0 + 2.0 * th.randn(300, 8, generator=gen)
    model.policy.fit_feature_inputs(obs)
    mean, std = obs.mean(dim=0), obs.std(dim=0)
    expected = th.relu((obs - mean) / std @ weight0.t() + bias0)
    first_layer = th.relu(th.addmm(net.bias_0, obs, net.weight_0.t()))
    th.testing.assert_close(first_layer, expected, rtol=1e-4, atol=1e-5)


def test_fourier_options_are_checked():
    with pytest.raises(ValueError, match=r"net_arch must be \[J\]"):
        _model(policy_kwargs={"net_arch": [8, 8], "activation": "fourier"})
    with pytest.raises(ValueError, match="fourier_bandwidth must be > 0"):
        _model(policy_kwargs={"net_arch": [8], "activation": "fourier", "fourier_bandwidth": 0.0})
    fixed = _model(policy_kwargs={"net_arch": [8], "activation": "fourier", "fourier_bandwidth": 2.0})
    assert not fixed.policy.features_need_fit


def test_a_completed_run_made_before_an_option_existed_is_the_same_run(tmp_path):
    """Options added to RANDPOL at the value that keeps the old behaviour do not make a
    completed run (whose config.yaml lacks them) another run; a non-default value does."""
    import json

    from omegaconf import OmegaConf

    from sweeps.run import completed_config_differences
    from tests.conftest import make_config

    # The tuned RANDPOL of before the actor options (the zoo's Hopper settings, none of them set).
    cfg = make_config("algo=randpol", "env=hopper", "tuned=randpol_zoo_hopper")
    old = OmegaConf.to_container(cfg, resolve=True)
    for key in ("actor_update", "natural_kl", "natural_damping", "max_kl"):
        del old["algo"]["model"][key]
    for key in ("normalize_obs", "fourier_bandwidth"):
        del old["algo"]["model"]["policy_kwargs"][key]
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(old))
    (tmp_path / "meta.json").write_text(json.dumps({"config_digest": "from an older randbench"}))
    assert completed_config_differences(cfg, tmp_path) == []
    changed = make_config("algo=randpol", "env=hopper", "tuned=randpol_zoo_hopper", "algo.model.max_kl=0.1", "algo.model.natural_kl=0.01")
    assert completed_config_differences(changed, tmp_path) == [
        "algo.model.max_kl: <absent> -> 0.1",
        "algo.model.natural_kl: <absent> -> 0.01",
    ]


def test_a_completed_run_whose_config_set_a_dropped_key_to_null_is_the_same_run(tmp_path):
    """A key that an older config set to null (``algo.action_noise: null`` of the on-policy
    configs) and the current config lacks reads alike (``.get()`` gives None): no difference.
    A dropped key that held a value is a difference."""
    import json

    from omegaconf import OmegaConf

    from sweeps.run import completed_config_differences
    from tests.conftest import make_config

    cfg = make_config("algo=ppo", "env=hopper")
    assert "action_noise" not in cfg.algo
    old = OmegaConf.to_container(cfg, resolve=True)
    old["algo"]["action_noise"] = None
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(old))
    (tmp_path / "meta.json").write_text(json.dumps({"config_digest": "from an older randbench"}))
    assert completed_config_differences(cfg, tmp_path) == []
    old["algo"]["action_noise"] = {"type": "normal", "std": 0.1}
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(old))
    assert completed_config_differences(cfg, tmp_path) == [
        "algo.action_noise.std: 0.1 -> <absent>",
        "algo.action_noise.type: 'normal' -> <absent>",
    ]


def _guarded_updates(guard_chunk: int, monkeypatch, **kwargs) -> tuple[RANDPOL, list[dict[str, float]], th.Tensor]:
    """Two actor updates of a fresh model, with the KL guard checked in chunks of ``guard_chunk``:
    the model, the updates' statistics and the torch random state after them."""
    monkeypatch.setattr(RANDPOL, "guard_chunk", guard_chunk)
    model = _model(**kwargs)
    _set_random_head(model)
    stats = []
    for seed in (1, 2):
        th.manual_seed(7)  # the minibatch shuffles
        stats.append(model._update_actor(_rollout(model, seed=seed)))
    return model, stats, th.get_rng_state()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"actor_update": "clip", "clip_range": 0.2, "batch_size": 16, "max_kl": 0.1},  # stops at step 12 of 65
        {"actor_update": "clip", "clip_range": 0.2, "batch_size": 16, "max_kl": 0.5},  # never stops
        {"actor_update": "pg", "batch_size": 16, "max_kl": 0.5, "max_grad_norm": 0.5, "actor_C": 50.0},
        {"actor_update": "pg", "batch_size": None, "max_kl": 0.1},  # whole-rollout steps
        {"actor_update": "clip", "clip_range": 0.2, "batch_size": 16, "max_kl": 0.5, "target_kl": 0.01},
    ],
)
def test_batched_kl_guard_takes_the_same_steps_as_a_check_after_every_step(kwargs, monkeypatch):
    """The guard's chunked check (one feature product for many steps, a chunk retaken step by step
    when it comes near the limit) is a speed change only: parameters, Adam state, statistics and
    the random state equal those of the exact check after every step."""
    kwargs = {"learning_rate": 0.05, "n_epochs": 5, **kwargs}
    reference, reference_stats, reference_rng = _guarded_updates(1, monkeypatch, **kwargs)
    for chunk in (5, 32):
        model, stats, rng = _guarded_updates(chunk, monkeypatch, **kwargs)
        assert stats == reference_stats
        assert th.equal(rng, reference_rng)
        for p, q in zip(model.policy.actor_parameters(), reference.policy.actor_parameters(), strict=True):
            assert th.equal(p, q)
            state, reference_state = model.policy.optimizer.state[p], reference.policy.optimizer.state[q]
            assert state.keys() == reference_state.keys()
            assert all(th.equal(state[k], reference_state[k]) for k in state)
    weight = reference.policy.action_net.weight
    steps = int(reference.policy.optimizer.state[weight]["step"])
    if kwargs.get("target_kl") is None and kwargs["max_kl"] == 0.1 and kwargs["batch_size"] == 16:
        assert 2 < steps < 2 * 65  # the guard stopped both updates after some steps, not at the first
        assert all(s["kl_guard_scale"] < 1 for s in reference_stats)


@pytest.mark.parametrize("clipped", [False, True])
def test_closed_form_actor_gradients_equal_autograds(clipped):
    """The actor's minibatch gradients written out equal autograd's on the same loss (PPO's clipped
    surrogate with ratios on both sides of the clip range, an entropy bonus)."""
    model = _model(clip_range=0.2 if clipped else None, ent_coef=0.01)
    _set_random_head(model)
    with th.no_grad():
        model.policy.log_std.copy_(th.tensor([-0.3, 0.4]))
    rollout = _rollout(model, n=300)
    gen = th.Generator().manual_seed(5)
    rollout = rollout._replace(old_log_prob=rollout.old_log_prob + 0.5 * th.randn(300, generator=gen))
    idx = th.randperm(300, generator=gen)[:64]
    advantages = rollout.advantages
    policy = model.policy
    params = policy.actor_parameters()

    log_prob, entropy = policy.log_prob_from_features(rollout.pi_features[idx], rollout.actions[idx])
    adv = advantages[idx]
    ratio = th.exp(log_prob - rollout.old_log_prob[idx])
    if clipped:
        assert ((ratio - 1).abs() > 0.2).float().mean() > 0.2  # the clip is active for some samples
        policy_loss = -th.min(ratio * adv, ratio.clamp(0.8, 1.2) * adv).mean()
    else:
        policy_loss = -(adv * log_prob).mean()
    expected = th.autograd.grad(policy_loss - 0.01 * entropy.mean(), params)

    state = _StepState()
    assert model._actor_gradients(rollout, advantages, clipped, idx, state)
    for param, grad in zip(params, expected, strict=True):
        assert param.grad is not None and param.grad.shape == param.shape
        np.testing.assert_allclose(param.grad.numpy(), grad.numpy(), rtol=1e-4, atol=1e-7)
    assert len(state.clip_fractions) == int(clipped)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_step_equals_optimizer_step_to_the_bit(weight_decay):
    """The heads' direct fused-Adam step gives the parameters and state of ``optimizer.step()``
    (two groups with their own learning rates, as the actor head and log-std have)."""
    def make() -> tuple[list[th.Tensor], th.optim.Adam]:
        gen = th.Generator().manual_seed(0)
        params = [th.randn(3, 50, generator=gen).requires_grad_(), th.randn(3, generator=gen).requires_grad_()]
        groups = [{"params": params[:1], "lr": 3e-4}, {"params": params[1:], "lr": 1e-2}]
        return params, th.optim.Adam(groups, eps=1e-5, weight_decay=weight_decay, fused=True)

    reference, reference_optimizer = make()
    direct, direct_optimizer = make()
    gen = th.Generator().manual_seed(1)
    for _ in range(5):
        grads = [th.randn(p.shape, generator=gen) for p in reference]
        for params, optimizer, step in ((reference, reference_optimizer, reference_optimizer.step),
                                        (direct, direct_optimizer, lambda o=direct_optimizer: adam_step(o))):
            for p, g in zip(params, grads, strict=True):
                p.grad = g.clone()
            step()
    for p, q in zip(direct, reference, strict=True):
        assert th.equal(p, q)
        state, expected = direct_optimizer.state[p], reference_optimizer.state[q]
        assert all(th.equal(state[k], expected[k]) for k in ("step", "exp_avg", "exp_avg_sq"))
    assert float(direct_optimizer.state[direct[0]]["step"]) == 5
    # anything else goes through step(): a non-fused Adam
    params = [th.zeros(2, requires_grad=True)]
    plain = th.optim.Adam(params, lr=0.1)
    params[0].grad = th.ones(2)
    adam_step(plain)
    adam_step(plain)
    assert float(plain.state[params[0]]["step"]) == 2 and bool((params[0] < 0).all())
