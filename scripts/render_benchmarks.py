"""Render benchmark JSON into Markdown tables (and a PNG of training images/sec).

    python scripts/render_benchmarks.py benchmarks/results/cpu [more result folders] [--readme README.md]

Each folder holds the JSON files the benchmarks wrote (mix.json, train_step*.json,
pipeline.json, epoch.json, cpu_grads.json) on one machine; every table names that machine. With --readme, the text
between <!-- performance:start --> and <!-- performance:end --> is replaced.
"""
import argparse
import glob
import json
import os
import sys

from PIL import Image, ImageDraw

START, END = "<!-- performance:start -->", "<!-- performance:end -->"


def machine(env: dict) -> str:
    if env.get("gpu"):
        return f"{env['gpu']} (torch {env['torch']}, CUDA {env['cuda']})"
    bf16 = env.get("cpu_bf16_instructions")
    if bf16 is None:  # recorded before the instructions were
        kind = ""
    else:
        kind = f" ({' and '.join(bf16)})" if bf16 else " (no bf16 instructions)"
    return f"{env['cpu']}{kind}, {env['cpu_cores']} cores, no GPU (torch {env['torch']})"


def mix_table(doc: dict) -> list[str]:
    lines = [f"**Fused mix op**, batch {doc['workload']['batch']} x {doc['workload']['height']} x {doc['workload']['width']}, "
             f"10% of images with SIA, on {machine(doc['environment'])}:", "",
             "| mode | ours -> fp32 | ours -> bf16 | torch uint8 .float() | ours fp32 / .float() | fastest peer (fp32) | ours faster by |",
             "|---|---|---|---|---|---|---|"]
    for c in doc["comparisons"]:
        if "mode" not in c:
            continue
        peer = f"{c['fastest_peer']}: {c['fastest_peer_ms']:.1f} ms" if "fastest_peer_ms" in c else c["fastest_peer"]
        speedup = f"{c['speedup_vs_fastest_peer']:.2f}x" if "speedup_vs_fastest_peer" in c else "-"
        lines.append(f"| {c['mode']} | {c['ours_fp32_ms']:.1f} ms | {c['ours_bf16_ms']:.1f} ms | {c['copy_fp32_ms']:.1f} ms | "
                     f"{c['ours_fp32_vs_copy']:.2f} | {peer} | {speedup} |")
    bandwidth = [c for c in doc["comparisons"] if "copy_gb_per_s" in c]
    if bandwidth:
        b = bandwidth[0]
        lines += ["", f"Bandwidth (bytes read + written per second): a plain copy of the same bytes on the device "
                      f"{b['copy_gb_per_s']} GB/s; ours, CutMix to bf16, {b['cutmix_bf16_gb_per_s']} GB/s "
                      f"({100 * b['cutmix_bf16_of_copy']:.0f}% of the copy)."]
    return lines


def train_table(doc: dict) -> list[str]:
    w = doc["workload"]
    matmul = (f"; a bf16 matrix product on it, measured in the same run, {w['matmul_bf16_tflops']:.3f} TFLOP/s"
              if "matmul_bf16_tflops" in w else "")
    lines = [f"**Training step** (synthetic tensors, {w['size']} px, batch {w['batch']}, fwd+bwd+SGD) on "
             f"{machine(doc['environment'])}{matmul}:", "",
             "| arch | variant | images/s | vs baseline | TFLOP/s | of bf16 matmul | MFU |", "|---|---|---|---|---|---|---|"]
    comparisons = {(c["arch"], c["variant"]): c for c in doc["comparisons"]}
    baselines = {(c["arch"], c["baseline"]) for c in doc["comparisons"]}
    for r in doc["results"]:
        if "images_per_sec" not in r:
            lines.append(f"| {r['arch']} | {r['variant']} | error: {r['error'][:60]} | | | | |")
            continue
        c = comparisons.get((r["arch"], r["variant"]))
        mfu = f"{100 * r['mfu']:.1f}%" if "mfu" in r else "-"
        of_matmul = f"{100 * r['of_matmul']:.1f}%" if "of_matmul" in r else "-"
        versus = "baseline" if (r["arch"], r["variant"]) in baselines else "-"
        if c:  # with several rounds, the median of the rounds' ratios and their range
            low, high = (f"{x:.2f}" for x in c.get("range", [c["speedup"]] * 2))
            versus = f"{c['speedup']:.2f}x" + (f" ({low}-{high})" if low != high else "")
        lines.append(f"| {r['arch']} | {r['variant']} | {r['images_per_sec']:.1f} | {versus} | "
                     f"{r['achieved_tflops']:.3f} | {of_matmul} | {mfu} |")
    lines += ["", "Variants: compiled/eager, cl = channels_last / nchw, bf16 autocast or fp32, input from our fused mix op (mix), "
              "timm's Mixup (timm) or a ready tensor (model). Baseline: plain eager+nchw+bf16+timm, what a timm user runs."]
    return lines


