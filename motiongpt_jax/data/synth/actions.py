"""The action families of the procedural data set.

Each family samples its parameters, builds a clip from them, and says what it did in
several phrasings that name those parameters (so a model can learn text <-> motion and an
evaluator can tell motions apart). Angles are in radians on the rig's local axes:
x flexes (a negative hip or shoulder angle swings the limb forward), z abducts (positive
moves a left limb outwards), y twists about the vertical.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from motiongpt_jax.data.synth.clip import (Clip, ballistic_lift, concat, envelope, flat_feet,
                                           keyframes)
from motiongpt_jax.motion import rig as R

NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven",
                8: "eight", 9: "nine", 10: "ten", 11: "eleven", 12: "twelve"}
TIMES_WORDS = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times",
               6: "six times"}
SIDES = ("left", "right")

# Per-side joints and the sign that makes an abduction/twist point outwards on that side.
LIMBS = {
    "left": dict(hip=R.L_HIP, knee=R.L_KNEE, ankle=R.L_ANKLE, shoulder=R.L_SHOULDER,
                 elbow=R.L_ELBOW, collar=R.L_COLLAR, out=1.0),
    "right": dict(hip=R.R_HIP, knee=R.R_KNEE, ankle=R.R_ANKLE, shoulder=R.R_SHOULDER,
                  elbow=R.R_ELBOW, collar=R.R_COLLAR, out=-1.0),
}
SPINE = (R.SPINE1, R.SPINE2, R.SPINE3)


@dataclasses.dataclass(frozen=True)
class Family:
  name: str
  sample: Callable[[np.random.Generator], dict]
  build: Callable[[dict, np.random.Generator], Clip]
  phrases: Callable[[dict], list[str]]
  keys: tuple[str, ...]  # the discrete parameters that define a combination

  def signature(self, params: dict) -> tuple:
    return (self.name,) + tuple(params[k] for k in self.keys)


FAMILIES: dict[str, Family] = {}


def family(name: str, keys: tuple[str, ...]):
  def register(cls):
    FAMILIES[name] = Family(name, cls.sample, cls.build, cls.phrases, keys)
    return cls
  return register


def other(side: str) -> str:
  return "right" if side == "left" else "left"


# --------------------------------------------------------------------------- pose helpers


def relaxed_arms(pose: dict | None = None) -> dict:
  """Arms hanging slightly away from the body with soft elbows (unless set)."""
  pose = dict(pose or {})
  for side in SIDES:
    limb = LIMBS[side]
    pose.setdefault((limb["shoulder"], 2), 0.12 * limb["out"])
    pose.setdefault((limb["elbow"], 0), -0.18)
  return pose


def spine_bend(pose: dict, forward: float = 0.0, side: float = 0.0, twist: float = 0.0) -> dict:
  """Spreads a bend over the three spine joints (side > 0 bends towards the left)."""
  for j in SPINE:
    if forward:
      pose[(j, 0)] = pose.get((j, 0), 0.0) + forward / 3
    if side:
      pose[(j, 2)] = pose.get((j, 2), 0.0) - side / 3
    if twist:
      pose[(j, 1)] = pose.get((j, 1), 0.0) + twist / 3
  return pose


def leg(pose: dict, side: str, flex: float = 0.0, knee: float = 0.0, out: float = 0.0) -> dict:
  limb = LIMBS[side]
  pose[(limb["hip"], 0)] = -flex
  pose[(limb["knee"], 0)] = knee
  if out:
    pose[(limb["hip"], 2)] = out * limb["out"]
  return pose


def arm(pose: dict, side: str, flex: float = 0.0, out: float = 0.0, swing: float = 0.0,
        elbow: float = 0.0) -> dict:
  """flex: raise forwards; out: raise sideways; swing: horizontal, + away from the body."""
  limb = LIMBS[side]
  pose[(limb["shoulder"], 0)] = -flex
  pose[(limb["shoulder"], 2)] = out * limb["out"]
  pose[(limb["shoulder"], 1)] = swing * limb["out"]
  pose[(limb["elbow"], 0)] = -elbow
  return pose


def idle(frames: int) -> Clip:
  clip = Clip.still(frames)
  clip.angles[:] = keyframes(frames, [(0, relaxed_arms())])
  return clip


def from_keys(frames: int, keys: list[tuple[float, dict]], feet: bool = True) -> Clip:
  clip = Clip.still(frames)
  clip.angles = keyframes(frames, [(t, relaxed_arms(p)) for t, p in keys])
  if feet:
    flat_feet(clip.angles)
  return clip


def pick(rng: np.random.Generator, options):
  return options[int(rng.integers(len(options)))]


# --------------------------------------------------------------------------- locomotion


def gait(frames: int, cycle: float, hip: float, knee: float, stance_knee: float,
         arm_swing: float, elbow: float, lean: float, backward: bool = False,
         ramp: int | None = None) -> tuple[Clip, np.ndarray]:
  """A walking/running cycle. Returns the clip and each frame's single-support weight."""
  clip = idle(frames)
  t = clip.t
  env = envelope(frames, ramp if ramp is not None else int(cycle * 0.6))
  phi = 2 * np.pi * t / cycle * (-1 if backward else 1)
  swing_weight = np.zeros(frames)
  swings = {}
  for side, sign in (("left", 1.0), ("right", -1.0)):
    limb = LIMBS[side]
    s, c = sign * np.sin(phi), sign * np.cos(phi)
    swing = np.maximum(0.0, c) ** 1.5
    swings[side] = np.maximum(0.0, c) * env
    clip.angles[:, limb["hip"], 0] = -hip * s * env
    clip.angles[:, limb["knee"], 0] = (stance_knee + knee * swing) * env
    clip.angles[:, limb["shoulder"], 0] = arm_swing * s * env
    clip.angles[:, limb["elbow"], 0] = -(0.18 + elbow * env)
    swing_weight += swing * env
  clip.angles[:, R.PELVIS, 1] = 0.08 * np.sin(phi) * env * hip / 0.35
  for j in SPINE:
    clip.angles[:, j, 1] = -0.03 * np.sin(phi) * env
    clip.angles[:, j, 0] = lean / 3 * env
  flat_feet(clip.angles)
  ensure_clearance(clip.angles, swings)
  return clip, swing_weight


