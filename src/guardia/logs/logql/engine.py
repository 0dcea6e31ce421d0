"""LogQL evaluation against the log store: log queries (streams) and metric queries (matrix).

Log queries: the leading line filters run over whole chunks (``linefilter``); only the lines
that survive and can still be among the ``limit`` newest (or oldest) are turned into text and
sent through the rest of the pipeline.  Metric queries: every series' sample timestamps are
one sorted array, and each range aggregation is a couple of ``searchsorted`` calls and a
cumulative sum over all steps at once; vector aggregations and binary operators work on a
2-D (series × steps) array with NaN for "no sample".
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from guardia.logs.chunk import Lines, decode_metadata
from guardia.logs.errors import QueryError
from guardia.logs.logql import ast
from guardia.logs.logql.linefilter import chunk_filter
from guardia.logs.logql.parser import parse
from guardia.logs.logql.pipeline import ERROR, ERROR_DETAILS, Pipeline, label_predicate, unwrap_value
from guardia.logs.store import LogStore, Stream
from guardia.model.matchers import MatchType, compile_anchored

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
LabelKey = tuple[tuple[str, str], ...]


@dataclass
class StreamsResult:
    """Log query answer: label set -> [(ts ns, line)] in the query's direction."""

    streams: list[tuple[dict[str, str], list[tuple[int, str]]]]
    lines: int = 0
    bytes_scanned: int = 0


@dataclass
class MatrixResult:
    """Metric answer: ``values[i, j]`` is series ``i`` at ``steps[j]`` (NaN: no sample)."""

    steps: I64
    labels: list[LabelKey]
    values: F64
    bytes_scanned: int = 0


@dataclass
class ScalarResult:
    steps: I64
    value: float


Result = StreamsResult | MatrixResult | ScalarResult


@dataclass
class EngineOptions:
    max_lines: int = 5000
    max_series: int = 10_000
    max_query_range_ns: int = 30 * 24 * 3600 * 10**9


@dataclass
class _Scan:
    """Lines of one stream after the chunk-level filters, as (pieces, global order)."""

    stream: Stream
    pieces: list[Lines]
    bytes_scanned: int = 0


@dataclass
class _Ctx:
    bytes_scanned: int = 0
    cache: dict[Any, Any] = field(default_factory=dict)


def _split_stages(stages: tuple[ast.Stage, ...]) -> tuple[list[ast.LineFilter], tuple[ast.Stage, ...]]:
    """Line filters that can run on raw chunks: those before any stage that rewrites the line."""
    lead: list[ast.LineFilter] = []
    rest: list[ast.Stage] = []
    rewritten = False
    for st in stages:
        if isinstance(st, ast.LineFilter) and not rewritten:
            lead.append(st)
        else:
            if isinstance(st, ast.LineFormat | ast.Decolorize) or (
                isinstance(st, ast.Parser) and st.kind == "unpack"
            ):
                rewritten = True
            rest.append(st)
    return lead, tuple(rest)


