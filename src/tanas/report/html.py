"""The HTML report of a run folder, rebuilt from its JSON files alone.

A run folder may hold ``distance.json`` (a distance matrix), one sub-folder per search
strategy with its ``result.json``, and ``summary.json`` (the demo's comparison). Every
figure is written next to ``report.html`` and linked relatively, so the folder can be
moved or served as it is.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from tanas.errors import ConfigError
from tanas.report.figures import plot_cell, plot_search_curves, plot_task_map
from tanas.report.tables import distance_cell, method_name, neighbour_value, shows_spread, value_kind
from tanas.runtime import atomic_write_text

REPORT_FILE = "report.html"
STRATEGY_ORDER = ("tanas", "fuse", "random", "darts")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def load_run(run_dir: str | Path) -> dict[str, Any]:
    """The JSON documents of a run folder: distance, per-strategy results, summary."""
    root = Path(run_dir)
    if not root.is_dir():
        raise ConfigError(f"run folder {root} does not exist")
    distance = _read_json(root / "distance.json") if (root / "distance.json").is_file() else None
    results: dict[str, Any] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if (folder / "result.json").is_file():
            result = _read_json(folder / "result.json")
            results[result.get("strategy", folder.name)] = result
    ordered = {k: results[k] for k in STRATEGY_ORDER if k in results}
    ordered.update({k: v for k, v in results.items() if k not in ordered})
    summary = _read_json(root / "summary.json") if (root / "summary.json").is_file() else None
    if distance is None and not ordered:
        raise ConfigError(f"{root} holds no distance.json and no <strategy>/result.json: nothing to report")
    return {"distance": distance, "results": ordered, "summary": summary}


def _fmt_acc(test_acc: dict[str, Any] | None) -> str:
    if not test_acc:
        return "–"
    return f"{100 * test_acc['mean']:.2f} ± {100 * test_acc['std']:.2f}"


def _nearest_item(target: str, nearest: dict[str, Any]) -> str:
    if nearest.get("source") is None:
        return f"<li>{html.escape(target)} ← n/a (no source defines a distance to it)</li>"
    agreement = 100 * nearest["agreement"]
    return f"<li>{html.escape(target)} ← {html.escape(str(nearest['source']))} (seed agreement {agreement:.0f} %)</li>"


def _distance_table(distance: dict[str, Any]) -> str:
    names = distance["tasks"]
    spread = shows_spread(distance)
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = []
    for i, source in enumerate(names):
        cells = "".join(
            f"<td>{distance_cell(distance['mean'][i][j], distance['std'][i][j], with_std=spread)}</td>"
            for j in range(len(names))
        )
        rows.append(f"<tr><th>{html.escape(source)}</th>{cells}</tr>")
    nearest = distance.get("nearest") or {}
    near = "".join(_nearest_item(t, v) for t, v in nearest.items())
    return f"<table><tr><th>source \\ target</th>{head}</tr>{''.join(rows)}</table>" + (
        f"<p>Nearest source of each target:</p><ul>{near}</ul>" if near else ""
    )


def _tanas_section(result: dict[str, Any]) -> str:
    """How the zoo shaped the TA-NAS search: the nearest tasks, the space and the preparation cost."""
    if result.get("fallback"):
        return (
            f"<h3>TA-NAS</h3><p>No zoo task could guide the search ({html.escape(str(result['fallback']))}); "
            "it searched the full space with FUSE.</p>"
        )
    rows = "".join(
        f"<tr><td>{html.escape(str(n.get('name')))}</td><td>{neighbour_value(n):.4f} ± "
        f"{float(n.get('std', 0)):.4f}</td><td>{'yes' if n.get('used') else 'no'}</td>"
        f"<td>{html.escape(' | '.join(n.get('genotype') or []) or '–')}</td></tr>"
        for n in result.get("nearest", [])
    )
    overhead = result.get("overhead") or {}
    full = result.get("full_space_size") or 0
    zoo = result.get("zoo") or {}
    ranking = f"{method_name(str(zoo.get('method', 'ftd')))} to target, {value_kind(bool(zoo.get('higher_is_better')))}"
    return (
        "<h3>TA-NAS</h3>"
        f"<p>Restricted space: {int(result.get('space_size', 0)):,} of {int(full):,} genotypes. "
        f"Preparation (target probe, Fisher, distances): {float(overhead.get('prep_seconds', 0)):.1f} s, "
        f"included in its search time; {int(overhead.get('probes_trained', 0))} probe(s) trained, "
        f"{int(overhead.get('distances_computed', 0))} distance(s) computed, "
        f"{int(overhead.get('distances_cached', 0))} cached.</p>"
        f"<table><tr><th>zoo task</th><th>{html.escape(ranking)}</th><th>shapes the space</th>"
        "<th>its genotype</th></tr>"
        f"{rows}</table>"
    )


def build_report(run_dir: str | Path, *, title: str = "tanas report") -> Path:
    """Write ``run_dir/report.html`` and its figures from the run's JSON; return the HTML path."""
    root = Path(run_dir)
    run = load_run(root)
    distance, results, summary = run["distance"], run["results"], run["summary"]
    parts: list[str] = [f"<h1>{html.escape(title)}</h1>"]

    if summary:
        lines = "".join(f"<li>{html.escape(str(line))}</li>" for line in summary.get("lines", []))
        if lines:
            parts.append(f"<h2>Summary</h2><ul>{lines}</ul>")

    if distance:
        heading = method_name(str(distance.get("config", {}).get("method", "ftd")))
        parts.append(f"<h2>{html.escape(heading)} between tasks</h2>")
        config = distance.get("config", {})
        parts.append(f"<p class='small'>{html.escape(json.dumps(config, sort_keys=True))}</p>")
        heatmap = root / "distance.png"
        if not heatmap.is_file():
            from tanas.report.heatmap import plot_distance_heatmap

            plot_distance_heatmap(distance, heatmap)
        parts.append("<img src='distance.png' alt='FTD heatmap'>")
        highlight = summary.get("target") if summary else None
        plot_task_map(distance["tasks"], distance["mean"], root / "task_map.png", highlight=highlight)
        parts.append("<img src='task_map.png' alt='task map by MDS'>")
        parts.append(_distance_table(distance))

    if results:
        parts.append("<h2>Architecture search</h2>")
        match = summary.get("fuse_final_val_acc") if summary else None
        plot_search_curves(results, root / "search_curves.png", match_line=match)
        parts.append("<img src='search_curves.png' alt='validation accuracy against search time'>")
        rows = []
        for strategy, result in results.items():
            rows.append(
                "<tr>"
                f"<td>{html.escape(strategy)}</td>"
                f"<td>{html.escape(str(result.get('task_name') or result.get('task')))}</td>"
                f"<td>{_fmt_acc(result.get('test_acc'))}</td>"
                f"<td>{100 * float(result.get('val_acc', 0)):.2f}</td>"
                f"<td>{int(result.get('params', 0)):,}</td>"
                f"<td>{float(result.get('search_seconds', 0)):.1f}</td>"
                f"<td>{html.escape(str(result.get('space_size', '')))}</td>"
                f"<td>{html.escape(str(result.get('device', '')))}</td>"
                "</tr>"
            )
        parts.append(
            "<table><tr><th>strategy</th><th>task</th><th>test acc % (mean ± std)</th><th>val acc %</th>"
            "<th>params</th><th>search s</th><th>space size</th><th>device</th></tr>" + "".join(rows) + "</table>"
        )
        tanas = results.get("tanas")
        if tanas is not None and ("nearest" in tanas or "fallback" in tanas):
            parts.append(_tanas_section(tanas))
        parts.append("<h3>Chosen cells</h3><div class='cells'>")
        for strategy, result in results.items():
            image = f"cell_{strategy}.png"
            plot_cell(result["genotype"], root / image, title=f"{strategy}: " + " | ".join(result["genotype"]))
            parts.append(
                f"<figure><img src='{image}' alt='cell chosen by {html.escape(strategy)}'>"
                f"<figcaption>{html.escape(strategy)}</figcaption></figure>"
            )
        parts.append("</div>")

    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "img{max-width:100%;margin:0.5em 0}.cells{display:flex;flex-wrap:wrap;gap:1em}"
        ".small{font-size:80%;color:#666}figure{margin:0}"
    )
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><link rel='icon' href='data:,'>"
        f"<title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n"
    )
    path = root / REPORT_FILE
    atomic_write_text(path, page)
    return path