def ensure_clearance(angles: np.ndarray, swings: dict, clearance: float = 0.035,
                     iterations: int = 10) -> None:
  """Bends each swinging knee (smoothly in time) until its foot clears the other foot.

  swings[side] in [0, 1] says how far into its swing a leg is; the swing foot must be
  ``clearance * sqrt(swing)`` above the other foot, so the supporting foot is always the
  lower one and carries the body forward.
  """
  from scipy.ndimage import gaussian_filter1d
  feet = {"left": R.LEFT_FOOT_JOINTS, "right": R.RIGHT_FOOT_JOINTS}
  for _ in range(iterations):
    pos = R.pose_joints(angles, np.zeros(len(angles)))
    low = {s: pos[:, list(j), 1].min(axis=1) for s, j in feet.items()}
    worst = 0.0
    for side in SIDES:
      need = low[other(side)] + clearance * np.sqrt(swings[side])
      deficit = np.where(swings[side] > 0.02, np.maximum(need - low[side], 0.0), 0.0)
      worst = max(worst, deficit.max())
      extra = gaussian_filter1d(deficit * 4.0, 1.5) + deficit * 2.0
      limb = LIMBS[side]
      angles[:, limb["knee"], 0] += extra
      angles[:, limb["ankle"], 0] -= extra  # keep the sole level
    if worst < 0.002:
      return


def steer(clip: Clip, weight: np.ndarray, total: float) -> Clip:
  """Turns by ``total`` radians, spread over the frames where one foot is off the floor."""
  if total and weight.sum() > 0:
    clip.yaw_rate += total * weight / weight.sum()
  return clip


SPEEDS = {"slow": (26.0, 0.28, "slowly"), "normal": (22.0, 0.36, "at a normal pace"),
          "fast": (17.0, 0.46, "quickly")}
CURVES = {"straight": 0.0, "left": np.pi / 2, "right": -np.pi / 2}


@family("walk", keys=("direction", "speed", "steps", "curve"))
class Walk:

  @staticmethod
  def sample(rng):
    return dict(direction=pick(rng, ("forward", "forward", "backward")),
                speed=pick(rng, list(SPEEDS)), steps=int(rng.integers(3, 10)),
                curve=pick(rng, ("straight", "straight", "left", "right")))

  @staticmethod
  def build(p, rng):
    cycle, hip, _ = SPEEDS[p["speed"]]
    cycle *= rng.uniform(0.92, 1.08)
    frames = int(round((p["steps"] + 1) * cycle / 2))
    clip, weight = gait(frames, cycle, hip, 0.95, 0.08, 0.5 * hip, 0.15, 0.04,
                        backward=p["direction"] == "backward")
    return steer(clip, weight, CURVES[p["curve"]] * rng.uniform(0.8, 1.1))

  @staticmethod
  def phrases(p):
    n = NUMBER_WORDS[p["steps"]]
    d = p["direction"]
    adv = SPEEDS[p["speed"]][2]
    curve = {"straight": "in a straight line", "left": "curving to the left",
             "right": "curving to the right"}[p["curve"]]
    verb = "walks" if d == "forward" else "walks backwards"
    return [f"{verb} {n} steps {adv} {curve}" if d == "backward" else
            f"walks forward {n} steps {adv} {curve}",
            f"takes {n} steps {'forward' if d == 'forward' else 'backwards'} {curve}, walking {adv}",
            f"{verb} {adv} for {n} steps {curve}"]


RUN_SPEEDS = {"jog": (15.0, 0.45, 0.12, "jogs"), "run": (13.0, 0.6, 0.16, "runs"),
              "sprint": (11.5, 0.72, 0.2, "sprints")}