class LogQLEngine:
    def __init__(self, store: LogStore, options: EngineOptions | None = None) -> None:
        self.store = store
        self.opts = options or EngineOptions()

    # ------------------------------------------------------------ entry points

    def query_range(
        self,
        query: str | ast.Expr,
        start: int,
        end: int,
        step: int,
        limit: int = 100,
        direction: str = "backward",
    ) -> Result:
        expr = parse(query) if isinstance(query, str) else query
        if end < start:
            raise QueryError("end must not be before start")
        if end - start > self.opts.max_query_range_ns:
            raise QueryError(
                f"the query time range exceeds the limit of "
                f"{self.opts.max_query_range_ns // (3600 * 10**9)}h; narrow it"
            )
        if isinstance(expr, ast.LogSelector):
            return self._logs(expr, start, end, limit, direction)
        if step <= 0:
            raise QueryError("step must be positive: use e.g. step=15s")
        if (end - start) // step > 11000:
            raise QueryError(
                "exceeded maximum resolution of 11,000 points per series; "
                "try increasing the value of the step parameter"
            )
        steps = np.arange(start, end + 1, step, dtype=np.int64)
        return self._metric_top(expr, steps)

    def query_instant(
        self, query: str | ast.Expr, t: int, limit: int = 100, direction: str = "backward"
    ) -> Result:
        expr = parse(query) if isinstance(query, str) else query
        if isinstance(expr, ast.LogSelector):
            raise QueryError(
                "log queries are not supported as an instant query type, please change "
                "your query to a range query type"
            )
        return self._metric_top(expr, np.array([t], dtype=np.int64))

    def _metric_top(self, expr: ast.Expr, steps: I64) -> Result:
        ctx = _Ctx()
        labels, values = self._metric(expr, steps, ctx)
        if _is_scalar(expr):
            return ScalarResult(steps, float(values[0, -1]))
        keep = ~np.all(np.isnan(values), axis=1) if len(labels) else np.zeros(0, dtype=bool)
        labels = [lb for lb, k in zip(labels, keep.tolist(), strict=True) if k]
        out = MatrixResult(steps, labels, values[keep] if len(keep) else values, ctx.bytes_scanned)
        if isinstance(expr, ast.VectorAgg) and expr.op in ("sort", "sort_desc") and len(steps) == 1:
            order = np.argsort(out.values[:, 0], kind="stable")
            if expr.op == "sort_desc":
                order = order[::-1]
            out.labels = [out.labels[i] for i in order.tolist()]
            out.values = out.values[order]
        return out

    # ------------------------------------------------------------ scanning

    def _scan(
        self, sel: ast.LogSelector, start: int, end: int, ctx: _Ctx
    ) -> tuple[list[_Scan], tuple[ast.Stage, ...]]:
        lead, rest = _split_stages(sel.stages)
        filters = [chunk_filter(f) for f in lead]
        scans: list[_Scan] = []
        for s in self.store.select(list(sel.matchers), start, end):
            pieces: list[Lines] = []
            scanned = 0
            for p in self.store.read(s, start, end):
                scanned += int(p.ends[-1] - p.starts[0]) if len(p) else 0
                for f in filters:
                    if not len(p):
                        break
                    mask = f(p)
                    if not mask.all():
                        p = p.take(np.flatnonzero(mask))
                if len(p):
                    pieces.append(p)
            ctx.bytes_scanned += scanned
            scans.append(_Scan(s, pieces, scanned))
        return scans, rest

    def _logs(self, sel: ast.LogSelector, start: int, end: int, limit: int, direction: str) -> StreamsResult:
        if limit <= 0:
            limit = 100
        if limit > self.opts.max_lines:
            raise QueryError(
                f"max entries limit per query exceeded, limit > max_entries_limit "
                f"({limit} > {self.opts.max_lines})"
            )
        forward = direction.lower() == "forward"
        ctx = _Ctx()
        scans, rest = self._scan(sel, start, end, ctx)
        # (ts, scan, piece, index) of candidate lines, newest/oldest `limit` per stream
        groups: dict[LabelKey, list[tuple[int, str]]] = defaultdict(list)
        entries: list[tuple[int, int, LabelKey, str]] = []  # (ts, seq, labels, line)
        seq = 0
        for sc in scans:
            if not sc.pieces:
                continue
            ts = np.concatenate([p.ts for p in sc.pieces])
            which = np.concatenate([np.full(len(p), i, dtype=np.int32) for i, p in enumerate(sc.pieces)])
            idx = np.concatenate([np.arange(len(p), dtype=np.int64) for p in sc.pieces])
            order = np.argsort(ts, kind="stable")
            if not forward:
                order = order[::-1]
            stream_labels = dict(sc.stream.labels)
            pipe = Pipeline(rest, frozenset(stream_labels)) if rest else None
            base_key: LabelKey = tuple(sc.stream.labels)
            taken = 0
            batch = limit if pipe is None else max(limit, 256)
            pos = 0
            while taken < limit and pos < len(order):
                sel_idx = order[pos : pos + batch]
                pos += batch
                for o in sel_idx.tolist():
                    p = sc.pieces[int(which[o])]
                    i = int(idx[o])
                    t = int(p.ts[i])
                    line = p.text[int(p.starts[i]) : int(p.ends[i])].decode("utf-8", "replace")
                    # structured metadata joins the line's labels (Loki answers without
                    # categorize-labels that way: a stream per stream labels + metadata)
                    sm = p.meta[i] if p.meta is not None else b""
                    if pipe is None and not sm:
                        entries.append((t, seq, base_key, line))
                    elif pipe is None:
                        key = tuple(sorted({**stream_labels, **decode_metadata(sm)}.items()))
                        entries.append((t, seq, key, line))
                    else:
                        labels = {**stream_labels, **decode_metadata(sm)} if sm else dict(stream_labels)
                        out = pipe.run(t, line, labels)
                        if out is None:
                            continue
                        entries.append((t, seq, tuple(sorted(labels.items())), out))
                    seq += 1
                    taken += 1
                    if taken >= limit:
                        break
        entries.sort(key=lambda e: (e[0], e[1]), reverse=not forward)
        entries = entries[:limit]
        for t, _s, key, line in entries:
            groups[key].append((t, line))
        return StreamsResult([(dict(k), v) for k, v in groups.items()], len(entries), ctx.bytes_scanned)

    # ------------------------------------------------------------ metric queries

    def _metric(self, e: ast.Expr, steps: I64, ctx: _Ctx) -> tuple[list[LabelKey], F64]:
        if isinstance(e, ast.RangeAgg):
            return self._range(e, steps, ctx)
        if isinstance(e, ast.VectorAgg):
            labels, values = self._metric(e.expr, steps, ctx)
            return _vector_agg(e, labels, values)
        if isinstance(e, ast.BinOp):
            return self._binop(e, steps, ctx)
        if isinstance(e, ast.NumberLit):
            return [()], np.full((1, len(steps)), e.value)
        if isinstance(e, ast.VectorLit):
            return [()], np.full((1, len(steps)), e.value)
        if isinstance(e, ast.LabelReplace):
            labels, values = self._metric(e.expr, steps, ctx)
            return _label_replace(e, labels, values)
        raise QueryError(f"a log query cannot be used here: {e!r}")

    def _samples(self, agg: ast.RangeAgg, steps: I64, ctx: _Ctx) -> dict[LabelKey, tuple[I64, F64]]:
        """Per output label set: sorted sample timestamps and values over the needed range."""
        lo = int(steps[0]) - agg.offset_ns - agg.range_ns + 1
        hi = int(steps[-1]) - agg.offset_ns + 1
        scans, rest = self._scan(agg.selector, lo, hi, ctx)
        u = agg.unwrap
        by_bytes = agg.op in ("bytes_over_time", "bytes_rate")
        out: dict[LabelKey, tuple[list[I64], list[F64]]] = {}
        with_meta = any(p.meta is not None for sc in scans for p in sc.pieces)
        if not rest and u is None and not with_meta:
            for sc in scans:
                if not sc.pieces:
                    continue
                ts = np.concatenate([p.ts for p in sc.pieces])
                if by_bytes:
                    vals = np.concatenate([p.sizes() for p in sc.pieces]).astype(np.float64)
                else:
                    vals = np.ones(len(ts))
                out[tuple(sc.stream.labels)] = ([ts], [vals])
        else:
            post = [label_predicate(f.expr) for f in u.post_filters] if u is not None else []
            for sc in scans:
                stream_labels = dict(sc.stream.labels)
                pipe = Pipeline(rest, frozenset(stream_labels))
                acc: dict[LabelKey, tuple[list[int], list[float]]] = {}
                for p in sc.pieces:
                    text = p.text
                    metas = p.meta if p.meta is not None else repeat(b"")
                    rows = zip(p.ts.tolist(), p.starts.tolist(), p.ends.tolist(), metas, strict=False)
                    for t, a, b, sm in rows:
                        labels = {**stream_labels, **decode_metadata(sm)} if sm else dict(stream_labels)
                        line = pipe.run(t, text[a:b].decode("utf-8", "replace"), labels)
                        if line is None:
                            continue
                        if u is not None:
                            v = unwrap_value(labels, u)
                            labels.pop(u.label, None)
                            if not all(f(labels) for f in post):
                                continue
                            if v is None and ERROR not in labels:
                                continue
                        else:
                            v = float(len(line.encode())) if by_bytes else 1.0
                        key = tuple(sorted(labels.items()))
                        slot = acc.get(key)
                        if slot is None:
                            slot = acc[key] = ([], [])
                        slot[0].append(t)
                        slot[1].append(v if v is not None else math.nan)
                for key, (tl, vl) in acc.items():
                    dst = out.setdefault(key, ([], []))
                    dst[0].append(np.asarray(tl, dtype=np.int64))
                    dst[1].append(np.asarray(vl, dtype=np.float64))
        result: dict[LabelKey, tuple[I64, F64]] = {}
        for key, (tss, vss) in out.items():
            names = dict(key)
            if ERROR in names:
                raise QueryError(
                    f"pipeline error: '{names[ERROR]}' for series: '{_fmt_labels(key)}'. Use a label "
                    f'filter to intentionally skip this error. (e.g | __error__!="{names[ERROR]}"). '
                    'To skip all potential errors you can match empty errors.(e.g __error__="") '
                    f"The label filter can also be specified after unwrap. (e.g | unwrap latency | "
                    f'__error__="" ){" details: " + names[ERROR_DETAILS] if ERROR_DETAILS in names else ""}'
                )
            ts = np.concatenate(tss)
            vs = np.concatenate(vss)
            if len(ts) > 1 and np.any(ts[1:] < ts[:-1]):
                order = np.argsort(ts, kind="stable")
                ts, vs = ts[order], vs[order]
            result[key] = (ts, vs)
        if len(result) > self.opts.max_series:
            raise QueryError(
                f"maximum of series ({self.opts.max_series}) reached for a single query; "
                "aggregate with sum by (...) or add label filters"
            )
        return result

    def _range(self, agg: ast.RangeAgg, steps: I64, ctx: _Ctx) -> tuple[list[LabelKey], F64]:
        samples = self._samples(agg, steps, ctx)
        if agg.grouping is not None:
            samples = _merge_groups(agg.grouping, samples)
        ends = steps - agg.offset_ns
        begins = ends - agg.range_ns
        range_s = agg.range_ns / 1e9
        if agg.op == "absent_over_time":
            present = np.zeros(len(steps), dtype=bool)
            for ts, _ in samples.values():
                present |= (np.searchsorted(ts, ends, "right") - np.searchsorted(ts, begins, "right")) > 0
            vals = np.where(present, np.nan, 1.0)
            key = tuple(sorted((m.name, m.value) for m in agg.selector.matchers if m.type is MatchType.EQUAL))
            return [key], vals.reshape(1, -1)
        labels: list[LabelKey] = []
        rows: list[F64] = []
        for key, (ts, vs) in samples.items():
            a = np.searchsorted(ts, begins, "right")
            b = np.searchsorted(ts, ends, "right")
            cnt = (b - a).astype(np.float64)
            empty = cnt == 0
            csum = np.concatenate(([0.0], np.cumsum(np.nan_to_num(vs))))
            sums = csum[b] - csum[a]
            op = agg.op
            if op in ("count_over_time",):
                row = cnt
            elif op == "rate" and agg.unwrap is None:
                row = cnt / range_s
            elif op in ("bytes_over_time", "sum_over_time"):
                row = sums
            elif op in ("bytes_rate", "rate"):
                row = sums / range_s
            elif op == "avg_over_time":
                with np.errstate(invalid="ignore", divide="ignore"):
                    row = sums / cnt
            else:
                row = _window_loop(op, agg.param, ts, vs, a, b, range_s)
            row = np.where(empty, np.nan, row)
            labels.append(key)
            rows.append(row)
        return labels, np.vstack(rows) if rows else np.zeros((0, len(steps)))

    def _binop(self, e: ast.BinOp, steps: I64, ctx: _Ctx) -> tuple[list[LabelKey], F64]:
        lhs_scalar = _is_scalar(e.lhs)
        rhs_scalar = _is_scalar(e.rhs)
        ll, lv = self._metric(e.lhs, steps, ctx)
        rl, rv = self._metric(e.rhs, steps, ctx)
        if e.op in ("and", "or", "unless"):
            return _set_op(e, ll, lv, rl, rv)
        if lhs_scalar or rhs_scalar:
            if lhs_scalar and rhs_scalar:
                return [()], _arith(e.op, lv, rv, e.bool_mod, scalar_both=True)
            if rhs_scalar:
                res = _arith(e.op, lv, np.broadcast_to(rv[0], lv.shape), e.bool_mod)
                return ll, _cmp_keep(e, res, lv)
            res = _arith(e.op, np.broadcast_to(lv[0], rv.shape), rv, e.bool_mod)
            return rl, _cmp_keep(e, res, rv)
        return _vector_vector(e, ll, lv, rl, rv)


