"""The closing lines: what a person reads at the end of a run, from the run's record (model_info.json: its schema
is orchard_contract/schemas/model-info-v1.schema.json)."""

from __future__ import annotations

from typing import Any

from orchard_contract.run_outputs import OUTPUT_FOLDERS, REPORT_PAGE

SHOWN_COMPONENTS = 5


def closing_lines(info: dict[str, Any], output: str) -> str:
    """A few lines a person reads at the end of a run."""
    counts, model, pca = info["counts"], info["model"], info["pca"]
    timings = info["timings_seconds"]
    first = ", ".join(f"PC{i + 1} {100 * v:.1f} %" for i, v in enumerate(pca["explained_variance"][:SHOWN_COMPONENTS]))
    lines = [
        "",
        f"Orchard run '{info['run']['name']}' finished in {timings['total']:.1f} s",
        f"  images read {counts['images_read']}, featurized {counts['images_featurized']}, "
        f"reused {counts['images_reused']}, failed {counts['images_failed']} ({counts['classes']} classes)",
        f"  throughput  {info['throughput']['images_per_minute_featurizing']:.0f} images/min while featurizing "
        f"({timings['features']:.1f} s), {model['engine']}, {model['image_size']} px",
        f"  PCA k={pca['k']}: {100 * pca['total_explained_variance']:.2f} % of the variance; {first}",
        f"  weights     {model['weights_description']}",
        f"  outputs     {output}/{{{','.join(name for name in OUTPUT_FOLDERS if not name.endswith('_csv'))}}}",
        f"  report      {output}/{REPORT_PAGE}",
    ]
    if counts["images_failed"]:
        lines.insert(3, f"  failures    listed with their reasons in {output}/errors/")
    if info["run"]["feature_store"]:
        lines.insert(3, f"  store       {info['run']['feature_store']} (model {model['fingerprint']})")
    return "\n".join(lines)