@family("run", keys=("pace", "steps", "curve"))
class Run:

  @staticmethod
  def sample(rng):
    return dict(pace=pick(rng, list(RUN_SPEEDS)), steps=int(rng.integers(4, 13)),
                curve=pick(rng, ("straight", "straight", "left", "right")))

  @staticmethod
  def build(p, rng):
    cycle, hip, speed, _ = RUN_SPEEDS[p["pace"]]
    cycle *= rng.uniform(0.94, 1.06)
    frames = int(round((p["steps"] + 1) * cycle / 2))
    clip, weight = gait(frames, cycle, hip, 1.6, 0.22, 0.7 * hip, 1.1, 0.18, ramp=int(cycle))
    # Flight around the moments the legs are furthest apart.
    phi = 2 * np.pi * clip.t / cycle
    d = np.mod(phi - np.pi / 2, np.pi) - np.pi / 2
    width = 0.3 * np.pi
    env = envelope(frames, int(cycle))
    bump = np.where(np.abs(d) < width, np.cos(d / width * np.pi / 2) ** 2, 0.0)
    clip.lift = 0.07 * bump * np.clip(env * 1.5 - 0.5, 0, 1)
    # Push-off: the feet leave the floor at once rather than skimming it.
    clip.lift = np.where(clip.lift > 1e-6, np.maximum(clip.lift, 0.012), 0.0)
    clip.drift[:, 1] = speed
    return steer(clip, weight, CURVES[p["curve"]] * rng.uniform(0.8, 1.1))

  @staticmethod
  def phrases(p):
    verb = RUN_SPEEDS[p["pace"]][3]
    n = NUMBER_WORDS[p["steps"]]
    curve = {"straight": "straight ahead", "left": "in a curve to the left",
             "right": "in a curve to the right"}[p["curve"]]
    noun = {"jog": "jogging", "run": "running", "sprint": "sprinting"}[p["pace"]]
    return [f"{verb} {curve} for {n} steps", f"{verb} forward {n} steps {curve}",
            f"takes {n} {noun} steps {curve}"]


@family("side_step", keys=("side", "steps"))
class SideStep:

  @staticmethod
  def sample(rng):
    return dict(side=pick(rng, SIDES), steps=int(rng.integers(2, 6)))

  @staticmethod
  def build(p, rng):
    step = int(rng.integers(16, 21))
    width = rng.uniform(0.3, 0.42)
    return side_steps([p["side"]] * p["steps"], step, width, arms=None)

  @staticmethod
  def phrases(p):
    n, s = NUMBER_WORDS[p["steps"]], p["side"]
    return [f"steps sideways to the {s} {n} times", f"takes {n} side steps to the {s}",
            f"shuffles {n} steps to the {s}"]


def side_steps(sides: list[str], step: int, width: float, arms: dict | None) -> Clip:
  """Steps sideways: the leading leg reaches out, then the trailing leg follows."""
  keys = [(0, {})]
  t0 = 4
  for side in sides:
    lead, trail = side, other(side)
    k = lambda f, lo, ko, to, tk: (t0 + f, leg(leg(dict(arms or {}), lead, flex=0.15 * ko,
                                                    knee=ko, out=lo), trail, knee=tk,
                                               out=to, flex=0.15 * tk))
    keys += [k(0, 0, 0, 0, 0), k(step * 0.3, width, 0.45, 0, 0), k(step * 0.45, width, 0.02, 0, 0),
             k(step * 0.75, width * 0.5, 0.02, 0, 0.45), k(step, 0, 0.0, 0, 0)]
    t0 += step
  keys.append((t0 + 4, dict(arms or {})))
  return from_keys(t0 + 5, keys)


@family("turn", keys=("side", "angle"))
class Turn:

  @staticmethod
  def sample(rng):
    return dict(side=pick(rng, SIDES), angle=pick(rng, (90, 180)))

  @staticmethod
  def build(p, rng):
    steps = 2 if p["angle"] == 90 else 4
    return stepping_turn(steps, np.deg2rad(p["angle"]) * (1 if p["side"] == "left" else -1),
                         int(rng.integers(11, 15)))

  @staticmethod
  def phrases(p):
    s = p["side"]
    if p["angle"] == 180:
      return [f"turns around to the {s}", f"turns all the way around towards the {s}",
              f"turns to the {s} until facing the opposite direction"]
    return [f"turns ninety degrees to the {s}", f"turns to face the {s}",
            f"makes a quarter turn to the {s}"]


def stepping_turn(steps: int, total: float, step_frames: int, arms: dict | None = None) -> Clip:
  """Turns on the spot by small steps; the heading changes while a foot is lifted."""
  frames = steps * step_frames + 8
  keys = [(0, dict(arms or {}))]
  lifted = np.zeros(frames)
  for i in range(steps):
    side = "left" if (i % 2 == 0) == (total > 0) else "right"
    t0 = 4 + i * step_frames
    keys += [(t0, dict(arms or {})),
             (t0 + step_frames / 2, leg(dict(arms or {}), side, flex=0.3, knee=0.65)),
             (t0 + step_frames, dict(arms or {}))]
    tt = np.arange(frames) - t0
    lifted += np.where((tt > 0) & (tt < step_frames), np.sin(np.pi * tt / step_frames), 0) ** 2
  clip = from_keys(frames, keys)
  return steer(clip, lifted, total)


