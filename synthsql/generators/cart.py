"""``cart``: sequential synthesis by classification and regression trees, grown in the database.

synthpop's default method (Reiter 2005; Nowok, Raab & Dibben 2016, ``syn.cart``): the columns are drawn one after
another in a visit sequence, the first from its marginal and each later one from the leaf that a tree on the
columns before it assigns (Breiman et al. 1984). Trees keep regressions and structural relations (no wage where no
work) that a low-degree network smooths away.

Here the trees are grown level by level in the database (:class:`~synthsql.aggregates.NodeTable`): each level asks
for the histograms of every open node over (predictor cell, target cell) and routes the rows to their children in
one statement, whatever the number of nodes. Splits are on the spec's cells:

* ordered predictors (numeric bins, in value order) by thresholds, the NULL cell going to the side that fits best
  (or alone), as scikit-learn's trees treat missing values;
* categorical predictors (NULL a category of its own) by a binary partition of their categories: ordered by the
  target's mean (regression) or by the share of the node's most frequent target cell (classification) and cut at
  the best threshold. For a regression or a two-class target this finds the best partition (Breiman et al. 1984,
  Thm 4.5); for more classes it is a heuristic.

Classification trees (categorical and boolean targets, NULL a class) split on Gini impurity; regression trees
(numeric targets) on the variance of the target, each row valued at the mean of its cell's within-bin quantile
function (the value a draw from that cell has on average), so every split is decided from integer counts and is
the same on every engine. A node splits when both children keep ``minbucket`` rows, it is shallower than
``max_depth``, and the split lowers the tree's impurity by at least ``cp`` times the root's (rpart's complexity
parameter, applied while growing, as scikit-learn's ``min_impurity_decrease = cp * root impurity``).

``minbucket`` defaults to 20, not synthpop's 5: a leaf is the set of source rows a synthetic value is drawn for, so
its size is a disclosure control (a leaf of a few records reproduces their values' cells).

``proper=True`` fits the trees on a bootstrap sample, as synthpop's ``proper`` does (so that the synthetic data
carry the uncertainty of the fit, Raab, Nowok & Dibben 2016): each row weighs a Poisson(1) count hashed from its
content and a seed taken from the fit's, the same on every engine (identical rows weigh the same).

Sampling routes each synthetic row down its column's tree and draws the cell from the leaf's histogram, then a value
inside the cell from the table-wide within-bin quantiles. The model holds the trees and the leaves' counts: no row,
no value particular to a leaf.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from synthsql.aggregates import AggregateStore
from synthsql.discretize import WITHIN_BIN_PROBS
from synthsql.errors import InvalidParameterError, did_you_mean
from synthsql.generators import CellSampler, Fitting, bin_quantiles, check_int, cumulative, register
from synthsql.model import Model, table_from_json, table_to_json
from synthsql.model_format import StateCheck, child, fail, show
from synthsql.schema import NUMERIC_KINDS, ColumnSpec

__all__ = ["Cart", "CartModel", "Tree", "cell_values", "MAX_SPLIT_CELLS"]

#: The most numbers one split search may hold: open nodes x predictor cells x target cells (8 bytes each).
MAX_SPLIT_CELLS = 50_000_000


def cell_values(spec: ColumnSpec, quantiles: np.ndarray) -> np.ndarray:
    """What a numeric column's regression tree values a row of each cell at: the mean of the cell's within-bin
    quantile function (the average of a value drawn from the cell), or the point of a point bin; NaN for special
    values and the NULL cell, which a regression tree leaves out of its variance."""
    values = np.full(spec.cells, np.nan)
    probs = np.asarray(WITHIN_BIN_PROBS)
    weights = np.diff(probs)
    for code, b in enumerate(spec.bins or ()):
        if b.is_point:
            values[code] = float(b.lo)
            continue
        q = np.asarray(quantiles[code], dtype=np.float64)
        if np.isfinite(q).all():
            values[code] = float(weights @ ((q[:-1] + q[1:]) / 2))
    return values


class Tree:
    """One column's tree: per node its predictor (an index into the column's predictors, -1 for a leaf), its
    children, the predictor cells that go left, and per leaf the counts of the column's cells."""

    def __init__(self, feature: Sequence[int], left: Sequence[int], right: Sequence[int],
                 goes_left: Sequence[Sequence[int]], counts: np.ndarray) -> None:
        self.feature = np.asarray(feature, dtype=np.int64)
        self.left = np.asarray(left, dtype=np.int64)
        self.right = np.asarray(right, dtype=np.int64)
        self.goes_left = [sorted(int(c) for c in g) for g in goes_left]
        self.counts = np.asarray(counts, dtype=np.int64).reshape(-1, np.shape(counts)[-1])
        self.leaf = np.cumsum(self.feature < 0) - 1  # leaf number of each node (for leaves)

    @property
    def leaves(self) -> int:
        return int((self.feature < 0).sum())

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature.tolist(),
            "left": self.left.tolist(),
            "right": self.right.tolist(),
            "goes_left": self.goes_left,
            "counts": table_to_json(self.counts),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tree:
        return cls(data["feature"], data["left"], data["right"], data["goes_left"],
                   table_from_json(data["counts"], np.int64))

    def router(self, cells: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """A flat table of where each (internal node, predictor cell) goes: offsets per node, child per entry."""
        offsets = np.zeros(len(self.feature), dtype=np.int64)
        flat: list[int] = []
        for node, f in enumerate(self.feature):
            offsets[node] = len(flat)
            if f >= 0:
                go = np.full(cells[f], self.right[node])
                go[self.goes_left[node]] = self.left[node]
                flat.extend(go.tolist())
        return offsets, np.asarray(flat, dtype=np.int64)


class CartModel(Model):
    generator = "cart"

    def __init__(self, *, order: Sequence[str], parents: Mapping[str, Sequence[str]], trees: Mapping[str, Tree],
                 **common: Any) -> None:
        super().__init__(**common)
        self.order = list(order)
        self.parents = {k: list(v) for k, v in parents.items()}
        self.trees = dict(trees)
        cells = {c.name: c.cells for c in self.spec.modelled}
        self._routers = {t: self.trees[t].router([cells[p] for p in self.parents[t]]) for t in self.order}
        self._samplers = {t: CellSampler(cumulative(self.trees[t].counts)) for t in self.order}

    def _draw(self, n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        codes: dict[str, np.ndarray] = {}
        for name in self.order:
            tree, (offsets, flat) = self.trees[name], self._routers[name]
            node = np.zeros(n, dtype=np.int64)
            if self.parents[name]:
                predictors = np.stack([codes[p] for p in self.parents[name]], axis=1)
                inner = np.flatnonzero(tree.feature[node] >= 0)
                while inner.size:
                    at = node[inner]
                    node[inner] = flat[offsets[at] + predictors[inner, tree.feature[at]]]
                    inner = inner[tree.feature[node[inner]] >= 0]
            codes[name] = self._samplers[name].draw(tree.leaf[node], rng.random(n))
        return codes, {}

    def _state(self) -> dict[str, Any]:
        return {"order": self.order, "parents": self.parents, "trees": {t: self.trees[t].to_json() for t in self.order}}

    @classmethod
    def _from_state(cls, state: Mapping[str, Any], **common: Any) -> Model:
        trees = {t: Tree.from_json(v) for t, v in state["trees"].items()}
        return cls(order=state["order"], parents=state["parents"], trees=trees, **common)

    @classmethod
    def _check_state(cls, state: Any, check: StateCheck) -> None:
        state = check.fields(state, "state", ("order", "parents", "trees"))
        order, parents = check.network(state, "state", check.modelled)
        trees = check.per_column(state["trees"], "state.trees", order)
        for name in order:
            _check_tree(trees[name], child("state.trees", name), [check.cells[p] for p in parents[name]],
                        check.cells[name], check)


def _check_tree(value: Any, path: str, cells: Sequence[int], target_cells: int, check: StateCheck) -> None:
    """A tree whose nodes each have one parent before them, predictors and cells in range, and counts per leaf."""
    value = check.fields(value, path, ("feature", "left", "right", "goes_left", "counts"))
    feature = value["feature"]
    if not isinstance(feature, list) or not feature:
        fail(child(path, "feature"), f"expected a non-empty list of node predictors, got {show(feature)}.")
    nodes = len(feature)
    check.reserve(nodes * 4, path)
    for key in ("feature", "left", "right"):
        items = value[key]
        if not isinstance(items, list) or len(items) != nodes or any(type(v) is not int for v in items):
            fail(child(path, key), f"expected {nodes:,} integers, one per node, got {show(items)}.")
    goes = value["goes_left"]
    if not isinstance(goes, list) or len(goes) != nodes:
        fail(child(path, "goes_left"), f"expected {nodes:,} lists of cells, one per node, got {show(goes)}.")
    parent_seen = [False] * nodes
    for node in range(nodes):
        f, where = feature[node], child(child(path, "feature"), node)
        if f == -1:
            if value["left"][node] != -1 or value["right"][node] != -1 or goes[node] != []:
                fail(child(path, "left"), f"node {node} is a leaf (feature -1) but has children or cells.")
            continue
        if not 0 <= f < len(cells):
            fail(where, f"expected -1 (a leaf) or a predictor index below {len(cells)}, got {show(f)}.")
        for key in ("left", "right"):
            kid = value[key][node]
            if not node < kid < nodes or parent_seen[kid]:
                fail(child(child(path, key), node), f"expected a node after {node} not already a child, got "
                     f"{show(kid)}.")
            parent_seen[kid] = True
        g = goes[node]
        if not isinstance(g, list) or any(type(c) is not int or not 0 <= c < cells[f] for c in g) \
                or len(set(g)) != len(g):
            fail(child(child(path, "goes_left"), node), f"expected distinct cells of predictor {f} (below "
                 f"{cells[f]}), got {show(g)}.")
    if any(not seen for seen in parent_seen[1:]):
        fail(child(path, "left"), "a node other than the root is nobody's child.")
    leaves = sum(1 for f in feature if f == -1)
    table = check.fields(value["counts"], child(path, "counts"), ("shape", "values"))
    if table["shape"] != [leaves, target_cells]:
        fail(child(child(path, "counts"), "shape"), f"expected [{leaves}, {target_cells}] (leaves x cells), got "
             f"{show(table['shape'])}.")
    check.reserve(leaves * target_cells, path)
    counts = check.numbers(table["values"], child(child(path, "counts"), "values"), leaves * target_cells,
                           "non-negative integer counts", kind="count").reshape(leaves, target_cells)
    if not counts.sum(axis=1).all():
        fail(child(child(path, "counts"), "values"), "a leaf counts no row.")


@register
class Cart:
    """Sequential CART synthesis, trees grown in the database (see the module's docstring)."""

    name = "cart"

    def __init__(self, *, visit: Sequence[str] | None = None, minbucket: int = 20, cp: float = 1e-8,
                 max_depth: int = 12, max_predictor_categories: int = 60, proper: bool = False) -> None:
        if not isinstance(proper, bool):
            raise InvalidParameterError(f"The 'proper' parameter of cart must be True or False. Got {proper!r} instead.")
        self.proper = proper
        self.minbucket = check_int(self.name, "minbucket", minbucket, 1)
        self.max_predictor_categories = check_int(self.name, "max_predictor_categories", max_predictor_categories, 2)
        self.max_depth = check_int(self.name, "max_depth", max_depth, 1)
        if isinstance(cp, bool) or not isinstance(cp, (int, float)) or not 0 <= cp < 1:
            raise InvalidParameterError(f"The 'cp' parameter of cart must be a number in [0, 1). Got {cp!r} instead.")
        self.cp = float(cp)
        if visit is not None:
            if isinstance(visit, str) or not isinstance(visit, Sequence) or not all(isinstance(v, str) for v in visit):
                raise InvalidParameterError(f"The 'visit' parameter of cart must be a list of column names. Got "
                                            f"{visit!r} instead.")
            repeated = sorted({v for v in visit if list(visit).count(v) > 1})
            if repeated:
                raise InvalidParameterError(f"The 'visit' parameter of cart names {', '.join(map(repr, repeated))} "
                                            "more than once.")
            visit = list(visit)
        self.visit = visit

    def check_table(self, columns: Sequence[str], table: str) -> None:
        for name in self.visit or ():
            if name not in columns:
                raise InvalidParameterError(f"The 'visit' parameter of cart names {name!r}, which table {table!r} "
                                            f"does not have.{did_you_mean(name, columns)}")

    def params(self) -> dict[str, Any]:
        return {"visit": self.visit, "minbucket": self.minbucket, "cp": self.cp, "max_depth": self.max_depth,
                "max_predictor_categories": self.max_predictor_categories, "proper": self.proper}

    def fit(self, store: AggregateStore, fitting: Fitting, /) -> Model:
        spec = store.spec
        modelled = [c.name for c in spec.modelled]
        for name in self.visit or ():
            if name not in modelled:
                spec.column(name)  # unknown: raises with a suggestion
                raise InvalidParameterError(f"The 'visit' parameter of cart names {name!r}, which is not modelled "
                                            f"(kind {spec.column(name).kind!r}) in {spec.table!r}.")
        order = list(self.visit or ()) + [c for c in modelled if c not in (self.visit or ())]
        columns = {c.name: c for c in spec.modelled}
        usable = [name for name in order if self._predicts(columns[name])]
        parents = {name: [p for p in order[:i] if p in usable] for i, name in enumerate(order)}
        quantiles = bin_quantiles(store)
        self._check_size(store, parents, columns)
        bootstrap = int(fitting.rng.integers(2**31)) if self.proper else None
        trees = _Grower(store, order, parents, columns, quantiles, self).grow(bootstrap)
        return CartModel(order=order, parents=parents, trees=trees, spec=spec, params=self.params(),
                         quantiles=quantiles, **fitting.provenance())

    def _predicts(self, col: ColumnSpec) -> bool:
        """Whether a column may predict later ones: not a categorical column with more than
        ``max_predictor_categories`` categories (synthpop's ``maxfaclevels``): its best partition overfits (CART's
        bias toward many-valued predictors) and its histograms grow with every category."""
        return col.kind in NUMERIC_KINDS or len(col.categories or ()) <= self.max_predictor_categories

    def _check_size(self, store: AggregateStore, parents: Mapping[str, list[str]],
                    columns: Mapping[str, ColumnSpec]) -> None:
        """Refuse, before any query, a split search over MAX_SPLIT_CELLS numbers (its widest level's open nodes x a
        predictor's cells x the target's cells)."""
        nodes = max(1, min(1 << (self.max_depth - 1), store.n_rows // (2 * self.minbucket)))
        for target, predictors in parents.items():
            for predictor in predictors:
                size = nodes * columns[predictor].cells * columns[target].cells
                if size > MAX_SPLIT_CELLS:
                    raise InvalidParameterError(
                        f"Table {store.spec.table!r}: the tree for {target!r} may search {nodes:,} nodes x "
                        f"{columns[predictor].cells} cells of {predictor!r} x {columns[target].cells} cells of "
                        f"{target!r} = {size:,} numbers at one level, over the cap of {MAX_SPLIT_CELLS:,} "
                        "(synthsql.generators.cart.MAX_SPLIT_CELLS); nothing was computed. Lower 'max_depth', "
                        "raise 'minbucket', or declare fewer bins or categories."
                    )


class _Grower:
    """The trees of every column that has predictors, grown together, level by level."""

    def __init__(self, store: AggregateStore, order: list[str], parents: Mapping[str, list[str]],
                 columns: Mapping[str, ColumnSpec], quantiles: Mapping[str, np.ndarray], params: Cart) -> None:
        self.store, self.order, self.parents, self.columns, self.p = store, order, parents, columns, params
        values = {
            t: cell_values(columns[t], quantiles[t]) if columns[t].kind in NUMERIC_KINDS and t in quantiles
            else _point_values(columns[t]) if columns[t].kind in NUMERIC_KINDS else None
            for t in order
        }
        self.values = values
        self.criteria = {t: Criterion(values[t]) for t in order}

    def grow(self, bootstrap: int | None) -> dict[str, Tree]:
        """Every column's tree; with ``bootstrap`` (a seed), fitted on Poisson bootstrap weights of the rows."""
        alone = [t for t in self.order if not self.parents[t]]  # the first column (and any without predictors)
        targets = [t for t in self.order if self.parents[t]]
        trees: dict[str, Tree] = {}
        if bootstrap is None:
            trees.update(_root_trees(alone, self.store.marginals([(t,) for t in alone])))
            if not targets:
                return trees
        nodes: dict[str, list[dict[str, Any]]] = {t: [{"depth": 0}] for t in targets}
        open_: dict[str, list[int]] = {t: [0] for t in targets}
        root: dict[str, float] = {}
        with self.store.tree_nodes(targets, bootstrap=bootstrap) as table:
            if bootstrap is not None:
                trees.update(_root_trees(alone, table.marginals(alone)))
            while any(open_.values()):
                pairs = [(t, p) for t in targets if open_[t] for p in self.parents[t]]
                hist = table.histograms(pairs)
                routes: dict[str, list[tuple[int, str, int, int, np.ndarray]]] = {}
                open_rows: dict[str, int] = {}
                for t in targets:
                    if not open_[t]:
                        continue
                    routes[t], open_[t], open_rows[t] = self._level(t, self.parents[t], nodes[t], open_[t], hist, root)
                if any(open_.values()):  # (when every child is a leaf, no row needs to move)
                    table.route(routes, open_rows)
        for t in targets:
            trees[t] = _tree(nodes[t], self.columns[t].cells)
        return {t: trees[t] for t in self.order}

    def _level(self, t: str, predictors: list[str], nodes: list[dict[str, Any]], open_: list[int],
               hist: Mapping[tuple[str, str], np.ndarray], root: dict[str, float],
               ) -> tuple[list[tuple[int, str, int, int, np.ndarray]], list[int], int]:
        """Decide the splits of target ``t``'s open nodes; returns the routes, the next open nodes, their rows."""
        tcells = self.columns[t].cells
        ids = np.asarray(open_, dtype=np.int64)  # ascending: children are numbered after their parents
        best_score = np.full(len(open_), np.inf)
        best: list[Any] = [None] * len(open_)
        counts = None
        for j, p in enumerate(predictors):
            h = hist[(t, p)]
            dense = np.zeros((len(open_), self.columns[p].cells, tcells), dtype=np.int64)
            keep = np.isin(h[:, 0], open_)
            dense[np.searchsorted(ids, h[keep, 0]), h[keep, 1], h[keep, 2]] = h[keep, 3]
            if counts is None:
                counts = dense.sum(axis=1)
                if t not in root:  # the root level: the criterion's scales
                    self.criteria[t].set_root(counts[0])
            score, left = self._best_split(dense, self.columns[p], t)
            better = score < best_score
            best_score = np.where(better, score, best_score)
            for k in np.flatnonzero(better):
                best[k] = (j, p, left[k], dense[k])
        assert counts is not None
        parent = self.criteria[t](counts)
        if t not in root:
            root[t] = float(parent[0])
        routes, next_open, open_rows = [], [], 0
        for k, node in enumerate(open_):
            info = nodes[node]
            info["counts"] = counts[k]
            gain = parent[k] - best_score[k]
            if best[k] is None or not np.isfinite(best_score[k]) or gain <= 1e-9 * max(1.0, parent[k]) \
                    or gain < self.p.cp * root[t]:
                continue
            j, p, left_mask, dense = best[k]
            cells_left, cells_right = dense[left_mask].sum(axis=0), dense[~left_mask].sum(axis=0)
            n_left, n_right = int(cells_left.sum()), int(cells_right.sum())
            empty = dense.sum(axis=1) == 0
            left_mask = self._place_empty(left_mask, empty, self.columns[p], n_left >= n_right)
            children = []
            for side_counts in (cells_left, cells_right):
                kid = len(nodes)
                depth = info["depth"] + 1
                nodes.append({"depth": depth, "counts": side_counts})
                grows = (depth < self.p.max_depth and side_counts.sum() >= 2 * self.p.minbucket
                         and self.criteria[t](side_counts[None, :])[0] > 1e-12)
                if grows:
                    next_open.append(kid)
                    open_rows += int(side_counts.sum())
                children.append(kid if grows else -1)
            info.update(feature=j, left=len(nodes) - 2, right=len(nodes) - 1,
                        goes_left=np.flatnonzero(left_mask).tolist())
            routes.append((node, p, children[0], children[1], np.flatnonzero(left_mask)))
        return routes, next_open, open_rows

    @staticmethod
    def _place_empty(left: np.ndarray, empty: np.ndarray, spec: ColumnSpec, larger_left: bool) -> np.ndarray:
        """Cells no row of the node has: by a threshold's order for a numeric predictor's bins (a value between two
        seen bins goes the way of its neighbours' threshold), to the larger child for categories, NULL and
        special values (as scikit-learn sends missing values it did not see)."""
        left = left.copy()
        if spec.kind in NUMERIC_KINDS:
            bins = len(spec.bins or ())
            seen_left = np.flatnonzero(left[:bins] & ~empty[:bins])
            last = seen_left.max() if seen_left.size else -1
            left[:bins] = np.where(empty[:bins], np.arange(bins) <= last, left[:bins])
            other = np.zeros(spec.cells, dtype=bool)
            other[bins:] = True
            left = np.where(other & empty, larger_left, left)
            return left
        return np.where(empty, larger_left, left)

    def _best_split(self, dense: np.ndarray, pspec: ColumnSpec, t: str) -> tuple[np.ndarray, np.ndarray]:
        """Per node, the smallest children's impurity of a split on this predictor (inf: none keeps minbucket) and
        the cells that go left."""
        n_nodes, pcells, tcells = dense.shape
        values, criterion = self.values[t], self.criteria[t]
        total = dense.sum(axis=1)  # (nodes, tcells)
        if pspec.kind in NUMERIC_KINDS:
            bins = len(pspec.bins or ())
            order = np.broadcast_to(np.arange(bins), (n_nodes, bins))
            floating = list(range(bins, pcells))  # special values and NULL: together on either side, or alone
        else:
            key = self._category_key(dense, values)
            order = np.argsort(key, axis=1, kind="stable")
            floating = []
        ordered = np.take_along_axis(dense, order[:, :, None], axis=1)
        cum = np.cumsum(ordered, axis=1)[:, :-1, :]  # left side of each threshold: (nodes, thresholds, tcells)
        if not floating:
            candidates = [(cum, None)]
        else:
            aside = dense[:, floating, :].sum(axis=1)  # (nodes, tcells): rows in the floating cells
            base = total - aside
            cum = cum if cum.shape[1] else np.zeros((n_nodes, 0, tcells), dtype=np.int64)
            candidates = [(cum + aside[:, None, :], "left"), (cum, "right"),
                          (base[:, None, :], "alone")]  # every bin left, the floating cells right
        best_score = np.full(n_nodes, np.inf)
        best_left = np.zeros((n_nodes, pcells), dtype=bool)
        for left_counts, mode in candidates:
            right_counts = total[:, None, :] - left_counts
            n_left, n_right = left_counts.sum(axis=2), right_counts.sum(axis=2)
            ok = (n_left >= self.p.minbucket) & (n_right >= self.p.minbucket)
            if mode in ("left", "right"):  # a threshold has rows of seen bins on both sides (scikit-learn's)
                seen = cum.sum(axis=2)
                ok &= (seen > 0) & (seen < base.sum(axis=1)[:, None])
            score = criterion(left_counts) + criterion(right_counts)
            score = np.where(ok, score, np.inf)
            if score.shape[1] == 0:
                continue
            k = np.argmin(score, axis=1)
            s = score[np.arange(n_nodes), k]
            better = s < best_score
            if not better.any():
                continue
            best_score = np.where(better, s, best_score)
            for node in np.flatnonzero(better):
                mask = np.zeros(pcells, dtype=bool)
                mask[order[node, : order.shape[1] if mode == "alone" else k[node] + 1]] = True
                if mode == "left":
                    mask[floating] = True
                best_left[node] = mask
        return best_score, best_left

    @staticmethod
    def _category_key(dense: np.ndarray, values: np.ndarray | None) -> np.ndarray:
        """The order of a categorical predictor's cells within each node: the target's mean (regression) or the
        share of the node's most frequent target cell (classification); empty cells last."""
        with np.errstate(invalid="ignore", divide="ignore"):
            if values is not None:
                valid = np.isfinite(values)
                w = dense[:, :, valid].astype(np.float64)
                key = (w @ values[valid]) / w.sum(axis=2)
            else:
                top = dense.sum(axis=1).argmax(axis=1)  # (nodes,)
                share = np.take_along_axis(dense, top[:, None, None], axis=2)[:, :, 0] / dense.sum(axis=2)
                key = share.astype(np.float64)
        return np.where(np.isfinite(key), key, np.inf)


def _root_trees(columns: Sequence[str], counts: Sequence[np.ndarray]) -> dict[str, Tree]:
    """Trees of one leaf: columns drawn from their marginal."""
    return {t: Tree([-1], [-1], [-1], [[]], c[None, :]) for t, c in zip(columns, counts, strict=True)}


def _point_values(spec: ColumnSpec) -> np.ndarray:
    """A numeric column without interval bins (every bin a point): the points, NaN for specials and NULL."""
    values = np.full(spec.cells, np.nan)
    for code, b in enumerate(spec.bins or ()):
        values[code] = float(b.lo) if b.is_point else np.nan
    return values


class Criterion:
    """A tree's impurity of count vectors (last axis: the target's cells), times the rows.

    Classes (``values`` None): Gini impurity. A numeric target: the sum of squared deviations of the rows with a
    value (each valued at its cell's ``values``), divided by the root's; plus, when the target has rows without a
    value (NULL, special values), the Gini impurity of "which of: a value, NULL, each special value" divided by the
    root's, so that a split that separates the NULLs (a skip pattern) counts as much as one that separates the
    values. Without such rows the split chosen is the variance's (a positive rescaling: scikit-learn's).
    """

    def __init__(self, values: np.ndarray | None) -> None:
        self.values = values
        self.scale: tuple[float, float] | None = None

    def set_root(self, counts: np.ndarray) -> None:
        """Fix the scales from the root's counts (a numeric target only)."""
        if self.values is not None:
            self.scale = (1.0, 1.0)
            spread, gini = self._parts(counts.astype(np.float64))
            self.scale = (float(spread), float(gini))

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        counts = counts.astype(np.float64)
        if self.values is None:
            return _gini(counts)
        assert self.scale is not None, "set_root first"
        spread, gini = self._parts(counts)
        out = np.zeros(np.shape(spread))
        for part, root in ((spread, self.scale[0]), (gini, self.scale[1])):
            if root > 0:
                out = out + part / root
        return out

    def _parts(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        valid = np.isfinite(self.values)
        w, v = counts[..., valid], self.values[valid]
        n = w.sum(axis=-1)
        s1, s2 = w @ v, w @ (v * v)
        with np.errstate(invalid="ignore", divide="ignore"):
            spread = np.maximum(np.where(n > 0, s2 - s1 * s1 / np.where(n > 0, n, 1), 0.0), 0.0)
        if valid.all():
            return spread, np.zeros(np.shape(spread))
        groups = np.concatenate([n[..., None], counts[..., ~valid]], axis=-1)
        return spread, _gini(groups)


def _gini(counts: np.ndarray) -> np.ndarray:
    n = counts.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, n - (counts**2).sum(axis=-1) / np.where(n > 0, n, 1), 0.0)


def _tree(nodes: list[dict[str, Any]], cells: int) -> Tree:
    feature = [n.get("feature", -1) for n in nodes]
    left = [n.get("left", -1) for n in nodes]
    right = [n.get("right", -1) for n in nodes]
    goes = [n.get("goes_left", []) for n in nodes]
    counts = np.array([n["counts"] for n, f in zip(nodes, feature) if f < 0], dtype=np.int64).reshape(-1, cells)
    return Tree(feature, left, right, goes, counts)
