"""The customer-value model on CDNOW, the data set of Fader, Hardie & Lee (2005).

    .venv/bin/python bench/clv.py [--rescore-customers N]

The files ship in the `lifetimes` 0.11.3 wheel (installed with --no-deps by the dev install;
it is never imported, its data files are read where pip put them): CDNOW_master.txt (the
23,570 customers of the first-quarter 1997 cohort) and CDNOW_sample.txt (the paper's 1/10
sample, 2,357 customers). Calibration is weeks 1-39 (1997-01-01 .. 1997-09-30), the holdout
weeks 40-78 (.. 1998-06-30), the paper's split; purchases are counted on distinct days.

Prints one JSON object:
  params / paper   BG/NBD fitted on the 2,357 sample beside the paper's ML estimates (same
                   data), with the relative error of each; params_full: the fit on 23,570
  spend / spend_paper   Gamma-Gamma on the sample's repeat buyers beside the 2005b paper's
  holdout          on the full data set, full fit: predicted and actual repeat purchases in
                   weeks 40-78 (`on_sample`: the same three figures on the sample, sample fit)
  mae              per-customer mean absolute error of the holdout purchases: the model and
                   the naive baseline (calibration rate x 39 weeks)
  auc              churn risk (the product's: exp(-expected purchases in the 39 holdout
                   weeks)) ranking who did not buy in the holdout: the model, the model's
                   exact P(no purchase in 39 weeks), and a recency-only baseline (weeks quiet)
  timings          seconds to fit and to score
  rescore          with --rescore-customers N: a throw-away embedded PostgreSQL loaded with N
                   synthetic customers buying as BG/NBD says (about 5 orders each, over 3
                   years), then `rescore` (refit and rewrite every profile) run twice: the
                   first inserts every profile, the second updates them all
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import json
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

from fte.customers import clv
from fte.customers.scoring import rescore
from fte.db import create_pool
from fte.ops import migrations
from fte.ops.embedded_postgres import EmbeddedPostgres

PAPER = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
# Fader, Hardie & Lee (2005b), "RFM and CLV", on the sample's 946 repeat buyers.
SPEND_PAPER = {"p": 6.25, "q": 3.74, "v": 15.44}
START = dt.date(1997, 1, 1).toordinal()
CALIBRATION_END = START + 39 * 7 - 1  # 1997-09-30, the last calibration day
HOLDOUT_END = START + 78 * 7 - 1  # 1998-06-30
HOLDOUT_WEEKS = 39.0


def cdnow_path(name: str) -> Path:
    """Where the `lifetimes` wheel put one of its CDNOW files."""
    try:
        files = metadata.files("lifetimes") or []
    except metadata.PackageNotFoundError as exc:
        raise SystemExit(
            "CDNOW ships in the lifetimes wheel: .venv/bin/pip install --no-deps lifetimes==0.11.3"
        ) from exc
    for file in files:
        if file.name == name:
            return Path(str(file.locate()))
    raise SystemExit(f"{name} is not in the installed lifetimes wheel")


@dataclass(frozen=True)
class Cohort:
    """Per customer: calibration x, t_x, T (weeks), repeat spend, holdout repeat purchases."""

    x: NDArray[np.float64]
    t_x: NDArray[np.float64]
    T: NDArray[np.float64]
    m_x: NDArray[np.float64]
    holdout: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.x)


def load(name: str) -> Cohort:
    """CDNOW_master.txt (id date cds dollars, a header line) or CDNOW_sample.txt (id, the
    master's id, date, cds, dollars) as per-customer calibration and holdout figures."""
    lines = cdnow_path(name).read_text().split("\n")
    rows = [line.split() for line in lines if line.strip() and line.split()[0].isdigit()]
    shift = len(rows[0]) - 4
    customer = np.array([int(row[0]) for row in rows])
    day = np.array([dt.date(int(r[1 + shift][:4]), int(r[1 + shift][4:6]), int(r[1 + shift][6:]))
                    .toordinal() for r in rows])  # fmt: skip
    dollars = np.array([float(row[3 + shift]) for row in rows])
    # Purchases on one day are one transaction.
    keys, where = np.unique(customer * 1_000_000 + day, return_inverse=True)
    value = np.bincount(where, weights=dollars)
    customer_of, day_of = keys // 1_000_000, keys % 1_000_000
    ids, who = np.unique(customer_of, return_inverse=True)
    first = np.full(len(ids), np.iinfo(np.int64).max)
    np.minimum.at(first, who, day_of)
    in_calibration = day_of <= CALIBRATION_END
    cal_who = who[in_calibration]
    last = np.zeros(len(ids), dtype=np.int64)
    np.maximum.at(last, cal_who, day_of[in_calibration])
    x = np.bincount(cal_who, minlength=len(ids)) - 1.0
    is_first = day_of == first[who]
    repeat_spend = np.bincount(
        who[in_calibration & ~is_first],
        weights=value[in_calibration & ~is_first],
        minlength=len(ids),
    )
    in_holdout = (day_of > CALIBRATION_END) & (day_of <= HOLDOUT_END)
    return Cohort(
        x=x,
        t_x=(last - first) / 7.0,
        T=(CALIBRATION_END - first) / 7.0,
        m_x=np.where(x > 0, repeat_spend / np.maximum(x, 1.0), 0.0),
        holdout=np.bincount(who[in_holdout], minlength=len(ids)).astype(np.float64),
    )


def auc(score: NDArray[np.float64], positive: NDArray[np.bool_]) -> float:
    """Area under the ROC curve by ranks (Mann-Whitney U), ties counted half."""
    ranks = rankdata(score)
    n_pos = int(positive.sum())
    n_neg = len(score) - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate(model: clv.BgNbd, cohort: Cohort) -> dict[str, Any]:
    """Holdout forecast, MAE and AUC of `model` on `cohort`, beside the baselines."""
    started = time.perf_counter()
    expected = clv.expected_purchases(model, HOLDOUT_WEEKS, cohort.x, cohort.t_x, cohort.T)
    risk = clv.churn_risk(expected)
    exact = clv.p_no_purchase(model, HOLDOUT_WEEKS, cohort.x, cohort.t_x, cohort.T)
    seconds = time.perf_counter() - started
    naive = cohort.x / cohort.T * HOLDOUT_WEEKS
    silent = cohort.holdout == 0
    return {
        "customers": len(cohort),
        "holdout": {
            "predicted_total": round(float(expected.sum()), 1),
            "actual_total": int(cohort.holdout.sum()),
        },
        "mae": {
            "model": round(float(np.abs(expected - cohort.holdout).mean()), 4),
            "naive": round(float(np.abs(naive - cohort.holdout).mean()), 4),
        },
        "auc": {
            "model": round(auc(risk, silent), 4),
            "p_no_purchase": round(auc(exact, silent), 4),
            "recency": round(auc(cohort.T - cohort.t_x, silent), 4),
        },
        "calibration": {
            group: {
                "customers": int(rows.sum()),
                "p_no_purchase": round(float(exact[rows].mean()), 4),
                "share_with_none": round(float(silent[rows].mean()), 4),
            }
            for group, rows in (("x=0", cohort.x == 0), ("x>0", cohort.x > 0))
        },
        "score_seconds": round(seconds, 4),
    }


def fit(cohort: Cohort) -> tuple[clv.BgNbd, float]:
    """The maximum-likelihood fit on `cohort` (compressed rows) and its seconds."""
    started = time.perf_counter()
    x, t_x, T, weights, _ = clv.compress(cohort.x, cohort.t_x, cohort.T)
    model = clv.fit_bgnbd(x, t_x, T, weights=weights)
    return model, time.perf_counter() - started


def _params(model: clv.BgNbd) -> dict[str, float]:
    return {name: round(getattr(model, name), 4) for name in PAPER}


def run() -> dict[str, Any]:
    """Every figure of the module docstring."""
    sample, full = load("CDNOW_sample.txt"), load("CDNOW_master.txt")
    model, sample_seconds = fit(sample)
    model_full, full_seconds = fit(full)
    repeat = sample.x > 0
    started = time.perf_counter()
    spend = clv.fit_gamma_gamma(sample.x[repeat], sample.m_x[repeat])
    spend_seconds = time.perf_counter() - started
    on_full, on_sample = evaluate(model_full, full), evaluate(model, sample)
    return {
        "data": {
            "params": f"CDNOW_sample.txt, {len(sample)} customers (the paper's sample)",
            "params_full": f"CDNOW_master.txt, {len(full)} customers",
            "holdout, mae, auc": f"CDNOW_master.txt, {len(full)} customers, params_full",
            "on_sample": f"CDNOW_sample.txt, {len(sample)} customers, params",
            "split": "calibration weeks 1-39, holdout weeks 40-78, purchases on distinct days",
        },
        "params": _params(model),
        "paper": PAPER,
        "relative_error": {
            name: round(abs(getattr(model, name) - value) / value, 4)
            for name, value in PAPER.items()
        },
        "log_likelihood": round(model.log_likelihood, 2),
        "log_likelihood_paper": -9582.4,
        "params_full": _params(model_full),
        "spend": {name: round(value, 4) for name, value in spend.as_dict().items()},
        "spend_paper": SPEND_PAPER,
        "holdout": on_full["holdout"],
        "mae": on_full["mae"],
        "auc": on_full["auc"],
        "calibration": on_full["calibration"],
        "on_sample": {key: on_sample[key] for key in ("holdout", "mae", "auc", "calibration")},
        "baseline": {
            "mae": "naive: each customer's calibration rate (x / T) times 39 weeks",
            "auc": "recency: weeks since the last calibration purchase (T - t_x)",
            "calibration": "mean P(no purchase) against the share with none, by x = 0 / x > 0",
        },
        "timings": {
            "fit_sample_s": round(sample_seconds, 4),
            "fit_full_s": round(full_seconds, 4),
            "fit_spend_s": round(spend_seconds, 4),
            "score_full_s": on_full["score_seconds"],
        },
    }


def synthetic_orders(
    customers: int, *, days: int = 1095, seed: int = 7
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(customer index, day) of every order of `customers` who buy as BG/NBD says: rates
    ~ Gamma(0.9, 1/45 a day), dropout after each repeat purchase ~ Beta(1, 5), first purchase
    uniform over `days`. About 5.5 orders per customer."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.9, 1 / 45.0, customers)
    dropout = rng.beta(1.0, 5.0, customers)
    first = rng.integers(0, days, customers)
    who, when = [np.arange(customers)], [first]
    t, active = first.astype(np.float64), np.ones(customers, dtype=bool)
    while active.any():
        t = t + rng.exponential(1 / rate)
        active &= t < days
        who.append(np.flatnonzero(active))
        when.append(t[active].astype(np.int64))
        active &= rng.random(customers) >= dropout
    return np.concatenate(who), np.concatenate(when)


async def _load(url: str, customers: int) -> int:
    who, day = synthetic_orders(customers)
    rng = np.random.default_rng(11)
    amount = np.round(rng.gamma(4.0, 15.0, len(who)), 2)
    minutes = day * 1440 + rng.integers(0, 1440, len(who))
    pool = await create_pool(url, min_size=1, max_size=1)
    async with pool.acquire() as conn:
        await conn.execute(
            "CREATE TEMPORARY TABLE ids AS SELECT g AS idx, gen_random_uuid() AS id "
            "FROM generate_series(0, $1 - 1) g",
            customers,
        )
        await conn.execute("INSERT INTO customers (id, name) SELECT id, 'c' || idx FROM ids")
        await conn.execute("CREATE TEMPORARY TABLE placed (idx int, minutes int, amount numeric)")
        columns = zip(who.tolist(), minutes.tolist(), amount.tolist(), strict=True)
        rows = "\n".join(f"{c}\t{m}\t{a}" for c, m, a in columns)
        await conn.copy_to_table("placed", source=io.BytesIO(rows.encode() + b"\n"))
        await conn.execute(
            """
            INSERT INTO orders (order_id, customer_id, amount, currency, ordered_at, source)
            SELECT 'o' || row_number() OVER (), i.id, p.amount, 'EUR',
                   timestamptz '2024-01-01 00:00+00' + p.minutes * interval '1 minute', 'import'
              FROM placed p JOIN ids i USING (idx)
            """
        )
        await conn.execute("ANALYZE customers; ANALYZE orders")
    await pool.close()
    return len(who)


async def _rescore_twice(url: str, customers: int) -> dict[str, Any]:
    started = time.perf_counter()
    orders = await _load(url, customers)
    loaded = time.perf_counter() - started
    pool = await create_pool(url, min_size=1, max_size=2)
    now = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    try:
        first = await rescore(pool, now=now)
        second = await rescore(pool, now=now)
    finally:
        await pool.close()
    return {
        "customers": first.customers,
        "orders": orders,
        "load_seconds": round(loaded, 1),
        "seconds_first": round(first.seconds, 1),
        "seconds_second": round(second.seconds, 1),
        "phases_first": first.phases,
        "phases_second": second.phases,
        "note": second.note,
        "bar_seconds": 120,
    }


def rescore_bench(customers: int) -> dict[str, Any]:
    """Refit and rescore `customers` synthetic customers on a throw-away embedded database."""
    with tempfile.TemporaryDirectory(prefix="fte-clv-bench-") as data_dir:
        server = EmbeddedPostgres(Path(data_dir))
        url = server.start()
        try:
            migrations.upgrade(url)
            return asyncio.run(_rescore_twice(url, customers))
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rescore-customers", type=int, default=0, metavar="N")
    options = parser.parse_args()
    figures = run()
    if options.rescore_customers:
        figures["rescore"] = rescore_bench(options.rescore_customers)
    print(json.dumps(figures, indent=2))
