"""Model features of the default zoo: parameters and FLOPs from the configs vs the paper's Table 2.

What it does (the recorded output is ``docs/model-features-benchmark.md``):

1. Counts every default-zoo model's denoiser parameters (state dict with buffers) and FLOPs per
   generated image on PyTorch's meta device (:func:`matchchoose.features._size.size_table`), at the
   paper convention (512x512 request as the pipeline serves it, default steps, CFG, text encoders,
   one VAE decode, fused attention left out) and at the native resolution.
2. Compares the paper's 10 models with Table 2 (``zoo/zoo.csv``): parameters to 0.01 B, TFLOP as a
   ratio, and the ratio of five candidate FLOP conventions, to show which one the paper used.
3. Counts the hyperparameters and dimensions the feature rule keeps (paper: 78 -> 165).
4. Writes the markdown section (``--out``) and, with ``--write-sizes``, the packaged
   ``src/matchchoose/features/zoo_sizes.csv`` that lets ``mnc zoo features`` run without torch.

Usage::

    python benchmarks/zoo_table2.py [--out docs/model-features-benchmark.md] [--write-sizes]

Needs ``pip install 'matchchoose[models]'`` (torch 2.13 CPU, diffusers, transformers); no network.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import platform
import time
from pathlib import Path

import pandas as pd

from matchchoose.features import PAPER_MODELS, FeatureRule, default_zoo, zoo_features
from matchchoose.features._size import size_table

REPO = Path(__file__).resolve().parents[1]
SIZES = REPO / "src" / "matchchoose" / "features" / "zoo_sizes.csv"
COMMAND = "python benchmarks/zoo_table2.py --out docs/model-features-benchmark.md --write-sizes"


def conventions(row, table2) -> dict:
    """TFLOP of each candidate convention for one model (rows of :func:`size_table`)."""
    branches = 2 if row["cfg"] else 1
    no_cfg = row["tflop_denoising"] / branches + row["tflop_text"] / row["prompts"] + row["tflop_vae"]
    return {
        "paper convention (512 request, fused attention out)": row["tflop_measured"],
        "same, fused attention counted": row["tflop_measured"] + row["tflop_attention"],
        "same at native resolution": row["tflop_native"],
        "denoiser loop only": row["tflop_denoising"],
        "no CFG doubling": no_cfg,
    }


def markdown(frame: pd.DataFrame, index: bool = False) -> str:
    """A pipe table (no tabulate dependency)."""
    frame = frame.reset_index() if index else frame
    head = [str(c) for c in frame.columns]
    body = [[str(v) for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])


def fmt(x, digits=2):
    return "" if pd.isna(x) else f"{x:.{digits}f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="Write the markdown section here.")
    parser.add_argument("--write-sizes", action="store_true", help="Rewrite the packaged zoo_sizes.csv.")
    args = parser.parse_args(argv)

    entries = default_zoo()
    t0 = time.perf_counter()
    sizes = size_table(entries)
    seconds = time.perf_counter() - t0
    if args.write_sizes:
        sizes.to_csv(SIZES, index=False, float_format="%.6g")
        print(f"wrote {SIZES}")

    by_name = {e.name: e for e in entries}
    rows, conv = [], {}
    for name in PAPER_MODELS:
        e, s = by_name[name], sizes.set_index("model").loc[name]
        t2 = e.table2
        params_b = s["num_params"] / 1e9
        rows.append({
            "model": f"{e.paper_name} (`{name}`)",
            "params T2": fmt(t2["params_billion"]), "params ours": f"{params_b:.3f}",
            "params diff": f"{params_b - t2['params_billion']:+.3f}",
            "TFLOP T2": fmt(t2["tflop"]), "TFLOP ours": fmt(s["tflop_measured"]),
            "ratio": f"{s['tflop_measured'] / t2['tflop']:.4f}",
            "px": int(s["height"]), "calls x CFG": f"{int(s['calls'])} x {2 if s['cfg'] else 1}",
            "denoising": fmt(s["tflop_denoising"]), "text": fmt(s["tflop_text"]), "VAE": fmt(s["tflop_vae"]),
            "attention (left out)": fmt(s["tflop_attention"]),
            "native px": int(s["native_height"]), "TFLOP native": fmt(s["tflop_native"]),
        })
        for label, value in conventions(s, t2).items():
            conv.setdefault(label, {})[name] = value / t2["tflop"]
    table = pd.DataFrame(rows)
    conv = pd.DataFrame(conv).T
    conv["max |ratio-1|"] = (conv[list(PAPER_MODELS)] - 1).abs().max(axis=1)

    extra = sizes[~sizes["model"].isin(PAPER_MODELS)].copy()
    extra_rows = [{"model": f"`{r.model}`", "params (B)": f"{r.num_params / 1e9:.3f}",
                   "TFLOP (paper convention)": fmt(r.tflop_measured), "px": "" if pd.isna(r.height) else int(r.height),
                   "calls x CFG": "" if pd.isna(r.calls) else f"{int(r.calls)} x {2 if r.cfg else 1}",
                   "TFLOP native": fmt(r.tflop_native),
                   "native px": "" if pd.isna(r.native_height) else int(r.native_height)}
                  for r in extra.itertuples()]

    from matchchoose.features import _zoo

    _zoo._default_entries.cache_clear()  # pick up zoo_sizes.csv if --write-sizes rewrote it
    counts = {}
    for label, selection in (("paper's 10 models", "paper"), ("default zoo (19 models)", None)):
        entries = default_zoo(selection)
        _, rule = zoo_features(entries)
        _, plain = zoo_features(entries, FeatureRule(missing_indicator=False))
        counts[label] = {**rule.summary(), "dimensions without __missing": plain.summary()["dimensions"]}

    measured = sizes.set_index("model")

    def gap(name):
        return by_name[name].table2["tflop"] - measured.loc[name, "tflop_measured"]

    def ratio(name):
        return measured.loc[name, "tflop_measured"] / by_name[name].table2["tflop"]

    sana = measured.loc["sana-1.6b-512px"]
    per_token = sana["tflop_text"] / sana["prompts"] / 300  # Gemma-2 TFLOP per token (300-token prompts)
    versions = ", ".join(f"{p} {md.version(p)}" for p in ("torch", "diffusers", "transformers"))
    lines = [
        "## Model features: parameters and FLOPs vs Table 2",
        "",
        f"Command: `{COMMAND}` ({seconds:.0f} s for the 19 models on {platform.machine()} CPU, meta device, "
        f"{versions}). Parameters: the denoiser's state dict with buffers. FLOPs: "
        "`torch.utils.flop_counter.FlopCounterMode` on the meta device, a multiply-add = 2 FLOPs.",
        "",
        "### The paper's 10 models",
        "",
        markdown(table),
        "",
        "Parameters: all 10 within 0.005 B of Table 2 (the test `tests/features/test_size.py` pins them to 0.01 B).",
        "",
        "### Which FLOP convention Table 2 uses",
        "",
        "Ratio ours / Table 2 per convention (1.0000 = exact):",
        "",
        markdown(conv.map(lambda x: f"{x:.4f}").rename_axis("convention"), index=True),
        "",
        "**Finding.** Table 2's TFLOP is the FLOPs of one whole pipeline call generating one image from a "
        "512x512 request (the paper's crop size), with each pipeline's default step count (PNDM's extra step "
        "included: SD 1.5 runs 51 UNet calls for 50 steps), the denoiser batch doubled by classifier-free "
        "guidance (not for Flux.1 dev, whose guidance is distilled), the text encoders run on the prompt and, "
        "unless the pipeline zeroes it (SDXL family), on the empty negative prompt, and one VAE decode; fused "
        "scaled-dot-product attention is **not** counted, as with a FLOP counter that does not see inside fused "
        "attention kernels (Sana's linear attention is plain matmuls and is counted). Pipelines that bin "
        "resolutions serve the 512 request at their native square: Sana 4.8B at 1024 px, which is why its "
        "TFLOP is 10x Sana 1.6B's. Under this convention 9 models agree within 0.25 %, 7 within 0.07 % and 5 "
        "within 0.02 %.",
        "",
        f"The shortfalls: **Sana 1.6B** ({ratio('sana-1.6b-512px'):.3f}) and **Sana 4.8B** "
        f"({ratio('sana1.5-4.8b'):.3f}) miss {gap('sana-1.6b-512px'):.2f} and {gap('sana1.5-4.8b'):.2f} TFLOP, "
        "about the same amount: Sana's pipeline prepends its 'complex human instruction' (about 900 characters, "
        f"some 200 Gemma tokens; {gap('sana-1.6b-512px') / per_token:.0f} at the measured {per_token * 1e3:.1f} "
        "GFLOP per Gemma-2 token) to the positive prompt, and we do not ship the Gemma tokenizer to count them. "
        f"**PixArt Sigma** ({ratio('pixart-sigma-512'):.4f}) is {gap('pixart-sigma-512'):.2f} TFLOP short; we "
        "did not find why.",
        "",
        "At the native resolution (the issue's first guess) SDXL, SD3.5 and Flux cost 3-4x Table 2, counting "
        "fused attention overshoots by up to 18 %, the denoising loop alone falls short by up to 15 % and dropping "
        "the CFG doubling halves every CFG model: none of these is the paper's convention. `tflop` in the zoo features "
        "is Table 2's value for the paper's 10 models (`tflop_source = table2`) and the measured paper-"
        "convention value for the others (`measured`), which agree to the ratios above.",
        "",
        "### The 9 extra pipelines",
        "",
        markdown(pd.DataFrame(extra_rows)),
        "",
        "Stable Cascade is two pipelines: the prior (text -> image embedding, no VAE) and the decoder "
        "(embedding -> image, Paella VQ-GAN decode); a full Stable Cascade generation costs their sum. "
        "Flux.1 schnell is counted at FluxPipeline's default 28 steps, like dev; it is meant for 4.",
        "",
        "### Hyperparameters and dimensions (paper: 78 -> 165)",
        "",
        "The feature rule (`docs/model-features.md`) on the shipped configs; `num_params` and `tflop` included.",
        "",
        markdown(pd.DataFrame(counts).T.rename_axis("zoo"), index=True),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