def pipeline_table(doc: dict) -> list[str]:
    w = doc["workload"]
    lines = [f"**Loader** ({w['augment']}, {w['threads_or_workers']} DALI threads = timm workers, batch {w['batch']}) on "
             f"{machine(doc['environment'])}:", "", "| workload | ours (DALI) img/s | timm create_loader img/s | ratio |", "|---|---|---|---|"]
    for r in doc["results"]:
        lines.append(f"| {r['workload']} | {r['ours_images_per_sec']:.0f} | {r['timm_images_per_sec']:.0f} | {r['speedup']:.2f}x |")
    return lines


def epoch_table(doc: dict) -> list[str]:
    w = doc["workload"]
    schedule = w["schedule"]
    threads = f", {w['threads']} torch and DALI thread{'s' if w['threads'] > 1 else ''}" if "threads" in w else ""
    amp = w.get("amp", "bf16")  # files recorded before --amp ran bf16
    dtype = "fp32" if amp == "off" else amp
    lines = [f"**Training epoch** ({w['arch']}, {w['size']} px, batch {w['batch']}, {dtype}, channels_last, "
             f"{w['images']} images of {w['data']}{threads}) on {machine(doc['environment'])}:", "",
             *epoch_rounds_header(w.get("rounds", 1))]

    def the_schedule(c: dict) -> str:
        return (f" (schedule: {schedule['epochs']} epochs from {schedule['min_size']} px, ramp "
                f"{schedule['ramp'][0]:g}-{schedule['ramp'][1]:g}, step {schedule['step']}: "
                f"{c['average_images_per_sec']:.0f} img/s)") if "average_images_per_sec" in c else ""

    return lines + rates_and_ratios(doc, the_schedule)


def rates_and_ratios(doc: dict, extra=lambda comparison: "") -> list[str]:
    """The rows of images/s and the table of ratios, each with its range over the rounds where there were several
    (``extra`` adds to a comparison's name)."""
    lines = []
    for r in doc["results"]:
        spread = f" | {r['range'][0]:.0f}-{r['range'][1]:.0f}" if "range" in r else ""
        lines.append(f"| {r['name']} | {r['images_per_sec']:.0f}{spread} |")
    ranges = doc["workload"].get("rounds", 1) > 1
    lines += ["", "| comparison | ratio |" + (" range over the rounds |" if ranges else ""),
              "|---|---|" + ("---|" if ranges else "")]
    for c in doc["comparisons"]:
        spread = f" | {c['range'][0]:.2f}-{c['range'][1]:.2f}x" if "range" in c else ""
        lines.append(f"| {c['name']}{extra(c)} | {c['ratio']:.2f}x{spread} |")
    return lines


def epoch_rounds_header(rounds: int) -> list[str]:
    """The rates table's header: one run, or the median of several rounds beside their range."""
    if rounds == 1:
        return ["| what | images/s |", "|---|---|"]
    return [f"Each figure is the median of {rounds} rounds, each ratio the median of the ratios within a round.", "",
            "| what | images/s | range over the rounds |", "|---|---|---|"]


def policy_table(doc: dict) -> list[str]:
    w = doc["workload"]
    lines = [f"**AutoAugment's ImageNet policy alone** (in-memory crops and flips, {w['images']} images of "
             f"{w['data']} decoded at {w['size']} px, batch {w['batch']}, {w['threads']} torch and DALI "
             f"thread{'s' if w['threads'] > 1 else ''}; DALI: {w['pipelines']} pipeline(s) of {w['pipeline_batch']} "
             f"images a run) on {machine(doc['environment'])}:", "", *epoch_rounds_header(w.get("rounds", 1))]
    return lines + rates_and_ratios(doc)