@family("spin", keys=("side",))
class Spin:

  @staticmethod
  def sample(rng):
    return dict(side=pick(rng, SIDES))

  @staticmethod
  def build(p, rng):
    sign = 1 if p["side"] == "left" else -1
    lifted = "right" if sign > 0 else "left"
    dur = int(rng.integers(28, 40))
    arms = arm(arm({}, "left", out=1.3, elbow=0.2), "right", out=1.3, elbow=0.2)
    pose = leg(dict(arms), lifted, flex=0.35, knee=0.8)
    clip = from_keys(dur + 24, [(0, {}), (10, pose), (10 + dur, pose), (dur + 22, {})])
    w = np.zeros(len(clip))
    w[12:10 + dur - 2] = np.sin(np.linspace(0, np.pi, dur - 4)) ** 2
    return steer(clip, w, sign * 2 * np.pi)

  @staticmethod
  def phrases(p):
    s = p["side"]
    return [f"spins around once to the {s}", f"does a full turn to the {s} on one foot",
            f"pirouettes to the {s} with the arms out"]


@family("stumble", keys=("steps",))
class Stumble:

  @staticmethod
  def sample(rng):
    return dict(steps=int(rng.integers(2, 5)))

  @staticmethod
  def build(p, rng):
    cycle = 22.0 * rng.uniform(0.95, 1.05)
    walk_frames = int(round((p["steps"] + 0.5) * cycle / 2))
    walk, _ = gait(walk_frames, cycle, 0.36, 0.95, 0.08, 0.18, 0.15, 0.04, ramp=int(cycle * 0.6))
    trip, _ = gait(int(cycle), cycle / 1.6, 0.5, 1.2, 0.15, 0.0, 0.2, 0.0, ramp=3)
    lean = envelope(len(trip), 4)
    for j in SPINE:
      trip.angles[:, j, 0] += 0.22 * lean
    for side in SIDES:
      trip.angles[:, LIMBS[side]["shoulder"], 0] += -1.3 * lean
      trip.angles[:, LIMBS[side]["shoulder"], 2] += 0.5 * LIMBS[side]["out"] * lean
    flat_feet(trip.angles)
    return concat([walk, trip, idle(12)], blend=4)

  @staticmethod
  def phrases(p):
    n = NUMBER_WORDS[p["steps"]]
    return [f"walks forward {n} steps, stumbles and catches balance",
            f"takes {n} steps, trips forward and recovers",
            f"trips while walking after {n} steps and regains balance"]


# --------------------------------------------------------------------------- jumps


def jump_clip(count: int, height: float, distance: float, rng, one_leg: str | None = None,
              jack: bool = False) -> Clip:
  """Jumps in a row: crouch, take off, ballistic flight, land and absorb."""
  g = 9.81 / 400.0
  flight = max(4, int(round(2 * np.sqrt(2 * height / g))))
  crouch_depth = 0.6 if one_leg is None else 0.4
  keys = [(0, {})]
  lift_spans = []
  t = 4
  for i in range(count):
    air_arms = arm(arm({}, "left", flex=1.8, elbow=0.3), "right", flex=1.8, elbow=0.3)
    back_arms = arm(arm({}, "left", flex=-0.6, elbow=0.3), "right", flex=-0.6, elbow=0.3)
    if one_leg:
      air_arms = back_arms = arm(arm({}, "left", out=0.6), "right", out=0.6)
    crouch = spine_bend(dict(back_arms), forward=0.35 * crouch_depth / 0.6)
    land = spine_bend(dict(back_arms), forward=0.25)
    for side in SIDES:
      if side == one_leg:
        for pose in (crouch, land, air_arms):
          leg(pose, side, flex=0.5, knee=1.3)
      else:
        leg(crouch, side, flex=crouch_depth * 1.2, knee=crouch_depth * 2.0)
        leg(land, side, flex=0.5, knee=0.8)
    air = dict(air_arms)
    if jack:
      air = arm(arm(dict(), "left", out=2.6), "right", out=2.6)
      for side in SIDES:
        leg(air, side, out=0.28)
      land = dict(air)
      for side in SIDES:
        leg(land, side, flex=0.15, knee=0.3, out=0.28)
      crouch = {}
      for side in SIDES:
        leg(crouch, side, flex=0.2, knee=0.4)
    prep = 8 if i == 0 else 5
    keys += [(t + prep, crouch), (t + prep + 3, air)]
    start = t + prep + 3
    lift_spans.append((start, flight))
    keys += [(start + flight, land), (start + flight + 3, land)]
    t = start + flight + (3 if jack else 5)
    if jack:
      neutral = {}
      for side in SIDES:
        leg(neutral, side, flex=0.15, knee=0.3)
      keys += [(t, dict(land))]
      lift_spans.append((t + 1, flight))
      keys += [(t + 1 + flight, neutral)]
      t = t + 1 + flight + 4
  frames = t + 12
  keys.append((frames - 2, {}))
  clip = from_keys(frames, keys)
  for start, n in lift_spans:
    clip.lift[start:start + n] = ballistic_lift(n)[:max(0, min(n, frames - start))]
    clip.drift[start:start + n, 1] = distance / n
  return clip


