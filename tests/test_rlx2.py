"""RLx2 (algos/rlx2): masked layers, Erdos-Renyi allocation, RigL drop/grow, the delayed n-step
target, the dynamic-capacity buffer, FLOPs and parameter counts, save/load, configs and a run."""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from omegaconf import OmegaConf

from algos.rlx2 import (
    DynamicNStepReplayBuffer,
    MaskedLinear,
    RLx2SAC,
    RLx2TD3,
    cosine_drop_fraction,
    erdos_renyi_densities,
    sparsify_,
    update_topology_,
)
from algos.rlx2.sparse import n_active_weights
from baselines.build import build_algorithm
from envs.make import make_train_env
from tests.conftest import CONF, make_config, randbench

ENVS = ["pendulum", "lunarlander", "bipedalwalker", "hopper", "humanoid"]
SMALL = {
    "learning_starts": 100,
    "batch_size": 32,
    "buffer_size": 2_000,
    "buffer_min_size": 200,
    "policy_kwargs": {"net_arch": [32, 32]},
    "seed": 0,
    "device": "cpu",
}


def small(cls, **kwargs):
    return cls("MlpPolicy", "Pendulum-v1", **{**SMALL, **kwargs})


def all_layers(model):
    """(online, target or None) masked-layer pairs of actor and critic."""
    pairs = []
    for name in ("actor", "critic"):
        online = model._masked_layers[name]
        targets = model._target_masked_layers.get(name, [None] * len(online))
        pairs += list(zip(online, targets, strict=True))
    return pairs


def assert_masked_weights_zero(model):
    for layer, target in all_layers(model):
        assert th.count_nonzero(layer.weight[~layer.mask]) == 0
        if target is not None:
            assert th.equal(target.mask, layer.mask)
            assert th.count_nonzero(target.weight[~target.mask]) == 0


# -- Erdos-Renyi allocation --------------------------------------------------------------------
@pytest.mark.parametrize("sparsity", [0.5, 0.85, 0.9, 0.95])
@pytest.mark.parametrize(
    "shapes",
    [
        [(256, 11), (256, 256), (3, 256)],  # Hopper actor
        [(256, 14), (256, 256), (1, 256), (256, 14), (256, 256), (1, 256)],  # Hopper twin critic
        [(400, 17), (300, 400), (6, 300)],
    ],
)
def test_erdos_renyi_hits_the_target_sparsity_within_rounding(shapes, sparsity):
    densities = erdos_renyi_densities(shapes, sparsity)
    sizes = [o * i for o, i in shapes]
    active = sum(n_active_weights(n, d) for n, d in zip(sizes, densities, strict=True))
    assert abs((1 - active / sum(sizes)) - sparsity) <= len(shapes) / sum(sizes)
    assert all(0 < d <= 1 for d in densities)
    # non-dense layers: density proportional to (in + out) / (in * out)
    ratios = [d * o * i / (o + i) for (o, i), d in zip(shapes, densities, strict=True) if d < 1]
    assert max(ratios) == pytest.approx(min(ratios))


def test_erdos_renyi_makes_the_critic_output_layers_dense():
    densities = erdos_renyi_densities([(256, 14), (256, 256), (1, 256)] * 2, 0.85)
    assert densities[2] == densities[5] == 1.0 and densities[1] < 0.15


def test_erdos_renyi_refuses_bad_sparsity():
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\), got 1.0"):
        erdos_renyi_densities([(4, 4)], 1.0)


def test_sparsify_keeps_largest_initial_weights():
    th.manual_seed(0)
    layer = MaskedLinear(8, 8)
    before = layer.weight.detach().clone()
    (density,) = sparsify_([layer], 0.75)
    assert density == pytest.approx(0.25) and layer.n_active == 16
    assert before.abs()[layer.mask].min() >= before.abs()[~layer.mask].max()
    assert th.count_nonzero(layer.weight[~layer.mask]) == 0