# ---------------------------------------------------------------- helpers


def _is_scalar(e: ast.Expr) -> bool:
    if isinstance(e, ast.NumberLit):
        return True
    return isinstance(e, ast.BinOp) and _is_scalar(e.lhs) and _is_scalar(e.rhs)


def _fmt_labels(key: LabelKey) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in key) + "}"


def _window_loop(op: str, param: float | None, ts: I64, vs: F64, a: I64, b: I64, range_s: float) -> F64:
    out = np.full(len(a), np.nan)
    for j, (lo, hi) in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
        if hi <= lo:
            continue
        w = vs[lo:hi]
        if op == "min_over_time":
            out[j] = np.nanmin(w) if not np.all(np.isnan(w)) else np.nan
        elif op == "max_over_time":
            out[j] = np.nanmax(w) if not np.all(np.isnan(w)) else np.nan
        elif op == "stddev_over_time":
            out[j] = float(np.std(w))
        elif op == "stdvar_over_time":
            out[j] = float(np.var(w))
        elif op == "quantile_over_time":
            out[j] = _quantile(param if param is not None else 0.5, w)
        elif op == "first_over_time":
            out[j] = w[0]
        elif op == "last_over_time":
            out[j] = w[-1]
        elif op == "rate_counter":
            if len(w) < 2:
                continue
            d = np.diff(w)
            inc = float(np.sum(np.where(d < 0, w[1:], d)))
            out[j] = inc / range_s
        else:
            raise QueryError(f"unsupported range aggregation {op}")
    return out


