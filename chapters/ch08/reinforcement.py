"""The code behind chapter 8's section 8.5.4 (reinforcement learning): tabular Q-learning on a small
grid world, the idea that DQN scales up with a network in place of the table.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

# ---------------------------------------------------------------------------------------------
# 8.5.4 Reinforcement learning: tabular Q-learning on a small grid world
# ---------------------------------------------------------------------------------------------
GRID_WORLD = ("S.....",
              ".##.X.",
              "...#..",
              ".X...G")
"""S start, G goal (reward +1, episode ends), X pit (reward -1, episode ends), # wall, . free."""

GRID_ACTIONS = ((-1, 0), (1, 0), (0, -1), (0, 1))               # up, down, left, right as (dy, dx)
GRID_ARROWS = "^v<>"


def _grid_find(grid: Sequence[str], char: str) -> tuple[int, int]:
    return next((y, x) for y, row in enumerate(grid) for x, c in enumerate(row) if c == char)


def grid_step(grid: Sequence[str], state: tuple[int, int], action: int) -> tuple[tuple[int, int], float, bool]:
    """One move: (next state, reward, episode over). Walls and the edge leave the agent where it is."""
    y, x = state[0] + GRID_ACTIONS[action][0], state[1] + GRID_ACTIONS[action][1]
    if not (0 <= y < len(grid) and 0 <= x < len(grid[0])) or grid[y][x] == "#":
        y, x = state
    cell = grid[y][x]
    return (y, x), {"G": 1.0, "X": -1.0}.get(cell, 0.0), cell in "GX"


def grid_q_learning(grid: Sequence[str] = GRID_WORLD, episodes: int = 300, alpha: float = 0.5, gamma: float = 0.9,
                    epsilon: float = 0.1, max_steps: int = 100, seed: int = 0) -> dict[str, np.ndarray]:
    """Tabular Q-learning: Q[y, x, a] <- Q + alpha * (r + gamma * max_a' Q[next, a'] - Q), epsilon-greedy.

    No model of the world is used, only the (state, action, reward, next state) of each move. Returns
    {"Q": (H, W, 4), "steps": (episodes,) moves per episode, "reward": (episodes,) final reward}.
    """
    rng = np.random.default_rng(seed)
    Q = np.zeros((len(grid), len(grid[0]), len(GRID_ACTIONS)))
    start = _grid_find(grid, "S")
    steps, rewards = np.zeros(episodes, dtype=int), np.zeros(episodes)
    for e in range(episodes):
        state, reward = start, 0.0
        for n in range(1, max_steps + 1):
            q = Q[state]
            if rng.random() < epsilon:
                action = int(rng.integers(len(GRID_ACTIONS)))
            else:                                                  # greedy, ties broken at random
                action = int(rng.choice(np.flatnonzero(q == q.max())))
            nxt, reward, done = grid_step(grid, state, action)
            target = reward if done else reward + gamma * Q[nxt].max()
            Q[state][action] += alpha * (target - Q[state][action])
            state = nxt
            if done:
                break
        steps[e], rewards[e] = n, reward
    return {"Q": Q, "steps": steps, "reward": rewards}


def grid_greedy_path(grid: Sequence[str], Q: np.ndarray, max_steps: int = 100) -> list[tuple[int, int]]:
    """The cells visited from S when always taking the action with the largest Q (stops at G or X)."""
    state, path = _grid_find(grid, "S"), []
    path.append(state)
    for _ in range(max_steps):
        state, _, done = grid_step(grid, state, int(np.argmax(Q[state])))
        path.append(state)
        if done:
            break
    return path


def grid_shortest_path(grid: Sequence[str]) -> int:
    """Fewest moves from S to G that avoid pits and walls (breadth-first search)."""
    start, goal = _grid_find(grid, "S"), _grid_find(grid, "G")
    dist, frontier = {start: 0}, [start]
    while frontier:
        nxt = []
        for s in frontier:
            for a in range(len(GRID_ACTIONS)):
                t, _, _ = grid_step(grid, s, a)
                if t not in dist and grid[t[0]][t[1]] != "X":
                    dist[t] = dist[s] + 1
                    nxt.append(t)
        frontier = nxt
    return dist[goal]


def format_grid_policy(grid: Sequence[str], Q: np.ndarray) -> str:
    """The grid with the greedy action of every free cell as an arrow (walls #, pits X, goal G; a cell
    whose Q values are all still 0, never reached or never led to a reward, shows a dot)."""
    def cell(y: int, x: int, c: str) -> str:
        if c in "#XG":
            return c
        return GRID_ARROWS[int(np.argmax(Q[y, x]))] if np.any(Q[y, x]) else "."
    rows = [" ".join(cell(y, x, c) for x, c in enumerate(row)) for y, row in enumerate(grid)]
    return "\n".join(rows)