# -- drop / grow -------------------------------------------------------------------------------
def test_topology_update_drops_smallest_grows_largest_gradient_at_zero():
    layer = MaskedLinear(4, 2, bias=False)
    with th.no_grad():
        layer.weight.copy_(th.tensor([[0.1, -0.5, 0.9, 0.0], [0.3, 0.0, -0.7, 0.0]]))
    layer.set_mask_(layer.weight != 0)  # 5 active
    layer.weight.grad = th.tensor([[0.0, 0.0, 0.0, 5.0], [0.0, 9.0, 0.0, 0.2]])
    stats = update_topology_(layer, drop_fraction=0.4, grow="gradient")  # int(5 * 0.4) = 2
    assert stats == {"dropped": 2, "grown": 2, "new": 2}
    expected = th.tensor([[False, True, True, True], [False, True, True, False]])  # 0.1, 0.3 dropped
    assert th.equal(layer.mask, expected)
    assert layer.weight[0, 3] == 0 and layer.weight[1, 1] == 0  # grown at zero
    assert layer.weight[0, 2].item() == pytest.approx(0.9) and layer.weight[1, 2].item() == pytest.approx(
        -0.7
    )
    assert th.count_nonzero(layer.weight[~layer.mask]) == 0


@pytest.mark.parametrize("grow", ["gradient", "random"])
def test_topology_update_keeps_the_active_count(grow):
    th.manual_seed(1)
    layer = MaskedLinear(32, 16)
    sparsify_([layer], 0.8)
    n_before, old = layer.n_active, layer.mask.clone()
    layer.weight.grad = th.randn_like(layer.weight)
    stats = update_topology_(layer, 0.3, grow)
    assert layer.n_active == n_before and stats["dropped"] == int(0.3 * n_before)
    assert (layer.weight[layer.mask & ~old] == 0).all()


def test_cosine_drop_fraction():
    assert cosine_drop_fraction(0, 100, 0.5) == pytest.approx(0.5)
    assert cosine_drop_fraction(50, 100, 0.5) == pytest.approx(0.25)
    assert cosine_drop_fraction(100, 100, 0.5) == pytest.approx(0.0)


# -- the algorithms ----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("cls", [RLx2TD3, RLx2SAC])
def test_training_topology_updates_and_save_load_keep_masked_weights_zero(cls, tmp_path):
    model = small(cls, topology_interval=25, multi_step_delay=100, buffer_check_interval=200)
    counts = [layer.n_active for layer, _ in all_layers(model)]
    initial_masks = [layer.mask.clone() for layer, _ in all_layers(model)]
    assert_masked_weights_zero(model)
    model.learn(700)
    assert model.critic_updates == 600
    assert model.actor_updates == (300 if cls is RLx2TD3 else 600)
    assert model.topology_updates["critic"] == 23  # t = 25, 50, ..., 575: t % 25 == 0 and t < T = 600 updates
    assert model.topology_updates["actor"] > 0
    assert_masked_weights_zero(model)
    assert [layer.n_active for layer, _ in all_layers(model)] == counts  # counts constant per layer
    assert any(
        not th.equal(m, layer.mask) for m, (layer, _) in zip(initial_masks, all_layers(model), strict=True)
    )
    model.save(tmp_path / "model.zip")
    loaded = cls.load(tmp_path / "model.zip", device="cpu")
    for (a, _), (b, _) in zip(all_layers(model), all_layers(loaded), strict=True):
        assert th.equal(a.mask, b.mask) and th.equal(a.weight, b.weight)
    assert_masked_weights_zero(loaded)
    assert loaded.critic_updates == 600 and loaded.topology_updates == model.topology_updates
    assert loaded.sparsity_report()["overall"] == model.sparsity_report()["overall"]
    loaded.set_env(model.get_env())
    loaded.learn(300, reset_num_timesteps=False)  # masks keep holding after loading
    assert_masked_weights_zero(loaded)