def _quantile(q: float, w: F64) -> float:
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    s = np.sort(w)
    n = len(s)
    rank = q * (n - 1)
    lo = math.floor(rank)
    hi = min(lo + 1, n - 1)
    frac = rank - lo
    return float(s[lo] * (1 - frac) + s[hi] * frac)


def _group_key(g: ast.Grouping | None, key: LabelKey) -> LabelKey:
    if g is None:
        return ()
    if g.without:
        drop = set(g.labels)
        return tuple((k, v) for k, v in key if k not in drop)
    want = set(g.labels)
    return tuple((k, v) for k, v in key if k in want)


def _merge_groups(
    g: ast.Grouping, samples: dict[LabelKey, tuple[I64, F64]]
) -> dict[LabelKey, tuple[I64, F64]]:
    """``op(... | unwrap x [5m]) by (a)``: the samples of all series with the same ``a`` form one series."""
    parts: dict[LabelKey, list[tuple[I64, F64]]] = {}
    for key, tv in samples.items():
        parts.setdefault(_group_key(g, key), []).append(tv)
    out: dict[LabelKey, tuple[I64, F64]] = {}
    for key, tvs in parts.items():
        if len(tvs) == 1:
            out[key] = tvs[0]
            continue
        ts = np.concatenate([t for t, _ in tvs])
        vs = np.concatenate([v for _, v in tvs])
        order = np.argsort(ts, kind="stable")
        out[key] = (ts[order], vs[order])
    return out


