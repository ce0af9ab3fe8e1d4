"""Learning from inspections: what inspectors established, and a logistic re-ranking.

Two ways, both used by :func:`sourcegrid.tracing.attribution.trace_cell` (``learn=True``):

- **Memory** (:func:`inspection_memory`): a new source that inspectors found and
  confirmed at a location (a finding with lon, lat and no source_id) is a candidate of
  every later trace within its reach, at that location, its rate fitted freely (no
  prior: nobody reported it), listed as kind 'unregistered' with the finding's id; a
  registered source confirmed as a cause is fitted without the prior that pulls its
  scale factor towards the reported emission (it was seen emitting more), and one
  inspected and found not to be the cause is held near its reported emission (prior sd
  :data:`sourcegrid.tracing.attribution.HELD_PRIOR_SD`). This is
  what a grid office expects of the system: once found, a source is not searched for
  again.
- **Re-ranking** (the rest of this module), from the evidence features:

The physical ranking of :func:`sourcegrid.tracing.attribution.trace_cell` orders the
candidates by fitted share. Inspectors then say which source really was the cause
(:mod:`sourcegrid.tracing.findings`). A logistic regression on the evidence features of
each ranked row learns how far to trust each piece of evidence in this city (e.g. that
the fitted share of far, tall stacks is overrated, or that the hours upwind matter):

    P(cause | features) = 1 / (1 + exp(−(w·f + b)))

Features (:data:`FEATURES`, standardised): fitted share, log10 scale factor, log10
predicted and fitted contributions, distance [km], share of hours upwind, correlation of
the predicted series with the excess, CPF of the excess at the source's bearing,
unregistered (0/1), confounded (group size > 1) and 1/physical rank. By default the
model uses the six of :data:`MODEL_FEATURES` (fewer weights to learn from few findings).

Labels: a row of ``trace_results`` whose (cell_id, source_id) has a finding is labelled
by its ``confirmed`` value; an unregistered row is labelled by the findings of its cell
within ``match_distance_m`` (1.5 km) of its location estimate. A cell with a confirmed
finding also labels the other rows of its trace among the first ``implicit_negatives``
(default: all of them) as negatives: the cause was found and it was not them. Labelling
only the first few would teach the model that a row ranked low is likely the cause
(the confirmed one is often found by walking the cell, far down the ranking).

With fewer than ``min_rows`` labelled rows (default 20) or fewer than ``min_per_class``
(3) of either class, the model is not fitted and the physical ranking stands
(:attr:`RankingModel.fallback`).

References
----------
Pedregosa, F. et al. (2011). Scikit-learn: Machine Learning in Python. JMLR 12,
2825-2830 (``LogisticRegression``, L2-penalised, lbfgs).
Hosmer, D. W., Lemeshow, S. and Sturdivant, R. X. (2013). Applied Logistic Regression,
3rd ed. Wiley.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["FEATURES", "MODEL_FEATURES", "MIN_ROWS", "FOUND_PREFIX", "features",
           "training_rows", "RankingModel", "rerank_with_workspace", "inspection_memory"]

FEATURES = ["share", "log_scale_factor", "log_predicted", "log_fitted", "distance_km",
            "upwind_hours_share", "correlation", "cpf_at_bearing", "unregistered",
            "confounded", "inverse_rank"]
#: The features the model is fitted on by default: few, so that a few dozen findings
#: are enough (the others stay available through ``features=``).
MODEL_FEATURES = ["share", "log_predicted", "distance_km", "upwind_hours_share",
                  "unregistered", "inverse_rank"]
#: Labelled rows needed before the model replaces the physical ranking.
MIN_ROWS = 20
MIN_PER_CLASS = 3
#: Cross-validation that decides between the model and the physical ranking: folds by
#: cell, and the top-k hit rate compared.
CV_FOLDS = 5
CV_TOP = 3
#: Cells by which the model must beat the physical ranking in cross-validation: with a
#: dozen training hotspots, one cell either way is within chance (a sign test of 1 win
#: and 0 losses has p = 0.5).
CV_MARGIN = 2


#: source_id prefix of a source found by inspection (followed by the finding_id).
FOUND_PREFIX = "found-"
#: Nominal emission rate [g/s] a found source enters the fit with; its scale factor is
#: then its fitted rate in g/s (free: no prior, as for a virtual source).
FOUND_RATE = 1.0
#: Height [m] of a found source: a low stack or a yard, as a virtual source.
FOUND_HEIGHT = 10.0
#: Confirmed new-source findings closer than this [m] are one source (two inspections
#: of the same yard): the latest finding stands for it.
FOUND_SAME_M = 300.0


def inspection_memory(findings: pd.DataFrame) -> tuple[pd.DataFrame, set[str], set[str]]:
    """What inspections established, for the next traces.

    ``findings``: the stored findings (:func:`sourcegrid.tracing.findings.read_findings`).

    Returns
    -------
    (found, confirmed, cleared)
        ``found``: candidate rows (the columns of
        :data:`sourcegrid.tracing.attribution.CANDIDATE_COLUMNS` and name, kind,
        stack_height) of the new sources inspectors found and confirmed (findings with
        a location and no source_id; findings within :data:`FOUND_SAME_M` of a later
        one are that one), source_id :data:`FOUND_PREFIX` + finding_id, emission rate
        :data:`FOUND_RATE`; ``confirmed``: ids of registered sources confirmed as a
        cause; ``cleared``: ids of registered sources inspected and found not to be
        the cause, never confirmed. All empty without findings.
    """
    empty = pd.DataFrame(columns=["source_id", "name", "kind", "lon", "lat", "emission_rate",
                                  "stack_height"])
    if findings.empty:
        return empty, set(), set()
    inspected = findings["source_id"].fillna("").astype(str)
    cleared = set(inspected[(inspected != "") & ~findings["confirmed"]])
    confirmed = findings.loc[findings["confirmed"]]
    source_ids = confirmed["source_id"].fillna("").astype(str)
    registered = set(source_ids[source_ids != ""])
    cleared -= registered
    located = confirmed.loc[(source_ids == "").to_numpy()
                            & np.isfinite(pd.to_numeric(confirmed["lon"], errors="coerce"))
                            & np.isfinite(pd.to_numeric(confirmed["lat"], errors="coerce"))]
    if located.empty:
        return empty, registered, cleared
    located = located.sort_values(["time", "finding_id"], ascending=[False, True],
                                  kind="mergesort").reset_index(drop=True)
    lon, lat = located["lon"].to_numpy(float), located["lat"].to_numpy(float)
    from pyproj import Geod

    # each finding against the later ones (small: a city's confirmed new sources)
    count = len(located)
    first, second = np.triu_indices(count, k=1)
    _, _, metres = Geod(ellps="WGS84").inv(lon[first], lat[first], lon[second], lat[second])
    repeated = np.zeros(count, dtype=bool)
    repeated[second[np.asarray(metres) <= FOUND_SAME_M]] = True
    kept = located.loc[~repeated]
    problem = kept["problem"].fillna("").astype(str)
    found = pd.DataFrame({
        "source_id": FOUND_PREFIX + kept["finding_id"].astype(str),
        "name": ("source found by inspection " + kept["finding_id"].astype(str)
                 + np.where(problem != "", " (" + problem + ")", "")),
        "kind": "point", "lon": kept["lon"].to_numpy(float), "lat": kept["lat"].to_numpy(float),
        "emission_rate": FOUND_RATE, "stack_height": FOUND_HEIGHT})
    return found.reset_index(drop=True), registered, cleared


def _top_hits(frame: pd.DataFrame, score: np.ndarray, top: int) -> int:
    """Cells whose confirmed row is among the first ``top`` rows by ``score`` (high first,
    ties by physical rank)."""
    ordered = frame.assign(_score=score).sort_values(
        ["cell_id", "_score", "_rank"], ascending=[True, False, True], kind="mergesort")
    position = ordered.groupby("cell_id").cumcount()
    hit = ordered.loc[(position < top) & (ordered["label"] == 1), "cell_id"]
    return int(hit.nunique())


def _cross_validated_hits(labelled: pd.DataFrame, matrix: np.ndarray, y: np.ndarray, pipeline,
                          *, folds: int, top: int) -> tuple[int, int, int]:
    """(model hits, physical hits, cells) in ``folds``-fold cross-validation by cell."""
    from sklearn.base import clone

    frame = labelled[["cell_id"]].astype(str).copy()
    if "run_id" in labelled:
        frame["cell_id"] = labelled["run_id"].astype(str)
    rank = pd.to_numeric(labelled.get("physical_rank", labelled.get("rank")), errors="coerce")
    frame["_rank"] = rank.fillna(1e9).to_numpy(float)
    frame["label"] = y
    cells = np.array(sorted(frame.loc[frame["label"] == 1, "cell_id"].unique()))
    if len(cells) < 2:
        return 0, 0, 0
    fold_of = {cell: number % folds for number, cell in enumerate(cells)}
    fold = frame["cell_id"].map(fold_of).fillna(-1).to_numpy(int)
    score = np.full(len(frame), np.nan)
    for number in range(folds):
        test = fold == number
        train = ~test
        if not test.any():
            continue
        if len(np.unique(y[train])) < 2:
            return 0, 0, 0
        model = clone(pipeline).fit(matrix[train], y[train])
        score[test] = model.predict_proba(matrix[test])[:, 1]
    scored = fold >= 0
    frame, score = frame.loc[scored], score[scored]
    return (_top_hits(frame, score, top), _top_hits(frame, -frame["_rank"].to_numpy(), top),
            len(cells))


def features(table: pd.DataFrame) -> np.ndarray:
    """The evidence features of ranked rows (rows × :data:`FEATURES`), NaN-free."""
    def column(name, default=0.0):
        if name not in table:
            return np.full(len(table), default)
        return pd.to_numeric(table[name], errors="coerce").to_numpy(float)

    share = np.clip(np.nan_to_num(column("share")), -1, 2)
    scale = column("scale_factor", 1.0)
    scale = np.log10(np.clip(np.nan_to_num(scale, nan=1.0), 1e-2, 1e3))
    predicted = np.log10(np.clip(np.nan_to_num(column("predicted"), nan=0.0), 1e-3, None))
    fitted = np.log10(np.clip(np.nan_to_num(column("fitted"), nan=0.0), 1e-3, None))
    distance = np.nan_to_num(column("distance_m"), nan=10_000.0) / 1000.0
    upwind = np.nan_to_num(column("upwind_hours_share"))
    correlation = np.nan_to_num(column("correlation"))
    cpf_value = np.nan_to_num(column("cpf_at_bearing"))
    kind = table["kind"].astype(str).to_numpy() if "kind" in table else np.full(len(table), "")
    unregistered = (kind == "unregistered").astype(float)
    confounded = (np.nan_to_num(column("group_size", 1.0), nan=1.0) > 1).astype(float)
    rank = column("physical_rank") if "physical_rank" in table else column("rank")
    inverse_rank = 1.0 / np.clip(np.nan_to_num(rank, nan=100.0), 1, None)
    return np.column_stack([share, scale, predicted, fitted, distance, upwind, correlation,
                            cpf_value, unregistered, confounded, inverse_rank])


def training_rows(results: pd.DataFrame, findings: pd.DataFrame, *,
                  match_distance_m: float = 1500.0, implicit_negatives: int = 10_000
                  ) -> pd.DataFrame:
    """Rows of ``trace_results`` labelled by the findings (column ``label``: 1 / 0).

    See the module docstring for the labelling rules.
    """
    if results.empty or findings.empty:
        return results.iloc[0:0].assign(label=pd.Series(dtype=float))
    rows = results.copy()
    rank = pd.to_numeric(rows.get("physical_rank", rows.get("rank")), errors="coerce")
    rows["label"] = np.nan
    registered = findings.loc[findings["source_id"].astype(str) != ""]
    labels = registered.groupby(["cell_id", "source_id"])["confirmed"].max()
    keys = pd.MultiIndex.from_arrays([rows["cell_id"].astype(str), rows["source_id"].astype(str)])
    matched = labels.reindex(keys).to_numpy(dtype=object)
    has = pd.notna(matched)
    rows.loc[has, "label"] = matched[has].astype(float)
    located = findings.dropna(subset=["lon", "lat"])
    unregistered = (rows["kind"] == "unregistered").to_numpy()
    if len(located) and unregistered.any():
        from pyproj import Geod

        geod = Geod(ellps="WGS84")
        for index in np.flatnonzero(unregistered):
            here = located.loc[located["cell_id"] == rows["cell_id"].iloc[index]]
            if here.empty:
                continue
            _, _, distance = geod.inv(np.full(len(here), rows["lon"].iloc[index]),
                                      np.full(len(here), rows["lat"].iloc[index]),
                                      here["lon"].to_numpy(float), here["lat"].to_numpy(float))
            close = distance <= match_distance_m
            if close.any():
                rows.iloc[index, rows.columns.get_loc("label")] = float(
                    here["confirmed"].to_numpy()[close].max())
    confirmed_cells = set(findings.loc[findings["confirmed"], "cell_id"])
    implicit = (rows["cell_id"].isin(confirmed_cells) & rows["label"].isna()
                & (rank <= implicit_negatives)).to_numpy()
    rows.loc[implicit, "label"] = 0.0
    return rows.loc[rows["label"].notna()].reset_index(drop=True)


@dataclass
class RankingModel:
    """A logistic model of "this candidate is the cause", or the physical fallback.

    Attributes
    ----------
    fallback : bool
        True when findings were too few: :meth:`rerank` keeps the physical ranking.
    reason : str
        Why the model is (not) used.
    rows, positives : int
        Labelled rows and positive labels it was fitted on.
    coefficients : dict
        Feature → standardised coefficient (empty on fallback).
    """

    fallback: bool
    reason: str
    rows: int = 0
    positives: int = 0
    coefficients: dict = field(default_factory=dict)
    pipeline: object = None
    columns: list = field(default_factory=list)

    @classmethod
    def fit(cls, results: pd.DataFrame, findings: pd.DataFrame, *, min_rows: int = MIN_ROWS,
            min_per_class: int = MIN_PER_CLASS, regularisation: float = 0.5,
            model_features: list[str] | None = None, cross_validate: bool = True,
            folds: int = CV_FOLDS, top: int = CV_TOP, **label_options) -> RankingModel:
        """Fit on trace results labelled by findings (see :func:`training_rows`).

        With ``cross_validate`` (default) the model is kept only when, in ``folds``-fold
        cross-validation by cell on the labelled traces, it puts the confirmed cause in
        the first ``top`` rows of at least :data:`CV_MARGIN` more cells than the physical
        ranking does; otherwise
        the physical ranking stands (:attr:`fallback`), so feedback cannot make the
        ranking worse on the hotspots it was learned from.
        """
        labelled = training_rows(results, findings, **label_options)
        y = labelled["label"].to_numpy(int) if len(labelled) else np.zeros(0, int)
        positives, negatives = int(y.sum()), int(len(y) - y.sum())
        if len(y) < min_rows or min(positives, negatives) < min_per_class:
            return cls(True, f"{len(y)} labelled row(s) ({positives} confirmed): need "
                             f"{min_rows} with {min_per_class} of each kind; physical ranking "
                             "kept", len(y), positives)
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        pipeline = make_pipeline(StandardScaler(), LogisticRegression(
            C=regularisation, class_weight="balanced", max_iter=1000))
        chosen = list(model_features or MODEL_FEATURES)
        unknown = [name for name in chosen if name not in FEATURES]
        if unknown:
            from sourcegrid.errors import NotFoundError

            raise NotFoundError("feature", unknown[0], FEATURES)
        columns = [FEATURES.index(name) for name in chosen]
        matrix = features(labelled)[:, columns]
        model_hits = physical_hits = cells = 0
        if cross_validate:
            model_hits, physical_hits, cells = _cross_validated_hits(
                labelled, matrix, y, pipeline, folds=folds, top=top)
            if cells and model_hits < physical_hits + CV_MARGIN:
                return cls(True, f"{len(y)} labelled row(s) ({positives} confirmed) on {cells} "
                                 f"cell(s): in {folds}-fold cross-validation by cell the model "
                                 f"put the cause in the top {top} of {model_hits}, the "
                                 f"physical ranking of {physical_hits}; physical ranking kept",
                           len(y), positives)
        checked = ""
        if cross_validate and cells:
            checked = (f"; {folds}-fold cross-validation by cell: cause in the top {top} of "
                       f"{model_hits} of {cells} cells, physical ranking {physical_hits}")
        pipeline.fit(matrix, y)
        weights = pipeline[-1].coef_[0]
        return cls(False, f"fitted on {len(y)} labelled rows ({positives} confirmed){checked}",
                   len(y),
                   positives, dict(zip(chosen, weights.round(3).tolist(), strict=True)),
                   pipeline, columns)

    def probability(self, table: pd.DataFrame) -> np.ndarray:
        """P(cause) of each row (NaN on fallback)."""
        if self.fallback or table.empty:
            return np.full(len(table), np.nan)
        return self.pipeline.predict_proba(features(table)[:, self.columns])[:, 1]

    def rerank(self, table: pd.DataFrame) -> pd.DataFrame:
        """The table ordered by probability (rank renumbered, physical_rank kept)."""
        table = table.copy()
        if "physical_rank" not in table:
            table["physical_rank"] = np.arange(1, len(table) + 1)
        table["probability"] = self.probability(table)
        if self.fallback or table.empty:
            return table
        from sourcegrid.tracing.attribution import shared_ranks

        table = table.sort_values(["probability", "physical_rank"], ascending=[False, True],
                                  kind="mergesort").reset_index(drop=True)
        # a confounded group keeps one rank, that of its most probable member, and its
        # members are listed together
        table["rank"] = shared_ranks(table)
        return table.sort_values("rank", kind="mergesort").reset_index(drop=True)


def rerank_with_workspace(workspace, table: pd.DataFrame, findings: pd.DataFrame | None = None,
                          **options) -> pd.DataFrame:
    """Re-rank a trace table with a model fitted on the workspace's findings.

    Uses ``trace_results`` and ``inspection_findings`` (or ``findings`` when the caller has
    read them already); with too few findings (or none) the table is returned with the
    physical ranking (``probability`` NaN).
    """
    from sourcegrid.tracing.attribution import TRACE_RESULTS_TABLE
    from sourcegrid.tracing.findings import read_findings

    if not workspace.has(TRACE_RESULTS_TABLE):
        return table
    findings = read_findings(workspace) if findings is None else findings
    if len(findings) < MIN_PER_CLASS:
        return table
    results = workspace.read(TRACE_RESULTS_TABLE)
    model = RankingModel.fit(results, findings, **options)
    return model.rerank(table)