def test_optimizer_step_is_skipped_on_topology_updates():
    # the update rule is a hook on the optimizer: SB3's zero_grad / backward / step triggers it
    model = small(RLx2TD3, topology_interval=10)
    model.topology_horizon = {"critic": 1000, "actor": 500}
    critic, optimizer = model._sparse_layers["critic"][0], model.critic.optimizer
    obs = th.randn(8, 3)

    def sb3_update():
        optimizer.zero_grad()
        sum(q.pow(2).mean() for q in model.critic(obs, th.zeros(8, 1))).backward()
        optimizer.step()

    model.critic_updates = 8
    before = critic.weight.detach().clone()
    sb3_update()  # update 9: a masked step
    assert model.critic_updates == 9 and model.topology_updates["critic"] == 0
    assert not th.equal(before[critic.mask], critic.weight[critic.mask])
    assert th.count_nonzero(critic.weight[~critic.mask]) == 0
    adam_steps = float(optimizer.state[critic.weight]["step"])
    before, old_mask = critic.weight.detach().clone(), critic.mask.clone()
    sb3_update()  # update 10: topology update, no optimizer step
    kept = old_mask & critic.mask
    assert th.equal(before[kept], critic.weight[kept])
    assert float(optimizer.state[critic.weight]["step"]) == adam_steps  # Adam's moments untouched
    assert (critic.weight[critic.mask & ~old_mask] == 0).all() and model.topology_updates["critic"] == 1
    assert model.last_drop_fraction["critic"] == pytest.approx(cosine_drop_fraction(10, 1000, 0.5))
    sb3_update()  # update 11: a step again
    assert float(optimizer.state[critic.weight]["step"]) == adam_steps + 1


@pytest.mark.parametrize("cls", [RLx2TD3, RLx2SAC])
def test_sb3_train_loop_runs_unchanged(cls):
    # RLx2 adds no copy of SB3's update loop: the class's train() is the mixin's wrapper around it
    base = cls.__mro__[2]
    assert base.__module__.startswith("stable_baselines3") and "train" in base.__dict__
    assert [c for c in cls.__mro__ if "train" in c.__dict__][:2] == [cls.__mro__[1], base]


def test_static_topology_and_dense_networks_are_config_choices():
    static = small(RLx2TD3, topology_evolution=False)
    masks = [layer.mask.clone() for layer, _ in all_layers(static)]
    static.learn(300)
    assert static.topology_updates == {"actor": 0, "critic": 0}
    assert all(th.equal(m, layer.mask) for m, (layer, _) in zip(masks, all_layers(static), strict=True))
    dense = small(RLx2TD3, actor_sparsity=0.0, critic_sparsity=0.0)
    assert dense.sparsity_report()["compression_ratio"] == 1.0 and dense._sparse_layers["critic"] == []


def test_n_step_target_switches_at_the_configured_update():
    model = small(RLx2TD3, multi_step=3, multi_step_delay=150)
    seen = []
    sample = model.replay_buffer.sample

    def recording_sample(*args, **kwargs):
        seen.append((model.critic_updates + 1, model.replay_buffer.n_steps))
        return sample(*args, **kwargs)

    model.replay_buffer.sample = recording_sample
    model.learn(400)
    assert [k for k, _ in seen] == list(range(1, 301))
    assert all(n == (3 if k >= 150 else 1) for k, n in seen)
    assert model.sparsity_report()["counters"]["n_steps"] == 3


def test_n_step_discounts_reach_the_critic_target():
    model = small(RLx2TD3, multi_step=3, multi_step_delay=0)
    model.learn(150)
    data = model.replay_buffer.sample(64)
    # gamma^k with k <= 3 steps summed (fewer at episode ends)
    assert {round(float(d), 6) for d in data.discounts} <= {round(0.99**k, 6) for k in (1, 2, 3)}
    assert np.isclose(data.discounts.numpy(), 0.99**3).mean() > 0.5