def _group(
    g: ast.Grouping | None, labels: list[LabelKey], values: F64, op: str
) -> tuple[list[LabelKey], F64]:
    groups: dict[LabelKey, list[int]] = {}
    for i, key in enumerate(labels):
        groups.setdefault(_group_key(g, key), []).append(i)
    out_labels = list(groups)
    rows: list[F64] = []
    for members in groups.values():
        block = values[members]
        present = ~np.isnan(block)
        any_present = present.any(axis=0)
        cnt = present.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            if op == "sum":
                row = np.nansum(block, axis=0)
            elif op == "avg":
                row = np.nansum(block, axis=0) / cnt
            elif op == "count":
                row = cnt.astype(np.float64)
            elif op == "min":
                row = np.nanmin(np.where(present, block, np.inf), axis=0)
            elif op == "max":
                row = np.nanmax(np.where(present, block, -np.inf), axis=0)
            elif op in ("stddev", "stdvar"):
                mean = np.nansum(block, axis=0) / cnt
                var = np.nansum(np.where(present, (block - mean) ** 2, 0.0), axis=0) / cnt
                row = np.sqrt(var) if op == "stddev" else var
            else:
                raise QueryError(f"unsupported aggregation {op}")
        rows.append(np.where(any_present, row, np.nan))
    return out_labels, (np.vstack(rows) if rows else np.zeros((0, values.shape[1])))


