"""The run's report: explained-variance curve, 2-D PCA scatter by class, and an HTML page.

The figures come from the run's record, `info` (model_info.json: orchard_contract/schemas/model-info-v1.schema.json).
"""

from __future__ import annotations

import html
import os
from collections import defaultdict
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

VARIANCE_PLOT = "explained_variance.png"
SCATTER_PLOT = "pca_scatter.png"
PAGE = "index.html"
BAND_WIDTH = 10


def variance_bands(explained: list[float], width: int = BAND_WIDTH) -> list[tuple[str, float]]:
    """Explained variance summed by bands of components: ("PC1-10", 0.43), ..."""
    bands = []
    for start in range(0, len(explained), width):
        end = min(start + width, len(explained))
        bands.append((f"PC{start + 1}-{end}", sum(explained[start:end])))
    return bands


def plot_variance(explained: list[float], cumulative: list[float], path: str) -> None:
    """Bars of each component's share and the cumulative curve."""
    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=110)
    components = range(1, len(explained) + 1)
    axes.bar(components, [100 * v for v in explained], color="#7aa6c2", label="per component")
    axes.plot(components, [100 * v for v in cumulative], color="#c2562f", marker=".", label="cumulative")
    axes.set_xlabel("principal component")
    axes.set_ylabel("explained variance (%)")
    axes.set_ylim(0, 100)
    axes.set_title(f"Explained variance, k={len(explained)}: {100 * cumulative[-1]:.2f} % in all")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(loc="center right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def plot_scatter(sample: list[tuple[str, float, float]], path: str) -> None:
    """PC1 against PC2, one colour per class."""
    by_label: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for label, first, second in sample:
        by_label[label].append((first, second))
    figure, axes = plt.subplots(figsize=(8, 6), dpi=110)
    colours = plt.get_cmap("tab20")
    for index, (label, points) in enumerate(sorted(by_label.items())):
        xs, ys = zip(*points, strict=False)
        # A `$` escaped: a class name is shown as written, never read as matplotlib's TeX (mathtext), which
        # fails to draw names such as "a $^$ b".
        axes.scatter(xs, ys, s=10, alpha=0.75, color=colours(index % 20), label=label.replace("$", r"\$"))
    axes.set_xlabel("PC1")
    axes.set_ylabel("PC2")
    axes.set_title(f"First two principal components ({len(sample)} images)")
    if len(by_label) <= 20:
        axes.legend(fontsize="small", markerscale=2, loc="best")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def render_page(info: dict[str, Any]) -> str:
    """The HTML page showing the run's figures and both plots."""
    counts, model, pca = info["counts"], info["model"], info["pca"]
    rows = [
        ("Run", info["run"]["name"]),
        ("Images read", counts["images_read"]),
        ("Images featurized", counts["images_featurized"]),
        ("Images reused from the feature store", counts["images_reused"]),
        ("Images failed", counts["images_failed"]),
        ("Classes", counts["classes"]),
        ("Model", f"{model['name']}, {model['image_size']} px, {model['engine']}"),
        ("Weights", model["weights_description"]),
        ("Images per minute (featurizing)", info["throughput"]["images_per_minute_featurizing"]),
        (f"Explained variance, k={pca['k']}", f"{100 * pca['total_explained_variance']:.2f} %"),
    ]
    bands = variance_bands(pca["explained_variance"])
    warning = (
        f'<p class="warn">{html.escape(model["weights_description"])}</p>' if model["weights_are_random"] else ""
    )
    table = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    band_rows = "".join(f"<tr><th>{name}</th><td>{100 * share:.2f} %</td></tr>" for name, share in bands)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Orchard run {html.escape(info['run']['name'])}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}th{{text-align:left;padding-right:2em}}
.warn{{background:#fff3cd;border:1px solid #e0c36c;padding:.6em}}img{{max-width:100%}}</style></head>
<body><h1>Orchard run: {html.escape(info['run']['name'])}</h1>{warning}
<table>{table}</table>
<h2>Explained variance</h2><img src="{VARIANCE_PLOT}" alt="explained variance per component">
<table>{band_rows}</table>
<h2>First two components by class</h2><img src="{SCATTER_PLOT}" alt="PC1 against PC2 by class">
</body></html>
"""


def write_report(folder: str, info: dict[str, Any], sample: list[tuple[str, float, float]]) -> None:
    """Write the two plots and the page into `folder`."""
    os.makedirs(folder, exist_ok=True)
    pca = info["pca"]
    plot_variance(pca["explained_variance"], pca["cumulative_explained_variance"], os.path.join(folder, VARIANCE_PLOT))
    plot_scatter(sample, os.path.join(folder, SCATTER_PLOT))
    with open(os.path.join(folder, PAGE), "w", encoding="utf-8") as page:
        page.write(render_page(info))