# -- dynamic-capacity buffer -------------------------------------------------------------------
def filled_buffer(n_rows: int, buffer_size: int = 100, min_size: int = 60) -> DynamicNStepReplayBuffer:
    buffer = DynamicNStepReplayBuffer(
        buffer_size, spaces.Box(-1, 1, (2,)), spaces.Box(-1, 1, (1,)), device="cpu", min_size=min_size
    )
    for i in range(n_rows):
        buffer.stage_mean_actions(np.array([[i / n_rows]]))
        obs = np.full((1, 2), float(i), dtype=np.float32)
        buffer.add(obs, obs + 1, np.zeros((1, 1)), np.ones(1), np.zeros(1), [{}])
    return buffer


def test_buffer_shrinks_oldest_first_and_never_below_its_minimum():
    buffer = filled_buffer(130)  # wrapped: rows hold transitions 30..129, oldest first at row 30
    assert buffer.size() == 100 and buffer.start == 30
    sizes = []
    for _ in range(8):
        buffer.shrink(0.1)
        sizes.append(buffer.size())
    assert sizes == [90, 81, 73, 66, 60, 60, 60, 60]  # 10 % of the size each time, clamped at 60
    obs, mean = buffer.oldest(5)
    assert obs[:, 0].tolist() == [70.0, 71.0, 72.0, 73.0, 74.0]  # 40 oldest dropped
    assert mean[:, 0] == pytest.approx(np.arange(70, 75) / 130)
    sampled = buffer.sample(500).observations[:, 0].numpy()
    assert sampled.min() >= 70 and sampled.max() <= 129
    for i in range(50):  # new transitions fill the freed capacity back up to buffer_size
        obs = np.full((1, 2), 130.0 + i, dtype=np.float32)
        buffer.add(obs, obs, np.zeros((1, 1)), np.ones(1), np.zeros(1), [{}])
    assert buffer.size() == 100 and buffer.oldest(1)[0][0, 0] == 80.0


@pytest.mark.slow
def test_policy_distance_rule_shrinks_only_when_the_policy_moved():
    model = small(
        RLx2TD3,
        buffer_size=1000,
        buffer_min_size=500,
        policy_distance_threshold=0.2,
        policy_distance_batch=64,
    )
    model.learn(800)  # 800 rows; the automatic check (every 10k steps) does not run
    buffer = model.replay_buffer
    current = model.actor(th.as_tensor(buffer.observations[:800, 0])).detach().numpy()
    buffer.mean_actions[:800, 0] = current  # behaviour = current policy: distance 0, no shrink
    assert model._adjust_buffer() == 0 and model.policy_distance == pytest.approx(0.0, abs=1e-10)
    buffer.mean_actions[:800, 0] = current + 1.0  # distance 0.5 * 1^2 = 0.5 > 0.2
    assert model._adjust_buffer() == 80 and buffer.size() == 720 and buffer.start == 80
    assert model.policy_distance == pytest.approx(0.5, rel=1e-5)
    buffer.min_size = 700
    assert model._adjust_buffer() == 20 and buffer.size() == 700  # 72 would go below the minimum
    assert model._adjust_buffer() == 0 and buffer.size() == 700
    assert model.buffer_shrinks == 2


def test_behaviour_mean_actions_are_stored_while_acting():
    # learning rate 0 and a static topology keep the actor fixed, so every stored mean can be recomputed
    model = small(RLx2SAC, learning_starts=50, learning_rate=0.0, topology_evolution=False)
    model.learn(120)
    buffer = model.replay_buffer
    obs = th.as_tensor(buffer.observations[50:120, 0])
    expected = model.actor(obs, deterministic=True).detach().numpy()  # tanh(mu(s)), scaled
    assert buffer.mean_actions[50:120, 0] == pytest.approx(expected, abs=1e-6)
    assert not np.allclose(buffer.mean_actions[50:120], buffer.actions[50:120])  # not the sampled actions
    assert np.array_equal(buffer.mean_actions[:50], buffer.actions[:50])  # warm-up: the random action