def _vector_agg(e: ast.VectorAgg, labels: list[LabelKey], values: F64) -> tuple[list[LabelKey], F64]:
    if e.op in ("sort", "sort_desc"):
        return labels, values
    if e.op in ("topk", "bottomk"):
        k = int(e.param or 0)
        if k < 1:
            raise QueryError(f"parameter k of {e.op} must be at least 1, got {e.param}")
        out = np.full_like(values, np.nan)
        groups: dict[LabelKey, list[int]] = {}
        for i, key in enumerate(labels):
            groups.setdefault(_group_key(e.grouping, key) if e.grouping else (), []).append(i)
        for members in groups.values():
            block = values[members]
            filled = np.where(np.isnan(block), -np.inf if e.op == "topk" else np.inf, block)
            order = np.argsort(-filled if e.op == "topk" else filled, axis=0, kind="stable")[:k]
            for j in range(values.shape[1]):
                for r in order[:, j].tolist():
                    if not np.isnan(block[r, j]):
                        out[members[r], j] = block[r, j]
        return labels, out
    return _group(e.grouping, labels, values, e.op)


def _arith(op: str, a: F64, b: F64, bool_mod: bool, scalar_both: bool = False) -> F64:
    with np.errstate(all="ignore"):
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return np.divide(a, b)
        if op == "%":
            return np.fmod(a, b)
        if op == "^":
            return np.power(a, b)
        cmp: Callable[[F64, F64], Any] = {
            "==": np.equal,
            "!=": np.not_equal,
            ">": np.greater,
            ">=": np.greater_equal,
            "<": np.less,
            "<=": np.less_equal,
        }[op]
        res = cmp(a, b).astype(np.float64)
        return np.where(np.isnan(a) | np.isnan(b), np.nan, res)


def _cmp_keep(e: ast.BinOp, res: F64, sample: F64) -> F64:
    """Comparisons without ``bool`` keep the vector's sample where true, drop it elsewhere."""
    if e.op in ("==", "!=", ">", ">=", "<", "<=") and not e.bool_mod:
        return np.where(res == 1.0, sample, np.nan)
    return res


def _signature(m: ast.VectorMatching, key: LabelKey) -> LabelKey:
    if m.on:
        want = set(m.labels)
        return tuple((k, v) for k, v in key if k in want)
    drop = set(m.labels)
    return tuple((k, v) for k, v in key if k not in drop)