def cpu_grads_table(doc: dict) -> list[str]:
    w = doc["workload"]
    threads = doc["environment"]["torch_threads"]
    lines = [f"**CPU weight gradient** (vipriors.models.cpu_grads; {w['arch']}, {w['size']} px, batch {w['batch']}, "
             f"{w['dtype']}, channels_last, {threads} torch thread{'s' if threads > 1 else ''}, one convolution shape a row) "
             f"on {machine(doc['environment'])}:", "",
             "| layer | forward | weight gradient, oneDNN | patch product | used |", "|---|---|---|---|---|"]
    for r in doc["results"]:
        if "onednn_ms" in r:
            lines.append(f"| {r['name'].replace(' weight grad', '')} | {r['forward_ms']:.2f} ms | {r['onednn_ms']:.2f} ms "
                         f"| {r['product_ms']:.2f} ms ({r['speedup']:.2f}x) | "
                         f"{'product' if r['uses_patch_product'] else 'oneDNN'} |")
    steps = {r["name"]: r["images_per_sec"] for r in doc["results"] if "images_per_sec" in r}
    torch_rate, ours_rate = steps["training step, torch's layers"], steps["training step, use_cpu_grads"]
    lines += ["", f"The training step: {torch_rate:.0f} images/s with torch's layers, {ours_rate:.0f} with ours "
                  f"({doc['comparisons'][0]['ratio']:.2f}x)."]
    return lines


def train_plot(doc: dict, path: str) -> None:
    """Grouped bars: images/sec of the plain path and ours, per architecture."""
    rows = {}
    for r in doc["results"]:
        if "images_per_sec" in r and r["variant"].endswith("+timm"):
            rows.setdefault(r["arch"], {})["plain"] = r["images_per_sec"]
        elif "images_per_sec" in r and r["variant"].startswith("compiled") and r["variant"].endswith("+mix"):
            rows.setdefault(r["arch"], {})["ours"] = r["images_per_sec"]
    rows = {a: v for a, v in rows.items() if len(v) == 2}
    if not rows:
        return
    top = max(max(v.values()) for v in rows.values())
    width, left, bar, gap = 760, 190, 16, 14
    image = Image.new("RGB", (width, 50 + len(rows) * (2 * bar + gap)), "white")
    draw = ImageDraw.Draw(image)
    draw.text((8, 8), f"training images/s: plain (grey) vs ours (red), {machine(doc['environment'])}", fill="black")
    for i, (arch, values) in enumerate(rows.items()):
        y = 36 + i * (2 * bar + gap)
        draw.text((8, y + bar // 2), arch, fill="black")
        for j, (key, colour) in enumerate((("plain", (150, 150, 150)), ("ours", (200, 70, 60)))):
            length = int((width - left - 80) * values[key] / top)
            draw.rectangle([left, y + j * bar, left + length, y + (j + 1) * bar - 2], fill=colour)
            draw.text((left + length + 6, y + j * bar + 2), f"{values[key]:.0f}", fill="black")
    image.save(path)


def render(folder: str) -> list[str]:
    lines = []
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        with open(path) as f:
            doc = json.load(f)
        kind = doc.get("benchmark")
        if kind == "mix":
            lines += mix_table(doc) + [""]
        elif kind == "train_step":
            lines += train_table(doc) + [""]
            plot = path[:-5] + ".png"
            train_plot(doc, plot)
            if os.path.exists(plot):
                lines += [f"![training images/s]({os.path.relpath(plot)})", ""]
        elif kind == "pipeline":
            lines += pipeline_table(doc) + [""]
        elif kind == "epoch":
            lines += epoch_table(doc) + [""]
        elif kind == "cpu_grads":
            lines += cpu_grads_table(doc) + [""]
        elif kind == "policy":
            lines += policy_table(doc) + [""]
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--readme", help="replace the performance block of this Markdown file")
    args = parser.parse_args(argv)
    lines = [line for folder in args.folders for line in render(folder)]
    text = "\n".join(lines).rstrip() + "\n"
    if not args.readme:
        print(text)
        return 0
    with open(args.readme) as f:
        readme = f.read()
    if START not in readme or END not in readme:
        print(f"render_benchmarks.py: {args.readme} has no {START} ... {END} block", file=sys.stderr)
        return 2
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    with open(args.readme, "w") as f:
        f.write(f"{head}{START}\n{text}{END}{tail}")
    print(f"updated {args.readme} from {', '.join(args.folders)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