# -- measurements ------------------------------------------------------------------------------
def test_flops_and_parameter_counts_match_a_hand_count():
    # Pendulum: obs 3, action 1; net_arch [4, 4]
    model = small(
        RLx2TD3, policy_kwargs={"net_arch": [4, 4]}, actor_sparsity=0.0, critic_sparsity=0.0, batch_size=10
    )
    actor = model._masked_layers["actor"]  # (4, 3), (4, 4), (1, 4): 32 weights
    critic = model._masked_layers["critic"]  # per Q: (4, 4), (4, 4), (1, 4) = 36 weights; twin: 72
    actor[1].set_mask_(th.eye(4))  # 4 of 16 active -> actor 20 active
    critic[1].set_mask_(th.eye(4))  # 4 of 16 -> critic 60 active
    model._refresh_sparse_layers()
    report = model.sparsity_report()
    assert report["actor"] == {"active": 20, "weights": 32, "sparsity": pytest.approx(12 / 32)}
    assert report["critic"] == {"active": 60, "weights": 72, "sparsity": pytest.approx(12 / 72)}
    assert report["layers"]["actor.mu.2"] == {"shape": [4, 4], "active": 4, "weights": 16, "sparsity": 0.75}
    assert report["compression_ratio"] == pytest.approx(104 / 80)
    flops = report["flops"]
    assert (flops["inference_dense"], flops["inference_sparse"]) == (64, 40)  # 2 FLOPs per weight
    # per sample and gradient step, policy_delay 2: actor forwards x (1 + 3/2), critic x (4 + 1.5/2)
    dense = 10 * (64 * 2.5 + 144 * 4.75)
    sparse = 10 * (40 * 2.5 + 120 * 4.75)
    # + RigL's dense weight gradient once every 10k updates of each network (the actor every 2nd step)
    sparse += 10 * ((144 - 120) + (64 - 40) / 2) / 10_000
    assert flops["training_dense"] == pytest.approx(dense) and flops["training_sparse"] == pytest.approx(
        sparse
    )
    assert flops["training_reduction"] == pytest.approx(dense / sparse)
    biases = (4 + 4 + 1) + 2 * (4 + 4 + 1)
    assert model.parameter_counts() == {
        "total": 80 + biases,
        "trainable": 80 + biases,
        "actor": 20 + 9,
        "critic": 60 + 18,
        "dense_total": 104 + biases,
    }
    json.dumps(report)  # serialisable for meta.json


def test_target_sparsities_are_measured_from_the_masks():
    model = RLx2TD3("MlpPolicy", "Pendulum-v1", learning_starts=100, seed=0, device="cpu")
    report = model.sparsity_report()
    assert report["actor"]["sparsity"] == pytest.approx(0.9, abs=1e-4)
    assert report["critic"]["sparsity"] == pytest.approx(0.85, abs=1e-4)
    assert report["compression_ratio"] == pytest.approx(7.5, rel=0.01)
    assert report["layers"]["critic.qf0.4"]["sparsity"] == 0.0  # output layers dense


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match=r"actor_sparsity must be in \[0, 1\), got 1.5"):
        small(RLx2TD3, actor_sparsity=1.5)
    with pytest.raises(ValueError, match="grow_criterion must be one of"):
        small(RLx2SAC, grow_criterion="magnitude")
    with pytest.raises(ValueError, match="buffer_min_size must be in"):
        small(RLx2TD3, buffer_min_size=5_000)
    with pytest.raises(ValueError, match="multi_step must be an integer >= 1, got 0"):
        small(RLx2TD3, multi_step=0)


# -- configs and the harness -------------------------------------------------------------------
def _defaults(function) -> dict:
    return {
        name: p.default
        for name, p in inspect.signature(function).parameters.items()
        if p.default is not inspect.Parameter.empty and not name.startswith("_")
    }