@family("jump", keys=("count", "direction", "height"))
class Jump:

  @staticmethod
  def sample(rng):
    return dict(count=int(rng.integers(1, 4)), direction=pick(rng, ("in place", "forward")),
                height=pick(rng, ("low", "high")))

  @staticmethod
  def build(p, rng):
    h = rng.uniform(0.12, 0.18) if p["height"] == "low" else rng.uniform(0.3, 0.4)
    d = 0.0 if p["direction"] == "in place" else rng.uniform(0.5, 0.9)
    return jump_clip(p["count"], h, d, rng)

  @staticmethod
  def phrases(p):
    times = TIMES_WORDS[p["count"]]
    where = "in place" if p["direction"] == "in place" else "forward"
    how = "a little" if p["height"] == "low" else "high"
    noun = "jump" if p["count"] == 1 else "jumps"
    return [f"jumps {where} {times}", f"jumps {how} {where} {times}",
            f"does {NUMBER_WORDS[p['count']]} {'small' if how == 'a little' else 'big'} {noun} {where}"]


@family("hop", keys=("side", "count"))
class Hop:

  @staticmethod
  def sample(rng):
    return dict(side=pick(rng, SIDES), count=int(rng.integers(2, 6)))

  @staticmethod
  def build(p, rng):
    return jump_clip(p["count"], rng.uniform(0.06, 0.1), 0.0, rng, one_leg=other(p["side"]))

  @staticmethod
  def phrases(p):
    s, n = p["side"], p["count"]
    return [f"hops on the {s} leg {TIMES_WORDS[n]}", f"hops {NUMBER_WORDS[n]} times on the {s} foot",
            f"stands on the {s} leg and hops {TIMES_WORDS[n]}"]


@family("jumping_jacks", keys=("count",))
class JumpingJacks:

  @staticmethod
  def sample(rng):
    return dict(count=int(rng.integers(2, 6)))

  @staticmethod
  def build(p, rng):
    return jump_clip(p["count"], rng.uniform(0.05, 0.08), 0.0, rng, jack=True)

  @staticmethod
  def phrases(p):
    n = p["count"]
    return [f"does {NUMBER_WORDS[n]} jumping jacks", f"performs jumping jacks {TIMES_WORDS[n]}",
            f"jumps spreading the arms and legs {TIMES_WORDS[n]}"]


# --------------------------------------------------------------------------- on the spot


def repeat_keys(count: int, period: int, pose_fn, start: int = 4, lead: int = 10,
                hold_pose: dict | None = None) -> tuple[list, int]:
  """Key list for ``count`` repetitions; pose_fn(i, u) gives the pose at fraction u of rep i."""
  keys = [(0, {})]
  base = hold_pose or {}
  keys.append((start + lead, base))
  t = start + lead
  for i in range(count):
    for u in (0.25, 0.5, 0.75, 1.0):
      keys.append((t + u * period, pose_fn(i, u)))
    t += period
  keys.append((t + lead, {}))
  return keys, int(t + lead + 4)


@family("squat", keys=("count", "depth"))
class Squat:

  @staticmethod
  def sample(rng):
    return dict(count=int(rng.integers(1, 5)), depth=pick(rng, ("half", "deep")))

  @staticmethod
  def build(p, rng):
    d = rng.uniform(0.55, 0.7) if p["depth"] == "half" else rng.uniform(0.95, 1.1)
    period = int(rng.integers(22, 30))
    arms = arm(arm({}, "left", flex=1.4 * d, elbow=0.2), "right", flex=1.4 * d, elbow=0.2)

    def pose(i, u):
      down = np.sin(np.pi * u) ** 2
      q = spine_bend(dict(arms), forward=0.45 * d * down)
      for side in SIDES:
        leg(q, side, flex=1.35 * d * down, knee=1.9 * d * down, out=0.08)
      return q

    keys, frames = repeat_keys(p["count"], period, pose, lead=8, hold_pose=pose(0, 0))
    return from_keys(frames, keys)

  @staticmethod
  def phrases(p):
    n, how = p["count"], p["depth"]
    adj = "half" if how == "half" else "deep"
    noun = "squat" if n == 1 else "squats"
    return [f"does {NUMBER_WORDS[n]} {adj} {noun}", f"squats down {'deeply ' if adj == 'deep' else 'halfway '}{TIMES_WORDS[n]}",
            f"bends the knees into a {adj} squat {TIMES_WORDS[n]}"]


@family("sit_down", keys=("stand_up",))
class SitDown:

  @staticmethod
  def sample(rng):
    return dict(stand_up=pick(rng, ("yes", "no")))

  @staticmethod
  def build(p, rng):
    sit = spine_bend(arm(arm({}, "left", flex=0.6, elbow=0.7), "right", flex=0.6, elbow=0.7),
                     forward=0.5)
    for side in SIDES:
      leg(sit, side, flex=1.45, knee=1.65, out=0.12)
    down = int(rng.integers(18, 26))
    hold = int(rng.integers(15, 35))
    keys = [(0, {}), (6, {}), (6 + down, sit), (6 + down + hold, sit)]
    frames = 6 + down + hold + 4
    if p["stand_up"] == "yes":
      keys.append((6 + 2 * down + hold, {}))
      frames = 6 + 2 * down + hold + 8
    return from_keys(frames, keys)

  @staticmethod
  def phrases(p):
    if p["stand_up"] == "yes":
      return ["sits down and then stands back up", "squats down to sit and gets up again",
              "lowers into a sitting position and stands up"]
    return ["sits down and stays seated", "lowers into a sitting position",
            "sits down slowly"]