def _vector_vector(
    e: ast.BinOp, ll: list[LabelKey], lv: F64, rl: list[LabelKey], rv: F64
) -> tuple[list[LabelKey], F64]:
    m = e.matching
    one_side_many = m.card == "group_right"
    many_l, many_v, one_l, one_v = (rl, rv, ll, lv) if one_side_many else (ll, lv, rl, rv)
    index: dict[LabelKey, int] = {}
    for i, key in enumerate(one_l):
        sig = _signature(m, key)
        if sig in index:
            raise QueryError(
                f"found duplicate series for the match group {_fmt_labels(sig)} on the "
                f"{'left' if one_side_many else 'right'} hand-side of the operation; "
                "many-to-many matching not allowed: matching labels must be unique on one side"
            )
        index[sig] = i
    seen: dict[LabelKey, int] = {}
    out_l: list[LabelKey] = []
    rows: list[F64] = []
    for i, key in enumerate(many_l):
        sig = _signature(m, key)
        j = index.get(sig)
        if j is None:
            continue
        if m.card == "one-to-one":
            if sig in seen:
                raise QueryError(
                    f"multiple matches for labels {_fmt_labels(sig)}: many-to-one matching "
                    "must be explicit (group_left/group_right)"
                )
            seen[sig] = i
        a, b = (one_v[j], many_v[i]) if one_side_many else (many_v[i], one_v[j])
        res = _arith(e.op, a.reshape(1, -1), b.reshape(1, -1), e.bool_mod)[0]
        if e.op in ("==", "!=", ">", ">=", "<", "<=") and not e.bool_mod:
            res = np.where(res == 1.0, a, np.nan)
        if m.card == "one-to-one":
            is_filter = e.op in ("==", "!=", ">", ">=", "<", "<=") and not e.bool_mod
            out_key = key if is_filter else sig
        else:
            base = dict(key)
            for name in m.include:
                v = dict(one_l[j]).get(name, "")
                if v:
                    base[name] = v
                else:
                    base.pop(name, None)
            out_key = tuple(sorted(base.items()))
        out_l.append(out_key)
        rows.append(res)
    return out_l, (np.vstack(rows) if rows else np.zeros((0, lv.shape[1])))


def _set_op(
    e: ast.BinOp, ll: list[LabelKey], lv: F64, rl: list[LabelKey], rv: F64
) -> tuple[list[LabelKey], F64]:
    m = e.matching
    nsteps = lv.shape[1] if len(ll) else rv.shape[1]
    rsig: dict[LabelKey, npt.NDArray[np.bool_]] = {}
    for key, row in zip(rl, rv, strict=True):
        sig = _signature(m, key)
        present = ~np.isnan(row)
        rsig[sig] = rsig[sig] | present if sig in rsig else present
    if e.op == "and":
        out = [
            np.where(rsig.get(_signature(m, k), np.zeros(nsteps, dtype=bool)), row, np.nan)
            for k, row in zip(ll, lv, strict=True)
        ]
        return ll, np.vstack(out) if out else lv
    if e.op == "unless":
        out = [
            np.where(rsig.get(_signature(m, k), np.zeros(nsteps, dtype=bool)), np.nan, row)
            for k, row in zip(ll, lv, strict=True)
        ]
        return ll, np.vstack(out) if out else lv
    lsig: dict[LabelKey, npt.NDArray[np.bool_]] = {}
    for key, row in zip(ll, lv, strict=True):
        sig = _signature(m, key)
        present = ~np.isnan(row)
        lsig[sig] = lsig[sig] | present if sig in lsig else present
    labels = list(ll)
    rows = list(lv)
    for key, row in zip(rl, rv, strict=True):
        taken = lsig.get(_signature(m, key))
        labels.append(key)
        rows.append(row if taken is None else np.where(taken, np.nan, row))
    return labels, np.vstack(rows) if rows else lv


def _label_replace(e: ast.LabelReplace, labels: list[LabelKey], values: F64) -> tuple[list[LabelKey], F64]:
    rx = compile_anchored(e.regex)
    out: list[LabelKey] = []
    for key in labels:
        d = dict(key)
        mm = rx.fullmatch(d.get(e.src, ""))
        if mm is not None:
            import re

            val = mm.expand(re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", e.replacement))
            if val:
                d[e.dst] = val
            else:
                d.pop(e.dst, None)
        out.append(tuple(sorted(d.items())))
    return out, values


def default_step_ns(start: int, end: int) -> int:
    """Loki's default step: the range over 250 points, at least one second."""
    return max(int((end - start) / 250 / 1e9), 1) * 10**9


__all__: Sequence[str] = (
    "EngineOptions",
    "LogQLEngine",
    "MatrixResult",
    "Result",
    "ScalarResult",
    "StreamsResult",
    "default_step_ns",
)