@pytest.mark.parametrize("algo,cls", [("rlx2_td3", RLx2TD3), ("rlx2_sac", RLx2SAC)])
def test_algo_config_lists_every_constructor_argument_with_the_class_default(algo, cls):
    conf = OmegaConf.to_container(OmegaConf.load(CONF / "algo" / f"{algo}.yaml"))
    assert conf["name"] == algo and conf["family"] == "off_policy"
    model = conf["model"]
    assert model.pop("_target_") == f"algos.rlx2.{cls.__name__}" and model.pop("policy") == "MlpPolicy"
    assert model.pop("policy_kwargs") == {"net_arch": [256, 256]}
    defaults = _defaults(cls.__init__)
    harness = {
        "action_noise",
        "stats_window_size",
        "tensorboard_log",
        "policy_kwargs",
        "verbose",
        "seed",
        "device",
    }
    assert set(model) == set(defaults) - harness
    for key, value in model.items():
        assert defaults[key] == value, key


@pytest.mark.slow
@pytest.mark.parametrize("env_name", ENVS)
@pytest.mark.parametrize("algo", ["rlx2_td3", "rlx2_sac"])
def test_tuned_configs_compose_and_build_through_the_harness(algo, env_name):
    cfg = make_config(f"algo={algo}", f"env={env_name}")
    stock = make_config(f"algo={algo.removeprefix('rlx2_')}", f"env={env_name}")
    model_cfg = OmegaConf.to_container(cfg.algo.model, resolve=True)
    if env_name in ("pendulum", "lunarlander", "bipedalwalker"):  # zoo's network/learning settings
        stock_cfg = OmegaConf.to_container(stock.algo.model, resolve=True)
        for key, value in stock_cfg.items():
            if key not in ("_target_", "policy"):
                assert model_cfg[key] == value, key
        budget = cfg.env.budget
        assert model_cfg["multi_step_delay"] == budget // 10
        assert model_cfg["topology_interval"] == min(10_000, budget // 100)
    accepted = set(inspect.signature(RLx2TD3 if algo == "rlx2_td3" else RLx2SAC).parameters)
    assert set(model_cfg) - {"_target_"} <= accepted
    env = make_train_env(cfg.env.id, n_envs=cfg.env.n_envs, seed=0, normalize=False)
    try:
        model = build_algorithm(cfg.algo, env, seed=0)
        report = model.sparsity_report()
        assert report["actor"]["sparsity"] == pytest.approx(cfg.algo.model.actor_sparsity, abs=1e-3)
        assert report["critic"]["sparsity"] == pytest.approx(cfg.algo.model.critic_sparsity, abs=1e-3)
        if algo == "rlx2_td3":
            assert model.action_noise._sigma == pytest.approx(0.1)
    finally:
        env.close()


@pytest.mark.slow
def test_randbench_train_runs_rlx2_td3_on_pendulum(runs_root: Path):
    result = randbench(
        [
            "train",
            "algo=rlx2_td3",
            "env=pendulum",
            "budget=600",
            "eval.freq=300",
            "eval.n_episodes=1",
            "algo.model.learning_starts=100",
            "algo.model.batch_size=32",
            "algo.model.topology_interval=50",
            "algo.model.multi_step_delay=200",
            f"output.root={runs_root}",
            "sweep_name=t",
            "progress=false",
        ],
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    run = runs_root / "t" / "pendulum" / "rlx2_td3" / "seed0"
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["timesteps"] == 600
    assert (run / "model.zip").exists()
    model = RLx2TD3.load(run / "model.zip", device="cpu")
    assert model.critic_updates == 500 and model.topology_updates["critic"] == 9
    assert (
        meta["parameters"]["total"]
        == model.parameter_counts()["total"]
        < model.parameter_counts()["dense_total"]
    )
    assert math.isclose(model.sparsity_report()["actor"]["sparsity"], 0.9, abs_tol=1e-3)