@family("bow", keys=("depth",))
class Bow:

  @staticmethod
  def sample(rng):
    return dict(depth=pick(rng, ("slight", "deep")))

  @staticmethod
  def build(p, rng):
    d = rng.uniform(0.35, 0.5) if p["depth"] == "slight" else rng.uniform(0.9, 1.1)
    bowed = spine_bend({(R.PELVIS, 0): 0.5 * d}, forward=0.6 * d)
    for side in SIDES:
      bowed[(LIMBS[side]["hip"], 0)] = -0.5 * d  # keep the legs upright
      arm(bowed, side, flex=0.6 * d, out=0.1, elbow=0.1)
    down, hold = int(rng.integers(14, 20)), int(rng.integers(8, 20))
    return from_keys(2 * down + hold + 12, [(0, {}), (5, {}), (5 + down, bowed),
                                            (5 + down + hold, bowed),
                                            (5 + 2 * down + hold, {})])

  @staticmethod
  def phrases(p):
    adj = "slightly" if p["depth"] == "slight" else "deeply"
    return [f"bows {adj}", f"bends forward {adj} at the waist and straightens up",
            f"takes a {'small' if adj == 'slightly' else 'deep'} bow"]


@family("wave", keys=("side", "count", "height"))
class Wave:

  @staticmethod
  def sample(rng):
    return dict(side=pick(rng, ("left", "right", "both")), count=int(rng.integers(2, 6)),
                height=pick(rng, ("overhead", "shoulder")))

  @staticmethod
  def build(p, rng):
    sides = SIDES if p["side"] == "both" else (p["side"],)
    period = int(rng.integers(8, 12))
    high = p["height"] == "overhead"

    def pose(i, u):
      q = {}
      for s in sides:
        sway = 0.35 * np.sin(2 * np.pi * u)
        if high:
          arm(q, s, flex=2.5, out=0.3 + sway, elbow=0.3)
        else:
          arm(q, s, flex=1.1, out=0.4, swing=sway, elbow=1.3)
      return q

    keys, frames = repeat_keys(p["count"], period, pose, lead=10, hold_pose=pose(0, 0))
    return from_keys(frames, keys)

  @staticmethod
  def phrases(p):
    hand = "both hands" if p["side"] == "both" else f"the {p['side']} hand"
    where = "above the head" if p["height"] == "overhead" else "at shoulder height"
    times = TIMES_WORDS[p["count"]]
    return [f"waves {hand} {where} {times}", f"raises {hand} and waves {times} {where}",
            f"waves hello with {hand} {where}, {times}"]


@family("raise_arms", keys=("side", "direction"))
class RaiseArms:

  @staticmethod
  def sample(rng):
    return dict(side=pick(rng, ("left", "right", "both")),
                direction=pick(rng, ("forward", "sideways", "up")))

  @staticmethod
  def build(p, rng):
    sides = SIDES if p["side"] == "both" else (p["side"],)
    up = {}
    for s in sides:
      if p["direction"] == "forward":
        arm(up, s, flex=1.55, elbow=0.05)
      elif p["direction"] == "sideways":
        arm(up, s, out=1.55, elbow=0.05)
      else:
        arm(up, s, flex=2.95, out=0.15, elbow=0.05)
    rise, hold = int(rng.integers(10, 16)), int(rng.integers(10, 30))
    return from_keys(2 * rise + hold + 10, [(0, {}), (4, {}), (4 + rise, up), (4 + rise + hold, up),
                                            (4 + 2 * rise + hold, {})])

  @staticmethod
  def phrases(p):
    what = "both arms" if p["side"] == "both" else f"the {p['side']} arm"
    where = {"forward": "forward to shoulder height", "sideways": "out to the side",
             "up": "straight up above the head"}[p["direction"]]
    return [f"raises {what} {where} and lowers it" if p["side"] != "both"
            else f"raises {what} {where} and lowers them",
            f"lifts {what} {where}", f"holds {what} {where} for a moment"]


