"""Latency quantiles from histograms, error and success rates, and the SLOs' error ratios,
each against the baseline and, where one is set, a target."""

from __future__ import annotations

from typing import Any

from guardia.reports.compare import compared
from guardia.reports.context import Ctx
from guardia.reports.figures import Figure, Section
from guardia.reports.rates import error_ratio_of, quantile_of, sum_of, summed_rates


def _qname(q: float) -> str:
    return f"latency_p{q * 100:g}".replace(".", "_")


def latency(ctx: Ctx) -> Section:
    sec = Section("latency", "Latency")
    by = ctx.by
    for hist in ctx.settings.metrics.latency_histograms:
        bucket = ctx.sel(f"{hist}_bucket")
        grouped = summed_rates(ctx, bucket, [by, "le"])  # read once, for every quantile
        for q in ctx.settings.targets.quantiles:
            def expr(d: str, q: float = q, bucket: str = bucket) -> str:
                return f"histogram_quantile({q:g}, sum by ({by}, le) (rate({bucket}[{d}])))"

            signal = f"{_qname(q)}:{hist}" if q == 0.95 else ""
            sec.figures.extend(compared(ctx, _qname(q), "seconds", expr, extra={"histogram": hist},
                                        signal=signal,
                                        read_once=quantile_of(q, grouped, expr(ctx.window.w))))
    sec.notes.append(
        "Quantiles are estimated from the histogram buckets (linear interpolation inside a bucket, "
        "as histogram_quantile does), over the whole window and the whole baseline. A change is "
        "significant when a two-sided Mann-Whitney U test of the per-interval quantiles "
        "(window vs baseline) gives p < 0.05; a significantly higher latency fails.")
    return sec


def error_selectors(ctx: Ctx) -> list[str]:
    m = ctx.settings.metrics
    return [ctx.sel(m.requests, f'{lab}=~"{m.error_regex}"') for lab in m.error_labels]


def error_ratio(ctx: Ctx, d: str) -> str:
    """Errors ÷ requests over ``d`` by service; 0 (not "no data") where no request failed."""
    m = ctx.settings.metrics
    by = ctx.by
    total = ctx.sel(m.requests)
    errs = error_selectors(ctx)
    err = " or ".join(f"rate({e}[{d}])" for e in errs)
    return (f"(sum by ({by}) ({err}) or sum by ({by}) (rate({total}[{d}])) * 0)\n"
            f"/ sum by ({by}) (rate({total}[{d}]))")


def error_rates(ctx: Ctx) -> Section:
    sec = Section("errors", "Errors and success")
    m = ctx.settings.metrics
    by = ctx.by
    total = ctx.sel(m.requests)
    slo_targets = {s.service: s for s in ctx.slos}

    figures = compared(ctx, "error_rate", "ratio", lambda d: error_ratio(ctx, d), signal="error_rate",
                       read_once=error_ratio_of(ctx, total, error_selectors(ctx)))
    default_target = ctx.settings.targets.error_rate
    for fig in figures:
        if fig.value is None:
            sec.figures.append(fig)
            continue
        svc = fig.labels.get(by, "")
        slo = slo_targets.get(svc)
        target = slo.budget if slo is not None else default_target
        success = Figure("success_rate", dict(fig.labels), 1 - fig.value, "ratio", f"1 - (\n{fig.query}\n)",
                         baseline=None if fig.baseline is None else 1 - fig.baseline,
                         baseline_query=f"1 - (\n{fig.baseline_query}\n)", verdict="info",
                         note="1 − error rate")
        if target is not None:
            fig.target, fig.target_op = target, "<="
            success.target, success.target_op = 1 - target, ">="
            ok = fig.value <= target
            # over the target fails; within it, a significant rise against the baseline still does
            fig.verdict = "fail" if not ok or fig.verdict == "fail" else "pass"
            src = f"SLO {slo.service}/{slo.name}" if slo is not None else "reports.targets.error_rate"
            fig.note = f"target ≤ {target:.4%} ({src}); " + fig.note
        else:
            # the change against the baseline still judges it; the target is what is missing
            ctx.missing("error_rate_target", dict(fig.labels), "no target: no SLO names this service "
                        "and reports.targets.error_rate is not set", fig.query, check=False)
        sec.figures.extend([fig, success])
    sec.figures.extend(compared(ctx, "request_rate", "requests/s",
                                lambda d: f"sum by ({by}) (rate({total}[{d}]))", judge=False, check=False,
                                signal="request_rate", read_once=sum_of(summed_rates(ctx, total, [by]))))
    sec.figures.extend(_slo_figures(ctx))
    sec.notes.append(f"error rate = requests whose {' or '.join(m.error_labels)} matches "
                     f"{m.error_regex} ÷ all requests ({m.requests}); targets come from the SLOs "
                     "(1 − objective) where one names the service.")
    return sec


def _slo_figures(ctx: Ctx) -> list[Figure]:
    out: list[Figure] = []
    w = ctx.window
    for slo in ctx.slos:
        if ctx.service and slo.service != ctx.service:
            continue
        lab = {"slo_service": slo.service, "slo": slo.name}
        q = slo.indicator.error_ratio_expr(w.length)
        qb = slo.indicator.error_ratio_expr(w.baseline_length) if w.baseline_length else ""
        got = [v for _, v in ctx.source.instant(q, w.end)]
        if not got or got[0] != got[0]:
            fig = ctx.missing("slo_error_ratio", lab, "no data: the SLO's indicator has no series "
                              "(or no events) in the window", q, "ratio")
            if fig is not None:
                out.append(fig)
            continue
        base: Any = [v for _, v in ctx.source.instant(qb, w.baseline_end)] if qb else []
        value = got[0]
        fig = Figure("slo_error_ratio", lab, value, "ratio", q,
                     baseline=base[0] if base and base[0] == base[0] else None, baseline_query=qb,
                     target=slo.budget, target_op="<=", verdict="pass" if value <= slo.budget else "fail",
                     note=f"objective {slo.objective:.4%}: error budget {slo.budget:.4%} of events; "
                          f"this window spent {value / slo.budget:.0%} of it" if slo.budget else "")
        out.append(fig)
    return out