@family("punch", keys=("side", "count"))
class Punch:

  @staticmethod
  def sample(rng):
    return dict(side=pick(rng, ("left", "right", "alternating")), count=int(rng.integers(2, 7)))

  @staticmethod
  def build(p, rng):
    guard = spine_bend(arm(arm({}, "left", flex=0.7, elbow=2.0, swing=-0.25), "right",
                           flex=0.7, elbow=2.0, swing=-0.25), forward=0.1)
    for s in SIDES:
      leg(guard, s, flex=0.12, knee=0.25)
    period = int(rng.integers(9, 13))

    def pose(i, u):
      s = p["side"] if p["side"] != "alternating" else SIDES[i % 2]
      q = dict(guard)
      ext = np.sin(np.pi * u) ** 2
      arm(q, s, flex=0.7 + 0.85 * ext, elbow=2.0 - 1.9 * ext, swing=-0.25 - 0.15 * ext)
      spine_bend(q, forward=0.1, twist=-0.35 * ext * LIMBS[s]["out"])
      return q

    keys, frames = repeat_keys(p["count"], period, pose, lead=10, hold_pose=guard)
    return from_keys(frames, keys)

  @staticmethod
  def phrases(p):
    n = p["count"]
    if p["side"] == "alternating":
      return [f"throws {NUMBER_WORDS[n]} punches alternating both fists",
              f"punches {TIMES_WORDS[n]} with the left and right hands in turn",
              f"boxes, punching {TIMES_WORDS[n]} with alternating arms"]
    s = p["side"]
    return [f"punches {TIMES_WORDS[n]} with the {s} fist",
            f"throws {NUMBER_WORDS[n]} {s} punches", f"boxes with the {s} hand {TIMES_WORDS[n]}"]


@family("kick", keys=("side", "count", "direction"))
class Kick:

  @staticmethod
  def sample(rng):
    return dict(side=pick(rng, SIDES), count=int(rng.integers(1, 4)),
                direction=pick(rng, ("forward", "sideways")))

  @staticmethod
  def build(p, rng):
    s = p["side"]
    arms = arm(arm({}, "left", out=0.6, elbow=0.4), "right", out=0.6, elbow=0.4)
    period = int(rng.integers(16, 22))
    high = rng.uniform(1.1, 1.5)

    def pose(i, u):
      q = dict(arms)
      ext = np.sin(np.pi * u)
      if p["direction"] == "forward":
        leg(q, s, flex=high * ext, knee=1.4 * np.sin(np.pi * u) ** 8 + 1.2 * (1 - ext))
        spine_bend(q, forward=-0.2 * ext)
        q[(LIMBS[s]["ankle"], 0)] = 0.4 * ext
      else:
        leg(q, s, out=0.9 * ext, knee=0.3 * (1 - ext) + 0.3 * ext * (1 - ext), flex=0.2 * ext)
        spine_bend(q, side=-0.35 * ext * LIMBS[s]["out"])
      return q

    keys, frames = repeat_keys(p["count"], period, pose, lead=8, hold_pose=arms)
    clip = Clip.still(frames)
    clip.angles = keyframes(frames, [(t, relaxed_arms(q)) for t, q in keys])
    # The standing foot stays flat; the kicking foot keeps its pointed toes.
    flat_feet(clip.angles, sides=(other(s),))
    return clip

  @staticmethod
  def phrases(p):
    s, n = p["side"], p["count"]
    how = "forward" if p["direction"] == "forward" else "to the side"
    noun = "kick" if n == 1 else "kicks"
    return [f"kicks {how} with the {s} leg {TIMES_WORDS[n]}",
            f"does {NUMBER_WORDS[n]} {s} {noun} {how}", f"kicks the {s} foot {how} {TIMES_WORDS[n]}"]


@family("clap", keys=("count",))
class Clap:

  @staticmethod
  def sample(rng):
    return dict(count=int(rng.integers(2, 7)))

  @staticmethod
  def build(p, rng):
    period = int(rng.integers(7, 10))

    def pose(i, u):
      apart = 0.55 * np.cos(np.pi * u) ** 2
      return arm(arm({}, "left", flex=1.1, elbow=0.9, swing=apart - 0.45), "right", flex=1.1,
                 elbow=0.9, swing=apart - 0.45)

    keys, frames = repeat_keys(p["count"], period, pose, lead=10, hold_pose=pose(0, 0))
    return from_keys(frames, keys)

  @staticmethod
  def phrases(p):
    n = p["count"]
    return [f"claps the hands {TIMES_WORDS[n]}", f"claps {NUMBER_WORDS[n]} times in front of the chest",
            f"brings the hands together {TIMES_WORDS[n]} clapping"]


@family("side_stretch", keys=("side",))
class SideStretch:

  @staticmethod
  def sample(rng):
    return dict(side=pick(rng, SIDES))

  @staticmethod
  def build(p, rng):
    up = arm(arm({}, "left", flex=2.9, elbow=0.1), "right", flex=2.9, elbow=0.1)
    bend = spine_bend(dict(up), side=0.6 * (1 if p["side"] == "left" else -1))
    a, b, c = (int(rng.integers(10, 14)) for _ in range(3))
    return from_keys(2 * a + 2 * b + c + 10, [(0, {}), (4, {}), (4 + a, up), (4 + a + b, bend),
                                              (4 + a + b + c, bend), (4 + a + 2 * b + c, up),
                                              (4 + 2 * a + 2 * b + c, {})])

  @staticmethod
  def phrases(p):
    s = p["side"]
    return [f"raises both arms and leans to the {s}", f"stretches the arms overhead and bends to the {s}",
            f"does a side stretch to the {s}"]


@family("throw", keys=("side",))
class Throw:

  @staticmethod
  def sample(rng):
    return dict(side=pick(rng, SIDES))

  @staticmethod
  def build(p, rng):
    s = p["side"]
    o = LIMBS[s]["out"]
    wind = spine_bend(arm({}, s, flex=-0.5, out=1.4, elbow=1.6), forward=-0.15, twist=0.5 * o)
    arm(wind, other(s), flex=0.8, elbow=0.3)
    release = spine_bend(arm({}, s, flex=2.2, out=0.3, elbow=0.3), forward=0.25, twist=-0.4 * o)
    follow = spine_bend(arm({}, s, flex=0.8, swing=-0.6, elbow=0.2), forward=0.35, twist=-0.5 * o)
    for q in (wind, release, follow):
      leg(q, s, knee=0.2)
      leg(q, other(s), knee=0.15)
    a = int(rng.integers(12, 16))
    return from_keys(a + 34, [(0, {}), (4, {}), (4 + a, wind), (8 + a, release), (14 + a, follow),
                              (30 + a, {})])

  @staticmethod
  def phrases(p):
    s = p["side"]
    return [f"throws something overhand with the {s} hand", f"winds up and throws with the {s} arm",
            f"makes a throwing motion with the {s} arm"]


@family("march", keys=("steps",))
class March:

  @staticmethod
  def sample(rng):
    return dict(steps=int(rng.integers(4, 11)))

  @staticmethod
  def build(p, rng):
    period = int(rng.integers(10, 14))
    knee_up = rng.uniform(0.9, 1.2)

    def pose(i, u):
      s = SIDES[i % 2]
      up = np.sin(np.pi * u)
      q = leg({}, s, flex=knee_up * up, knee=1.5 * up)
      arm(q, other(s), flex=0.6 * up, elbow=1.0)
      arm(q, s, flex=-0.3 * up, elbow=1.0)
      return q

    keys, frames = repeat_keys(p["steps"], period, pose, lead=6)
    return from_keys(frames, keys)

  @staticmethod
  def phrases(p):
    n = NUMBER_WORDS[p["steps"]]
    return [f"marches in place for {n} steps", f"marches on the spot lifting the knees {n} times",
            f"takes {n} high knee steps in place"]


@family("balance", keys=("side",))
class Balance:

  @staticmethod
  def sample(rng):
    return dict(side=pick(rng, SIDES))

  @staticmethod
  def build(p, rng):
    stand = other(p["side"])
    pose = leg(arm(arm({}, "left", out=1.4), "right", out=1.4), p["side"], flex=0.8, knee=1.5)
    leg(pose, stand, knee=0.05)
    rise, hold = int(rng.integers(10, 15)), int(rng.integers(25, 50))
    clip = from_keys(2 * rise + hold + 10, [(0, {}), (4, {}), (4 + rise, pose), (4 + rise + hold, pose),
                                            (4 + 2 * rise + hold, {})])
    sway = 0.04 * np.sin(clip.t / 7.0) * envelope(len(clip), rise + 4)
    clip.add(R.SPINE2, 2, sway)
    return clip

  @staticmethod
  def phrases(p):
    stand = other(p["side"])
    return [f"balances on the {stand} leg with the arms out", f"lifts the {p['side']} knee and stands on one leg",
            f"stands on the {stand} foot for a while, keeping balance"]


@family("look_around", keys=("first",))
class LookAround:

  @staticmethod
  def sample(rng):
    return dict(first=pick(rng, SIDES))

  @staticmethod
  def build(p, rng):
    sign = 1 if p["first"] == "left" else -1
    look = lambda s: spine_bend({(R.NECK, 1): 0.6 * s, (R.HEAD, 1): 0.4 * s}, twist=0.5 * s)
    a = int(rng.integers(12, 18))
    return from_keys(4 * a + 14, [(0, {}), (4, {}), (4 + a, look(sign)), (4 + 2 * a, look(sign)),
                                  (4 + 3 * a, look(-sign)), (4 + 4 * a, {})])

  @staticmethod
  def phrases(p):
    s, o = p["first"], other(p["first"])
    return [f"looks to the {s} and then to the {o}", f"turns the head and torso {s} then {o}",
            f"looks around, first {s}, then {o}"]


@family("dance", keys=("count",))
class Dance:

  @staticmethod
  def sample(rng):
    return dict(count=int(rng.integers(2, 6)))

  @staticmethod
  def build(p, rng):
    arms = arm(arm({}, "left", flex=1.0, out=1.2, elbow=1.3), "right", flex=1.0, out=1.2, elbow=1.3)
    sides = [SIDES[i % 2] for i in range(2 * p["count"])]
    clip = side_steps(sides, int(rng.integers(12, 16)), rng.uniform(0.15, 0.22), arms)
    env = envelope(len(clip), 6)
    clip.add(R.PELVIS, 2, 0.12 * np.sin(clip.t / 2.2) * env)
    for s in SIDES:
      clip.add(LIMBS[s]["shoulder"], 2, 0.3 * np.sin(clip.t / 2.2) * env)
    return clip

  @staticmethod
  def phrases(p):
    n = TIMES_WORDS[p["count"]]
    return [f"dances from side to side {n} with the arms up", f"sways and steps left and right {n}, dancing",
            f"does a little dance, stepping side to side {n}"]
